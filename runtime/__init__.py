"""dagc.runtime: executing compiled artifacts and the reference executor.

``dagc.runtime.load("build/")`` loads an artifact written by ``CompiledModel.save``.
"""

from __future__ import annotations

from typing import Any


def load(path: Any, opaque: Any = ()):
    """Load a compiled artifact directory; see :func:`dagc.runtime.artifact.load`."""
    from dagc.runtime.artifact import load as _load

    return _load(path, opaque)
