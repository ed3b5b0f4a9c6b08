"""dagc.runtime: executing compiled artifacts and the reference executor.

``dagc.runtime.load("build/")`` loads an artifact written by ``CompiledModel.save``;
``set_num_threads(n)`` / ``get_num_threads()`` set and read the number of threads the
parallel loops of compiled CPU code run on (default: ``DAGC_NUM_THREADS``, else the
CPUs of the process; see :mod:`dagc.runtime.cpu`).
"""

from __future__ import annotations

from typing import Any


def load(path: Any, opaque: Any = ()):
    """Load a compiled artifact directory; see :func:`dagc.runtime.artifact.load`."""
    from dagc.runtime.artifact import load as _load

    return _load(path, opaque)


def set_num_threads(count: int) -> None:
    """Run the parallel loops of compiled CPU code, loaded or to be loaded, on
    ``count`` threads; see :func:`dagc.runtime.cpu.set_num_threads`.

    Raises:
        ValueError: when ``count`` is not a positive integer.
    """
    from dagc.runtime.cpu import set_num_threads as _set

    _set(count)


def get_num_threads() -> int:
    """The number of threads parallel loops of CPU code loaded from now on run on;
    see :func:`dagc.runtime.cpu.get_num_threads`.

    Raises:
        ValueError: when ``DAGC_NUM_THREADS`` is not a positive integer.
    """
    from dagc.runtime.cpu import get_num_threads as _get

    return _get()
