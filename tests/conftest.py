"""Shared test configuration."""

import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """pytest-xdist runs one worker per core; torch's own thread pool on top of that
    oversubscribes the cores and makes small eager runs ~100x slower."""
    torch.set_num_threads(1)
    yield
