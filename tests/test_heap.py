"""`dagc.compiler.heap.paused_gc`: the collector is off inside, restored after."""

import gc

import pytest

from dagc.compiler.heap import paused_gc


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
