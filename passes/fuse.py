"""``dag-fuse{max-ops=0 elementwise-only=false}``: producer-consumer chains into
``dag.fused`` regions, each of which lowers to one kernel.

A chain starts at

- an *anchor*: ``dag.conv2d``, ``dag.conv_transpose2d``, ``dag.linear`` or
  ``dag.matmul`` (batched too), whose epilogue it then gathers, or
- an elementwise op (:data:`dagc.dialects.dag.ELEMENTWISE_OPS`, or an inference
  ``dag.batch_norm``, which is elementwise per channel),

and grows while the value at its end has exactly one user, that user is
elementwise (a batch norm only through its input, not its statistics) and its
result has the value's type: activations, a residual ``add``, a per-channel or
scalar ``mul``/``add``/``sub``/``div``, a batch norm that was not folded. The
user's other operands (the residual, the scale) come from outside the chain; they
become operands of the fused op. A chain of at least two ops becomes one
``dag.fused`` op (named after its ops, joined by ``+``; the ops keep their names
inside), placed where the chain's last op was: every operand of the chain is
defined before that op, and its result is used only after it, so dominance holds
without moving anything. Since every intermediate value has one user, nothing a
chain computes is needed outside it. Chains are grown greedily in program order;
an op belongs to at most one chain.

Run it after ``dag-fold-batchnorm`` (a batch norm right after a conv folds into
its weights instead of running as an epilogue). The kernels that
``dagc-outline-kernels`` makes from fused ops are the bodies of the regions; see
``dagc-linalg-fuse-elementwise`` for how a chain becomes one loop nest. This is
the producer-consumer fusion of TVM's operator fusion (Chen et al., "TVM: An
Automated End-to-End Optimizing Compiler for Deep Learning", OSDI 2018, section
3: "injective" chains and "complex-out-fusable" ops with elementwise epilogues).
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Operation, Region, SSAValue
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
)
from xdsl.rewriter import InsertPoint

from dagc.dialects import dag
from dagc.passes.utils import block_for, users

ANCHORS: tuple[type[dag.DagOp], ...] = (
    dag.Conv2dOp, dag.ConvTranspose2dOp, dag.LinearOp, dag.MatmulOp,
)  # fmt: skip
"""Ops that start a chain as its main computation (an epilogue may follow)."""

EPILOGUE_OPS: tuple[type[dag.DagOp], ...] = (*dag.ELEMENTWISE_OPS, dag.BatchNormOp)
"""Ops that start or extend a chain: elementwise, or elementwise per channel."""


def next_in_chain(value: SSAValue) -> Operation | None:
    """The op that extends a chain ending with ``value``, or None.

    It is the single user of ``value``, in the same block, elementwise (see the
    module docstring), and its result has ``value``'s type (no broadcast to a
    larger shape, which would recompute the chain per broadcast element).
    """
    found = users(value)
    if len(found) != 1:
        return None
    user = found[0]
    if not isinstance(user, EPILOGUE_OPS) or user.parent_block() is not value.owner.parent_block():
        return None
    if isinstance(user, dag.BatchNormOp) and any(u.index != 0 for u in value.uses):
        return None
    return user if user.results[0].type == value.type else None


def fuse_ops(chain: list[Operation], rewriter: PatternRewriter) -> dag.FusedOp:
    """Replace ``chain`` (ops of one block in program order, each but the last used
    only by the next ones) by one ``dag.fused`` op at the last op's place.

    The fused op's operands are the values the chain reads from outside, in order of
    first use; it yields the last op's results.
    """
    inside = {r for op in chain for r in op.results}
    external = list(dict.fromkeys(v for op in chain for v in op.operands if v not in inside))
    block, mapping = block_for(external, chain)
    last = chain[-1]
    block.add_op(dag.YieldOp(*(mapping[r] for r in last.results)))
    fused = dag.FusedOp("+".join(op.label for op in chain), external, Region(block))
    rewriter.insert(fused, InsertPoint.before(last))
    for old, new in zip(last.results, fused.results):
        new.name_hint = old.name_hint
    rewriter.replace(last, [], list(fused.results))
    for op in reversed(chain[:-1]):
        rewriter.erase(op)
    return fused


@dataclass
class FuseChains(RewritePattern):
    """Grow a chain from each anchor or elementwise op (see the module docstring)
    and fuse it when it has at least two ops.

    ``max_ops`` bounds a chain's length (0: no bound); ``elementwise_only`` starts
    no chain at an anchor.
    """

    max_ops: int = 0
    elementwise_only: bool = False

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter, /) -> None:
        starts = EPILOGUE_OPS if self.elementwise_only else (*ANCHORS, *EPILOGUE_OPS)
        if not isinstance(op, starts) or isinstance(op.parent_op(), dag.FusedOp):
            return
        chain = [op]
        while not self.max_ops or len(chain) < self.max_ops:
            user = next_in_chain(chain[-1].results[0])
            if user is None:
                break
            chain.append(user)
        if len(chain) >= 2:
            fuse_ops(chain, rewriter)


@dataclass(frozen=True)
class FusePass(ModulePass):
    """Group conv/linear/matmul epilogues and elementwise chains into ``dag.fused``."""

    name = "dag-fuse"

    max_ops: int = 0
    """The most ops in one fused region (0: no limit; 1 fuses nothing)."""
    elementwise_only: bool = False
    """Fuse only elementwise chains, no conv/linear/matmul epilogues."""

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        if self.max_ops < 0:
            raise ValueError(f"max-ops must be >= 0, got {self.max_ops}")
        PatternRewriteWalker(FuseChains(self.max_ops, self.elementwise_only),
                             apply_recursively=False).rewrite_module(op)
