"""``dagc.compile``: a torch model (or a dag module) to native code, as a callable.

The CPU pipeline (``dag-to-llvm``), one registered pass per stage::

    dagc-hoist-weights      weights become arguments (loaded from safetensors)
    dagc-outline-kernels    one kernel function per distinct op signature
    convert-dag-to-linalg   dag -> linalg/tensor/arith/math on tensors
    dagc-linalg-fuse-elementwise  elementwise generic chains -> one generic; epilogues
                            write over their input (in place after bufferization)
    dagc-bufferize          tensors -> memrefs, results -> out-parameters
    dagc-linalg-to-microkernels  f32 matmul/conv/batched contractions -> packed GEMM
                            with AVX-512/AVX2 micro-kernels (llvm vector ops) and
                            their fused epilogues, direct depthwise conv; the rest
                            stays linalg
    dagc-hoist-kernel-scratch  the kernels' scratch (packed panels) -> arguments: views
                            of one scratch buffer of their caller
    dagc-plan-memory        each function's intermediates in one arena, reused by
                            liveness (greedy by size)
    dagc-entry-workspace    the entry's arena -> a workspace the runtime allocates once
    dagc-linalg-generalize  named linalg ops -> linalg.generic
    dagc-linalg-to-loops{parallel=true}  linalg.generic -> scf.parallel of scf.for loops
    dagc-math-approximation  f32 exp/erf/tanh -> arith polynomials (vectorizable)
    dagc-parallel-to-threads  outermost parallel loops worth it -> functions run by a
                            libgomp thread team (DAGC_NUM_THREADS); others -> scf.for
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
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from xdsl.dialects.builtin import DenseResourceAttr
from xdsl.passes import ModulePass

from dagc.compiler.heap import frozen_heap
from dagc.ir import Module, numpy_dtype
from dagc.runtime.executor import (
    CpuExecutable,
    Program,
    Step,
    Subgraph,
    TensorSpec,
    TorchExecutable,
    cpu_arg_specs,
)

if TYPE_CHECKING:
    from dagc.compiler.cache import CacheEntry

CPU_STAGES: tuple[str, ...] = (
    "dag-winograd",
    "dagc-hoist-weights",
    "dagc-outline-kernels",
    "convert-dag-to-linalg",
    "dagc-linalg-fuse-elementwise",
    "dagc-bufferize",
    "dagc-linalg-to-microkernels",
    "dagc-hoist-kernel-scratch",
    "dagc-plan-memory",
    "dagc-entry-workspace",
    "dagc-linalg-generalize",
    "dagc-linalg-to-loops{parallel=true}",
    "dagc-math-approximation",
    "dagc-parallel-to-threads",
    "convert-to-llvm",
)
"""The ``dag-to-llvm`` pipeline, in order."""

HOISTED = CPU_STAGES.index("dagc-hoist-weights") + 1
"""How many of :data:`CPU_STAGES` run before the weights are arguments: the
compile cache's key is the IR after them."""

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
        self.message = message
        where = f"\n  IR before the stage: {reproducer}\n  reproduce with: {command}" if reproducer else ""
        super().__init__(f"stage '{stage}' failed: {message}{where}")

    def __reduce__(self):
        """Pickle by the constructor's arguments (errors cross process boundaries in
        :mod:`dagc.compiler.parallel_build`)."""
        return CompileError, (self.stage, self.message, self.reproducer, self.command)


@dataclass
class StageReport:
    """One stage: its name, time (s) and op count after it ran. The time is wall
    time, except for the stages run function by function on several processes
    (:mod:`dagc.compiler.parallel_build`), whose times and op counts are the sums
    over the functions."""

    name: str
    seconds: float
    ops: int


@dataclass
class MemoryReport:
    """Memory of a compiled model, in bytes.

    ``arena_bytes``: the planned peak of the CPU entry's intermediate buffers, one
    arena per call (``dagc-plan-memory``); ``unplanned_bytes``: what they take as
    separate allocations; ``kernel_arena_bytes``: the largest arena of a kernel
    function (padded inputs, pooling windows; the micro-kernels' im2col and packing
    buffers, allocated later, are not counted); ``weight_bytes``, ``input_bytes``,
    ``output_bytes``: the model's. Over several CPU subgraphs, which run one at a
    time, the arena figures are the largest.
    """

    arena_bytes: int = 0
    unplanned_bytes: int = 0
    kernel_arena_bytes: int = 0
    weight_bytes: int = 0
    input_bytes: int = 0
    output_bytes: int = 0

    @staticmethod
    def of_program(program: Program, cpu: Sequence[MemoryReport]) -> MemoryReport:
        """The model's report: the largest arena figures of its CPU subgraphs'
        reports ``cpu``, and the program's weights, inputs and outputs."""
        return MemoryReport(
            max((m.arena_bytes for m in cpu), default=0),
            max((m.unplanned_bytes for m in cpu), default=0),
            max((m.kernel_arena_bytes for m in cpu), default=0),
            sum(a.nbytes for a in program.weights().values()),
            sum(map(_nbytes, program.inputs)), sum(map(_nbytes, program.outputs)))


def _nbytes(spec: TensorSpec) -> int:
    return int(np.prod(spec.shape)) * np.dtype(spec.dtype).itemsize


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
    memory: MemoryReport | None = None
    """Arena, weights, inputs and outputs in bytes (see :class:`MemoryReport`)."""
    seconds: float = 0.0
    """Wall time of the whole compile (import included)."""

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
        """The LLVM IR of every CPU subgraph, as optimized (the object code's
        source)."""
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
          reproducer_dir: str | os.PathLike | None = None,
          verify_each: bool | None = None) -> tuple[Module, list[StageReport]]:
    """Run ``stages`` on a copy of ``module``; return it with per-stage reports.

    The IR is verified after the last stage, or after every stage with
    ``verify_each`` (default: the environment variable ``DAGC_VERIFY_EACH=1``; as
    ``mlir-opt --verify-each``). When a stage raises or the result does not verify,
    the stages up to that one are replayed on ``module``, verifying after each and
    keeping the IR before each, so that the error names the first stage that fails
    or leaves invalid IR. The success path pays for neither (with both, ResNet-18
    and ResNet-50 took 1.5-2x as long to compile).

    Raises:
        CompileError: a stage failed (the IR before it is written to
            ``reproducer_dir``, default: a temporary directory).
    """
    if verify_each is None:
        verify_each = os.environ.get("DAGC_VERIFY_EACH", "0") not in ("", "0")
    if verify_each:
        return _run_stages(module, stages, progress, True, reproducer_dir)
    try:
        return _run_stages(module, stages, progress, False)
    except _StageFailed as failed:
        _run_stages(module, stages[: failed.index + 1], None, True, reproducer_dir)
        # The checked replay passed: the failure did not reproduce; report it as it was.
        cause = failed.__cause__
        raise CompileError(stages[failed.index], _message(cause), None, "") from cause


class _StageFailed(Exception):
    """Stage ``index`` of an unchecked run raised, or (the last) left invalid IR; the
    ``__cause__`` says what."""

    def __init__(self, index: int):
        super().__init__(index)
        self.index = index


def _message(e: BaseException | None) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _run_stages(module: Module, stages: Sequence[str], progress, checked: bool,
                reproducer_dir: str | os.PathLike | None = None
                ) -> tuple[Module, list[StageReport]]:
    """:func:`lower`'s loop. ``checked``: verify after every stage and raise a
    :class:`CompileError` with a reproducer when one fails; else verify only the
    result and raise :class:`_StageFailed`."""
    from dagc.compiler.opt import build_pipeline

    current = Module(module.op.clone(), module.ctx)
    reports = []
    for i, stage in enumerate(stages):
        if progress:
            progress(stage)
        before = current.op.clone() if checked else None  # the reproducer
        start = time.perf_counter()
        try:
            build_pipeline(stage).apply(current.ctx, current.op)
            if checked or i == len(stages) - 1:
                current.verify()
        except Exception as e:  # noqa: BLE001 - every stage failure is reported alike
            if not checked:
                raise _StageFailed(i) from e
            message = _message(e)
            folder = Path(reproducer_dir or tempfile.mkdtemp(prefix="dagc-"))
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"before-{stage}.mlir"
            path.write_text(Module(before, current.ctx).to_text())
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


def hoist_entry(module: Module, stages: Sequence[str] = ("dagc-hoist-weights",),
                progress: Callable[[str], None] | None = None
                ) -> tuple[Module, list[StageReport], EntryLayout]:
    """Run the stages up to and including weight hoisting (the last of
    ``stages``) and read the entry's layout; shared by every backend (CPU and
    Vulkan). They run on a clone of ``module`` with a weight store of its own, so
    the weights a stage makes (``dag-winograd``'s filters) are not added to
    ``module``'s.

    Raises:
        CompileError: a stage failed, or weights do not follow the inputs.
    """
    from dagc.lowering.hoist_weights import weight_handles

    hoisted, reports = lower(module.clone(), stages, progress)
    func = hoisted.forward
    handles = weight_handles(func)
    args = func.body.block.args
    inputs = [_spec(a.type) for a, h in zip(args, handles) if h is None]
    if handles[: len(inputs)] != [None] * len(inputs):
        raise CompileError(stages[-1], "weights must follow the inputs", None, "")
    arrays = {h: np.ascontiguousarray(hoisted.resources.array(
        DenseResourceAttr.from_params(h, a.type))) for a, h in zip(args, handles) if h}
    order = [h for h in handles if h is not None]
    outputs = [_spec(t) for t in func.function_type.outputs.data]
    return hoisted, reports, EntryLayout(inputs, order, arrays, outputs)


def compile_cpu(module: Module, progress: Callable[[str], None] | None = None,
                opt_level: int = 3, cache: bool = True
                ) -> tuple[CpuExecutable, list[StageReport], int, MemoryReport]:
    """Compile a dag module's ``@forward`` for the host CPU (the ``dag-to-llvm``
    stages, LLVM IR, llvmlite O3, one host object file per function, linked in
    process).

    With ``cache`` (and unless ``DAGC_CACHE=0``), the module after
    ``dagc-hoist-weights`` is looked up in the persistent cache
    (:mod:`dagc.compiler.cache`): a hit loads the stored objects and runs no later
    stage and no LLVM (its report is one ``cache hit`` stage); a miss compiles and
    stores them (a ``cache store`` stage). Weights are arguments either way,
    read from ``module``.

    Returns:
        ``(executable, stage reports, number of kernels, memory report)``.

    Raises:
        CompileError: a stage failed.
    """
    from dagc.compiler.cache import CacheWarning, CompileCache
    from dagc.compiler.heap import paused_gc

    hoisted, reports, entry = hoist_entry(module, CPU_STAGES[:HOISTED], progress)
    store = CompileCache.from_env() if cache else None
    if store is not None:
        start = time.perf_counter()
        key = store.key(hoisted.to_text(), {"stages": list(CPU_STAGES[HOISTED:]),
                                            "opt_level": opt_level})
        built = store.get(key)
        if built is not None:
            if progress:
                progress("cache hit")
            try:
                executable = _cpu_executable(built, entry)
                memory = _cpu_memory(built.meta, entry)
                reports.append(StageReport("cache hit", time.perf_counter() - start, 0))
                return executable, reports, int(built.meta.get("kernels", 0)), memory
            except (RuntimeError, KeyError) as e:
                warnings.warn(f"dagc cache: the entry {store.path(key)} does not load ({e}); "
                              "recompiling", CacheWarning, stacklevel=2)
    with paused_gc():
        built, rest = _build_cpu(hoisted, progress, opt_level)
    reports += rest
    try:
        executable = _cpu_executable(built, entry)
    except (RuntimeError, KeyError) as e:
        raise CompileError("llvm", _message(e), None, "") from e
    if store is not None:
        if progress:
            progress("cache store")
        start = time.perf_counter()
        store.put(key, built)
        reports.append(StageReport("cache store", time.perf_counter() - start, 0))
    return executable, reports, int(built.meta["kernels"]), _cpu_memory(built.meta, entry)


def _build_cpu(hoisted: Module, progress: Callable[[str], None] | None,
               opt_level: int) -> tuple[CacheEntry, list[StageReport]]:
    """The stages after hoisting, LLVM IR, O3 and code generation: a
    :class:`~dagc.compiler.cache.CacheEntry` (objects, LLVM IR, kernel count) and
    the stage reports. The stages up to memory planning run on the whole module,
    the rest function by function on several processes, each function becoming an
    object file (:mod:`dagc.compiler.parallel_build`); their optimized LLVM modules
    are linked into the one LLVM IR text kept.

    Raises:
        CompileError: a stage or LLVM failed.
    """
    from dagc.compiler.cache import CacheEntry
    from dagc.compiler.parallel_build import build_functions, split_functions
    from dagc.runtime.cpu import CpuModule

    split = CPU_STAGES.index("dagc-entry-workspace") + 1  # read the plan, then go on
    planned, reports = lower(hoisted, CPU_STAGES[HOISTED:split], progress)
    kernels = sum(1 for f in planned.op.body.ops
                  if getattr(f, "sym_name", None) and f.sym_name.data.startswith("k_"))
    figures = _arena_figures(planned)
    parts = split_functions(planned, move=True)  # planned is not used again
    bitcode, objects, rest = build_functions(parts, CPU_STAGES[split:], opt_level,
                                             progress=progress)
    reports += rest
    if progress:
        progress("llvm (link IR)")
    start = time.perf_counter()
    try:
        llvm_ir = CpuModule(bitcode, opt_level=opt_level).llvm_ir
    except Exception as e:  # noqa: BLE001
        raise CompileError("llvm", _message(e), None, "") from e
    built = CacheEntry(objects, llvm_ir, {"kernels": kernels, **figures})
    reports.append(StageReport("llvm (link IR)", time.perf_counter() - start, 0))
    return built, reports


def _arena_figures(planned: Module) -> dict[str, int]:
    """``arena_bytes``, ``unplanned_bytes`` (the entry's) and ``kernel_arena_bytes``
    (the largest of the other functions), as ``dagc-plan-memory`` recorded them,
    and ``workspace_bytes``, the entry's workspace argument
    (``dagc-entry-workspace``)."""
    from xdsl.dialects.func import FuncOp

    from dagc.lowering.entry_workspace import workspace_bytes
    from dagc.lowering.plan_memory import planned_bytes

    entry = planned.forward
    arena, unplanned = planned_bytes(entry)
    kernel = max((planned_bytes(f)[0] for f in planned.op.body.ops
                  if isinstance(f, FuncOp) and f is not entry), default=0)
    return {"arena_bytes": arena, "unplanned_bytes": unplanned, "kernel_arena_bytes": kernel,
            "workspace_bytes": workspace_bytes(entry)}


def _cpu_memory(meta: Mapping[str, Any], entry: EntryLayout) -> MemoryReport:
    """A CPU subgraph's memory report: the arena figures in ``meta`` (see
    :func:`_arena_figures`; KeyError without them) and the entry's arrays."""
    return MemoryReport(meta["arena_bytes"], meta["unplanned_bytes"],
                        meta["kernel_arena_bytes"],
                        sum(a.nbytes for a in entry.arrays.values()),
                        sum(map(_nbytes, entry.inputs)), sum(map(_nbytes, entry.outputs)))


def _cpu_executable(built: CacheEntry, entry: EntryLayout) -> CpuExecutable:
    """Link ``built``'s objects in process and call their ``forward`` with the entry's
    layout: inputs, weights (``entry.arrays``), outputs, and the workspace when it
    takes one (``built.meta["workspace_bytes"]``).

    Raises:
        RuntimeError: an object does not load; KeyError: none has ``forward``.
    """
    from dagc.runtime.cpu import load_object

    workspace = int(built.meta.get("workspace_bytes", 0))
    specs = cpu_arg_specs(entry.inputs, [entry.arrays[h] for h in entry.weights],
                          entry.outputs, workspace)
    fn, _engine = load_object(built.objects, "forward", specs)
    return CpuExecutable(fn, entry.inputs, entry.weights, entry.arrays, entry.outputs,
                         built.llvm_ir, built.objects, workspace_bytes=workspace)


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

DEFAULT_PIPELINE = "dag-fold-batchnorm,dag-fuse"
"""The dag-level passes :func:`compile` runs on every subgraph it compiles (CPU and
Vulkan) when it is given no ``pipeline``: batch norms fold into their convs, and
conv/linear/matmul epilogues and elementwise chains become one kernel each."""


@frozen_heap()
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
    cache: bool = True,
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
        pipeline: dag-level passes to run on the whole model before partitioning
            (``"dag-fold-batchnorm,..."``); ``None`` runs :data:`DEFAULT_PIPELINE`
            on each compiled subgraph instead (after partitioning, so that the
            allocation names the imported ops), and ``""`` runs no pass.
        progress: called with each stage's name as it starts.
        opaque: classes/functions for opaque HOST ops (as for ``dagc.to_torch``).
        spirv_options: for Vulkan subgraphs: ``workgroup_size``, ``spirv_version``,
            ``device`` (see ``dagc.compiler.gpu_compile.compile_vulkan_subgraph``).
        cache: look CPU subgraphs up in the persistent compile cache and store them
            there (:mod:`dagc.compiler.cache`; ``DAGC_CACHE=0`` turns it off too).

    Raises:
        ValueError: unknown target or missing example inputs.
        CompileError: a stage failed (see the message for the reproducer).
        dagc.ImportError_: the torch model could not be imported.
        AllocationError: the allocation names unknown ops or devices.
    """
    from dagc.compiler.pipeline import run_pipeline
    from dagc.dialects.device import parse_device
    from dagc.passes.partition_devices import partition

    start = time.perf_counter()
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
        spec = pipeline if isinstance(pipeline, str) else ",".join(pipeline)
        dag_module = run_pipeline(dag_module, spec)
    if progress:
        progress("partition-devices")
    partitioned, report = partition(dag_module, allocation or {}, DEFAULT_DEVICE[target])
    inputs, outputs, output_ids, parts, steps = split_program(partitioned)
    subgraphs, stages, kernels, memories = [], [], 0, []
    for name, dev, module in parts:
        if pipeline is None and parse_device(dev).backend != "torch":
            module = run_pipeline(module, DEFAULT_PIPELINE)
        executable, reports, n, memory = _compile_subgraph(dev, module, progress, opt_level, opaque,
                                                   spirv_options or {}, cache)
        subgraphs.append(Subgraph(name, dev, executable))
        stages += [StageReport(f"{r.name}" if len(parts) == 1 else f"{name}: {r.name}",
                               r.seconds, r.ops) for r in reports]
        kernels += n
        memories += [memory] if memory is not None else []
    program = Program(inputs, outputs, output_ids, subgraphs, steps)
    return CompiledModel(dag_module, program, stages, kernels, report,
                         MemoryReport.of_program(program, memories),
                         time.perf_counter() - start)


def _compile_subgraph(dev: str, module: Module, progress, opt_level, opaque, spirv_options,
                      cache: bool):
    from dagc.dialects.device import parse_device

    backend = parse_device(dev).backend
    if backend == "llvm":
        return compile_cpu(module, progress, opt_level, cache)
    if backend == "spirv":
        try:
            from dagc.compiler.gpu_compile import compile_vulkan_subgraph
        except ImportError as e:
            raise CompileError("spirv", f"no Vulkan backend in this build ({e})", None, "") from e
        return (*compile_vulkan_subgraph(module, progress, **spirv_options), None)
    start = time.perf_counter()
    executable = TorchExecutable(module, opaque)
    executable.network()  # missing opaque classes fail at compile time
    return executable, [StageReport("host (torch)", time.perf_counter() - start, 0)], 0, None
