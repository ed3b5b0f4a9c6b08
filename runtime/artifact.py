"""Compiled artifacts: a directory that runs without the model's source or pickle.

Layout (format version 3)::

    build/
      model.meta              JSON: format and version; inputs/outputs (shape, dtype);
                              subgraphs in execution order (name, device, kind, files,
                              calling convention); the steps (run a subgraph, or
                              transfer a value between devices); sha256 of every file
      weights.safetensors     all weights, keyed by resource handle
      model.mlir              the dag-level IR (weights elided), for inspection
      sg0/forward.o, .ll      a CPU subgraph: object code and its LLVM IR (its forward
                              takes inputs, weights, outputs and, since version 2,
                              a workspace of ``workspace_bytes``); since version 3,
                              one object per function (forward.o, forward.1.o, ...,
                              listed in ``objects``, loaded together) that declare
                              ``dagc_num_threads``, which the runtime defines
      sg1/subgraph.mlir       a HOST subgraph: dag IR run by torch (opaque modules)
      sg2/dispatch.json, *.spv  a Vulkan subgraph: kernels and their dispatch table

:func:`load` checks the format version, that every listed file exists, and every
checksum, before anything runs; a truncated, edited or mismatched artifact is refused
with :class:`ArtifactError`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

FORMAT = "dagc-artifact"
FORMAT_VERSION = 3


class ArtifactError(Exception):
    """The artifact is missing, incomplete, corrupt or of another format version."""


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def save_artifact(compiled, path: Path, overwrite: bool = False) -> Path:
    """Write ``compiled`` (a :class:`dagc.compiler.compile.CompiledModel`) to ``path``.

    An existing non-empty directory is replaced only when it is itself a dagc
    artifact and ``overwrite`` is true; anything else there is never touched. The
    directory is written under a temporary name and renamed when complete.

    Raises:
        ArtifactError: ``path`` exists and may not be replaced.
    """
    from safetensors.numpy import save_file

    path = Path(path)
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        if not (overwrite and (path / "model.meta").exists()):
            raise ArtifactError(f"{path} exists and is not empty; choose another "
                                "directory (an existing dagc artifact is replaced with "
                                "overwrite=True / --force)")
    program = compiled.program
    tmp = path.with_name(path.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_file({h: np.ascontiguousarray(a) for h, a in program.weights().items()},
              str(tmp / "weights.safetensors"))
    (tmp / "model.mlir").write_text(compiled.dag.to_text(elide_larger_than=0))
    files = ["weights.safetensors", "model.mlir"]
    subgraphs = []
    for i, sg in enumerate(program.subgraphs):
        folder = f"sg{i}"
        entry = sg.executable.save(tmp / folder)
        files += [f"{folder}/{f}" for f in entry.pop("files")]
        subgraphs.append({"name": sg.name, "device": sg.device, "folder": folder, **entry})
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, **program.describe(),
            "subgraphs": subgraphs,
            "checksums": {f: _sha256(tmp / f) for f in files}}
    (tmp / "model.meta").write_text(json.dumps(meta, indent=2) + "\n")
    if path.exists():
        shutil.rmtree(path)
    os.replace(tmp, path)
    return path


def read_meta(path: Path) -> dict:
    """Read and check ``model.meta`` and every file it lists.

    Raises:
        ArtifactError: missing/unreadable meta, wrong format or version, a missing
            file, or a checksum mismatch.
    """
    meta_path = path / "model.meta"
    if not meta_path.is_file():
        raise ArtifactError(f"{path} is not a dagc artifact (no model.meta)")
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ArtifactError(f"{meta_path} is corrupt: {e}") from e
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ArtifactError(f"{meta_path} is not a dagc artifact description")
    if meta.get("format_version") != FORMAT_VERSION:
        raise ArtifactError(f"{path} has format version {meta.get('format_version')}; "
                            f"this dagc reads version {FORMAT_VERSION} (recompile it)")
    for name, digest in meta.get("checksums", {}).items():
        f = path / name
        if not f.is_file():
            raise ArtifactError(f"{path} is incomplete: {name} is missing")
        if _sha256(f) != digest:
            raise ArtifactError(f"{path}/{name} does not match its checksum (edited or "
                                "truncated); recompile the model")
    return meta


def load(path: str | os.PathLike, opaque: Any = ()):
    """Load an artifact written by ``CompiledModel.save`` and return a callable
    :class:`dagc.runtime.executor.Program`.

    Runs in a process that never saw the model's source: only model.meta, the
    safetensors weights and the subgraphs' files are read (no pickle). HOST
    subgraphs with opaque modules need their classes in ``opaque`` (as for
    ``dagc.to_torch``).

    Raises:
        ArtifactError: see :func:`read_meta`; also an unknown subgraph kind, a
            missing weight, or missing opaque classes.
    """
    from safetensors.numpy import load_file

    from dagc.runtime.executor import LOADERS, Program, Step, Subgraph, TensorSpec

    path = Path(path)
    meta = read_meta(path)
    weights = load_file(str(path / "weights.safetensors"))
    subgraphs = []
    for sub in meta.get("subgraphs", []):
        loader = LOADERS.get(sub.get("kind"))
        if loader is None:
            raise ArtifactError(f"{path}: subgraph '{sub.get('name')}' has kind "
                                f"{sub.get('kind')!r}, which this dagc cannot run")
        folder = path / sub["folder"]
        try:
            extra = (opaque,) if sub["kind"] == "torch-ir" else ()
            executable = loader(folder, sub, weights, *extra)
        except (LookupError, RuntimeError, ValueError) as e:
            raise ArtifactError(f"{path}: subgraph '{sub['name']}': {e}") from e
        subgraphs.append(Subgraph(sub["name"], sub["device"], executable))
    return Program([TensorSpec.from_json(s) for s in meta["inputs"]],
                   [TensorSpec.from_json(s) for s in meta["outputs"]],
                   list(meta["output_values"]), subgraphs,
                   [Step.from_json(s) for s in meta["steps"]])
