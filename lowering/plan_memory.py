"""Memory planning: a function's intermediate buffers in one arena (pass
`dagc-plan-memory`).

Runs on memrefs, after `dagc-bufferize`, which frees each `memref.alloc` right after
the last op of its block that uses it (its step 5). In each `func.func`, the
*plannable* buffers are the `memref.alloc`s of the body's entry block that

- have a static shape, the identity layout, the default memory space and an
  alignment no larger than the pass option, and
- are freed by exactly one `memref.dealloc`, in the same block.

Each has a live interval `[a, d]`: the positions of its alloc and its dealloc in the
block (program order is execution order). Two buffers whose intervals intersect
must not overlap in memory; the others may share it. Byte offsets are assigned by
the greedy-by-size algorithm of Pisarchyk and Lee, "Efficient Memory Management for
Deep Neural Net Inference" (2020), section 4.3, as TensorFlow Lite's arena planner
does (`ArenaPlanner` + `SimpleMemoryArena::Allocate`): buffers in decreasing order of
size, each placed in the smallest gap, between the already placed buffers whose
intervals intersect its own, that fits it, else after the last of them. Sizes are
rounded up to the alignment, so every offset is a multiple of it.

The rewrite, when a function has plannable buffers (one too: the entry's arena
becomes the workspace that `dagc-entry-workspace` makes of it):

    %arena = memref.alloc() {alignment = 64 : i64} : memref<Bxi8>    // block start
    ...
    %offset = arith.constant <bytes> : index             // where each alloc was
    %buf = memref.view %arena[%offset][] : memref<Bxi8> to memref<...>
    ...                                                  // the buffers' deallocs go
    memref.dealloc %arena : memref<Bxi8>                 // before the terminator

A function with plannable buffers records `dagc.arena_bytes` (B, the planned peak)
and `dagc.unplanned_bytes` (the sum of the buffers' sizes rounded up to the
alignment: what separate allocations take) as i64 attributes. Allocations inside
loops or other nested regions, and those that do not qualify, stay as they are; so
does a function planned already (with `dagc.arena_bytes`), which makes the pass
idempotent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from math import prod

from xdsl.context import Context
from xdsl.dialects import arith, memref
from xdsl.dialects.builtin import IndexType, IntegerAttr, ModuleOp, NoneAttr, i8, i64
from xdsl.dialects.func import FuncOp
from xdsl.ir import Block
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint, Rewriter
from xdsl.utils.exceptions import DiagnosticException, PassFailedException

from dagc.lowering.llvm_types import element_byte_size

ARENA_BYTES_ATTR = "dagc.arena_bytes"
"""Function attribute (i64): size in bytes of the function's arena."""

UNPLANNED_BYTES_ATTR = "dagc.unplanned_bytes"
"""Function attribute (i64): bytes the planned buffers take as separate allocations."""


def planned_bytes(func: FuncOp) -> tuple[int, int]:
    """`(dagc.arena_bytes, dagc.unplanned_bytes)` of `func`, in bytes; `(0, 0)` for
    a function the pass did not plan (or that it has not run on)."""
    values = [func.attributes.get(name) for name in (ARENA_BYTES_ATTR, UNPLANNED_BYTES_ATTR)]
    arena, unplanned = (v.value.data if isinstance(v, IntegerAttr) else 0 for v in values)
    return arena, unplanned


def _round_up(size: int, alignment: int) -> int:
    return -(-size // alignment) * alignment


def plan_offsets(
    intervals: Sequence[tuple[int, int]], sizes: Sequence[int], alignment: int = 64
) -> tuple[list[int], int]:
    """Byte offsets of buffers in one arena, by greedy by size (see the module
    docstring; Pisarchyk and Lee 2020, TFLite's arena planner).

    Args:
        intervals: per buffer, its live interval `(first, last)`, inclusive, in any
            unit of program order; buffers whose intervals intersect never overlap.
        sizes: per buffer, its size in bytes (>= 0).
        alignment: bytes (> 0); every offset is a multiple of it.

    Returns:
        `(offsets, arena size)`, in bytes; the arena size is a multiple of
        `alignment` and at most the sum of the sizes rounded up to it.

    Raises:
        ValueError: a negative size, an interval that ends before it starts, a
            non-positive alignment, or lists of different lengths.
    """
    if len(intervals) != len(sizes):
        raise ValueError(f"{len(intervals)} intervals for {len(sizes)} sizes")
    if alignment <= 0:
        raise ValueError(f"alignment must be positive, got {alignment}")
    if any(s < 0 for s in sizes) or any(a > b for a, b in intervals):
        raise ValueError("sizes must be >= 0 and intervals (first, last) with first <= last")
    padded = [_round_up(s, alignment) for s in sizes]
    order = sorted(range(len(sizes)), key=lambda i: (-padded[i], intervals[i][0], i))
    offsets = [0] * len(sizes)
    placed: list[int] = []
    for i in order:
        first, last = intervals[i]
        busy = sorted(
            (offsets[j], offsets[j] + padded[j])
            for j in placed
            if intervals[j][0] <= last and first <= intervals[j][1]
        )
        best, best_gap, end = None, None, 0
        for lo, hi in busy:
            gap = lo - end
            if gap >= padded[i] and (best_gap is None or gap < best_gap):
                best, best_gap = end, gap
            end = max(end, hi)
        offsets[i] = end if best is None else best
        placed.append(i)
    arena = max((o + p for o, p in zip(offsets, padded)), default=0)
    return offsets, arena


@dataclass
class _Buffer:
    """A plannable allocation, its dealloc, and its size in bytes."""

    alloc: memref.AllocOp
    dealloc: memref.DeallocOp
    size: int


def _plannable(alloc: memref.AllocOp, block: Block, alignment: int) -> _Buffer | None:
    """The buffer of `alloc` if it qualifies (see the module docstring), else None."""
    memref_type = alloc.memref.type
    if (
        alloc.dynamic_sizes
        or alloc.symbol_operands
        or not isinstance(memref_type.layout, NoneAttr)
        or not isinstance(memref_type.memory_space, NoneAttr)
        or any(dim < 0 for dim in memref_type.get_shape())
        or (alloc.alignment is not None and alloc.alignment.value.data > alignment)
    ):
        return None
    deallocs = [u.operation for u in alloc.memref.uses
                if isinstance(u.operation, memref.DeallocOp)]
    if len(deallocs) != 1 or deallocs[0].parent is not block:
        return None
    try:
        element = element_byte_size(memref_type.element_type)
    except DiagnosticException:
        return None
    return _Buffer(alloc, deallocs[0], prod(memref_type.get_shape()) * element)


def plan_function(func: FuncOp, alignment: int = 64) -> None:
    """Plan the buffers of `func`'s entry block into one arena and rewrite them as
    views of it (see the module docstring). A function without plannable buffers,
    or planned already (it has `dagc.arena_bytes`), is left as it is.
    """
    if not func.body.blocks or ARENA_BYTES_ATTR in func.attributes:
        return
    block = func.body.blocks[0]
    position = {op: i for i, op in enumerate(block.ops)}
    buffers = [b for op in block.ops if isinstance(op, memref.AllocOp)
               if (b := _plannable(op, block, alignment)) is not None]
    if not buffers:
        return
    offsets, arena_size = plan_offsets(
        [(position[b.alloc], position[b.dealloc]) for b in buffers],
        [b.size for b in buffers],
        alignment,
    )
    func.attributes[ARENA_BYTES_ATTR] = IntegerAttr(arena_size, i64)
    func.attributes[UNPLANNED_BYTES_ATTR] = IntegerAttr(
        sum(_round_up(b.size, alignment) for b in buffers), i64)
    arena = memref.AllocOp.get(i8, alignment, [arena_size])
    arena.memref.name_hint = "arena"
    Rewriter.insert_op(arena, InsertPoint.at_start(block))
    for buffer, offset in zip(buffers, offsets, strict=True):
        shift = arith.ConstantOp(IntegerAttr(offset, IndexType()))
        shift.result.name_hint = "offset"
        view = memref.ViewOp(arena, shift, [], buffer.alloc.memref.type)
        view.result.name_hint = buffer.alloc.memref.name_hint
        Rewriter.replace_op(buffer.alloc, [shift, view])
        Rewriter.erase_op(buffer.dealloc)
    terminator = block.last_op
    assert terminator is not None  # the entry block holds at least the arena alloc
    Rewriter.insert_op(memref.DeallocOp.get(arena), InsertPoint.before(terminator))


@dataclass(frozen=True)
class PlanMemoryPass(ModulePass):
    """Put each function's intermediate buffers in one arena, sharing memory between
    buffers whose lifetimes do not intersect (see the module docstring)."""

    name = "dagc-plan-memory"

    alignment: int = 64
    """Byte alignment of the arena and of every offset in it (a power of two)."""

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        if self.alignment <= 0 or self.alignment & (self.alignment - 1):
            raise PassFailedException(
                f"dagc-plan-memory: alignment must be a power of two, got {self.alignment}")
        for func in [f for f in op.walk() if isinstance(f, FuncOp)]:
            plan_function(func, self.alignment)
