"""``dagc.compile``: a torch model (or a dag module) to native code, as a callable.

The CPU pipeline (``dag-to-llvm``), one registered pass per stage::

    dagc-hoist-weights      weights become arguments (loaded from safetensors)
    dagc-outline-kernels    one kernel function per distinct op signature
    convert-dag-to-linalg   dag -> linalg/tensor/arith/math on tensors
    dagc-bufferize          tensors -> memrefs, results -> out-parameters
    dagc-linalg-generalize  named linalg ops -> linalg.generic
    dagc-linalg-to-loops    linalg.generic -> scf loops
    convert-to-llvm         scf/cf/arith/math/memref/func -> llvm dialect

then LLVM IR (``translate_to_llvmir``) and machine code (llvmlite, O3). A stage that
fails raises :class:`CompileError` naming the stage (and the op, when the error
names one), after writing the IR it was given to a file and printing the
``dag-opt`` command that reproduces the failure.
"""

from __future__ import annotations

import os
import shlex
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from xdsl.passes import ModulePass

from dagc.ir import Module, numpy_dtype

CPU_STAGES: tuple[str, ...] = (
    "dagc-hoist-weights",
    "dagc-outline-kernels",
    "convert-dag-to-linalg",
    "dagc-bufferize",
    "dagc-linalg-generalize",
    "dagc-linalg-to-loops",
    "convert-to-llvm",
)
"""The ``dag-to-llvm`` pipeline, in order."""

TARGETS = ("cpu",)


@dataclass(frozen=True)
class DagToLLVMPass(ModulePass):
    """The whole CPU lowering, dag -> llvm dialect, as one named pipeline."""

    name = "dag-to-llvm"

    def apply(self, ctx, op) -> None:
        from dagc.compiler.opt import build_pipeline

        build_pipeline(",".join(CPU_STAGES)).apply(ctx, op)


class CompileError(Exception):
    """A compilation stage failed; ``stage``, ``reproducer`` (the IR before it) and
    ``command`` (the dag-opt command line that reproduces it) say where."""

    def __init__(self, stage: str, message: str, reproducer: Path | None, command: str):
        self.stage, self.reproducer, self.command = stage, reproducer, command
        where = f"\n  IR before the stage: {reproducer}\n  reproduce with: {command}" if reproducer else ""
        super().__init__(f"stage '{stage}' failed: {message}{where}")


@dataclass
class StageReport:
    """One stage: its name, wall time (s) and op count after it ran."""

    name: str
    seconds: float
    ops: int


@dataclass
class TensorSpec:
    """Shape and dtype of a model input or output."""

    shape: tuple[int, ...]
    dtype: str

    def to_json(self) -> dict:
        return {"shape": list(self.shape), "dtype": self.dtype}


@dataclass
class Signature:
    """The compiled entry's calling convention: model inputs, then weights (by
    resource handle), then one out-parameter per model output."""

    inputs: list[TensorSpec]
    weights: list[str]
    weight_specs: list[TensorSpec]
    outputs: list[TensorSpec]

    def arg_specs(self) -> list:
        """The native entry's arguments, for :meth:`CpuModule.get_function`."""
        from dagc.runtime.cpu import ArgSpec

        return [ArgSpec.array(s.shape, s.dtype)
                for s in (*self.inputs, *self.weight_specs, *self.outputs)]


def _spec(t) -> TensorSpec:
    return TensorSpec(tuple(t.get_shape()), str(numpy_dtype(t.element_type)))


def _count_ops(m: Module) -> int:
    return sum(1 for _ in m.op.walk()) - 1


def _first_op_name(message: str) -> str:
    import re

    found = re.search(r"'((?:dag|linalg|tensor|memref|arith|math|scf|func)\.[a-z_0-9.]+)'", message)
    return f" (op {found.group(1)})" if found else ""


def lower(module: Module, stages: Sequence[str] = CPU_STAGES,
          progress: Callable[[str], None] | None = None,
          reproducer_dir: str | os.PathLike | None = None) -> tuple[Module, list[StageReport]]:
    """Run ``stages`` on a copy of ``module``; return it with per-stage reports.

    Raises:
        CompileError: a stage failed (the IR before it is written to
            ``reproducer_dir``, default: a temporary directory).
    """
    from dagc.compiler.opt import build_pipeline

    current = Module(module.op.clone(), module.ctx)
    reports = []
    for stage in stages:
        if progress:
            progress(stage)
        snapshot = current.op.clone()  # the reproducer, printed only on failure
        start = time.perf_counter()
        try:
            build_pipeline(stage).apply(current.ctx, current.op)
            current.verify()
        except Exception as e:  # noqa: BLE001 - every stage failure is reported alike
            message = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            folder = Path(reproducer_dir or tempfile.mkdtemp(prefix="dagc-"))
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"before-{stage}.mlir"
            path.write_text(Module(snapshot, current.ctx).to_text())
            cmd = f"dag-opt {shlex.quote(str(path))} -p {stage}"
            raise CompileError(stage, message + _first_op_name(message), path, cmd) from e
        reports.append(StageReport(stage, time.perf_counter() - start, _count_ops(current)))
    return current, reports


@dataclass
class CompiledModel:
    """A compiled model: call it like the model (torch tensors or numpy arrays in,
    the same kind out). ``save(dir)`` writes a self-contained artifact."""

    dag: Module
    signature: Signature
    llvm_ir: str
    stages: list[StageReport]
    kernels: int
    weights: dict[str, np.ndarray] = field(repr=False)
    _fn: Any = field(default=None, repr=False)
    _cpu: Any = field(default=None, repr=False)

    def __call__(self, *inputs: Any) -> Any:
        """Run the model.

        Raises:
            ValueError: wrong number, shape or dtype of inputs.
        """
        sig = self.signature
        if len(inputs) != len(sig.inputs):
            raise ValueError(f"the model takes {len(sig.inputs)} inputs, got {len(inputs)}")
        as_torch = any(type(x).__module__.startswith("torch") for x in inputs)
        arrays = []
        for i, (x, spec) in enumerate(zip(inputs, sig.inputs)):
            a = x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)
            if tuple(a.shape) != spec.shape or str(a.dtype) != spec.dtype:
                raise ValueError(f"input {i} must be {spec.dtype}{list(spec.shape)}, "
                                 f"got {a.dtype}{list(a.shape)}")
            arrays.append(np.ascontiguousarray(a))
        outs = [np.empty(o.shape, dtype=o.dtype) for o in sig.outputs]
        self._fn(*arrays, *(self.weights[h] for h in sig.weights), *outs)
        if as_torch:
            import torch

            outs = [torch.from_numpy(o) for o in outs]
        return outs[0] if len(outs) == 1 else tuple(outs)

    def object_code(self) -> bytes:
        """The relocatable object file of the compiled code."""
        return self._cpu.emit_object()

    def save(self, path: str | os.PathLike, overwrite: bool = False) -> Path:
        """Write the artifact directory (see :mod:`dagc.runtime.artifact`)."""
        from dagc.runtime.artifact import save_artifact

        return save_artifact(self, Path(path), overwrite=overwrite)


def _entry_signature(hoisted: Module) -> Signature:
    from dagc.lowering.hoist_weights import weight_handles

    func = hoisted.forward
    handles = weight_handles(func)
    args = func.body.block.args
    inputs = [_spec(a.type) for a, h in zip(args, handles) if h is None]
    weights = [h for h in handles if h is not None]
    weight_specs = [_spec(a.type) for a, h in zip(args, handles) if h is not None]
    if handles[: len(inputs)] != [None] * len(inputs):
        raise CompileError("dagc-hoist-weights", "weights must follow the inputs", None, "")
    outputs = [_spec(t) for t in func.function_type.outputs.data]
    return Signature(inputs, weights, weight_specs, outputs)


def compile(
    model_or_module: Any,
    example_inputs: Sequence[Any] | None = None,
    target: str = "cpu",
    allocation: Any = None,
    pipeline: Sequence[str] | str | None = None,
    progress: Callable[[str], None] | None = None,
    opt_level: int = 3,
) -> CompiledModel:
    """Compile a torch model (with its example inputs) or a dag :class:`Module`.

    Args:
        model_or_module: ``torch.nn.Module`` or :class:`dagc.ir.Module`.
        example_inputs: tensors fixing the static shapes (torch models only).
        target: ``"cpu"`` (LLVM for the host CPU).
        allocation: device allocation (not supported by this target yet).
        pipeline: dag-level passes to run first (``"dag-fold-batchnorm,..."``).
        progress: called with each stage's name as it starts.

    Raises:
        ValueError: unknown target or missing example inputs.
        CompileError: a stage failed (see the message for the reproducer).
        dagc.ImportError_: the torch model could not be imported.
    """
    from dagc.lowering.llvm_to_llvmir import translate_to_llvmir
    from dagc.runtime.cpu import CpuModule

    if target not in TARGETS:
        raise ValueError(f"unknown target '{target}'; supported: {', '.join(TARGETS)}")
    if allocation is not None:
        raise ValueError("device allocations need the partitioned executor, which this "
                         "build does not have yet")
    if isinstance(model_or_module, Module):
        dag_module = model_or_module
    else:
        if example_inputs is None:
            raise ValueError("compiling a torch model needs example_inputs")
        from dagc.compiler.torch_frontend import import_torch

        if progress:
            progress("import")
        dag_module = import_torch(model_or_module, example_inputs)
    if pipeline:
        from dagc.compiler.pipeline import run_pipeline

        spec = pipeline if isinstance(pipeline, str) else ",".join(pipeline)
        dag_module = run_pipeline(dag_module, spec)
    hoisted, first = lower(dag_module, CPU_STAGES[:1], progress)
    signature = _entry_signature(hoisted)
    lowered, rest = lower(hoisted, CPU_STAGES[1:], progress)
    kernels = sum(1 for f in lowered.op.body.ops if getattr(f, "sym_name", None)
                  and f.sym_name.data.startswith("k_"))
    reports = first + rest
    if progress:
        progress("llvm")
    start = time.perf_counter()
    try:
        llvm_ir = translate_to_llvmir(lowered.op, lowered.ctx)
        cpu = CpuModule(llvm_ir, opt_level=opt_level)
    except Exception as e:  # noqa: BLE001
        raise CompileError("llvm", str(e).strip().splitlines()[0], None, "") from e
    fn = cpu.get_function("forward", signature.arg_specs())
    reports.append(StageReport("llvm (O3 + codegen)", time.perf_counter() - start, 0))
    weights = {h: np.ascontiguousarray(dag_module.resources.array(_resource_attr(hoisted, h)))
               for h in signature.weights}
    return CompiledModel(dag_module, signature, llvm_ir, reports, kernels, weights, fn, cpu)


def _resource_attr(hoisted: Module, handle: str):
    from xdsl.dialects.builtin import DenseResourceAttr

    func = hoisted.forward
    from dagc.lowering.hoist_weights import weight_handles

    for arg, h in zip(func.body.block.args, weight_handles(func)):
        if h == handle:
            return DenseResourceAttr.from_params(handle, arg.type)
    raise KeyError(handle)
