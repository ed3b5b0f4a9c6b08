"""The ``dag`` dialect: dagc's high-level IR for neural-network graphs.

One op per operation and one spelling per op: ``x + y``, ``torch.add``, ``x.add_``
and ``operator.add`` all import as ``dag.add``. Every op

- works on ranked, statically shaped tensors (``tensor<1x64x56x56xf32>``),
- carries a stable ``name`` property (the FX node name or module path, e.g.
  ``layer1.0.conv1``) that allocations, reports and diagnostics refer to,
- infers its result types from its operands and properties (``infer_result_types``),
  and its verifier checks the declared result types against that inference.

Custom assembly (one format shared by all ops, parsed and printed by ``DagOp``)::

    %2 = dag.conv2d "conv1"(%0, %w, %b) {stride = array<i64: 1, 1>, ...}
           : (tensor<1x3x8x8xf32>, tensor<16x3x3x3xf32>, tensor<16xf32>)
           -> tensor<1x16x8x8xf32>

``dag.fused`` (made by ``dag-fuse``) holds a producer-consumer chain of these ops in a
region isolated from above, ended by ``dag.yield``, with a syntax of its own (see
:class:`FusedOp`); it is one op to the passes, and one kernel when compiled.

Dimension conventions follow PyTorch (NCHW for images, ``dim`` indices counted from
0; importers normalise negative dims). Weights are ``dag.constant`` ops whose value is
a ``dense_resource`` blob kept in the module's ``{-# dialect_resources #-}`` trailer
(see :mod:`dagc.ir`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from xdsl.dialects.builtin import (
    ArrayAttr,
    DenseArrayBase,
    DenseIntOrFPElementsAttr,
    DenseResourceAttr,
    FloatAttr,
    IntegerAttr,
    StringAttr,
    TensorType,
    UnitAttr,
    f64,
    i64,
)
from xdsl.dialects.utils import AbstractYieldOperation
from xdsl.ir import Attribute, Dialect, Region, SSAValue
from xdsl.irdl import (
    IRDLOperation,
    irdl_op_definition,
    lazy_traits_def,
    operand_def,
    opt_operand_def,
    opt_prop_def,
    prop_def,
    region_def,
    result_def,
    traits_def,
    var_operand_def,
    var_result_def,
)
from xdsl.parser import Parser
from xdsl.printer import Printer
from xdsl.traits import (
    HasCanonicalizationPatternsTrait,
    HasParent,
    IsolatedFromAbove,
    IsTerminator,
    Pure,
)
from xdsl.utils.exceptions import VerifyException

Shape = tuple[int, ...]


# ----------------------------------------------------------------------------
# Attribute helpers
# ----------------------------------------------------------------------------


def ints(values: Sequence[int]) -> DenseArrayBase:
    """An ``array<i64: ...>`` attribute from Python ints."""
    return DenseArrayBase.from_list(i64, [int(v) for v in values])


def int_attr(value: int) -> IntegerAttr:
    """An ``i64`` integer attribute."""
    return IntegerAttr(int(value), i64)


def float_attr(value: float) -> FloatAttr:
    """An ``f64`` float attribute."""
    return FloatAttr(float(value), f64)


def _ints(attr: DenseArrayBase) -> tuple[int, ...]:
    return tuple(int(v) for v in attr.get_values())


def broadcast_shapes(*shapes: Shape) -> Shape:
    """NumPy/PyTorch broadcasting of static shapes.

    Raises:
        VerifyException: if the shapes do not broadcast.
    """
    rank = max((len(s) for s in shapes), default=0)
    out: list[int] = []
    for i in range(rank):
        dims = {s[len(s) - rank + i] for s in shapes if len(s) - rank + i >= 0}
        dims.discard(1)
        if len(dims) > 1:
            raise VerifyException(f"shapes {[list(s) for s in shapes]} do not broadcast")
        out.append(dims.pop() if dims else 1)
    return tuple(out)


def reshape_blocks(src: tuple[int, ...], dst: tuple[int, ...]
                   ) -> list[tuple[list[int], list[int]]]:
    """Split a row-major reshape ``src -> dst`` into minimal blocks of source dims
    and destination dims with equal products (``[([0], [0]), ([1, 2, 3], [1])]`` for
    ``(N, C, H, W) -> (N, C*H*W)``).

    Raises:
        ValueError: the element counts differ.
    """
    if math.prod(src) != math.prod(dst):
        raise ValueError(f"cannot reshape {src} to {dst}")
    blocks = []
    i = j = 0
    while i < len(src) or j < len(dst):
        bi, bj, pi, pj = [], [], 1, 1
        if i < len(src):
            bi.append(i)
            pi *= src[i]
            i += 1
        if j < len(dst):
            bj.append(j)
            pj *= dst[j]
            j += 1
        while pi != pj:
            if pi < pj:
                bi.append(i)
                pi *= src[i]
                i += 1
            else:
                bj.append(j)
                pj *= dst[j]
                j += 1
        blocks.append((bi, bj))
    return blocks


def _tensor(value: SSAValue) -> TensorType:
    if not isinstance(value.type, TensorType):
        raise VerifyException(f"expected a ranked tensor, got {value.type}")
    return value.type


def _check_dim(dim: int, rank: int, what: str = "dim") -> None:
    if not 0 <= dim < rank:
        raise VerifyException(f"{what} {dim} out of range for rank {rank}")


# ----------------------------------------------------------------------------
# The shared base
# ----------------------------------------------------------------------------


class DagCanonicalize(HasCanonicalizationPatternsTrait):
    """Gives an op the patterns of :mod:`dagc.passes.canonicalize` (used by xDSL's
    ``canonicalize`` pass)."""

    def get_patterns(self, op):
        from dagc.passes.canonicalize import PATTERNS

        return PATTERNS.get(op, ())

    @classmethod
    def get_canonicalization_patterns(cls):
        return ()


class DagOp(IRDLOperation):
    """Base of every dag op: the ``name`` property, the shared custom syntax and
    a verifier that checks result types against ``infer_result_types``."""

    node_name = prop_def(StringAttr, prop_name="name")

    traits = traits_def(Pure())

    def infer_result_shapes(self) -> list[Shape]:
        """Result shapes computed from operand types and properties.

        Subclasses override this (or ``infer_result_types``). Raises
        VerifyException when operands or properties are inconsistent.
        """
        raise NotImplementedError

    def infer_result_types(self) -> list[TensorType]:
        """Result types: inferred shapes with the first operand's element type."""
        elem = _tensor(self.operands[0]).element_type
        return [TensorType(elem, s) for s in self.infer_result_shapes()]

    def verify_(self) -> None:
        for operand in self.operands:
            _tensor(operand)
        expected = self.infer_result_types()
        actual = [r.type for r in self.results]
        if len(expected) != len(actual):
            raise VerifyException(
                f"expected {len(expected)} results, got {len(actual)}"
            )
        for i, (e, a) in enumerate(zip(expected, actual)):
            if e != a:
                raise VerifyException(
                    f"result #{i} has type {a}, but the operands and attributes "
                    f"give {e}"
                )

    @property
    def label(self) -> str:
        """The op's stable name (FX node / module path)."""
        return self.node_name.data

    # -- custom syntax ---------------------------------------------------------

    def print(self, printer: Printer) -> None:
        printer.print_string(" ")
        printer.print_string_literal(self.node_name.data)
        printer.print_string("(")
        printer.print_list(self.operands, printer.print_operand)
        printer.print_string(")")
        attrs = {k: v for k, v in self.properties.items() if k != "name"}
        attrs.update(self.attributes)
        if attrs:
            printer.print_string(" ")
            printer.print_attr_dict(attrs)
        printer.print_string(" : ")
        printer.print_operation_type(self)

    @classmethod
    def parse(cls, parser: Parser) -> DagOp:
        label = parser.parse_str_literal("dag ops start with their name")
        pos = parser.pos
        operands = parser.parse_comma_separated_list(
            parser.Delimiter.PAREN, parser.parse_unresolved_operand
        )
        attrs = parser.parse_optional_attr_dict()
        parser.parse_punctuation(":")
        type_pos = parser.pos
        func_type = parser.parse_function_type()
        if len(func_type.inputs) != len(operands):
            parser.raise_error(
                f"expected {len(operands)} operand types, got {len(func_type.inputs)}",
                type_pos,
                parser.pos,
            )
        resolved = parser.resolve_operands(operands, func_type.inputs.data, pos)
        prop_names = set(cls.get_irdl_definition().properties)
        props: dict[str, Attribute] = {"name": StringAttr(label)}
        others: dict[str, Attribute] = {}
        for key, value in attrs.items():
            (props if key in prop_names else others)[key] = value
        return cls.create(
            operands=resolved,
            result_types=list(func_type.outputs.data),
            properties=props,
            attributes=others,
        )


# ----------------------------------------------------------------------------
# Elementwise
# ----------------------------------------------------------------------------


class ElementwiseOp(DagOp):
    """Ops that map elements and broadcast their operands (NumPy rules)."""

    def infer_result_shapes(self) -> list[Shape]:
        elems = {_tensor(o).element_type for o in self.operands}
        if len(elems) != 1:
            raise VerifyException(
                f"operands must share one element type, got {sorted(map(str, elems))}"
            )
        return [broadcast_shapes(*(_tensor(o).get_shape() for o in self.operands))]


class BinaryOp(ElementwiseOp):
    lhs = operand_def(TensorType)
    rhs = operand_def(TensorType)
    result = result_def(TensorType)

    def __init__(self, lhs: SSAValue, rhs: SSAValue, name: str, result_type=None):
        super().__init__(
            operands=[lhs, rhs],
            result_types=[result_type or _infer_binary(lhs, rhs)],
            properties={"name": StringAttr(name)},
        )


def _infer_binary(lhs: SSAValue, rhs: SSAValue) -> TensorType:
    a, b = _tensor(lhs), _tensor(rhs)
    return TensorType(a.element_type, broadcast_shapes(a.get_shape(), b.get_shape()))


class UnaryOp(ElementwiseOp):
    input = operand_def(TensorType)
    result = result_def(TensorType)


@irdl_op_definition
class AddOp(BinaryOp):
    """``lhs + rhs`` with broadcasting."""

    name = "dag.add"


@irdl_op_definition
class SubOp(BinaryOp):
    """``lhs - rhs`` with broadcasting."""

    name = "dag.sub"


@irdl_op_definition
class MulOp(BinaryOp):
    """``lhs * rhs`` with broadcasting."""

    name = "dag.mul"


@irdl_op_definition
class DivOp(BinaryOp):
    """``lhs / rhs`` (true division) with broadcasting."""

    name = "dag.div"


@irdl_op_definition
class PowOp(BinaryOp):
    """``lhs ** rhs`` with broadcasting."""

    name = "dag.pow"


@irdl_op_definition
class MaximumOp(BinaryOp):
    """Elementwise maximum; NaN propagates (``torch.maximum``)."""

    name = "dag.maximum"


@irdl_op_definition
class MinimumOp(BinaryOp):
    """Elementwise minimum; NaN propagates (``torch.minimum``)."""

    name = "dag.minimum"


def _unary(op_name: str, doc: str) -> type[UnaryOp]:
    cls = type(
        op_name.split(".")[1].title().replace("_", "") + "Op",
        (UnaryOp,),
        {"name": op_name, "__doc__": doc, "__module__": __name__},
    )
    return irdl_op_definition(cls)


NegOp = _unary("dag.neg", "``-x``.")
SqrtOp = _unary("dag.sqrt", "``sqrt(x)``.")
RsqrtOp = _unary("dag.rsqrt", "``1 / sqrt(x)``.")
ExpOp = _unary("dag.exp", "``exp(x)``.")
LogOp = _unary("dag.log", "Natural logarithm.")
AbsOp = _unary("dag.abs", "``|x|``.")
ErfOp = _unary("dag.erf", "The error function.")
TanhOp = _unary("dag.tanh", "Hyperbolic tangent.")
SigmoidOp = _unary("dag.sigmoid", "``1 / (1 + exp(-x))``.")
ReluOp = _unary("dag.relu", "``max(x, 0)``.")
Relu6Op = _unary("dag.relu6", "``min(max(x, 0), 6)``.")
SiluOp = _unary("dag.silu", "``x * sigmoid(x)`` (Elfwing et al. 2018; swish).")
HardswishOp = _unary(
    "dag.hardswish", "``x * relu6(x + 3) / 6`` (Howard et al. 2019, MobileNetV3)."
)
HardsigmoidOp = _unary("dag.hardsigmoid", "``relu6(x + 3) / 6`` (MobileNetV3).")


@irdl_op_definition
class GeluOp(UnaryOp):
    """GELU (Hendrycks & Gimpel 2016); ``approximate`` is ``"none"`` (erf) or
    ``"tanh"``, as in ``torch.nn.functional.gelu``."""

    name = "dag.gelu"
    approximate = prop_def(StringAttr, default_value=StringAttr("none"))

    def verify_(self) -> None:
        if self.approximate.data not in ("none", "tanh"):
            raise VerifyException("approximate must be 'none' or 'tanh'")
        super().verify_()


@irdl_op_definition
class LeakyReluOp(UnaryOp):
    """``x if x > 0 else negative_slope * x``."""

    name = "dag.leaky_relu"
    negative_slope = prop_def(FloatAttr)


@irdl_op_definition
class ClampOp(UnaryOp):
    """``min(max(x, min), max)``; either bound may be absent."""

    name = "dag.clamp"
    min = opt_prop_def(FloatAttr)
    max = opt_prop_def(FloatAttr)


class DimOp(UnaryOp):
    """Unary ops along one dimension ``dim``."""

    dim = prop_def(IntegerAttr)

    def infer_result_shapes(self) -> list[Shape]:
        shape = _tensor(self.input).get_shape()
        _check_dim(self.dim.value.data, len(shape))
        return [shape]


@irdl_op_definition
class SoftmaxOp(DimOp):
    """Softmax along ``dim``."""

    name = "dag.softmax"


@irdl_op_definition
class LogSoftmaxOp(DimOp):
    """Log-softmax along ``dim``."""

    name = "dag.log_softmax"


# ----------------------------------------------------------------------------
# Convolutions and dense layers
# ----------------------------------------------------------------------------


def _pair(attr: DenseArrayBase, what: str) -> tuple[int, int]:
    v = _ints(attr)
    if len(v) != 2:
        raise VerifyException(f"{what} must have 2 values, got {list(v)}")
    return v[0], v[1]


def conv_out_size(size: int, kernel: int, stride: int, pad: int, dil: int) -> int:
    """Output extent of a convolution/pooling window (PyTorch's formula, floor)."""
    return (size + 2 * pad - dil * (kernel - 1) - 1) // stride + 1


@irdl_op_definition
class Conv2dOp(DagOp):
    """2-D convolution (cross-correlation), PyTorch ``conv2d`` semantics.

    input ``N x C x H x W``, weight ``F x C/groups x KH x KW``, optional bias ``F``;
    result ``N x F x OH x OW`` with ``OH = (H + 2*pad - dil*(KH-1) - 1) // stride + 1``.
    """

    name = "dag.conv2d"
    input = operand_def(TensorType)
    weight = operand_def(TensorType)
    bias = opt_operand_def(TensorType)
    result = result_def(TensorType)
    stride = prop_def(DenseArrayBase)
    padding = prop_def(DenseArrayBase)
    dilation = prop_def(DenseArrayBase)
    groups = prop_def(IntegerAttr)

    def infer_result_shapes(self) -> list[Shape]:
        x, w = _tensor(self.input).get_shape(), _tensor(self.weight).get_shape()
        if len(x) != 4 or len(w) != 4:
            raise VerifyException("input and weight must be 4-D (NCHW, FCHW)")
        g = self.groups.value.data
        if g < 1 or x[1] % g or w[0] % g or w[1] * g != x[1]:
            raise VerifyException(
                f"weight {list(w)} does not fit input {list(x)} with groups={g}"
            )
        if self.bias is not None and _tensor(self.bias).get_shape() != (w[0],):
            raise VerifyException(f"bias must have shape [{w[0]}]")
        (sh, sw), (ph, pw) = _pair(self.stride, "stride"), _pair(self.padding, "padding")
        dh, dw = _pair(self.dilation, "dilation")
        oh = conv_out_size(x[2], w[2], sh, ph, dh)
        ow = conv_out_size(x[3], w[3], sw, pw, dw)
        if oh < 1 or ow < 1:
            raise VerifyException("convolution output would be empty")
        return [(x[0], w[0], oh, ow)]


WINOGRAD_BT = ((1, 0, -1, 0), (0, 1, 1, 0), (0, -1, 1, 0), (0, 1, 0, -1))
"""``B^T`` of Winograd's F(2x2, 3x3): a 4x4 input tile ``d`` becomes ``B^T d B``."""
WINOGRAD_G = ((1, 0, 0), (0.5, 0.5, 0.5), (0.5, -0.5, 0.5), (0, 0, 1))
"""``G`` of F(2x2, 3x3): a 3x3 filter ``g`` becomes ``G g G^T`` (4x4)."""
WINOGRAD_AT = ((1, 1, 1, 0), (0, 1, -1, -1))
"""``A^T`` of F(2x2, 3x3): a 4x4 product tile ``m`` becomes the 2x2 output ``A^T m A``."""


@irdl_op_definition
class WinogradConv2dOp(DagOp):
    """A 3x3 convolution (stride 1, dilation 1, one group) by Winograd's minimal
    filtering F(2x2, 3x3) (Lavin and Gray, "Fast Algorithms for Convolutional
    Neural Networks", CVPR 2016), its filter already transformed.

    input ``N x C x H x W``, weight ``U`` ``4 x 4 x F x C`` with ``U[:, :, f, c] = G
    g G^T`` for the 3x3 filter ``g = w[f, c]`` (:data:`WINOGRAD_G`), optional bias
    ``F``; result ``N x F x OH x OW``, ``OH = H + 2*pad_h - 2``, ``OW = W + 2*pad_w -
    2``: the ``conv2d`` of ``w`` with that zero padding. Each 2x2 output tile at
    ``(2*ty, 2*tx)`` is ``A^T [sum_c U[:, :, f, c] * (B^T d_c B)] A`` for the 4x4
    input tile ``d_c`` at ``(2*ty - pad_h, 2*tx - pad_w)`` of channel ``c``
    (:data:`WINOGRAD_BT`, :data:`WINOGRAD_AT`): 16 products per 4 outputs and
    input channel instead of 36. Made by ``dag-winograd`` from ``dag.conv2d``.
    """

    name = "dag.winograd_conv2d"
    input = operand_def(TensorType)
    weight = operand_def(TensorType)
    bias = opt_operand_def(TensorType)
    result = result_def(TensorType)
    padding = prop_def(DenseArrayBase)

    def infer_result_shapes(self) -> list[Shape]:
        x, u = _tensor(self.input).get_shape(), _tensor(self.weight).get_shape()
        if len(x) != 4 or len(u) != 4 or u[:2] != (4, 4):
            raise VerifyException("input must be 4-D (NCHW) and weight 4 x 4 x F x C")
        if u[3] != x[1]:
            raise VerifyException(f"weight {list(u)} does not fit input {list(x)}")
        if self.bias is not None and _tensor(self.bias).get_shape() != (u[2],):
            raise VerifyException(f"bias must have shape [{u[2]}]")
        ph, pw = _pair(self.padding, "padding")
        oh, ow = x[2] + 2 * ph - 2, x[3] + 2 * pw - 2
        if oh < 1 or ow < 1:
            raise VerifyException("convolution output would be empty")
        return [(x[0], u[2], oh, ow)]


@irdl_op_definition
class ConvTranspose2dOp(DagOp):
    """2-D transposed convolution, PyTorch ``conv_transpose2d`` semantics.

    input ``N x C x H x W``, weight ``C x F/groups x KH x KW``, optional bias ``F``;
    ``OH = (H-1)*stride - 2*pad + dil*(KH-1) + output_padding + 1``.
    """

    name = "dag.conv_transpose2d"
    input = operand_def(TensorType)
    weight = operand_def(TensorType)
    bias = opt_operand_def(TensorType)
    result = result_def(TensorType)
    stride = prop_def(DenseArrayBase)
    padding = prop_def(DenseArrayBase)
    output_padding = prop_def(DenseArrayBase)
    dilation = prop_def(DenseArrayBase)
    groups = prop_def(IntegerAttr)

    def infer_result_shapes(self) -> list[Shape]:
        x, w = _tensor(self.input).get_shape(), _tensor(self.weight).get_shape()
        if len(x) != 4 or len(w) != 4:
            raise VerifyException("input and weight must be 4-D")
        g = self.groups.value.data
        if g < 1 or w[0] != x[1] or x[1] % g:
            raise VerifyException(
                f"weight {list(w)} does not fit input {list(x)} with groups={g}"
            )
        f = w[1] * g
        if self.bias is not None and _tensor(self.bias).get_shape() != (f,):
            raise VerifyException(f"bias must have shape [{f}]")
        s, p = _pair(self.stride, "stride"), _pair(self.padding, "padding")
        op_, d = _pair(self.output_padding, "output_padding"), _pair(self.dilation, "dilation")
        out = [
            (x[2 + i] - 1) * s[i] - 2 * p[i] + d[i] * (w[2 + i] - 1) + op_[i] + 1
            for i in range(2)
        ]
        return [(x[0], f, out[0], out[1])]


@irdl_op_definition
class LinearOp(DagOp):
    """``input @ weight.T + bias``: input ``... x K``, weight ``M x K``, bias ``M``."""

    name = "dag.linear"
    input = operand_def(TensorType)
    weight = operand_def(TensorType)
    bias = opt_operand_def(TensorType)
    result = result_def(TensorType)

    def infer_result_shapes(self) -> list[Shape]:
        x, w = _tensor(self.input).get_shape(), _tensor(self.weight).get_shape()
        if len(w) != 2 or not x or x[-1] != w[1]:
            raise VerifyException(f"weight {list(w)} does not fit input {list(x)}")
        if self.bias is not None and _tensor(self.bias).get_shape() != (w[0],):
            raise VerifyException(f"bias must have shape [{w[0]}]")
        return [(*x[:-1], w[0])]


@irdl_op_definition
class MatmulOp(DagOp):
    """Batched matrix product with broadcast batch dims (``torch.matmul`` for
    operands of rank >= 2): ``... x M x K`` times ``... x K x N``."""

    name = "dag.matmul"
    lhs = operand_def(TensorType)
    rhs = operand_def(TensorType)
    result = result_def(TensorType)

    def infer_result_shapes(self) -> list[Shape]:
        a, b = _tensor(self.lhs).get_shape(), _tensor(self.rhs).get_shape()
        if len(a) < 2 or len(b) < 2 or a[-1] != b[-2]:
            raise VerifyException(f"cannot multiply {list(a)} by {list(b)}")
        batch = broadcast_shapes(a[:-2], b[:-2])
        return [(*batch, a[-2], b[-1])]


@irdl_op_definition
class ScaledDotProductAttentionOp(DagOp):
    """``softmax(q @ k^T * scale + mask) @ v`` (Vaswani et al. 2017), as
    ``torch.nn.functional.scaled_dot_product_attention``.

    q ``... x L x E``, k ``... x S x E``, v ``... x S x Ev`` -> ``... x L x Ev``.
    ``scale`` defaults to ``1/sqrt(E)``; ``is_causal`` masks ``j > i``.
    """

    name = "dag.scaled_dot_product_attention"
    query = operand_def(TensorType)
    key = operand_def(TensorType)
    value = operand_def(TensorType)
    mask = opt_operand_def(TensorType)
    result = result_def(TensorType)
    scale = opt_prop_def(FloatAttr)
    is_causal = opt_prop_def(UnitAttr)

    def infer_result_shapes(self) -> list[Shape]:
        q, k = _tensor(self.query).get_shape(), _tensor(self.key).get_shape()
        v = _tensor(self.value).get_shape()
        if len(q) < 2 or q[-1] != k[-1] or k[-2] != v[-2]:
            raise VerifyException(f"q {list(q)}, k {list(k)}, v {list(v)} do not fit")
        batch = broadcast_shapes(q[:-2], k[:-2], v[:-2])
        return [(*batch, q[-2], v[-1])]


# ----------------------------------------------------------------------------
# Normalisation
# ----------------------------------------------------------------------------


@irdl_op_definition
class BatchNormOp(DagOp):
    """Inference batch norm over dim 1 (Ioffe & Szegedy 2015):
    ``(x - mean) / sqrt(var + eps) * weight + bias``; stats and affine are ``C``."""

    name = "dag.batch_norm"
    input = operand_def(TensorType)
    mean = operand_def(TensorType)
    var = operand_def(TensorType)
    weight = operand_def(TensorType)
    bias = operand_def(TensorType)
    result = result_def(TensorType)
    eps = prop_def(FloatAttr)

    def infer_result_shapes(self) -> list[Shape]:
        x = _tensor(self.input).get_shape()
        if len(x) < 2:
            raise VerifyException("batch_norm input must have rank >= 2")
        for p in (self.mean, self.var, self.weight, self.bias):
            if _tensor(p).get_shape() != (x[1],):
                raise VerifyException(f"statistics must have shape [{x[1]}]")
        return [x]


@irdl_op_definition
class LayerNormOp(DagOp):
    """Layer norm over the trailing dims given by ``weight``'s shape (Ba et al. 2016)."""

    name = "dag.layer_norm"
    input = operand_def(TensorType)
    weight = operand_def(TensorType)
    bias = operand_def(TensorType)
    result = result_def(TensorType)
    eps = prop_def(FloatAttr)

    def infer_result_shapes(self) -> list[Shape]:
        x, w = _tensor(self.input).get_shape(), _tensor(self.weight).get_shape()
        if not w or x[len(x) - len(w) :] != w or _tensor(self.bias).get_shape() != w:
            raise VerifyException(
                f"normalized shape {list(w)} does not end input {list(x)}"
            )
        return [x]


@irdl_op_definition
class GroupNormOp(DagOp):
    """Group norm (Wu & He 2018): channels (dim 1) split into ``num_groups``."""

    name = "dag.group_norm"
    input = operand_def(TensorType)
    weight = operand_def(TensorType)
    bias = operand_def(TensorType)
    result = result_def(TensorType)
    num_groups = prop_def(IntegerAttr)
    eps = prop_def(FloatAttr)

    def infer_result_shapes(self) -> list[Shape]:
        x = _tensor(self.input).get_shape()
        g = self.num_groups.value.data
        if len(x) < 2 or g < 1 or x[1] % g:
            raise VerifyException(f"{g} groups do not divide the channels of {list(x)}")
        for p in (self.weight, self.bias):
            if _tensor(p).get_shape() != (x[1],):
                raise VerifyException(f"affine parameters must have shape [{x[1]}]")
        return [x]


# ----------------------------------------------------------------------------
# Pooling and reductions
# ----------------------------------------------------------------------------


def pool_out_size(
    size: int, kernel: int, stride: int, pad: int, dil: int, ceil_mode: bool
) -> int:
    """Output extent of a pooling window, PyTorch's formula including ceil_mode."""
    num = size + 2 * pad - dil * (kernel - 1) - 1
    out = (-(-num // stride) if ceil_mode else num // stride) + 1
    if ceil_mode and (out - 1) * stride >= size + pad:
        out -= 1
    return out


class Pool2dOp(DagOp):
    input = operand_def(TensorType)
    result = result_def(TensorType)
    kernel = prop_def(DenseArrayBase)
    stride = prop_def(DenseArrayBase)
    padding = prop_def(DenseArrayBase)
    ceil_mode = opt_prop_def(UnitAttr)

    def dilations(self) -> tuple[int, int]:
        return (1, 1)

    def infer_result_shapes(self) -> list[Shape]:
        x = _tensor(self.input).get_shape()
        if len(x) != 4:
            raise VerifyException("pooling input must be 4-D (NCHW)")
        k, s = _pair(self.kernel, "kernel"), _pair(self.stride, "stride")
        p, d = _pair(self.padding, "padding"), self.dilations()
        if any(2 * p[i] > k[i] for i in range(2)):
            raise VerifyException("padding must be at most half the kernel size")
        ceil = self.ceil_mode is not None
        out = [pool_out_size(x[2 + i], k[i], s[i], p[i], d[i], ceil) for i in range(2)]
        return [(x[0], x[1], out[0], out[1])]


@irdl_op_definition
class MaxPool2dOp(Pool2dOp):
    """2-D max pooling (padding counts as -inf), PyTorch semantics."""

    name = "dag.max_pool2d"
    dilation = prop_def(DenseArrayBase)

    def dilations(self) -> tuple[int, int]:
        return _pair(self.dilation, "dilation")


@irdl_op_definition
class AvgPool2dOp(Pool2dOp):
    """2-D average pooling, PyTorch semantics (``count_include_pad``)."""

    name = "dag.avg_pool2d"
    count_include_pad = opt_prop_def(UnitAttr)


@irdl_op_definition
class AdaptiveAvgPool2dOp(DagOp):
    """Adaptive average pooling to ``output_size`` (PyTorch's bin boundaries:
    ``start = floor(i*H/OH)``, ``end = ceil((i+1)*H/OH)``)."""

    name = "dag.adaptive_avg_pool2d"
    input = operand_def(TensorType)
    result = result_def(TensorType)
    output_size = prop_def(DenseArrayBase)

    def infer_result_shapes(self) -> list[Shape]:
        x = _tensor(self.input).get_shape()
        if len(x) != 4:
            raise VerifyException("pooling input must be 4-D (NCHW)")
        oh, ow = _pair(self.output_size, "output_size")
        return [(x[0], x[1], oh, ow)]


class ReduceOp(DagOp):
    input = operand_def(TensorType)
    result = result_def(TensorType)
    dims = prop_def(DenseArrayBase)
    keepdim = opt_prop_def(UnitAttr)

    def infer_result_shapes(self) -> list[Shape]:
        x = _tensor(self.input).get_shape()
        dims = _ints(self.dims)
        for d in dims:
            _check_dim(d, len(x))
        if len(set(dims)) != len(dims):
            raise VerifyException("dims must be distinct")
        if self.keepdim is not None:
            return [tuple(1 if i in dims else n for i, n in enumerate(x))]
        return [tuple(n for i, n in enumerate(x) if i not in dims)]


@irdl_op_definition
class MeanOp(ReduceOp):
    """Mean over ``dims``."""

    name = "dag.mean"


@irdl_op_definition
class SumOp(ReduceOp):
    """Sum over ``dims``."""

    name = "dag.sum"


# ----------------------------------------------------------------------------
# Shape manipulation
# ----------------------------------------------------------------------------


class ShapedByResultOp(DagOp):
    """Ops whose result shape is given by the result type itself."""

    input = operand_def(TensorType)
    result = result_def(TensorType)

    def infer_result_types(self) -> list[TensorType]:
        return [self.result.type]  # checked in verify_shapes

    def verify_(self) -> None:
        super().verify_()
        if self.result.type.element_type != _tensor(self.input).element_type:
            raise VerifyException("result element type must equal the input's")
        self.verify_shapes(_tensor(self.input).get_shape(), self.result.type.get_shape())

    def verify_shapes(self, src: Shape, dst: Shape) -> None:
        raise NotImplementedError


@irdl_op_definition
class ReshapeOp(ShapedByResultOp):
    """Row-major reshape (view/reshape/flatten/squeeze/unsqueeze import as this)."""

    name = "dag.reshape"
    traits = traits_def(Pure(), DagCanonicalize())

    def verify_shapes(self, src: Shape, dst: Shape) -> None:
        if math.prod(src) != math.prod(dst):
            raise VerifyException(
                f"cannot reshape {list(src)} ({math.prod(src)} elements) to "
                f"{list(dst)} ({math.prod(dst)} elements)"
            )


@irdl_op_definition
class ExpandOp(ShapedByResultOp):
    """Broadcast to the result shape (``Tensor.expand`` / ``broadcast_to``)."""

    name = "dag.expand"
    traits = traits_def(Pure(), DagCanonicalize())

    def verify_shapes(self, src: Shape, dst: Shape) -> None:
        try:
            ok = broadcast_shapes(src, dst) == dst
        except VerifyException:
            ok = False
        if not ok:
            raise VerifyException(f"cannot expand {list(src)} to {list(dst)}")


@irdl_op_definition
class InterpolateOp(ShapedByResultOp):
    """Resize the spatial dims of an ``N x C x H x W`` tensor to the result's.

    ``mode`` is ``"nearest"`` (PyTorch's legacy nearest: ``src = floor(dst*in/out)``)
    or ``"bilinear"`` (with ``align_corners``).
    """

    name = "dag.interpolate"
    mode = prop_def(StringAttr)
    align_corners = opt_prop_def(UnitAttr)

    def verify_shapes(self, src: Shape, dst: Shape) -> None:
        if len(src) != 4 or len(dst) != 4 or src[:2] != dst[:2]:
            raise VerifyException(f"cannot resize {list(src)} to {list(dst)}")
        if self.mode.data not in ("nearest", "bilinear"):
            raise VerifyException("mode must be 'nearest' or 'bilinear'")


@irdl_op_definition
class PermuteOp(DagOp):
    """Permute dims: ``result.shape[i] = input.shape[perm[i]]``."""

    name = "dag.permute"
    traits = traits_def(Pure(), DagCanonicalize())
    input = operand_def(TensorType)
    result = result_def(TensorType)
    perm = prop_def(DenseArrayBase)

    def infer_result_shapes(self) -> list[Shape]:
        x, p = _tensor(self.input).get_shape(), _ints(self.perm)
        if sorted(p) != list(range(len(x))):
            raise VerifyException(f"{list(p)} is not a permutation of rank {len(x)}")
        return [tuple(x[i] for i in p)]


@irdl_op_definition
class ConcatOp(DagOp):
    """Concatenate along ``dim`` (``torch.cat``)."""

    name = "dag.concat"
    traits = traits_def(Pure(), DagCanonicalize())
    inputs = var_operand_def(TensorType)
    result = result_def(TensorType)
    dim = prop_def(IntegerAttr)

    def infer_result_shapes(self) -> list[Shape]:
        shapes = [_tensor(o).get_shape() for o in self.inputs]
        if not shapes:
            raise VerifyException("concat needs at least one input")
        d = self.dim.value.data
        _check_dim(d, len(shapes[0]))
        for s in shapes:
            if len(s) != len(shapes[0]) or s[:d] + s[d + 1 :] != shapes[0][:d] + shapes[0][d + 1 :]:
                raise VerifyException(f"shapes {[list(s) for s in shapes]} do not concat along {d}")
        total = sum(s[d] for s in shapes)
        return [(*shapes[0][:d], total, *shapes[0][d + 1 :])]


@irdl_op_definition
class SliceOp(DagOp):
    """``input[..., start:end:step, ...]`` along ``dim`` (split/chunk/narrow import
    as one slice per piece); ``0 <= start <= end <= size``, ``step >= 1``."""

    name = "dag.slice"
    traits = traits_def(Pure(), DagCanonicalize())
    input = operand_def(TensorType)
    result = result_def(TensorType)
    dim = prop_def(IntegerAttr)
    start = prop_def(IntegerAttr)
    end = prop_def(IntegerAttr)
    step = prop_def(IntegerAttr)

    def infer_result_shapes(self) -> list[Shape]:
        x = _tensor(self.input).get_shape()
        d = self.dim.value.data
        _check_dim(d, len(x))
        s, e, st = self.start.value.data, self.end.value.data, self.step.value.data
        if not (0 <= s <= e <= x[d]) or st < 1:
            raise VerifyException(f"slice {s}:{e}:{st} out of range for size {x[d]}")
        return [(*x[:d], -(-(e - s) // st), *x[d + 1 :])]


@irdl_op_definition
class SelectOp(DagOp):
    """``input.select(dim, index)``: drops ``dim``; ``0 <= index < size``."""

    name = "dag.select"
    input = operand_def(TensorType)
    result = result_def(TensorType)
    dim = prop_def(IntegerAttr)
    index = prop_def(IntegerAttr)

    def infer_result_shapes(self) -> list[Shape]:
        x = _tensor(self.input).get_shape()
        d = self.dim.value.data
        _check_dim(d, len(x))
        _check_dim(self.index.value.data, x[d], "index")
        return [x[:d] + x[d + 1 :]]


@irdl_op_definition
class PadOp(DagOp):
    """Pad (``torch.nn.functional.pad``): ``pads`` lists (before, after) pairs
    starting from the LAST dim, as PyTorch does; ``mode`` is ``constant``
    (with ``value``), ``reflect`` or ``replicate``."""

    name = "dag.pad"
    traits = traits_def(Pure(), DagCanonicalize())
    input = operand_def(TensorType)
    result = result_def(TensorType)
    pads = prop_def(DenseArrayBase)
    mode = prop_def(StringAttr, default_value=StringAttr("constant"))
    value = prop_def(FloatAttr, default_value=FloatAttr(0.0, f64))

    def infer_result_shapes(self) -> list[Shape]:
        x = list(_tensor(self.input).get_shape())
        p = _ints(self.pads)
        if len(p) % 2 or len(p) // 2 > len(x):
            raise VerifyException(f"pads {list(p)} do not fit rank {len(x)}")
        if self.mode.data not in ("constant", "reflect", "replicate"):
            raise VerifyException("mode must be constant, reflect or replicate")
        for i in range(len(p) // 2):
            x[len(x) - 1 - i] += p[2 * i] + p[2 * i + 1]
        if min(x, default=1) < 0:
            raise VerifyException("padding makes a negative size")
        return [tuple(x)]


# ----------------------------------------------------------------------------
# Constants and opaque modules
# ----------------------------------------------------------------------------


@irdl_op_definition
class ConstantOp(DagOp):
    """A constant tensor: a weight (``dense_resource<handle>``, whose bytes live in
    the module's resource trailer) or a small literal (``dense<...>``)."""

    name = "dag.constant"
    result = result_def(TensorType)
    value = prop_def(DenseResourceAttr | DenseIntOrFPElementsAttr)

    traits = traits_def(Pure())

    def infer_result_types(self) -> list[TensorType]:
        return [self.value.type]  # type: ignore[list-item]

    @property
    def handle(self) -> str | None:
        """The resource handle, or None for an inline ``dense`` value."""
        if isinstance(self.value, DenseResourceAttr):
            return self.value.resource_handle.data
        return None


@irdl_op_definition
class OpaqueOp(DagOp):
    """A module kept atomic (a leaf module: untraceable code), run by torch on HOST.

    ``class`` is the module's qualified class name (``pkg.mod.Class``). The last
    ``len(state)`` operands are its parameters and buffers (``dag.constant`` ops),
    named by ``state`` (state_dict keys); the others are its forward arguments.
    """

    name = "dag.opaque"
    inputs = var_operand_def(TensorType)
    outputs = var_result_def(TensorType)
    cls_name = prop_def(StringAttr, prop_name="class")
    state = prop_def(ArrayAttr[StringAttr], default_value=ArrayAttr([]))

    def infer_result_types(self) -> list[TensorType]:
        return [r.type for r in self.outputs]  # nothing to infer: torch decides

    def verify_(self) -> None:
        super().verify_()
        if len(self.state.data) > len(self.inputs):
            raise VerifyException("more state names than operands")

    @property
    def num_args(self) -> int:
        """How many operands are forward arguments (the rest are state)."""
        return len(self.inputs) - len(self.state.data)


# ----------------------------------------------------------------------------
# Fused regions
# ----------------------------------------------------------------------------


@irdl_op_definition
class YieldOp(AbstractYieldOperation[Attribute]):
    """Terminates a ``dag.fused`` body: its operands become the fused op's results."""

    name = "dag.yield"

    traits = lazy_traits_def(lambda: (IsTerminator(), HasParent(FusedOp), Pure()))


@irdl_op_definition
class FusedOp(DagOp):
    """A producer-consumer group of dag ops that lowers to one kernel (made by
    ``dag-fuse``, :mod:`dagc.passes.fuse`).

    The operands are the values the group reads from outside; they are bound, in
    order and with the same types, to the arguments of the single block of its body,
    which is isolated from above (weights come in as operands, so the body holds no
    ``dag.constant``). The body holds dag compute ops, which keep their own names,
    and ends with ``dag.yield``, whose operands are the results. Syntax::

        %y = dag.fused "c+relu"(%a = %x, %b = %w) : (tensor<1x3x8x8xf32>,
                 tensor<4x3x3x3xf32>) -> tensor<1x4x8x8xf32> {
          %0 = dag.conv2d "c"(%a, %b) {...} : (...) -> tensor<1x4x8x8xf32>
          %1 = dag.relu "relu"(%0) : (tensor<1x4x8x8xf32>) -> tensor<1x4x8x8xf32>
          dag.yield %1 : tensor<1x4x8x8xf32>
        }
    """

    name = "dag.fused"
    inputs = var_operand_def(TensorType)
    outputs = var_result_def(TensorType)
    body = region_def("single_block")

    traits = traits_def(Pure(), IsolatedFromAbove())

    def __init__(self, label: str, inputs: Sequence[SSAValue], body: Region):
        term = body.block.last_op
        assert isinstance(term, YieldOp), "the body must end with dag.yield"
        super().__init__(
            operands=[inputs],
            result_types=[[v.type for v in term.arguments]],
            regions=[body],
            properties={"name": StringAttr(label)},
        )

    @property
    def yield_op(self) -> YieldOp:
        """The ``dag.yield`` terminator."""
        term = self.body.block.last_op
        assert isinstance(term, YieldOp)
        return term

    def infer_result_types(self) -> list[TensorType]:
        term = self.body.block.last_op
        if not isinstance(term, YieldOp):
            raise VerifyException(f"body of '{self.label}' must end with dag.yield")
        return [_tensor(v) for v in term.arguments]

    def verify_(self) -> None:
        block = self.body.block
        if len(block.args) != len(self.inputs):
            raise VerifyException(
                f"'{self.label}' has {len(self.inputs)} operands but its body has "
                f"{len(block.args)} arguments"
            )
        for i, (arg, operand) in enumerate(zip(block.args, self.inputs)):
            if arg.type != operand.type:
                raise VerifyException(
                    f"body argument #{i} has type {arg.type}, operand #{i} has {operand.type}"
                )
        for op in block.ops:
            if op is block.last_op and isinstance(op, YieldOp):
                continue
            if not isinstance(op, DagOp) or isinstance(op, (FusedOp, ConstantOp, OpaqueOp)):
                raise VerifyException(
                    f"body of '{self.label}' may hold only dag compute ops, found "
                    f"'{op.name}'" + (" (weights come in as operands)"
                                       if isinstance(op, ConstantOp) else "")
                )
        yielded = [str(t) for t in self.infer_result_types()]
        results = [str(r.type) for r in self.outputs]
        if yielded != results:
            raise VerifyException(
                f"body of '{self.label}' yields ({', '.join(yielded)}) but the op has "
                f"results ({', '.join(results)})"
            )

    # -- custom syntax ---------------------------------------------------------

    def print(self, printer: Printer) -> None:
        printer.print_string(" ")
        printer.print_string_literal(self.label)
        printer.print_string("(")

        def print_binding(pair: tuple[SSAValue, SSAValue]) -> None:
            printer.print_ssa_value(pair[0])
            printer.print_string(" = ")
            printer.print_ssa_value(pair[1])

        printer.print_list(zip(self.body.block.args, self.inputs), print_binding)
        printer.print_string(")")
        if self.attributes:
            printer.print_string(" ")
            printer.print_attr_dict(self.attributes)
        printer.print_string(" : ")
        printer.print_operation_type(self)
        printer.print_string(" ")
        printer.print_region(self.body, print_entry_block_args=False)

    @classmethod
    def parse(cls, parser: Parser) -> FusedOp:
        label = parser.parse_str_literal("dag ops start with their name")

        def parse_binding() -> tuple[Parser.UnresolvedArgument, Parser.UnresolvedOperand]:
            arg = parser.parse_argument(expect_type=False)
            parser.parse_punctuation("=")
            return arg, parser.parse_unresolved_operand()

        pos = parser.pos
        bindings = parser.parse_comma_separated_list(
            parser.Delimiter.PAREN, parse_binding, " in dag.fused operands"
        )
        attrs = parser.parse_optional_attr_dict()
        parser.parse_punctuation(":")
        type_pos = parser.pos
        func_type = parser.parse_function_type()
        types = func_type.inputs.data
        if len(types) != len(bindings):
            parser.raise_error(
                f"expected {len(bindings)} operand types, got {len(types)}",
                type_pos,
                parser.pos,
            )
        operands = parser.resolve_operands([o for _, o in bindings], types, pos)
        body = parser.parse_region([a.resolve(t) for (a, _), t in zip(bindings, types)])
        op = cls.create(
            operands=operands,
            result_types=list(func_type.outputs.data),
            properties={"name": StringAttr(label)},
            regions=[body],
        )
        op.attributes.update(attrs)
        return op


# ----------------------------------------------------------------------------

OPS: tuple[type[DagOp], ...] = (
    AddOp, SubOp, MulOp, DivOp, PowOp, MaximumOp, MinimumOp,
    NegOp, SqrtOp, RsqrtOp, ExpOp, LogOp, AbsOp, ErfOp, TanhOp, SigmoidOp,
    ReluOp, Relu6Op, SiluOp, HardswishOp, HardsigmoidOp, GeluOp, LeakyReluOp,
    ClampOp, SoftmaxOp, LogSoftmaxOp,
    Conv2dOp, WinogradConv2dOp, ConvTranspose2dOp, LinearOp, MatmulOp,
    ScaledDotProductAttentionOp, BatchNormOp, LayerNormOp, GroupNormOp,
    MaxPool2dOp, AvgPool2dOp, AdaptiveAvgPool2dOp, MeanOp, SumOp,
    ReshapeOp, ExpandOp, InterpolateOp, PermuteOp, ConcatOp, SliceOp, SelectOp,
    PadOp, ConstantOp, OpaqueOp, FusedOp,
)  # fmt: skip

UNARY_OPS: tuple[type[UnaryOp], ...] = tuple(
    op for op in OPS if issubclass(op, UnaryOp) and op not in (SoftmaxOp, LogSoftmaxOp)
)
"""Elementwise single-operand ops (activations and math)."""

BINARY_OPS: tuple[type[BinaryOp], ...] = tuple(op for op in OPS if issubclass(op, BinaryOp))
"""Elementwise two-operand ops (operands broadcast, NumPy rules)."""

ELEMENTWISE_OPS: tuple[type[ElementwiseOp], ...] = UNARY_OPS + BINARY_OPS
"""Ops whose result element at an index depends only on the operand elements at
that (broadcast) index: what ``dag-fuse`` chains and lowers as one loop nest."""

Dag = Dialect("dag", [*OPS, YieldOp], [])
"""The dag dialect."""
