"""Cost analyses of dag modules: FLOPs, MACs, parameters and kmapp, per op and total.

``model_stats(m)`` returns a :class:`StatsReport`: one :class:`OpStats` row per
compute op of the entry function (calls expand into their callee's rows) and the
totals; ``report.table()`` renders it with ``rich``.

Conventions (inference, batch as in the IR's types):

- A MAC is one multiply-accumulate of a tensor contraction (conv, linear, matmul,
  attention); a contraction costs ``2 * MACs`` FLOPs, plus one FLOP per output
  element for a bias. This is the FLOPs convention of torch-dag's tables
  (GFLOPs = 2 x GMACs).
- Elementwise ops and activations cost 1 FLOP per output element; inference
  batch norm 2 (scale and shift); layer and group norm 5 (mean, variance,
  normalise, scale, shift); softmax and log-softmax 3 (exp, sum, divide); pooling
  one FLOP per window element; ``mean``/``sum`` and adaptive pooling one per input
  element; bilinear resize 4 per output element. Shape ops, constants and opaque
  ops cost 0 (an opaque op's cost is unknown; its row says so).
- Parameters are the elements of the constants of rank >= 1 (resource-backed
  weights and tensor literals) except batch-norm running statistics (buffers in
  PyTorch, not parameters), each counted once, in the row of its first user.
- kmapp is torch-dag's size unit: ``FLOPs / (H * W * 1000)``, thousands of FLOPs
  per input pixel, for an ``N x C x H x W`` first input (for other inputs, ``H * W``
  is replaced by the product of all dims but the first).
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from xdsl.dialects.builtin import ModuleOp, TensorType
from xdsl.dialects.func import CallOp, FuncOp, ReturnOp
from xdsl.ir import Operation, SSAValue, Use

from dagc.dialects import dag

Shape = tuple[int, ...]


def _shape(value: SSAValue) -> Shape:
    ty = value.type
    return ty.get_shape() if isinstance(ty, TensorType) else ()


def _numel(shape: Shape) -> int:
    return math.prod(shape)


def _pair(attr) -> tuple[int, ...]:
    return tuple(int(v) for v in attr.get_values())


CostFn = Callable[[Operation, Sequence[Shape], Sequence[Shape]], tuple[int, int]]


def _conv(op, ins, outs):
    w, out = ins[1], outs[0]
    macs = out[0] * out[1] * out[2] * out[3] * w[1] * w[2] * w[3]
    bias = _numel(out) if len(ins) > 2 else 0
    return 2 * macs + bias, macs


def _winograd_conv(op, ins, outs):
    """A Winograd convolution counts as the direct 3x3 one it computes, as Lavin
    and Gray's "effective" FLOP/s do (so GFLOP/s compare with the direct kernel's):
    ``U`` is ``4 x 4 x F x C``."""
    macs = _numel(outs[0]) * ins[1][3] * 9
    bias = _numel(outs[0]) if len(ins) > 2 else 0
    return 2 * macs + bias, macs


def _conv_transpose(op, ins, outs):
    x, w = ins[0], ins[1]
    macs = _numel(x) * w[1] * w[2] * w[3]
    bias = _numel(outs[0]) if len(ins) > 2 else 0
    return 2 * macs + bias, macs


def _linear(op, ins, outs):
    x, w = ins[0], ins[1]
    macs = _numel(x[:-1]) * w[0] * w[1]
    bias = _numel(outs[0]) if len(ins) > 2 else 0
    return 2 * macs + bias, macs


def _matmul(op, ins, outs):
    macs = _numel(outs[0]) * ins[0][-1]
    return 2 * macs, macs


def _sdpa(op, ins, outs):
    q, k, v = ins[0], ins[1], ins[2]
    rows = _numel(outs[0][:-1])  # batch * L
    scores = rows * k[-2]  # batch * L * S
    macs = scores * q[-1] + scores * v[-1]
    return 2 * macs + 4 * scores, macs  # + scale and softmax (3) per score


def _per_out(flops_per_element: int) -> CostFn:
    return lambda op, ins, outs: (flops_per_element * _numel(outs[0]), 0)


def _per_in(op, ins, outs):
    return _numel(ins[0]), 0


def _pool(op, ins, outs):
    k = _pair(op.kernel)
    return _numel(outs[0]) * k[0] * k[1], 0


def _interpolate(op, ins, outs):
    return (4 * _numel(outs[0]) if op.mode.data == "bilinear" else 0), 0


def _free(op, ins, outs):
    return 0, 0


def _fused(op, ins, outs):
    """The sum over the body (shape overrides do not reach inside)."""
    costs = [op_cost(inner) for inner in op.body.block.ops]
    return sum(f for f, _ in costs), sum(m for _, m in costs)


COSTS: dict[type[Operation], CostFn] = {
    dag.Conv2dOp: _conv,
    dag.WinogradConv2dOp: _winograd_conv,
    dag.ConvTranspose2dOp: _conv_transpose,
    dag.LinearOp: _linear,
    dag.MatmulOp: _matmul,
    dag.ScaledDotProductAttentionOp: _sdpa,
    dag.BatchNormOp: _per_out(2),
    dag.LayerNormOp: _per_out(5),
    dag.GroupNormOp: _per_out(5),
    dag.SoftmaxOp: _per_out(3),
    dag.LogSoftmaxOp: _per_out(3),
    dag.MaxPool2dOp: _pool,
    dag.AvgPool2dOp: _pool,
    dag.AdaptiveAvgPool2dOp: _per_in,
    dag.MeanOp: _per_in,
    dag.SumOp: _per_in,
    dag.InterpolateOp: _interpolate,
    dag.FusedOp: _fused,
    **{cls: _per_out(1) for cls in dag.UNARY_OPS},
    **{cls: _per_out(1) for cls in (dag.AddOp, dag.SubOp, dag.MulOp, dag.DivOp,
                                    dag.PowOp, dag.MaximumOp, dag.MinimumOp)},
    **{cls: _free for cls in (dag.ReshapeOp, dag.ExpandOp, dag.PermuteOp, dag.ConcatOp,
                              dag.SliceOp, dag.SelectOp, dag.PadOp, dag.ConstantOp,
                              dag.OpaqueOp)},
}  # fmt: skip
"""Op class -> ``fn(op, operand shapes, result shapes) -> (flops, macs)``."""


def op_cost(
    op: Operation,
    operand_shapes: Sequence[Shape] | None = None,
    result_shapes: Sequence[Shape] | None = None,
) -> tuple[int, int]:
    """``(FLOPs, MACs)`` of one dag op (conventions in the module docstring).

    ``operand_shapes``/``result_shapes`` override the shapes of the op's types, so
    the cost of a planned rewrite (e.g. a pruned width) is computed without
    rewriting. Ops with no entry in :data:`COSTS` (other dialects) cost 0.
    """
    ins = list(operand_shapes) if operand_shapes is not None else [
        _shape(o) for o in op.operands]
    outs = list(result_shapes) if result_shapes is not None else [
        _shape(r) for r in op.results]
    fn = COSTS.get(type(op))
    return fn(op, ins, outs) if fn is not None else (0, 0)


def is_parameter(value: SSAValue) -> bool:
    """True for a constant of rank >= 1 that is not a batch-norm running statistic
    (the tensors PyTorch counts in ``model.parameters()``)."""
    op = value.owner
    if not isinstance(op, dag.ConstantOp) or not _shape(value):
        return False
    return not any(_running_statistic(u) for u in value.uses)


def _running_statistic(use: Use) -> bool:
    """``use`` reads a batch norm's running mean or variance (in a fused region too)."""
    if isinstance(use.operation, dag.FusedOp):
        arg = use.operation.body.block.args[use.index]
        return any(_running_statistic(u) for u in arg.uses)
    return isinstance(use.operation, dag.BatchNormOp) and use.index in (1, 2)


@dataclass
class OpStats:
    """The cost of one op (one row of a :class:`StatsReport`)."""

    name: str
    """The op's stable name (``layer1.0.conv1``)."""
    kind: str
    """The op without its dialect (``conv2d``)."""
    shape: Shape
    """The shape of its (first) result."""
    flops: int
    macs: int
    params: int
    """Parameters first used by this op (see the module docstring)."""
    kmapp: float
    """``flops / (input pixels * 1000)``."""
    note: str = ""


@dataclass
class StatsReport:
    """Per-op costs of a module and their totals (see :func:`model_stats`)."""

    rows: list[OpStats]
    input_pixels: int
    """``H * W`` of the first input (the kmapp denominator)."""
    notes: list[str] = field(default_factory=list)

    @property
    def flops(self) -> int:
        return sum(r.flops for r in self.rows)

    @property
    def macs(self) -> int:
        return sum(r.macs for r in self.rows)

    @property
    def params(self) -> int:
        return sum(r.params for r in self.rows)

    @property
    def kmapp(self) -> float:
        """Total FLOPs per input pixel, in thousands (torch-dag's unit)."""
        return self.flops / (self.input_pixels * 1000)

    def by_kind(self) -> dict[str, tuple[int, int, int]]:
        """``kind -> (FLOPs, MACs, params)`` summed over the rows of that kind."""
        out: dict[str, tuple[int, int, int]] = {}
        for r in self.rows:
            f, m, p = out.get(r.kind, (0, 0, 0))
            out[r.kind] = (f + r.flops, m + r.macs, p + r.params)
        return out

    def table(self, top: int | None = None, sort_by: str | None = None):
        """A ``rich.table.Table`` of the rows (optionally the ``top`` rows after
        sorting by ``sort_by``: ``flops``, ``macs``, ``params`` or ``kmapp``) and a
        total line."""
        from rich.table import Table

        rows = self.rows
        if sort_by is not None:
            rows = sorted(rows, key=lambda r: getattr(r, sort_by), reverse=True)
        if top is not None:
            rows = rows[:top]
        t = Table(title="dagc model statistics", show_footer=True)
        t.add_column("op", footer="total")
        t.add_column("kind")
        t.add_column("shape")
        t.add_column("FLOPs", justify="right", footer=_si(self.flops))
        t.add_column("MACs", justify="right", footer=_si(self.macs))
        t.add_column("params", justify="right", footer=_si(self.params))
        t.add_column("kmapp", justify="right", footer=f"{self.kmapp:.3f}")
        for r in rows:
            t.add_row(r.name, r.kind, "x".join(map(str, r.shape)), _si(r.flops),
                      _si(r.macs), _si(r.params), f"{r.kmapp:.3f}")
        return t

    def render(self, top: int | None = None, sort_by: str | None = None,
               width: int = 120) -> str:
        """The table as plain text."""
        return render_table(self.table(top, sort_by), width)

    def __str__(self) -> str:
        return self.render()


def render_table(table, width: int = 120) -> str:
    """Render a ``rich`` renderable to plain text (no colour codes)."""
    from rich.console import Console

    buf = io.StringIO()
    Console(file=buf, width=width, color_system=None, force_terminal=False).print(table)
    return buf.getvalue()


def _si(n: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.2f}{unit}"
    return f"{n:g}" if isinstance(n, float) else str(n)


def input_pixels(func: FuncOp) -> int:
    """``H * W`` of the first input of ``func`` if it is ``N x C x H x W``; else the
    product of its dims but the first; 1 for a function without inputs."""
    if not func.args:
        return 1
    shape = _shape(func.args[0])
    if len(shape) == 4:
        return shape[2] * shape[3]
    return max(1, _numel(shape[1:]))


def _entry(module) -> tuple[ModuleOp, FuncOp]:
    from dagc.ir import Module

    if isinstance(module, Module):
        return module.op, module.forward
    assert isinstance(module, ModuleOp)
    funcs = [f for f in module.body.ops if isinstance(f, FuncOp)]
    for f in funcs:
        if f.sym_name.data == "forward":
            return module, f
    public = [f for f in funcs if f.sym_visibility is None or f.sym_visibility.data == "public"]
    if not public:
        raise ValueError("module has no public func.func")
    return module, public[0]


def model_stats(module) -> StatsReport:
    """FLOPs, MACs, parameters and kmapp of every op of ``module``'s entry function.

    Args:
        module: a :class:`dagc.ir.Module` or a ``builtin.module``.

    ``func.call`` ops expand into their callee's rows (each call counted). Costs
    follow the conventions of this module's docstring.

    Raises:
        ValueError: the module has no public function.
    """
    mod, entry = _entry(module)
    funcs = {f.sym_name.data: f for f in mod.body.ops if isinstance(f, FuncOp)}
    pixels = input_pixels(entry)
    rows: list[OpStats] = []
    notes: list[str] = []
    counted: set[int] = set()

    def visit(func: FuncOp, stack: tuple[str, ...]) -> None:
        for op in func.body.block.ops:
            if isinstance(op, (ReturnOp, dag.ConstantOp)):
                continue
            if isinstance(op, CallOp):
                callee = funcs.get(op.callee.string_value())
                if callee is not None and callee.sym_name.data not in stack:
                    visit(callee, stack + (callee.sym_name.data,))
                continue
            flops, macs = op_cost(op)
            params = 0
            for v in op.operands:
                if is_parameter(v) and id(v.owner) not in counted:
                    counted.add(id(v.owner))
                    params += _numel(_shape(v))
            label = op.label if isinstance(op, dag.DagOp) else op.name
            note = ""
            if isinstance(op, dag.OpaqueOp) or type(op) not in COSTS:
                note = "cost unknown"
                notes.append(f"{label}: cost of {op.name} unknown, counted as 0")
            shape = _shape(op.results[0]) if op.results else ()
            rows.append(OpStats(label, op.name.split(".", 1)[-1], shape, flops, macs,
                                params, flops / (pixels * 1000), note))

    visit(entry, (entry.sym_name.data,))
    return StatsReport(rows, pixels, notes)


stats = model_stats
"""``dagc.stats(m)``: an alias of :func:`model_stats`."""
