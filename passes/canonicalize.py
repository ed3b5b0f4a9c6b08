"""Canonicalization patterns of the dag dialect.

They are attached to the ops through :class:`dagc.dialects.dag.DagCanonicalize`, so
xDSL's ``canonicalize`` pass applies them (as MLIR's canonicalizer applies each op's
``getCanonicalizationPatterns``):

- no-op shape ops disappear: ``reshape``/``expand`` to the same type, an identity
  ``permute``, a full ``slice``, a one-input ``concat``, a zero ``pad``;
- chains fold: ``reshape(reshape(x))`` -> ``reshape(x)``,
  ``permute(permute(x, p), q)`` -> ``permute(x, p∘q)``.
"""

from __future__ import annotations

from xdsl.pattern_rewriter import (
    PatternRewriter,
    RewritePattern,
    op_type_rewrite_pattern,
)

from dagc.dialects import dag


class RemoveNoOpShapeOp(RewritePattern):
    """Replace a shape op whose result equals its input by that input."""

    def match_and_rewrite(self, op, rewriter: PatternRewriter) -> None:
        if not isinstance(op, (dag.ReshapeOp, dag.ExpandOp, dag.PermuteOp, dag.SliceOp,
                               dag.ConcatOp, dag.PadOp)):
            return
        if len(op.operands) != 1 or op.operands[0].type != op.results[0].type:
            return
        if isinstance(op, dag.PermuteOp) and list(op.perm.get_values()) != list(
            range(len(op.perm.get_values()))
        ):
            return  # a non-identity permutation of equal dims still moves data
        if isinstance(op, dag.PadOp) and op.mode.data != "constant" and any(
            op.pads.get_values()
        ):
            return
        rewriter.replace_op(op, [], [op.operands[0]])


class FoldReshapeOfReshape(RewritePattern):
    """``reshape(reshape(x))`` -> ``reshape(x)``."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: dag.ReshapeOp, rewriter: PatternRewriter) -> None:
        inner = op.input.owner
        if isinstance(inner, dag.ReshapeOp):
            rewriter.replace_op(op, dag.ReshapeOp.create(
                operands=[inner.input], result_types=[op.result.type],
                properties=dict(op.properties)))


class FoldPermuteOfPermute(RewritePattern):
    """``permute(permute(x, p), q)`` -> ``permute(x, [p[i] for i in q])``."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: dag.PermuteOp, rewriter: PatternRewriter) -> None:
        inner = op.input.owner
        if not isinstance(inner, dag.PermuteOp):
            return
        p, q = inner.perm.get_values(), op.perm.get_values()
        props = dict(op.properties)
        props["perm"] = dag.ints([p[i] for i in q])
        rewriter.replace_op(op, dag.PermuteOp.create(
            operands=[inner.input], result_types=[op.result.type], properties=props))


PATTERNS: dict[type, tuple[RewritePattern, ...]] = {
    dag.ReshapeOp: (RemoveNoOpShapeOp(), FoldReshapeOfReshape()),
    dag.PermuteOp: (RemoveNoOpShapeOp(), FoldPermuteOfPermute()),
    dag.ExpandOp: (RemoveNoOpShapeOp(),),
    dag.SliceOp: (RemoveNoOpShapeOp(),),
    dag.ConcatOp: (RemoveNoOpShapeOp(),),
    dag.PadOp: (RemoveNoOpShapeOp(),),
}
