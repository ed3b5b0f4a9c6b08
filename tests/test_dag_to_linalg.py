"""Numerical tests of ``convert-dag-to-linalg`` (lowering/dag_to_linalg.py).

Every dag op (but ``dag.opaque``) is built in a one-op module, lowered, and the
linalg IR is executed by :class:`LinalgEvaluator` (below), a NumPy interpreter of
linalg / tensor / arith / math on tensors; the result is compared with the
reference executor (``dagc.to_torch``, i.e. torch) at 1e-5. The evaluator runs each
structured op vectorised over its parallel loops and sequentially over its
reduction loops, in the element type of the IR (f32 arithmetic stays f32); a
``tensor.empty`` reads as NaN, so a lowering that reads undefined memory fails.
xDSL's own interpreter would do the same job element by element, and lacks
``linalg.index``, the slicing ops and grouped convolution.
"""

from __future__ import annotations

import itertools
import math
import shutil
import subprocess

import dagc
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from dagc.dialects import dag
from dagc.ir import Module, make_context, numpy_dtype
from dagc.lowering.dag_to_linalg import ConvertDagToLinalgPass, reassociation
from torch import nn
from xdsl.dialects import arith, func, tensor
from xdsl.dialects import math as mathd
from xdsl.dialects.builtin import (
    DenseIntOrFPElementsAttr,
    DenseResourceAttr,
    IndexType,
    ModuleOp,
    StringAttr,
    TensorType,
    UnitAttr,
    f32,
    f64,
    i1,
)
from xdsl.dialects.linalg.abstract_ops import LinalgStructuredOperation
from xdsl.dialects.linalg.ops import IndexOp, YieldOp
from xdsl.ir import Attribute, Block, Operation, Region, SSAValue
from xdsl.ir.affine import (
    AffineBinaryOpExpr,
    AffineBinaryOpKind,
    AffineConstantExpr,
    AffineDimExpr,
    AffineExpr,
)
from xdsl.utils.exceptions import PassFailedException

RTOL = ATOL = 1e-5

# ----------------------------------------------------------------------------
# A NumPy evaluator for linalg on tensors
# ----------------------------------------------------------------------------


def _dtype(t: Attribute) -> np.dtype:
    if isinstance(t, IndexType):
        return np.dtype(np.int64)
    return numpy_dtype(t)


def _affine(expr: AffineExpr, dims: list):
    if isinstance(expr, AffineDimExpr):
        return dims[expr.position]
    if isinstance(expr, AffineConstantExpr):
        return expr.value
    assert isinstance(expr, AffineBinaryOpExpr)
    a, b = _affine(expr.lhs, dims), _affine(expr.rhs, dims)
    match expr.kind:
        case AffineBinaryOpKind.Add:
            return a + b
        case AffineBinaryOpKind.Mul:
            return a * b
        case AffineBinaryOpKind.FloorDiv:
            return a // b
        case AffineBinaryOpKind.CeilDiv:
            return -(-a // b)
        case AffineBinaryOpKind.Mod:
            return a % b
    raise NotImplementedError(expr)


def _linear(amap) -> bool:
    return all(
        not isinstance(e, AffineBinaryOpExpr)
        or e.kind in (AffineBinaryOpKind.Add, AffineBinaryOpKind.Mul)
        for r in amap.results
        for e in r.dfs()
    )


def _check_bounds(op, maps, ranges, shapes) -> None:
    """Every access of a linear map stays inside its operand: the extremes of a
    linear index are at corners of the iteration box (coefficients from unit steps)."""
    for k, (amap, shape) in enumerate(zip(maps, shapes)):
        if not _linear(amap) or not all(ranges):
            continue
        for e, size in zip(amap.results, shape):
            c0 = _affine(e, [0] * len(ranges))
            coef = [
                _affine(e, [int(i == d) for i in range(len(ranges))]) - c0
                for d in range(len(ranges))
            ]
            lo = c0 + sum(min(0, c * (n - 1)) for c, n in zip(coef, ranges))
            hi = c0 + sum(max(0, c * (n - 1)) for c, n in zip(coef, ranges))
            assert 0 <= lo and hi < size, (
                f"{op.name} operand {k}: {e} reaches [{lo}, {hi}]"
            )


_CMPF = {
    "oeq": np.equal,
    "ogt": np.greater,
    "oge": np.greater_equal,
    "olt": np.less,
    "ole": np.less_equal,
    "one": lambda a, b: (a != b) & ~np.isnan(a) & ~np.isnan(b),
    "une": np.not_equal,
}
_CMPI = {
    "eq": np.equal,
    "ne": np.not_equal,
    "slt": np.less,
    "sle": np.less_equal,
    "sgt": np.greater,
    "sge": np.greater_equal,
}


def _erf(x):
    return torch.special.erf(torch.from_numpy(np.asarray(x))).numpy()


_SCALAR_OPS = {
    arith.AddfOp: np.add,
    arith.SubfOp: np.subtract,
    arith.MulfOp: np.multiply,
    arith.DivfOp: np.divide,
    arith.MaximumfOp: np.maximum,
    arith.MinimumfOp: np.minimum,
    arith.AddiOp: np.add,
    arith.SubiOp: np.subtract,
    arith.MuliOp: np.multiply,
    arith.MaxSIOp: np.maximum,
    arith.MinSIOp: np.minimum,
    arith.AndIOp: np.bitwise_and,
    arith.NegfOp: np.negative,
    arith.SelectOp: np.where,
    mathd.ExpOp: np.exp,
    mathd.LogOp: np.log,
    mathd.SqrtOp: np.sqrt,
    mathd.AbsFOp: np.abs,
    mathd.AbsIOp: np.abs,
    mathd.TanhOp: np.tanh,
    mathd.PowFOp: np.power,
    mathd.FloorOp: np.floor,
    mathd.ErfOp: _erf,
    mathd.RsqrtOp: lambda x: np.ones_like(x) / np.sqrt(x),
}


class LinalgEvaluator:
    """Runs a module of linalg / tensor / arith / math ops on static tensors.

    ``run(*arrays)`` calls the entry function; weights are read from the module's
    resource store.
    """

    def __init__(self, module: Module):
        self.module = module
        self.funcs = {
            f.sym_name.data: f for f in module.op.body.ops if isinstance(f, func.FuncOp)
        }

    def run(self, *args: np.ndarray) -> list[np.ndarray]:
        return self.call(self.module.forward, list(args))

    def call(self, f: func.FuncOp, args: list) -> list:
        env: dict[SSAValue, object] = dict(zip(f.body.block.args, args))
        for op in f.body.block.ops:
            if isinstance(op, func.ReturnOp):
                return [env[v] for v in op.operands]
            vals = [env[v] for v in op.operands]
            if isinstance(op, func.CallOp):
                outs = self.call(self.funcs[op.callee.string_value()], vals)
            else:
                outs = [self.tensor_op(op, vals, env)]
            env.update(zip(op.results, outs))
        raise AssertionError("no func.return")

    def constant(self, op: arith.ConstantOp):
        v, t = op.value, op.result.type
        if isinstance(v, DenseResourceAttr):
            return np.array(self.module.resources.array(v))
        if isinstance(v, DenseIntOrFPElementsAttr):
            vals = np.array(v.get_values(), dtype=_dtype(t.element_type))
            if vals.size == math.prod(t.get_shape()):
                return vals.reshape(t.get_shape())
            return np.broadcast_to(vals, t.get_shape()).copy()  # splat
        return _dtype(t).type(v.value.data)

    def tensor_op(self, op, vals, env):
        if isinstance(op, arith.ConstantOp):
            return self.constant(op)
        if isinstance(op, tensor.EmptyOp):
            t = op.tensor.type
            dt = _dtype(t.element_type)
            fill = np.nan if dt.kind == "f" else 0x5A
            return np.full(t.get_shape(), fill, dtype=dt)
        if isinstance(op, tensor.ExtractSliceOp | tensor.InsertSliceOp):
            offs, sizes = op.static_offsets.get_values(), op.static_sizes.get_values()
            strides = op.static_strides.get_values()
            idx = tuple(
                slice(o, o + (s - 1) * st + 1, st) if s else slice(0, 0)
                for o, s, st in zip(offs, sizes, strides)
            )
            if isinstance(op, tensor.ExtractSliceOp):
                return vals[0][idx].reshape(op.result.type.get_shape()).copy()
            out = vals[1].copy()
            out[idx] = vals[0]
            return out
        if isinstance(op, tensor.ExpandShapeOp | tensor.CollapseShapeOp):
            return vals[0].reshape(op.result.type.get_shape())
        if isinstance(op, LinalgStructuredOperation):
            return self.structured(op, vals, env)
        raise NotImplementedError(op.name)

    def structured(self, op: LinalgStructuredOperation, vals, env):
        n_in = len(op.inputs)
        maps = [m.data for m in op.get_indexing_maps()]
        ranges = op.get_static_loop_ranges()
        kinds = [str(it.data.value) for it in op.get_iterator_types()]
        par = [d for d, k in enumerate(kinds) if k == "parallel"]
        red = [d for d, k in enumerate(kinds) if k != "parallel"]
        pshape = tuple(ranges[d] for d in par)
        grid = {}
        for axis, d in enumerate(par):
            shape = [1] * len(pshape)
            shape[axis] = ranges[d]
            grid[d] = np.arange(ranges[d], dtype=np.int64).reshape(shape)
        pdims = [grid.get(d, np.int64(0)) for d in range(len(ranges))]

        def access(arr, amap, dims):
            idx = [
                np.broadcast_to(np.asarray(_affine(e, dims)), pshape)
                for e in amap.results
            ]
            return arr[tuple(idx)] if idx else np.broadcast_to(arr, pshape)

        # Inputs read through affine (linear) maps are gathered from a flat index:
        # flat(parallel, reduction) = flat(parallel, 0) + flat(0, reduction) - flat(0, 0).
        def flat(arr, amap, dims):
            strides = np.cumprod((1,) + arr.shape[:0:-1])[::-1]
            return sum(
                (_affine(e, dims) * int(st) for e, st in zip(amap.results, strides)),
                np.int64(0),
            )

        zero = [np.int64(0)] * len(ranges)
        _check_bounds(op, maps, ranges, [np.shape(v) for v in vals])
        fast = {}
        for i, (v, m) in enumerate(zip(vals[:n_in], maps[:n_in])):
            if isinstance(v, np.ndarray) and v.ndim and _linear(m):
                base = np.broadcast_to(flat(v, m, pdims), pshape)
                fast[i] = (v.reshape(-1), base, flat(v, m, zero))

        outs = [np.array(v, copy=True) for v in vals[n_in:]]
        accs = [access(o, m, pdims) for o, m in zip(outs, maps[n_in:])]
        for point in itertools.product(*(range(ranges[d]) for d in red)):
            dims = list(zero)
            for d, v in zip(red, point):
                dims[d] = np.int64(v)
            args = []
            for i, (v, m) in enumerate(zip(vals[:n_in], maps[:n_in])):
                if i in fast:
                    data, base, origin = fast[i]
                    args.append(data[base + (flat(v, m, dims) - origin)])
                elif isinstance(v, np.ndarray):
                    args.append(
                        access(
                            v,
                            m,
                            [
                                pdims[d] if d in grid else dims[d]
                                for d in range(len(ranges))
                            ],
                        )
                    )
                else:
                    args.append(v)
            for d in grid:
                dims[d] = pdims[d]
            accs = self.body(op.body.block, args + accs, dims, env, pshape)
        for o, m, a in zip(outs, maps[n_in:], accs):
            idx = [
                np.broadcast_to(np.asarray(_affine(e, pdims)), pshape)
                for e in m.results
            ]
            o[tuple(idx)] = a
        return outs[0]

    def body(self, block: Block, args, dims, env, pshape):
        local: dict[SSAValue, object] = dict(zip(block.args, args))

        def get(v):
            return local[v] if v in local else env[v]

        with np.errstate(all="ignore"):
            for op in block.ops:
                xs = [get(v) for v in op.operands]
                if isinstance(op, YieldOp):
                    dt = [a.type for a in block.args[len(block.args) - len(xs) :]]
                    return [
                        np.broadcast_to(np.asarray(x, dtype=_dtype(t)), pshape)
                        for x, t in zip(xs, dt)
                    ]
                local[op.results[0]] = self.scalar_op(op, xs, dims)
        raise AssertionError("no linalg.yield")

    def scalar_op(self, op, xs, dims):
        if type(op) in _SCALAR_OPS:
            return _SCALAR_OPS[type(op)](*xs)
        if isinstance(op, arith.ConstantOp):
            return self.constant(op)
        if isinstance(op, IndexOp):
            return dims[op.dim.value.data]
        if isinstance(op, arith.CmpfOp):
            return _CMPF[arith.CMPF_COMPARISON_OPERATIONS[op.predicate.value.data]](*xs)
        if isinstance(op, arith.CmpiOp):
            return _CMPI[arith.CMPI_COMPARISON_OPERATIONS[op.predicate.value.data]](*xs)
        if isinstance(op, arith.IndexCastOp | arith.SIToFPOp):
            return np.asarray(xs[0]).astype(_dtype(op.result.type))
        if isinstance(op, arith.FPToSIOp):
            return np.trunc(xs[0]).astype(_dtype(op.result.type))
        if isinstance(op, tensor.ExtractOp):
            arr, idx = xs[0], xs[1:]
            for i, n in zip(idx, arr.shape):
                assert 0 <= np.min(i) and np.max(i) < n, "tensor.extract out of bounds"
            shape = np.broadcast_shapes(*(np.shape(i) for i in idx))
            return arr[tuple(np.broadcast_to(i, shape) for i in idx)]
        raise NotImplementedError(op.name)


# ----------------------------------------------------------------------------
# Building one-op modules, running them both ways
# ----------------------------------------------------------------------------


def ttype(shape, elem=f32) -> TensorType:
    return TensorType(elem, list(shape))


def one_op_module(
    cls: type[dag.DagOp],
    arg_types: list[TensorType],
    props: dict | None = None,
    result_shape=None,
) -> Module:
    """A module whose ``forward`` applies one ``cls`` op to its arguments."""
    props = {k: v for k, v in (props or {}).items() if v is not None}
    props["name"] = StringAttr("op")
    block = Block(arg_types=arg_types)
    if result_shape is None:
        probe = cls.create(
            operands=list(block.args), result_types=[arg_types[0]], properties=props
        )
        rtype = probe.infer_result_types()[0]
        probe.drop_all_references()
    else:
        rtype = ttype(result_shape, arg_types[0].element_type)
    op = cls.create(operands=list(block.args), result_types=[rtype], properties=props)
    block.add_ops([op, func.ReturnOp(op.results[0])])
    f = func.FuncOp("forward", (arg_types, [rtype]), Region(block))
    m = Module(ModuleOp([f]), make_context())
    m.verify()
    return m


def lower(m: Module, **options) -> Module:
    """A lowered copy of ``m`` (through text, so printing and parsing are checked)."""
    low = m.clone()
    ConvertDagToLinalgPass(**options).apply(low.ctx, low.op)
    low.verify()
    return dagc.parse(low.to_text())


def check(
    m: Module, inputs: list[np.ndarray], rtol=RTOL, atol=ATOL, cpu: bool = False
) -> Module:
    """Lower ``m``, run it with :class:`LinalgEvaluator` (and with ``cpu``, compiled
    by the CPU backend too) and with torch, compare; returns the lowered module."""
    expected = dagc.to_torch(m)(*[torch.from_numpy(np.array(a)) for a in inputs])
    expected = expected if isinstance(expected, tuple) else (expected,)
    expected = [e.detach().numpy() for e in expected]
    low = lower(m)
    left = [
        o.name
        for o in low.walk()
        if o.name.startswith("dag.") and o.name != "dag.opaque"
    ]
    assert not left, f"not lowered: {left}"
    runs = {"linalg evaluator": LinalgEvaluator(low).run(*inputs)}
    if cpu:
        runs["cpu"] = run_cpu(low, inputs)
    for how, got in runs.items():
        assert len(got) == len(expected)
        for g, e in zip(got, expected):
            assert g.shape == e.shape
            np.testing.assert_allclose(
                g, e, rtol=rtol, atol=atol, equal_nan=True, err_msg=how
            )
    return low


def run_cpu(low: Module, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """Run lowered IR through the CPU backend: ``dagc-bufferize``,
    ``dagc-linalg-to-loops``, ``convert-to-llvm``, LLVM IR, llvmlite (skips when
    those modules are missing)."""
    try:
        from dagc.lowering.bufferize import BufferizePass
        from dagc.lowering.linalg_to_loops import LinalgToLoopsPass
        from dagc.lowering.llvm_to_llvmir import translate_to_llvmir
        from dagc.lowering.to_llvm import ConvertToLLVMPass
        from dagc.runtime.cpu import ArgSpec, CpuModule
    except ImportError as e:
        pytest.skip(f"CPU backend not available: {e}")
    m = low.clone()
    name = m.forward.sym_name.data
    outs = [
        np.zeros(t.get_shape(), _dtype(t.element_type))
        for t in m.forward.function_type.outputs
    ]
    for p in (BufferizePass(), LinalgToLoopsPass(), ConvertToLLVMPass()):
        p.apply(m.ctx, m.op)
    args = [np.require(a, requirements="C") for a in inputs] + outs
    f = CpuModule(translate_to_llvmir(m.op, m.ctx)).get_function(
        name, [ArgSpec.array(a.shape, a.dtype) for a in args]
    )
    f(*args)
    return outs


def rand(*shape, seed=0, low=None) -> np.ndarray:
    rng = np.random.default_rng(seed + 7 * len(shape) + sum(shape))
    x = rng.standard_normal(shape).astype(np.float32)
    return np.abs(x) + low if low is not None else x


def run_op(cls, shapes, props=None, result_shape=None, inputs=None, **kw) -> Module:
    m = one_op_module(cls, [ttype(s) for s in shapes], props, result_shape)
    inputs = inputs or [rand(*s, seed=i) for i, s in enumerate(shapes)]
    return check(m, inputs, **kw)


def chain_case(cls, shapes, props=None, result_shape=None, positive=False):
    """A pytest param of :func:`test_cpu_chain`."""
    return pytest.param(
        cls, shapes, props or {}, result_shape, positive, id=f"{cls.name[4:]}-{shapes}"
    )


I = dag.ints


def ia(v):
    return dag.int_attr(v)


def unit(flag: bool):
    return UnitAttr() if flag else None


def attrs(**values) -> dict:
    """dag properties from Python values: tuples -> ``array<i64>``, bools -> unit
    attributes (absent when false), ints -> ``i64``; ``None`` is left out."""
    out = {}
    for key, v in values.items():
        if isinstance(v, tuple):
            out[key] = I(v)
        elif isinstance(v, bool):
            out[key] = unit(v)
        elif v is not None:
            out[key] = ia(v)
    return out


def pool_props(kernel, stride, padding, ceil=False, dilation=None, include_pad=None):
    """Properties of max_pool2d (with ``dilation``) / avg_pool2d."""
    return attrs(
        kernel=kernel,
        stride=stride,
        padding=padding,
        ceil_mode=ceil,
        dilation=dilation,
        count_include_pad=include_pad,
    )


def conv_props(stride, padding, dilation, groups, output_padding=None):
    """Properties of conv2d / conv_transpose2d (with ``output_padding``)."""
    return attrs(
        stride=stride,
        padding=padding,
        dilation=dilation,
        groups=groups,
        output_padding=output_padding,
    )


# ----------------------------------------------------------------------------
# Elementwise
# ----------------------------------------------------------------------------

BINARY = [
    dag.AddOp,
    dag.SubOp,
    dag.MulOp,
    dag.DivOp,
    dag.PowOp,
    dag.MaximumOp,
    dag.MinimumOp,
]
BROADCAST = [
    ((2, 3, 4), (2, 3, 4)),
    ((2, 3, 4), (4,)),
    ((2, 1, 4), (3, 1)),
    ((1,), (2, 3)),
    ((), (2, 2)),
    ((5, 1, 1), ()),
]


@pytest.mark.parametrize("shapes", BROADCAST, ids=str)
@pytest.mark.parametrize("cls", BINARY, ids=lambda c: c.name)
def test_binary(cls, shapes):
    inputs = [rand(*s, seed=i) for i, s in enumerate(shapes)]
    if cls is dag.PowOp:
        inputs[0] = np.abs(inputs[0]) + 0.5
    run_op(cls, shapes, inputs=inputs)


UNARY = [
    (cls, {})
    for cls in dag.UNARY_OPS
    if cls not in (dag.GeluOp, dag.LeakyReluOp, dag.ClampOp)
] + [
    (dag.GeluOp, {"approximate": StringAttr("none")}),
    (dag.GeluOp, {"approximate": StringAttr("tanh")}),
    (dag.LeakyReluOp, {"negative_slope": dag.float_attr(0.1)}),
    (dag.ClampOp, {"min": dag.float_attr(-0.5), "max": dag.float_attr(0.7)}),
    (dag.ClampOp, {"min": dag.float_attr(-0.5)}),
    (dag.ClampOp, {"max": dag.float_attr(0.2)}),
    (dag.ClampOp, {"min": dag.float_attr(1.0), "max": dag.float_attr(0.0)}),
]


@pytest.mark.parametrize("shape", [(7,), (2, 3, 4), ()], ids=str)
@pytest.mark.parametrize(
    "cls,props", UNARY, ids=lambda v: v.name if isinstance(v, type) else ""
)
def test_unary(cls, props, shape):
    x = rand(*shape) * 3
    run_op(cls, [shape], props, inputs=[x])


SPECIAL = np.array(
    [np.nan, np.inf, -np.inf, 0.0, -0.0, 1.5, -2.5, 3.0, -4.0, 7.0], dtype=np.float32
)


@pytest.mark.parametrize(
    "cls,props", UNARY, ids=lambda v: v.name if isinstance(v, type) else ""
)
def test_unary_special_values(cls, props):
    """NaN propagates (relu, relu6, clamp, hardswish ... as in torch); infinities.

    Except gelu(+inf): torch's vectorised erf makes it NaN, the formula gives inf."""
    x = SPECIAL
    if cls is dag.GeluOp and props["approximate"].data == "none":
        x = x[np.isfinite(x) | np.isnan(x)]
    run_op(cls, [x.shape], props, inputs=[x])


@pytest.mark.parametrize("cls", [dag.MaximumOp, dag.MinimumOp, dag.AddOp, dag.DivOp])
def test_binary_special_values(cls):
    a = SPECIAL
    b = np.roll(SPECIAL, 3)
    run_op(cls, [a.shape, b.shape], inputs=[a, b])


@pytest.mark.parametrize("dim", [0, 1, 2])
@pytest.mark.parametrize("cls", [dag.SoftmaxOp, dag.LogSoftmaxOp])
def test_softmax(cls, dim):
    run_op(cls, [(2, 3, 5)], {"dim": ia(dim)})


@pytest.mark.parametrize("cls", [dag.SoftmaxOp, dag.LogSoftmaxOp])
def test_softmax_special_values(cls):
    x = np.array(
        [
            [1.0, np.nan, 2.0],
            [-np.inf, 0.0, 1.0],
            [100.0, 100.0, -100.0],
            [1.0, 1.0, 1.0],
        ],
        dtype=np.float32,
    )
    run_op(cls, [x.shape], {"dim": ia(1)}, inputs=[x])


# ----------------------------------------------------------------------------
# Convolutions and dense layers
# ----------------------------------------------------------------------------

CONV = [
    # x shape, w shape, stride, padding, dilation, groups, bias
    ((1, 3, 6, 6), (4, 3, 3, 3), (1, 1), (0, 0), (1, 1), 1, True),
    ((2, 3, 7, 5), (4, 3, 3, 3), (1, 1), (1, 1), (1, 1), 1, False),
    ((1, 2, 9, 8), (3, 2, 3, 2), (2, 3), (1, 0), (1, 1), 1, True),
    ((1, 2, 9, 9), (2, 2, 3, 3), (1, 2), (2, 1), (2, 3), 1, True),
    ((1, 4, 5, 5), (4, 1, 3, 3), (1, 1), (1, 1), (1, 1), 4, True),  # depthwise
    ((1, 4, 8, 7), (8, 1, 3, 3), (2, 2), (1, 1), (1, 1), 4, False),  # depthwise x2
    ((2, 6, 6, 6), (4, 3, 3, 3), (1, 1), (1, 1), (1, 1), 2, True),  # grouped
    ((1, 6, 7, 7), (6, 2, 1, 1), (2, 2), (0, 0), (1, 1), 3, True),  # grouped 1x1
    ((1, 3, 4, 4), (5, 3, 1, 1), (1, 1), (0, 0), (1, 1), 1, False),  # pointwise
    ((1, 1, 3, 3), (1, 1, 3, 3), (1, 1), (1, 1), (1, 1), 1, True),
]


@pytest.mark.parametrize("case", CONV, ids=str)
def test_conv2d(case):
    xs, ws, stride, pad, dil, groups, bias = case
    shapes = [xs, ws] + ([(ws[0],)] if bias else [])
    run_op(dag.Conv2dOp, shapes, conv_props(stride, pad, dil, groups))


CONV_T = [
    # x, w, stride, padding, output_padding, dilation, groups, bias
    ((1, 3, 4, 4), (3, 2, 3, 3), (1, 1), (0, 0), (0, 0), (1, 1), 1, True),
    ((1, 3, 4, 5), (3, 2, 3, 3), (2, 2), (1, 1), (1, 1), (1, 1), 1, True),
    ((2, 2, 3, 3), (2, 3, 2, 2), (2, 2), (0, 0), (0, 0), (1, 1), 1, False),
    ((1, 2, 3, 4), (2, 2, 3, 2), (3, 2), (2, 1), (2, 1), (1, 1), 1, True),
    ((1, 2, 4, 4), (2, 1, 3, 3), (1, 2), (1, 2), (0, 1), (2, 3), 1, True),
    ((1, 4, 3, 3), (4, 2, 3, 3), (2, 2), (1, 1), (1, 0), (1, 1), 2, True),  # grouped
    ((1, 4, 3, 3), (4, 1, 3, 3), (2, 2), (1, 1), (0, 0), (1, 1), 4, False),  # depthwise
]


@pytest.mark.parametrize("case", CONV_T, ids=str)
def test_conv_transpose2d(case):
    xs, ws, stride, pad, opad, dil, groups, bias = case
    shapes = [xs, ws] + ([(ws[1] * groups,)] if bias else [])
    props = conv_props(stride, pad, dil, groups, output_padding=opad)
    run_op(dag.ConvTranspose2dOp, shapes, props)


@pytest.mark.parametrize("xshape", [(5,), (3, 5), (2, 3, 5), (2, 1, 2, 5)], ids=str)
@pytest.mark.parametrize("bias", [True, False])
def test_linear(xshape, bias):
    run_op(dag.LinearOp, [xshape, (4, 5)] + ([(4,)] if bias else []))


@pytest.mark.parametrize(
    "shapes",
    [
        ((3, 4), (4, 5)),
        ((2, 3, 4), (2, 4, 5)),
        ((2, 1, 3, 4), (5, 4, 2)),
        ((4, 3), (2, 3, 5)),
        ((2, 3, 4), (4, 1)),
        ((1, 1), (1, 1)),
    ],
    ids=str,
)
def test_matmul(shapes):
    run_op(dag.MatmulOp, list(shapes))


SDPA = [
    # q, k, v, mask shape or None, scale, causal
    ((2, 3, 4), (2, 5, 4), (2, 5, 6), None, None, False),
    ((1, 2, 4, 8), (1, 2, 4, 8), (1, 2, 4, 8), None, 0.3, True),
    ((2, 3, 4), (2, 5, 4), (2, 5, 6), (3, 5), None, False),
    ((2, 2, 4, 3), (1, 2, 6, 3), (2, 1, 6, 5), (2, 1, 4, 6), None, False),
    ((2, 2, 4, 3), (1, 2, 6, 3), (2, 1, 6, 5), None, None, True),
    ((3, 4), (5, 4), (5, 2), None, None, True),
]


@pytest.mark.parametrize("case", SDPA, ids=str)
def test_sdpa(case):
    q, k, v, mask, scale, causal = case
    shapes = [q, k, v] + ([mask] if mask else [])
    props = {
        "scale": dag.float_attr(scale) if scale else None,
        "is_causal": unit(causal),
    }
    run_op(dag.ScaledDotProductAttentionOp, shapes, props)


@pytest.mark.parametrize("boolean", [False, True])
def test_sdpa_fully_masked_row_is_zero(boolean):
    """PyTorch's attention gives 0, not NaN, where a whole row is masked."""
    q, k, v = rand(1, 3, 4), rand(1, 5, 4, seed=1), rand(1, 5, 2, seed=2)
    mask = np.ones((3, 5), dtype=bool)
    mask[1] = False
    mask[2, 3] = False
    if not boolean:
        mask = np.where(mask, 0.0, -np.inf).astype(np.float32)
    elem = i1 if boolean else f32
    types = [ttype(a.shape) for a in (q, k, v)] + [ttype(mask.shape, elem)]
    m = one_op_module(dag.ScaledDotProductAttentionOp, types)
    check(m, [q, k, v, mask])


def test_sdpa_boolean_mask():
    q, k, v = rand(2, 3, 4), rand(2, 5, 4, seed=1), rand(2, 5, 6, seed=2)
    mask = np.random.default_rng(0).random((3, 5)) > 0.4
    mask[:, 0] = True  # no fully masked row
    m = one_op_module(
        dag.ScaledDotProductAttentionOp,
        [ttype(q.shape), ttype(k.shape), ttype(v.shape), ttype(mask.shape, i1)],
    )
    check(m, [q, k, v, mask])


# ----------------------------------------------------------------------------
# Normalisation
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(4, 3), (2, 3, 5), (2, 3, 4, 5)], ids=str)
def test_batch_norm(shape):
    c = shape[1]
    inputs = [
        rand(*shape),
        rand(c, seed=1),
        rand(c, seed=2, low=0.1),
        rand(c, seed=3),
        rand(c, seed=4),
    ]
    run_op(
        dag.BatchNormOp,
        [shape] + [(c,)] * 4,
        {"eps": dag.float_attr(1e-5)},
        inputs=inputs,
    )


@pytest.mark.parametrize(
    "shape,norm",
    [
        ((3, 8), (8,)),
        ((2, 3, 5), (5,)),
        ((2, 3, 5), (3, 5)),
        ((2, 2, 3, 4), (3, 4)),
        ((4,), (4,)),
    ],
    ids=str,
)
def test_layer_norm(shape, norm):
    run_op(dag.LayerNormOp, [shape, norm, norm], {"eps": dag.float_attr(1e-5)})


@pytest.mark.parametrize(
    "shape,groups",
    [
        ((2, 4, 3, 3), 2),
        ((1, 6, 5), 3),
        ((2, 4), 4),
        ((1, 6, 2, 3), 1),
        ((1, 6, 2, 3), 6),
    ],
    ids=str,
)
def test_group_norm(shape, groups):
    c = shape[1]
    run_op(
        dag.GroupNormOp,
        [shape, (c,), (c,)],
        {"num_groups": ia(groups), "eps": dag.float_attr(1e-5)},
    )


# ----------------------------------------------------------------------------
# Pooling and reductions
# ----------------------------------------------------------------------------

POOL = [
    # input, kernel, stride, padding, dilation, ceil_mode
    ((1, 2, 6, 6), (2, 2), (2, 2), (0, 0), (1, 1), False),
    ((1, 2, 7, 7), (3, 3), (2, 2), (1, 1), (1, 1), False),
    ((2, 3, 5, 7), (3, 2), (2, 1), (1, 1), (1, 1), True),
    ((1, 1, 7, 6), (2, 2), (3, 3), (0, 1), (1, 1), True),
    ((1, 2, 8, 8), (3, 3), (2, 2), (1, 0), (2, 1), False),
    ((1, 2, 6, 5), (2, 3), (2, 2), (1, 1), (1, 2), True),
    ((1, 1, 5, 5), (5, 5), (1, 1), (2, 2), (1, 1), False),
]


@pytest.mark.parametrize("case", POOL, ids=str)
def test_max_pool2d(case):
    xs, k, s, p, d, ceil = case
    run_op(dag.MaxPool2dOp, [xs], pool_props(k, s, p, ceil, dilation=d))


def test_max_pool2d_nan_and_inf():
    x = rand(1, 1, 4, 4)
    x[0, 0, 0, 1] = np.nan
    x[0, 0, 3, 3] = -np.inf
    x[0, 0, 2, 2] = np.inf
    props = pool_props((2, 2), (2, 2), (1, 1), dilation=(1, 1))
    run_op(dag.MaxPool2dOp, [x.shape], props, inputs=[x])


@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("case", [c for c in POOL if c[4] == (1, 1)], ids=str)
def test_avg_pool2d(case, count_include_pad):
    xs, k, s, p, _, ceil = case
    props = pool_props(k, s, p, ceil, include_pad=count_include_pad)
    run_op(dag.AvgPool2dOp, [xs], props)


@pytest.mark.parametrize(
    "shape,out",
    [
        ((1, 2, 4, 4), (1, 1)),
        ((1, 2, 4, 6), (2, 3)),
        ((2, 2, 5, 7), (3, 2)),
        ((1, 1, 5, 5), (4, 4)),
        ((1, 1, 3, 2), (5, 3)),
        ((1, 3, 7, 7), (7, 7)),
    ],
    ids=str,
)
def test_adaptive_avg_pool2d(shape, out):
    run_op(dag.AdaptiveAvgPool2dOp, [shape], {"output_size": I(out)})


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dims", [(0,), (1,), (2,), (0, 2), (1, 2), (0, 1, 2)], ids=str)
@pytest.mark.parametrize("cls", [dag.SumOp, dag.MeanOp])
def test_reduce(cls, dims, keepdim):
    run_op(cls, [(2, 3, 4)], {"dims": I(dims), "keepdim": unit(keepdim)})


# ----------------------------------------------------------------------------
# Shape manipulation
# ----------------------------------------------------------------------------

RESHAPES = [
    ((2, 3, 4), (6, 4)),
    ((2, 3, 4), (2, 12)),
    ((6, 4), (2, 3, 4)),
    ((2, 3, 4), (4, 6)),
    ((2, 3, 4), (3, 8)),
    ((2, 3, 4), (24,)),
    ((24,), (2, 3, 4)),
    ((1, 6), (6,)),
    ((2, 1, 3), (2, 3)),
    ((2, 3), (1, 2, 1, 3, 1)),
    ((1,), ()),
    ((), (1, 1)),
    ((1, 1), ()),
    ((4, 1, 6), (2, 12, 1)),
    ((2, 3, 4), (2, 3, 4)),
]


@pytest.mark.parametrize("src,dst", RESHAPES, ids=str)
def test_reshape(src, dst):
    """collapse / expand_shape only, but a generic copy to or from rank 0."""
    low = run_op(dag.ReshapeOp, [src], result_shape=dst)
    generics = [o for o in low.walk() if o.name == "linalg.generic"]
    assert len(generics) == (src == () or dst == ())


def test_reassociation_groups():
    assert reassociation((2, 3, 4), (6, 4)) == [([0, 1], [0]), ([2], [1])]
    assert reassociation((2, 3, 4), (3, 8)) == [([0, 1, 2], [0, 1])]
    assert reassociation((2, 1, 3), (2, 3)) == [([0], [0]), ([1, 2], [1])]
    assert reassociation((2, 3, 1), (6,)) == [([0, 1, 2], [0])]
    with pytest.raises(ValueError):
        reassociation((2, 3), (7,))


@pytest.mark.parametrize(
    "src,dst",
    [
        ((3, 1), (2, 3, 4)),
        ((1,), (5,)),
        ((2, 1, 3), (2, 4, 3)),
        ((), (2, 2)),
        ((3,), (3,)),
    ],
    ids=str,
)
def test_expand(src, dst):
    run_op(dag.ExpandOp, [src], result_shape=dst)


INTERP = [
    # in (H, W), out (H, W)
    ((4, 4), (8, 8)),
    ((3, 5), (7, 4)),
    ((5, 4), (2, 3)),
    ((4, 3), (4, 9)),
    ((1, 3), (3, 1)),
    ((6, 6), (6, 6)),
    ((2, 2), (5, 5)),
]


@pytest.mark.parametrize("sizes", INTERP, ids=str)
@pytest.mark.parametrize("mode", ["nearest", "bilinear", "bilinear-align"])
def test_interpolate(mode, sizes):
    (h, w), (oh, ow) = sizes
    props = {
        "mode": StringAttr(mode.split("-")[0]),
        "align_corners": unit(mode.endswith("align")),
    }
    run_op(dag.InterpolateOp, [(1, 2, h, w)], props, result_shape=(1, 2, oh, ow))


@pytest.mark.parametrize(
    "shape,perm",
    [
        ((2, 3), (1, 0)),
        ((2, 3, 4), (2, 0, 1)),
        ((2, 3, 4, 5), (0, 2, 3, 1)),
        ((2, 3), (0, 1)),
    ],
    ids=str,
)
def test_permute(shape, perm):
    run_op(dag.PermuteOp, [shape], {"perm": I(perm)})


@pytest.mark.parametrize(
    "shapes,dim",
    [
        (((2, 3), (2, 4)), 1),
        (((1, 3), (2, 3), (3, 3)), 0),
        (((2, 2, 1), (2, 2, 3)), 2),
        (((2, 3),), 0),
    ],
    ids=str,
)
def test_concat(shapes, dim):
    run_op(dag.ConcatOp, list(shapes), {"dim": ia(dim)})


@pytest.mark.parametrize(
    "dim,start,end,step",
    [
        (0, 0, 5, 1),
        (0, 1, 4, 2),
        (1, 0, 6, 3),
        (1, 2, 6, 5),
        (2, 1, 2, 1),
        (1, 3, 3, 1),
        (1, 5, 6, 2),
    ],
    ids=str,
)
def test_slice(dim, start, end, step):
    props = {"dim": ia(dim), "start": ia(start), "end": ia(end), "step": ia(step)}
    run_op(dag.SliceOp, [(5, 6, 3)], props)


@pytest.mark.parametrize(
    "shape,dim,index",
    [
        ((3, 4, 5), 0, 2),
        ((3, 4, 5), 1, 0),
        ((3, 4, 5), 2, 4),
        ((4,), 0, 3),
        ((1, 2), 0, 0),
    ],
    ids=str,
)
def test_select(shape, dim, index):
    run_op(dag.SelectOp, [shape], {"dim": ia(dim), "index": ia(index)})


PADS = [(1, 2), (0, 1, 2, 0), (1, 1, 1, 1, 1, 1), (-1, 2), (2, -1, 0, 1), (-3, 4)]


@pytest.mark.parametrize("pads", PADS, ids=str)
@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate"])
def test_pad(mode, pads):
    shape = (2, 3, 5) if len(pads) < 6 else (1, 2, 3, 4, 5)
    props = {"pads": I(pads), "mode": StringAttr(mode), "value": dag.float_attr(1.5)}
    run_op(dag.PadOp, [shape], props)


def test_reflect_pad_too_large_fails():
    m = one_op_module(
        dag.PadOp, [ttype((2, 3))], {"pads": I((3, 0)), "mode": StringAttr("reflect")}
    )
    with pytest.raises(PassFailedException, match='dag.pad "op".*reflect'):
        lower(m)


# ----------------------------------------------------------------------------
# Constants, opaque ops, integer tensors
# ----------------------------------------------------------------------------

CONSTANTS = """
func.func @forward(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %w = dag.constant "w"() {value = dense_resource<w> : tensor<2x3xf32>} : () -> tensor<2x3xf32>
  %c = dag.constant "c"() {value = dense<[1.0, 2.0, 3.0]> : tensor<3xf32>} : () -> tensor<3xf32>
  %s = dag.constant "s"() {value = dense<0.5> : tensor<2x1xf32>} : () -> tensor<2x1xf32>
  %0 = dag.mul "m"(%x, %w) : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  %1 = dag.add "a"(%0, %c) : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  %2 = dag.sub "s2"(%1, %s) : (tensor<2x3xf32>, tensor<2x1xf32>) -> tensor<2x3xf32>
  func.return %2 : tensor<2x3xf32>
}
{-#
  dialect_resources: {
    builtin: {
      w: "0x040000000000803F000000400000404000008040"
    }
  }
#-}
"""


def test_constants_keep_their_resource():
    text = CONSTANTS.replace(
        "0x040000000000803F000000400000404000008040",
        "0x04000000" + np.arange(1, 7, dtype="<f4").tobytes().hex().upper(),
    )
    m = dagc.parse(text)
    low = check(m, [rand(2, 3)])
    consts = [
        o
        for o in low.walk()
        if isinstance(o, arith.ConstantOp) and isinstance(o.value, DenseResourceAttr)
    ]
    assert [c.value.resource_handle.data for c in consts] == ["w"]
    assert "dense_resource<w> : tensor<2x3xf32>" in low.to_text()


OPAQUE = """
func.func @forward(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %0 = dag.relu "r"(%x) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %1 = dag.opaque "strange"(%0) {class = "pkg.Strange"} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %2 = dag.neg "n"(%1) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  func.return %2 : tensor<2x3xf32>
}
"""


def test_opaque_is_kept_on_request():
    low = lower(dagc.parse(OPAQUE), keep_opaque=True)
    names = [o.name for o in low.walk() if o.name.startswith("dag.")]
    assert names == ["dag.opaque"]
    opaque = next(o for o in low.walk() if isinstance(o, dag.OpaqueOp))
    assert (
        isinstance(opaque.operands[0].owner, Operation)
        and opaque.operands[0].owner.name == "linalg.generic"
    )


def test_opaque_fails_by_default():
    with pytest.raises(PassFailedException, match='dag.opaque "strange".*pkg.Strange'):
        lower(dagc.parse(OPAQUE))


def test_integer_elementwise_and_movement():
    from xdsl.dialects.builtin import i64

    types = [ttype((2, 3), i64), ttype((3,), i64)]
    m = one_op_module(dag.AddOp, types)
    a = np.arange(6, dtype=np.int64).reshape(2, 3)
    b = np.array([10, -20, 30], dtype=np.int64)
    got = LinalgEvaluator(lower(m)).run(a, b)[0]
    np.testing.assert_array_equal(got, a + b)
    m = one_op_module(dag.PermuteOp, [types[0]], {"perm": I((1, 0))})
    np.testing.assert_array_equal(LinalgEvaluator(lower(m)).run(a)[0], a.T)


@pytest.mark.parametrize(
    "cls,shapes,props,result_shape",
    [
        (
            dag.Conv2dOp,
            [(1, 2, 5, 5), (4, 1, 3, 3), (4,)],
            conv_props((1, 1), (1, 1), (1, 1), 2),
            None,
        ),
        (
            dag.InterpolateOp,
            [(1, 2, 3, 5)],
            {"mode": StringAttr("bilinear")},
            (1, 2, 7, 4),
        ),
        (
            dag.InterpolateOp,
            [(1, 2, 3, 5)],
            {"mode": StringAttr("nearest")},
            (1, 2, 7, 4),
        ),
        (dag.GeluOp, [(3, 4)], {"approximate": StringAttr("tanh")}, None),
        (dag.LayerNormOp, [(3, 4), (4,), (4,)], {"eps": dag.float_attr(1e-5)}, None),
    ],
    ids=lambda v: v.name if isinstance(v, type) else "",
)
def test_float64(cls, shapes, props, result_shape):
    """f64 tensors: constants and resize scales in double, as torch computes them."""
    m = one_op_module(cls, [ttype(s, f64) for s in shapes], props, result_shape)
    check(m, [rand(*s, seed=i).astype(np.float64) for i, s in enumerate(shapes)])


def test_integer_mean_fails_with_the_op_name():
    from xdsl.dialects.builtin import i64

    m = one_op_module(dag.MeanOp, [ttype((2, 3), i64)], {"dims": I((1,))})
    with pytest.raises(PassFailedException, match='dag.mean "op".*floating-point'):
        lower(m)


# ----------------------------------------------------------------------------
# Whole models (through the torch importer: negative dims, flatten, weights)
# ----------------------------------------------------------------------------


class SmallNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.dw = nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False)
        self.ln = nn.LayerNorm(8)
        self.fc = nn.Linear(8, 5)

    def forward(self, x):
        y = F.hardswish(self.bn(self.conv(x)))
        y = F.max_pool2d(self.dw(y) + y, 2, ceil_mode=True)
        y = F.interpolate(y, scale_factor=2, mode="bilinear", align_corners=False)
        y = F.adaptive_avg_pool2d(y, 1).flatten(1)
        y = torch.cat([self.ln(y), y.transpose(0, 1).transpose(0, 1)], dim=-1)
        return torch.log_softmax(self.fc(y[:, :8]) * 2, dim=-1)


def test_small_model():
    torch.manual_seed(0)
    model = SmallNet().eval()
    with torch.no_grad():
        model.bn.running_mean.uniform_(-1, 1)
        model.bn.running_var.uniform_(0.5, 2)
    x = torch.randn(2, 3, 9, 9)
    m = dagc.import_torch(model, (x,))
    check(m, [x.numpy()])


@pytest.mark.parametrize(
    "name",
    [
        "resnet18_small",
        "mobilenet_v2_small",
        "vit_tiny",
        "efficientnet_small",
        "unet_small",
    ],
)
def test_example_models(name):
    from dagc.examples.models import get_model

    model, inputs = get_model(name)
    m = dagc.import_torch(model.eval(), inputs)
    if any(isinstance(o, dag.OpaqueOp) for o in m.walk()):
        pytest.skip(f"{name} has opaque ops")
    check(m, [t.numpy() for t in inputs], rtol=1e-4, atol=1e-4)


# ----------------------------------------------------------------------------
# Through the whole CPU chain: bufferize, loops, llvm, native code
# ----------------------------------------------------------------------------

CHAIN = [
    *(
        chain_case(cls, [(2, 1, 4), (3, 1)], positive=cls is dag.PowOp)
        for cls in BINARY
    ),
    *(chain_case(cls, [(2, 3, 4)], props) for cls, props in UNARY),
    chain_case(dag.SoftmaxOp, [(2, 3, 5)], {"dim": ia(1)}),
    chain_case(dag.LogSoftmaxOp, [(2, 3, 5)], {"dim": ia(2)}),
    *(
        chain_case(
            dag.Conv2dOp,
            [xs, ws] + ([(ws[0],)] if bias else []),
            conv_props(st, p, d, g),
        )
        for xs, ws, st, p, d, g, bias in CONV[2:7]
    ),
    *(
        chain_case(
            dag.ConvTranspose2dOp,
            [xs, ws] + ([(ws[1] * g,)] if bias else []),
            conv_props(st, p, d, g, output_padding=op),
        )
        for xs, ws, st, p, op, d, g, bias in CONV_T[3:6]
    ),
    chain_case(dag.LinearOp, [(2, 3, 5), (4, 5), (4,)]),
    chain_case(dag.MatmulOp, [(3, 4), (4, 5)]),
    chain_case(dag.MatmulOp, [(2, 1, 3, 4), (5, 4, 2)]),
    chain_case(
        dag.ScaledDotProductAttentionOp, [(2, 3, 4), (2, 5, 4), (2, 5, 6), (3, 5)]
    ),
    chain_case(
        dag.ScaledDotProductAttentionOp, [(1, 2, 4, 8)] * 3, {"is_causal": UnitAttr()}
    ),
    chain_case(
        dag.BatchNormOp,
        [(2, 3, 4, 5)] + [(3,)] * 4,
        {"eps": dag.float_attr(1e-5)},
        positive=True,
    ),
    chain_case(
        dag.LayerNormOp, [(2, 3, 5), (3, 5), (3, 5)], {"eps": dag.float_attr(1e-5)}
    ),
    chain_case(
        dag.GroupNormOp,
        [(2, 4, 3, 3), (4,), (4,)],
        {"num_groups": ia(2), "eps": dag.float_attr(1e-5)},
    ),
    *(
        chain_case(
            dag.MaxPool2dOp,
            [xs],
            pool_props(k, s, p, c, dilation=d),
        )
        for xs, k, s, p, d, c in POOL[2:6]
    ),
    *(
        chain_case(
            dag.AvgPool2dOp,
            [xs],
            pool_props(k, s, p, c, include_pad=inc),
        )
        for (xs, k, s, p, d, c), inc in [(POOL[2], True), (POOL[3], False)]
    ),
    chain_case(dag.AdaptiveAvgPool2dOp, [(1, 2, 4, 6)], {"output_size": I((2, 3))}),
    chain_case(dag.AdaptiveAvgPool2dOp, [(2, 2, 5, 7)], {"output_size": I((3, 2))}),
    chain_case(dag.SumOp, [(2, 3, 4)], {"dims": I((0, 2)), "keepdim": UnitAttr()}),
    chain_case(dag.MeanOp, [(2, 3, 4)], {"dims": I((1,))}),
    chain_case(dag.ReshapeOp, [(2, 3, 4)], result_shape=(4, 6)),
    chain_case(dag.ReshapeOp, [(1, 1)], result_shape=()),
    chain_case(dag.ExpandOp, [(3, 1)], result_shape=(2, 3, 4)),
    chain_case(
        dag.InterpolateOp,
        [(1, 2, 3, 5)],
        {"mode": StringAttr("bilinear")},
        (1, 2, 7, 4),
    ),
    chain_case(
        dag.InterpolateOp, [(1, 2, 3, 5)], {"mode": StringAttr("nearest")}, (1, 2, 7, 4)
    ),
    chain_case(dag.PermuteOp, [(2, 3, 4)], {"perm": I((2, 0, 1))}),
    chain_case(dag.ConcatOp, [(1, 3), (2, 3), (3, 3)], {"dim": ia(0)}),
    chain_case(
        dag.SliceOp,
        [(5, 6, 3)],
        {"dim": ia(1), "start": ia(2), "end": ia(6), "step": ia(3)},
    ),
    chain_case(dag.SelectOp, [(3, 4, 5)], {"dim": ia(1), "index": ia(2)}),
    *(
        chain_case(
            dag.PadOp,
            [(2, 3, 5)],
            {
                "pads": I((2, -1, 0, 1)),
                "mode": StringAttr(mode),
                "value": dag.float_attr(1.5),
            },
        )
        for mode in ("constant", "reflect", "replicate")
    ),
]


@pytest.mark.parametrize("cls,shapes,props,result_shape,positive", CHAIN)
def test_cpu_chain(cls, shapes, props, result_shape, positive):
    """The lowered IR compiles and runs on the CPU backend, matching torch."""
    inputs = [
        rand(*s, seed=i, low=0.1 if positive else None) for i, s in enumerate(shapes)
    ]
    run_op(cls, shapes, props, result_shape, inputs=inputs, cpu=True)


def test_cpu_chain_small_model():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(36, 5),
    ).eval()
    x = torch.randn(2, 3, 6, 6)
    check(dagc.import_torch(model, (x,)), [x.numpy()], cpu=True)


# ----------------------------------------------------------------------------
# Upstream MLIR accepts the output
# ----------------------------------------------------------------------------

MLIR_OPT = shutil.which("mlir-opt-22") or shutil.which("mlir-opt")


@pytest.mark.skipif(
    MLIR_OPT is None, reason="mlir-opt (22) not installed (apt mlir-22-tools)"
)
def test_mlir_opt_parses_lowered_ir(tmp_path):
    torch.manual_seed(0)
    m = dagc.import_torch(SmallNet().eval(), (torch.randn(1, 3, 9, 9),))
    low = lower(m)
    # every family of lowering in one file: add the ops SmallNet lacks
    extra = [
        one_op_module(
            dag.ConvTranspose2dOp,
            [ttype((1, 4, 3, 3)), ttype((4, 1, 3, 3))],
            conv_props((2, 2), (1, 1), (1, 1), 2, output_padding=(1, 0)),
        ),
        one_op_module(
            dag.ScaledDotProductAttentionOp,
            [ttype((2, 3, 4)), ttype((2, 5, 4)), ttype((2, 5, 6))],
            {"is_causal": UnitAttr()},
        ),
        one_op_module(
            dag.GroupNormOp,
            [ttype((1, 4, 3)), ttype((4,)), ttype((4,))],
            {"num_groups": ia(2), "eps": dag.float_attr(1e-5)},
        ),
        one_op_module(
            dag.PadOp,
            [ttype((2, 5))],
            {"pads": I((2, 1)), "mode": StringAttr("reflect")},
        ),
        one_op_module(
            dag.AvgPool2dOp,
            [ttype((1, 1, 5, 5))],
            pool_props((2, 2), (2, 2), (1, 1), ceil=True),
        ),
        one_op_module(
            dag.InterpolateOp,
            [ttype((1, 1, 3, 3))],
            {"mode": StringAttr("nearest")},
            result_shape=(1, 1, 5, 4),
        ),
        one_op_module(
            dag.AdaptiveAvgPool2dOp, [ttype((1, 1, 5, 5))], {"output_size": I((3, 2))}
        ),
        one_op_module(dag.MatmulOp, [ttype((2, 1, 3, 4)), ttype((5, 4, 2))]),
        one_op_module(dag.SelectOp, [ttype((3, 4))], {"dim": ia(1), "index": ia(2)}),
    ]
    for i, mod in enumerate([low] + [lower(e) for e in extra]):
        path = tmp_path / f"m{i}.mlir"
        path.write_text(mod.to_text())
        proc = subprocess.run(
            [MLIR_OPT, str(path)], check=False, capture_output=True, text=True
        )
        assert proc.returncode == 0, proc.stderr
