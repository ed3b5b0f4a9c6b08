"""The ONNX frontend: ``onnx.ModelProto`` -> dag dialect.

``import_onnx(path_or_model)`` returns a verified :class:`dagc.ir.Module` whose
``forward`` takes the graph's (non-initializer) inputs and returns its outputs.

Algorithm:

1. The model is loaded (external data included), model-local functions are
   inlined (``onnx.inliner``) and the default-domain opset is read. Each node is
   converted according to its operator *version* (the schema's ``since_version`` at
   that opset), so that attribute forms (``Squeeze(axes=...)``, opset < 13) and
   input forms (``Squeeze(x, axes)``) and semantic changes (``Softmax``'s
   flattening before opset 13) each get their own rules.
2. Static shapes come from the graph's input types (symbolic dims are fixed with
   ``input_shapes``), from the dag ops' own shape inference, and from ONNX shape
   inference (``onnx.shape_inference.infer_shapes`` with data propagation), which
   every converted value is checked against.
3. Values are *static* (NumPy arrays: initializers, ``Constant`` and everything
   computed only from them, e.g. ``Shape -> Gather -> Concat -> Reshape`` chains)
   or *run-time* (SSA values of dag ops). A node whose inputs are all static is
   folded by a small NumPy evaluator (the shape-manipulation operators), falling
   back to ONNX's reference evaluator (``onnx.reference``) for other operators. A
   node with run-time inputs is converted by the handler of its ``op_type`` into
   one or more dag ops; static operands become ``dag.constant`` ops whose
   weights live in the module's resource store (``resources(ctx).add``).
4. Everything that cannot be imported is collected first; :class:`OnnxImportError`
   lists every offending node (op_type, node name, reason). Nothing partial is
   returned.

dag op names are the ONNX node names (the first output's name when a node has
none); a node that becomes several ops names them ``name``, ``name.1``, ...
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, numpy_helper
from xdsl.dialects.builtin import (
    DenseIntOrFPElementsAttr,
    DenseResourceAttr,
    IntegerType,
    ModuleOp,
    StringAttr,
    TensorType,
    UnitAttr,
    f16,
    f32,
    f64,
)
from xdsl.dialects.func import FuncOp, ReturnOp
from xdsl.ir import Attribute, Block, Region, SSAValue
from xdsl.utils.exceptions import VerifyException

from dagc.dialects import dag
from dagc.ir import Module, make_context, numpy_dtype, resources

__all__ = ["OnnxImportError", "UnsupportedNode", "import_onnx", "supported_ops"]

Value = SSAValue | np.ndarray
"""A converted ONNX value: run-time (an SSA value) or static (a NumPy array)."""

_FLOAT_TYPES = (f16, f32, f64)
_NP_TO_MLIR: dict[np.dtype, Attribute] = {
    np.dtype(np.float32): f32,
    np.dtype(np.float64): f64,
    np.dtype(np.float16): f16,
    np.dtype(np.int64): IntegerType(64),
    np.dtype(np.int32): IntegerType(32),
    np.dtype(np.int16): IntegerType(16),
    np.dtype(np.int8): IntegerType(8),
    np.dtype(np.bool_): IntegerType(1),
}
_SHAPE_QUERIES = frozenset({"Shape", "Size"})
_NONDETERMINISTIC = frozenset(
    {"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike",
     "Bernoulli", "Multinomial"}
)  # fmt: skip


# ----------------------------------------------------------------------------
# Errors
# ----------------------------------------------------------------------------


@dataclass(frozen=True)
class UnsupportedNode:
    """One ONNX node (or graph input) that does not import, and why."""

    op_type: str
    node_name: str
    reason: str

    def __str__(self) -> str:
        return f"  - {self.op_type} '{self.node_name}': {self.reason}"


class OnnxImportError(Exception):
    """An ONNX model could not be imported.

    ``problems`` lists every unsupported node (op_type, node name, reason), in
    graph order; the message repeats them, one per line.
    ``constant_inputs_needed`` names the graph inputs that are operator
    parameters (shapes, axes, pads, ...) dagc needs as constants: importing again
    with ``constant_inputs={name: array}`` may succeed.
    """

    def __init__(self, problems: Sequence[UnsupportedNode], model_name: str = "model",
                 constant_inputs_needed: Sequence[str] = ()):
        self.problems = list(problems)
        self.constant_inputs_needed = list(dict.fromkeys(constant_inputs_needed))
        ops = sorted({p.op_type for p in self.problems})
        head = (
            f"cannot import the ONNX {model_name}: {len(self.problems)} unsupported "
            f"node(s) (operators: {', '.join(ops)})"
        )
        super().__init__(head + "\n" + "\n".join(map(str, self.problems)))


class Unsupported(Exception):
    """Raised by a handler for an operator form dagc does not support."""


# ----------------------------------------------------------------------------
# Type helpers
# ----------------------------------------------------------------------------


def _mlir_type(dtype: np.dtype) -> Attribute:
    try:
        return _NP_TO_MLIR[np.dtype(dtype)]
    except (KeyError, TypeError):
        raise Unsupported(f"element type {dtype} is not supported") from None


def _onnx_elem(elem_type: int) -> Attribute:
    try:
        np_type = onnx.helper.tensor_dtype_to_np_dtype(elem_type)
    except (KeyError, ValueError):
        np_type = None
    if np_type is None or np.dtype(np_type) not in _NP_TO_MLIR:
        raise Unsupported(
            f"element type {TensorProto.DataType.Name(elem_type)} is not supported"
        )
    return _NP_TO_MLIR[np.dtype(np_type)]


def _shape(v: Value) -> tuple[int, ...]:
    if isinstance(v, SSAValue):
        assert isinstance(v.type, TensorType)
        return tuple(v.type.get_shape())
    return tuple(v.shape)


def _elem(v: Value) -> Attribute:
    if isinstance(v, SSAValue):
        assert isinstance(v.type, TensorType)
        return v.type.element_type
    return _mlir_type(v.dtype)


def _norm_axis(axis: int, rank: int) -> int:
    a = int(axis) + rank if int(axis) < 0 else int(axis)
    if not 0 <= a < max(rank, 1):
        raise Unsupported(f"axis {axis} out of range for rank {rank}")
    return a


def _attr_value(a: onnx.AttributeProto) -> Any:
    v = onnx.helper.get_attribute_value(a)
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, TensorProto):
        return numpy_helper.to_array(v)
    if isinstance(v, list) and v and isinstance(v[0], bytes):
        return [s.decode() for s in v]
    return v


def _contiguous(a: np.ndarray) -> np.ndarray:
    """A C-contiguous array of the same shape (0-d stays 0-d, unlike
    ``np.ascontiguousarray``)."""
    return np.asarray(a, order="C")


def _sanitize(name: str) -> str:
    s = re.sub(r"[^\w$.-]", "_", name)
    return s if s and not s[0].isdigit() else "v" + s


# ----------------------------------------------------------------------------
# The per-node context handed to handlers
# ----------------------------------------------------------------------------


class _Ctx:
    """A node being converted: its attributes, inputs and an op builder that
    names ops ``name``, ``name.1``, ... and auxiliary constants ``name.c0``..."""

    def __init__(self, imp: _Importer, node: onnx.NodeProto, version: int, name: str):
        self.imp = imp
        self.node = node
        self.op_type = node.op_type
        self.version = version
        self.name = name
        self.attrs = {a.name: _attr_value(a) for a in node.attribute}
        self._ops = 0
        self._aux = 0

    # -- attributes and inputs ----------------------------------------------

    def attr(self, key: str, default: Any = None) -> Any:
        return self.attrs.get(key, default)

    def has(self, i: int) -> bool:
        return i < len(self.node.input) and self.node.input[i] != ""

    def get(self, i: int) -> Value | None:
        return self.imp.env[self.node.input[i]] if self.has(i) else None

    def static(self, i: int, what: str) -> np.ndarray | None:
        """Input ``i`` as a NumPy array (None when absent).

        Raises:
            Unsupported: the input is computed at run time.
        """
        v = self.get(i)
        if isinstance(v, SSAValue):
            graph_input = self.imp.graph_inputs.get(v)
            if graph_input is not None:
                self.imp.needs_constant.append(graph_input)
                raise Unsupported(f"{what} must be static; it is the graph input "
                                  f"'{graph_input}' (pass it in constant_inputs=)")
            raise Unsupported(f"{what} must be static (it is computed at run time)")
        return v

    def value(self, i: int) -> SSAValue:
        """Input ``i`` as an SSA value (a static input becomes a ``dag.constant``)."""
        v = self.get(i)
        if v is None:
            raise Unsupported(f"input #{i} is required")
        if isinstance(v, SSAValue):
            return v
        return self.imp.materialize(self.node.input[i], v)

    def tensor(self, v: Value, hint: str | None = None) -> SSAValue:
        """``v`` as an SSA value; arrays become constants named ``hint`` or ``name.cK``."""
        if isinstance(v, SSAValue):
            return v
        if hint is None and id(v) in self.imp.static_names:
            name = self.imp.static_names[id(v)]
            return self.imp.materialize(name, v)
        if hint is None:
            hint = f"{self.name}.c{self._aux}"
            self._aux += 1
        return self.imp.constant(hint, v)

    # -- type checks -----------------------------------------------------------

    def require_float(self, *vs: Value) -> None:
        for v in vs:
            if _elem(v) not in _FLOAT_TYPES:
                raise Unsupported(f"element type {_elem(v)} (only f16/f32/f64 here)")

    def require_numeric(self, *vs: Value) -> None:
        for v in vs:
            e = _elem(v)
            if e == IntegerType(1):
                raise Unsupported("boolean tensors are not supported here")

    def common(self, *vs: Value, cast_static: bool = False) -> list[SSAValue]:
        """Operands as SSA values of one element type (that of the first run-time
        operand); static operands of another type are converted when
        ``cast_static`` (e.g. Pow's exponent).

        Raises:
            Unsupported: run-time operands of different element types.
        """
        runtime = [v for v in vs if isinstance(v, SSAValue)]
        elem = _elem(runtime[0]) if runtime else _elem(vs[0])
        out = []
        for v in vs:
            if _elem(v) != elem:
                if isinstance(v, np.ndarray) and cast_static:
                    v = v.astype(numpy_dtype(elem))
                else:
                    raise Unsupported(f"operand element types differ ({_elem(v)} vs {elem})")
            out.append(self.tensor(v))
        return out

    # -- op builders -------------------------------------------------------------

    def fresh(self) -> str:
        self._ops += 1
        return self.imp.unique(self.name if self._ops == 1 else f"{self.name}.{self._ops - 1}")

    def op(
        self,
        cls: type[dag.DagOp],
        operands: Sequence[SSAValue],
        props: Mapping[str, Attribute | None] | None = None,
        result_type: Attribute | None = None,
    ) -> SSAValue:
        """Append ``cls`` (named after the node) and return its result; the result
        type is inferred by the op unless given. The op is verified."""
        properties: dict[str, Attribute] = {"name": StringAttr(self.fresh())}
        properties.update({k: v for k, v in (props or {}).items() if v is not None})
        if result_type is None:
            probe = cls.create(operands=list(operands), result_types=[f32],
                               properties=properties)
            try:
                result_type = probe.infer_result_types()[0]
            finally:
                probe.drop_all_references()
        op = cls.create(operands=list(operands), result_types=[result_type],
                        properties=properties)
        op.verify()
        self.imp.block.add_op(op)
        return op.results[0]

    def scalar(self, value: float, like: SSAValue) -> SSAValue:
        """A 0-d inline constant with ``like``'s element type."""
        elem = _elem(like)
        ty = TensorType(elem, ())
        v = float(value) if elem in _FLOAT_TYPES else int(value)
        attr = DenseIntOrFPElementsAttr.from_list(ty, [v])
        op = dag.ConstantOp.create(
            result_types=[ty],
            properties={"name": StringAttr(self.imp.unique(f"{self.name}.c{self._aux}")),
                        "value": attr},
        )
        self._aux += 1
        self.imp.block.add_op(op)
        return op.result

    def unary(self, cls: type[dag.DagOp], x: SSAValue, props=None) -> SSAValue:
        return self.op(cls, [x], props)

    def binary(self, cls: type[dag.DagOp], a: Value | float, b: Value | float) -> SSAValue:
        """``cls(a, b)``; Python numbers become scalars of the other operand's type."""
        like = a if isinstance(a, SSAValue) else b
        assert isinstance(like, SSAValue)
        a = self.scalar(a, like) if isinstance(a, (int, float)) else self.tensor(a)
        b = self.scalar(b, like) if isinstance(b, (int, float)) else self.tensor(b)
        return self.op(cls, [a, b])

    def reshape(self, x: Value, shape: Sequence[int]) -> Value:
        shape = tuple(int(s) for s in shape)
        if isinstance(x, np.ndarray):
            return x.reshape(shape)
        if shape == _shape(x):
            return x
        return self.op(dag.ReshapeOp, [x], result_type=TensorType(_elem(x), shape))

    def permute(self, x: SSAValue, perm: Sequence[int]) -> SSAValue:
        perm = [int(p) for p in perm]
        if perm == list(range(len(perm))):
            return x
        return self.op(dag.PermuteOp, [x], {"perm": dag.ints(perm)})

    def slice(self, x: SSAValue, dim: int, start: int, end: int, step: int = 1) -> SSAValue:
        if (start, end, step) == (0, _shape(x)[dim], 1):
            return x
        return self.op(dag.SliceOp, [x], {
            "dim": dag.int_attr(dim), "start": dag.int_attr(start),
            "end": dag.int_attr(end), "step": dag.int_attr(step)})

    def concat(self, xs: Sequence[SSAValue], dim: int) -> SSAValue:
        if len(xs) == 1:
            return xs[0]
        return self.op(dag.ConcatOp, list(xs), {"dim": dag.int_attr(dim)})

    def pad(self, x: SSAValue, torch_pads: Sequence[int], mode: str = "constant",
            value: float = 0.0) -> SSAValue:
        """``F.pad`` semantics: (before, after) pairs from the last dim."""
        pads = [int(p) for p in torch_pads]
        while len(pads) >= 2 and pads[-2:] == [0, 0]:
            pads = pads[:-2]
        if not pads:
            return x
        return self.op(dag.PadOp, [x], {"pads": dag.ints(pads), "mode": StringAttr(mode),
                                        "value": dag.float_attr(value)})


Handler = Callable[[_Ctx], Sequence[Value]]
_HANDLERS: dict[str, Handler] = {}
Folder = Callable[[_Ctx, list], Sequence[np.ndarray]]
_FOLDERS: dict[str, Folder] = {}


def _registrar(table: dict[str, Callable]) -> Callable[..., Callable[[Callable], Callable]]:
    def register(*op_types: str) -> Callable[[Callable], Callable]:
        def deco(fn: Callable) -> Callable:
            table.update(dict.fromkeys(op_types, fn))
            return fn

        return deco

    return register


_handles = _registrar(_HANDLERS)
"""Register a converter for nodes with run-time inputs: ``@_handles("Relu")``."""
_folds = _registrar(_FOLDERS)
"""Register a NumPy evaluator for nodes whose inputs are all static."""


def supported_ops() -> frozenset[str]:
    """ONNX op_types (default domain) that import with run-time inputs.

    ``Shape`` and ``Size`` always fold (shapes are static). Other deterministic
    operators still import when all their inputs are static (they are folded into
    constants).
    """
    return frozenset(_HANDLERS) | _SHAPE_QUERIES


# ----------------------------------------------------------------------------
# Elementwise operators
# ----------------------------------------------------------------------------

_BINARY = {"Add": dag.AddOp, "Sub": dag.SubOp, "Mul": dag.MulOp, "Div": dag.DivOp,
           "Pow": dag.PowOp}


def _legacy_broadcast(cx: _Ctx, a: Value, b: Value) -> Value:
    """Opset < 7 ``broadcast=1, axis=k``: ``b``'s dims match ``a``'s from ``axis``."""
    axis = cx.attr("axis")
    if not cx.attr("broadcast", 0) or axis is None:
        return b
    rank, sb = len(_shape(a)), _shape(b)
    axis = _norm_axis(axis, rank)
    return cx.reshape(b, sb + (1,) * (rank - axis - len(sb)))


@_handles(*_BINARY)
def _binary(cx: _Ctx) -> list[Value]:
    cls = _BINARY[cx.op_type]
    a, b = cx.get(0), cx.get(1)
    if cx.version < 7:
        b = _legacy_broadcast(cx, a, b)
    if cls in (dag.DivOp, dag.PowOp):
        cx.require_float(a)
    else:
        cx.require_numeric(a)
    lhs, rhs = cx.common(a, b, cast_static=cls is dag.PowOp)
    return [cx.op(cls, [lhs, rhs])]


_VARIADIC = {"Sum": dag.AddOp, "Mean": dag.AddOp, "Max": dag.MaximumOp, "Min": dag.MinimumOp}


@_handles(*_VARIADIC)
def _variadic(cx: _Ctx) -> list[Value]:
    vals = [cx.get(i) for i in range(len(cx.node.input)) if cx.has(i)]
    if cx.op_type == "Mean":
        cx.require_float(*vals)
    else:
        cx.require_numeric(*vals)
    operands = cx.common(*vals)
    acc = operands[0]
    for o in operands[1:]:
        acc = cx.op(_VARIADIC[cx.op_type], [acc, o])
    if cx.op_type == "Mean" and len(operands) > 1:
        acc = cx.binary(dag.DivOp, acc, float(len(operands)))
    return [acc]


_UNARY = {
    "Neg": dag.NegOp, "Abs": dag.AbsOp, "Relu": dag.ReluOp,  # also integers
    "Sqrt": dag.SqrtOp, "Exp": dag.ExpOp, "Log": dag.LogOp, "Erf": dag.ErfOp,
    "Tanh": dag.TanhOp, "Sigmoid": dag.SigmoidOp, "HardSwish": dag.HardswishOp,
}  # fmt: skip


@_handles(*_UNARY)
def _unary(cx: _Ctx) -> list[Value]:
    x = cx.value(0)
    if cx.op_type in ("Neg", "Abs", "Relu"):
        cx.require_numeric(x)
    else:
        cx.require_float(x)
    return [cx.unary(_UNARY[cx.op_type], x)]


@_handles("Reciprocal")
def _reciprocal(cx: _Ctx) -> list[Value]:
    x = cx.value(0)
    cx.require_float(x)
    return [cx.binary(dag.DivOp, 1.0, x)]


def _negative_part(cx: _Ctx, x: SSAValue) -> SSAValue:
    """``min(x, 0)``."""
    return cx.binary(dag.MinimumOp, x, 0.0)


def _expm1_negative_part(cx: _Ctx, x: SSAValue) -> SSAValue:
    """``min(exp(x) - 1, 0)``: the negative branch of ELU-like activations."""
    return _negative_part(cx, cx.binary(dag.SubOp, cx.unary(dag.ExpOp, x), 1.0))


@_handles("Elu", "Selu")
def _elu(cx: _Ctx) -> list[Value]:
    """Elu (Clevert et al. 2016) and Selu (Klambauer et al. 2017) as
    ``gamma * (relu(x) + alpha * min(exp(x) - 1, 0))``."""
    x = cx.value(0)
    cx.require_float(x)
    if cx.op_type == "Elu":
        alpha, gamma = cx.attr("alpha", 1.0), 1.0
    else:
        alpha = cx.attr("alpha", 1.67326319217681884765625)
        gamma = cx.attr("gamma", 1.05070102214813232421875)
    y = cx.binary(dag.AddOp, cx.unary(dag.ReluOp, x),
                  cx.binary(dag.MulOp, _expm1_negative_part(cx, x), alpha))
    return [y if gamma == 1.0 else cx.binary(dag.MulOp, y, gamma)]


@_handles("Celu")
def _celu(cx: _Ctx) -> list[Value]:
    """``max(0, x) + min(0, alpha * (exp(x / alpha) - 1))`` (Barron 2017), alpha > 0."""
    x = cx.value(0)
    cx.require_float(x)
    alpha = cx.attr("alpha", 1.0)
    if alpha <= 0:
        raise Unsupported("alpha must be positive")
    scaled = cx.binary(dag.DivOp, x, alpha) if alpha != 1.0 else x
    neg = _expm1_negative_part(cx, scaled)
    if alpha != 1.0:
        neg = cx.binary(dag.MulOp, neg, alpha)
    return [cx.binary(dag.AddOp, cx.unary(dag.ReluOp, x), neg)]


@_handles("Swish")
def _swish(cx: _Ctx) -> list[Value]:
    """``x * sigmoid(alpha * x)`` (Ramachandran et al. 2017); ``dag.silu`` at alpha 1."""
    x = cx.value(0)
    cx.require_float(x)
    alpha = cx.attr("alpha", 1.0)
    if alpha == 1.0:
        return [cx.unary(dag.SiluOp, x)]
    return [cx.binary(dag.MulOp, x, cx.unary(dag.SigmoidOp, cx.binary(dag.MulOp, x, alpha)))]


@_handles("Softsign")
def _softsign(cx: _Ctx) -> list[Value]:
    x = cx.value(0)
    cx.require_float(x)
    return [cx.binary(dag.DivOp, x, cx.binary(dag.AddOp, cx.unary(dag.AbsOp, x), 1.0))]


def _softplus_of(cx: _Ctx, x: SSAValue) -> SSAValue:
    """``log(1 + exp(x))`` evaluated stably as ``relu(x) + log(1 + exp(-|x|))``."""
    t = cx.unary(dag.ExpOp, cx.unary(dag.NegOp, cx.unary(dag.AbsOp, x)))
    return cx.binary(dag.AddOp, cx.unary(dag.ReluOp, x),
                     cx.unary(dag.LogOp, cx.binary(dag.AddOp, t, 1.0)))


@_handles("Softplus")
def _softplus(cx: _Ctx) -> list[Value]:
    x = cx.value(0)
    cx.require_float(x)
    return [_softplus_of(cx, x)]


@_handles("Mish")
def _mish(cx: _Ctx) -> list[Value]:
    """``x * tanh(softplus(x))`` (Misra 2019)."""
    x = cx.value(0)
    cx.require_float(x)
    return [cx.binary(dag.MulOp, x, cx.unary(dag.TanhOp, _softplus_of(cx, x)))]


@_handles("PRelu")
def _prelu(cx: _Ctx) -> list[Value]:
    """``relu(x) + slope * min(x, 0)``; before opset 7 a 1-D slope runs along dim 1."""
    x, slope = cx.value(0), cx.get(1)
    cx.require_float(x)
    xs, ss = _shape(x), _shape(slope)
    if cx.version < 7 and len(ss) == 1 and len(xs) > 2 and ss[0] == xs[1] != xs[-1]:
        slope = cx.reshape(slope, (ss[0],) + (1,) * (len(xs) - 2))
    slope = cx.common(x, slope)[1]
    neg = cx.op(dag.MulOp, [_negative_part(cx, x), slope])
    return [cx.binary(dag.AddOp, cx.unary(dag.ReluOp, x), neg)]


@_handles("LeakyRelu")
def _leaky_relu(cx: _Ctx) -> list[Value]:
    x = cx.value(0)
    cx.require_float(x)
    return [cx.unary(dag.LeakyReluOp, x,
                     {"negative_slope": dag.float_attr(cx.attr("alpha", 0.01))})]


@_handles("HardSigmoid")
def _hard_sigmoid(cx: _Ctx) -> list[Value]:
    """``clamp(alpha * x + beta, 0, 1)``; ``dag.hardsigmoid`` when alpha = 1/6."""
    x = cx.value(0)
    cx.require_float(x)
    alpha, beta = cx.attr("alpha", 0.2), cx.attr("beta", 0.5)
    if math.isclose(alpha, 1 / 6, rel_tol=1e-6) and beta == 0.5:
        return [cx.unary(dag.HardsigmoidOp, x)]
    y = cx.binary(dag.AddOp, cx.binary(dag.MulOp, x, alpha), beta)
    return [cx.unary(dag.ClampOp, y, {"min": dag.float_attr(0.0), "max": dag.float_attr(1.0)})]


@_handles("Gelu")
def _gelu(cx: _Ctx) -> list[Value]:
    x = cx.value(0)
    cx.require_float(x)
    approx = cx.attr("approximate", "none")
    if approx not in ("none", "tanh"):
        raise Unsupported(f"approximate={approx!r}")
    return [cx.unary(dag.GeluOp, x, {"approximate": StringAttr(approx)})]


@_handles("Clip")
def _clip(cx: _Ctx) -> list[Value]:
    x = cx.value(0)
    cx.require_float(x)
    if cx.version < 11:
        lo, hi = cx.attr("min"), cx.attr("max")
    else:
        lo_a, hi_a = cx.static(1, "min"), cx.static(2, "max")
        lo = None if lo_a is None else float(lo_a.reshape(-1)[0])
        hi = None if hi_a is None else float(hi_a.reshape(-1)[0])
    lo = None if lo is None or lo <= -3.4e38 else lo
    hi = None if hi is None or hi >= 3.4e38 else hi
    if lo is None and hi is None:
        return [x]
    return [cx.unary(dag.ClampOp, x, {"min": None if lo is None else dag.float_attr(lo),
                                      "max": None if hi is None else dag.float_attr(hi)})]


@_handles("Softmax", "LogSoftmax")
def _softmax(cx: _Ctx) -> list[Value]:
    """Before opset 13 the input is flattened to 2-D at ``axis`` (default 1) and
    normalised over the second dim; from 13 on, over ``axis`` (default -1)."""
    x = cx.value(0)
    cx.require_float(x)
    cls = dag.SoftmaxOp if cx.op_type == "Softmax" else dag.LogSoftmaxOp
    xs = _shape(x)
    rank = len(xs)
    if rank == 0:
        raise Unsupported("softmax of a 0-d tensor")
    axis = _norm_axis(cx.attr("axis", 1 if cx.version < 13 else -1), rank)
    if cx.version < 13 and axis != rank - 1:
        flat = cx.reshape(x, (math.prod(xs[:axis]), math.prod(xs[axis:])))
        y = cx.unary(cls, flat, {"dim": dag.int_attr(1)})
        return [cx.reshape(y, xs)]
    return [cx.unary(cls, x, {"dim": dag.int_attr(axis)})]


# ----------------------------------------------------------------------------
# Matrix products
# ----------------------------------------------------------------------------


def _matmul_shape(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    """``numpy.matmul``'s result shape."""
    a2 = (1,) + a if len(a) == 1 else a
    b2 = b + (1,) if len(b) == 1 else b
    batch = dag.broadcast_shapes(a2[:-2], b2[:-2])
    out = (*batch, a2[-2], b2[-1])
    if len(a) == 1:
        out = out[:-2] + out[-1:]
    if len(b) == 1:
        out = out[:-1]
    return out


@_handles("MatMul")
def _matmul(cx: _Ctx) -> list[Value]:
    """``dag.linear`` when the right operand is a static matrix (its transpose
    becomes the weight), else ``dag.matmul``; 1-D operands are reshaped to 2-D and
    back, as ``numpy.matmul`` does."""
    a, b = cx.get(0), cx.get(1)
    cx.require_float(a)
    sa, sb = _shape(a), _shape(b)
    if not sa or not sb:
        raise Unsupported("0-d operand")
    out = _matmul_shape(sa, sb)
    a = cx.common(a, b)[0]
    a2 = cx.reshape(a, (1,) + sa) if len(sa) == 1 else a
    if isinstance(b, np.ndarray) and b.ndim == 2:
        w = cx.tensor(_contiguous(b.T).astype(b.dtype),
                      hint=cx.node.input[1] + ".T")
        y = cx.op(dag.LinearOp, [a2, w])
    else:
        b = cx.tensor(b)
        b2 = cx.reshape(b, sb + (1,)) if len(sb) == 1 else b
        y = cx.op(dag.MatmulOp, [a2, b2])
    return [cx.reshape(y, out)]


@_handles("Gemm")
def _gemm(cx: _Ctx) -> list[Value]:
    """``alpha * A' @ B' + beta * C``; with a static B it becomes ``dag.linear``
    (alpha folded into the weight, beta * C into the bias when C is a vector)."""
    a, b, c = cx.value(0), cx.get(1), cx.get(2)
    cx.require_float(a)
    alpha, beta = cx.attr("alpha", 1.0), cx.attr("beta", 1.0)
    if cx.attr("transA", 0):
        a = cx.permute(a, [1, 0])
    dtype = numpy_dtype(_elem(a))
    trans_b = cx.attr("transB", 0)
    n = _shape(b)[0 if trans_b else 1]
    if isinstance(b, np.ndarray):
        if trans_b and alpha == 1.0 and b.dtype == dtype:
            weight = cx.tensor(b)  # the initializer itself
        else:
            w = _contiguous(((b if trans_b else b.T) * alpha).astype(dtype))
            weight = cx.tensor(w, cx.node.input[1] + ("" if trans_b else ".T"))
        operands = [a, weight]
        if isinstance(c, np.ndarray) and c.size in (1, n) and c.ndim <= 2 and (
                c.ndim < 2 or c.shape[0] == 1):
            if beta == 1.0 and c.shape == (n,) and c.dtype == dtype:
                operands.append(cx.tensor(c))
            else:
                bias = np.broadcast_to((c * beta).reshape(-1), (n,)).astype(dtype)
                operands.append(cx.tensor(_contiguous(bias), cx.node.input[2]))
            c = None
        y = cx.op(dag.LinearOp, operands)
    else:
        bt = cx.permute(b, [1, 0]) if trans_b else b
        y = cx.op(dag.MatmulOp, cx.common(a, bt))
        if alpha != 1.0:
            y = cx.binary(dag.MulOp, y, alpha)
    if c is not None and beta != 0.0:
        if isinstance(c, np.ndarray):
            c = (c * beta).astype(dtype) if beta != 1.0 else c
        elif beta != 1.0:
            c = cx.binary(dag.MulOp, c, beta)
        y = cx.op(dag.AddOp, cx.common(y, c))
    return [y]


# ----------------------------------------------------------------------------
# Convolution and pooling
# ----------------------------------------------------------------------------


@dataclass
class _Window:
    """Resolved window attributes of a conv/pool node (per spatial dim)."""

    kernel: list[int]
    strides: list[int]
    dilations: list[int]
    begin: list[int]
    end: list[int]

    @property
    def symmetric(self) -> bool:
        return self.begin == self.end


def _window(cx: _Ctx, spatial: Sequence[int], kernel: Sequence[int],
            dilations: bool = True) -> _Window:
    """Strides, dilations and (begin, end) pads, resolving ``auto_pad``."""
    n = len(spatial)
    k = [int(v) for v in kernel]
    if cx.attr("kernel_shape") is not None and list(cx.attr("kernel_shape")) != k:
        raise Unsupported(f"kernel_shape {cx.attr('kernel_shape')} does not match the weight")
    s = [int(v) for v in cx.attr("strides", [1] * n)]
    d = [int(v) for v in cx.attr("dilations", [1] * n)] if dilations else [1] * n
    if len(s) != n or len(d) != n:
        raise Unsupported("strides/dilations do not match the spatial rank")
    auto = cx.attr("auto_pad", "NOTSET")
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        begin, end = [], []
        for i in range(n):
            out = -(-spatial[i] // s[i])
            total = max((out - 1) * s[i] + (k[i] - 1) * d[i] + 1 - spatial[i], 0)
            small, big = total // 2, total - total // 2
            begin.append(small if auto == "SAME_UPPER" else big)
            end.append(big if auto == "SAME_UPPER" else small)
    elif auto == "VALID":
        begin, end = [0] * n, [0] * n
    elif auto == "NOTSET":
        pads = [int(v) for v in cx.attr("pads", [0] * 2 * n)]
        if len(pads) != 2 * n:
            raise Unsupported("pads do not match the spatial rank")
        begin, end = pads[:n], pads[n:]
    else:
        raise Unsupported(f"auto_pad={auto!r}")
    return _Window(k, s, d, begin, end)


def _torch_pads(begin: Sequence[int], end: Sequence[int]) -> list[int]:
    """ONNX (begin..., end...) spatial pads as F.pad's pairs from the last dim."""
    return [p for i in reversed(range(len(begin))) for p in (begin[i], end[i])]


def _spatial_1d_to_2d(cx: _Ctx, x: Value, win: _Window) -> tuple[Value, _Window]:
    """View ``N x C x L`` as ``N x C x 1 x L`` (and a window over L as 1 x K)."""
    xs = _shape(x)
    x = cx.reshape(x, xs[:2] + (1,) + xs[2:])
    return x, _Window([1] + win.kernel, [1] + win.strides, [1] + win.dilations,
                      [0] + win.begin, [0] + win.end)


def _conv_operands(cx: _Ctx, what: str) -> tuple[SSAValue, Value, tuple, tuple, int]:
    """Input, weight, their shapes and the spatial rank (1 or 2) of a (transposed)
    convolution."""
    x, w = cx.value(0), cx.get(1)
    cx.require_float(x)
    xs, ws = _shape(x), _shape(w)
    nsp = len(xs) - 2
    if nsp not in (1, 2) or len(ws) != len(xs):
        raise Unsupported(f"{nsp}-D {what} (dag has 2-D ones)")
    return x, w, xs, ws, nsp


def _squeeze_dim2(cx: _Ctx, y: SSAValue) -> Value:
    """``N x C x 1 x L`` back to ``N x C x L``."""
    ys = _shape(y)
    return cx.reshape(y, ys[:2] + ys[3:])


@_handles("Conv")
def _conv(cx: _Ctx) -> list[Value]:
    """1-D and 2-D convolution; 1-D runs as 2-D over ``1 x L``; asymmetric pads
    (``SAME_*``) become an explicit ``dag.pad``."""
    x, w, xs, ws, nsp = _conv_operands(cx, "convolution")
    win = _window(cx, xs[2:], ws[2:])
    if nsp == 1:
        x, win = _spatial_1d_to_2d(cx, x, win)
        w = cx.reshape(w, ws[:2] + (1,) + ws[2:])
    weight = cx.common(x, w)[1] if isinstance(w, SSAValue) else cx.tensor(
        w, None if nsp == 2 else cx.node.input[1])
    if not win.symmetric:
        x = cx.pad(x, _torch_pads(win.begin, win.end))
        pad = [0, 0]
    else:
        pad = win.begin
    operands = [x, weight] + ([cx.value(2)] if cx.has(2) else [])
    y = cx.op(dag.Conv2dOp, operands, {
        "stride": dag.ints(win.strides), "padding": dag.ints(pad),
        "dilation": dag.ints(win.dilations), "groups": dag.int_attr(cx.attr("group", 1))})
    return [_squeeze_dim2(cx, y) if nsp == 1 else y]


@_handles("ConvTranspose")
def _conv_transpose(cx: _Ctx) -> list[Value]:
    """1-D and 2-D transposed convolution. Pads follow ONNX: ``output_shape`` or
    ``SAME_*`` give a total padding split between begin and end; unequal begin/end
    pads run the full transposed convolution and slice (and zero-pad) the result,
    adding the bias last."""
    x, w, xs, ws, nsp = _conv_operands(cx, "transposed convolution")
    k = list(ws[2:])
    if cx.attr("kernel_shape") is not None and list(cx.attr("kernel_shape")) != k:
        raise Unsupported("kernel_shape does not match the weight")
    s = [int(v) for v in cx.attr("strides", [1] * nsp)]
    d = [int(v) for v in cx.attr("dilations", [1] * nsp)]
    op_ = [int(v) for v in cx.attr("output_padding", [0] * nsp)]
    group = cx.attr("group", 1)
    auto = cx.attr("auto_pad", "NOTSET")
    out_shape = cx.attr("output_shape")
    if out_shape is not None or auto in ("SAME_UPPER", "SAME_LOWER"):
        if out_shape is None:
            target = [xs[2 + i] * s[i] for i in range(nsp)]
        else:
            target = [int(v) for v in out_shape][-nsp:]
        begin, end = [], []
        for i in range(nsp):
            total = s[i] * (xs[2 + i] - 1) + op_[i] + (k[i] - 1) * d[i] + 1 - target[i]
            if auto == "SAME_UPPER":
                begin.append(total // 2)
                end.append(total - total // 2)
            else:
                begin.append(total - total // 2)
                end.append(total // 2)
    elif auto == "VALID" or auto == "NOTSET":
        pads = [int(v) for v in cx.attr("pads", [0] * 2 * nsp)] if auto == "NOTSET" else None
        pads = pads or [0] * 2 * nsp
        begin, end = pads[:nsp], pads[nsp:]
    else:
        raise Unsupported(f"auto_pad={auto!r}")
    if nsp == 1:
        x = cx.reshape(x, xs[:2] + (1,) + xs[2:])
        w = cx.reshape(w, ws[:2] + (1,) + ws[2:])
        k, s, d, op_, begin, end = [1] + k, [1] + s, [1] + d, [0] + op_, [0] + begin, [0] + end
    weight = cx.common(x, w)[1] if isinstance(w, SSAValue) else cx.tensor(
        w, None if nsp == 2 else cx.node.input[1])
    bias = cx.value(2) if cx.has(2) else None
    props = {"stride": dag.ints(s), "dilation": dag.ints(d), "groups": dag.int_attr(group)}
    direct = begin == end and all(op_[i] < max(s[i], d[i]) for i in range(2))
    if direct:
        props.update(padding=dag.ints(begin), output_padding=dag.ints(op_))
        y = cx.op(dag.ConvTranspose2dOp, [x, weight] + ([bias] if bias is not None else []), props)
    else:
        props.update(padding=dag.ints([0, 0]), output_padding=dag.ints([0, 0]))
        y = cx.op(dag.ConvTranspose2dOp, [x, weight], props)
        full = _shape(y)[2:]
        want = [full[i] + op_[i] - begin[i] - end[i] for i in range(2)]
        before = [max(-begin[i], 0) for i in range(2)]
        after = [max(begin[i] + want[i] - full[i], 0) for i in range(2)]
        y = cx.pad(y, [before[1], after[1], before[0], after[0]])
        for i in range(2):
            start = begin[i] + before[i]
            y = cx.slice(y, 2 + i, start, start + want[i])
        if bias is not None:
            y = cx.op(dag.AddOp, [y, cx.reshape(bias, (_shape(bias)[0], 1, 1))])
    return [_squeeze_dim2(cx, y) if nsp == 1 else y]


def _onnx_pool_size(size: int, k: int, s: int, d: int, b: int, e: int, ceil: bool) -> int:
    """ONNX's pooled extent (the reference implementation's rule)."""
    num = size + b + e - d * (k - 1) - 1
    out = (-(-num // s) if ceil else num // s) + 1
    if ceil and (out - 1) * s >= size + b:
        out -= 1
    return out


def _pool(cx: _Ctx, is_max: bool) -> list[Value]:
    x = cx.value(0)
    cx.require_float(x)
    xs = _shape(x)
    nsp = len(xs) - 2
    if nsp not in (1, 2):
        raise Unsupported(f"{nsp}-D pooling (dag has 2-D pooling)")
    if cx.attr("kernel_shape") is None:
        raise Unsupported("no kernel_shape")
    win = _window(cx, xs[2:], cx.attr("kernel_shape"), dilations=True)
    ceil = bool(cx.attr("ceil_mode", 0))
    count_pad = bool(cx.attr("count_include_pad", 0))
    if not is_max and win.dilations != [1] * nsp:
        raise Unsupported("dilated average pooling")
    expected = [_onnx_pool_size(xs[2 + i], win.kernel[i], win.strides[i], win.dilations[i],
                                win.begin[i], win.end[i], ceil) for i in range(nsp)]
    if nsp == 1:
        x, win = _spatial_1d_to_2d(cx, x, win)
    explicit = not win.symmetric or any(2 * win.begin[i] > win.kernel[i] for i in range(2))
    in_hw = _shape(x)[2:]
    if explicit:
        x = cx.pad(x, _torch_pads(win.begin, win.end), "constant",
                   float("-inf") if is_max else 0.0)
        pad = [0, 0]
    else:
        pad = win.begin
    props = {"kernel": dag.ints(win.kernel), "stride": dag.ints(win.strides),
             "padding": dag.ints(pad), "ceil_mode": UnitAttr() if ceil else None}
    if is_max:
        props["dilation"] = dag.ints(win.dilations)
        y = cx.op(dag.MaxPool2dOp, [x], props)
    else:
        props["count_include_pad"] = UnitAttr() if count_pad or explicit else None
        y = cx.op(dag.AvgPool2dOp, [x], props)
        if explicit and not count_pad:
            # PyTorch divided by the window clipped to the padded input; ONNX
            # divides by the number of input elements in the window.
            factor = _avg_pool_rescale(in_hw, win, ceil, _shape(y)[2:])
            y = cx.op(dag.MulOp, [y, cx.tensor(factor.astype(numpy_dtype(_elem(y))))])
    if nsp == 1:
        y = _squeeze_dim2(cx, y)
    if list(_shape(y)[2:]) != expected:
        raise Unsupported(f"ceil_mode output size {list(_shape(y)[2:])} differs from "
                          f"ONNX's {expected}")
    return [y]


def _avg_pool_rescale(size: Sequence[int], win: _Window, ceil: bool,
                      out: Sequence[int]) -> np.ndarray:
    """``torch divisor / valid count`` per output position of a 2-D average pool
    run on the explicitly padded input (shape ``OH x OW``)."""
    factors = []
    for i in range(2):
        padded = size[i] + win.begin[i] + win.end[i]
        start = np.arange(out[i]) * win.strides[i]
        stop = np.minimum(start + win.kernel[i], padded)
        valid = (np.minimum(stop, win.begin[i] + size[i])
                 - np.maximum(start, win.begin[i])).clip(min=0)
        factors.append((stop - start) / np.maximum(valid, 1))
    return np.outer(factors[0], factors[1])


@_handles("MaxPool")
def _max_pool(cx: _Ctx) -> list[Value]:
    if cx.attr("storage_order", 0) and len(cx.node.output) > 1:
        raise Unsupported("storage_order")
    return _pool(cx, True)


@_handles("AveragePool")
def _avg_pool(cx: _Ctx) -> list[Value]:
    return _pool(cx, False)


@_handles("GlobalAveragePool")
def _global_avg_pool(cx: _Ctx) -> list[Value]:
    x = cx.value(0)
    cx.require_float(x)
    dims = list(range(2, len(_shape(x))))
    if not dims:
        raise Unsupported("input without spatial dims")
    return [cx.unary(dag.MeanOp, x, {"dims": dag.ints(dims), "keepdim": UnitAttr()})]


@_handles("GlobalMaxPool")
def _global_max_pool(cx: _Ctx) -> list[Value]:
    x = cx.value(0)
    cx.require_float(x)
    xs = _shape(x)
    if len(xs) not in (3, 4):
        raise Unsupported(f"{len(xs) - 2}-D global max pooling")
    x4 = cx.reshape(x, xs[:2] + (1,) + xs[2:]) if len(xs) == 3 else x
    k = _shape(x4)[2:]
    y = cx.unary(dag.MaxPool2dOp, x4, {
        "kernel": dag.ints(k), "stride": dag.ints(k), "padding": dag.ints([0, 0]),
        "dilation": dag.ints([1, 1])})
    return [cx.reshape(y, xs[:2] + (1,) * (len(xs) - 2))]


# ----------------------------------------------------------------------------
# Normalisation
# ----------------------------------------------------------------------------


@_handles("BatchNormalization")
def _batch_norm(cx: _Ctx) -> list[Value]:
    if cx.attr("training_mode", 0):
        raise Unsupported("training_mode=1")
    if not cx.attr("spatial", 1):
        raise Unsupported("spatial=0")
    if 6 <= cx.version < 7 and not cx.attr("is_test", 0) and len(cx.node.output) > 1:
        raise Unsupported("is_test=0 (training)")
    x = cx.value(0)
    cx.require_float(x)
    scale, bias, mean, var = cx.common(x, *(cx.get(i) for i in range(1, 5)))[1:]
    return [cx.op(dag.BatchNormOp, [x, mean, var, scale, bias],
                  {"eps": dag.float_attr(cx.attr("epsilon", 1e-5))})]


@_handles("InstanceNormalization")
def _instance_norm(cx: _Ctx) -> list[Value]:
    """Instance norm (Ulyanov et al. 2016) is group norm with one group per channel."""
    x = cx.value(0)
    cx.require_float(x)
    scale, bias = cx.common(x, cx.get(1), cx.get(2))[1:]
    return [cx.op(dag.GroupNormOp, [x, scale, bias], {
        "num_groups": dag.int_attr(_shape(x)[1]),
        "eps": dag.float_attr(cx.attr("epsilon", 1e-5))})]


@_handles("LayerNormalization")
def _layer_norm(cx: _Ctx) -> list[Value]:
    x = cx.value(0)
    cx.require_float(x)
    xs = _shape(x)
    axis = _norm_axis(cx.attr("axis", -1), len(xs))
    norm = xs[axis:]
    dtype = numpy_dtype(_elem(x))
    params = []
    for i, fill in ((1, 1.0), (2, 0.0)):
        p = cx.get(i)
        if p is None:
            p = np.full(norm, fill, dtype)
        if _shape(p) != norm:
            if isinstance(p, np.ndarray):
                p = _contiguous(np.broadcast_to(p, norm))
            else:
                raise Unsupported(f"run-time scale/bias of shape {list(_shape(p))}")
        params.append(p)
    scale, bias = cx.common(x, *params)[1:]
    eps = cx.attr("epsilon", 1e-5)
    y = cx.op(dag.LayerNormOp, [x, scale, bias], {"eps": dag.float_attr(eps)})
    if not any(o in cx.imp.used for o in cx.node.output[1:]):
        return [y]
    # Mean and InvStdDev, as the function body of LayerNormalization computes them.
    dims = {"dims": dag.ints(range(axis, len(xs))), "keepdim": UnitAttr()}
    mean = cx.unary(dag.MeanOp, x, dims)
    d = cx.op(dag.SubOp, [x, mean])
    var = cx.unary(dag.MeanOp, cx.op(dag.MulOp, [d, d]), dims)
    return [y, mean, cx.unary(dag.RsqrtOp, cx.binary(dag.AddOp, var, eps))]


@_handles("GroupNormalization")
def _group_norm(cx: _Ctx) -> list[Value]:
    """Opset 21 scales per channel; opset 18 per group (repeated per channel)."""
    x = cx.value(0)
    cx.require_float(x)
    c, g = _shape(x)[1], cx.attr("num_groups")
    params = []
    for i in (1, 2):
        p = cx.get(i)
        if _shape(p) == (g,) and g != c and cx.version < 21:
            if not isinstance(p, np.ndarray):
                raise Unsupported("run-time per-group scale/bias")
            p = np.repeat(p, c // g)
        params.append(p)
    scale, bias = cx.common(x, *params)[1:]
    return [cx.op(dag.GroupNormOp, [x, scale, bias], {
        "num_groups": dag.int_attr(g), "eps": dag.float_attr(cx.attr("epsilon", 1e-5))})]


@_handles("LpNormalization")
def _lp_normalization(cx: _Ctx) -> list[Value]:
    """``x / ||x||_p`` along ``axis`` (p = 1 or 2)."""
    x = cx.value(0)
    cx.require_float(x)
    axis, p = _norm_axis(cx.attr("axis", -1), len(_shape(x))), cx.attr("p", 2)
    if p not in (1, 2):
        raise Unsupported(f"p={p}")
    t = cx.unary(dag.AbsOp, x) if p == 1 else cx.op(dag.MulOp, [x, x])
    norm = cx.unary(dag.SumOp, t, {"dims": dag.ints([axis]), "keepdim": UnitAttr()})
    if p == 2:
        norm = cx.unary(dag.SqrtOp, norm)
    # A zero vector stays zero (x / max(norm, tiny)), as in ONNX's function body.
    tiny = float(np.finfo(numpy_dtype(_elem(x))).tiny)
    return [cx.op(dag.DivOp, [x, cx.binary(dag.MaximumOp, norm, tiny)])]


# ----------------------------------------------------------------------------
# Reductions
# ----------------------------------------------------------------------------


def _reduce_dims(cx: _Ctx, rank: int) -> list[int] | None:
    """Reduced dims (sorted); None means identity (``noop_with_empty_axes``)."""
    from_input = cx.version >= 18 or (cx.op_type == "ReduceSum" and cx.version >= 13)
    axes = cx.static(1, "axes") if from_input else cx.attr("axes")
    if axes is None or len(axes) == 0:
        if cx.attr("noop_with_empty_axes", 0):
            return None
        return list(range(rank))
    return sorted({_norm_axis(a, rank) for a in np.asarray(axes).reshape(-1)})


_REDUCE = ("ReduceMean", "ReduceSum", "ReduceSumSquare", "ReduceL1", "ReduceL2",
           "ReduceLogSum", "ReduceLogSumExp")


@_handles(*_REDUCE)
def _reduce(cx: _Ctx) -> list[Value]:
    x = cx.value(0)
    cx.require_float(x)
    dims = _reduce_dims(cx, len(_shape(x)))
    if dims is None or not _shape(x):
        return [x]
    t = cx.op_type
    if t in ("ReduceSumSquare", "ReduceL2"):
        x = cx.op(dag.MulOp, [x, x])
    elif t == "ReduceL1":
        x = cx.unary(dag.AbsOp, x)
    elif t == "ReduceLogSumExp":
        x = cx.unary(dag.ExpOp, x)
    cls = dag.MeanOp if t == "ReduceMean" else dag.SumOp
    y = cx.unary(cls, x, {"dims": dag.ints(dims),
                          "keepdim": UnitAttr() if cx.attr("keepdims", 1) else None})
    if t == "ReduceL2":
        y = cx.unary(dag.SqrtOp, y)
    elif t in ("ReduceLogSum", "ReduceLogSumExp"):
        y = cx.unary(dag.LogOp, y)
    return [y]


# ----------------------------------------------------------------------------
# Shape manipulation
# ----------------------------------------------------------------------------


def _reshape_target(shape: Sequence[int], src: Sequence[int], allowzero: bool) -> list[int]:
    """ONNX Reshape's target: 0 copies the input dim (unless ``allowzero``), one -1
    is inferred."""
    out = [int(d) for d in shape]
    for i, d in enumerate(out):
        if d == 0 and not allowzero:
            if i >= len(src):
                raise Unsupported("0 in shape beyond the input's rank")
            out[i] = src[i]
    if out.count(-1) > 1:
        raise Unsupported("more than one -1 in shape")
    if -1 in out:
        known = math.prod(d for d in out if d != -1)
        if known == 0 or math.prod(src) % known:
            raise Unsupported(f"cannot reshape {list(src)} to {list(shape)}")
        out[out.index(-1)] = math.prod(src) // known
    if math.prod(out) != math.prod(src) or min(out, default=0) < 0:
        raise Unsupported(f"cannot reshape {list(src)} to {list(shape)}")
    return out


@_handles("Reshape")
def _reshape(cx: _Ctx) -> list[Value]:
    x = cx.value(0)
    shape = cx.attr("shape") if cx.version < 5 else cx.static(1, "shape")
    if shape is None:
        raise Unsupported("no target shape")
    return [cx.reshape(x, _reshape_target(list(np.asarray(shape).reshape(-1)), _shape(x),
                                          bool(cx.attr("allowzero", 0))))]


def _flatten_shape(xs: Sequence[int], axis: int) -> tuple[int, int]:
    axis = axis + len(xs) if axis < 0 else axis
    return (math.prod(xs[:axis]), math.prod(xs[axis:]))


@_handles("Flatten")
def _flatten(cx: _Ctx) -> list[Value]:
    x = cx.value(0)
    return [cx.reshape(x, _flatten_shape(_shape(x), cx.attr("axis", 1)))]


def _axes(cx: _Ctx, attr_before: int) -> list[int] | None:
    """``axes`` from the attribute (versions < ``attr_before``) or input #1."""
    axes = cx.attr("axes") if cx.version < attr_before else cx.static(1, "axes")
    return None if axes is None else [int(a) for a in np.asarray(axes).reshape(-1)]


def _squeeze_shape(xs: Sequence[int], axes: list[int] | None) -> list[int]:
    if axes is None:
        return [d for d in xs if d != 1]
    dims = {_norm_axis(a, len(xs)) for a in axes}
    if any(xs[d] != 1 for d in dims):
        raise Unsupported(f"squeezing a dim that is not 1 in {list(xs)}")
    return [d for i, d in enumerate(xs) if i not in dims]


def _unsqueeze_shape(xs: Sequence[int], axes: list[int]) -> list[int]:
    rank = len(xs) + len(axes)
    dims = sorted(_norm_axis(a, rank) for a in axes)
    out, it = [], iter(xs)
    for i in range(rank):
        out.append(1 if i in dims else next(it))
    return out


@_handles("Squeeze")
def _squeeze(cx: _Ctx) -> list[Value]:
    x = cx.value(0)
    return [cx.reshape(x, _squeeze_shape(_shape(x), _axes(cx, 13)))]


@_handles("Unsqueeze")
def _unsqueeze(cx: _Ctx) -> list[Value]:
    x = cx.value(0)
    axes = _axes(cx, 13)
    if axes is None:
        raise Unsupported("no axes")
    return [cx.reshape(x, _unsqueeze_shape(_shape(x), axes))]


@_handles("Transpose")
def _transpose(cx: _Ctx) -> list[Value]:
    x = cx.value(0)
    rank = len(_shape(x))
    return [cx.permute(x, cx.attr("perm", list(reversed(range(rank)))))]


@_handles("Concat")
def _concat(cx: _Ctx) -> list[Value]:
    vals = [cx.get(i) for i in range(len(cx.node.input)) if cx.has(i)]
    rank = len(_shape(vals[0]))
    axis = _norm_axis(cx.attr("axis", 1 if cx.version < 4 else 0), rank)
    vals = [v for v in vals if _shape(v)[axis] != 0] or vals[:1]
    return [cx.concat(cx.common(*vals), axis)]


@_handles("Split")
def _split(cx: _Ctx) -> list[Value]:
    x = cx.value(0)
    xs = _shape(x)
    axis = _norm_axis(cx.attr("axis", 0), len(xs))
    size = xs[axis]
    split = cx.attr("split") if cx.version < 13 else None
    if split is None and cx.has(1):
        split = cx.static(1, "split")
    n = len(cx.node.output)
    if split is None or len(split) == 0:
        num = cx.attr("num_outputs", n)
        chunk = -(-size // num)
        if cx.version < 18 and size % num:
            raise Unsupported(f"size {size} does not split evenly into {num}")
        split = [chunk] * (num - 1) + [size - chunk * (num - 1)]
    split = [int(v) for v in np.asarray(split).reshape(-1)]
    if sum(split) != size or min(split) < 0:
        raise Unsupported(f"split {split} does not fit size {size}")
    bounds = np.cumsum([0] + split)
    return [cx.slice(x, axis, int(s), int(e)) for s, e in zip(bounds, bounds[1:])]


def _slice_indices(start: int, end: int, step: int, dim: int) -> np.ndarray:
    """The indices ONNX Slice takes along one dim (clamping as the spec says)."""
    if step == 0:
        raise Unsupported("step 0")
    start = start + dim if start < 0 else start
    end = end + dim if end < 0 else end
    if step > 0:
        start, end = min(max(start, 0), dim), min(max(end, 0), dim)
    else:
        start, end = min(max(start, 0), dim - 1), min(max(end, -1), dim - 1)
    return np.arange(start, end, step)


def _slice_params(cx: _Ctx, rank: int) -> list[tuple[int, int, int, int]]:
    if cx.version < 10:
        starts, ends = cx.attr("starts"), cx.attr("ends")
        axes, steps = cx.attr("axes"), None
    else:
        starts, ends = cx.static(1, "starts"), cx.static(2, "ends")
        axes, steps = cx.static(3, "axes"), cx.static(4, "steps")
    starts = [int(v) for v in np.asarray(starts).reshape(-1)]
    ends = [int(v) for v in np.asarray(ends).reshape(-1)]
    axes = list(range(len(starts))) if axes is None else [
        _norm_axis(a, rank) for a in np.asarray(axes).reshape(-1)]
    steps = [1] * len(starts) if steps is None else [int(v) for v in np.asarray(steps).reshape(-1)]
    return list(zip(axes, starts, ends, steps))


@_handles("Slice")
def _slice(cx: _Ctx) -> list[Value]:
    x = cx.value(0)
    for axis, start, end, step in _slice_params(cx, len(_shape(x))):
        idx = _slice_indices(start, end, step, _shape(x)[axis])
        if len(idx) == 0:
            raise Unsupported("an empty slice")
        if step < 0 and len(idx) > 1:
            raise Unsupported("negative steps (dag has no op that reverses a dim)")
        x = cx.slice(x, axis, int(idx[0]), int(idx[-1]) + 1, max(step, 1))
    return [x]


def _gather_along(cx: _Ctx, x: SSAValue, axis: int, flat: Sequence[int]) -> SSAValue:
    """Concatenated slices of ``x`` taking indices ``flat`` along ``axis``."""
    if len(flat) > 1 and len({b - a for a, b in zip(flat, flat[1:])}) == 1 and flat[1] > flat[0]:
        return cx.slice(x, axis, flat[0], flat[-1] + 1, flat[1] - flat[0])
    pieces, start = [], 0
    for i in range(1, len(flat) + 1):
        if i == len(flat) or flat[i] != flat[i - 1] + 1:
            pieces.append(cx.slice(x, axis, flat[start], flat[i - 1] + 1))
            start = i
    return cx.concat(pieces, axis)


@_handles("Gather")
def _gather(cx: _Ctx) -> list[Value]:
    """Static indices only: ``dag.select`` for a scalar, slices (+ concat) else."""
    if not isinstance(cx.get(0), SSAValue) or isinstance(cx.get(1), SSAValue):
        raise Unsupported("run-time indices (dag has no gather op)")
    x = cx.value(0)
    idx = cx.static(1, "indices").astype(np.int64)
    xs = _shape(x)
    axis = _norm_axis(cx.attr("axis", 0), len(xs))
    idx = np.where(idx < 0, idx + xs[axis], idx)
    if idx.size == 0 or idx.min() < 0 or idx.max() >= xs[axis]:
        raise Unsupported("indices out of range or empty")
    if idx.ndim == 0:
        return [cx.op(dag.SelectOp, [x], {"dim": dag.int_attr(axis),
                                          "index": dag.int_attr(int(idx))})]
    y = _gather_along(cx, x, axis, [int(i) for i in idx.reshape(-1)])
    return [cx.reshape(y, xs[:axis] + idx.shape + xs[axis + 1:])]


@_handles("Expand")
def _expand(cx: _Ctx) -> list[Value]:
    """Bidirectional broadcast to ``shape`` (leading dims added by a reshape)."""
    x = cx.value(0)
    shape = [int(v) for v in cx.static(1, "shape").reshape(-1)]
    out = tuple(np.broadcast_shapes(_shape(x), tuple(shape)))
    if out == _shape(x):
        return [x]
    x = cx.reshape(x, (1,) * (len(out) - len(_shape(x))) + _shape(x))
    return [cx.op(dag.ExpandOp, [x], result_type=TensorType(_elem(x), out))]


@_handles("Tile")
def _tile(cx: _Ctx) -> list[Value]:
    x = cx.value(0)
    reps = [int(v) for v in cx.static(1, "repeats").reshape(-1)]
    if len(reps) != len(_shape(x)) or min(reps, default=1) < 1:
        raise Unsupported(f"repeats {reps}")
    for axis, r in enumerate(reps):
        if r > 1:
            x = cx.concat([x] * r, axis)
    return [x]


_PAD_MODES = {"constant": "constant", "reflect": "reflect", "edge": "replicate"}


@_handles("Pad")
def _pad(cx: _Ctx) -> list[Value]:
    x = cx.value(0)
    xs = _shape(x)
    rank = len(xs)
    mode = cx.attr("mode", "constant")
    if mode not in _PAD_MODES:
        raise Unsupported(f"mode={mode!r}")
    if cx.version < 11:
        pads, value = cx.attr("pads", cx.attr("paddings")), cx.attr("value", 0.0)
        axes = None
    else:
        pads = cx.static(1, "pads")
        v = cx.static(2, "constant_value")
        value = 0.0 if v is None or v.size == 0 else v.reshape(-1)[0].item()
        axes = cx.static(3, "axes")
    pads = [int(p) for p in np.asarray(pads).reshape(-1)]
    axes = list(range(rank)) if axes is None else [_norm_axis(a, rank) for a in axes.reshape(-1)]
    if len(pads) != 2 * len(axes):
        raise Unsupported("pads do not match the axes")
    begin, end = [0] * rank, [0] * rank
    for i, a in enumerate(axes):
        begin[a], end[a] = pads[i], pads[len(axes) + i]
    if _elem(x) not in _FLOAT_TYPES and (mode != "constant" or value != int(value)):
        raise Unsupported("non-constant padding of an integer tensor")
    if math.isnan(value) if isinstance(value, float) else False:
        raise Unsupported("NaN padding value")
    padded = [i for i in range(rank) if begin[i] or end[i]]
    if mode != "constant" and padded:
        k = rank - padded[0]
        if min(begin + end) < 0 or k > 3 or rank not in (k + 1, k + 2):
            raise Unsupported(f"{mode} padding of dims {padded} of a rank-{rank} tensor")
        if mode == "reflect" and any(max(begin[i], end[i]) >= xs[i] for i in padded):
            raise Unsupported("reflect padding as large as the dim")
    return [cx.pad(x, _torch_pads(begin, end), _PAD_MODES[mode], float(value))]


def _onnx_coords(mode: str, out: int, size: int, scale: float) -> np.ndarray:
    """ONNX Resize's source coordinate of every output index along one dim (as the
    reference implementation: the output width is ``scale * size``, a float)."""
    y = np.arange(out, dtype=np.float64)
    width = scale * size
    if mode == "align_corners":
        return np.zeros(out) if width == 1 else y * (size - 1) / (width - 1)
    if mode == "asymmetric":
        return y / scale
    if mode == "pytorch_half_pixel":
        return np.full(out, -0.5) if width == 1 else (y + 0.5) / scale - 0.5
    if mode == "half_pixel":
        return (y + 0.5) / scale - 0.5
    if mode == "half_pixel_symmetric":
        offset = size / 2 * (1 - out / (scale * size))
        return offset + (y + 0.5) / scale - 0.5
    raise Unsupported(f"coordinate_transformation_mode={mode!r}")


def _onnx_nearest(x: np.ndarray, mode: str, scale: float, size: int) -> np.ndarray:
    if mode == "simple":  # Resize-10 / Upsample: floor when enlarging, ceil else
        mode = "floor" if scale >= 1 else "ceil"
    frac = x - np.floor(x)
    if mode == "floor":
        r = np.floor(x)
    elif mode == "ceil":
        r = np.ceil(x)
    elif mode == "round_prefer_floor":
        r = np.where(frac <= 0.5, np.floor(x), np.ceil(x))
    elif mode == "round_prefer_ceil":
        r = np.where(frac < 0.5, np.floor(x), np.ceil(x))
    else:
        raise Unsupported(f"nearest_mode={mode!r}")
    return np.clip(r, 0, size - 1).astype(np.int64)


def torch_nearest_indices(out: int, size: int) -> np.ndarray:
    """PyTorch's legacy nearest source indices along one dim, as
    ``F.interpolate(size=..., mode="nearest")`` computes them on CPU
    (``min(floor(dst * float32(in / out)), in - 1)``, exact for 1x and 2x).

    Returns an int64 array of length ``out`` with values in ``[0, size)``.
    """
    d = np.arange(out)
    if out == size:
        return d
    if out == 2 * size:
        return d >> 1
    scale = np.float32(size) / np.float32(out)
    return np.minimum(np.floor(d.astype(np.float32) * scale).astype(np.int64), size - 1)


def _torch_linear(out: int, size: int, align: bool) -> np.ndarray:
    """PyTorch's bilinear source coordinate (clamped to the input)."""
    d = np.arange(out, dtype=np.float64)
    if align:
        src = np.zeros(out) if out <= 1 else d * (size - 1) / (out - 1)
    else:
        src = np.maximum((d + 0.5) * size / out - 0.5, 0.0)
    return np.clip(src, 0, size - 1)


@_handles("Resize", "Upsample")
def _resize(cx: _Ctx) -> list[Value]:
    """``dag.interpolate`` when ONNX's sampling positions equal PyTorch's
    (nearest: identical source indices; linear: identical coordinates with
    ``align_corners`` true or false), checked per spatial dim of an NCHW tensor."""
    x = cx.value(0)
    cx.require_float(x)
    xs = _shape(x)
    mode = cx.attr("mode", "nearest")
    legacy = cx.op_type == "Upsample" or cx.version < 11
    if legacy:
        attr_form = cx.op_type == "Upsample" and cx.version < 9
        scales = cx.attr("scales") if attr_form else cx.static(1, "scales")
        coord, nearest, sizes = "asymmetric", "simple", None
    else:
        if cx.attr("antialias", 0) or cx.attr("keep_aspect_ratio_policy", "stretch") != "stretch":
            raise Unsupported("antialias / keep_aspect_ratio_policy")
        scales, sizes = cx.static(2, "scales"), cx.static(3, "sizes")
        coord = cx.attr("coordinate_transformation_mode", "half_pixel")
        nearest = cx.attr("nearest_mode", "round_prefer_floor")
        axes = cx.attr("axes")
        if axes is not None:
            full_s, full_z = [1.0] * len(xs), list(xs)
            for i, a in enumerate(axes):
                a = _norm_axis(a, len(xs))
                if scales is not None and scales.size:
                    full_s[a] = float(scales[i])
                if sizes is not None and sizes.size:
                    full_z[a] = int(sizes[i])
            scales = np.array(full_s) if scales is not None and scales.size else None
            sizes = np.array(full_z) if sizes is not None and sizes.size else None
    if sizes is not None and sizes.size:
        out = [int(v) for v in sizes]
        scale = [out[i] / xs[i] for i in range(len(xs))]
    elif scales is not None and len(scales):
        scale = [float(v) for v in np.asarray(scales).reshape(-1)]
        out = [int(math.floor(xs[i] * scale[i] + 1e-9)) for i in range(len(xs))]
    else:
        raise Unsupported("neither scales nor sizes")
    if len(xs) != 4 or out[:2] != list(xs[:2]) or scale[:2] != [1.0, 1.0]:
        raise Unsupported(f"resizing other than the last two dims of a 4-D tensor "
                          f"({list(xs)} -> {out})")
    if mode == "nearest":
        ok = all(np.array_equal(
            _onnx_nearest(_onnx_coords(coord, out[i], xs[i], scale[i]), nearest, scale[i], xs[i]),
            torch_nearest_indices(out[i], xs[i])) for i in (2, 3))
        props = {"mode": StringAttr("nearest")}
    elif mode in ("linear", "bilinear"):
        props = None
        for align in (False, True):
            if all(np.allclose(np.clip(_onnx_coords(coord, out[i], xs[i], scale[i]), 0, xs[i] - 1),
                               _torch_linear(out[i], xs[i], align), rtol=0, atol=1e-6)
                   for i in (2, 3)):
                props = {"mode": StringAttr("bilinear"),
                         "align_corners": UnitAttr() if align else None}
                break
        ok = props is not None
    else:
        raise Unsupported(f"mode={mode!r}")
    if not ok:
        raise Unsupported(f"{mode} resize with coordinate_transformation_mode={coord!r}"
                          f" samples differently from PyTorch for {list(xs)} -> {out}")
    return [cx.op(dag.InterpolateOp, [x], props, result_type=TensorType(_elem(x), out))]


@_handles("DepthToSpace", "SpaceToDepth")
def _depth_space(cx: _Ctx) -> list[Value]:
    """Reshape, permute, reshape (the ONNX spec's definition, DCR and CRD)."""
    x = cx.value(0)
    xs = _shape(x)
    if len(xs) != 4:
        raise Unsupported("input must be 4-D")
    b, c, h, w = xs
    bs = cx.attr("blocksize")
    if cx.op_type == "DepthToSpace":
        if cx.attr("mode", "DCR") == "DCR":
            tmp, perm = (b, bs, bs, c // bs**2, h, w), [0, 3, 4, 1, 5, 2]
        else:
            tmp, perm = (b, c // bs**2, bs, bs, h, w), [0, 1, 4, 2, 5, 3]
        out = (b, c // bs**2, h * bs, w * bs)
    else:
        tmp = (b, c, h // bs, bs, w // bs, bs)
        perm = [0, 3, 5, 1, 2, 4] if cx.attr("mode", "DCR") == "DCR" else [0, 1, 3, 5, 2, 4]
        out = (b, c * bs * bs, h // bs, w // bs)
    return [cx.reshape(cx.permute(cx.reshape(x, tmp), perm), out)]


@_handles("Identity")
def _identity(cx: _Ctx) -> list[Value]:
    return [cx.get(0)]


@_handles("Dropout")
def _dropout(cx: _Ctx) -> list[Value]:
    training = cx.static(2, "training_mode") if cx.version >= 12 else None
    if training is not None and bool(training.reshape(-1)[0]):
        raise Unsupported("training_mode=true")
    if cx.version < 7 and not cx.attr("is_test", 0):
        raise Unsupported("is_test=0 (training)")
    x = cx.get(0)
    return [x, np.ones(_shape(x), np.bool_)] if cx.version >= 10 else [x]


@_handles("Cast", "CastLike")
def _cast(cx: _Ctx) -> list[Value]:
    x = cx.value(0)
    if cx.op_type == "Cast":
        to = _onnx_elem(cx.attr("to"))
    else:
        to = _elem(cx.get(1))
    if to != _elem(x):
        raise Unsupported(f"conversion {_elem(x)} -> {to} (dag has no cast op)")
    return [x]


# ----------------------------------------------------------------------------
# Constant folding
# ----------------------------------------------------------------------------


@_folds("Constant")
def _f_constant(cx: _Ctx, vals: list) -> list[np.ndarray]:
    for key, dtype in (("value_float", np.float32), ("value_floats", np.float32),
                       ("value_int", np.int64), ("value_ints", np.int64)):
        if key in cx.attrs:
            return [np.array(cx.attrs[key], dtype=dtype)]
    if "value" in cx.attrs:
        return [np.asarray(cx.attrs["value"])]
    raise Unsupported(f"Constant with attributes {sorted(cx.attrs)}")


@_folds("ConstantOfShape")
def _f_constant_of_shape(cx: _Ctx, vals: list) -> list[np.ndarray]:
    value = cx.attr("value", np.zeros(1, np.float32))
    return [np.full([int(d) for d in vals[0].reshape(-1)], value.reshape(-1)[0],
                    dtype=value.dtype)]


@_folds("Shape")
def _f_shape(cx: _Ctx, vals: list) -> list[np.ndarray]:
    shape = np.array(_shape(vals[0]), dtype=np.int64)
    return [shape[slice(cx.attr("start", 0), cx.attr("end"))]]


@_folds("Size")
def _f_size(cx: _Ctx, vals: list) -> list[np.ndarray]:
    return [np.array(math.prod(_shape(vals[0])), dtype=np.int64)]


@_folds("Identity")
def _f_identity(cx: _Ctx, vals: list) -> list[np.ndarray]:
    return [vals[0]]


@_folds("Cast")
def _f_cast(cx: _Ctx, vals: list) -> list[np.ndarray]:
    to = onnx.helper.tensor_dtype_to_np_dtype(cx.attr("to"))
    if np.dtype(to) not in _NP_TO_MLIR or vals[0].dtype not in _NP_TO_MLIR:
        raise Unsupported("cast")  # left to the reference evaluator
    return [vals[0].astype(to)]


@_folds("Gather")
def _f_gather(cx: _Ctx, vals: list) -> list[np.ndarray]:
    data, idx = vals
    axis = cx.attr("axis", 0)
    axis = axis + data.ndim if axis < 0 else axis
    idx = np.where(idx < 0, idx + data.shape[axis], idx)
    return [np.take(data, idx, axis=axis)]


@_folds("Concat")
def _f_concat(cx: _Ctx, vals: list) -> list[np.ndarray]:
    return [np.concatenate([v for v in vals if v is not None], axis=cx.attr("axis", 0))]


@_folds("Unsqueeze")
def _f_unsqueeze(cx: _Ctx, vals: list) -> list[np.ndarray]:
    axes = _axes(cx, 13)
    return [vals[0].reshape(_unsqueeze_shape(vals[0].shape, axes))]


@_folds("Squeeze")
def _f_squeeze(cx: _Ctx, vals: list) -> list[np.ndarray]:
    return [vals[0].reshape(_squeeze_shape(vals[0].shape, _axes(cx, 13)))]


@_folds("Reshape")
def _f_reshape(cx: _Ctx, vals: list) -> list[np.ndarray]:
    shape = cx.attr("shape") if cx.version < 5 else vals[1]
    target = _reshape_target(list(np.asarray(shape).reshape(-1)), vals[0].shape,
                             bool(cx.attr("allowzero", 0)))
    return [vals[0].reshape(target)]


@_folds("Flatten")
def _f_flatten(cx: _Ctx, vals: list) -> list[np.ndarray]:
    return [vals[0].reshape(_flatten_shape(vals[0].shape, cx.attr("axis", 1)))]


@_folds("Transpose")
def _f_transpose(cx: _Ctx, vals: list) -> list[np.ndarray]:
    return [_contiguous(np.transpose(vals[0], cx.attr("perm")))]


@_folds("Slice")
def _f_slice(cx: _Ctx, vals: list) -> list[np.ndarray]:
    x = vals[0]
    for axis, start, end, step in _slice_params(cx, x.ndim):
        x = np.take(x, _slice_indices(start, end, step, x.shape[axis]), axis=axis)
    return [x]


@_folds("Range")
def _f_range(cx: _Ctx, vals: list) -> list[np.ndarray]:
    start, limit, delta = (v.reshape(()) for v in vals)
    return [np.arange(start, limit, delta, dtype=start.dtype)]


_NP_BINARY = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Equal": np.equal,
              "Less": np.less, "Greater": np.greater, "And": np.logical_and,
              "Or": np.logical_or}


@_folds(*_NP_BINARY)
def _f_binary(cx: _Ctx, vals: list) -> list[np.ndarray]:
    a, b = vals
    if cx.version < 7:
        b = _legacy_broadcast(cx, a, b)
    out = _NP_BINARY[cx.op_type](a, b)
    return [out if out.dtype == np.bool_ else out.astype(a.dtype)]


@_folds("Where")
def _f_where(cx: _Ctx, vals: list) -> list[np.ndarray]:
    return [np.where(*vals)]


@_folds("Neg")
def _f_neg(cx: _Ctx, vals: list) -> list[np.ndarray]:
    return [np.negative(vals[0])]


@_folds("Expand")
def _f_expand(cx: _Ctx, vals: list) -> list[np.ndarray]:
    shape = np.broadcast_shapes(vals[0].shape, tuple(int(d) for d in vals[1]))
    return [_contiguous(np.broadcast_to(vals[0], shape))]


def _fold_reference(cx: _Ctx, vals: list) -> list[np.ndarray]:
    """Evaluate one node with ONNX's reference evaluator (``onnx.reference``)."""
    from onnx.reference import ReferenceEvaluator

    node = cx.node
    feeds = {n: v for n, v in zip(node.input, vals) if n}
    inputs = [onnx.helper.make_tensor_value_info(
        n, onnx.helper.np_dtype_to_tensor_dtype(v.dtype), v.shape) for n, v in feeds.items()]
    outputs = [onnx.helper.make_empty_tensor_value_info(n) for n in node.output if n]
    graph = onnx.helper.make_graph([node], "fold", inputs, outputs)
    model = onnx.helper.make_model(
        graph, opset_imports=[onnx.helper.make_opsetid("", cx.imp.opset)])
    results = ReferenceEvaluator(model).run(None, feeds)
    if not all(isinstance(r, np.ndarray) for r in results):
        raise Unsupported("the operator does not produce tensors")
    it = iter(results)
    return [next(it) if n else None for n in node.output]


# ----------------------------------------------------------------------------
# The importer
# ----------------------------------------------------------------------------


class _Importer:
    """Converts one ONNX graph into the ``forward`` function of a new Module."""

    def __init__(self, model: onnx.ModelProto, input_shapes: Mapping[str, Sequence[int]],
                 constant_inputs: Mapping[str, np.ndarray]):
        self.model = model
        self.constant_inputs = dict(constant_inputs)
        self.graph_inputs: dict[SSAValue, str] = {}
        self.needs_constant: list[str] = []
        self.graph = model.graph
        self.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")),
                          onnx.defs.onnx_opset_version())
        self.input_shapes = {k: tuple(int(d) for d in v) for k, v in input_shapes.items()}
        self.module = Module(ModuleOp([]), make_context())
        self.block = Block()
        self.env: dict[str, Value | None] = {}
        self.materialized: dict[str, SSAValue] = {}
        self.static_names: dict[int, str] = {}  # id(array in env) -> its value name
        self.problems: list[UnsupportedNode] = []
        self.names: set[str] = set()
        self.inferred: dict[str, tuple[int, tuple[int, ...] | None]] = {}
        self.used = {i for n in self.graph.node for i in n.input if i}
        self.used |= {o.name for o in self.graph.output}

    # -- values ------------------------------------------------------------------

    def unique(self, name: str) -> str:
        base, i = name, 0
        while name in self.names:
            i += 1
            name = f"{base}_{i}"
        self.names.add(name)
        return name

    def constant(self, name: str, array: np.ndarray) -> SSAValue:
        """A ``dag.constant`` named ``name`` whose value is a new resource blob."""
        array = _contiguous(array)
        ty = TensorType(_mlir_type(array.dtype), array.shape)
        handle = resources(self.module.ctx).add(name, array)
        op = dag.ConstantOp.create(
            result_types=[ty],
            properties={"name": StringAttr(self.unique(name)),
                        "value": DenseResourceAttr.from_params(handle, ty)},
        )
        self.block.add_op(op)
        op.result.name_hint = _sanitize(name)
        return op.result

    def materialize(self, value_name: str, array: np.ndarray) -> SSAValue:
        """The (shared) constant op of a static ONNX value."""
        if value_name not in self.materialized:
            self.materialized[value_name] = self.constant(value_name, array)
        return self.materialized[value_name]

    def set_value(self, name: str, v: Value | None) -> None:
        self.env[name] = v
        if isinstance(v, np.ndarray):
            self.static_names.setdefault(id(v), name)

    # -- graph -------------------------------------------------------------------

    def problem(self, op_type: str, name: str, reason: str) -> None:
        self.problems.append(UnsupportedNode(op_type, name, reason))

    def input_type(self, vi: onnx.ValueInfoProto) -> TensorType | None:
        try:
            if not vi.type.HasField("tensor_type"):
                raise Unsupported("only tensor inputs are supported")
            tt = vi.type.tensor_type
            elem = _onnx_elem(tt.elem_type)
            dims = list(tt.shape.dim) if tt.HasField("shape") else None
            if vi.name in self.input_shapes:
                shape = self.input_shapes[vi.name]
                if dims is not None and (len(dims) != len(shape) or any(
                        d.HasField("dim_value") and d.dim_value != s
                        for d, s in zip(dims, shape))):
                    raise Unsupported(f"input_shapes gives {list(shape)}, which does not "
                                      f"match the declared shape")
            elif dims is None:
                raise Unsupported("unknown rank; pass input_shapes={name: shape}")
            else:
                symbolic = [d.dim_param or "?" for d in dims if not d.HasField("dim_value")]
                if symbolic:
                    raise Unsupported(f"symbolic dims {symbolic}; pass input_shapes="
                                      f"{{{vi.name!r}: [...]}}")
                shape = tuple(d.dim_value for d in dims)
            return TensorType(elem, shape)
        except Unsupported as e:
            self.problem("<input>", vi.name, str(e))
            return None

    def infer_shapes(self, static_inputs: dict[str, TensorType]) -> None:
        """Record ONNX shape inference's static types (for cross-checking)."""
        m = onnx.ModelProto()
        m.CopyFrom(self.model)
        for vi in m.graph.input:
            if vi.name in static_inputs:
                dims = vi.type.tensor_type.shape.dim
                del dims[:]
                for d in static_inputs[vi.name].get_shape():
                    dims.add().dim_value = d
        try:
            m = onnx.shape_inference.infer_shapes(m, strict_mode=False, data_prop=True)
        except Exception:  # noqa: BLE001 - inference is only a cross-check
            return
        for vi in list(m.graph.value_info) + list(m.graph.output):
            if not vi.type.HasField("tensor_type"):
                continue
            tt = vi.type.tensor_type
            shape = None
            if tt.HasField("shape") and all(d.HasField("dim_value") for d in tt.shape.dim):
                shape = tuple(d.dim_value for d in tt.shape.dim)
            self.inferred[vi.name] = (tt.elem_type, shape)

    def check_inferred(self, name: str, v: Value) -> None:
        if name not in self.inferred:
            return
        elem, shape = self.inferred[name]
        if shape is not None and shape != _shape(v):
            raise Unsupported(f"dagc computes shape {list(_shape(v))} for '{name}', but ONNX "
                              f"shape inference gives {list(shape)}")
        if elem and isinstance(v, SSAValue) and _onnx_elem_or_none(elem) not in (None, _elem(v)):
            raise Unsupported(f"dagc computes element type {_elem(v)} for '{name}', but ONNX "
                              f"shape inference gives {TensorProto.DataType.Name(elem)}")

    def run(self) -> Module:
        g = self.graph
        for t in g.initializer:
            self.set_value(t.name, numpy_helper.to_array(t))
        declared = {vi.name: vi for vi in g.input}
        for name, arr in self.constant_inputs.items():
            if name not in declared:
                raise ValueError(f"constant_inputs names '{name}', which is not a graph input")
            arr = np.asarray(arr)
            tt = declared[name].type.tensor_type
            if tt.elem_type:
                arr = arr.astype(onnx.helper.tensor_dtype_to_np_dtype(tt.elem_type))
            self.set_value(name, arr)
        for t in g.sparse_initializer:
            self.problem("<initializer>", t.values.name, "sparse initializers are not supported")
            self.env[t.values.name] = None
        inputs = [vi for vi in g.input if vi.name not in self.env]
        types = {vi.name: self.input_type(vi) for vi in inputs}
        self.infer_shapes({k: t for k, t in types.items() if t is not None})
        arg_types = [t for t in types.values() if t is not None]
        self.block = Block(arg_types=arg_types)
        args = iter(self.block.args)
        for vi in inputs:
            if types[vi.name] is None:
                self.env[vi.name] = None
                continue
            arg = next(args)
            arg.name_hint = _sanitize(vi.name)
            self.graph_inputs[arg] = vi.name
            self.env[vi.name] = arg
        for node in g.node:
            self.convert(node)
        outputs = []
        for vo in g.output:
            v = self.env.get(vo.name)
            if vo.name not in self.env:
                self.problem("<output>", vo.name, "no node produces it")
            elif isinstance(v, np.ndarray):
                try:
                    v = self.materialize(vo.name, v)
                except Unsupported as e:
                    self.problem("<output>", vo.name, str(e))
                    v = None
            outputs.append(v)
        if self.problems:
            raise OnnxImportError(self.problems, f"model '{g.name}'" if g.name else "model",
                                  self.needs_constant)
        self.block.add_op(ReturnOp(*outputs))
        func = FuncOp("forward", (arg_types, [o.type for o in outputs]), Region(self.block))
        self.module.op.body.block.add_op(func)
        self.module.verify()
        return self.module

    def convert(self, node: onnx.NodeProto) -> None:
        label = node.name or next((o for o in node.output if o), node.op_type)
        outs: Sequence[Value | None] = []
        try:
            outs = self._convert(node, label)
        except Unsupported as e:
            self.problem(node.op_type, label, str(e))
        except VerifyException as e:
            self.problem(node.op_type, label, f"invalid dag op: {e}")
        except _DependsOnFailure:
            pass
        outs = list(outs)
        for i, out_name in enumerate(node.output):
            if not out_name:
                continue
            v = outs[i] if i < len(outs) else None
            if v is None and outs and out_name in self.used:
                self.problem(node.op_type, label, f"output #{i} ('{out_name}') is not supported")
                outs = []
            self.set_value(out_name, v)
            if isinstance(v, SSAValue) and v.name_hint is None:
                v.name_hint = _sanitize(out_name)

    def _convert(self, node: onnx.NodeProto, name: str) -> Sequence[Value | None]:
        if node.domain not in ("", "ai.onnx"):
            raise Unsupported(f"operator domain '{node.domain}' is not supported")
        try:
            schema = onnx.defs.get_schema(node.op_type, self.opset, "")
        except onnx.defs.SchemaError:
            raise Unsupported(f"unknown operator at opset {self.opset}") from None
        cx = _Ctx(self, node, schema.since_version, name)
        unknown = sorted(set(cx.attrs) - set(schema.attributes))
        if unknown:
            raise Unsupported(f"attributes {unknown} are not in the operator's schema "
                              f"(version {schema.since_version})")
        for i in node.input:
            if i and i not in self.env:
                raise Unsupported(f"input '{i}' is not defined before the node")
        vals = [self.env[i] if i else None for i in node.input]
        handled = node.op_type in _HANDLERS or node.op_type in _SHAPE_QUERIES
        if any(i and self.env[i] is None for i in node.input):
            if handled:
                raise _DependsOnFailure()
            raise Unsupported("no dag conversion for this operator")
        has_subgraph = any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS)
                           for a in node.attribute)
        static = all(not isinstance(v, SSAValue) for v in vals)
        if node.op_type in _SHAPE_QUERIES or (
                static and node.op_type not in _NONDETERMINISTIC and not has_subgraph):
            try:
                outs = self._fold(cx, vals)
                for o, v in zip(node.output, outs):
                    if o and v is not None:
                        self.check_inferred(o, v)
                return outs
            except Exception as e:  # noqa: BLE001 - a failed fold is reported below
                if not handled:
                    raise Unsupported(f"cannot evaluate it on its constant inputs "
                                      f"({type(e).__name__}: {e})") from e
        if node.op_type not in _HANDLERS:
            raise Unsupported("no dag conversion for this operator")
        outs = list(_HANDLERS[node.op_type](cx))
        for o, v in zip(node.output, outs):
            if o and v is not None:
                self.check_inferred(o, v)
        return outs

    def _fold(self, cx: _Ctx, vals: list) -> list[np.ndarray]:
        folder = _FOLDERS.get(cx.op_type)
        if folder is not None:
            try:
                return list(folder(cx, vals))
            except Unsupported:
                pass
        return _fold_reference(cx, vals)


class _DependsOnFailure(Exception):
    """A node's input comes from a node that failed (already reported)."""


def _onnx_elem_or_none(elem_type: int) -> Attribute | None:
    try:
        return _onnx_elem(elem_type)
    except Unsupported:
        return None


# ----------------------------------------------------------------------------
# Public entry point
# ----------------------------------------------------------------------------


def import_onnx(
    model: str | os.PathLike | onnx.ModelProto | bytes,
    input_shapes: Mapping[str, Sequence[int]] | None = None,
    constant_inputs: Mapping[str, np.ndarray] | None = None,
) -> Module:
    """Import an ONNX model into the dag dialect.

    Args:
        model: a path to a ``.onnx`` file (external data is loaded from beside it),
            its serialized bytes, or an ``onnx.ModelProto``. Default-domain opsets
            9-21 are supported (older models import where their operator versions
            are covered); model-local functions are inlined.
        input_shapes: static shapes for graph inputs, by name (required for inputs
            with symbolic dims such as a dynamic batch).
        constant_inputs: graph inputs to specialise to constant values, by name
            (e.g. the ``axes`` or ``shape`` input of a graph that takes them as
            inputs); they are no longer arguments of ``forward``.

    Returns:
        A verified :class:`dagc.ir.Module`: ``forward`` takes the graph inputs that
        are not initializers (element types f16/f32/f64, i8-i64, i1) and returns
        the graph outputs; initializers are ``dag.constant`` ops backed by
        resource blobs.

    Raises:
        OnnxImportError: lists every unsupported node (op_type, node name, reason)
            and every input without a static shape; nothing partial is returned.
        ValueError: ``constant_inputs`` names something that is not a graph input.
        onnx.checker.ValidationError / google.protobuf.message.DecodeError: the
            file is not an ONNX model.
    """
    if isinstance(model, bytes):
        model = onnx.load_from_string(model)
    elif not isinstance(model, onnx.ModelProto):
        model = onnx.load(os.fspath(model))
    if model.functions:
        from onnx import inliner

        model = inliner.inline_local_functions(model)
    return _Importer(model, input_shapes or {}, constant_inputs or {}).run()
