"""``dagc.compile``: a torch model (or a dag module) to native code, as a callable.

The CPU pipeline (``dag-to-llvm``), one registered pass per stage::

    dagc-hoist-weights      weights become arguments (loaded from safetensors)
    dagc-outline-kernels    one kernel function per distinct op signature
    convert-dag-to-linalg   dag -> linalg/tensor/arith/math on tensors
    dagc-bufferize          tensors -> memrefs, results -> out-parameters
    dagc-linalg-to-microkernels  f32 matmul/conv -> packed GEMM with AVX-512/AVX2
                            micro-kernels (llvm vector ops); the rest stays linalg
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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from xdsl.dialects.builtin import DenseResourceAttr
from xdsl.passes import ModulePass

from dagc.ir import Module, numpy_dtype
from dagc.runtime.executor import (
    CpuExecutable,
    Program,
    Step,
    Subgraph,
    TensorSpec,
    TorchExecutable,
)

CPU_STAGES: tuple[str, ...] = (
    "dagc-hoist-weights",
    "dagc-outline-kernels",
    "convert-dag-to-linalg",
    "dagc-bufferize",
    "dagc-linalg-to-microkernels",
    "dagc-linalg-generalize",
    "dagc-linalg-to-loops",
    "convert-to-llvm",
)
"""The ``dag-to-llvm`` pipeline, in order."""

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
class CompiledModel:
    """A compiled model: call it like the model (torch tensors or numpy arrays in,
    the same kind out). ``save(dir)`` writes a self-contained artifact.

    ``program`` is the partitioned executor (subgraphs and the steps between them);
    without an allocation every op is on the target's default device (``X64:0`` or
    ``NVIDIA:0``) except opaque ones, which run on ``HOST:0``.
    """

    dag: Module
    program: Program
    stages: list[StageReport]
    kernels: int
    partition_report: Any = None

    def __call__(self, *inputs: Any) -> Any:
        """Run the model (see :meth:`Program.__call__`).

        Raises:
            ValueError: wrong number, shape or dtype of inputs.
        """
        return self.program(*inputs)

    @property
    def inputs(self) -> list[TensorSpec]:
        return self.program.inputs

    @property
    def outputs(self) -> list[TensorSpec]:
        return self.program.outputs

    @property
    def llvm_ir(self) -> str:
        """The LLVM IR of every CPU subgraph."""
        return "\n".join(sg.executable.llvm_ir for sg in self.program.subgraphs
                         if isinstance(sg.executable, CpuExecutable))

    def save(self, path: str | os.PathLike, overwrite: bool = False) -> Path:
        """Write the artifact directory (see :mod:`dagc.runtime.artifact`)."""
        from dagc.runtime.artifact import save_artifact

        return save_artifact(self, Path(path), overwrite=overwrite)


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
class EntryLayout:
    """The calling convention of a hoisted ``@forward``: model inputs, then weights
    (resource handles, with their arrays), then one out-parameter per output."""

    inputs: list[TensorSpec]
    weights: list[str]
    arrays: dict[str, np.ndarray]
    outputs: list[TensorSpec]


def hoist_entry(module: Module, stage: str = "dagc-hoist-weights",
                progress: Callable[[str], None] | None = None
                ) -> tuple[Module, list[StageReport], EntryLayout]:
    """Run the weight-hoisting stage and read the entry's layout; shared by every
    backend (CPU and Vulkan).

    Raises:
        CompileError: the stage failed, or weights do not follow the inputs.
    """
    from dagc.lowering.hoist_weights import weight_handles

    hoisted, reports = lower(module, (stage,), progress)
    func = hoisted.forward
    handles = weight_handles(func)
    args = func.body.block.args
    inputs = [_spec(a.type) for a, h in zip(args, handles) if h is None]
    if handles[: len(inputs)] != [None] * len(inputs):
        raise CompileError(stage, "weights must follow the inputs", None, "")
    arrays = {h: np.ascontiguousarray(module.resources.array(
        DenseResourceAttr.from_params(h, a.type))) for a, h in zip(args, handles) if h}
    order = [h for h in handles if h is not None]
    outputs = [_spec(t) for t in func.function_type.outputs.data]
    return hoisted, reports, EntryLayout(inputs, order, arrays, outputs)


def compile_cpu(module: Module, progress: Callable[[str], None] | None = None,
                opt_level: int = 3) -> tuple[CpuExecutable, list[StageReport], int]:
    """Compile a dag module's ``@forward`` for the host CPU (the ``dag-to-llvm``
    stages, LLVM IR, llvmlite O3).

    Returns:
        ``(executable, stage reports, number of kernels)``.

    Raises:
        CompileError: a stage failed.
    """
    from dagc.lowering.llvm_to_llvmir import translate_to_llvmir
    from dagc.runtime.cpu import ArgSpec, CpuModule

    hoisted, reports, entry = hoist_entry(module, CPU_STAGES[0], progress)
    inputs, order, weights, outputs = entry.inputs, entry.weights, entry.arrays, entry.outputs
    lowered, rest = lower(hoisted, CPU_STAGES[1:], progress)
    reports += rest
    kernels = sum(1 for f in lowered.op.body.ops
                  if getattr(f, "sym_name", None) and f.sym_name.data.startswith("k_"))
    if progress:
        progress("llvm")
    start = time.perf_counter()
    try:
        llvm_ir = translate_to_llvmir(lowered.op, lowered.ctx)
        cpu = CpuModule(llvm_ir, opt_level=opt_level)
        specs = [ArgSpec.array(s.shape, s.dtype) for s in inputs]
        specs += [ArgSpec.array(weights[h].shape, str(weights[h].dtype)) for h in order]
        specs += [ArgSpec.array(s.shape, s.dtype) for s in outputs]
        fn = cpu.get_function("forward", specs)
    except Exception as e:  # noqa: BLE001
        raise CompileError("llvm", str(e).strip().splitlines()[0], None, "") from e
    reports.append(StageReport("llvm (O3 + codegen)", time.perf_counter() - start, 0))
    executable = CpuExecutable(fn, inputs, order, weights, outputs, llvm_ir, cpu.emit_object)
    return executable, reports, kernels


def split_program(partitioned: Module):
    """The subgraphs of a partitioned ``@forward`` as standalone modules, and the
    steps that connect them.

    Returns:
        ``(inputs, outputs, output value ids, [(name, device, Module)], steps)``.
    """
    from xdsl.dialects.func import FuncOp, ReturnOp

    from dagc.dialects import device

    func = partitioned.forward
    ids: dict = {a: i for i, a in enumerate(func.body.block.args)}
    parts, steps = [], []

    def vid(v) -> int:
        if v not in ids:
            ids[v] = len(ids)
        return ids[v]

    for op in func.body.block.ops:
        if isinstance(op, device.SubgraphOp):
            body = op.body.clone()
            block = body.block
            yield_op = block.last_op
            block.insert_op_before(ReturnOp(*yield_op.operands), yield_op)
            yield_op.detach()
            yield_op.erase()
            sub = FuncOp("forward", ([a.type for a in block.args],
                                     [r.type for r in op.results]), body)
            module = partitioned.clone()
            for f in list(module.op.body.ops):
                f.detach()
            module.op.body.block.add_op(sub)
            parts.append((op.label_attr.data, op.target.data, module))
            steps.append(Step("run", [vid(v) for v in op.operands],
                              [vid(r) for r in op.results], len(parts) - 1))
        elif isinstance(op, device.TransferOp):
            steps.append(Step("transfer", [vid(op.operands[0])], [vid(op.results[0])],
                              source=op.from_.data, target=op.to.data))
        elif isinstance(op, ReturnOp):
            outputs = [vid(v) for v in op.operands]
        else:
            raise CompileError("partition", f"unexpected {op.name} between subgraphs", None, "")
    inputs = [_spec(a.type) for a in func.body.block.args]
    out_specs = [_spec(t) for t in func.function_type.outputs.data]
    return inputs, out_specs, outputs, parts, steps


DEFAULT_DEVICE = {"cpu": "X64:0", "vulkan": "NVIDIA:0"}


def compile(
    model_or_module: Any,
    example_inputs: Sequence[Any] | None = None,
    target: str = "cpu",
    allocation: Any = None,
    pipeline: Sequence[str] | str | None = None,
    progress: Callable[[str], None] | None = None,
    opt_level: int = 3,
    opaque: Any = (),
    spirv_options: Mapping[str, Any] | None = None,
) -> CompiledModel:
    """Compile a torch model (with its example inputs) or a dag :class:`Module`.

    The model is partitioned over devices (``allocation``: op name -> ``KIND:index``,
    a dict or a JSON path; ops it omits go to the target's default device, opaque ops
    to HOST) and each subgraph is compiled for its device's backend.

    Args:
        model_or_module: ``torch.nn.Module`` or :class:`dagc.ir.Module`.
        example_inputs: tensors fixing the static shapes (torch models only).
        target: ``"cpu"`` (default device X64:0) or ``"vulkan"`` (NVIDIA:0).
        allocation: op name -> device (see above).
        pipeline: dag-level passes to run first (``"dag-fold-batchnorm,..."``).
        progress: called with each stage's name as it starts.
        opaque: classes/functions for opaque HOST ops (as for ``dagc.to_torch``).
        spirv_options: for Vulkan subgraphs: ``workgroup_size``, ``spirv_version``,
            ``device`` (see ``dagc.compiler.gpu_compile.compile_vulkan_subgraph``).

    Raises:
        ValueError: unknown target or missing example inputs.
        CompileError: a stage failed (see the message for the reproducer).
        dagc.ImportError_: the torch model could not be imported.
        AllocationError: the allocation names unknown ops or devices.
    """
    from dagc.passes.partition_devices import partition

    if target not in DEFAULT_DEVICE:
        raise ValueError(f"unknown target '{target}'; supported: {', '.join(DEFAULT_DEVICE)}")
    if isinstance(model_or_module, Module):
        dag_module = model_or_module
    else:
        if example_inputs is None:
            raise ValueError("compiling a torch model needs example_inputs")
        from dagc.compiler.torch_frontend import import_torch

        if progress:
            progress("import")
        from dagc.compiler.fallback import opaque_for

        leaves = tuple(c for c in opaque if isinstance(c, type)) if not isinstance(
            opaque, Mapping) else ()
        dag_module = import_torch(model_or_module, example_inputs, leaf_modules=leaves)
        # Modules the importer leafed run on HOST: their instances come from the model.
        auto = opaque_for(model_or_module, dag_module)
        if auto:
            opaque = {**auto, **(opaque if isinstance(opaque, Mapping) else {
                f"{c.__module__}.{c.__qualname__}": c for c in opaque})}
    if pipeline:
        from dagc.compiler.pipeline import run_pipeline

        spec = pipeline if isinstance(pipeline, str) else ",".join(pipeline)
        dag_module = run_pipeline(dag_module, spec)
    if progress:
        progress("partition-devices")
    partitioned, report = partition(dag_module, allocation or {}, DEFAULT_DEVICE[target])
    inputs, outputs, output_ids, parts, steps = split_program(partitioned)
    subgraphs, stages, kernels = [], [], 0
    for name, dev, module in parts:
        executable, reports, n = _compile_subgraph(dev, module, progress, opt_level, opaque,
                                                   spirv_options or {})
        subgraphs.append(Subgraph(name, dev, executable))
        stages += [StageReport(f"{r.name}" if len(parts) == 1 else f"{name}: {r.name}",
                               r.seconds, r.ops) for r in reports]
        kernels += n
    program = Program(inputs, outputs, output_ids, subgraphs, steps)
    return CompiledModel(dag_module, program, stages, kernels, report)


def _compile_subgraph(dev: str, module: Module, progress, opt_level, opaque, spirv_options):
    from dagc.dialects.device import parse_device

    backend = parse_device(dev).backend
    if backend == "llvm":
        return compile_cpu(module, progress, opt_level)
    if backend == "spirv":
        try:
            from dagc.compiler.gpu_compile import compile_vulkan_subgraph
        except ImportError as e:
            raise CompileError("spirv", f"no Vulkan backend in this build ({e})", None, "") from e
        return compile_vulkan_subgraph(module, progress, **spirv_options)
    start = time.perf_counter()
    executable = TorchExecutable(module, opaque)
    executable.network()  # missing opaque classes fail at compile time
    return executable, [StageReport("host (torch)", time.perf_counter() - start, 0)], 0
