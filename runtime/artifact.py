"""Compiled artifacts: a directory that runs without the model's source or pickle.

Layout (format version 1)::

    build/
      model.meta              JSON: format, inputs/outputs (shape, dtype), subgraphs
                              (device, kernel files, entry symbol, calling
                              convention), sha256 of every other file
      weights.safetensors     the weights, keyed by resource handle
      model.mlir              the dag-level IR (weights elided), for inspection
      cpu0/forward.o          the object code of the CPU subgraph
      cpu0/forward.ll         its LLVM IR (for inspection and re-targeting)

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
FORMAT_VERSION = 1


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
    artifact and ``overwrite`` is true; anything else there is never touched.

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
    tmp = path.with_name(path.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "cpu0").mkdir(parents=True)
    save_file({h: np.ascontiguousarray(a) for h, a in compiled.weights.items()},
              str(tmp / "weights.safetensors"))
    (tmp / "cpu0" / "forward.o").write_bytes(compiled.object_code())
    (tmp / "cpu0" / "forward.ll").write_text(compiled.llvm_ir)
    (tmp / "model.mlir").write_text(compiled.dag.to_text(elide_larger_than=0))
    sig = compiled.signature
    files = ["weights.safetensors", "cpu0/forward.o", "cpu0/forward.ll", "model.mlir"]
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "inputs": [s.to_json() for s in sig.inputs],
        "outputs": [s.to_json() for s in sig.outputs],
        "subgraphs": [{
            "name": "cpu0",
            "device": "X64:0",
            "kind": "llvm-object",
            "object": "cpu0/forward.o",
            "entry": "forward",
            "convention": "bare pointers: inputs, weights, outputs",
            "weights": [{"name": h, **w.to_json()} for h, w in zip(sig.weights, sig.weight_specs)],
        }],
        "transfers": [],
        "checksums": {f: _sha256(tmp / f) for f in files},
    }
    (tmp / "model.meta").write_text(json.dumps(meta, indent=2) + "\n")
    if path.exists():
        shutil.rmtree(path)
    os.replace(tmp, path)
    return path


class Runner:
    """A loaded artifact: call it with numpy arrays or torch tensors."""

    def __init__(self, path: Path, meta: dict, weights: dict[str, np.ndarray], fn, engine):
        self.path, self.meta, self.weights = path, meta, weights
        self._fn, self._engine = fn, engine
        self.inputs = [(tuple(s["shape"]), s["dtype"]) for s in meta["inputs"]]
        self.outputs = [(tuple(s["shape"]), s["dtype"]) for s in meta["outputs"]]

    def __call__(self, *inputs: Any) -> Any:
        """Run the artifact.

        Raises:
            ValueError: wrong number, shape or dtype of inputs.
        """
        if len(inputs) != len(self.inputs):
            raise ValueError(f"the model takes {len(self.inputs)} inputs, got {len(inputs)}")
        as_torch = any(type(x).__module__.startswith("torch") for x in inputs)
        arrays = []
        for i, (x, (shape, dtype)) in enumerate(zip(inputs, self.inputs)):
            a = x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)
            if tuple(a.shape) != shape or str(a.dtype) != dtype:
                raise ValueError(f"input {i} must be {dtype}{list(shape)}, got "
                                 f"{a.dtype}{list(a.shape)}")
            arrays.append(np.ascontiguousarray(a))
        outs = [np.empty(shape, dtype=dtype) for shape, dtype in self.outputs]
        sub = self.meta["subgraphs"][0]
        self._fn(*arrays, *(self.weights[w["name"]] for w in sub["weights"]), *outs)
        if as_torch:
            import torch

            outs = [torch.from_numpy(o) for o in outs]
        return outs[0] if len(outs) == 1 else tuple(outs)


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


def load(path: str | os.PathLike) -> Runner:
    """Load an artifact written by ``CompiledModel.save`` and return a callable.

    Runs in a process that never saw the model's source: only model.meta, the
    safetensors weights and the object code are read (no pickle).

    Raises:
        ArtifactError: see :func:`read_meta`; also an unsupported subgraph kind.
    """
    from safetensors.numpy import load_file

    path = Path(path)
    meta = read_meta(path)
    subs = meta.get("subgraphs", [])
    if len(subs) != 1 or subs[0].get("kind") != "llvm-object":
        raise ArtifactError(f"{path}: only single CPU-subgraph artifacts are supported")
    sub = subs[0]
    from dagc.runtime.cpu import ArgSpec, load_object

    weights = load_file(str(path / "weights.safetensors"))
    for w in sub["weights"]:
        t = weights.get(w["name"])
        if t is None or list(t.shape) != w["shape"] or str(t.dtype) != w["dtype"]:
            raise ArtifactError(f"{path}: weight '{w['name']}' is missing or does not "
                                f"match {w['dtype']}{w['shape']}")
    specs = [ArgSpec.array(s["shape"], s["dtype"])
             for s in (*meta["inputs"], *sub["weights"], *meta["outputs"])]
    try:
        fn, engine = load_object((path / sub["object"]).read_bytes(), sub["entry"], specs)
    except (KeyError, RuntimeError) as e:
        raise ArtifactError(f"{path}: {e}") from e
    return Runner(path, meta, weights, fn, engine)
