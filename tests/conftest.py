"""Shared test configuration."""

import os

import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """pytest-xdist runs one worker per core; torch's own thread pool on top of that
    oversubscribes the cores and makes small eager runs ~100x slower. Likewise
    dagc's compiled code runs its parallel loops on one thread unless
    ``DAGC_NUM_THREADS`` says otherwise (tests of threads set their count)."""
    torch.set_num_threads(1)
    os.environ.setdefault("DAGC_NUM_THREADS", "1")
    yield


@pytest.fixture(autouse=True)
def _compile_cache(tmp_path_factory, monkeypatch):
    """Each test gets an empty compile cache of its own (never ~/.cache/dagc; the
    environment carries it to the subprocesses a test starts), so that no test sees
    code another one compiled; and the CPU lowering verifies the IR after every
    stage (``DAGC_VERIFY_EACH``), which users skip for speed."""
    monkeypatch.setenv("DAGC_CACHE_DIR", str(tmp_path_factory.mktemp("dagc-cache")))
    monkeypatch.delenv("DAGC_CACHE", raising=False)
    monkeypatch.setenv("DAGC_VERIFY_EACH", "1")


@pytest.fixture
def thread_counts():
    """``thread_counts(1, 2)`` iterates over those counts of dagc's runtime threads,
    set for each step; one thread again after the test, whatever it asserted."""
    import dagc.runtime

    def counts(*values: int):
        for n in values:
            dagc.runtime.set_num_threads(n)
            yield n

    yield counts
    dagc.runtime.set_num_threads(1)
