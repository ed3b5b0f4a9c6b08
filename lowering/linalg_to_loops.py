"""Lowering of linalg on memrefs to loops (pass `dagc-linalg-to-loops`).

The pass runs, in order:

1. `memref.copy` becomes `linalg.copy`, then `dagc-linalg-generalize`
   (linalg_generalize.py): every linalg op becomes a `linalg.generic`, so that
   broadcast and reduce, which xDSL does not lower, are covered, and copies become
   loops like the rest (a GPU kernel or plain loads and stores on the CPU).
2. One loop nest per op. With `parallel=false`, xDSL's `convert-linalg-to-loops`
   pattern: a perfect `scf.for` nest in the op's loop order. With `parallel=true`,
   the nest of MLIR's `-convert-linalg-to-parallel-loops`, with the parallel loops
   moved outermost: one `scf.parallel` over every parallel dimension, holding an
   `scf.for` nest over the reduction (and window) dimensions in their order. Moving
   parallel loops out of reduction loops is always legal for a linalg op: each
   output element still accumulates over the reduction dimensions in the same
   order. This is the form the GPU lowering maps onto workgroups.
3. The patterns of xDSL's `lower-affine`: the `affine.apply` index computations
   become `arith`.
4. With `fold-views=true`, as MLIR's `-fold-memref-alias-ops`: loads and stores
   through static views (subview, expand_shape, collapse_shape) index the view's
   source instead, and the views go away. Loops then touch only allocations,
   arguments and globals, all with identity layouts, as GPU kernels need.

The output holds `scf`, `arith`, `memref.load` / `store` and the ops of the
linalg bodies (`arith`, `math`). Raises PassFailedException when a linalg op still
has tensor semantics (run `dagc-bufferize` first).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from math import prod

from xdsl.context import Context
from xdsl.dialects import arith, memref, scf
from xdsl.dialects.builtin import (
    IndexType,
    IntegerAttr,
    MemRefType,
    ModuleOp,
    TensorType,
)
from xdsl.dialects.linalg.abstract_ops import LinalgStructuredOperation
from xdsl.dialects.linalg.attrs import IteratorType
from xdsl.dialects.linalg.ops import CopyOp, IndexOp
from xdsl.ir import Block, Operation, Region, SSAValue
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    GreedyRewritePatternApplier,
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
    op_type_rewrite_pattern,
)
from xdsl.rewriter import InsertPoint
from xdsl.transforms.convert_linalg_to_loops import (
    LowerLinalgStructuredOpPattern,
    create_loop_bounds,
)
from xdsl.transforms.loop_nest_lowering_utils import (
    indices_for_map,
    rewrite_linalg_structured_to_loops,
)
from xdsl.transforms.lower_affine import (
    LowerAffineApply,
    LowerAffineFor,
    LowerAffineLoad,
    LowerAffineStore,
    LowerAffineYield,
)
from xdsl.utils.exceptions import PassFailedException

from dagc.lowering.bufferize import rank_reduced_dims
from dagc.lowering.linalg_generalize import LinalgGeneralizePass
from dagc.lowering.pattern_dispatch import apply_patterns, preorder


class CopyToLinalgPattern(RewritePattern):
    """`memref.copy` -> `linalg.copy`, lowered to loops like the other linalg ops."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: memref.CopyOp, rewriter: PatternRewriter, /):
        rewriter.replace(op, CopyOp((op.source,), (op.destination,), res=()))


class LowerToParallelLoopsPattern(RewritePattern):
    """A linalg op on memrefs -> `scf.parallel` (parallel dims) of `scf.for` nests."""

    @op_type_rewrite_pattern
    def match_and_rewrite(
        self, op: LinalgStructuredOperation, rewriter: PatternRewriter, /
    ):
        point = InsertPoint.before(op)
        bounds = create_loop_bounds(rewriter, point, op)
        zero = arith.ConstantOp(IntegerAttr.from_index_int_value(0))
        one = arith.ConstantOp(IntegerAttr.from_index_int_value(1))
        rewriter.insert((zero, one), point)

        iterators = [t.data for t in op.get_iterator_types()]
        parallel = [d for d, t in enumerate(iterators) if t == IteratorType.PARALLEL]
        sequential = [d for d, t in enumerate(iterators) if t != IteratorType.PARALLEL]
        ind_vars: list[SSAValue] = [zero.result] * len(iterators)
        if parallel:
            body = Block((scf.ReduceOp(),), arg_types=(IndexType(),) * len(parallel))
            rewriter.insert(
                scf.ParallelOp(
                    (zero,) * len(parallel),
                    [bounds[d] for d in parallel],
                    (one,) * len(parallel),
                    Region(body),
                ),
                point,
            )
            for d, arg in zip(parallel, body.args):
                ind_vars[d] = arg
            point = InsertPoint.before(body.last_op)  # pyright: ignore
        for d in sequential:
            body = Block((scf.YieldOp(),), arg_types=(IndexType(),))
            rewriter.insert(scf.ForOp(zero, bounds[d], one, (), Region(body)), point)
            ind_vars[d] = body.args[0]
            point = InsertPoint.before(body.last_op)  # pyright: ignore

        # The loop nest is built; xDSL's helper inlines the body at its innermost
        # point with the loads and stores given here (and no loops of its own).
        for index_op in [o for o in op.body.block.ops if isinstance(o, IndexOp)]:
            rewriter.replace(index_op, (), (ind_vars[index_op.dim.value.data],))
        maps = op.get_indexing_maps().data

        def insert_load(
            index: int,
            _: Sequence[SSAValue],
            rewriter: PatternRewriter,
            point: InsertPoint,
        ) -> SSAValue:
            value = op.operands[index]
            if not isinstance(value.type, MemRefType):
                return value
            indices = indices_for_map(rewriter, point, maps[index].data, ind_vars)
            load = memref.LoadOp.get(value, indices)
            rewriter.insert(load, point)
            return load.res

        def insert_store(
            index: int,
            value: SSAValue,
            _: Sequence[SSAValue],
            rewriter: PatternRewriter,
            point: InsertPoint,
        ):
            index += len(op.inputs)
            indices = indices_for_map(rewriter, point, maps[index].data, ind_vars)
            store = memref.StoreOp.get(value, op.operands[index], indices)
            rewriter.insert(store, point)
            return store

        rewrite_linalg_structured_to_loops(
            rewriter,
            op,
            point,
            (),
            maps,
            maps[len(op.inputs) :],
            op.operands,
            op.outputs,
            op.body.block,
            insert_load,
            insert_store,
        )


def _index(value: int) -> arith.ConstantOp:
    return arith.ConstantOp(IntegerAttr.from_index_int_value(value))


def _source_indices(
    view: Operation, indices: Sequence[SSAValue]
) -> tuple[list[Operation], list[SSAValue]] | None:
    """Indices into the source of a static view for `indices` into the view.

    Returns the arith ops computing them and the indices, or None for a view that
    is not static. As MLIR's `-fold-memref-alias-ops`: a subview adds its offsets
    and multiplies by its strides (rank-reduced dims read index 0), an expand_shape
    linearizes each group of indices, a collapse_shape delinearizes each index.
    """
    ops: list[Operation] = []

    def emit(op: Operation) -> SSAValue:
        ops.append(op)
        return op.results[0]

    result: list[SSAValue] = []
    if isinstance(view, memref.SubviewOp):
        if view.offsets or view.sizes or view.strides:
            return None
        source_shape = view.source.type.get_shape()  # pyright: ignore
        sizes = view.static_sizes.get_values()
        shape = view.result.type.get_shape()  # pyright: ignore
        if len(shape) == len(source_shape):
            dims = range(len(sizes))
        else:
            dims = rank_reduced_dims(sizes, shape)
        by_dim = dict(zip(dims, indices))
        offsets, strides = (
            view.static_offsets.get_values(),
            view.static_strides.get_values(),
        )
        for dim, (offset, stride) in enumerate(zip(offsets, strides)):
            if dim not in by_dim:
                result.append(emit(_index(offset)))
                continue
            index = by_dim[dim]
            if stride != 1:
                index = emit(arith.MuliOp(index, emit(_index(stride))))
            if offset:
                index = emit(arith.AddiOp(index, emit(_index(offset))))
            result.append(index)
    elif isinstance(view, memref.ExpandShapeOp):
        shape = view.result.type.get_shape()
        for group in view.reassociation:
            dims = [d.value.data for d in group]  # pyright: ignore
            total: SSAValue | None = None
            for position, dim in enumerate(dims):
                scale = prod(shape[d] for d in dims[position + 1 :])
                term = indices[dim]
                if scale != 1:
                    term = emit(arith.MuliOp(term, emit(_index(scale))))
                total = term if total is None else emit(arith.AddiOp(total, term))
            result.append(total if total is not None else emit(_index(0)))
    elif isinstance(view, memref.CollapseShapeOp):
        source_shape = view.src.type.get_shape()  # pyright: ignore
        for index, group in zip(indices, view.reassociation):
            dims = [d.value.data for d in group]  # pyright: ignore
            digits: list[SSAValue] = []
            rest = index
            for dim in reversed(dims):
                size = source_shape[dim]
                if dim == dims[0]:
                    digits.append(rest)
                elif size == 1:
                    digits.append(emit(_index(0)))
                else:
                    size_value = emit(_index(size))
                    digits.append(emit(arith.RemUIOp(rest, size_value)))
                    rest = emit(arith.DivUIOp(rest, size_value))
            result.extend(reversed(digits))
    else:
        return None
    return ops, result


class FoldViewIntoAccessPattern(RewritePattern):
    """`memref.load` / `store` through a static view -> on the view's source."""

    @op_type_rewrite_pattern
    def match_and_rewrite(
        self, op: memref.LoadOp | memref.StoreOp, rewriter: PatternRewriter, /
    ):
        view = op.memref.owner
        if not isinstance(view, Operation):
            return
        folded = _source_indices(view, op.indices)
        if folded is None:
            return
        ops, indices = folded
        source = view.operands[0]
        if isinstance(op, memref.LoadOp):
            new = memref.LoadOp.get(source, indices)
        else:
            new = memref.StoreOp.get(op.value, source, indices)
        rewriter.replace(op, (*ops, new), new.results)


class EraseDeadViewPattern(RewritePattern):
    """Views with no uses left after folding."""

    @op_type_rewrite_pattern
    def match_and_rewrite(
        self,
        op: memref.SubviewOp | memref.ExpandShapeOp | memref.CollapseShapeOp,
        rewriter: PatternRewriter,
        /,
    ):
        if not op.results[0].uses:
            rewriter.erase(op)


@dataclass(frozen=True)
class LinalgToLoopsPass(ModulePass):
    """Lower linalg ops on memrefs to `scf` loop nests (see the module docstring)."""

    name = "dagc-linalg-to-loops"

    parallel: bool = False
    """Emit `scf.parallel` over the parallel dimensions (else only `scf.for`)."""

    fold_views: bool = False
    """Fold subview / expand_shape / collapse_shape into the loads and stores, so
    that loops only access allocations, arguments and globals (identity layouts, as
    GPU kernel arguments need)."""

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for inner in preorder(op):
            if inner.dialect_name() == "linalg" and any(
                isinstance(t, TensorType) for t in inner.result_types
            ):
                raise PassFailedException(
                    f"dagc-linalg-to-loops: {inner.name} has tensor semantics; "
                    "run dagc-bufferize first"
                )
        apply_patterns(op, [CopyToLinalgPattern()], dce=False)
        LinalgGeneralizePass().apply(ctx, op)
        pattern = (
            LowerToParallelLoopsPattern()
            if self.parallel
            else LowerLinalgStructuredOpPattern()
        )
        apply_patterns(op, [pattern])
        apply_patterns(
            op,
            [
                LowerAffineStore(),
                LowerAffineLoad(),
                LowerAffineFor(),
                LowerAffineYield(),
                LowerAffineApply(),
            ],
        )
        if self.fold_views:
            PatternRewriteWalker(
                GreedyRewritePatternApplier(
                    [FoldViewIntoAccessPattern(), EraseDeadViewPattern()]
                )
            ).rewrite_module(op)
