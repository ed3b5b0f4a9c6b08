"""`scf.parallel` -> functions run by a thread team (pass `dagc-parallel-to-threads`).

MLIR's `-convert-scf-to-openmp` with the OpenMP region already outlined, as a C
compiler outlines `#pragma omp parallel for schedule(static)` for libgomp. Runs on
loops (after `dagc-linalg-to-loops`, before `convert-to-llvm`). For each outermost
`scf.parallel` of a function (one not nested in another) with constant bounds, no
reductions, at least two iterations and enough work to pay for waking threads
(estimated ops `>= min-work`, see `estimated_work`):

- its body is outlined into `func.func private @<parent>_par<N>(%begin: index,
  %end: index, <captures>...)`, where the captures are the values the body uses
  and that are defined above the loop (memrefs, indices, floats, pointers, ...;
  constants and other side-effect-free ops without operands are cloned instead).
  The iteration space, minus its unit dimensions, is split in two: the shortest
  prefix of the dimensions that holds at least `GRAIN` iterations is linearized
  into one range, and the function runs `[begin, end)` of that range, each
  linearized index delinearized (row-major) into the prefix's induction
  variables, with an `scf.for` nest over the other dimensions inside. The
  innermost dimensions so stay whole loops (LLVM vectorizes them; a division per
  innermost iteration would prevent it). A captured memref whose bytes lie in an
  allocation of the parent that no other capture reaches is an `llvm.noalias`
  argument (`_noalias`), so that outlining keeps what LLVM knew of it;
- the loop is replaced by `func.call @<parent>_par<N>(%c0, %cRange, <captures>)
  {dagc.parallel}`. The attribute is the contract `convert-func-to-llvm` relies
  on: the callee runs iterations `[begin, end)` of a range whose iterations are
  independent, so any split of `[0, range)` among threads computes the same result
  (it lowers the call to `GOMP_parallel`, see `func_to_llvm.py`).

Every other `scf.parallel` (nested ones, now in the outlined functions; loops with
dynamic bounds, reductions or little work; all of them with `threads=1`) becomes
a nest of `scf.for`, as MLIR's `-convert-scf-to-cf` lowers it (`ParallelLowering`):
one loop per dimension, reductions carried as iteration arguments and combined by
the `scf.reduce` regions in iteration order.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod

from xdsl.context import Context
from xdsl.dialects import arith, func, memref, scf
from xdsl.dialects.builtin import (
    ArrayAttr,
    DictionaryAttr,
    FunctionType,
    IndexType,
    IntegerAttr,
    MemRefType,
    ModuleOp,
    UnitAttr,
)
from xdsl.ir import Block, BlockArgument, Operation, Region, SSAValue
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    PatternRewriter,
    RewritePattern,
    op_type_rewrite_pattern,
)
from xdsl.rewriter import InsertPoint, Rewriter
from xdsl.traits import SymbolTable, is_side_effect_free
from xdsl.utils.exceptions import DiagnosticException, PassFailedException

from dagc.lowering.llvm_types import NOALIAS, element_byte_size, strided_layout
from dagc.lowering.pattern_dispatch import apply_patterns

PARALLEL_ATTR = "dagc.parallel"
"""Unit attribute of a `func.call` whose `[begin, end)` range may be split among
threads (the first two arguments of the callee)."""

MIN_WORK = 1 << 17
"""Default `min-work`: estimated ops below which a loop stays serial. An
elementwise op costs about 5 (loads, arithmetic, store), so this is about
PyTorch's grain of 32768 elements per `at::parallel_for` chunk
(`at::internal::GRAIN_SIZE`): vectorized, some 10 us of work, against the few
microseconds of waking a libgomp team and joining it."""

GRAIN = 64
"""Fewest iterations of the range split among threads (when the loop has as many):
static chunks of at least 64 units stay within a few percent of balanced on up to
16 threads."""

DYNAMIC_TRIPS = 16
"""Trip count assumed, in the work estimate, for a loop with dynamic bounds."""


def _constant_index(value: SSAValue) -> int | None:
    owner = value.owner
    if isinstance(owner, arith.ConstantOp) and isinstance(owner.value, IntegerAttr):
        return owner.value.value.data
    return None


def _trip_counts(loop: scf.ParallelOp | scf.ForOp) -> list[int] | None:
    """The trip count of each dimension of `loop`, or None for dynamic bounds."""
    if isinstance(loop, scf.ForOp):
        bounds = [(loop.lb, loop.ub, loop.step)]
    else:
        bounds = list(zip(loop.lowerBound, loop.upperBound, loop.step, strict=True))
    trips: list[int] = []
    for lower, upper, step in bounds:
        lo, hi, st = (_constant_index(v) for v in (lower, upper, step))
        if lo is None or hi is None or st is None or st <= 0:
            return None
        trips.append(max(0, -(-(hi - lo) // st)))
    return trips


def estimated_work(block: Block) -> int:
    """
    Ops executed by one run of `block`: one per op, the ops of a nested loop's body
    times its trip count (`DYNAMIC_TRIPS` for dynamic bounds), those of other
    regions (e.g. both branches of an `scf.if`) once.
    """
    total = 0
    for op in block.ops:
        total += 1
        trips = 1
        if isinstance(op, scf.ParallelOp | scf.ForOp):
            counts = _trip_counts(op)
            trips = prod(counts) if counts is not None else DYNAMIC_TRIPS
        for region in op.regions:
            for inner in region.blocks:
                total += trips * estimated_work(inner)
    return total


def _index(value: int) -> arith.ConstantOp:
    return arith.ConstantOp(IntegerAttr.from_index_int_value(value))


class ParallelToForPattern(RewritePattern):
    """`scf.parallel` -> one `scf.for` per dimension, reductions as iteration
    arguments combined by the `scf.reduce` regions (MLIR's `ParallelLowering`).
    The body is moved into the innermost loop (its nested loops stay the ops they
    were, and a walk that has them still to visit lowers them in turn)."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: scf.ParallelOp, rewriter: PatternRewriter, /):
        body = op.body.block
        reduce = body.last_op
        assert isinstance(reduce, scf.ReduceOp)
        carried = list(op.initVals)
        loops: list[scf.ForOp] = []
        point = InsertPoint.before(op)
        for lower, upper, step in zip(op.lowerBound, op.upperBound, op.step, strict=True):
            block = Block(arg_types=[IndexType(), *(v.type for v in carried)])
            loop = scf.ForOp(lower, upper, step, carried, block)
            rewriter.insert(loop, point)
            loops.append(loop)
            carried = list(block.args[1:])
            point = InsertPoint.at_end(block)
        rewriter.inline_block(body, point, [loop.body.block.args[0] for loop in loops])
        point = InsertPoint.before(reduce)
        combined: list[SSAValue] = []
        for accumulator, value, region in zip(
            carried, reduce.args, reduce.reductions, strict=True
        ):
            lhs, rhs = region.block.args
            local: dict[SSAValue, SSAValue] = {lhs: accumulator, rhs: value}
            for inner in region.block.ops:
                if isinstance(inner, scf.ReduceReturnOp):
                    combined.append(local.get(inner.result, inner.result))
                else:
                    rewriter.insert(inner.clone(local), point)
        rewriter.erase(reduce)
        if loops:
            point = InsertPoint.at_end(loops[-1].body.block)
            rewriter.insert(scf.YieldOp(*combined), point)
            for outer, inner in zip(loops, loops[1:]):
                rewriter.insert(
                    scf.YieldOp(*inner.results), InsertPoint.at_end(outer.body.block)
                )
            combined = list(loops[0].results)
        rewriter.replace(op, (), combined)


def _captures(loop: scf.ParallelOp) -> tuple[list[Operation], list[SSAValue]]:
    """
    The ops to clone into an outlined body of `loop` (side-effect-free ops without
    operands or regions whose results the body uses: constants, global addresses)
    and the values to pass as arguments (every other value the body uses that is
    defined above `loop`), each in order of first use.
    """
    clones: dict[Operation, None] = {}
    captured: dict[SSAValue, None] = {}
    for inner in loop.body.walk():
        for value in inner.operands:
            if loop.is_ancestor(value.owner):
                continue
            owner = value.owner
            if (
                isinstance(owner, Operation)
                and not owner.operands
                and not owner.regions
                and is_side_effect_free(owner)
            ):
                clones[owner] = None
            else:
                captured[value] = None
    return list(clones), list(captured)


_SAME_BASE = (
    memref.SubviewOp,
    memref.ExpandShapeOp,
    memref.CollapseShapeOp,
    memref.CastOp,
    memref.ReinterpretCastOp,
)
"""View ops whose result has the base pointer of their source (the offset is in
the result's type)."""


def _noalias_argument(value: SSAValue) -> bool:
    """Whether `value` is an argument of its `func.func` marked `llvm.noalias` (as
    `dagc-hoist-kernel-scratch` marks a kernel's scratch): no other argument reaches
    its bytes, so it is an allocation of its own for the analyses below."""
    if not isinstance(value, BlockArgument):
        return False
    parent = value.block.parent_op()
    if not isinstance(parent, func.FuncOp) or value.block is not parent.body.blocks.first:
        return False
    if parent.arg_attrs is None or value.index >= len(parent.arg_attrs.data):
        return False
    return NOALIAS in parent.arg_attrs.data[value.index].data


def _footprint(value: SSAValue) -> tuple[Operation | SSAValue, int, int] | None:
    """
    The allocation (`memref.alloc` / `memref.alloca`, or a `llvm.noalias` argument
    of the function) that the memref `value` views, through `_SAME_BASE` views and
    `memref.view`s at constant byte shifts, and the bytes `[lo, hi)` of it that the
    elements of `value` lie in; None when `value` is not known to view an
    allocation (another argument, a global, a dynamic layout or shift, a negative
    stride).
    """
    typ = value.type
    if not isinstance(typ, MemRefType):
        return None
    try:
        strides, offset = strided_layout(typ)
        size = element_byte_size(typ.element_type)
    except DiagnosticException:
        return None
    if any(stride < 0 for stride in strides):
        return None
    last = offset + sum((n - 1) * s for n, s in zip(typ.get_shape(), strides))
    lo, hi = offset * size, (last + 1) * size
    while True:
        if _noalias_argument(value):
            return value, lo, hi
        owner = value.owner
        if isinstance(owner, memref.AllocOp | memref.AllocaOp):
            return owner, lo, hi
        if isinstance(owner, memref.ViewOp):
            shift = _constant_index(owner.byte_shift)
            if shift is None:
                return None
            lo, hi = lo + shift, hi + shift
        elif not isinstance(owner, _SAME_BASE):
            return None
        value = owner.operands[0]


def _reached_allocations(value: SSAValue) -> set[Operation | SSAValue] | None:
    """The allocations (ops, or `llvm.noalias` arguments) `value` is computed from
    (e.g. a pointer extracted from a view of one), or None when that is unknown (a
    value carried or yielded by a region)."""
    found: set[Operation | SSAValue] = set()
    pending, seen = [value], set[SSAValue]()
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        owner = current.owner
        if isinstance(owner, Operation):
            if owner.regions:
                return None
            if isinstance(owner, memref.AllocOp | memref.AllocaOp):
                found.add(owner)
            pending.extend(owner.operands)
        elif _noalias_argument(current):
            found.add(current)
        elif isinstance(current, BlockArgument) and current.block.parent_op() is not None:
            parent = current.block.parent_op()
            induction = isinstance(parent, scf.ParallelOp) or (
                isinstance(parent, scf.ForOp) and current.index == 0
            )
            if not (isinstance(parent, func.FuncOp) or induction):
                return None
    return found


def _noalias(captured: list[SSAValue]) -> list[bool]:
    """
    Which captured values may be `llvm.noalias` arguments of the outlined function:
    memrefs whose bytes (`_footprint`, in an allocation of the parent function or
    a `llvm.noalias` argument of it, so no other argument or global of the parent
    reaches them) no other captured value
    reaches: no other captured memref's bytes overlap them and no other captured
    value is computed from their allocation. Each thread then reads and writes
    them through the argument alone, and LLVM may reorder and vectorize the
    accesses without runtime alias checks (as it did on the allocation itself
    before outlining).
    """
    footprints = [_footprint(v) for v in captured]
    escaped: set[Operation | SSAValue] = set()
    for value, footprint in zip(captured, footprints, strict=True):
        if footprint is None:
            reached = _reached_allocations(value)
            if reached is None:
                return [False] * len(captured)
            escaped |= reached
    return [
        footprint is not None
        and footprint[0] not in escaped
        and not any(
            j != i and other is not None and other[0] is footprint[0]
            and other[1] < footprint[2] and footprint[1] < other[2]
            for j, other in enumerate(footprints)
        )
        for i, footprint in enumerate(footprints)
    ]


def _delinearize(
    linear: SSAValue, extents: list[int]
) -> tuple[list[Operation], list[SSAValue]]:
    """The ops computing the row-major digits of `linear` in a space of `extents`
    (`linear < prod(extents)`), and the digits."""
    ops: list[Operation] = []
    digits: list[SSAValue] = []
    for d, extent in enumerate(extents):
        digit = linear
        stride = prod(extents[d + 1 :])
        if stride != 1:
            ops += [c := _index(stride), div := arith.DivUIOp(digit, c)]
            digit = div.result
        if d:
            ops += [c := _index(extent), rem := arith.RemUIOp(digit, c)]
            digit = rem.result
        digits.append(digit)
    return ops, digits


def _induction_value(
    block: Block, index: SSAValue | None, lower: SSAValue, step: SSAValue
) -> SSAValue:
    """Append to `block` the ops computing `lower + index * step` (constants), or
    `lower` for no `index` (a unit dimension), and return the value."""
    lo, st = _constant_index(lower), _constant_index(step)
    assert lo is not None and st is not None
    if index is None:
        block.add_op(value := _index(lo))
        return value.result
    if st != 1:
        block.add_ops([c := _index(st), mul := arith.MuliOp(index, c)])
        index = mul.result
    if lo:
        block.add_ops([c := _index(lo), add := arith.AddiOp(index, c)])
        index = add.result
    return index


def _outline(loop: scf.ParallelOp, trips: list[int], name: str) -> func.FuncOp:
    """
    Replace `loop` by a `{dagc.parallel}` call to `@name(%begin, %end,
    captures...)` over the linearized range of its distributed dimensions, and
    return that function, which runs iterations `[begin, end)` of the range (see
    the module docstring).
    """
    clones, captured = _captures(loop)
    block = Block(arg_types=[IndexType(), IndexType(), *(v.type for v in captured)])
    begin, end = block.args[:2]
    begin.name_hint, end.name_hint = "begin", "end"
    mapper: dict[SSAValue, SSAValue] = dict(zip(captured, block.args[2:]))
    for value, arg in mapper.items():
        arg.name_hint = value.name_hint
    for op in clones:
        block.add_op(op.clone(mapper))

    dims = [d for d, n in enumerate(trips) if n > 1]
    split = next(
        (k for k in range(1, len(dims) + 1) if prod(trips[d] for d in dims[:k]) >= GRAIN),
        len(dims),
    )
    distributed, serial = dims[:split], dims[split:]
    units = prod(trips[d] for d in distributed)
    body = loop.body.block
    bounds = list(zip(loop.lowerBound, loop.step, strict=True))
    for d in range(len(trips)):
        if trips[d] == 1:
            mapper[body.args[d]] = _induction_value(block, None, *bounds[d])

    one = _index(1)
    range_body = Block(arg_types=[IndexType()])
    block.add_ops([one, scf.ForOp(begin, end, one, (), range_body), func.ReturnOp()])
    ops, digits = _delinearize(range_body.args[0], [trips[d] for d in distributed])
    range_body.add_ops(ops)
    for d, digit in zip(distributed, digits, strict=True):
        mapper[body.args[d]] = _induction_value(range_body, digit, *bounds[d])
    loop_bodies = [range_body]
    for d in serial:
        nested = Block(arg_types=[IndexType()])
        extent = (_index(0), _index(trips[d]))
        loop_bodies[-1].add_ops([*extent, scf.ForOp(*extent, one, (), nested)])
        loop_bodies.append(nested)
        mapper[body.args[d]] = _induction_value(nested, nested.args[0], *bounds[d])
    for op in body.ops:
        if not isinstance(op, scf.ReduceOp):
            loop_bodies[-1].add_op(op.clone(mapper))
    for nested in loop_bodies:
        nested.add_op(scf.YieldOp())

    noalias = DictionaryAttr({NOALIAS: UnitAttr()})
    outlined = func.FuncOp(
        name,
        FunctionType.from_lists([a.type for a in block.args], []),
        Region(block),
        visibility="private",
        arg_attrs=ArrayAttr(
            [DictionaryAttr({}), DictionaryAttr({})]
            + [noalias if flag else DictionaryAttr({}) for flag in _noalias(captured)]
        ),
    )
    call = func.CallOp(name, [zero := _index(0), count := _index(units), *captured], [])
    call.attributes[PARALLEL_ATTR] = UnitAttr()
    Rewriter.replace_op(loop, [zero, count, call], [])
    return outlined


def _outermost_parallel_loops(op: Operation):
    """The `scf.parallel` ops nested in `op` that are not nested in another one."""
    for region in op.regions:
        for block in region.blocks:
            for inner in block.ops:
                if isinstance(inner, scf.ParallelOp):
                    yield inner
                else:
                    yield from _outermost_parallel_loops(inner)


@dataclass(frozen=True)
class ParallelToThreadsPass(ModulePass):
    """
    Outline the outermost `scf.parallel` loops worth it into functions called with
    `{dagc.parallel}`; lower every other `scf.parallel` to `scf.for` (see the
    module docstring).

    Raises:
        PassFailedException: for `threads` or `min-work` below 0.
    """

    name = "dagc-parallel-to-threads"

    threads: int = 0
    """Threads the code will run on: 1 lowers every `scf.parallel` to `scf.for`;
    0 (the default) or more outlines them, and the count is set at run time
    (`DAGC_NUM_THREADS`, see `runtime/cpu.py`)."""

    min_work: int = MIN_WORK
    """Fewest estimated ops (iterations times `estimated_work` of the body) for
    which a loop is run by threads."""

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        if self.threads < 0 or self.min_work < 0:
            raise PassFailedException(
                f"{self.name}: threads and min-work must be >= 0, got "
                f"threads={self.threads} min-work={self.min_work}"
            )
        if self.threads != 1:
            for function in list(op.body.ops):
                if isinstance(function, func.FuncOp):
                    self._outline_loops(op, function)
        apply_patterns(op, [ParallelToForPattern()], dce=False)

    def _outline_loops(self, module: ModuleOp, function: func.FuncOp) -> None:
        insert_after: Operation = function
        count = 0
        for loop in list(_outermost_parallel_loops(function)):
            trips = _trip_counts(loop)
            if trips is None or loop.initVals or prod(trips) < 2:
                continue
            if prod(trips) * estimated_work(loop.body.block) < self.min_work:
                continue
            name = f"{function.sym_name.data}_par{count}"
            while SymbolTable.lookup_symbol(module, name) is not None:
                count += 1
                name = f"{function.sym_name.data}_par{count}"
            count += 1
            outlined = _outline(loop, trips, name)
            module.body.block.insert_op_after(outlined, insert_after)
            insert_after = outlined

