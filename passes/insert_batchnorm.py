"""``dag-insert-batchnorm``: put an identity batch norm after every conv2d that has
no batch-norm user.

The inserted ``batch_norm`` has mean 0, weight 1, bias 0 and variance
``1 - eps`` rounded to the element type, chosen so that ``var + eps`` rounds to
exactly 1 in that type: the op then computes ``(x - 0) / sqrt(1) * 1 + 0 = x``
bit for bit, and the model is unchanged. Its statistics and affine parameters
are new resource blobs named ``<conv>.bn.running_mean`` etc., and the op is
named ``<conv>.bn``. Useful before fine-tuning or before pruning by
``bn-gamma`` (Liu et al. 2017, Network Slimming), which needs a scale per
channel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp, StringAttr
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
    op_type_rewrite_pattern,
)
from xdsl.rewriter import InsertPoint

from dagc.dialects import dag
from dagc.ir import ResourceStore, numpy_dtype, resources
from dagc.passes.utils import make_constant, users


def identity_variance(eps: float, dtype: np.dtype) -> np.generic:
    """The variance ``v`` nearest ``1 - eps`` in ``dtype`` with ``v + eps == 1``
    exactly in ``dtype`` (so a batch norm with it and unit weight is the identity).

    Raises:
        ValueError: ``eps`` is too large for such a variance (``eps >= 1``).
    """
    if not 0 <= eps < 1:
        raise ValueError(f"eps must be in [0, 1), got {eps}")
    one, e = dtype.type(1), dtype.type(eps)
    v = one - e
    while v + e != one:  # step one ulp towards the value that rounds to 1
        v = np.nextafter(v, one if v + e < one else dtype.type(0))
    return v


@dataclass
class InsertBatchNorm(RewritePattern):
    """``conv2d`` whose result feeds no ``batch_norm`` -> ``batch_norm(conv2d)``."""

    store: ResourceStore
    eps: float

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: dag.Conv2dOp, rewriter: PatternRewriter) -> None:
        if any(isinstance(u, dag.BatchNormOp) for u in users(op.result)):
            return
        ty = op.result.type
        c = ty.get_shape()[1]
        dtype = numpy_dtype(ty.element_type)
        name = f"{op.label}.bn"
        values = {
            "running_mean": np.zeros(c, dtype),
            "running_var": np.full(c, identity_variance(self.eps, dtype), dtype),
            "weight": np.ones(c, dtype),
            "bias": np.zeros(c, dtype),
        }
        consts = [make_constant(self.store, f"{name}.{k}", v, ty.element_type)
                  for k, v in values.items()]
        bn = dag.BatchNormOp.create(
            operands=[op.result, *(k.result for k in consts)],
            result_types=[ty],
            properties={"name": StringAttr(name), "eps": dag.float_attr(self.eps)},
        )
        rewriter.insert([*consts, bn], InsertPoint.after(op))
        rewriter.replace_uses_with_if(op.result, bn.result, lambda u: u.operation is not bn)


@dataclass(frozen=True)
class InsertBatchNormPass(ModulePass):
    """Insert an identity batch norm after every conv2d not followed by one."""

    name = "dag-insert-batchnorm"

    eps: float = 1e-5
    """The inserted batch norms' epsilon."""

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        PatternRewriteWalker(InsertBatchNorm(resources(ctx), float(self.eps)),
                             apply_recursively=False).rewrite_module(op)
