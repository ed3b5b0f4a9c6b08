"""`dagc.compiler.heap`: `paused_gc` turns the collector off inside and restores it
after; `frozen_heap` freezes the objects that exist on entry and unfreezes them
after."""

import gc

import pytest

from dagc.compiler.heap import frozen_heap, paused_gc


@pytest.fixture
def collector_on():
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


def test_pauses_and_restores(collector_on):
    with paused_gc():
        assert not gc.isenabled()
        with paused_gc():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the inner pause leaves the outer one on
    assert gc.isenabled()


def test_restores_when_the_body_raises(collector_on):
    with pytest.raises(ValueError, match="boom"), paused_gc():
        raise ValueError("boom")
    assert gc.isenabled()


def test_leaves_a_disabled_collector_disabled(collector_on):
    gc.disable()
    with paused_gc():
        pass
    assert not gc.isenabled()


@pytest.fixture
def nothing_frozen():
    gc.unfreeze()
    yield
    gc.unfreeze()


class _Cycle:
    def __init__(self):
        self.me = self


def test_freezes_what_exists_and_unfreezes_after(nothing_frozen):
    with frozen_heap():
        frozen = gc.get_freeze_count()
        assert frozen > 0
        with frozen_heap():  # nested: nothing more is frozen
            assert gc.get_freeze_count() == frozen
        # Garbage made inside is still collected.
        _Cycle()
        assert gc.collect() >= 1
    assert gc.get_freeze_count() == 0


def test_unfreezes_when_the_body_raises(nothing_frozen):
    with pytest.raises(ValueError, match="boom"), frozen_heap():
        raise ValueError("boom")
    assert gc.get_freeze_count() == 0


def test_leaves_the_callers_frozen_objects_frozen(nothing_frozen):
    gc.freeze()
    frozen = gc.get_freeze_count()
    with frozen_heap():
        pass
    assert gc.get_freeze_count() == frozen


def test_compile_unfreezes(nothing_frozen):
    import torch

    import dagc

    compiled = dagc.compile(torch.nn.ReLU(), (torch.randn(2, 3),), cache=False)
    assert gc.get_freeze_count() == 0
    x = torch.randn(2, 3)
    assert (compiled(x) == torch.relu(x)).all()
