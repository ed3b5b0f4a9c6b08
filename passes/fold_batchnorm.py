"""``dag-fold-batchnorm``: fold inference batch norms into the preceding conv/linear.

For ``y = batch_norm(conv(x, W, b))`` with per-channel ``scale = gamma /
sqrt(var + eps)`` and ``shift = beta - mean * scale``::

    y = conv(x, W * scale[:, None, None, None], b * scale + shift)

(``b = 0`` when the conv has no bias, which it then gains). The same holds for
``linear`` (rank-2 result, where the batch-norm channel dim is the feature dim)
and ``conv_transpose2d`` (whose weight is ``C x F/groups x KH x KW``, output
channel ``f = k * F/groups + j`` of group ``k`` is ``W[kC/g:(k+1)C/g, j]``). The
fold applies only when the conv result has no other user and every operand of
the batch norm and the conv's weight (and bias) are constants. The new weights
are new resource blobs, computed in float64 and stored in the weight's dtype;
the old constants are erased once unused. This is the standard inference-time
folding of Jacob et al., "Quantization and Training of Neural Networks for
Efficient Integer-Arithmetic-Only Inference", CVPR 2018 (section 3.2).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
    op_type_rewrite_pattern,
)

from dagc.dialects import dag
from dagc.ir import ResourceStore, resources
from dagc.passes.utils import constant_array, erase_dead_constants, make_constant


def folded_weights(
    producer: dag.Conv2dOp | dag.ConvTranspose2dOp | dag.LinearOp,
    weight: np.ndarray,
    bias: np.ndarray | None,
    scale: np.ndarray,
    shift: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """``(W', b')`` of ``producer`` followed by the affine map ``y * scale + shift``
    on its output channels (float64 arrays, ``scale``/``shift`` of length F)."""
    w = np.asarray(weight, dtype=np.float64)
    b = np.zeros(len(scale)) if bias is None else np.asarray(bias, dtype=np.float64)
    if isinstance(producer, dag.ConvTranspose2dOp):
        g = producer.groups.value.data
        c, fg = w.shape[0], w.shape[1]
        w = (w.reshape(g, c // g, fg, *w.shape[2:])
             * scale.reshape(g, 1, fg, *([1] * (w.ndim - 2)))).reshape(w.shape)
    else:
        w = w * scale.reshape(-1, *([1] * (w.ndim - 1)))
    return w, b * scale + shift


class FoldBatchNorm(RewritePattern):
    """``batch_norm(conv(x))`` -> ``conv'(x)`` with folded weights and bias."""

    def __init__(self, store: ResourceStore):
        self.store = store

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: dag.BatchNormOp, rewriter: PatternRewriter) -> None:
        conv = op.input.owner
        if not isinstance(conv, (dag.Conv2dOp, dag.ConvTranspose2dOp, dag.LinearOp)):
            return
        if not conv.result.has_one_use():
            return
        if isinstance(conv, dag.LinearOp) and len(conv.result.type.get_shape()) != 2:
            return  # batch norm's dim 1 is not the linear's feature dim
        stats = [constant_array(v, self.store) for v in (op.mean, op.var, op.weight, op.bias)]
        w = constant_array(conv.weight, self.store)
        b = None if conv.bias is None else constant_array(conv.bias, self.store)
        if any(s is None for s in stats) or w is None or (conv.bias is not None and b is None):
            return
        mean, var, gamma, beta = (np.asarray(s, dtype=np.float64) for s in stats)
        scale = gamma / np.sqrt(var + op.eps.value.data)
        new_w, new_b = folded_weights(conv, w, b, scale, mean * -scale + beta)
        elem = conv.weight.type.element_type
        w_op = make_constant(self.store, conv.weight.owner.label, new_w, elem)
        b_name = conv.bias.owner.label if conv.bias is not None else f"{conv.label}.bias"
        b_op = make_constant(self.store, b_name, new_b, elem)
        w_op.result.name_hint = conv.weight.name_hint or "w"
        b_op.result.name_hint = (conv.bias.name_hint if conv.bias is not None else None) or "b"
        old = [conv.weight, *([conv.bias] if conv.bias is not None else [])]
        new_conv = type(conv).create(
            operands=[conv.input, w_op.result, b_op.result],
            result_types=[conv.result.type],
            properties=dict(conv.properties),
            attributes=dict(conv.attributes),
        )
        stats_values = [op.mean, op.var, op.weight, op.bias]
        rewriter.replace(conv, [w_op, b_op, new_conv])
        rewriter.replace(op, [], [new_conv.result])
        erase_dead_constants([*old, *stats_values], rewriter)


@dataclass(frozen=True)
class FoldBatchNormPass(ModulePass):
    """Fold inference batch norms into the preceding conv2d / conv_transpose2d / linear."""

    name = "dag-fold-batchnorm"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        PatternRewriteWalker(FoldBatchNorm(resources(ctx)), apply_recursively=False
                             ).rewrite_module(op)
