"""Generalization of linalg ops to `linalg.generic` (pass `dagc-linalg-generalize`).

xDSL's `linalg-generalize-named-ops` rewrites the ops deriving from its
`NamedOperation` class (matmul, conv, pooling, fill, the elementwise ops) but not
`linalg.transpose`, `linalg.broadcast` or `linalg.reduce`, and xDSL's
`convert-linalg-to-loops` does not lower the last two. This pass generalizes them
all, as MLIR's `-linalg-generalize-named-ops` does: the generic op takes the named
op's indexing maps, iterator types and body, on tensors or on memrefs alike.

One body is replaced rather than kept: xDSL 0.74 builds the body of
`linalg.pooling_nchw_max` as `max(input, window)`, ignoring the accumulator; the
generic op gets MLIR's `max(out, input)`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import arith
from xdsl.dialects.builtin import AffineMapAttr, AnyFloat, ModuleOp
from xdsl.dialects.linalg.abstract_ops import (
    LinalgStructuredOperation,
    NamedOperation,
)
from xdsl.dialects.linalg.attrs import IteratorTypeAttr
from xdsl.dialects.linalg.ops import (
    BroadcastOp,
    GenericOp,
    PoolingNchwMaxOp,
    ReduceOp,
    YieldOp,
)
from xdsl.ir import Block, Operation, Region, SSAValue
from xdsl.ir.affine import AffineDimExpr, AffineMap
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    PatternRewriter,
    RewritePattern,
    op_type_rewrite_pattern,
)
from xdsl.rewriter import Rewriter

from dagc.lowering.pattern_dispatch import apply_patterns


def _projection(rank: int, dropped: Sequence[int]) -> AffineMapAttr:
    """The map `(d0, ..., d{rank-1}) -> (the dims not in dropped)`."""
    kept = tuple(AffineDimExpr(d) for d in range(rank) if d not in dropped)
    return AffineMapAttr(AffineMap(rank, 0, kept))


def _replace_by_generic(
    rewriter: PatternRewriter,
    op: Operation,
    operands: tuple[Sequence[SSAValue], Sequence[SSAValue]],
    body: Region,
    maps: Sequence[AffineMapAttr],
    iterators: Sequence[IteratorTypeAttr],
) -> None:
    """Replace `op` by a `linalg.generic` on the same `(ins, outs)` and results."""
    ins, outs = operands
    rewriter.replace(op, GenericOp(ins, outs, body, maps, iterators, op.result_types))


class GeneralizeStructuredOpPattern(RewritePattern):
    """Any structured linalg op but `linalg.generic` (named ops, transpose)."""

    @op_type_rewrite_pattern
    def match_and_rewrite(
        self, op: LinalgStructuredOperation, rewriter: PatternRewriter, /
    ):
        if isinstance(op, GenericOp):
            return
        _replace_by_generic(
            rewriter,
            op,
            (op.inputs, op.outputs),
            Rewriter.move_region_contents_to_new_regions(op.body),
            op.get_indexing_maps().data,
            op.get_iterator_types().data,
        )


class GeneralizePoolingMaxPattern(RewritePattern):
    """`linalg.pooling_nchw_max`, with MLIR's body `yield max(out, in)`."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: PoolingNchwMaxOp, rewriter: PatternRewriter, /):
        block = Block(arg_types=NamedOperation.body_arg_types(op.operands))
        in_, _, out = block.args
        maximum = (
            arith.MaximumfOp(out, in_)
            if isinstance(out.type, AnyFloat)
            else arith.MaxSIOp(out, in_)
        )
        block.add_ops((maximum, YieldOp(maximum.result)))
        _replace_by_generic(
            rewriter,
            op,
            (op.inputs, op.outputs),
            Region(block),
            op.get_indexing_maps().data,
            op.get_iterator_types().data,
        )


class GeneralizeBroadcastPattern(RewritePattern):
    """`linalg.broadcast`: the input is read through a projection of the loops."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: BroadcastOp, rewriter: PatternRewriter, /):
        rank = len(op.init.type.get_shape())  # pyright: ignore
        _replace_by_generic(
            rewriter,
            op,
            ((op.input,), (op.init,)),
            Rewriter.move_region_contents_to_new_regions(op.hidden_region),
            (_projection(rank, op.dimensions.get_values()), _projection(rank, ())),
            (IteratorTypeAttr.parallel(),) * rank,
        )


class GeneralizeReducePattern(RewritePattern):
    """`linalg.reduce`: the reduced dimensions become reduction iterators."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: ReduceOp, rewriter: PatternRewriter, /):
        rank = len(op.input.type.get_shape())  # pyright: ignore
        dimensions = op.dimensions.get_values()
        _replace_by_generic(
            rewriter,
            op,
            ((op.input,), (op.init,)),
            Rewriter.move_region_contents_to_new_regions(op.region),
            (_projection(rank, ()), _projection(rank, dimensions)),
            tuple(
                IteratorTypeAttr.reduction()
                if d in dimensions
                else IteratorTypeAttr.parallel()
                for d in range(rank)
            ),
        )


@dataclass(frozen=True)
class LinalgGeneralizePass(ModulePass):
    """Rewrite every linalg op that is not `linalg.generic` into one."""

    name = "dagc-linalg-generalize"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        apply_patterns(
            op,
            [
                GeneralizePoolingMaxPattern(),
                GeneralizeStructuredOpPattern(),
                GeneralizeBroadcastPattern(),
                GeneralizeReducePattern(),
            ],
        )
