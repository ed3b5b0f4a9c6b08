"""The PyTorch frontend: ``torch.nn.Module`` -> dag dialect, through ``torch.fx``.

Algorithm:

1. ``torch.fx`` symbolic tracing (``torch.fx.Tracer``) with the standard ``torch.nn``
   layers and the user's ``leaf_modules`` kept as ``call_module`` nodes, and
   ``concrete_args`` specialising Python control flow.
2. One run of the traced graph on the example inputs (a ``torch.fx.Interpreter``)
   records the concrete value of every node: tensor shapes and dtypes become static
   types, and shape arithmetic (``x.shape[0]``, ``x.size(1) // 2``) folds to
   Python values.
3. Every node is converted by the handler registered for its target, whatever its
   spelling (``operator.add``, ``torch.add``, ``Tensor.add``/``add_``, ``nn.ReLU``,
   ``F.relu``) into dag ops whose result types are the recorded ones; each op's
   verifier then checks that type against its own shape inference.

Everything that cannot be imported is collected first and reported in one
:class:`ImportError_` listing every node/module, its class, its source location and
the remedy; nothing partial is returned. With ``fallback="auto"`` (the default),
:mod:`dagc.compiler.fallback` first tries TorchDynamo export and then leafs the
untraceable submodules, logging each leafed module as a warning.
"""

from __future__ import annotations

import inspect
import logging
import operator
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.fx
import torch.nn as nn
import torch.nn.functional as F
from xdsl.dialects.builtin import (
    DenseIntOrFPElementsAttr,
    DenseResourceAttr,
    ModuleOp,
    StringAttr,
    TensorType,
    UnitAttr,
    f16,
    f32,
    f64,
    i1,
    i32,
    i64,
)
from xdsl.dialects.func import CallOp, FuncOp, ReturnOp
from xdsl.ir import Attribute, Block, Region, SSAValue

from dagc.dialects import dag
from dagc.ir import Module, make_context, resources

log = logging.getLogger("dagc.import")

_DTYPES: dict[torch.dtype, Attribute] = {
    torch.float32: f32,
    torch.float64: f64,
    torch.float16: f16,
    torch.int64: i64,
    torch.int32: i32,
    torch.bool: i1,
}


def tensor_type(t: torch.Tensor) -> TensorType:
    """The static ``tensor<...>`` type of a torch tensor.

    Raises:
        ImportError_: for a dtype dagc does not support.
    """
    if t.dtype not in _DTYPES:
        raise ImportError_([Problem("tensor", str(t.dtype), "", "unsupported dtype", "")])
    return TensorType(_DTYPES[t.dtype], tuple(t.shape))


# ----------------------------------------------------------------------------
# Errors
# ----------------------------------------------------------------------------


@dataclass
class Problem:
    """One reason a model does not import."""

    where: str  # node or module path
    cls: str  # module class or call target
    location: str  # source file:line
    reason: str
    remedy: str

    def __str__(self) -> str:
        loc = f" ({self.location})" if self.location else ""
        fix = f"\n      fix: {self.remedy}" if self.remedy else ""
        return f"  - {self.where} [{self.cls}]{loc}: {self.reason}{fix}"


class ImportError_(Exception):
    """A model could not be imported; ``problems`` lists every offending node or
    module with its class, source location and remedy."""

    def __init__(self, problems: list[Problem], headline: str | None = None):
        self.problems = problems
        head = headline or f"cannot import the model: {len(problems)} problem(s)"
        super().__init__(head + "\n" + "\n".join(map(str, problems)))


_LEAF_REMEDY = (
    "pass its class in leaf_modules=(...) to keep it as one opaque op run by torch, "
    "or rewrite its forward without data-dependent control flow"
)


def source_location(obj: Any) -> str:
    """``file:line`` of a class's ``forward`` (or of a function), else ''."""
    try:
        target = obj.forward if inspect.isclass(obj) and hasattr(obj, "forward") else obj
        file = inspect.getsourcefile(target)
        line = inspect.getsourcelines(target)[1]
        return f"{file}:{line}"
    except (TypeError, OSError):
        return ""


def qualified_name(obj: Any) -> str:
    """``module.QualName`` of a class or function."""
    return f"{obj.__module__}.{obj.__qualname__}"


# ----------------------------------------------------------------------------
# Tracing
# ----------------------------------------------------------------------------


class _Tracer(torch.fx.Tracer):
    def __init__(self, leaves: tuple[type, ...], leaf_paths: frozenset[str]):
        super().__init__()
        self.leaves = leaves
        self.leaf_paths = leaf_paths

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        if isinstance(m, self.leaves) or qualname in self.leaf_paths:
            return True
        return super().is_leaf_module(m, qualname)


def _capture_inputs(
    model: nn.Module, example_inputs: tuple
) -> dict[str, tuple[tuple, dict]]:
    """Run ``model`` eagerly and record the arguments of every submodule's first call."""
    seen: dict[str, tuple[tuple, dict]] = {}
    hooks = []
    for path, mod in model.named_modules():
        if not path:
            continue

        def hook(m, args, kwargs, path=path):
            seen.setdefault(path, (args, kwargs))

        hooks.append(mod.register_forward_pre_hook(hook, with_kwargs=True))
    try:
        with torch.no_grad():
            model(*example_inputs)
    finally:
        for h in hooks:
            h.remove()
    return seen


def find_untraceable(
    model: nn.Module, example_inputs: tuple, leaf_modules: tuple[type, ...] = ()
) -> list[Problem]:
    """The smallest submodules that ``torch.fx`` cannot trace, with the reason.

    A submodule is reported when tracing it fails while all its children trace
    (children that fail are reported instead). The eager model must run.
    """
    inputs = _capture_inputs(model, example_inputs)
    failing: dict[str, str] = {}
    for path, mod in model.named_modules():
        if not path or isinstance(mod, leaf_modules):
            continue
        if path not in inputs:
            continue
        try:
            _Tracer(leaf_modules, frozenset()).trace(mod)
        except Exception as e:  # noqa: BLE001 - any tracing failure is a finding
            failing[path] = f"{type(e).__name__}: {e}".splitlines()[0]
    minimal = [
        p for p in failing if not any(q.startswith(p + ".") for q in failing)
    ]
    mods = dict(model.named_modules())
    return [
        Problem(p, qualified_name(type(mods[p])), source_location(type(mods[p])),
                f"torch.fx cannot trace it ({failing[p]})", _LEAF_REMEDY)
        for p in minimal
    ]


def trace(
    model: nn.Module,
    example_inputs: tuple,
    leaf_modules: tuple[type, ...] = (),
    concrete_args: dict[str, Any] | None = None,
    leaf_paths: Iterable[str] = (),
) -> torch.fx.GraphModule:
    """Symbolically trace ``model``; on failure raise ImportError_ naming every
    untraceable submodule (see :func:`find_untraceable`)."""
    tracer = _Tracer(tuple(leaf_modules), frozenset(leaf_paths))
    try:
        graph = tracer.trace(model, concrete_args)
    except Exception as e:  # noqa: BLE001
        problems = find_untraceable(model, example_inputs, tuple(leaf_modules))
        if not problems:
            problems = [Problem("<model>", qualified_name(type(model)),
                                source_location(type(model)),
                                f"torch.fx cannot trace it ({type(e).__name__}: {e})",
                                "pass concrete_args=... to specialise Python control "
                                "flow, or mark helper functions with torch.fx.wrap")]
        raise ImportError_(problems, "torch.fx cannot trace the model:") from e
    return torch.fx.GraphModule(tracer.root, graph, type(model).__name__)


class _Recorder(torch.fx.Interpreter):
    """Runs the graph once and keeps every node's concrete value."""

    def __init__(self, gm: torch.fx.GraphModule):
        super().__init__(gm)
        self.values: dict[torch.fx.Node, Any] = {}

    def run_node(self, n: torch.fx.Node) -> Any:
        v = super().run_node(n)
        self.values[n] = v
        return v


# ----------------------------------------------------------------------------
# The converter
# ----------------------------------------------------------------------------

Handler = Callable[..., Any]
_FUNCTIONS: dict[Any, Handler] = {}  # torch function / operator / method name
_MODULES: dict[type, Handler] = {}  # nn.Module class


def handles(*targets: Any) -> Callable[[Handler], Handler]:
    """Register a handler for call_function targets and call_method names."""

    def deco(fn: Handler) -> Handler:
        for t in targets:
            _FUNCTIONS[t] = fn
        return fn

    return deco


def handles_module(*classes: type) -> Callable[[Handler], Handler]:
    """Register a handler for nn.Module classes: ``fn(b, module, *args, **kwargs)``."""

    def deco(fn: Handler) -> Handler:
        for c in classes:
            _MODULES[c] = fn
        return fn

    return deco


_SHAPE_QUERIES = {"size", "dim", "numel", "ndimension", "nelement", "type", "is_contiguous"}


class Unsupported(Exception):
    """Raised by a handler for an argument combination dagc does not support."""


@dataclass
class Builder:
    """Appends dag ops to one function body; used by every handler."""

    block: Block
    module: Module
    node_name: str = ""
    expected: Any = None  # the recorded torch value of the node being converted
    counter: int = 0
    constants: dict[str, SSAValue] = field(default_factory=dict)

    # -- op creation ---------------------------------------------------------

    aux: int = 0

    def fresh(self) -> str:
        """The name of the next op of this node: the node's name, then ``name.1``..."""
        self.counter += 1
        return self.node_name if self.counter == 1 else f"{self.node_name}.{self.counter - 1}"

    def fresh_constant(self) -> str:
        """The name of an auxiliary constant of this node (``name.c0``, ``name.c1``...)."""
        self.aux += 1
        return f"{self.node_name}.c{self.aux - 1}"

    def op(self, cls: type[dag.DagOp], operands: Sequence[SSAValue], props=None,
           result_type: Attribute | None = None) -> SSAValue:
        """Create ``cls`` with the node's name; the result type defaults to the
        recorded type of the node (checked by the op's verifier)."""
        properties = {"name": StringAttr(self.fresh())}
        properties.update({k: v for k, v in (props or {}).items() if v is not None})
        if result_type is None:
            probe = cls.create(operands=list(operands), result_types=[f32],
                               properties=properties)
            result_type = probe.infer_result_types()[0]
            probe.drop_all_references()
        op = cls.create(operands=list(operands), result_types=[result_type],
                        properties=properties)
        op.verify()
        self.block.add_op(op)
        return op.results[0]

    def constant(self, name: str, value: torch.Tensor | np.ndarray) -> SSAValue:
        """A weight as a ``dag.constant`` referring to a resource blob (deduplicated
        by name)."""
        if name in self.constants:
            return self.constants[name]
        arr = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else value
        t = torch.from_numpy(np.ascontiguousarray(arr))
        handle = resources(self.module.ctx).add(name, arr)
        attr = DenseResourceAttr.from_params(handle, tensor_type(t))
        op = dag.ConstantOp.create(
            result_types=[attr.type],
            properties={"name": StringAttr(name), "value": attr},
        )
        self.block.add_op(op)
        self.constants[name] = op.result
        return op.result

    def scalar(self, value: float | int, like: SSAValue) -> SSAValue:
        """A 0-d constant with ``like``'s element type."""
        elem = like.type.element_type
        ty = TensorType(elem, ())
        attr = DenseIntOrFPElementsAttr.from_list(
            ty, [float(value) if elem in (f32, f64, f16) else int(value)])
        op = dag.ConstantOp.create(
            result_types=[ty], properties={"name": StringAttr(self.fresh_constant()), "value": attr}
        )
        self.block.add_op(op)
        return op.result

    def tensor(self, v: Any, like: SSAValue | None = None) -> SSAValue:
        """``v`` as an SSA tensor (Python scalars become 0-d constants)."""
        if isinstance(v, SSAValue):
            return v
        if isinstance(v, (int, float, bool)) and like is not None:
            return self.scalar(v, like)
        if isinstance(v, torch.Tensor):
            return self.constant(self.fresh_constant(), v)
        raise Unsupported(f"expected a tensor, got {type(v).__name__}")

    def expected_type(self) -> TensorType:
        if not isinstance(self.expected, torch.Tensor):
            raise Unsupported("expected a tensor result")
        return tensor_type(self.expected)


def _shape(v: SSAValue) -> tuple[int, ...]:
    return v.type.get_shape()


def _dim(d: int, rank: int) -> int:
    return d + rank if d < 0 else d


def _as_pair(v: Any) -> tuple[int, int]:
    if isinstance(v, int):
        return (v, v)
    v = tuple(v)
    return (v[0], v[0]) if len(v) == 1 else (v[0], v[1])


# -- elementwise ---------------------------------------------------------------

_BINARY = {
    dag.AddOp: (operator.add, operator.iadd, torch.add, "add", "add_", "__add__", "__iadd__"),
    dag.SubOp: (operator.sub, operator.isub, torch.sub, "sub", "sub_", "__sub__", "__isub__"),
    dag.MulOp: (operator.mul, operator.imul, torch.mul, "mul", "mul_", "__mul__", "__imul__"),
    dag.DivOp: (operator.truediv, operator.itruediv, torch.div, "div", "div_", "__truediv__", "__itruediv__", torch.true_divide),
    dag.PowOp: (operator.pow, torch.pow, "pow", "pow_", "__pow__"),
    dag.MaximumOp: (torch.maximum, "maximum"),
    dag.MinimumOp: (torch.minimum, "minimum"),
}  # fmt: skip


def _binary(cls: type[dag.DagOp]) -> Handler:
    def handler(b: Builder, input, other, *, alpha=1, rounding_mode=None, out=None):
        if rounding_mode is not None:
            raise Unsupported(f"rounding_mode={rounding_mode!r}")
        if not isinstance(input, SSAValue) and not isinstance(other, SSAValue):
            raise Unsupported("no tensor operand")
        like = input if isinstance(input, SSAValue) else other
        lhs, rhs = b.tensor(input, like), b.tensor(other, like)
        if alpha != 1:
            rhs = b.op(dag.MulOp, [rhs, b.scalar(alpha, like)])
        return b.op(cls, [lhs, rhs], result_type=b.expected_type())

    return handler


for _cls, _targets in _BINARY.items():
    handles(*_targets)(_binary(_cls))


@handles(operator.neg, torch.neg, "neg", "__neg__")
def _neg(b, x):
    return b.op(dag.NegOp, [x])


@handles(torch.rsub, "rsub", "__rsub__")
def _rsub(b, input, other, alpha=1):
    return _binary(dag.SubOp)(b, other, input)


@handles("__rtruediv__")
def _rdiv(b, input, other):
    return _binary(dag.DivOp)(b, other, input)


handles("__radd__")(_binary(dag.AddOp))
handles("__rmul__")(_binary(dag.MulOp))


_UNARY = {
    dag.SqrtOp: (torch.sqrt, "sqrt", "sqrt_"),
    dag.RsqrtOp: (torch.rsqrt, "rsqrt", "rsqrt_"),
    dag.ExpOp: (torch.exp, "exp", "exp_"),
    dag.LogOp: (torch.log, "log", "log_"),
    dag.AbsOp: (torch.abs, operator.abs, "abs", "abs_"),
    dag.ErfOp: (torch.erf, torch.special.erf, "erf", "erf_"),
    dag.TanhOp: (torch.tanh, F.tanh, "tanh", "tanh_"),
    dag.SigmoidOp: (torch.sigmoid, F.sigmoid, "sigmoid", "sigmoid_"),
    dag.ReluOp: (torch.relu, F.relu, "relu", "relu_", torch.relu_, F.relu_),
    dag.Relu6Op: (F.relu6,),
    dag.SiluOp: (F.silu,),
    dag.HardswishOp: (F.hardswish,),
    dag.HardsigmoidOp: (F.hardsigmoid,),
}  # fmt: skip


def _unary(cls: type[dag.DagOp]) -> Handler:
    def handler(b: Builder, input, inplace=False):
        return b.op(cls, [input])

    return handler


for _cls, _targets in _UNARY.items():
    handles(*_targets)(_unary(_cls))


@handles(F.gelu, "gelu")
def _gelu(b, input, approximate="none"):
    return b.op(dag.GeluOp, [input], {"approximate": StringAttr(approximate)})


@handles(F.leaky_relu, "leaky_relu")
def _leaky_relu(b, input, negative_slope=0.01, inplace=False):
    return b.op(dag.LeakyReluOp, [input], {"negative_slope": dag.float_attr(negative_slope)})


@handles(torch.clamp, torch.clip, "clamp", "clip", "clamp_", "clip_", F.hardtanh, "hardtanh")
def _clamp(b, input, min=None, max=None, inplace=False, min_val=None, max_val=None):
    if b.node_name.startswith("hardtanh") and min is None and max is None:
        min, max = -1.0, 1.0
    min = min_val if min_val is not None else min
    max = max_val if max_val is not None else max
    if isinstance(min, SSAValue) or isinstance(max, SSAValue):
        raise Unsupported("tensor bounds")
    if min == 0 and max == 6:
        return b.op(dag.Relu6Op, [input])
    return b.op(dag.ClampOp, [input], {
        "min": None if min is None else dag.float_attr(min),
        "max": None if max is None else dag.float_attr(max)})


def _softmax_like(cls):
    def handler(b, input, dim=None, _stacklevel=3, dtype=None):
        if dtype is not None:
            raise Unsupported("dtype=")
        return b.op(cls, [input], {"dim": dag.int_attr(_dim(dim, len(_shape(input))))})

    return handler


handles(F.softmax, torch.softmax, "softmax")(_softmax_like(dag.SoftmaxOp))
handles(F.log_softmax, torch.log_softmax, "log_softmax")(_softmax_like(dag.LogSoftmaxOp))


# -- layers --------------------------------------------------------------------


def _conv_padding(padding, x, w, stride, dilation) -> tuple[int, int]:
    if padding == "valid":
        return (0, 0)
    if padding == "same":
        total = [dilation[i] * (w[2 + i] - 1) for i in range(2)]
        if any(t % 2 for t in total):
            raise Unsupported("asymmetric 'same' padding")
        return (total[0] // 2, total[1] // 2)
    return _as_pair(padding)


@handles(F.conv2d, torch.conv2d)
def _conv2d(b, input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    s, d = _as_pair(stride), _as_pair(dilation)
    p = _conv_padding(padding, _shape(input), _shape(weight), s, d)
    return b.op(dag.Conv2dOp, [input, weight] + ([bias] if bias is not None else []),
                {"stride": dag.ints(s), "padding": dag.ints(p), "dilation": dag.ints(d),
                 "groups": dag.int_attr(groups)})


@handles(F.conv_transpose2d, torch.conv_transpose2d)
def _conv_transpose2d(b, input, weight, bias=None, stride=1, padding=0,
                      output_padding=0, groups=1, dilation=1):
    return b.op(dag.ConvTranspose2dOp,
                [input, weight] + ([bias] if bias is not None else []),
                {"stride": dag.ints(_as_pair(stride)), "padding": dag.ints(_as_pair(padding)),
                 "output_padding": dag.ints(_as_pair(output_padding)),
                 "dilation": dag.ints(_as_pair(dilation)), "groups": dag.int_attr(groups)})


@handles(F.linear)
def _linear(b, input, weight, bias=None):
    return b.op(dag.LinearOp, [input, weight] + ([bias] if bias is not None else []))


@handles(torch.matmul, operator.matmul, "matmul", "__matmul__", torch.bmm, "bmm", torch.mm, "mm")
def _matmul(b, input, other):
    if len(_shape(input)) < 2 or len(_shape(other)) < 2:
        raise Unsupported("matmul of a 1-D operand")
    return b.op(dag.MatmulOp, [input, other])


@handles(F.scaled_dot_product_attention)
def _sdpa(b, query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False,
          scale=None, enable_gqa=False):
    if dropout_p:
        raise Unsupported("dropout_p != 0")
    if enable_gqa:
        raise Unsupported("enable_gqa=True (grouped-query attention)")
    if attn_mask is not None and attn_mask.type.element_type == i1:
        raise Unsupported("boolean attn_mask")
    return b.op(dag.ScaledDotProductAttentionOp,
                [query, key, value] + ([attn_mask] if attn_mask is not None else []),
                {"scale": None if scale is None else dag.float_attr(scale),
                 "is_causal": UnitAttr() if is_causal else None})


@handles(F.batch_norm, torch.batch_norm)
def _batch_norm(b, input, running_mean, running_var, weight=None, bias=None,
                training=False, momentum=0.1, eps=1e-5, *_):
    if training:
        raise Unsupported("batch norm in training mode (call model.eval())")
    c = _shape(input)[1]
    weight = weight if weight is not None else b.constant(b.fresh_constant(), torch.ones(c))
    bias = bias if bias is not None else b.constant(b.fresh_constant(), torch.zeros(c))
    return b.op(dag.BatchNormOp, [input, running_mean, running_var, weight, bias],
                {"eps": dag.float_attr(eps)})


@handles(F.layer_norm, torch.layer_norm)
def _layer_norm(b, input, normalized_shape, weight=None, bias=None, eps=1e-5, *_):
    shape = tuple(normalized_shape)
    weight = weight if weight is not None else b.constant(b.fresh_constant(), torch.ones(shape))
    bias = bias if bias is not None else b.constant(b.fresh_constant(), torch.zeros(shape))
    return b.op(dag.LayerNormOp, [input, weight, bias], {"eps": dag.float_attr(eps)})


@handles(F.group_norm, torch.group_norm)
def _group_norm(b, input, num_groups, weight=None, bias=None, eps=1e-5):
    c = _shape(input)[1]
    weight = weight if weight is not None else b.constant(b.fresh_constant(), torch.ones(c))
    bias = bias if bias is not None else b.constant(b.fresh_constant(), torch.zeros(c))
    return b.op(dag.GroupNormOp, [input, weight, bias],
                {"num_groups": dag.int_attr(num_groups), "eps": dag.float_attr(eps)})


@handles(F.max_pool2d, torch.max_pool2d)
def _max_pool2d(b, input, kernel_size, stride=None, padding=0, dilation=1,
                ceil_mode=False, return_indices=False):
    if return_indices:
        raise Unsupported("return_indices=True")
    k = _as_pair(kernel_size)
    s = _as_pair(stride) if stride not in (None, [], ()) else k
    return b.op(dag.MaxPool2dOp, [input],
                {"kernel": dag.ints(k), "stride": dag.ints(s),
                 "padding": dag.ints(_as_pair(padding)), "dilation": dag.ints(_as_pair(dilation)),
                 "ceil_mode": UnitAttr() if ceil_mode else None})


@handles(F.avg_pool2d, torch._C._nn.avg_pool2d)
def _avg_pool2d(b, input, kernel_size, stride=None, padding=0, ceil_mode=False,
                count_include_pad=True, divisor_override=None):
    if divisor_override is not None:
        raise Unsupported("divisor_override")
    k = _as_pair(kernel_size)
    s = _as_pair(stride) if stride not in (None, [], ()) else k
    return b.op(dag.AvgPool2dOp, [input],
                {"kernel": dag.ints(k), "stride": dag.ints(s),
                 "padding": dag.ints(_as_pair(padding)),
                 "ceil_mode": UnitAttr() if ceil_mode else None,
                 "count_include_pad": UnitAttr() if count_include_pad else None})


@handles(F.adaptive_avg_pool2d)
def _adaptive_avg_pool2d(b, input, output_size):
    out = b.expected_type().get_shape()[2:]
    return b.op(dag.AdaptiveAvgPool2dOp, [input], {"output_size": dag.ints(out)})


def _reduce(cls):
    def handler(b, input, dim=None, keepdim=False, *, dtype=None):
        if dtype is not None:
            raise Unsupported("dtype=")
        rank = len(_shape(input))
        dims = range(rank) if dim is None else ([dim] if isinstance(dim, int) else dim)
        return b.op(cls, [input], {"dims": dag.ints(sorted(_dim(d, rank) for d in dims)),
                                   "keepdim": UnitAttr() if keepdim else None})

    return handler


handles(torch.mean, "mean")(_reduce(dag.MeanOp))
handles(torch.sum, "sum")(_reduce(dag.SumOp))


@handles(F.interpolate, F.upsample)
def _interpolate(b, input, size=None, scale_factor=None, mode="nearest",
                 align_corners=None, recompute_scale_factor=None, antialias=False):
    if mode not in ("nearest", "bilinear") or antialias:
        raise Unsupported(f"interpolate mode={mode!r}")
    out = b.expected_type()
    in_shape = _shape(input)
    if scale_factor is not None and not recompute_scale_factor:
        # PyTorch uses the given scale, which equals out/in only for exact ratios.
        sf = _as_float_pair(scale_factor)
        if any(abs(sf[i] - out.get_shape()[2 + i] / in_shape[2 + i]) > 1e-12 for i in range(2)):
            raise Unsupported("a scale_factor that is not out_size/in_size")
    return b.op(dag.InterpolateOp, [input],
                {"mode": StringAttr(mode), "align_corners": UnitAttr() if align_corners else None},
                result_type=out)


def _as_float_pair(v) -> tuple[float, float]:
    if isinstance(v, (int, float)):
        return (float(v), float(v))
    return (float(v[0]), float(v[-1]))


@handles(F.pad, torch.constant_pad_nd)
def _pad(b, input, pad, mode="constant", value=None):
    return b.op(dag.PadOp, [input], {"pads": dag.ints(pad), "mode": StringAttr(mode),
                                     "value": dag.float_attr(value or 0.0)})


# -- shapes ----------------------------------------------------------------------


def _reshape_to(b: Builder, x: SSAValue, shape: Sequence[int]) -> SSAValue:
    if tuple(shape) == _shape(x):
        return x
    return b.op(dag.ReshapeOp, [x], result_type=TensorType(x.type.element_type, tuple(shape)))


@handles(torch.reshape, "reshape", "view", torch.flatten, "flatten", torch.squeeze, "squeeze",
         torch.unsqueeze, "unsqueeze", "view_as", "reshape_as", "squeeze_", "unsqueeze_")
def _reshape(b, input, *args, **kwargs):
    return _reshape_to(b, input, b.expected_type().get_shape())


@handles(torch.permute, "permute")
def _permute(b, input, *dims):
    dims = dims[0] if len(dims) == 1 and not isinstance(dims[0], int) else dims
    rank = len(_shape(input))
    perm = [_dim(d, rank) for d in dims]
    if perm == list(range(rank)):
        return input
    return b.op(dag.PermuteOp, [input], {"perm": dag.ints(perm)})


@handles(torch.transpose, "transpose", "transpose_", torch.swapaxes, "swapaxes")
def _transpose(b, input, dim0, dim1):
    rank = len(_shape(input))
    perm = list(range(rank))
    d0, d1 = _dim(dim0, rank), _dim(dim1, rank)
    perm[d0], perm[d1] = perm[d1], perm[d0]
    return _permute(b, input, perm)


@handles(torch.t, "t")
def _t(b, input):
    return input if len(_shape(input)) < 2 else _transpose(b, input, 0, 1)


@handles("expand", "expand_as", torch.broadcast_to, "broadcast_to")
def _expand(b, input, *args, **kwargs):
    out = b.expected_type()
    if out.get_shape() == _shape(input):
        return input
    rank = len(out.get_shape())
    if len(_shape(input)) < rank:  # expand adds leading dims first
        input = _reshape_to(b, input, (1,) * (rank - len(_shape(input))) + _shape(input))
    return b.op(dag.ExpandOp, [input], result_type=out)


@handles(torch.cat, torch.concat, torch.concatenate)
def _cat(b, tensors, dim=0, axis=None):
    dim = axis if axis is not None else dim
    tensors = list(tensors)
    if len(tensors) == 1:
        return tensors[0]
    return b.op(dag.ConcatOp, tensors, {"dim": dag.int_attr(_dim(dim, len(_shape(tensors[0]))))})


@handles(torch.stack)
def _stack(b, tensors, dim=0):
    rank = len(_shape(tensors[0])) + 1
    d = _dim(dim, rank)
    parts = [_reshape_to(b, t, _shape(t)[:d] + (1,) + _shape(t)[d:]) for t in tensors]
    return b.op(dag.ConcatOp, parts, {"dim": dag.int_attr(d)})


def _slice(b: Builder, x: SSAValue, dim: int, start: int, end: int, step: int = 1) -> SSAValue:
    size = _shape(x)[dim]
    start, end, _ = slice(start, end, step).indices(size)
    end = max(start, end)
    if (start, end, step) == (0, size, 1):
        return x
    return b.op(dag.SliceOp, [x], {"dim": dag.int_attr(dim), "start": dag.int_attr(start),
                                   "end": dag.int_attr(end), "step": dag.int_attr(step)})


@handles(torch.split, "split")
def _split(b, tensor, split_size_or_sections, dim=0):
    d = _dim(dim, len(_shape(tensor)))
    size = _shape(tensor)[d]
    if isinstance(split_size_or_sections, int):
        bounds = list(range(0, size, split_size_or_sections)) + [size]
    else:
        bounds = [0] + list(np.cumsum(split_size_or_sections))
    return [_slice(b, tensor, d, int(s), int(e)) for s, e in zip(bounds, bounds[1:])]


@handles(torch.chunk, "chunk")
def _chunk(b, input, chunks, dim=0):
    d = _dim(dim, len(_shape(input)))
    step = -(-_shape(input)[d] // chunks)
    return _split(b, input, step, d)


@handles(torch.unbind, "unbind")
def _unbind(b, input, dim=0):
    d = _dim(dim, len(_shape(input)))
    return [_select(b, input, d, i) for i in range(_shape(input)[d])]


def _select(b: Builder, x: SSAValue, dim: int, index: int) -> SSAValue:
    return b.op(dag.SelectOp, [x], {"dim": dag.int_attr(dim),
                                    "index": dag.int_attr(index % _shape(x)[dim])})


@handles(torch.select, "select")
def _select_h(b, input, dim, index):
    return _select(b, input, _dim(dim, len(_shape(input))), index)


@handles(torch.narrow, "narrow")
def _narrow(b, input, dim, start, length):
    d = _dim(dim, len(_shape(input)))
    return _slice(b, input, d, start, start + length)


@handles(operator.getitem)
def _getitem(b, obj, index):
    if not isinstance(obj, SSAValue):
        return obj[index]  # a list of tensors (split/chunk) or a static value
    index = index if isinstance(index, tuple) else (index,)
    if any(isinstance(i, (SSAValue, torch.Tensor, list)) for i in index):
        raise Unsupported("advanced (tensor) indexing")
    if Ellipsis in index:
        k = index.index(Ellipsis)
        fill = len(_shape(obj)) - sum(1 for i in index if i is not None and i is not Ellipsis)
        index = index[:k] + (slice(None),) * fill + index[k + 1 :]
    x, dim = obj, 0
    for i in index:
        if i is None:
            continue
        if isinstance(i, int):
            x = _select(b, x, dim, i)
        else:
            x = _slice(b, x, dim, i.start, i.stop, i.step or 1)
            dim += 1
    # Insert the None axes with one reshape to the recorded shape.
    return _reshape_to(b, x, b.expected_type().get_shape())


_IDENTITY = (nn.Identity, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.AlphaDropout)


@handles(F.dropout, F.dropout2d, torch.dropout, "contiguous", "clone", "detach",
         torch.clone, torch.detach)
def _identity(b, input, *args, **kwargs):
    return input


@handles("to", "type_as", "float")
def _to(b, input, *args, **kwargs):
    if b.expected_type() != input.type:
        raise Unsupported("dtype conversion")
    return input


# -- modules -------------------------------------------------------------------


def _param(b: Builder, path: str, name: str, mod: nn.Module) -> SSAValue | None:
    t = getattr(mod, name)
    return None if t is None else b.constant(f"{path}.{name}", t)


@handles_module(*_IDENTITY)
def _m_identity(b, path, mod, x, *args):
    return x


@handles_module(nn.Conv2d)
def _m_conv2d(b, path, mod: nn.Conv2d, x):
    if mod.padding_mode != "zeros":
        x = b.op(dag.PadOp, [x], {"pads": dag.ints([p for p in reversed(mod.padding) for _ in (0, 1)]),
                                  "mode": StringAttr({"circular": "circular"}.get(mod.padding_mode, mod.padding_mode)),
                                  "value": dag.float_attr(0.0)})
        pad = 0
    else:
        pad = mod.padding
    return _conv2d(b, x, _param(b, path, "weight", mod), _param(b, path, "bias", mod),
                   mod.stride, pad, mod.dilation, mod.groups)


@handles_module(nn.ConvTranspose2d)
def _m_conv_transpose2d(b, path, mod: nn.ConvTranspose2d, x, output_size=None):
    op_pad = mod.output_padding
    if output_size is not None:
        raise Unsupported("output_size=")
    return _conv_transpose2d(b, x, _param(b, path, "weight", mod), _param(b, path, "bias", mod),
                             mod.stride, mod.padding, op_pad, mod.groups, mod.dilation)


@handles_module(nn.Linear)
def _m_linear(b, path, mod, x):
    return _linear(b, x, _param(b, path, "weight", mod), _param(b, path, "bias", mod))


@handles_module(nn.BatchNorm1d, nn.BatchNorm2d)
def _m_batch_norm(b, path, mod, x):
    if mod.training or mod.running_mean is None:
        raise Unsupported("batch norm without running statistics or in training mode "
                          "(call model.eval())")
    return _batch_norm(b, x, _param(b, path, "running_mean", mod),
                       _param(b, path, "running_var", mod), _param(b, path, "weight", mod),
                       _param(b, path, "bias", mod), False, 0.0, mod.eps)


@handles_module(nn.LayerNorm)
def _m_layer_norm(b, path, mod, x):
    return _layer_norm(b, x, mod.normalized_shape, _param(b, path, "weight", mod),
                       _param(b, path, "bias", mod), mod.eps)


@handles_module(nn.GroupNorm)
def _m_group_norm(b, path, mod, x):
    return _group_norm(b, x, mod.num_groups, _param(b, path, "weight", mod),
                       _param(b, path, "bias", mod), mod.eps)


_ACTIVATION_MODULES = {
    nn.ReLU: dag.ReluOp, nn.ReLU6: dag.Relu6Op, nn.Sigmoid: dag.SigmoidOp,
    nn.SiLU: dag.SiluOp, nn.Tanh: dag.TanhOp, nn.Hardswish: dag.HardswishOp,
    nn.Hardsigmoid: dag.HardsigmoidOp,
}  # fmt: skip

for _mcls, _op in _ACTIVATION_MODULES.items():
    handles_module(_mcls)(lambda b, path, mod, x, _op=_op: b.op(_op, [x]))


@handles_module(nn.GELU)
def _m_gelu(b, path, mod, x):
    return _gelu(b, x, mod.approximate)


@handles_module(nn.LeakyReLU)
def _m_leaky_relu(b, path, mod, x):
    return _leaky_relu(b, x, mod.negative_slope)


@handles_module(nn.Hardtanh)
def _m_hardtanh(b, path, mod, x):
    return _clamp(b, x, mod.min_val, mod.max_val)


@handles_module(nn.Softmax)
def _m_softmax(b, path, mod, x):
    return _softmax_like(dag.SoftmaxOp)(b, x, mod.dim)


@handles_module(nn.LogSoftmax)
def _m_log_softmax(b, path, mod, x):
    return _softmax_like(dag.LogSoftmaxOp)(b, x, mod.dim)


@handles_module(nn.MaxPool2d)
def _m_max_pool2d(b, path, mod, x):
    return _max_pool2d(b, x, mod.kernel_size, mod.stride, mod.padding, mod.dilation,
                       mod.ceil_mode, mod.return_indices)


@handles_module(nn.AvgPool2d)
def _m_avg_pool2d(b, path, mod, x):
    return _avg_pool2d(b, x, mod.kernel_size, mod.stride, mod.padding, mod.ceil_mode,
                       mod.count_include_pad, mod.divisor_override)


@handles_module(nn.AdaptiveAvgPool2d)
def _m_adaptive_avg_pool2d(b, path, mod, x):
    return _adaptive_avg_pool2d(b, x, mod.output_size)


@handles_module(nn.Flatten)
def _m_flatten(b, path, mod, x):
    return _reshape(b, x)


@handles_module(nn.Upsample, nn.UpsamplingNearest2d, nn.UpsamplingBilinear2d)
def _m_upsample(b, path, mod, x):
    align = True if isinstance(mod, nn.UpsamplingBilinear2d) else mod.align_corners
    return _interpolate(b, x, mod.size, mod.scale_factor, mod.mode, align,
                        getattr(mod, "recompute_scale_factor", None))


# ----------------------------------------------------------------------------
# Graph conversion
# ----------------------------------------------------------------------------

_INPLACE_FUNCTIONS = {operator.iadd, operator.isub, operator.imul, operator.itruediv,
                      torch.relu_, F.relu_}


def _is_inplace(node: torch.fx.Node, gm: torch.fx.GraphModule) -> bool:
    if node.op == "call_method":
        return node.target.endswith("_") and not node.target.startswith("__")
    if node.op == "call_function":
        return node.target in _INPLACE_FUNCTIONS or bool(node.kwargs.get("inplace"))
    if node.op == "call_module":
        return bool(getattr(gm.get_submodule(node.target), "inplace", False))
    return False


def _contains_tensor(v: Any) -> bool:
    if isinstance(v, torch.Tensor):
        return True
    if isinstance(v, (list, tuple)):
        return any(_contains_tensor(x) for x in v)
    if isinstance(v, dict):
        return any(_contains_tensor(x) for x in v.values())
    return False


def _node_location(node: torch.fx.Node) -> str:
    st = node.meta.get("stack_trace") or ""
    lines = [ln.strip() for ln in st.strip().splitlines() if ln.strip().startswith("File")]
    return lines[-1] if lines else ""


@dataclass
class _FunctionImporter:
    """Converts one traced GraphModule into one ``func.func``."""

    module: Module
    gm: torch.fx.GraphModule
    values: dict[torch.fx.Node, Any]
    leaves: tuple[type, ...]
    hierarchy: dict[str, str]  # submodule path -> func name (preserved hierarchy)
    problems: list[Problem]
    sym_name: str = "forward"
    prefix: str = ""
    called: set[str] = field(default_factory=set)

    def run(self) -> FuncOp | None:
        placeholders = [n for n in self.gm.graph.nodes if n.op == "placeholder"
                        and isinstance(self.values.get(n), torch.Tensor)]
        arg_types = [tensor_type(self.values[n]) for n in placeholders]
        block = Block(arg_types=arg_types)
        b = Builder(block, self.module)
        env: dict[torch.fx.Node, Any] = {}
        for n, arg in zip(placeholders, block.args):
            arg.name_hint = n.name
            env[n] = arg
        outputs: list[SSAValue] = []
        order = {n: i for i, n in enumerate(self.gm.graph.nodes)}
        for node in self.gm.graph.nodes:
            if node in env:
                continue
            if node.op == "output":
                try:
                    outputs = self._flatten_outputs(self._map(node.args[0], env))
                except _Skip:  # depends on a node that failed (already reported)
                    outputs = [None]
                continue
            try:
                env[node] = self._convert(b, node, env)
            except Unsupported as e:
                self.problems.append(self._problem(node, str(e)))
                env[node] = None
            except _Skip:
                env[node] = None
            if _is_inplace(node, self.gm) and node.args and isinstance(node.args[0], torch.fx.Node):
                self._rebind(node.args[0], node, order)
        if self.problems:
            return None
        if any(o is None for o in outputs):
            return None
        block.add_op(ReturnOp(*outputs))
        func = FuncOp(self.sym_name, (arg_types, [o.type for o in outputs]), Region(block))
        if self.sym_name != "forward":
            func.sym_visibility = StringAttr("private")
        return func

    @staticmethod
    def _rebind(old: torch.fx.Node, new: torch.fx.Node, order: dict) -> None:
        """After ``new`` mutates ``old`` in place, later users read ``new``."""
        for user in list(old.users):
            if order[user] > order[new]:
                user.replace_input_with(old, new)

    def _map(self, a: Any, env: dict) -> Any:
        return torch.fx.node.map_arg(a, lambda n: _Skip.check(env[n]))

    def _flatten_outputs(self, out: Any) -> list[SSAValue]:
        if isinstance(out, SSAValue):
            return [out]
        if isinstance(out, (list, tuple)):
            return [x for o in out for x in self._flatten_outputs(o)]
        if isinstance(out, dict):
            return [x for o in out.values() for x in self._flatten_outputs(o)]
        if out is None:
            return [None]  # type: ignore[list-item]
        self.problems.append(Problem("output", type(out).__name__, "",
                                     "outputs must be tensors", ""))
        return []

    def _problem(self, node: torch.fx.Node, reason: str) -> Problem:
        if node.op == "call_module":
            cls = type(self.gm.get_submodule(node.target))
            return Problem(self.prefix + str(node.target), qualified_name(cls),
                           source_location(cls), reason,
                           _LEAF_REMEDY if "no dag op" in reason else "")
        target = node.target if isinstance(node.target, str) else getattr(
            node.target, "__name__", str(node.target))
        return Problem(self.prefix + node.name, f"{node.op} {target}", _node_location(node),
                       reason, "wrap the code in a module listed in leaf_modules, or "
                       "mark the function with torch.fx.wrap")

    def _convert(self, b: Builder, node: torch.fx.Node, env: dict) -> Any:
        value = self.values.get(node)
        if node.op == "call_module" and node.target not in self.called:
            # The first call of a module is named by its path, later calls by node.
            self.called.add(node.target)
            b.node_name = self.prefix + str(node.target)
        else:
            b.node_name = self.prefix + node.name
        b.counter = b.aux = 0
        b.expected = value
        if node.op == "placeholder":
            return value  # a non-tensor (concrete) argument
        if node.op == "get_attr":
            if isinstance(value, torch.Tensor):
                return b.constant(self.prefix + str(node.target), value)
            return value
        args = self._map(node.args, env)
        kwargs = self._map(node.kwargs, env)
        has_ssa = any(isinstance(a, SSAValue) or (isinstance(a, list) and any(
            isinstance(x, SSAValue) for x in a)) for a in (*args, *kwargs.values()))
        if node.op == "call_module":
            return self._call_module(b, node, args, kwargs, value)
        if not _contains_tensor(value):
            # Static value: shape queries and arithmetic on them fold to Python.
            if not has_ssa or node.target in _SHAPE_QUERIES or node.target in (
                    getattr, operator.getitem) or node.target == "size":
                return value
            raise Unsupported("data-dependent Python value (e.g. .item(), bool(tensor))")
        if not has_ssa:
            # A tensor computed from static values only (torch.zeros(x.shape), ...).
            if isinstance(value, torch.Tensor):
                return b.constant(b.node_name, value)
        if node.op == "call_method":
            handler = _FUNCTIONS.get(node.target)
        else:
            handler = _FUNCTIONS.get(node.target)
            if handler is None and _is_user_function(node.target):
                return self._opaque_call(b, node, args, kwargs, value)
        if handler is None:
            raise Unsupported("no dag op for this operation")
        return handler(b, *args, **kwargs)

    def _call_module(self, b, node, args, kwargs, value):
        mod = self.gm.get_submodule(node.target)
        path = self.prefix + str(node.target)
        if str(node.target) in self.hierarchy:
            return self._func_call(b, node, args, value)
        handler = _MODULES.get(type(mod))
        if handler is not None and not isinstance(mod, self.leaves):
            return handler(b, path, mod, *args, **kwargs)
        if isinstance(mod, self.leaves):
            return self._opaque(b, path, qualified_name(type(mod)), args, kwargs, value,
                                {k: v for k, v in mod.state_dict().items()})
        raise Unsupported("no dag op for this module class")

    def _func_call(self, b, node, args, value):
        tensors = [a for a in args if isinstance(a, SSAValue)]
        outs = value if isinstance(value, (tuple, list)) else (value,)
        call = CallOp(self.hierarchy[str(node.target)], tensors,
                      [tensor_type(v) for v in outs])
        b.block.add_op(call)
        return call.results[0] if len(call.results) == 1 else list(call.results)

    def _opaque(self, b, path, cls_name, args, kwargs, value, state):
        if kwargs:
            raise Unsupported("keyword arguments to an opaque module")
        if not all(isinstance(a, SSAValue) for a in args):
            raise Unsupported("non-tensor arguments to an opaque module")
        outs = value if isinstance(value, (tuple, list)) else (value,)
        if not all(isinstance(o, torch.Tensor) for o in outs):
            raise Unsupported("opaque modules must return tensors")
        consts = [b.constant(f"{path}.{k}", v) for k, v in state.items()]
        op = dag.OpaqueOp.create(
            operands=list(args) + consts,
            result_types=[tensor_type(o) for o in outs],
            properties={"name": StringAttr(path), "class": StringAttr(cls_name),
                        "state": _str_array(list(state))},
        )
        b.block.add_op(op)
        if isinstance(value, (tuple, list)):
            return list(op.results)
        return op.results[0]

    def _opaque_call(self, b, node, args, kwargs, value):
        """A user function kept out of the trace (``torch.fx.wrap``)."""
        return self._opaque(b, b.node_name, qualified_name(node.target), args, kwargs,
                            value, {})


def _is_user_function(target: Any) -> bool:
    """A Python function of the user's (what ``torch.fx.wrap`` keeps out of the
    trace), as opposed to torch's, ``operator``'s or a builtin without a handler."""
    module = getattr(target, "__module__", None) or ""
    return inspect.isfunction(target) and not module.startswith(("torch", "_operator", "operator"))


class _Skip(Exception):
    """A node depends on one that failed to convert (already reported)."""

    @staticmethod
    def check(v):
        if v is None:
            raise _Skip()
        return v


def _str_array(names: list[str]):
    from xdsl.dialects.builtin import ArrayAttr

    return ArrayAttr([StringAttr(n) for n in names])


# ----------------------------------------------------------------------------
# Public entry points
# ----------------------------------------------------------------------------


def import_torch(
    model: nn.Module,
    example_inputs: Sequence[torch.Tensor] | torch.Tensor,
    leaf_modules: Iterable[type] = (),
    concrete_args: dict[str, Any] | None = None,
    preserve_hierarchy: Iterable[str | type] = (),
    custom_autowrap_torch_module_classes: Iterable[type] = (),
    fallback: str = "auto",
) -> Module:
    """Import a torch model into the dag dialect.

    Args:
        model: the module; it is put in eval mode for the trace (batch norm and
            dropout then have their inference semantics) and restored after.
        example_inputs: tensors (f32 ``N x ...`` typically) fixing all static shapes.
        leaf_modules: module classes kept atomic as ``dag.opaque`` (run by torch).
            ``custom_autowrap_torch_module_classes`` is torch-dag's name for it.
        concrete_args: forwarded to ``torch.fx.Tracer.trace`` to specialise control
            flow on non-tensor arguments.
        preserve_hierarchy: submodule paths (``"layer1.0"``) or classes kept as
            ``func.func`` + ``func.call`` instead of being inlined.
        fallback: ``"auto"`` (default): when ``torch.fx`` cannot trace the model, try
            TorchDynamo export, then leaf the untraceable submodules (and library
            layers without a dag op) automatically (see :mod:`dagc.compiler.fallback`;
            what was done is recorded on the module, read it with
            ``fallback_report(m)``; each leafed module is logged as a warning on the
            ``dagc`` logger). ``"none"``: report every problem as one error.

    Returns:
        A verified :class:`dagc.ir.Module` whose ``forward`` function takes the
        example inputs' types.

    Raises:
        ImportError_: tracing failed or operations are unsupported; the message lists
            every offending module/node with its class, location and remedy.
        ValueError: unknown ``fallback`` mode.
    """
    if fallback not in ("auto", "none"):
        raise ValueError(f"fallback must be 'auto' or 'none', got {fallback!r}")
    if isinstance(example_inputs, torch.Tensor):
        example_inputs = (example_inputs,)
    example_inputs = tuple(example_inputs)
    leaves = tuple(leaf_modules) + tuple(custom_autowrap_torch_module_classes)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            if fallback == "auto":
                from dagc.compiler.fallback import import_with_fallback

                return import_with_fallback(
                    model, example_inputs,
                    lambda ls: _import(model, example_inputs, ls, concrete_args,
                                       tuple(preserve_hierarchy)),
                    leaves,
                    dynamo=not (leaves or concrete_args or tuple(preserve_hierarchy)))
            return _import(model, example_inputs, leaves, concrete_args,
                           tuple(preserve_hierarchy))
    finally:
        model.train(was_training)


def _import(model, example_inputs, leaves, concrete_args, preserve) -> Module:
    ctx = make_context()
    module = Module(ModuleOp([]), ctx)
    paths = {p for p in preserve if isinstance(p, str)}
    classes = tuple(p for p in preserve if isinstance(p, type))
    paths |= {p for p, m in model.named_modules() if p and classes and isinstance(m, classes)}
    # Only the outermost preserved modules are outlined at this level.
    top = {p for p in paths if not any(p.startswith(q + ".") for q in paths)}
    hierarchy = {p: "fn_" + p.replace(".", "_") for p in sorted(top)}
    captured = _capture_inputs(model, example_inputs) if hierarchy else {}
    problems: list[Problem] = []
    funcs: list[FuncOp] = []
    for path, sym in hierarchy.items():
        sub = model.get_submodule(path)
        args, kwargs = captured[path]
        if kwargs:
            raise ImportError_([Problem(path, qualified_name(type(sub)), "",
                                        "keyword arguments to a preserved module", "")])
        inner = {p[len(path) + 1:] for p in paths if p.startswith(path + ".")}
        f = _import_function(module, sub, args, leaves, None, sym, path + ".", inner, problems)
        funcs.append(f)
    main = _import_function(module, model, example_inputs, leaves, concrete_args,
                            "forward", "", set(), problems, hierarchy)
    if problems:
        raise ImportError_(problems)
    for f in funcs + [main]:
        module.op.body.block.add_op(f)
    module.verify()
    return module


def _import_function(module, model, inputs, leaves, concrete_args, sym, prefix,
                     inner_paths, problems, hierarchy=None) -> FuncOp:
    if inner_paths:
        raise ImportError_([Problem(prefix.rstrip("."), qualified_name(type(model)), "",
                                    "nested preserved modules are not supported yet", "")])
    hierarchy = hierarchy or {}
    root, inputs = _traceable_root(model, inputs)
    gm = trace(root, inputs, leaves, concrete_args, leaf_paths=hierarchy)
    recorder = _Recorder(gm)
    # Placeholders: the example inputs, then the concrete args in signature order.
    params = list(inspect.signature(root.forward).parameters)[len(inputs):]
    extra = [concrete_args[p] for p in params if concrete_args and p in concrete_args]
    try:
        recorder.run(*inputs, *extra)
    except Exception as e:  # noqa: BLE001 - the traced graph failed where eager ran
        raise ImportError_([Problem(prefix.rstrip(".") or "<model>", qualified_name(type(model)),
                                    source_location(type(model)),
                                    f"the traced graph fails on the example inputs "
                                    f"({type(e).__name__}: {str(e).strip().splitlines()[0]})",
                                    "pass concrete_args or leaf_modules")]) from e
    return _FunctionImporter(module, gm, recorder.values, leaves, hierarchy, problems,
                             sym, prefix).run()


class _Root(nn.Module):
    """Holds a lone library layer so that it is traced as a call_module."""

    def __init__(self, name: str, layer: nn.Module):
        super().__init__()
        self.name = name
        self.add_module(name, layer)

    def forward(self, x):
        return getattr(self, self.name)(x)


def _traceable_root(model: nn.Module, inputs: tuple) -> tuple[nn.Module, tuple]:
    """fx traces the root's own forward; a lone ``torch.nn`` layer (BatchNorm2d,
    ConvTranspose2d, ...) is wrapped so it converts like any other layer."""
    if type(model) in _MODULES and len(inputs) == 1:
        return _Root(type(model).__name__.lower(), model), inputs
    return model, inputs


def look_for_dagable_modules(
    model: nn.Module, example_inputs: Sequence[torch.Tensor] | None = None
) -> tuple[set[type], set[type]]:
    """Which submodule classes import into dag on their own (torch-dag's
    ``look_for_dagable_modules``).

    Each submodule is imported with the inputs it received in one eager run of
    ``model`` (``example_inputs``; without them, only classes whose instances trace
    without running are judged, by tracing alone). Reasons are logged at INFO.

    Returns:
        ``(dagable_classes, undagable_classes)``; a class is undagable when any of
        its instances fails.
    """
    captured = _capture_inputs(model, tuple(example_inputs)) if example_inputs is not None else {}
    ok: set[type] = set()
    bad: set[type] = set()
    for path, mod in model.named_modules():
        if not path:
            continue
        cls = type(mod)
        try:
            if path in captured:
                args, kwargs = captured[path]
                if kwargs or not all(isinstance(a, torch.Tensor) for a in args):
                    raise ImportError_([Problem(path, qualified_name(cls), "",
                                                "non-tensor or keyword arguments", "")])
                import_torch(mod, args, fallback="none")
            else:
                _Tracer((), frozenset()).trace(mod)
            log.info("%s (%s): dagable", path, cls.__name__)
            ok.add(cls)
        except Exception as e:  # noqa: BLE001 - the finding is the failure
            log.info("%s (%s): not dagable: %s", path, cls.__name__, str(e).splitlines()[0]
                     if str(e) else type(e).__name__)
            bad.add(cls)
    return ok - bad, bad
