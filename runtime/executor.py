"""The partitioned executor: runs a model's subgraphs in order on their devices.

A compiled model is a list of *steps* over numbered values (the entry's arguments
are values ``0..n-1``): ``run`` a subgraph on its device (its executable reads and
writes numbered values) or ``transfer`` a value between devices. Executables, one
per subgraph, by device backend (:data:`dagc.dialects.device.DEVICE_KINDS`):

- ``llvm``: native code from the CPU pipeline (:class:`CpuExecutable`),
- ``spirv``: kernels dispatched through Vulkan (``dagc.compiler.gpu_compile``),
- ``torch``: the subgraph's dag IR run by the reference executor
  (:class:`TorchExecutable`, for opaque HOST modules).

On the host all devices share memory, so a transfer hands the array over (it is the
point where a device runtime would copy); the step list still records every
crossing, which is what the artifact and the reports show.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import numpy as np


class Executable(Protocol):
    """A compiled subgraph: arrays in, arrays out, and its own files in a folder."""

    kind: str

    def run(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]: ...

    def weights(self) -> dict[str, np.ndarray]: ...

    def save(self, folder: Path) -> dict: ...


@dataclass
class Step:
    """``run`` subgraph ``index`` (reads ``inputs``, writes ``outputs``) or
    ``transfer`` value ``inputs[0]`` to ``outputs[0]`` from one device to another."""

    op: str
    inputs: list[int]
    outputs: list[int]
    index: int = -1
    source: str = ""
    target: str = ""

    def to_json(self) -> dict:
        d = {"op": self.op, "inputs": self.inputs, "outputs": self.outputs}
        if self.op == "run":
            d["subgraph"] = self.index
        else:
            d.update({"from": self.source, "to": self.target})
        return d

    @staticmethod
    def from_json(d: dict) -> Step:
        return Step(d["op"], list(d["inputs"]), list(d["outputs"]), d.get("subgraph", -1),
                    d.get("from", ""), d.get("to", ""))


@dataclass
class Subgraph:
    """One compiled subgraph: its name, device (``KIND:index``) and executable."""

    name: str
    device: str
    executable: Any


@dataclass
class TensorSpec:
    """Shape and dtype of a model input or output."""

    shape: tuple[int, ...]
    dtype: str

    def to_json(self) -> dict:
        return {"shape": list(self.shape), "dtype": self.dtype}

    @staticmethod
    def from_json(d: dict) -> TensorSpec:
        return TensorSpec(tuple(d["shape"]), d["dtype"])


@dataclass
class Program:
    """Subgraphs, the steps between them, and the model's inputs and outputs."""

    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    output_ids: list[int]
    subgraphs: list[Subgraph]
    steps: list[Step]
    _dtypes: list[np.dtype] | None = field(default=None, init=False, repr=False)
    """The inputs' dtypes, made by the first call."""

    def __call__(self, *inputs: Any) -> Any:
        """Run the model on torch tensors or numpy arrays (outputs of the same kind).

        Raises:
            ValueError: wrong number, shape or dtype of inputs.
        """
        if len(inputs) != len(self.inputs):
            raise ValueError(f"the model takes {len(self.inputs)} inputs, got {len(inputs)}")
        if self._dtypes is None:
            self._dtypes = [np.dtype(spec.dtype) for spec in self.inputs]
        as_torch = False
        env: dict[int, np.ndarray] = {}
        for i, (x, spec, dtype) in enumerate(zip(inputs, self.inputs, self._dtypes)):
            if hasattr(x, "detach"):  # a torch tensor
                as_torch = True
                a = x.numpy(force=True)
            else:
                a = np.asarray(x)
            if a.shape != spec.shape or a.dtype != dtype:
                raise ValueError(f"input {i} must be {spec.dtype}{list(spec.shape)}, "
                                 f"got {a.dtype}{list(a.shape)}")
            env[i] = np.ascontiguousarray(a)
        for step in self.steps:
            if step.op == "transfer":
                env[step.outputs[0]] = env[step.inputs[0]]
                continue
            results = self.subgraphs[step.index].executable.run([env[v] for v in step.inputs])
            env.update(zip(step.outputs, results))
        outs = [env[v] for v in self.output_ids]
        if as_torch:
            import torch

            outs = [torch.from_numpy(np.ascontiguousarray(o)) for o in outs]
        return outs[0] if len(outs) == 1 else tuple(outs)

    def weights(self) -> dict[str, np.ndarray]:
        """Every subgraph's weights, by resource handle."""
        out: dict[str, np.ndarray] = {}
        for sg in self.subgraphs:
            out.update(sg.executable.weights())
        return out

    def describe(self) -> dict:
        """The JSON description of the program (without files or checksums)."""
        return {
            "inputs": [s.to_json() for s in self.inputs],
            "outputs": [s.to_json() for s in self.outputs],
            "output_values": self.output_ids,
            "steps": [s.to_json() for s in self.steps],
            "transfers": [s.to_json() for s in self.steps if s.op == "transfer"],
        }


# ----------------------------------------------------------------------------
# Executables
# ----------------------------------------------------------------------------


WORKSPACE_ALIGNMENT = 64
"""Bytes: the alignment of a CPU executable's workspace (the arena's)."""


def cpu_arg_specs(inputs: Sequence[TensorSpec], weights: Sequence[np.ndarray],
                  outputs: Sequence[TensorSpec], workspace_bytes: int = 0) -> list:
    """The arguments of a CPU subgraph's ``forward``, as ``ArgSpec``s: inputs,
    weights, outputs, then (``workspace_bytes > 0``) the workspace, ``uint8``."""
    from dagc.runtime.cpu import ArgSpec

    specs = [ArgSpec.array(s.shape, s.dtype) for s in inputs]
    specs += [ArgSpec.array(w.shape, w.dtype) for w in weights]
    specs += [ArgSpec.array(s.shape, s.dtype) for s in outputs]
    if workspace_bytes:
        specs.append(ArgSpec.array((workspace_bytes,), "uint8"))
    return specs


class _CallPlan(NamedTuple):
    """What a :class:`CpuExecutable`'s calls share: ``dagc.runtime.cpu.address``
    (imported once: an import statement costs about 1 us a call), the inputs' and
    outputs' dtypes, and the weights' addresses (the arrays are the executable's,
    fixed)."""

    address: Callable[[np.ndarray], int]
    in_dtypes: list[np.dtype]
    out_dtypes: list[np.dtype]
    weights: list[int]


@dataclass
class CpuExecutable:
    """Native code of one subgraph: ``fn(inputs..., weights..., outputs...)``, and
    ``workspace`` when ``workspace_bytes`` > 0 (``dagc-entry-workspace``): a buffer
    allocated once, at the first call, and passed to every call (a call made while
    another thread's call holds it gets a buffer of its own)."""

    fn: Any
    inputs: list[TensorSpec]
    weight_handles: list[str]
    weight_arrays: dict[str, np.ndarray]
    outputs: list[TensorSpec]
    llvm_ir: str = ""
    objects: list[bytes] = field(default_factory=list)
    """Host object files (``CpuModule.emit_object``), loaded together."""
    kind: str = "llvm-object"
    workspace_bytes: int = 0
    _workspace: tuple[np.ndarray, int] | None = field(default=None, init=False, repr=False)
    """The shared workspace and its address, made by the first call."""
    _plan: _CallPlan | None = field(default=None, init=False, repr=False)
    """What every call passes or checks alike, made by the first call."""
    _workspace_lock: threading.Lock = field(default_factory=threading.Lock, init=False,
                                            repr=False)

    def run(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Run the subgraph: its inputs in, new output arrays out. The arguments go
        to the native code as addresses (``CompiledFunction.unchecked``); the
        weights' and the workspace's are taken once.

        Raises:
            ValueError: wrong number, shape or dtype of inputs.
        """
        if len(inputs) != len(self.inputs):
            raise ValueError(f"the subgraph takes {len(self.inputs)} inputs, got {len(inputs)}")
        if self._plan is None:
            from dagc.runtime.cpu import address

            self._plan = _CallPlan(address, [np.dtype(s.dtype) for s in self.inputs],
                                   [np.dtype(s.dtype) for s in self.outputs],
                                   [address(self.weight_arrays[h]) for h in self.weight_handles])
        address, in_dtypes, out_dtypes, weights = self._plan
        args = [np.ascontiguousarray(a) for a in inputs]  # alive until the call returns
        for i, (a, spec, dtype) in enumerate(zip(args, self.inputs, in_dtypes)):
            if a.shape != spec.shape or a.dtype != dtype:
                raise ValueError(f"input {i} must be {spec.dtype}{list(spec.shape)}, "
                                 f"got {a.dtype}{list(a.shape)}")
        outs = [np.empty(o.shape, dtype) for o, dtype in zip(self.outputs, out_dtypes)]
        pointers = [*map(address, args), *weights, *map(address, outs)]
        if not self.workspace_bytes:
            self.fn.unchecked(*pointers)
            return outs
        if self._workspace_lock.acquire(blocking=False):
            try:
                if self._workspace is None:
                    workspace = _aligned_bytes(self.workspace_bytes)
                    self._workspace = (workspace, address(workspace))
                self.fn.unchecked(*pointers, self._workspace[1])
            finally:
                self._workspace_lock.release()
        else:  # another thread's call holds the shared workspace
            workspace = _aligned_bytes(self.workspace_bytes)
            self.fn.unchecked(*pointers, address(workspace))
        return outs

    def weights(self) -> dict[str, np.ndarray]:
        return dict(self.weight_arrays)

    def save(self, folder: Path) -> dict:
        folder.mkdir(parents=True, exist_ok=True)
        objects = [f"forward.{i}.o" if i else "forward.o" for i in range(len(self.objects))]
        for name, code in zip(objects, self.objects):
            (folder / name).write_bytes(code)
        (folder / "forward.ll").write_text(self.llvm_ir)
        return {
            "kind": self.kind,
            "files": [*objects, "forward.ll"],
            "objects": objects,
            "entry": "forward",
            "convention": "bare pointers: inputs, weights, outputs, workspace",
            "workspace_bytes": self.workspace_bytes,
            "inputs": [s.to_json() for s in self.inputs],
            "outputs": [s.to_json() for s in self.outputs],
            "weights": weight_entries(self.weight_handles, self.weight_arrays),
        }

    @staticmethod
    def load(folder: Path, meta: dict, weights: Mapping[str, np.ndarray]) -> CpuExecutable:
        from dagc.runtime.cpu import load_object

        check_weights(meta["weights"], weights)
        handles = [w["name"] for w in meta["weights"]]
        inputs = [TensorSpec.from_json(s) for s in meta["inputs"]]
        outputs = [TensorSpec.from_json(s) for s in meta["outputs"]]
        workspace = int(meta.get("workspace_bytes", 0))
        specs = cpu_arg_specs(inputs, [weights[h] for h in handles], outputs, workspace)
        objects = [(folder / name).read_bytes() for name in meta["objects"]]
        fn, _engine = load_object(objects, meta["entry"], specs)
        return CpuExecutable(fn, inputs, handles, {h: weights[h] for h in handles}, outputs,
                             objects=objects, workspace_bytes=workspace)


def _aligned_bytes(size: int) -> np.ndarray:
    """``size`` uninitialized bytes starting at a multiple of
    ``WORKSPACE_ALIGNMENT``."""
    raw = np.empty(size + WORKSPACE_ALIGNMENT, np.uint8)
    start = -raw.ctypes.data % WORKSPACE_ALIGNMENT
    return raw[start:start + size]


@dataclass
class TorchExecutable:
    """A subgraph run by PyTorch through the reference executor (HOST device)."""

    module: Any  # dagc.ir.Module with @forward
    opaque: Any = ()
    kind: str = "torch-ir"
    _net: Any = None

    def network(self):
        """The torch module running the subgraph (built once; raises
        MissingOpaqueClass when an opaque class was not given)."""
        if self._net is None:
            from dagc.runtime.reference import to_torch

            self._net = to_torch(self.module, self.opaque)
        return self._net

    def run(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        import torch

        with torch.no_grad():
            out = self.network()(*(torch.from_numpy(np.ascontiguousarray(a)) for a in inputs))
        out = out if isinstance(out, tuple) else (out,)
        return [o.numpy() for o in out]

    def weights(self) -> dict[str, np.ndarray]:
        store = self.module.resources
        return {h: np.array(store.array(attr)) for h, attr in _resource_attrs(self.module).items()}

    def save(self, folder: Path) -> dict:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "subgraph.mlir").write_text(self.module.to_text(elide_larger_than=0))
        classes = sorted({op.cls_name.data for op in self.module.walk()
                          if op.name == "dag.opaque"})
        return {"kind": self.kind, "files": ["subgraph.mlir"], "ir": "subgraph.mlir",
                "opaque_classes": classes}

    @staticmethod
    def load(folder: Path, meta: dict, weights: Mapping[str, np.ndarray],
             opaque: Any = ()) -> TorchExecutable:
        from dagc.ir import parse

        module = parse((folder / meta["ir"]).read_text(), str(folder / meta["ir"]))
        store = module.resources
        for handle in _resource_attrs(module):
            if handle not in weights:
                raise LookupError(f"weight '{handle}' is missing")
            store.blobs[handle] = np.ascontiguousarray(weights[handle]).tobytes()
        ex = TorchExecutable(module, opaque)
        ex.network()  # fail now (e.g. missing opaque classes), not at the first call
        return ex


def weight_entries(handles: Sequence[str], arrays: Mapping[str, np.ndarray]) -> list[dict]:
    """``model.meta`` entries (name, shape, dtype) of a subgraph's weights, in order."""
    return [{"name": h, "shape": list(arrays[h].shape), "dtype": str(arrays[h].dtype)}
            for h in handles]


def check_weights(entries: Sequence[dict], weights: Mapping[str, np.ndarray]) -> None:
    """Every weight ``model.meta`` lists is present with its shape and dtype.

    Raises:
        LookupError: naming the first weight that is missing or differs.
    """
    for w in entries:
        t = weights.get(w["name"])
        if t is None or list(t.shape) != w["shape"] or str(t.dtype) != w["dtype"]:
            raise LookupError(f"weight '{w['name']}' is missing or does not match "
                              f"{w['dtype']}{w['shape']}")


def _resource_attrs(module) -> dict:
    from xdsl.dialects.builtin import DenseResourceAttr

    found = {}
    for op in module.walk():
        value = op.properties.get("value")
        if isinstance(value, DenseResourceAttr):
            found[value.resource_handle.data] = value
    return found


def _load_vulkan(folder: Path, meta: dict, weights: Mapping[str, np.ndarray]):
    from dagc.compiler.gpu_compile import VulkanExecutable

    return VulkanExecutable.load(folder, meta, weights)


LOADERS = {"llvm-object": CpuExecutable.load, "torch-ir": TorchExecutable.load,
           "spirv-dispatch": _load_vulkan}
"""Executable kind (``model.meta``) -> ``load(folder, meta, weights[, opaque])``."""
