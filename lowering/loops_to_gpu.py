"""Outline loop nests into GPU kernels: scf parallel loops -> xDSL's gpu dialect.

Input: a ``func.func`` on statically shaped memrefs whose body is a sequence of
loop nests, as linalg -> parallel loops produces them: an ``scf.parallel`` over
the parallel dimensions (no reductions in the op itself) with ``scf.for`` loops
inside for reduction dimensions, and arith / math / memref.load / memref.store
in the bodies. A top-level ``scf.for`` nest (no parallel dimension, e.g. a full
reduction) becomes a kernel run by a single invocation.

Each top-level loop nest becomes one ``gpu.func ... kernel`` in a
``gpu.module @kernels``, and the nest is replaced by a ``gpu.launch_func``:

* the parallel iteration space is flattened (row-major) and cut into
  workgroups of ``workgroup_size`` invocations along x (fewer if the space is
  smaller); when more than 65535 workgroups are needed (Vulkan's guaranteed
  maxComputeWorkGroupCount[0]) they spread over y;
* each invocation computes its flat index from ``gpu.global_id``, checks it
  against the trip count (``scf.if``), delinearizes it into the induction
  variables and runs the loop body once;
* memrefs used inside the nest become kernel arguments (in order of first
  use); ``arith.constant`` values used inside are cloned into the kernel;
  any other value crossing the boundary is refused;
* ``scf.parallel`` loops nested inside the body run sequentially as ``scf.for``.

Loop bounds and steps must be constants (static shapes). xDSL's gpu dialect
has no custom syntax, so the kernels print in MLIR's generic op form.

Whole models arrive as an entry function calling one private function per
kernel (``dagc-outline-kernels``), with out-parameters the caller allocates
(``dagc-bufferize``). With ``inline_calls=true`` the pass first
inlines every ``func.call`` of a private, single-block, result-free function
(innermost first, as MLIR's ``-inline`` would), erases the callees left
without callers, and folds the loads and stores through static views
(``memref.subview`` / ``expand_shape`` / ``collapse_shape``) into accesses of
the views' sources (MLIR's ``-fold-memref-alias-ops``, via
``dagc-linalg-to-loops``' patterns), so that every kernel argument is a whole
allocation, argument or global with the identity layout. What stays in the
host function is ``memref.alloc`` / ``dealloc`` / ``get_global``,
``arith.constant``, the launches and ``func.return``: a dispatch table. With
``wrap_scalar_code=true``, loads, stores and arithmetic outside any loop (what a
linalg op on 0-d memrefs lowers to) are first put into a one-iteration
``scf.for``, so they run as a single-invocation kernel.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from io import StringIO
from itertools import pairwise

from xdsl.context import Context
from xdsl.dialects import arith, func, gpu, memref, scf
from xdsl.dialects.builtin import (
    IndexType,
    IntegerAttr,
    MemRefType,
    ModuleOp,
    StringAttr,
    SymbolRefAttr,
    UnitAttr,
)
from xdsl.ir import Block, Operation, Region, SSAValue
from xdsl.passes import ModulePass
from xdsl.printer import Printer
from xdsl.pattern_rewriter import (
    GreedyRewritePatternApplier,
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
    op_type_rewrite_pattern,
)
from xdsl.utils.exceptions import PassFailedException

KERNEL_MODULE = "kernels"
"""Symbol name of the ``gpu.module`` that holds the outlined kernels."""

MAX_GROUPS_X = 65535
"""Vulkan's minimum guaranteed maxComputeWorkGroupCount along each dimension."""


def _index_const(value: int) -> arith.ConstantOp:
    return arith.ConstantOp(IntegerAttr(value, IndexType()))


def _constant_value(value: SSAValue) -> int:
    op = value.owner
    if isinstance(op, arith.ConstantOp) and isinstance(op.value, IntegerAttr):
        return op.value.value.data
    raise PassFailedException(
        "loop bounds and steps must be arith.constant values to outline a kernel"
    )


def _inside(op: Operation, value: SSAValue) -> bool:
    """Whether ``value`` is defined inside ``op`` (by a nested op or block)."""
    owner = value.owner
    parent = owner.parent_op() if isinstance(owner, Block) else owner
    while parent is not None:
        if parent is op:
            return True
        parent = parent.parent_op()
    return False


def _captured_values(nest: scf.ParallelOp | scf.ForOp) -> list[SSAValue]:
    """Values used in ``nest`` but defined outside it, in order of first use.

    The bounds of an ``scf.parallel`` are not counted: they become the launch
    geometry, not kernel values.
    """
    seen: dict[SSAValue, None] = {}
    ops = (
        nest.walk()
        if isinstance(nest, scf.ForOp)
        else (o for top in nest.body.block.ops for o in top.walk())
    )
    for op in ops:
        for operand in op.operands:
            if not _inside(nest, operand):
                seen.setdefault(operand, None)
    return list(seen)


@dataclass(frozen=True)
class LaunchGeometry:
    """How a flattened parallel iteration space maps onto workgroups.

    ``trip_counts``: iterations per parallel dimension; ``local_size``:
    invocations per workgroup (along x); ``groups``: workgroup counts (x, y, z).
    """

    trip_counts: tuple[int, ...]
    local_size: int
    groups: tuple[int, int, int]

    @property
    def total(self) -> int:
        """Number of parallel iterations (1 for a nest without parallel dims)."""
        n = 1
        for t in self.trip_counts:
            n *= t
        return n

    @staticmethod
    def plan(trip_counts: Sequence[int], workgroup_size: int) -> LaunchGeometry:
        """Choose workgroup size and counts for ``trip_counts`` iterations.

        Raises PassFailedException if ``workgroup_size`` is not positive.
        """
        if workgroup_size < 1:
            raise PassFailedException("workgroup-size must be positive")
        geometry = LaunchGeometry(tuple(trip_counts), 1, (1, 1, 1))
        local = max(1, min(workgroup_size, geometry.total))
        groups = -(-geometry.total // local)
        gx = min(groups, MAX_GROUPS_X)
        gy = -(-groups // gx)
        return LaunchGeometry(tuple(trip_counts), local, (gx, gy, 1))


def _parallel_to_for(op: scf.ParallelOp) -> None:
    """Replace a nested ``scf.parallel`` (no reductions) by an ``scf.for`` nest."""
    if op.initVals:
        raise PassFailedException(
            "scf.parallel with reductions is not supported in kernels"
        )
    body = op.body.block
    reduce_op = body.last_op
    assert reduce_op is not None
    reduce_op.detach()
    reduce_op.erase()
    inner_ops = list(body.ops)
    for o in inner_ops:
        o.detach()
    loops: list[scf.ForOp] = []
    for lb, ub, step in zip(op.lowerBound, op.upperBound, op.step):
        loops.append(
            scf.ForOp(lb, ub, step, [], Region(Block(arg_types=[IndexType()])))
        )
    for outer, inner in pairwise(loops):
        outer.body.block.add_ops([inner, scf.YieldOp()])
    innermost = loops[-1].body.block
    for arg, loop in zip(body.args, loops):
        arg.replace_all_uses_with(loop.body.block.args[0])
    innermost.add_ops([*inner_ops, scf.YieldOp()])
    parent = op.parent_block()
    assert parent is not None
    parent.insert_op_before(loops[0], op)
    op.detach()
    op.erase()


class _Outliner:
    """Builds the kernel for one top-level loop nest and its launch."""

    def __init__(self, nest: scf.ParallelOp | scf.ForOp, workgroup_size: int):
        self.nest = nest
        self.workgroup_size = workgroup_size
        self.buffers: list[SSAValue] = []
        self.constants: list[SSAValue] = []
        for value in _captured_values(nest):
            if isinstance(value.type, MemRefType):
                self.buffers.append(value)
            elif isinstance(value.owner, arith.ConstantOp):
                self.constants.append(value)
            else:
                raise PassFailedException(
                    f"a loop nest uses {value.name_hint or 'a value'} of type {value.type} "
                    "defined outside it; only memrefs and arith.constant values can "
                    "cross into a GPU kernel"
                )
        for b in self.buffers:
            assert isinstance(b.type, MemRefType)
            if any(d < 0 for d in b.type.get_shape()):
                raise PassFailedException(f"memref {b.type} must have a static shape")

    def geometry(self) -> LaunchGeometry:
        if isinstance(self.nest, scf.ForOp):
            return LaunchGeometry.plan((), self.workgroup_size)
        if self.nest.initVals:
            raise PassFailedException("scf.parallel with reductions cannot be outlined")
        counts = []
        for lb, ub, step in zip(
            self.nest.lowerBound, self.nest.upperBound, self.nest.step
        ):
            lo, hi, st = _constant_value(lb), _constant_value(ub), _constant_value(step)
            if st <= 0:
                raise PassFailedException("scf.parallel steps must be positive")
            counts.append(max(0, -(-(hi - lo) // st)))
        return LaunchGeometry.plan(counts, self.workgroup_size)

    def kernel(self, name: str, geometry: LaunchGeometry) -> gpu.FuncOp:
        kernel = gpu.FuncOp(
            name,
            ([b.type for b in self.buffers], []),
            kernel=True,
            known_block_size=[geometry.local_size, 1, 1],
            known_grid_size=list(geometry.groups),
        )
        block = kernel.body.block
        mapping: dict[SSAValue, SSAValue] = dict(zip(self.buffers, block.args))
        for c in self.constants:
            clone = c.owner.clone()
            block.add_op(clone)
            mapping[c] = clone.results[0]
        if isinstance(self.nest, scf.ForOp):
            block.add_op(self.nest.clone(mapping))
        else:
            block.add_ops(self._parallel_body(geometry, mapping))
        block.add_op(gpu.ReturnOp([]))
        for inner in [o for o in kernel.walk() if isinstance(o, scf.ParallelOp)]:
            _parallel_to_for(inner)
        return kernel

    def _parallel_body(
        self, geometry: LaunchGeometry, mapping: dict[SSAValue, SSAValue]
    ) -> list[Operation]:
        nest = self.nest
        assert isinstance(nest, scf.ParallelOp)
        ops: list[Operation] = []

        def add(op: Operation) -> SSAValue:
            ops.append(op)
            return op.results[0]

        flat = add(gpu.GlobalIdOp(gpu.DimensionAttr(gpu.DimensionEnum.X)))
        if geometry.groups[1] > 1:
            gy = add(gpu.GlobalIdOp(gpu.DimensionAttr(gpu.DimensionEnum.Y)))
            row = add(_index_const(geometry.groups[0] * geometry.local_size))
            flat = add(arith.AddiOp(flat, add(arith.MuliOp(gy, row))))
        total = add(_index_const(geometry.total))
        in_bounds = add(arith.CmpiOp(flat, total, "ult"))

        inner: list[Operation] = []

        def emit(op: Operation) -> SSAValue:
            inner.append(op)
            return op.results[0]

        # Row-major delinearization: the last dimension varies fastest.
        rest = flat
        ivs: list[SSAValue] = [flat] * len(geometry.trip_counts)
        for d in reversed(range(len(geometry.trip_counts))):
            count = geometry.trip_counts[d]
            if d == 0:
                idx = rest
            else:
                n = emit(_index_const(count))
                idx = emit(arith.RemUIOp(rest, n))
                rest = emit(arith.DivUIOp(rest, n))
            lb, step = (
                _constant_value(nest.lowerBound[d]),
                _constant_value(nest.step[d]),
            )
            if step != 1:
                idx = emit(arith.MuliOp(idx, emit(_index_const(step))))
            if lb != 0:
                idx = emit(arith.AddiOp(idx, emit(_index_const(lb))))
            ivs[d] = idx
        for arg, iv in zip(nest.body.block.args, ivs):
            mapping[arg] = iv
        for op in nest.body.block.ops:
            if isinstance(op, scf.ReduceOp):
                continue
            inner.append(op.clone(mapping))
        inner.append(scf.YieldOp())
        ops.append(scf.IfOp(in_bounds, [], inner))
        return ops


def _inlinable(callee: func.FuncOp) -> bool:
    """A private function of one block, without results, calling nothing."""
    return (
        callee.sym_visibility is not None
        and callee.sym_visibility.data == "private"
        and len(callee.body.blocks) == 1
        and not callee.function_type.outputs.data
        and not any(isinstance(o, func.CallOp) for o in callee.walk())
    )


def inline_calls(module: ModuleOp) -> None:
    """Inline every ``func.call`` of an inlinable function (see :func:`_inlinable`),
    innermost callees first, then erase the private functions left without calls.

    The callee's body (but its ``func.return``) is cloned before the call, its
    block arguments replaced by the call's operands. Calls of other functions
    (public, with results, recursive) stay.
    """
    funcs = {
        f.sym_name.data: f for f in module.body.block.ops if isinstance(f, func.FuncOp)
    }
    changed = True
    while changed:
        changed = False
        for call in [o for o in module.walk() if isinstance(o, func.CallOp)]:
            callee = funcs.get(call.callee.root_reference.data)
            if callee is None or not _inlinable(callee):
                continue
            mapping: dict[SSAValue, SSAValue] = dict(
                zip(callee.body.block.args, call.arguments)
            )
            block = call.parent_block()
            assert block is not None
            for op in callee.body.block.ops:
                if isinstance(op, func.ReturnOp):
                    break
                block.insert_op_before(op.clone(mapping), call)
            call.detach()
            call.erase()
            changed = True
    called = {
        o.callee.root_reference.data for o in module.walk() if isinstance(o, func.CallOp)
    }
    for name, f in funcs.items():
        if (
            name not in called
            and f.sym_visibility is not None
            and f.sym_visibility.data == "private"
        ):
            f.detach()
            f.erase()


def fold_views(module: ModuleOp) -> None:
    """Fold loads and stores through static views into accesses of their sources,
    and erase the views left unused (``dagc-linalg-to-loops{fold-views=true}``)."""
    from dagc.lowering.linalg_to_loops import (
        EraseDeadViewPattern,
        FoldViewIntoAccessPattern,
    )

    PatternRewriteWalker(
        GreedyRewritePatternApplier(
            [FoldViewIntoAccessPattern(), EraseDeadViewPattern()]
        )
    ).rewrite_module(module)


def _is_scalar_code(op: Operation) -> bool:
    return isinstance(op, memref.LoadOp | memref.StoreOp) or (
        op.dialect_name() in ("arith", "math") and not isinstance(op, arith.ConstantOp)
    )


def wrap_scalar_code(host: func.FuncOp) -> None:
    """Put each run of loads, stores and arith / math ops at the top of ``host``
    (a linalg op on 0-d memrefs lowers to such a run, without loops) into an
    ``scf.for`` of one iteration, which becomes a single-invocation kernel.

    A run with no memory access, or whose values are used after it, stays.
    """
    runs: list[list[Operation]] = [[]]
    for op in host.body.block.ops:
        if _is_scalar_code(op):
            runs[-1].append(op)
        elif runs[-1]:
            runs.append([])
    for run in runs:
        if not any(isinstance(o, memref.LoadOp | memref.StoreOp) for o in run):
            continue
        inside = set(run)
        if any(
            use.operation not in inside for o in run for r in o.results for use in r.uses
        ):
            continue
        zero, one = _index_const(0), _index_const(1)
        loop = scf.ForOp(zero, one, one, [], Region(Block(arg_types=[IndexType()])))
        block = run[0].parent_block()
        assert block is not None
        block.insert_ops_before([zero, one, loop], run[0])
        for o in run:
            o.detach()
        loop.body.block.add_ops([*run, scf.YieldOp()])


def _kernel_text(kernel: gpu.FuncOp) -> str:
    """The generic text of ``kernel``: equal texts compute the same thing."""
    out = StringIO()
    Printer(stream=out, print_generic_format=True).print_op(kernel)
    return out.getvalue()


def _kernel_module(module: ModuleOp) -> gpu.ModuleOp:
    for op in module.ops:
        if isinstance(op, gpu.ModuleOp) and op.sym_name.data == KERNEL_MODULE:
            return op
    kernels = gpu.ModuleOp(StringAttr(KERNEL_MODULE), Region(Block()))  # type: ignore[arg-type]
    module.body.block.add_op(kernels)
    module.attributes["gpu.container_module"] = UnitAttr()
    return kernels


@dataclass
class OutlineLoopNestPattern(RewritePattern):
    """Replace a loop nest at the top of a ``func.func`` by a kernel launch.

    A nest whose kernel is identical (up to its name) to one outlined before by
    this pattern launches that kernel instead: a model's repeated layers share
    their kernels, as they share the compiled pipelines at run time.
    """

    workgroup_size: int = 64
    _seen: dict[str, str] = field(default_factory=dict[str, str])

    @op_type_rewrite_pattern
    def match_and_rewrite(
        self, op: scf.ParallelOp | scf.ForOp, rewriter: PatternRewriter
    ):
        host = op.parent_op()
        if not isinstance(host, func.FuncOp):
            return
        module = host.parent_op()
        if not isinstance(module, ModuleOp):
            return
        outliner = _Outliner(op, self.workgroup_size)
        geometry = outliner.geometry()
        if geometry.total == 0:
            rewriter.erase_op(op)
            return
        kernels = _kernel_module(module)
        kernel = outliner.kernel("kernel", geometry)
        key = _kernel_text(kernel)
        name = self._seen.get(key)
        if name is None:
            index = sum(1 for _ in kernels.body.block.ops)
            name = f"{host.sym_name.data}_kernel_{index}"
            kernel.sym_name = StringAttr(name)
            kernels.body.block.add_op(kernel)
            self._seen[key] = name
        else:
            kernel.erase()

        sizes = {v: _index_const(v) for v in (*geometry.groups, geometry.local_size, 1)}
        grid = [sizes[v] for v in geometry.groups]
        block = [sizes[geometry.local_size], sizes[1], sizes[1]]
        launch = gpu.LaunchFuncOp(
            SymbolRefAttr(KERNEL_MODULE, [name]),
            grid,
            block,
            kernelOperands=outliner.buffers,
        )
        rewriter.replace(op, [*sizes.values(), launch], new_results=[])


@dataclass(frozen=True)
class ConvertLoopsToGPUPass(ModulePass):
    """Outline each top-level loop nest of every ``func.func`` into a GPU kernel.

    Option ``workgroup_size``: invocations per workgroup along x (default 64).
    Option ``inline_calls``: first inline the calls of private kernel
    functions and fold views (see the module docstring). Option
    ``wrap_scalar_code``: loads, stores and arithmetic outside loops in a host
    function become single-invocation kernels (:func:`wrap_scalar_code`).
    Both are off by default and on in ``dagc.compile(..., target="vulkan")``.
    Raises PassFailedException for dynamic bounds or shapes, reductions in
    ``scf.parallel``, or non-constant scalars used inside a nest.
    """

    name = "convert-loops-to-gpu"

    workgroup_size: int = 64

    inline_calls: bool = False

    wrap_scalar_code: bool = False

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        if self.inline_calls:
            inline_calls(op)
            fold_views(op)
        if self.wrap_scalar_code:
            for host in [f for f in op.body.block.ops if isinstance(f, func.FuncOp)]:
                if host.body.blocks:
                    wrap_scalar_code(host)
        PatternRewriteWalker(
            OutlineLoopNestPattern(self.workgroup_size),
            apply_recursively=False,
            walk_regions_first=False,
        ).rewrite_module(op)
