"""``dag-remove-identity``: erase ops that compute the identity.

An op is replaced by its input when its result has the input's type and

- it is a no-op shape op: ``reshape``/``expand`` to the same type, an identity
  ``permute``, a full ``slice``, a one-input ``concat``, a zero ``pad`` (the
  patterns of :mod:`dagc.passes.canonicalize`);
- it is ``x + 0``, ``0 + x``, ``x - 0``, ``x * 1``, ``1 * x``, ``x / 1`` or
  ``x ** 1`` with a constant operand;
- it is an unbounded ``clamp`` (bounds absent or infinite);
- it is a ``batch_norm`` whose constants make it the identity in its element
  type (mean 0, bias 0 and ``weight / sqrt(var + eps)`` rounding to 1, as the one
  ``dag-insert-batchnorm`` inserts);
- it is a 1x1/stride-1/unpadded ``max_pool2d``/``avg_pool2d``, an
  ``adaptive_avg_pool2d`` or ``interpolate`` to the input's own size, or a
  ``mean``/``sum`` with ``keepdim`` over dims of extent 1;
- it is a ``dag.opaque`` of a dropout or identity module class (dropout is the
  identity at inference) with one argument and no state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    GreedyRewritePatternApplier,
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
    op_type_rewrite_pattern,
)

from dagc.dialects import dag
from dagc.ir import ResourceStore, numpy_dtype, resources
from dagc.passes.canonicalize import RemoveNoOpShapeOp
from dagc.passes.utils import constant_array, erase_dead_constants

IDENTITY_MODULES = frozenset({
    "torch.nn.modules.dropout.Dropout",
    "torch.nn.modules.dropout.Dropout1d",
    "torch.nn.modules.dropout.Dropout2d",
    "torch.nn.modules.dropout.Dropout3d",
    "torch.nn.modules.dropout.AlphaDropout",
    "torch.nn.modules.dropout.FeatureAlphaDropout",
    "torch.nn.modules.linear.Identity",
})
"""Module classes (qualified names) that are the identity at inference."""


def _replace_by(rewriter: PatternRewriter, op: Operation, value: SSAValue) -> None:
    constants = [v for v in op.operands if v is not value]
    rewriter.replace(op, [], [value])
    erase_dead_constants(constants, rewriter)


@dataclass
class RemoveNeutralBinary(RewritePattern):
    """``x + 0``, ``x - 0``, ``x * 1``, ``x / 1``, ``x ** 1`` (and ``0 + x``,
    ``1 * x``) -> ``x``."""

    store: ResourceStore

    # op class -> (neutral element, may the constant be the left operand)
    NEUTRAL = {dag.AddOp: (0, True), dag.SubOp: (0, False), dag.MulOp: (1, True),
               dag.DivOp: (1, False), dag.PowOp: (1, False)}

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> None:
        rule = self.NEUTRAL.get(type(op))
        if rule is None:
            return
        neutral, commutative = rule
        sides = [(op.lhs, op.rhs)] + ([(op.rhs, op.lhs)] if commutative else [])
        for x, c in sides:
            if x.type != op.result.type:
                continue
            value = constant_array(c, self.store)
            if value is not None and np.all(value == neutral):
                _replace_by(rewriter, op, x)
                return


class RemoveUnboundedClamp(RewritePattern):
    """``clamp(x)`` with absent or infinite bounds -> ``x``."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: dag.ClampOp, rewriter: PatternRewriter) -> None:
        lo = -math.inf if op.min is None else op.min.value.data
        hi = math.inf if op.max is None else op.max.value.data
        if lo == -math.inf and hi == math.inf:
            rewriter.replace(op, [], [op.input])


@dataclass
class RemoveIdentityBatchNorm(RewritePattern):
    """``batch_norm`` that is the identity in its element type -> its input.

    The test follows PyTorch's CPU inference kernel: ``alpha = weight /
    sqrt(var + eps)`` in float64, rounded to the element type, must be 1 and
    ``bias - mean * alpha`` must be 0.
    """

    store: ResourceStore

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: dag.BatchNormOp, rewriter: PatternRewriter) -> None:
        arrays = [constant_array(v, self.store) for v in (op.mean, op.var, op.weight, op.bias)]
        if any(a is None for a in arrays):
            return
        mean, var, weight, bias = (np.asarray(a, np.float64) for a in arrays)
        dtype = numpy_dtype(op.result.type.element_type)
        alpha = (weight / np.sqrt(var + op.eps.value.data)).astype(dtype)
        beta = (bias - mean * alpha).astype(dtype)
        if np.all(alpha == 1) and np.all(beta == 0):
            _replace_by(rewriter, op, op.input)


@dataclass
class RemoveIdentityResample(RewritePattern):
    """1x1 pooling with stride 1, adaptive pooling / resize to the same size,
    ``mean``/``sum`` with ``keepdim`` over extent-1 dims -> the input."""

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> None:
        if not isinstance(op, (dag.MaxPool2dOp, dag.AvgPool2dOp, dag.AdaptiveAvgPool2dOp,
                               dag.InterpolateOp, dag.MeanOp, dag.SumOp)):
            return
        if op.results[0].type != op.operands[0].type:
            return
        if isinstance(op, (dag.MeanOp, dag.SumOp)) and not op.dims.get_values():
            return  # torch reads empty dims as "all dims"
        if isinstance(op, (dag.MaxPool2dOp, dag.AvgPool2dOp)):
            ones = (1, 1)
            if (tuple(op.kernel.get_values()) != ones or tuple(op.stride.get_values()) != ones
                    or any(op.padding.get_values())):
                return
        rewriter.replace(op, [], [op.operands[0]])


class RemoveIdentityModule(RewritePattern):
    """``dag.opaque`` of a dropout / ``nn.Identity`` class -> its argument."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: dag.OpaqueOp, rewriter: PatternRewriter) -> None:
        if (op.cls_name.data in IDENTITY_MODULES and len(op.inputs) == 1
                and len(op.outputs) == 1 and op.outputs[0].type == op.inputs[0].type):
            rewriter.replace(op, [], [op.inputs[0]])


@dataclass(frozen=True)
class RemoveIdentityPass(ModulePass):
    """Erase ops that compute the identity (x*1, x+0, no-op reshapes, dropout, ...)."""

    name = "dag-remove-identity"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        store = resources(ctx)
        patterns = GreedyRewritePatternApplier([
            RemoveNoOpShapeOp(),
            RemoveNeutralBinary(store),
            RemoveUnboundedClamp(),
            RemoveIdentityBatchNorm(store),
            RemoveIdentityResample(),
            RemoveIdentityModule(),
        ], dce_enabled=False)
        PatternRewriteWalker(patterns).rewrite_module(op)
