"""``dag-swap-activation{from=gelu to=relu}``: replace one activation by another.

Every op of the activation ``from`` (optionally only those named in ``ops``)
becomes the activation ``to``, keeping its operand, result type and name.
Activations with parameters take them from the pass options: ``negative-slope``
(``leaky_relu``), ``min``/``max`` (``clamp``), ``approximate`` (``gelu``). This
changes what the model computes (for instance to make it friendlier to a
backend or to quantization); fine-tune afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp, StringAttr
from xdsl.ir import Attribute, Operation
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import PatternRewriter, PatternRewriteWalker, RewritePattern

from dagc.dialects import dag
from dagc.passes.utils import KeywordOptions

ACTIVATIONS: dict[str, type[dag.UnaryOp]] = {
    "relu": dag.ReluOp,
    "relu6": dag.Relu6Op,
    "leaky_relu": dag.LeakyReluOp,
    "gelu": dag.GeluOp,
    "silu": dag.SiluOp,
    "hardswish": dag.HardswishOp,
    "hardsigmoid": dag.HardsigmoidOp,
    "sigmoid": dag.SigmoidOp,
    "tanh": dag.TanhOp,
    "clamp": dag.ClampOp,
}
"""Activation names accepted by the pass (dag op names without the dialect)."""


def _lookup(name: str, option: str) -> type[dag.UnaryOp]:
    cls = ACTIVATIONS.get(name.removeprefix("dag."))
    if cls is None:
        raise ValueError(f"{option}='{name}' is not an activation; expected one of "
                         f"{', '.join(sorted(ACTIVATIONS))}")
    return cls


@dataclass
class SwapActivation(RewritePattern):
    """Replace every ``source`` op (named in ``names``, if any) by a ``target`` op
    with ``properties`` (plus the replaced op's name)."""

    source: type[dag.UnaryOp]
    target: type[dag.UnaryOp]
    properties: dict[str, Attribute]
    names: frozenset[str] = frozenset()

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> None:
        if type(op) is not self.source or (self.names and op.label not in self.names):
            return
        new = self.target.create(
            operands=[op.input],
            result_types=[op.result.type],
            properties={"name": op.node_name, **self.properties},
            attributes=dict(op.attributes),
        )
        rewriter.replace(op, new)


@dataclass(frozen=True)
class SwapActivationPass(KeywordOptions, ModulePass):
    """Replace activation ``from`` by activation ``to`` (e.g. gelu -> relu)."""

    name = "dag-swap-activation"

    from_: str
    """The activation to replace (``dag-swap-activation{from=...}``)."""
    to: str
    """The activation to put in its place."""
    ops: tuple[str, ...] = ()
    """Only swap the ops with these names (all of them when empty)."""
    negative_slope: float | int = 0.01
    """``leaky_relu``'s slope for ``to=leaky_relu``."""
    min: float | int | None = None
    """``clamp``'s lower bound for ``to=clamp``."""
    max: float | int | None = None
    """``clamp``'s upper bound for ``to=clamp``."""
    approximate: str = "none"
    """``gelu``'s approximation (``none`` or ``tanh``) for ``to=gelu``."""

    def target_properties(self) -> dict[str, Attribute]:
        """The properties (besides ``name``) of the new activation ops.

        Raises:
            ValueError: an option value the target activation does not accept.
        """
        target = _lookup(self.to, "to")
        if target is dag.LeakyReluOp:
            return {"negative_slope": dag.float_attr(self.negative_slope)}
        if target is dag.GeluOp:
            if self.approximate not in ("none", "tanh"):
                raise ValueError("approximate must be 'none' or 'tanh'")
            return {"approximate": StringAttr(self.approximate)}
        if target is dag.ClampOp:
            bounds = {"min": self.min, "max": self.max}
            return {k: dag.float_attr(v) for k, v in bounds.items() if v is not None}
        return {}

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        pattern = SwapActivation(_lookup(self.from_, "from"), _lookup(self.to, "to"),
                                 self.target_properties(), frozenset(self.ops))
        PatternRewriteWalker(pattern, apply_recursively=False).rewrite_module(op)
