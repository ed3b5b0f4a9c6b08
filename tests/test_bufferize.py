"""Tests of `dagc-bufferize`, `dagc-linalg-generalize` and `dagc-linalg-to-loops`.

Each numerical test writes a small function on tensors, bufferizes it and runs it
with xDSL's interpreter three ways: the bufferized linalg ops (generalized, as the
interpreter runs `linalg.generic`), `scf.for` loops, and `scf.parallel` loops with
the views folded into the loads and stores.
Results are compared with torch / numpy (f32, rtol = atol = 1e-4). The structural
tests check the IR itself: copies only where needed, a dealloc for every alloc,
results computed straight into the out-parameters.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from io import StringIO
from itertools import count, product
from math import tanh

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from xdsl.context import Context
from xdsl.dialects import arith, builtin, func, get_all_dialects, math, memref, scf
from xdsl.dialects.builtin import MemRefType, ModuleOp
from xdsl.interpreter import (
    Interpreter,
    InterpreterFunctions,
    PythonValues,
    ReturnedValues,
    impl,
    impl_terminator,
    register_impls,
)
from xdsl.interpreters import register_implementations
from xdsl.interpreters.builtin import xtype_for_el_type
from xdsl.interpreters.math import MathFunctions
from xdsl.interpreters.shaped_array import ShapedArray
from xdsl.interpreters.utils.ptr import TypedPtr
from xdsl.ir import Operation
from xdsl.parser import Parser
from xdsl.printer import Printer
from xdsl.utils.exceptions import PassFailedException

from dagc.lowering.bufferize import BufferizePass
from dagc.lowering.linalg_generalize import LinalgGeneralizePass
from dagc.lowering.linalg_to_loops import LinalgToLoopsPass

# --------------------------------------------------------------------------------
# Interpreter support for what xDSL's interpreter lacks: strided views, copies,
# splat globals, scf.parallel and a few arith / math ops.
# --------------------------------------------------------------------------------


@dataclass
class StridedView(ShapedArray[float]):
    """A memref view: elements at `base + sum(index * stride)` of shared data."""

    strides: tuple[int, ...] = ()
    base: int = 0

    def offset(self, index: Sequence[int]) -> int:
        return self.base + sum(i * s for i, s in zip(index, self.strides, strict=True))


def _view(source: ShapedArray[float], type_: MemRefType) -> StridedView:
    strides = type_.get_strides()
    assert strides is not None and None not in strides
    return StridedView(
        source.data_ptr,
        list(type_.get_shape()),
        tuple(strides),  # pyright: ignore
        type_.get_offset() or 0,
    )


@register_impls
class ExtraFunctions(InterpreterFunctions):
    @impl(memref.SubviewOp)
    def run_subview(self, interpreter: Interpreter, op: Operation, args: PythonValues):
        return (_view(args[0], op.results[0].type),)  # pyright: ignore

    @impl(memref.ExpandShapeOp)
    def run_expand(self, interpreter: Interpreter, op: Operation, args: PythonValues):
        return (_view(args[0], op.results[0].type),)  # pyright: ignore

    @impl(memref.CollapseShapeOp)
    def run_collapse(self, interpreter: Interpreter, op: Operation, args: PythonValues):
        return (_view(args[0], op.results[0].type),)  # pyright: ignore

    @impl(memref.CopyOp)
    def run_copy(self, interpreter: Interpreter, op: Operation, args: PythonValues):
        source, destination = args
        for index in source.indices():
            destination.store(index, source.load(index))
        return ()

    @impl(memref.GetGlobalOp)
    def run_get_global(
        self, interpreter: Interpreter, op: memref.GetGlobalOp, args: PythonValues
    ):
        global_op = interpreter.get_op_for_symbol(op.name_)
        assert isinstance(global_op, memref.GlobalOp)
        value = global_op.initial_value
        assert isinstance(value, builtin.DenseIntOrFPElementsAttr)
        shape = list(value.get_shape())
        data = list(value.get_values())
        if len(data) == 1:
            data = data * int(np.prod(shape))
        xtype = xtype_for_el_type(value.get_element_type(), interpreter.index_bitwidth)
        return (ShapedArray(TypedPtr.new(data, xtype=xtype), shape),)

    @impl(scf.ParallelOp)
    def run_parallel(
        self, interpreter: Interpreter, op: scf.ParallelOp, args: PythonValues
    ):
        n = len(op.lowerBound)
        ranges = [
            range(*bounds) for bounds in zip(args[:n], args[n : 2 * n], args[2 * n :])
        ]
        for ind_vars in product(*ranges):
            interpreter.run_ssacfg_region(op.body, ind_vars, "scf.parallel")
        return ()

    @impl_terminator(scf.ReduceOp)
    def run_reduce(
        self, interpreter: Interpreter, op: scf.ReduceOp, args: PythonValues
    ):
        return ReturnedValues(()), ()

    @impl(arith.DivfOp)
    def run_divf(self, interpreter: Interpreter, op: arith.DivfOp, args: PythonValues):
        return (args[0] / args[1],)

    @impl(arith.DivUIOp)
    def run_divui(
        self, interpreter: Interpreter, op: arith.DivUIOp, args: PythonValues
    ):
        return (args[0] // args[1],)

    @impl(arith.RemUIOp)
    def run_remui(
        self, interpreter: Interpreter, op: arith.RemUIOp, args: PythonValues
    ):
        return (args[0] % args[1],)

    @impl(arith.NegfOp)
    def run_negf(self, interpreter: Interpreter, op: arith.NegfOp, args: PythonValues):
        return (-args[0],)

    @impl(math.TanhOp)
    def run_tanh(self, interpreter: Interpreter, op: math.TanhOp, args: PythonValues):
        return (tanh(args[0]),)


# --------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------


def make_context() -> Context:
    ctx = Context()
    for name, loader in get_all_dialects().items():
        ctx.register_dialect(name, loader)
    return ctx


def parse(text: str) -> tuple[Context, ModuleOp]:
    ctx = make_context()
    module = Parser(ctx, text).parse_module()
    module.verify()
    return ctx, module


def bufferize(text: str) -> ModuleOp:
    ctx, module = parse(text)
    BufferizePass().apply(ctx, module)
    module.verify()
    return module


def to_text(module: ModuleOp) -> str:
    """The module printed (for debugging a failing structural test)."""
    stream = StringIO()
    Printer(stream=stream).print_op(module)
    return stream.getvalue()


def _array(value: np.ndarray) -> ShapedArray[float]:
    value = np.asarray(value, dtype=np.float32)
    return ShapedArray(
        TypedPtr.new(value.ravel().tolist(), xtype=builtin.f32), list(value.shape)
    )


MODES = ("memref", "loops", "parallel")


def run(text: str, inputs: Sequence[np.ndarray], mode: str, name: str = "main"):
    """Bufferize `@name` of `text`, lower it per `mode`, interpret it.

    Returns the tensor results (read from the out-parameters) as numpy arrays.
    """
    ctx, module = parse(text)
    function = next(
        f
        for f in module.walk()
        if isinstance(f, func.FuncOp) and f.sym_name.data == name
    )
    result_types = [
        t for t in function.function_type.outputs if isinstance(t, builtin.TensorType)
    ]
    BufferizePass().apply(ctx, module)
    module.verify()
    if mode == "memref":
        LinalgGeneralizePass().apply(ctx, module)
    else:
        parallel = mode == "parallel"
        LinalgToLoopsPass(parallel=parallel, fold_views=parallel).apply(ctx, module)
        assert not any(o.dialect_name() == "linalg" for o in module.walk())
        views = ("memref.subview", "memref.expand_shape", "memref.collapse_shape")
        assert not parallel or not any(o.name in views for o in module.walk())
    module.verify()
    interpreter = Interpreter(module)
    register_implementations(interpreter, ctx)
    interpreter.register_implementations(MathFunctions())
    interpreter.register_implementations(ExtraFunctions(), override=True)
    outs = [_array(np.zeros(t.get_shape(), np.float32)) for t in result_types]
    interpreter.call_op(name, (*(_array(x) for x in inputs), *outs))
    return [np.array(o.data, np.float32).reshape(o.shape) for o in outs]


def check(text: str, inputs: Sequence[np.ndarray], expected: Sequence[np.ndarray]):
    for mode in MODES:
        results = run(text, inputs, mode)
        assert len(results) == len(expected)
        for result, reference in zip(results, expected):
            np.testing.assert_allclose(
                result, reference, rtol=1e-4, atol=1e-4, err_msg=mode
            )


def ops_named(module: ModuleOp, name: str) -> list[Operation]:
    return [op for op in module.walk() if op.name == name]


def rand(*shape: int, seed: int = 0) -> np.ndarray:
    return (
        np.random.default_rng(seed + len(shape))
        .standard_normal(shape)
        .astype(np.float32)
    )


def torch_(*arrays: np.ndarray) -> list[torch.Tensor]:
    return [torch.from_numpy(a) for a in arrays]


# --------------------------------------------------------------------------------
# Convolutions
# --------------------------------------------------------------------------------

CONV_PAD_BIAS_RELU = """
func.func @main(%x: tensor<1x2x5x5xf32>, %w: tensor<3x2x3x3xf32>, %b: tensor<3xf32>) -> tensor<1x3x3x3xf32> {
  %zero = arith.constant 0.0 : f32
  %p = tensor.pad %x low[0, 0, 1, 1] high[0, 0, 1, 1] {
  ^bb0(%i: index, %j: index, %k: index, %l: index):
    tensor.yield %zero : f32
  } : tensor<1x2x5x5xf32> to tensor<1x2x7x7xf32>
  %e = tensor.empty() : tensor<1x3x3x3xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<1x3x3x3xf32>) -> tensor<1x3x3x3xf32>
  %c = linalg.conv_2d_nchw_fchw {dilations = dense<1> : tensor<2xi64>, strides = dense<2> : tensor<2xi64>} ins(%p, %w : tensor<1x2x7x7xf32>, tensor<3x2x3x3xf32>) outs(%f : tensor<1x3x3x3xf32>) -> tensor<1x3x3x3xf32>
  %r = linalg.generic {indexing_maps = [affine_map<(n, c, h, w) -> (n, c, h, w)>, affine_map<(n, c, h, w) -> (c)>, affine_map<(n, c, h, w) -> (n, c, h, w)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%c, %b : tensor<1x3x3x3xf32>, tensor<3xf32>) outs(%c : tensor<1x3x3x3xf32>) {
  ^bb0(%in: f32, %bias: f32, %out: f32):
    %s = arith.addf %in, %bias : f32
    %m = arith.maximumf %s, %zero : f32
    linalg.yield %m : f32
  } -> tensor<1x3x3x3xf32>
  return %r : tensor<1x3x3x3xf32>
}
"""


def test_conv_stride_padding_bias_relu():
    x, w, b = rand(1, 2, 5, 5), rand(3, 2, 3, 3), rand(3)
    expected = F.relu(F.conv2d(*torch_(x, w, b), stride=2, padding=1)).numpy()
    check(CONV_PAD_BIAS_RELU, [x, w, b], [expected])


def test_conv_writes_into_out_param_in_place():
    module = bufferize(CONV_PAD_BIAS_RELU)
    (function,) = ops_named(module, "func.func")
    out = function.body.block.args[-1]
    conv = ops_named(module, "linalg.conv_2d_nchw_fchw")[0]
    (generic,) = ops_named(module, "linalg.generic")
    assert conv.operands[-1] is out and generic.operands[-1] is out
    assert generic.operands[0] is out  # the bias add reads and writes in place
    # One buffer, for the padded input; one copy, of the argument into it.
    assert len(ops_named(module, "memref.alloc")) == 1
    assert len(ops_named(module, "memref.copy")) == 1


TWO_CONVS = """
func.func @main(%x: tensor<1x2x4x4xf32>, %w1: tensor<2x2x1x1xf32>, %w2: tensor<3x2x3x3xf32>) -> tensor<1x3x4x4xf32> {
  %zero = arith.constant 0.0 : f32
  %e1 = tensor.empty() : tensor<1x2x4x4xf32>
  %f1 = linalg.fill ins(%zero : f32) outs(%e1 : tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
  %c1 = linalg.conv_2d_nchw_fchw {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>} ins(%x, %w1 : tensor<1x2x4x4xf32>, tensor<2x2x1x1xf32>) outs(%f1 : tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
  %r1 = linalg.generic {indexing_maps = [affine_map<(n, c, h, w) -> (n, c, h, w)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} outs(%c1 : tensor<1x2x4x4xf32>) {
  ^bb0(%out: f32):
    %m = arith.maximumf %out, %zero : f32
    linalg.yield %m : f32
  } -> tensor<1x2x4x4xf32>
  %p = tensor.pad %r1 low[0, 0, 1, 1] high[0, 0, 1, 1] {
  ^bb0(%i: index, %j: index, %k: index, %l: index):
    tensor.yield %zero : f32
  } : tensor<1x2x4x4xf32> to tensor<1x2x6x6xf32>
  %e2 = tensor.empty() : tensor<1x3x4x4xf32>
  %f2 = linalg.fill ins(%zero : f32) outs(%e2 : tensor<1x3x4x4xf32>) -> tensor<1x3x4x4xf32>
  %c2 = linalg.conv_2d_nchw_fchw {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>} ins(%p, %w2 : tensor<1x2x6x6xf32>, tensor<3x2x3x3xf32>) outs(%f2 : tensor<1x3x4x4xf32>) -> tensor<1x3x4x4xf32>
  return %c2 : tensor<1x3x4x4xf32>
}
"""


def test_pad_source_computed_into_padded_buffer():
    x, w1, w2 = rand(1, 2, 4, 4), rand(2, 2, 1, 1), rand(3, 2, 3, 3)
    tx, tw1, tw2 = torch_(x, w1, w2)
    expected = F.conv2d(F.relu(F.conv2d(tx, tw1)), tw2, padding=1).numpy()
    check(TWO_CONVS, [x, w1, w2], [expected])
    module = bufferize(TWO_CONVS)
    assert not ops_named(module, "memref.copy")
    (alloc,) = ops_named(module, "memref.alloc")  # the padded activation
    conv1 = ops_named(module, "linalg.conv_2d_nchw_fchw")[0]
    subview = conv1.operands[-1].owner
    assert isinstance(subview, memref.SubviewOp) and subview.source is alloc.results[0]
    assert subview.static_offsets.get_values() == (0, 0, 1, 1)


GROUPED_CONV = """
func.func @main(%x: tensor<1x4x5x5xf32>, %w: tensor<6x2x3x3xf32>) -> tensor<1x6x3x3xf32> {
  %zero = arith.constant 0.0 : f32
  %xg = tensor.expand_shape %x [[0], [1, 2], [3], [4]] output_shape [1, 2, 2, 5, 5] : tensor<1x4x5x5xf32> into tensor<1x2x2x5x5xf32>
  %wg = tensor.expand_shape %w [[0, 1], [2], [3], [4]] output_shape [2, 3, 2, 3, 3] : tensor<6x2x3x3xf32> into tensor<2x3x2x3x3xf32>
  %e = tensor.empty() : tensor<1x2x3x3x3xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<1x2x3x3x3xf32>) -> tensor<1x2x3x3x3xf32>
  %c = linalg.conv_2d_ngchw_gfchw {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>} ins(%xg, %wg : tensor<1x2x2x5x5xf32>, tensor<2x3x2x3x3xf32>) outs(%f : tensor<1x2x3x3x3xf32>) -> tensor<1x2x3x3x3xf32>
  %r = tensor.collapse_shape %c [[0], [1, 2], [3], [4]] : tensor<1x2x3x3x3xf32> into tensor<1x6x3x3xf32>
  return %r : tensor<1x6x3x3xf32>
}
"""


def test_grouped_conv_through_reshapes():
    x, w = rand(1, 4, 5, 5), rand(6, 2, 3, 3)
    expected = F.conv2d(*torch_(x, w), groups=2).numpy()
    check(GROUPED_CONV, [x, w], [expected])
    module = bufferize(GROUPED_CONV)
    # The result is computed into a reshaped view of the out-param: nothing is
    # allocated or copied.
    assert not ops_named(module, "memref.alloc") and not ops_named(
        module, "memref.copy"
    )


DEPTHWISE_CONV = """
func.func @main(%x: tensor<1x3x6x6xf32>, %w: tensor<3x3x3xf32>) -> tensor<1x3x2x2xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<1x3x2x2xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<1x3x2x2xf32>) -> tensor<1x3x2x2xf32>
  %c = linalg.generic {indexing_maps = [affine_map<(n, c, h, w, kh, kw) -> (n, c, h * 2 + kh, w * 2 + kw)>, affine_map<(n, c, h, w, kh, kw) -> (c, kh, kw)>, affine_map<(n, c, h, w, kh, kw) -> (n, c, h, w)>], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction", "reduction"]} ins(%x, %w : tensor<1x3x6x6xf32>, tensor<3x3x3xf32>) outs(%f : tensor<1x3x2x2xf32>) {
  ^bb0(%in: f32, %k: f32, %acc: f32):
    %m = arith.mulf %in, %k : f32
    %s = arith.addf %acc, %m : f32
    linalg.yield %s : f32
  } -> tensor<1x3x2x2xf32>
  return %c : tensor<1x3x2x2xf32>
}
"""


def test_depthwise_conv():
    x, w = rand(1, 3, 6, 6), rand(3, 3, 3)
    tx, tw = torch_(x, w)
    expected = F.conv2d(tx, tw.reshape(3, 1, 3, 3), stride=2, groups=3).numpy()
    check(DEPTHWISE_CONV, [x, w], [expected])


# --------------------------------------------------------------------------------
# Matmuls
# --------------------------------------------------------------------------------

LINEAR = """
func.func @main(%x: tensor<2x2x3xf32>, %w: tensor<3x4xf32>, %b: tensor<4xf32>) -> tensor<2x2x4xf32> {
  %zero = arith.constant 0.0 : f32
  %x2 = tensor.collapse_shape %x [[0, 1], [2]] : tensor<2x2x3xf32> into tensor<4x3xf32>
  %e = tensor.empty() : tensor<4x4xf32>
  %bb = linalg.broadcast ins(%b : tensor<4xf32>) outs(%e : tensor<4x4xf32>) dimensions = [0]
  %m = linalg.matmul ins(%x2, %w : tensor<4x3xf32>, tensor<3x4xf32>) outs(%bb : tensor<4x4xf32>) -> tensor<4x4xf32>
  %r = tensor.expand_shape %m [[0, 1], [2]] output_shape [2, 2, 4] : tensor<4x4xf32> into tensor<2x2x4xf32>
  return %r : tensor<2x2x4xf32>
}
"""


def test_matmul_broadcast_bias_and_reshapes():
    x, w, b = rand(2, 2, 3), rand(3, 4), rand(4)
    check(LINEAR, [x, w, b], [x @ w + b])
    module = bufferize(LINEAR)
    assert not ops_named(module, "memref.alloc") and not ops_named(
        module, "memref.copy"
    )


BATCH_MATMUL = """
func.func @main(%a: tensor<2x3x4xf32>, %b: tensor<2x4x5xf32>) -> tensor<2x3x5xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<2x3x5xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<2x3x5xf32>) -> tensor<2x3x5xf32>
  %r = linalg.generic {indexing_maps = [affine_map<(b, i, j, k) -> (b, i, k)>, affine_map<(b, i, j, k) -> (b, k, j)>, affine_map<(b, i, j, k) -> (b, i, j)>], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%a, %b : tensor<2x3x4xf32>, tensor<2x4x5xf32>) outs(%f : tensor<2x3x5xf32>) {
  ^bb0(%x: f32, %y: f32, %acc: f32):
    %m = arith.mulf %x, %y : f32
    %s = arith.addf %acc, %m : f32
    linalg.yield %s : f32
  } -> tensor<2x3x5xf32>
  return %r : tensor<2x3x5xf32>
}
"""


def test_batch_matmul():
    a, b = rand(2, 3, 4), rand(2, 4, 5)
    check(BATCH_MATMUL, [a, b], [a @ b])


# --------------------------------------------------------------------------------
# Pooling and reductions
# --------------------------------------------------------------------------------

POOLING = """
func.func @main(%x: tensor<1x2x4x4xf32>) -> (tensor<1x2x2x2xf32>, tensor<1x2x2x2xf32>) {
  %ninf = arith.constant -3.4e38 : f32
  %zero = arith.constant 0.0 : f32
  %quarter = arith.constant 0.25 : f32
  %window = tensor.empty() : tensor<2x2xf32>
  %e = tensor.empty() : tensor<1x2x2x2xf32>
  %f = linalg.fill ins(%ninf : f32) outs(%e : tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32>
  %max = linalg.pooling_nchw_max {dilations = dense<1> : tensor<2xi64>, strides = dense<2> : tensor<2xi64>} ins(%x, %window : tensor<1x2x4x4xf32>, tensor<2x2xf32>) outs(%f : tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32>
  %e2 = tensor.empty() : tensor<1x2x2x2xf32>
  %f2 = linalg.fill ins(%zero : f32) outs(%e2 : tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32>
  %sum = linalg.generic {indexing_maps = [affine_map<(n, c, h, w, kh, kw) -> (n, c, h * 2 + kh, w * 2 + kw)>, affine_map<(n, c, h, w, kh, kw) -> (kh, kw)>, affine_map<(n, c, h, w, kh, kw) -> (n, c, h, w)>], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction", "reduction"]} ins(%x, %window : tensor<1x2x4x4xf32>, tensor<2x2xf32>) outs(%f2 : tensor<1x2x2x2xf32>) {
  ^bb0(%in: f32, %k: f32, %acc: f32):
    %s = arith.addf %acc, %in : f32
    linalg.yield %s : f32
  } -> tensor<1x2x2x2xf32>
  %avg = linalg.generic {indexing_maps = [affine_map<(n, c, h, w) -> (n, c, h, w)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} outs(%sum : tensor<1x2x2x2xf32>) {
  ^bb0(%out: f32):
    %d = arith.mulf %out, %quarter : f32
    linalg.yield %d : f32
  } -> tensor<1x2x2x2xf32>
  return %max, %avg : tensor<1x2x2x2xf32>, tensor<1x2x2x2xf32>
}
"""


def test_max_and_average_pooling():
    x = rand(1, 2, 4, 4)
    (tx,) = torch_(x)
    check(POOLING, [x], [F.max_pool2d(tx, 2).numpy(), F.avg_pool2d(tx, 2).numpy()])


REDUCTIONS = """
func.func @main(%x: tensor<3x4xf32>) -> (tensor<3xf32>, tensor<4xf32>) {
  %zero = arith.constant 0.0 : f32
  %ninf = arith.constant -3.4e38 : f32
  %e = tensor.empty() : tensor<3xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<3xf32>) -> tensor<3xf32>
  %sum = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i)>], iterator_types = ["parallel", "reduction"]} ins(%x : tensor<3x4xf32>) outs(%f : tensor<3xf32>) {
  ^bb0(%in: f32, %acc: f32):
    %s = arith.addf %acc, %in : f32
    linalg.yield %s : f32
  } -> tensor<3xf32>
  %e2 = tensor.empty() : tensor<4xf32>
  %f2 = linalg.fill ins(%ninf : f32) outs(%e2 : tensor<4xf32>) -> tensor<4xf32>
  %max = linalg.reduce ins(%x : tensor<3x4xf32>) outs(%f2 : tensor<4xf32>) dimensions = [0]
  (%in: f32, %acc: f32) {
    %m = arith.maximumf %in, %acc : f32
    linalg.yield %m : f32
  }
  return %sum, %max : tensor<3xf32>, tensor<4xf32>
}
"""


def test_reductions():
    x = rand(3, 4)
    check(REDUCTIONS, [x], [x.sum(1), x.max(0)])


# --------------------------------------------------------------------------------
# Elementwise chains, transpose, broadcast
# --------------------------------------------------------------------------------

ELEMENTWISE = """
#id = affine_map<(i, j) -> (i, j)>
func.func @main(%x: tensor<2x3xf32>, %y: tensor<2x3xf32>) -> tensor<3x2xf32> {
  %one = arith.constant 1.0 : f32
  %e = tensor.empty() : tensor<2x3xf32>
  %a = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]} ins(%x, %y : tensor<2x3xf32>, tensor<2x3xf32>) outs(%e : tensor<2x3xf32>) {
  ^bb0(%p: f32, %q: f32, %o: f32):
    %m = arith.mulf %p, %q : f32
    %s = arith.addf %m, %one : f32
    linalg.yield %s : f32
  } -> tensor<2x3xf32>
  %sig = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]} ins(%a : tensor<2x3xf32>) outs(%a : tensor<2x3xf32>) {
  ^bb0(%p: f32, %o: f32):
    %n = arith.negf %p : f32
    %x1 = math.exp %n : f32
    %d = arith.addf %x1, %one : f32
    %r = arith.divf %one, %d : f32
    linalg.yield %r : f32
  } -> tensor<2x3xf32>
  %e2 = tensor.empty() : tensor<3x2xf32>
  %t = linalg.transpose ins(%sig : tensor<2x3xf32>) outs(%e2 : tensor<3x2xf32>) permutation = [1, 0]
  %th = linalg.generic {indexing_maps = [#id], iterator_types = ["parallel", "parallel"]} outs(%t : tensor<3x2xf32>) {
  ^bb0(%o: f32):
    %h = math.tanh %o : f32
    linalg.yield %h : f32
  } -> tensor<3x2xf32>
  return %th : tensor<3x2xf32>
}
"""


def test_elementwise_chain_and_transpose():
    x, y = rand(2, 3), rand(2, 3, seed=1)
    expected = np.tanh((1 / (1 + np.exp(-(x * y + 1)))).T)
    check(ELEMENTWISE, [x, y], [expected])
    module = bufferize(ELEMENTWISE)
    # The sigmoid runs in place in the buffer of the product, the tanh in place in
    # the out-param that the transpose writes: one buffer, no copy.
    assert len(ops_named(module, "memref.alloc")) == 1
    assert not ops_named(module, "memref.copy")


# --------------------------------------------------------------------------------
# Slices and concatenation
# --------------------------------------------------------------------------------

SLICES = """
func.func @main(%x: tensor<4x6xf32>, %y: tensor<3xf32>) -> (tensor<2x3xf32>, tensor<4x6xf32>) {
  %two = arith.constant 2.0 : f32
  %s = tensor.extract_slice %x[1, 2] [2, 3] [2, 1] : tensor<4x6xf32> to tensor<2x3xf32>
  %e = tensor.empty() : tensor<2x3xf32>
  %d = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>], iterator_types = ["parallel", "parallel"]} ins(%s : tensor<2x3xf32>) outs(%e : tensor<2x3xf32>) {
  ^bb0(%in: f32, %o: f32):
    %m = arith.mulf %in, %two : f32
    linalg.yield %m : f32
  } -> tensor<2x3xf32>
  %i = tensor.insert_slice %y into %x[3, 0] [1, 3] [1, 2] : tensor<3xf32> into tensor<4x6xf32>
  return %d, %i : tensor<2x3xf32>, tensor<4x6xf32>
}
"""


def test_extract_and_insert_slices():
    x, y = rand(4, 6), rand(3)
    inserted = x.copy()
    inserted[3, 0:6:2] = y
    check(SLICES, [x, y], [x[1:5:2, 2:5] * 2, inserted])
    module = bufferize(SLICES)
    # The slice is read through a subview; the insert writes a copy of the
    # (read-only) argument, made straight in the out-param.
    copies = ops_named(module, "memref.copy")
    assert len(copies) == 2 and not ops_named(module, "memref.alloc")


CONCAT = """
func.func @main(%x: tensor<1x2x3x3xf32>, %w1: tensor<2x2x1x1xf32>, %w2: tensor<1x2x1x1xf32>) -> tensor<1x3x3x3xf32> {
  %zero = arith.constant 0.0 : f32
  %e1 = tensor.empty() : tensor<1x2x3x3xf32>
  %f1 = linalg.fill ins(%zero : f32) outs(%e1 : tensor<1x2x3x3xf32>) -> tensor<1x2x3x3xf32>
  %c1 = linalg.conv_2d_nchw_fchw {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>} ins(%x, %w1 : tensor<1x2x3x3xf32>, tensor<2x2x1x1xf32>) outs(%f1 : tensor<1x2x3x3xf32>) -> tensor<1x2x3x3xf32>
  %e2 = tensor.empty() : tensor<1x1x3x3xf32>
  %f2 = linalg.fill ins(%zero : f32) outs(%e2 : tensor<1x1x3x3xf32>) -> tensor<1x1x3x3xf32>
  %c2 = linalg.conv_2d_nchw_fchw {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>} ins(%x, %w2 : tensor<1x2x3x3xf32>, tensor<1x2x1x1xf32>) outs(%f2 : tensor<1x1x3x3xf32>) -> tensor<1x1x3x3xf32>
  CONCAT_OPS
}
"""

CONCAT_INSERTS = CONCAT.replace(
    "  CONCAT_OPS",
    """  %e = tensor.empty() : tensor<1x3x3x3xf32>
  %i1 = tensor.insert_slice %c1 into %e[0, 0, 0, 0] [1, 2, 3, 3] [1, 1, 1, 1] : tensor<1x2x3x3xf32> into tensor<1x3x3x3xf32>
  %i2 = tensor.insert_slice %c2 into %i1[0, 2, 0, 0] [1, 1, 3, 3] [1, 1, 1, 1] : tensor<1x1x3x3xf32> into tensor<1x3x3x3xf32>
  return %i2 : tensor<1x3x3x3xf32>""",
)
CONCAT_OP = CONCAT.replace(
    "  CONCAT_OPS",
    """  %r = tensor.concat dim(1) %c1, %c2 : (tensor<1x2x3x3xf32>, tensor<1x1x3x3xf32>) -> tensor<1x3x3x3xf32>
  return %r : tensor<1x3x3x3xf32>""",
)


@pytest.mark.parametrize(
    "text", [CONCAT_INSERTS, CONCAT_OP], ids=["insert_slice", "concat"]
)
def test_concat_computed_into_out_param_slices(text: str):
    x, w1, w2 = rand(1, 2, 3, 3), rand(2, 2, 1, 1), rand(1, 2, 1, 1)
    tx, tw1, tw2 = torch_(x, w1, w2)
    expected = torch.cat([F.conv2d(tx, tw1), F.conv2d(tx, tw2)], 1).numpy()
    check(text, [x, w1, w2], [expected])
    module = bufferize(text)
    assert not ops_named(module, "memref.alloc") and not ops_named(
        module, "memref.copy"
    )
    (function,) = ops_named(module, "func.func")
    out = function.body.block.args[-1]
    for conv in ops_named(module, "linalg.conv_2d_nchw_fchw"):
        subview = conv.operands[-1].owner
        assert isinstance(subview, memref.SubviewOp) and subview.source is out


# --------------------------------------------------------------------------------
# Constants, returns, calls
# --------------------------------------------------------------------------------


def _blob(array: np.ndarray) -> str:
    return (
        "0x04000000" + np.ascontiguousarray(array, np.float32).tobytes().hex().upper()
    )


_handles = count()
WEIGHT = np.arange(6, dtype=np.float32).reshape(2, 3) / 4

CONSTANTS = f"""
#id = affine_map<(i, j) -> (i, j)>
func.func @main(%x: tensor<2x3xf32>) -> (tensor<2x3xf32>, tensor<2x3xf32>) {{
  %w = arith.constant dense_resource<dagc_weight> : tensor<2x3xf32>
  %b = arith.constant dense<[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]> : tensor<2x3xf32>
  %s = arith.constant dense<0.5> : tensor<2x3xf32>
  %e = tensor.empty() : tensor<2x3xf32>
  %r = linalg.generic {{indexing_maps = [#id, #id, #id, #id], iterator_types = ["parallel", "parallel"]}} ins(%x, %w, %b : tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>) outs(%e : tensor<2x3xf32>) {{
  ^bb0(%p: f32, %q: f32, %c: f32, %o: f32):
    %m = arith.mulf %p, %q : f32
    %a = arith.addf %m, %c : f32
    linalg.yield %a : f32
  }} -> tensor<2x3xf32>
  return %r, %s : tensor<2x3xf32>, tensor<2x3xf32>
}}
{{-#
  dialect_resources: {{
    builtin: {{
      dagc_weight: "{_blob(WEIGHT)}"
    }}
  }}
#-}}
"""


def test_dense_and_resource_constants_become_globals():
    # xDSL keeps resource blobs in one store per process and renames a handle that
    # is parsed again, so each parse here gets a fresh handle.
    constants = lambda: CONSTANTS.replace("dagc_weight", f"dagc_weight{next(_handles)}")
    x = rand(2, 3)
    bias = np.arange(1, 7, dtype=np.float32).reshape(2, 3)
    for mode in MODES:
        results = run(constants(), [x], mode)
        np.testing.assert_allclose(results[0], x * WEIGHT + bias, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(
            results[1], np.full((2, 3), 0.5), rtol=1e-4, atol=1e-4
        )
    module = bufferize(constants())
    globals_ = ops_named(module, "memref.global")
    assert len(globals_) == 3
    assert all(g.constant is not None for g in globals_)  # pyright: ignore
    names = {g.sym_name.data for g in globals_}  # pyright: ignore
    assert any(name.startswith("__constant_dagc_weight") for name in names)
    # The returned constant is copied into its out-param (globals are read-only).
    assert len(ops_named(module, "memref.copy")) == 1


RETURNS = """
#id = affine_map<(i) -> (i)>
func.func @main(%x: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, f32) {
  %one = arith.constant 1.0 : f32
  %e = tensor.empty() : tensor<4xf32>
  %a = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%x : tensor<4xf32>) outs(%e : tensor<4xf32>) {
  ^bb0(%p: f32, %o: f32):
    %s = arith.addf %p, %one : f32
    linalg.yield %s : f32
  } -> tensor<4xf32>
  return %a, %x, %a, %one : tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, f32
}
"""


def test_returned_arguments_and_repeated_results_are_copied():
    x = rand(4)
    check(RETURNS, [x], [x + 1, x, x + 1])
    module = bufferize(RETURNS)
    (function,) = ops_named(module, "func.func")
    assert [str(t) for t in function.function_type.outputs] == ["f32"]  # pyright: ignore
    (generic,) = ops_named(module, "linalg.generic")
    assert generic.operands[-1] is function.body.block.args[1]  # pyright: ignore
    assert len(ops_named(module, "memref.copy")) == 2


def test_result_read_after_it_is_overwritten_is_copied_first():
    """`%r0` lives in out0; `%r1` (computed from it) must not clobber it."""
    text = """
    #id = affine_map<(i) -> (i)>
    func.func @main(%x: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>) {
      %two = arith.constant 2.0 : f32
      %e = tensor.empty() : tensor<4xf32>
      %r0 = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%x : tensor<4xf32>) outs(%e : tensor<4xf32>) {
      ^bb0(%p: f32, %o: f32):
        %s = arith.addf %p, %two : f32
        linalg.yield %s : f32
      } -> tensor<4xf32>
      %r1 = linalg.generic {indexing_maps = [#id], iterator_types = ["parallel"]} outs(%r0 : tensor<4xf32>) {
      ^bb0(%o: f32):
        %m = arith.mulf %o, %two : f32
        linalg.yield %m : f32
      } -> tensor<4xf32>
      return %r1, %r0 : tensor<4xf32>, tensor<4xf32>
    }
    """
    x = rand(4)
    check(text, [x], [(x + 2) * 2, x + 2])
    module = bufferize(text)
    # %r1 cannot overwrite %r0, which is returned too: %r0 is computed in its
    # out-param, copied into the other one, and %r1 computed there in place.
    (function,) = ops_named(module, "func.func")
    _, out0, out1 = function.body.block.args  # pyright: ignore
    (copy,) = ops_named(module, "memref.copy")
    assert tuple(copy.operands) == (out1, out0)
    assert not ops_named(module, "memref.alloc")


def test_call_allocates_results_and_callee_writes_out_params():
    text = """
    #id = affine_map<(i) -> (i)>
    func.func @double(%x: tensor<4xf32>) -> tensor<4xf32> {
      %e = tensor.empty() : tensor<4xf32>
      %r = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%x : tensor<4xf32>) outs(%e : tensor<4xf32>) {
      ^bb0(%p: f32, %o: f32):
        %s = arith.addf %p, %p : f32
        linalg.yield %s : f32
      } -> tensor<4xf32>
      return %r : tensor<4xf32>
    }
    func.func @main(%x: tensor<4xf32>) -> tensor<4xf32> {
      %a = func.call @double(%x) : (tensor<4xf32>) -> tensor<4xf32>
      %b = func.call @double(%a) : (tensor<4xf32>) -> tensor<4xf32>
      return %b : tensor<4xf32>
    }
    """
    x = rand(4)
    check(text, [x], [x * 4])
    module = bufferize(text)
    (main,) = [f for f in ops_named(module, "func.func") if f.sym_name.data == "main"]  # pyright: ignore
    out = main.body.block.args[-1]  # pyright: ignore
    first, second = ops_named(module, "func.call")
    assert len(first.operands) == 2 and not first.results
    assert second.operands[1] is out  # the last call writes the result directly
    assert not ops_named(module, "memref.copy")


def test_call_with_a_strided_argument_copies_it():
    text = """
    #id = affine_map<(i) -> (i)>
    func.func @neg(%x: tensor<2xf32>) -> tensor<2xf32> {
      %e = tensor.empty() : tensor<2xf32>
      %r = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%x : tensor<2xf32>) outs(%e : tensor<2xf32>) {
      ^bb0(%p: f32, %o: f32):
        %s = arith.negf %p : f32
        linalg.yield %s : f32
      } -> tensor<2xf32>
      return %r : tensor<2xf32>
    }
    func.func @main(%x: tensor<4xf32>) -> tensor<2xf32> {
      %s = tensor.extract_slice %x[1] [2] [2] : tensor<4xf32> to tensor<2xf32>
      %r = func.call @neg(%s) : (tensor<2xf32>) -> tensor<2xf32>
      return %r : tensor<2xf32>
    }
    """
    x = rand(4)
    check(text, [x], [-x[1::2]])


# --------------------------------------------------------------------------------
# Structure: copies only where needed, deallocation
# --------------------------------------------------------------------------------


def test_write_into_argument_copies_it_into_the_out_param():
    text = """
    #id = affine_map<(i) -> (i)>
    func.func @main(%x: tensor<4xf32>, %y: tensor<4xf32>) -> tensor<4xf32> {
      %r = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%y : tensor<4xf32>) outs(%x : tensor<4xf32>) {
      ^bb0(%p: f32, %o: f32):
        %s = arith.mulf %p, %o : f32
        linalg.yield %s : f32
      } -> tensor<4xf32>
      return %r : tensor<4xf32>
    }
    """
    x, y = rand(4), rand(4, seed=3)
    check(text, [x, y], [x * y])
    module = bufferize(text)
    (function,) = ops_named(module, "func.func")
    x_arg, _, out = function.body.block.args  # pyright: ignore
    (copy,) = ops_named(module, "memref.copy")
    (generic,) = ops_named(module, "linalg.generic")
    assert tuple(copy.operands) == (x_arg, out) and generic.operands[-1] is out
    assert not ops_named(module, "memref.alloc")


def test_write_into_value_read_later_copies_it():
    text = """
    #id = affine_map<(i) -> (i)>
    func.func @main(%x: tensor<4xf32>) -> tensor<4xf32> {
      %e = tensor.empty() : tensor<4xf32>
      %a = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%x : tensor<4xf32>) outs(%e : tensor<4xf32>) {
      ^bb0(%p: f32, %o: f32):
        %s = math.exp %p : f32
        linalg.yield %s : f32
      } -> tensor<4xf32>
      %b = linalg.generic {indexing_maps = [#id], iterator_types = ["parallel"]} outs(%a : tensor<4xf32>) {
      ^bb0(%o: f32):
        %s = arith.addf %o, %o : f32
        linalg.yield %s : f32
      } -> tensor<4xf32>
      %e2 = tensor.empty() : tensor<4xf32>
      %c = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel"]} ins(%a, %b : tensor<4xf32>, tensor<4xf32>) outs(%e2 : tensor<4xf32>) {
      ^bb0(%p: f32, %q: f32, %o: f32):
        %s = arith.subf %q, %p : f32
        linalg.yield %s : f32
      } -> tensor<4xf32>
      return %c : tensor<4xf32>
    }
    """
    x = rand(4)
    check(text, [x], [np.exp(x)])
    module = bufferize(text)
    # %b cannot overwrite %a, which %c reads: %a is copied into a second buffer.
    alloc_a, alloc_b = ops_named(module, "memref.alloc")
    (copy,) = ops_named(module, "memref.copy")
    assert tuple(copy.operands) == (alloc_a.results[0], alloc_b.results[0])


def test_every_alloc_is_deallocated_after_its_last_use():
    text = """
    #id = affine_map<(i) -> (i)>
    func.func @main(%x: tensor<8xf32>) -> tensor<8xf32> {
      %e1 = tensor.empty() : tensor<8xf32>
      %a = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%x : tensor<8xf32>) outs(%e1 : tensor<8xf32>) {
      ^bb0(%p: f32, %o: f32):
        %s = math.exp %p : f32
        linalg.yield %s : f32
      } -> tensor<8xf32>
      %e2 = tensor.empty() : tensor<8xf32>
      %b = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%a : tensor<8xf32>) outs(%e2 : tensor<8xf32>) {
      ^bb0(%p: f32, %o: f32):
        %s = arith.addf %p, %p : f32
        linalg.yield %s : f32
      } -> tensor<8xf32>
      %e3 = tensor.empty() : tensor<8xf32>
      %c = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel"]} ins(%a, %b : tensor<8xf32>, tensor<8xf32>) outs(%e3 : tensor<8xf32>) {
      ^bb0(%p: f32, %q: f32, %o: f32):
        %s = arith.mulf %p, %q : f32
        linalg.yield %s : f32
      } -> tensor<8xf32>
      return %c : tensor<8xf32>
    }
    """
    x = rand(8)
    check(text, [x], [np.exp(x) * 2 * np.exp(x)])
    module = bufferize(text)
    (function,) = ops_named(module, "func.func")
    ops = list(function.body.block.ops)  # pyright: ignore
    allocs = ops_named(module, "memref.alloc")
    assert len(allocs) == 2
    for alloc in allocs:
        (dealloc,) = [
            u.operation
            for u in alloc.results[0].uses
            if u.operation.name == "memref.dealloc"
        ]
        last_use = max(
            ops.index(u.operation)
            for u in alloc.results[0].uses
            if u.operation is not dealloc
        )
        between = ops[last_use + 1 : ops.index(dealloc)]
        assert all(op.name == "memref.dealloc" for op in between)


def test_loops_are_parallel_outside_reductions():
    ctx, module = parse(BATCH_MATMUL)
    BufferizePass().apply(ctx, module)
    LinalgToLoopsPass(parallel=True).apply(ctx, module)
    module.verify()
    (parallel, _) = [
        op for op in module.walk() if isinstance(op, scf.ParallelOp)
    ]  # fill, matmul
    nests = [op for op in module.walk() if isinstance(op, scf.ParallelOp)]
    assert [len(p.lowerBound) for p in nests] == [3, 3]
    loops = [op for op in nests[1].walk() if isinstance(op, scf.ForOp)]
    assert len(loops) == 1  # the reduction over k
    del parallel


# --------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------


def test_dynamic_shapes_are_refused():
    text = """
    func.func @main(%x: tensor<?xf32>) -> tensor<?xf32> {
      return %x : tensor<?xf32>
    }
    """
    ctx, module = parse(text)
    with pytest.raises(PassFailedException, match="dynamic shape"):
        BufferizePass().apply(ctx, module)


def test_tensors_in_nested_regions_are_refused():
    text = """
    func.func @main(%x: tensor<4xf32>, %n: index) -> tensor<4xf32> {
      %c0 = arith.constant 0 : index
      %c1 = arith.constant 1 : index
      %r = scf.for %i = %c0 to %n step %c1 iter_args(%t = %x) -> (tensor<4xf32>) {
        scf.yield %t : tensor<4xf32>
      }
      return %r : tensor<4xf32>
    }
    """
    ctx, module = parse(text)
    with pytest.raises(PassFailedException, match="scf.for"):
        BufferizePass().apply(ctx, module)


# --------------------------------------------------------------------------------
# Random programs: the bufferized code must compute what the tensor code means
# --------------------------------------------------------------------------------

_SHAPES = {"4x4": (4, 4), "2x4": (2, 4), "16": (16,)}
_MAP = {
    "4x4": "affine_map<(i, j) -> (i, j)>",
    "2x4": "affine_map<(i, j) -> (i, j)>",
    "16": "affine_map<(i) -> (i)>",
}
_PAR = {
    "4x4": '"parallel", "parallel"',
    "2x4": '"parallel", "parallel"',
    "16": '"parallel"',
}


@dataclass
class _Value:
    name: str
    kind: str
    data: np.ndarray
    defined: np.ndarray  # which elements hold a defined value


def random_program(seed: int):
    """A random function over 4x4 / 2x4 / 16 tensors, with its expected results.

    Values are reused freely (as inputs, destinations, insert destinations), so the
    in-place analysis meets every kind of later read. Undefined elements (of a
    tensor.empty) are tracked so that only defined ones are compared.
    """
    rng = np.random.default_rng(seed)
    lines: list[str] = []
    args = [
        _Value(
            f"%a{i}",
            kind,
            rng.standard_normal(_SHAPES[kind]).astype(np.float32),
            np.ones(_SHAPES[kind], bool),
        )
        for i, kind in enumerate(("4x4", "2x4", "16"))
    ]
    values = list(args)
    counter = count()

    def new(kind: str, data: np.ndarray, defined: np.ndarray) -> _Value:
        value = _Value(f"%v{next(counter)}", kind, data.astype(np.float32), defined)
        values.append(value)
        return value

    def pick(kind: str) -> _Value:
        choices = [v for v in values if v.kind == kind]
        if len(choices) > 3 and rng.random() < 0.6:
            choices = choices[-3:]
        if not choices or rng.random() < 0.25:
            lines.append(
                f"  {(v := new(kind, np.zeros(_SHAPES[kind]), np.zeros(_SHAPES[kind], bool))).name} = tensor.empty() : tensor<{kind}xf32>"
            )
            return v
        return choices[rng.integers(len(choices))]

    weights = np.array([1, 4, 3, 3, 2, 1, 1, 1, 1, 1], float)
    for _ in range(rng.integers(4, 16)):
        op = rng.choice(len(weights), p=weights / weights.sum())
        kind = ("4x4", "2x4", "16")[rng.integers(3)] if op < 3 else "4x4"
        t = f"tensor<{kind}xf32>"
        if op == 0:  # fill
            out, c = pick(kind), float(rng.integers(-3, 4))
            r = new(kind, np.full(_SHAPES[kind], c), np.ones(_SHAPES[kind], bool))
            lines.append(f"  %c{r.name[2:]} = arith.constant {c} : f32")
            lines.append(
                f"  {r.name} = linalg.fill ins(%c{r.name[2:]} : f32) outs({out.name} : {t}) -> {t}"
            )
        elif op in (1, 2):  # elementwise: u * w + out (reads out) or u * w (does not)
            u, w, out = pick(kind), pick(kind), pick(kind)
            reads = op == 1
            data = u.data * w.data + (out.data if reads else 0)
            defined = u.defined & w.defined & (out.defined if reads else True)
            r = new(kind, data, defined)
            body = (
                "%s = arith.addf %m, %o : f32"
                if reads
                else "%s = arith.addf %m, %m : f32"
            )
            if not reads:
                r.data = u.data * w.data * 2
            lines.append(
                f"  {r.name} = linalg.generic {{indexing_maps = [{_MAP[kind]}, {_MAP[kind]}, {_MAP[kind]}], "
                f"iterator_types = [{_PAR[kind]}]}} ins({u.name}, {w.name} : {t}, {t}) outs({out.name} : {t}) {{\n"
                f"  ^bb0(%p: f32, %q: f32, %o: f32):\n    %m = arith.mulf %p, %q : f32\n"
                f"    {body}\n    linalg.yield %s : f32\n  }} -> {t}"
            )
        elif op == 3:  # insert_slice 2x4 into 4x4, rows r, r+1 or rows 0, 2
            src, dest = pick("2x4"), pick("4x4")
            rows = [[0, 1], [2, 3], [0, 2], [1, 3]][rng.integers(4)]
            data, defined = dest.data.copy(), dest.defined.copy()
            data[rows], defined[rows] = src.data, src.defined
            r = new("4x4", data, defined)
            step = rows[1] - rows[0]
            lines.append(
                f"  {r.name} = tensor.insert_slice {src.name} into {dest.name}[{rows[0]}, 0] [2, 4] [{step}, 1] : tensor<2x4xf32> into tensor<4x4xf32>"
            )
        elif op == 4:  # extract_slice
            src = pick("4x4")
            rows = [[0, 1], [2, 3], [0, 2], [1, 3]][rng.integers(4)]
            r = new("2x4", src.data[rows], src.defined[rows])
            step = rows[1] - rows[0]
            lines.append(
                f"  {r.name} = tensor.extract_slice {src.name}[{rows[0]}, 0] [2, 4] [{step}, 1] : tensor<4x4xf32> to tensor<2x4xf32>"
            )
        elif op == 5:  # collapse
            src = pick("4x4")
            r = new("16", src.data.reshape(16), src.defined.reshape(16))
            lines.append(
                f"  {r.name} = tensor.collapse_shape {src.name} [[0, 1]] : tensor<4x4xf32> into tensor<16xf32>"
            )
        elif op == 6:  # expand
            src = pick("16")
            r = new("4x4", src.data.reshape(4, 4), src.defined.reshape(4, 4))
            lines.append(
                f"  {r.name} = tensor.expand_shape {src.name} [[0, 1]] output_shape [4, 4] : tensor<16xf32> into tensor<4x4xf32>"
            )
        elif op == 8:  # concat of two 2x4 slices
            top, bottom = pick("2x4"), pick("2x4")
            r = new(
                "4x4",
                np.concatenate([top.data, bottom.data]),
                np.concatenate([top.defined, bottom.defined]),
            )
            lines.append(
                f"  {r.name} = tensor.concat dim(0) {top.name}, {bottom.name} : (tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<4x4xf32>"
            )
        elif op == 9:  # pad 2x4 with a row above and below
            src, c = pick("2x4"), float(rng.integers(-3, 4))
            data = np.full((4, 4), c, np.float32)
            defined = np.ones((4, 4), bool)
            data[1:3], defined[1:3] = src.data, src.defined
            r = new("4x4", data, defined)
            lines.append(f"  %c{r.name[2:]} = arith.constant {c} : f32")
            lines.append(
                f"  {r.name} = tensor.pad {src.name} low[1, 0] high[1, 0] {{\n"
                f"  ^bb0(%i: index, %j: index):\n    tensor.yield %c{r.name[2:]} : f32\n"
                f"  }} : tensor<2x4xf32> to tensor<4x4xf32>"
            )
        else:  # transpose (op 7)
            src, out = pick("4x4"), pick("4x4")
            r = new("4x4", src.data.T, src.defined.T)
            lines.append(
                f"  {r.name} = linalg.transpose ins({src.name} : tensor<4x4xf32>) outs({out.name} : tensor<4x4xf32>) permutation = [1, 0]"
            )
    returned = [values[i] for i in rng.choice(len(values), rng.integers(1, 4))]
    types = ", ".join(f"tensor<{v.kind}xf32>" for v in returned)
    text = "\n".join(
        [
            f"func.func @main(%a0: tensor<4x4xf32>, %a1: tensor<2x4xf32>, %a2: tensor<16xf32>) -> ({types}) {{",
            *lines,
            f"  return {', '.join(v.name for v in returned)} : {types}",
            "}",
        ]
    )
    return text, [a.data for a in args], returned


@pytest.mark.parametrize("seed", range(120))
def test_random_programs(seed: int):
    text, inputs, returned = random_program(seed)
    for mode in ("memref", MODES[1 + seed % 2]) if seed % 3 == 0 else ("memref",):
        results = run(text, inputs, mode)
        for result, value in zip(results, returned):
            np.testing.assert_allclose(
                result[value.defined],
                value.data[value.defined],
                rtol=1e-5,
                atol=1e-5,
                err_msg=f"{mode}\n{text}",
            )


RANK_ZERO = """
func.func @main(%x: tensor<2x3xf32>) -> (tensor<f32>, tensor<3xf32>) {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<f32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<f32>) -> tensor<f32>
  %s = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> ()>], iterator_types = ["reduction", "reduction"]} ins(%x : tensor<2x3xf32>) outs(%f : tensor<f32>) {
  ^bb0(%in: f32, %acc: f32):
    %a = arith.addf %acc, %in : f32
    linalg.yield %a : f32
  } -> tensor<f32>
  %e2 = tensor.empty() : tensor<3xf32>
  %b = linalg.generic {indexing_maps = [affine_map<(i) -> ()>, affine_map<(i) -> (i)>], iterator_types = ["parallel"]} ins(%s : tensor<f32>) outs(%e2 : tensor<3xf32>) {
  ^bb0(%in: f32, %o: f32):
    linalg.yield %in : f32
  } -> tensor<3xf32>
  return %s, %b : tensor<f32>, tensor<3xf32>
}
"""


def test_rank_zero_tensors():
    x = rand(2, 3)
    check(
        RANK_ZERO, [x], [np.array(x.sum(), np.float32), np.full(3, x.sum(), np.float32)]
    )


# --------------------------------------------------------------------------------
# The GPU contract: parallel loops on identity-layout buffers run as kernels
# --------------------------------------------------------------------------------


def _vulkan():
    try:
        from dagc.runtime.vulkan import VulkanRuntime
    except ImportError as e:  # pragma: no cover - depends on the installation
        return None, f"dagc.runtime.vulkan not importable: {e}"
    available = VulkanRuntime.available()
    return (VulkanRuntime, "") if available else (None, available.reason)


@pytest.mark.parametrize("name", ["two_convs", "concat", "grouped_conv"])
def test_parallel_loops_run_as_vulkan_kernels(name: str):
    """Bufferized, parallel loops with folded views -> dagc's GPU lowering ->
    Vulkan (lavapipe in CI): padded buffers, out-param slices and reshaped
    out-params all reach the kernels as plain buffers."""
    runtime, reason = _vulkan()
    if runtime is None:
        pytest.skip(reason)
    from dagc.lowering.gpu_to_spirv import ConvertGPUToSPIRVPass, build_dispatch_table
    from dagc.lowering.loops_to_gpu import ConvertLoopsToGPUPass

    x4, x3 = rand(1, 2, 4, 4), rand(1, 2, 3, 3)
    w1, w2, w3 = rand(2, 2, 1, 1), rand(1, 2, 1, 1, seed=1), rand(3, 2, 3, 3)
    xg, wg = rand(1, 4, 5, 5), rand(6, 2, 3, 3)
    cases = {
        "two_convs": (
            TWO_CONVS,
            [x4, w1, w3],
            lambda x, a, b: F.conv2d(F.relu(F.conv2d(x, a)), b, padding=1),
        ),
        "concat": (
            CONCAT_INSERTS,
            [x3, w1, w2],
            lambda x, a, b: torch.cat([F.conv2d(x, a), F.conv2d(x, b)], 1),
        ),
        "grouped_conv": (GROUPED_CONV, [xg, wg], lambda x, w: F.conv2d(x, w, groups=2)),
    }
    text, inputs, reference = cases[name]
    expected = reference(*torch_(*inputs)).numpy()
    ctx, module = parse(text)
    BufferizePass().apply(ctx, module)
    LinalgToLoopsPass(parallel=True, fold_views=True).apply(ctx, module)
    ConvertLoopsToGPUPass().apply(ctx, module)
    ConvertGPUToSPIRVPass().apply(ctx, module)
    table = build_dispatch_table(module)
    with runtime() as vulkan:
        (result,) = vulkan.run(table, [*inputs, np.zeros(expected.shape, np.float32)])
    np.testing.assert_allclose(
        result.reshape(expected.shape), expected, rtol=1e-4, atol=1e-4
    )
