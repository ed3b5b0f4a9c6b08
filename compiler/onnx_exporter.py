"""The ONNX exporter: dag dialect -> ``onnx.ModelProto``.

``export_onnx(module, path, opset=17)`` writes the module's ``forward`` function
as an ONNX graph that passes ``onnx.checker.check_model(full_check=True)`` and that
ONNX Runtime runs with the results of :func:`dagc.to_torch` (the reference
executor, PyTorch semantics).

Algorithm: one walk over ``forward`` in program order. ``func.call`` and
``dag.fused`` are inlined (the callee's or the region's body is exported with its
arguments bound). Each dag op becomes one
ONNX node when ONNX has the operator with the same semantics, otherwise a small
subgraph written from ONNX operators, chosen so that it computes what PyTorch
computes:

- ``dag.silu`` -> ``x * Sigmoid(x)``; ``dag.relu6`` -> ``Clip(0, 6)``;
  ``dag.rsqrt`` -> ``Reciprocal(Sqrt)``; ``dag.gelu`` -> ``Gelu`` (opset >= 20) or
  its erf/tanh formula;
- ``dag.layer_norm`` -> ``LayerNormalization`` (opset >= 17) or mean/variance;
  ``dag.group_norm`` -> reshape to ``N x G x -1``, normalise, reshape, affine;
- ``dag.scaled_dot_product_attention`` -> ``Softmax(q @ k^T * scale + mask) @ v``
  with a constant causal mask when ``is_causal``;
- ``dag.adaptive_avg_pool2d`` -> ``GlobalAveragePool``, an ``AveragePool`` when the
  bins are uniform, else per-bin ``Slice`` + ``ReduceMean`` + ``Concat``;
- ``dag.interpolate`` (nearest) -> ``Resize`` for integer upsampling factors, else
  ``Gather`` with PyTorch's source indices (exact for any size ratio);
- ``dag.max_pool2d``/``dag.avg_pool2d`` with ``ceil_mode`` -> extra end padding
  (max) or ONNX's ``ceil_mode`` (average).

Weights (``dag.constant``) become initializers named after their resource
handles. Intermediate values carry their static types as ``value_info`` so that the
checker's strict shape inference verifies every type dagc computed.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import helper, numpy_helper
from xdsl.dialects.builtin import DenseIntOrFPElementsAttr, DenseResourceAttr, TensorType
from xdsl.dialects.func import CallOp, FuncOp, ReturnOp
from xdsl.ir import Block, Operation, SSAValue

from dagc.compiler.onnx_frontend import torch_nearest_indices
from dagc.dialects import dag
from dagc.ir import Module, numpy_dtype

__all__ = ["OnnxExportError", "export_onnx"]

MIN_OPSET, MAX_OPSET = 13, 21


class OnnxExportError(Exception):
    """A module could not be exported; ``problems`` lists every offending op as
    ``(op name, dag op label, reason)``."""

    def __init__(self, problems: Sequence[tuple[str, str, str]]):
        self.problems = list(problems)
        lines = [f"  - {n} '{label}': {reason}" for n, label, reason in self.problems]
        super().__init__(
            f"cannot export to ONNX: {len(self.problems)} unsupported op(s)\n" + "\n".join(lines)
        )


class _Unsupported(Exception):
    pass


def _shape(v: SSAValue) -> tuple[int, ...]:
    assert isinstance(v.type, TensorType)
    return tuple(v.type.get_shape())


def _onnx_type(v: SSAValue) -> int:
    assert isinstance(v.type, TensorType)
    return helper.np_dtype_to_tensor_dtype(numpy_dtype(v.type.element_type))


def _ints(attr) -> list[int]:
    return [int(x) for x in attr.get_values()]


def _i(attr) -> int:
    return int(attr.value.data)


def _f(attr) -> float | None:
    return None if attr is None else float(attr.value.data)


@dataclass
class _Exporter:
    module: Module
    opset: int
    nodes: list[onnx.NodeProto] = field(default_factory=list)
    initializers: list[onnx.TensorProto] = field(default_factory=list)
    value_info: list[onnx.ValueInfoProto] = field(default_factory=list)
    names: dict[SSAValue, str] = field(default_factory=dict)
    arrays: dict[SSAValue, np.ndarray] = field(default_factory=dict)  # constants
    pending: dict[str, np.ndarray] = field(default_factory=dict)  # weights not yet used
    used: set[str] = field(default_factory=set)  # value names
    node_names: set[str] = field(default_factory=set)
    typed: set[str] = field(default_factory=set)  # values with a type (value_info, inputs)
    problems: list[tuple[str, str, str]] = field(default_factory=list)
    label: str = ""
    aux: int = 0

    # -- naming and emission ------------------------------------------------------

    def fresh(self, base: str, taken: set[str] | None = None) -> str:
        taken = self.used if taken is None else taken
        name, i = base, 0
        while name in taken:
            i += 1
            name = f"{base}_{i}"
        taken.add(name)
        return name

    def name(self, v: SSAValue) -> str:
        return self.names[v]

    def node(self, op_type: str, inputs: Sequence[str], n_out: int = 1, **attrs) -> list[str]:
        """Append one node of the current op; returns its output names."""
        base = self.label if self.aux == 0 else f"{self.label}/{op_type}_{self.aux}"
        self.aux += 1
        outs = [self.fresh(base if n_out == 1 else f"{base}:{k}") for k in range(n_out)]
        attrs = {k: v for k, v in attrs.items() if v is not None}
        for i in inputs:
            if i in self.pending:  # a weight becomes an initializer once it is used
                self.initializers.append(numpy_helper.from_array(self.pending.pop(i), i))
        self.nodes.append(helper.make_node(op_type, list(inputs), outs,
                                           name=self.fresh(base, self.node_names), **attrs))
        return outs

    def one(self, op_type: str, inputs: Sequence[str], **attrs) -> str:
        return self.node(op_type, inputs, 1, **attrs)[0]

    def const(self, array: np.ndarray, base: str | None = None) -> str:
        name = self.fresh(base or f"{self.label}/const")
        self.initializers.append(numpy_helper.from_array(np.asarray(array, order="C"), name))
        return name

    def i64(self, values: Sequence[int]) -> str:
        return self.const(np.array(list(values), dtype=np.int64))

    def scalar(self, value: float, like: SSAValue) -> str:
        return self.const(np.array(value, dtype=numpy_dtype(like.type.element_type)))

    def reduce(self, op_type: str, x: str, axes: Sequence[int], keepdims: bool) -> str:
        """ReduceMean/ReduceSum with ``axes`` as attribute or input, per opset."""
        as_input = op_type == "ReduceSum" or self.opset >= 18
        if as_input:
            return self.one(op_type, [x, self.i64(axes)], keepdims=int(keepdims))
        return self.one(op_type, [x], axes=list(axes), keepdims=int(keepdims))

    # -- functions ----------------------------------------------------------------

    def export_function(self, func: FuncOp, args: Sequence[str]) -> list[str]:
        return self.export_block(func.body.block, args, f"@{func.sym_name.data}")

    def export_block(self, block: Block, args: Sequence[str], where: str) -> list[str]:
        """Export a function body or a ``dag.fused`` body (inlined) with its
        arguments named ``args``; returns the names of the values it returns."""
        for a, n in zip(block.args, args):
            self.names[a] = n
        for op in block.ops:
            if isinstance(op, ReturnOp | dag.YieldOp):
                return [self.name(v) for v in op.operands]
            if isinstance(op, CallOp | dag.FusedOp):
                operands = [self.name(v) for v in op.operands]
                if isinstance(op, CallOp):
                    outs = self.export_function(
                        _lookup(self.module, op.callee.string_value()), operands)
                else:
                    outs = self.export_block(op.body.block, operands, f"'{op.label}'")
                for r, n in zip(op.results, outs):
                    self.names[r] = n
                continue
            label = op.label if isinstance(op, dag.DagOp) else op.name
            self.label, self.aux = label, 0
            try:
                fn = _EXPORTERS.get(type(op))
                if fn is None:
                    raise _Unsupported("no ONNX export for this op")
                outs = fn(self, op)
            except _Unsupported as e:
                self.problems.append((op.name, label, str(e)))
                outs = [self.fresh(f"{label}:failed") for _ in op.results]
            for r, n in zip(op.results, outs):
                self.names[r] = n
                if n not in self.typed and not isinstance(op, dag.ConstantOp):
                    self.typed.add(n)
                    self.value_info.append(helper.make_tensor_value_info(
                        n, _onnx_type(r), _shape(r)))
        raise _Unsupported(f"{where} has no terminator")


def _lookup(module: Module, name: str) -> FuncOp:
    for f in module.op.body.ops:
        if isinstance(f, FuncOp) and f.sym_name.data == name:
            return f
    raise KeyError(f"no function @{name}")


_EXPORTERS: dict[type[Operation], callable] = {}


def _exports(*classes):
    def deco(fn):
        for c in classes:
            _EXPORTERS[c] = fn
        return fn

    return deco


def _in(ex: _Exporter, op: Operation) -> list[str]:
    return [ex.name(v) for v in op.operands]


# -- constants --------------------------------------------------------------------


@_exports(dag.ConstantOp)
def _constant(ex: _Exporter, op: dag.ConstantOp) -> list[str]:
    if isinstance(op.value, DenseResourceAttr):
        arr = np.array(ex.module.constant(op.value))
        base = op.value.resource_handle.data
    else:
        assert isinstance(op.value, DenseIntOrFPElementsAttr)
        arr = np.array(op.value.get_values(),
                       dtype=numpy_dtype(op.result.type.element_type)).reshape(_shape(op.result))
        base = op.label
    ex.arrays[op.result] = arr
    name = ex.fresh(base)
    ex.pending[name] = np.asarray(arr, order="C")
    return [name]


# -- elementwise ---------------------------------------------------------------------

_SIMPLE = {
    dag.AddOp: "Add", dag.SubOp: "Sub", dag.MulOp: "Mul", dag.DivOp: "Div", dag.PowOp: "Pow",
    dag.MaximumOp: "Max", dag.MinimumOp: "Min", dag.NegOp: "Neg", dag.SqrtOp: "Sqrt",
    dag.ExpOp: "Exp", dag.LogOp: "Log", dag.AbsOp: "Abs", dag.ErfOp: "Erf",
    dag.TanhOp: "Tanh", dag.SigmoidOp: "Sigmoid", dag.ReluOp: "Relu",
    dag.MatmulOp: "MatMul",
}  # fmt: skip


@_exports(*_SIMPLE)
def _simple(ex: _Exporter, op) -> list[str]:
    return [ex.one(_SIMPLE[type(op)], _in(ex, op))]


@_exports(dag.RsqrtOp)
def _rsqrt(ex: _Exporter, op) -> list[str]:
    return [ex.one("Reciprocal", [ex.one("Sqrt", _in(ex, op))])]


@_exports(dag.Relu6Op)
def _relu6(ex: _Exporter, op) -> list[str]:
    x = op.operands[0]
    return [ex.one("Clip", [ex.name(x), ex.scalar(0, x), ex.scalar(6, x)])]


@_exports(dag.SiluOp)
def _silu(ex: _Exporter, op) -> list[str]:
    x = ex.name(op.operands[0])
    return [ex.one("Mul", [x, ex.one("Sigmoid", [x])])]


@_exports(dag.HardsigmoidOp)
def _hardsigmoid(ex: _Exporter, op) -> list[str]:
    return [ex.one("HardSigmoid", _in(ex, op), alpha=1 / 6, beta=0.5)]


@_exports(dag.HardswishOp)
def _hardswish(ex: _Exporter, op) -> list[str]:
    if ex.opset >= 14:
        return [ex.one("HardSwish", _in(ex, op))]
    x = ex.name(op.input)
    return [ex.one("Mul", [x, ex.one("HardSigmoid", [x], alpha=1 / 6, beta=0.5)])]


@_exports(dag.GeluOp)
def _gelu(ex: _Exporter, op: dag.GeluOp) -> list[str]:
    approx = op.approximate.data
    x = op.input
    if ex.opset >= 20:
        return [ex.one("Gelu", [ex.name(x)], approximate=approx)]
    xn = ex.name(x)
    if approx == "none":  # x * 0.5 * (1 + erf(x / sqrt(2)))
        inner = ex.one("Erf", [ex.one("Mul", [xn, ex.scalar(math.sqrt(0.5), x)])])
    else:  # tanh(sqrt(2/pi) * (x + 0.044715 x^3))
        cube = ex.one("Mul", [ex.one("Mul", [xn, xn]), xn])
        s = ex.one("Add", [xn, ex.one("Mul", [cube, ex.scalar(0.044715, x)])])
        inner = ex.one("Tanh", [ex.one("Mul", [s, ex.scalar(math.sqrt(2 / math.pi), x)])])
    half = ex.one("Mul", [xn, ex.scalar(0.5, x)])
    return [ex.one("Mul", [half, ex.one("Add", [inner, ex.scalar(1.0, x)])])]


@_exports(dag.LeakyReluOp)
def _leaky_relu(ex: _Exporter, op: dag.LeakyReluOp) -> list[str]:
    return [ex.one("LeakyRelu", _in(ex, op), alpha=_f(op.negative_slope))]


@_exports(dag.ClampOp)
def _clamp(ex: _Exporter, op: dag.ClampOp) -> list[str]:
    x = op.input
    lo, hi = _f(op.min), _f(op.max)
    inputs = [ex.name(x), "" if lo is None else ex.scalar(lo, x),
              "" if hi is None else ex.scalar(hi, x)]
    while inputs[-1] == "":
        inputs.pop()
    return [ex.one("Clip", inputs)]


@_exports(dag.SoftmaxOp, dag.LogSoftmaxOp)
def _softmax(ex: _Exporter, op) -> list[str]:
    t = "Softmax" if isinstance(op, dag.SoftmaxOp) else "LogSoftmax"
    return [ex.one(t, _in(ex, op), axis=_i(op.dim))]


# -- layers ---------------------------------------------------------------------------


@_exports(dag.Conv2dOp)
def _conv2d(ex: _Exporter, op: dag.Conv2dOp) -> list[str]:
    p = _ints(op.padding)
    return [ex.one("Conv", _in(ex, op), kernel_shape=list(_shape(op.weight)[2:]),
                   strides=_ints(op.stride), pads=p + p, dilations=_ints(op.dilation),
                   group=_i(op.groups))]


@_exports(dag.ConvTranspose2dOp)
def _conv_transpose2d(ex: _Exporter, op: dag.ConvTranspose2dOp) -> list[str]:
    p = _ints(op.padding)
    return [ex.one("ConvTranspose", _in(ex, op), kernel_shape=list(_shape(op.weight)[2:]),
                   strides=_ints(op.stride), pads=p + p, dilations=_ints(op.dilation),
                   output_padding=_ints(op.output_padding), group=_i(op.groups))]


@_exports(dag.LinearOp)
def _linear(ex: _Exporter, op: dag.LinearOp) -> list[str]:
    x, w = op.input, op.weight
    if len(_shape(x)) == 2:
        return [ex.one("Gemm", _in(ex, op), transB=1)]
    if w in ex.arrays:
        wt = ex.const(ex.arrays[w].T, ex.name(w) + ".T")
    else:
        wt = ex.one("Transpose", [ex.name(w)], perm=[1, 0])
    y = ex.one("MatMul", [ex.name(x), wt])
    if op.bias is not None:
        y = ex.one("Add", [y, ex.name(op.bias)])
    return [y]


@_exports(dag.ScaledDotProductAttentionOp)
def _sdpa(ex: _Exporter, op: dag.ScaledDotProductAttentionOp) -> list[str]:
    q, k, v = op.query, op.key, op.value
    rank_k = len(_shape(k))
    perm = list(range(rank_k - 2)) + [rank_k - 1, rank_k - 2]
    scale = _f(op.scale)
    scale = 1 / math.sqrt(_shape(q)[-1]) if scale is None else scale
    s = ex.one("MatMul", [ex.name(q), ex.one("Transpose", [ex.name(k)], perm=perm)])
    s = ex.one("Mul", [s, ex.scalar(scale, q)])
    if op.mask is not None:
        s = ex.one("Add", [s, ex.name(op.mask)])
    if op.is_causal is not None:
        L, S = _shape(q)[-2], _shape(k)[-2]
        mask = np.triu(np.full((L, S), -np.inf), k=1).astype(numpy_dtype(q.type.element_type))
        s = ex.one("Add", [s, ex.const(mask)])
    p = ex.one("Softmax", [s], axis=-1)
    return [ex.one("MatMul", [p, ex.name(v)])]


@_exports(dag.BatchNormOp)
def _batch_norm(ex: _Exporter, op: dag.BatchNormOp) -> list[str]:
    x, m, v, w, b = _in(ex, op)
    return [ex.one("BatchNormalization", [x, w, b, m, v], epsilon=_f(op.eps))]


def _normalize(ex: _Exporter, x: str, like: SSAValue, axes: Sequence[int], eps: float) -> str:
    """``(x - mean) / sqrt(var + eps)`` over ``axes`` (biased variance)."""
    mean = ex.reduce("ReduceMean", x, axes, True)
    d = ex.one("Sub", [x, mean])
    var = ex.reduce("ReduceMean", ex.one("Mul", [d, d]), axes, True)
    return ex.one("Div", [d, ex.one("Sqrt", [ex.one("Add", [var, ex.scalar(eps, like)])])])


@_exports(dag.LayerNormOp)
def _layer_norm(ex: _Exporter, op: dag.LayerNormOp) -> list[str]:
    x, w, b = _in(ex, op)
    n = len(_shape(op.weight))
    if ex.opset >= 17:
        return [ex.one("LayerNormalization", [x, w, b], axis=-n, epsilon=_f(op.eps))]
    rank = len(_shape(op.input))
    y = _normalize(ex, x, op.input, range(rank - n, rank), _f(op.eps))
    return [ex.one("Add", [ex.one("Mul", [y, w]), b])]


@_exports(dag.GroupNormOp)
def _group_norm(ex: _Exporter, op: dag.GroupNormOp) -> list[str]:
    xs = _shape(op.input)
    g = _i(op.num_groups)
    x, w, b = _in(ex, op)
    grouped = ex.one("Reshape", [x, ex.i64([xs[0], g, math.prod(xs[1:]) // g])])
    y = ex.one("Reshape", [_normalize(ex, grouped, op.input, [2], _f(op.eps)), ex.i64(xs)])
    affine = [xs[1]] + [1] * (len(xs) - 2)
    y = ex.one("Mul", [y, ex.one("Reshape", [w, ex.i64(affine)])])
    return [ex.one("Add", [y, ex.one("Reshape", [b, ex.i64(affine)])])]


# -- pooling and reductions ----------------------------------------------------------------


@_exports(dag.MaxPool2dOp)
def _max_pool2d(ex: _Exporter, op: dag.MaxPool2dOp) -> list[str]:
    k, s, p, d = _ints(op.kernel), _ints(op.stride), _ints(op.padding), _ints(op.dilation)
    size, out = _shape(op.input)[2:], _shape(op.result)[2:]
    # PyTorch's ceil_mode: extra end padding reaching the last window (never all pad).
    end = [max((out[i] - 1) * s[i] + d[i] * (k[i] - 1) + 1 - size[i] - p[i], p[i])
           for i in range(2)]
    return [ex.one("MaxPool", _in(ex, op), kernel_shape=k, strides=s, pads=p + end,
                   dilations=d)]


@_exports(dag.AvgPool2dOp)
def _avg_pool2d(ex: _Exporter, op: dag.AvgPool2dOp) -> list[str]:
    k, s, p = _ints(op.kernel), _ints(op.stride), _ints(op.padding)
    return [ex.one("AveragePool", _in(ex, op), kernel_shape=k, strides=s, pads=p + p,
                   ceil_mode=int(op.ceil_mode is not None),
                   count_include_pad=int(op.count_include_pad is not None))]


@_exports(dag.AdaptiveAvgPool2dOp)
def _adaptive_avg_pool2d(ex: _Exporter, op: dag.AdaptiveAvgPool2dOp) -> list[str]:
    size, out = _shape(op.input)[2:], _ints(op.output_size)
    x = ex.name(op.input)
    if out == [1, 1]:
        return [ex.one("GlobalAveragePool", [x])]
    if all(size[i] % out[i] == 0 for i in range(2)):
        k = [size[i] // out[i] for i in range(2)]
        return [ex.one("AveragePool", [x], kernel_shape=k, strides=k)]
    # PyTorch's bins [floor(i*H/OH), ceil((i+1)*H/OH)); a rectangle's mean is the
    # mean over rows of the means over columns.
    for axis in (2, 3):
        n, o = size[axis - 2], out[axis - 2]
        parts = []
        for i in range(o):
            start, stop = (i * n) // o, -(-((i + 1) * n) // o)
            piece = ex.one("Slice", [x, ex.i64([start]), ex.i64([stop]), ex.i64([axis])])
            parts.append(ex.reduce("ReduceMean", piece, [axis], True))
        x = ex.one("Concat", parts, axis=axis) if len(parts) > 1 else parts[0]
    return [x]


@_exports(dag.MeanOp, dag.SumOp)
def _reduce(ex: _Exporter, op) -> list[str]:
    t = "ReduceMean" if isinstance(op, dag.MeanOp) else "ReduceSum"
    dims = _ints(op.dims)
    if not dims:
        return [ex.one("Identity", _in(ex, op))]
    return [ex.reduce(t, ex.name(op.input), dims, op.keepdim is not None)]


# -- shapes ----------------------------------------------------------------------------------


@_exports(dag.ReshapeOp)
def _reshape(ex: _Exporter, op) -> list[str]:
    return [ex.one("Reshape", [ex.name(op.input), ex.i64(_shape(op.result))])]


@_exports(dag.ExpandOp)
def _expand(ex: _Exporter, op) -> list[str]:
    return [ex.one("Expand", [ex.name(op.input), ex.i64(_shape(op.result))])]


@_exports(dag.PermuteOp)
def _permute(ex: _Exporter, op: dag.PermuteOp) -> list[str]:
    return [ex.one("Transpose", _in(ex, op), perm=_ints(op.perm))]


@_exports(dag.ConcatOp)
def _concat(ex: _Exporter, op: dag.ConcatOp) -> list[str]:
    return [ex.one("Concat", _in(ex, op), axis=_i(op.dim))]


@_exports(dag.SliceOp)
def _slice(ex: _Exporter, op: dag.SliceOp) -> list[str]:
    return [ex.one("Slice", [ex.name(op.input), ex.i64([_i(op.start)]), ex.i64([_i(op.end)]),
                             ex.i64([_i(op.dim)]), ex.i64([_i(op.step)])])]


@_exports(dag.SelectOp)
def _select(ex: _Exporter, op: dag.SelectOp) -> list[str]:
    idx = ex.const(np.array(_i(op.index), dtype=np.int64))
    return [ex.one("Gather", [ex.name(op.input), idx], axis=_i(op.dim))]


_PAD_MODES = {"constant": "constant", "reflect": "reflect", "replicate": "edge"}


@_exports(dag.PadOp)
def _pad(ex: _Exporter, op: dag.PadOp) -> list[str]:
    rank = len(_shape(op.input))
    torch_pads = _ints(op.pads)
    begin, end = [0] * rank, [0] * rank
    for i in range(len(torch_pads) // 2):
        begin[rank - 1 - i], end[rank - 1 - i] = torch_pads[2 * i], torch_pads[2 * i + 1]
    inputs = [ex.name(op.input), ex.i64(begin + end)]
    if op.mode.data == "constant":
        inputs.append(ex.scalar(_f(op.value), op.input))
    return [ex.one("Pad", inputs, mode=_PAD_MODES[op.mode.data])]


@_exports(dag.InterpolateOp)
def _interpolate(ex: _Exporter, op: dag.InterpolateOp) -> list[str]:
    size, out = _shape(op.input)[2:], _shape(op.result)[2:]
    x = ex.name(op.input)
    if op.mode.data == "nearest":
        if all(out[i] % size[i] == 0 for i in range(2)):
            return [ex.one("Resize", [x, "", "", ex.i64(_shape(op.result))], mode="nearest",
                           coordinate_transformation_mode="asymmetric", nearest_mode="floor")]
        for axis in (2, 3):
            if out[axis - 2] != size[axis - 2]:
                idx = torch_nearest_indices(out[axis - 2], size[axis - 2])
                x = ex.one("Gather", [x, ex.const(idx)], axis=axis)
        return [x]
    coord = "align_corners" if op.align_corners is not None else "pytorch_half_pixel"
    return [ex.one("Resize", [x, "", "", ex.i64(_shape(op.result))], mode="linear",
                   coordinate_transformation_mode=coord)]


# ----------------------------------------------------------------------------
# Public entry point
# ----------------------------------------------------------------------------


def export_onnx(
    module: Module, path: str | os.PathLike | None = None, opset: int = 17
) -> onnx.ModelProto:
    """Export ``module.forward`` (calls inlined) as an ONNX model.

    Args:
        module: a dag module (ops of the dag dialect, ``func.call``/``func.return``).
        path: where to write the ``.onnx`` file (not written when None).
        opset: the default-domain opset, 13 to 21.

    Returns:
        The model, checked with ``onnx.checker.check_model(full_check=True)``:
        inputs and outputs keep the function's static types; weights are
        initializers.

    Raises:
        OnnxExportError: lists every op with no ONNX form (e.g. ``dag.opaque``,
            which runs arbitrary torch code).
        ValueError: ``opset`` is outside 13-21.
    """
    if not MIN_OPSET <= opset <= MAX_OPSET:
        raise ValueError(f"opset must be in [{MIN_OPSET}, {MAX_OPSET}], got {opset}")
    ex = _Exporter(module, opset)
    func = module.forward
    in_names = []
    for i, a in enumerate(func.body.block.args):
        in_names.append(ex.fresh(a.name_hint or f"input_{i}"))
    ex.typed.update(in_names)
    outputs = ex.export_function(func, in_names)
    if ex.problems:
        raise OnnxExportError(ex.problems)
    # Graph outputs must be distinct node outputs: copy inputs, initializers, repeats.
    produced = {o for n in ex.nodes for o in n.output}
    final, seen = [], set()
    for i, name in enumerate(outputs):
        if name not in produced or name in seen:
            ex.label, ex.aux = f"output_{i}", 0
            name = ex.one("Identity", [name])
        seen.add(name)
        final.append(name)
    ret = [v for v in func.body.block.ops if isinstance(v, ReturnOp)][0]
    graph = helper.make_graph(
        ex.nodes,
        func.sym_name.data,
        [helper.make_tensor_value_info(n, _onnx_type(a), _shape(a))
         for n, a in zip(in_names, func.body.block.args)],
        [helper.make_tensor_value_info(n, _onnx_type(v), _shape(v))
         for n, v in zip(final, ret.operands)],
        initializer=ex.initializers,
        value_info=[vi for vi in ex.value_info if vi.name not in set(final)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="dagc")
    model.ir_version = min(model.ir_version, _max_ir_version(opset))
    onnx.checker.check_model(model, full_check=True)
    if path is not None:
        onnx.save(model, os.fspath(path))
    return model


def _max_ir_version(opset: int) -> int:
    """The IR version that goes with ``opset`` (ONNX's version table)."""
    for ir, ops in ((7, 14), (8, 18), (9, 20), (10, 21)):
        if opset <= ops:
            return ir
    return onnx.IR_VERSION
