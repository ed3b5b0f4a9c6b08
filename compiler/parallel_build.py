"""The CPU build after memory planning, one function at a time, on several processes.

After memory planning (``dagc-entry-workspace``), every CPU stage rewrites the
functions of a module one by one, and LLVM optimizes and compiles them one by one
too: most of a ResNet-50 compile is spent there, on one core. :func:`split_functions`
cuts the planned module into one module per function (``@forward`` and each
outlined kernel), and :func:`build_functions` runs the stages, the translation to
LLVM IR, LLVM's optimization and code generation on each of them, in ``jobs``
worker processes forked from this one (the modules are inherited, not sent), the
largest first, each worker taking the next module when it is done. Each module
comes back as an object file, which the runtime loads together with the others
(:func:`dagc.runtime.cpu.load_object`), and as optimized LLVM bitcode, which the
caller links into one module for the LLVM IR it keeps
(``CpuModule(bitcode).llvm_ir``).

A function defined in one module and called from another is declared in the
caller's module and made public in its own, so that linking resolves it; LLVM's
optimization therefore no longer inlines a kernel into ``@forward``, which calls
each kernel once. The thread count ``dagc_num_threads`` is declared by every module
and defined by the runtime (``lowering/func_to_llvm.py``). Private globals and
internal functions (constants, ``_omp`` thunks) are local symbols of their object
file, and the IR linker renames them where two modules have the same one.

``DAGC_COMPILE_JOBS`` sets the number of processes (default: the CPUs this process
may run on); a module with fewer than :data:`MIN_FORKED_FUNCTIONS` functions, one
job, or a platform without ``fork`` builds in this process, function by function
all the same. Progress is reported as functions finish.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_all_start_methods, get_context

from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp, SymbolRefAttr
from xdsl.ir import Operation

from dagc.ir import Module, make_context, resources

MIN_FORKED_FUNCTIONS = 8
"""Below this many functions the build stays in this process. Measured on 2 cores
(an MLP of Linear + ReLU kernels): two jobs cost 50 ms more than one for 2
functions, broke even near 4 and saved 25 % at 8 (0.48 against 0.64 s); 8 keeps the
small compiles, most of the tests', in process."""


def compile_jobs() -> int:
    """The number of processes of a CPU build: ``DAGC_COMPILE_JOBS``, else the
    CPUs this process may run on (``os.sched_getaffinity``).

    Raises:
        ValueError: ``DAGC_COMPILE_JOBS`` is not a positive integer.
    """
    from dagc.runtime.cpu import cpu_count_from_env

    return cpu_count_from_env("DAGC_COMPILE_JOBS")


def _symbol_uses(op: Operation) -> set[str]:
    """The root names of the symbols that ``op``'s nested ops refer to."""
    names: set[str] = set()
    for inner in op.walk():
        for attr in (*inner.properties.values(), *inner.attributes.values()):
            if isinstance(attr, SymbolRefAttr):
                names.add(attr.root_reference.data)
    return names


def split_functions(module: Module, move: bool = False) -> list[Module]:
    """One module per function definition of ``module``, in order (so ``@forward``
    keeps its place), each with what its function refers to: a private
    declaration of every function defined elsewhere, and a copy of every other
    module-level op (globals, declarations). A function called from another module
    becomes public. The modules share ``module``'s weights (the blobs are
    immutable ``bytes``). ``module`` is not changed, unless ``move``: then the
    function definitions are moved out of it rather than copied (copying
    ResNet-50's micro-kernels took 1.1 s) and ``module`` is not to be used again.

    Returns:
        The modules, ``[module]`` itself when it defines one function or none.
    """
    top = list(module.op.body.ops)
    defined = [op for op in top if isinstance(op, func.FuncOp) and op.body.blocks]
    if len(defined) < 2:
        return [module]
    by_name = {op.sym_name.data: op for op in top if hasattr(op, "sym_name")}
    uses = {f.sym_name.data: _symbol_uses(f) for f in defined}
    called_elsewhere = set().union(*uses.values())
    parts = []
    for function in defined:
        name = function.sym_name.data
        ops: list[Operation] = []
        for used in sorted(uses[name] - {name}):
            other = by_name.get(used)
            if isinstance(other, func.FuncOp) and other.body.blocks:
                ops.append(func.FuncOp.external(used, other.function_type.inputs.data,
                                                other.function_type.outputs.data))
            elif other is not None:
                ops.append(other.clone())
        own = function if move else function.clone()
        if move:
            function.detach()
        if name in called_elsewhere:
            own.sym_visibility = None
        ctx = make_context()
        resources(ctx).blobs.update(module.resources.blobs)
        part = ModuleOp([*ops, own])
        part.attributes.update(module.op.attributes)
        parts.append(Module(part, ctx))
    return parts


_PARTS: Sequence[Module] = ()
"""The modules the forked workers build (inherited, see :func:`build_functions`)."""


def _build_one(index: int, stages: Sequence[str], opt_level: int):
    """Lower ``_PARTS[index]`` through ``stages``, translate it to LLVM IR, optimize
    it and generate its code: ``(stage reports, LLVM bitcode, object file)``.

    Raises:
        CompileError: a stage or LLVM failed.
    """
    from dagc.compiler.compile import CompileError, StageReport, _message, lower
    from dagc.lowering.llvm_to_llvmir import translate_to_llvmir
    from dagc.runtime.cpu import CpuModule

    lowered, reports = lower(_PARTS[index], stages)
    start = time.perf_counter()
    try:
        cpu = CpuModule(translate_to_llvmir(lowered.op, lowered.ctx), opt_level=opt_level)
        bitcode, code = cpu.bitcode(), cpu.emit_object()
    except Exception as e:  # noqa: BLE001 - llvmlite raises plain RuntimeErrors
        raise CompileError("llvm", _message(e), None, "") from e
    reports.append(StageReport("llvm (translate + O3 + codegen)", time.perf_counter() - start, 0))
    return reports, bitcode, code


def build_functions(parts: Sequence[Module], stages: Sequence[str], opt_level: int,
                    jobs: int | None = None,
                    progress: Callable[[str], None] | None = None):
    """Build every module of ``parts`` (see :func:`split_functions`): run
    ``stages``, translate to LLVM IR, optimize at ``opt_level`` and generate an
    object file, in ``jobs``
    forked processes (default :func:`compile_jobs`; see the module docstring for
    when it stays in this process).

    Returns:
        ``(optimized LLVM bitcode per part, object file per part, stage
        reports)``, the parts in order; a report per stage whose seconds and ops
        are the sums over the parts (so its seconds are CPU time, spread over the
        jobs).

    Raises:
        CompileError: a stage or LLVM failed for some part (the first to fail;
            the parts not started are cancelled); a worker that died is reported
            as the stage ``build``.
    """
    global _PARTS
    from dagc.compiler.compile import CompileError, StageReport

    jobs = compile_jobs() if jobs is None else jobs
    if len(parts) < MIN_FORKED_FUNCTIONS or "fork" not in get_all_start_methods():
        jobs = 1
    jobs = min(jobs, len(parts))
    # Largest first, so that the last ones to finish are short.
    order = sorted(range(len(parts)), key=lambda i: -sum(1 for _ in parts[i].op.walk()))
    results: dict[int, tuple] = {}

    def done(index: int, result: tuple) -> None:
        results[index] = result
        if progress:
            progress(f"lower functions ({jobs} jobs): {len(results)}/{len(parts)} done")

    if progress:
        progress(f"lower functions ({jobs} jobs): 0/{len(parts)} done")
    _PARTS = parts
    try:
        if jobs == 1:
            for i in order:
                done(i, _build_one(i, stages, opt_level))
        else:
            with ProcessPoolExecutor(jobs, mp_context=get_context("fork")) as pool:
                futures = {pool.submit(_build_one, i, stages, opt_level): i for i in order}
                try:
                    for future in as_completed(futures):
                        done(futures[future], future.result())
                except BaseException:
                    pool.shutdown(wait=False, cancel_futures=True)
                    raise
    except BrokenProcessPool as e:
        raise CompileError("build", f"a compile worker died ({e})", None, "") from e
    finally:
        _PARTS = ()
    totals: dict[str, StageReport] = {}
    for i in range(len(parts)):
        for r in results[i][0]:
            total = totals.setdefault(r.name, StageReport(r.name, 0.0, 0))
            total.seconds += r.seconds
            total.ops += r.ops
    return ([results[i][1] for i in range(len(parts))],
            [results[i][2] for i in range(len(parts))], list(totals.values()))
