"""
End-to-end numerical tests of the standard dialects -> llvm dialect -> LLVM IR ->
native code path: hand-written loop IR on memrefs is parsed, lowered with
`convert-to-llvm`, translated with `translate_to_llvmir`, compiled with
`CpuModule` and run on numpy arrays, and the results are compared with numpy.
"""

import math
import shutil
import subprocess
import sys
from io import StringIO

import llvmlite.binding as llvm_binding
import numpy as np
import pytest
from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp
from xdsl.parser import Parser
from xdsl.printer import Printer
from xdsl.utils.exceptions import DiagnosticException

from dagc.ir import make_context
from dagc.lowering.llvm_to_llvmir import translate_to_llvmir
from dagc.lowering.to_llvm import ConvertToLLVMPass
from dagc.runtime.cpu import (
    ArgSpec,
    CompiledFunction,
    CpuModule,
    specs_from_signature,
)

# Special values every elementwise float test sees.
SPECIAL = np.array(
    [
        np.nan,
        np.inf,
        -np.inf,
        0.0,
        -0.0,
        1.0,
        -1.0,
        0.5,
        -0.5,
        2.5,
        -2.5,
        1e-30,
        3.0,
        -7.25,
        0.49999997,
        88.0,
        -88.0,
        1e30,
    ],
    dtype=np.float32,
)


def _parse(text: str, verify: bool = True) -> tuple[Context, ModuleOp]:
    ctx = make_context()
    module = Parser(ctx, text).parse_module()
    if verify:
        module.verify()
    return ctx, module


def _lower_in_context(text: str, verify: bool = True) -> tuple[Context, ModuleOp]:
    ctx, module = _parse(text, verify)
    ConvertToLLVMPass().apply(ctx, module)
    module.verify()
    return ctx, module


def _lower(text: str, verify: bool = True) -> ModuleOp:
    return _lower_in_context(text, verify)[1]


def _build(text: str, verify_input: bool = True) -> dict[str, CompiledFunction]:
    """Compile every public func.func of `text`; return them by name."""
    ctx, module = _parse(text, verify_input)
    signatures = {
        op.sym_name.data: specs_from_signature(op.function_type)
        for op in module.ops
        if isinstance(op, func.FuncOp)
        and op.body.blocks
        and (op.sym_visibility is None or op.sym_visibility.data == "public")
    }
    ConvertToLLVMPass().apply(ctx, module)
    module.verify()
    compiled = CpuModule(translate_to_llvmir(module, ctx))
    return {
        name: compiled.get_function(name, args, result)
        for name, (args, result) in signatures.items()
    }


def _elementwise(body: str, n: int, args: int = 1, type: str = "f32") -> str:
    """A function applying `body` (%x, %y, %z -> %r) to every element."""
    names = ["x", "y", "z"][:args]
    params = ", ".join(f"%{v}s: memref<{n}x{type}>" for v in names)
    loads = "\n".join(
        f"    %{v} = memref.load %{v}s[%i] : memref<{n}x{type}>" for v in names
    )
    return f"""
func.func @f({params}, %out: memref<{n}x{type}>) {{
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %cn = arith.constant {n} : index
  scf.for %i = %c0 to %cn step %c1 {{
{loads}
    {body}
    memref.store %r, %out[%i] : memref<{n}x{type}>
  }}
  func.return
}}
"""


def _run_elementwise(body: str, *inputs: np.ndarray, type: str = "f32") -> np.ndarray:
    n = inputs[0].shape[0]
    f = _build(_elementwise(body, n, len(inputs), type))["f"]
    out = np.zeros_like(inputs[0])
    f(*inputs, out)
    return out


def _round_half_away(x: np.ndarray) -> np.ndarray:
    return np.copysign(np.floor(np.abs(x) + 0.5), x)


UNARY_MATH = {
    "math.exp": np.exp,
    "math.exp2": np.exp2,
    "math.expm1": np.expm1,
    "math.log": np.log,
    "math.log2": np.log2,
    "math.log10": np.log10,
    "math.log1p": np.log1p,
    "math.tanh": np.tanh,
    "math.erf": np.vectorize(math.erf),
    "math.sqrt": np.sqrt,
    "math.rsqrt": lambda x: 1.0 / np.sqrt(x),
    "math.absf": np.abs,
    "math.floor": np.floor,
    "math.ceil": np.ceil,
    "math.round": _round_half_away,
    "math.roundeven": np.round,
    "math.trunc": np.trunc,
    "math.sin": np.sin,
    "math.cos": np.cos,
    "math.tan": np.tan,
    "math.atan": np.arctan,
    "math.sinh": np.sinh,
    "math.cosh": np.cosh,
    "math.cbrt": np.cbrt,
}


@pytest.mark.parametrize("op", sorted(UNARY_MATH))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_unary_math(op: str, dtype: type) -> None:
    type = "f32" if dtype == np.float32 else "f64"
    rng = np.random.default_rng(0)
    x = np.concatenate([SPECIAL, rng.uniform(-5, 5, 14).astype(np.float32)])
    x = x.astype(dtype)
    got = _run_elementwise(f"%r = {op} %x : {type}", x, type=type)
    with np.errstate(all="ignore"):
        want = UNARY_MATH[op](x.astype(np.float64)).astype(dtype)
    # sin/cos/tan of 1e30 need exact argument reduction: compare loosely there.
    atol = 1e-6 if op not in ("math.sin", "math.cos", "math.tan") else 1e-5
    np.testing.assert_allclose(got, want, rtol=2e-6, atol=atol, equal_nan=True)
    assert np.array_equal(np.isnan(got), np.isnan(want))


BINARY_FLOAT = {
    "arith.addf": np.add,
    "arith.subf": np.subtract,
    "arith.mulf": np.multiply,
    "arith.divf": np.divide,
    "arith.maximumf": np.maximum,
    "arith.minimumf": np.minimum,
    "arith.maxnumf": np.fmax,
    "arith.minnumf": np.fmin,
    "math.powf": np.power,
    "math.copysign": np.copysign,
    "math.atan2": np.arctan2,
}


@pytest.mark.parametrize("op", sorted(BINARY_FLOAT))
def test_binary_float(op: str) -> None:
    x = np.repeat(SPECIAL, SPECIAL.size)
    y = np.tile(SPECIAL, SPECIAL.size)
    got = _run_elementwise(f"%r = {op} %x, %y : f32", x, y)
    with np.errstate(all="ignore"):
        want = BINARY_FLOAT[op](x.astype(np.float64), y.astype(np.float64))
        want = want.astype(np.float32)
    np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-30, equal_nan=True)
    assert np.array_equal(np.isnan(got), np.isnan(want))


def test_maximumf_minimumf_propagate_nan() -> None:
    x = np.array([np.nan, 1.0, np.nan, -np.inf], np.float32)
    y = np.array([1.0, np.nan, np.nan, np.nan], np.float32)
    assert np.isnan(_run_elementwise("%r = arith.maximumf %x, %y : f32", x, y)).all()
    assert np.isnan(_run_elementwise("%r = arith.minimumf %x, %y : f32", x, y)).all()
    maxnum = _run_elementwise("%r = arith.maxnumf %x, %y : f32", x, y)
    np.testing.assert_array_equal(maxnum, [1.0, 1.0, np.nan, -np.inf])


def test_fma_negf_and_float_casts() -> None:
    rng = np.random.default_rng(1)
    x, y, z = (rng.standard_normal(16).astype(np.float32) for _ in range(3))
    got = _run_elementwise("%r = math.fma %x, %y, %z : f32", x, y, z)
    want = (x.astype(np.float64) * y + z).astype(np.float32)
    np.testing.assert_allclose(got, want, rtol=1e-6)
    body = """%n = arith.negf %x : f32
    %d = arith.extf %n : f32 to f64
    %h = arith.truncf %d : f64 to f16
    %e = arith.extf %h : f16 to f32
    %r = math.fpowi %e, %c3 : f32, i32"""
    body = "%c3 = arith.constant 3 : i32\n    " + body
    got = _run_elementwise(body, x)
    want = (-x).astype(np.float16).astype(np.float32) ** 3
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_one_intrinsic_at_two_precisions() -> None:
    text = """
func.func @f(%x: f32, %y: f64) -> f64 {
  %a = math.exp %x : f32
  %b = math.exp %y : f64
  %c = arith.extf %a : f32 to f64
  %d = arith.addf %b, %c : f64
  func.return %d : f64
}
"""
    assert _build(text)["f"](1.0, 2.0) == pytest.approx(
        np.exp(np.float32(1)) + np.exp(2)
    )


INTEGER_OPS = {
    "arith.addi": lambda a, b: a + b,
    "arith.subi": lambda a, b: a - b,
    "arith.muli": lambda a, b: a * b,
    "arith.divsi": lambda a, b: np.trunc(a / b),
    "arith.remsi": np.fmod,
    "arith.floordivsi": np.floor_divide,
    "arith.ceildivsi": lambda a, b: -np.floor_divide(-a, b),
    "arith.divui": lambda a, b: (a % 2**32) // (b % 2**32),
    "arith.remui": lambda a, b: (a % 2**32) % (b % 2**32),
    "arith.ceildivui": lambda a, b: -((-(a % 2**32)) // (b % 2**32)),
    "arith.minsi": np.minimum,
    "arith.maxsi": np.maximum,
    "arith.minui": lambda a, b: np.minimum(a % 2**32, b % 2**32),
    "arith.maxui": lambda a, b: np.maximum(a % 2**32, b % 2**32),
    "arith.andi": np.bitwise_and,
    "arith.ori": np.bitwise_or,
    "arith.xori": np.bitwise_xor,
    "arith.shli": lambda a, b: a << (b % 8),
    "arith.shrsi": lambda a, b: a >> (b % 8),
    "arith.shrui": lambda a, b: (a % 2**32) >> (b % 8),
}


@pytest.mark.parametrize("op", sorted(INTEGER_OPS))
def test_integer_ops(op: str) -> None:
    values = np.array([0, 1, -1, 7, -7, 13, -100, 2**30, -(2**30), 5], np.int64)
    a = np.repeat(values, values.size)
    b = np.tile(values, values.size)
    if op.startswith(("arith.div", "arith.rem", "arith.floordiv", "arith.ceildiv")):
        a, b = a[b != 0], b[b != 0]
    if op.startswith(("arith.sh",)):
        b = b % 8
    body = f"%r = {op} %x, %y : i32"
    got = _run_elementwise(body, a.astype(np.int32), b.astype(np.int32), type="i32")
    want = np.asarray(INTEGER_OPS[op](a, b)).astype(np.int64).astype(np.int32)
    np.testing.assert_array_equal(got, want)


CMPF = {
    "false": lambda x, y: np.zeros_like(x, bool),
    "oeq": np.equal,
    "ogt": np.greater,
    "oge": np.greater_equal,
    "olt": np.less,
    "ole": np.less_equal,
    "one": lambda x, y: (x != y) & ~np.isnan(x) & ~np.isnan(y),
    "ord": lambda x, y: ~np.isnan(x) & ~np.isnan(y),
    "ueq": lambda x, y: (x == y) | np.isnan(x) | np.isnan(y),
    "ugt": lambda x, y: ~(x <= y),
    "uge": lambda x, y: ~(x < y),
    "ult": lambda x, y: ~(x >= y),
    "ule": lambda x, y: ~(x > y),
    "une": np.not_equal,
    "uno": lambda x, y: np.isnan(x) | np.isnan(y),
    "true": lambda x, y: np.ones_like(x, bool),
}


@pytest.mark.parametrize("predicate", sorted(CMPF))
def test_cmpf_predicates(predicate: str) -> None:
    x = np.repeat(SPECIAL[:8], 8)
    y = np.tile(SPECIAL[:8], 8)
    body = f"""%c = arith.cmpf {predicate}, %x, %y : f32
    %one = arith.constant 1.0 : f32
    %zero = arith.constant 0.0 : f32
    %r = arith.select %c, %one, %zero : f32"""
    got = _run_elementwise(body, x, y)
    np.testing.assert_array_equal(got, CMPF[predicate](x, y).astype(np.float32))


def test_integer_casts_and_cmpi() -> None:
    x = np.array([0, 1, -1, 300, -300, 2**31 - 1, -(2**31), 77], np.int32)
    body = """%t = arith.trunci %x : i32 to i8
    %s = arith.extsi %t : i8 to i64
    %u = arith.extui %t : i8 to i32
    %ix = arith.index_cast %s : i64 to index
    %j = arith.index_cast %ix : index to i32
    %f = arith.sitofp %j : i32 to f32
    %g = arith.uitofp %u : i32 to f64
    %h = arith.fptosi %f : f32 to i32
    %k = arith.fptoui %g : f64 to i32
    %sum = arith.addi %h, %k : i32
    %lt = arith.cmpi slt, %x, %sum : i32
    %b = arith.extui %lt : i1 to i32
    %r = arith.muli %sum, %b : i32"""
    got = _run_elementwise(body, x, type="i32")
    t = x.astype(np.int8)
    total = t.astype(np.int32) + t.astype(np.uint8).astype(np.int32)
    np.testing.assert_array_equal(got, np.where(x < total, total, 0))


def test_integer_math_ops() -> None:
    x = np.array([0, 1, -1, 8, -(2**31), 2**31 - 1, 12, -12], np.int32)
    bits = [int(v) % 2**32 for v in x]
    cases = {
        "math.absi": np.abs(x.astype(np.int64)).astype(np.int32),
        "math.ctpop": np.array([bin(v).count("1") for v in bits]),
        "math.ctlz": np.array([32 - v.bit_length() for v in bits]),
        "math.cttz": np.array(
            [32 if v == 0 else (v & -v).bit_length() - 1 for v in bits]
        ),
    }
    for op, want in cases.items():
        got = _run_elementwise(f"%r = {op} %x : i32", x, type="i32")
        np.testing.assert_array_equal(got, want.astype(np.int32), err_msg=op)


MATMUL = """
func.func @matmul(%a: memref<4x8xf32>, %b: memref<8x5xf32>, %c: memref<4x5xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %c5 = arith.constant 5 : index
  %c8 = arith.constant 8 : index
  %zero = arith.constant 0.0 : f32
  scf.for %i = %c0 to %c4 step %c1 {
    scf.for %j = %c0 to %c5 step %c1 {
      memref.store %zero, %c[%i, %j] : memref<4x5xf32>
      scf.for %k = %c0 to %c8 step %c1 {
        %x = memref.load %a[%i, %k] : memref<4x8xf32>
        %y = memref.load %b[%k, %j] : memref<8x5xf32>
        %acc = memref.load %c[%i, %j] : memref<4x5xf32>
        %p = arith.mulf %x, %y : f32
        %s = arith.addf %acc, %p : f32
        memref.store %s, %c[%i, %j] : memref<4x5xf32>
      }
    }
  }
  func.return
}
"""


def test_matmul_loop_nest() -> None:
    rng = np.random.default_rng(2)
    a = rng.standard_normal((4, 8)).astype(np.float32)
    b = rng.standard_normal((8, 5)).astype(np.float32)
    c = np.full((4, 5), np.nan, np.float32)
    _build(MATMUL)["matmul"](a, b, c)
    np.testing.assert_allclose(c, a @ b, rtol=1e-5, atol=1e-5)


REDUCTION = """
func.func @row_stats(%x: memref<3x7xf32>, %sums: memref<3xf32>, %maxs: memref<3xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c3 = arith.constant 3 : index
  %c7 = arith.constant 7 : index
  %zero = arith.constant 0.0 : f32
  %ninf = arith.constant 0xFF800000 : f32
  scf.for %i = %c0 to %c3 step %c1 {
    %s, %m = scf.for %j = %c0 to %c7 step %c1
        iter_args(%acc = %zero, %mx = %ninf) -> (f32, f32) {
      %v = memref.load %x[%i, %j] : memref<3x7xf32>
      %a = arith.addf %acc, %v : f32
      %b = arith.maximumf %mx, %v : f32
      scf.yield %a, %b : f32, f32
    }
    memref.store %s, %sums[%i] : memref<3xf32>
    memref.store %m, %maxs[%i] : memref<3xf32>
  }
  func.return
}

func.func @count(%n: index) -> index {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %r = scf.for %i = %c0 to %n step %c1 iter_args(%acc = %c0) -> (index) {
    %a = arith.addi %acc, %i : index
    scf.yield %a : index
  }
  func.return %r : index
}
"""


def test_reduction_with_loop_carried_values() -> None:
    x = np.random.default_rng(3).standard_normal((3, 7)).astype(np.float32)
    x[1, 4] = np.nan
    sums, maxs = np.zeros(3, np.float32), np.zeros(3, np.float32)
    functions = _build(REDUCTION)
    functions["row_stats"](x, sums, maxs)
    np.testing.assert_allclose(sums, x.sum(axis=1), rtol=1e-5)
    np.testing.assert_array_equal(maxs, x.max(axis=1))
    assert functions["count"](10) == 45


TEMPORARIES = """
func.func @softmax(%x: memref<16xf32>, %y: memref<16xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c16 = arith.constant 16 : index
  %zero = arith.constant 0.0 : f32
  %tmp = memref.alloc() : memref<16xf32>
  %acc = memref.alloca() : memref<f32>
  memref.store %zero, %acc[] : memref<f32>
  scf.for %i = %c0 to %c16 step %c1 {
    %v = memref.load %x[%i] : memref<16xf32>
    %e = math.exp %v : f32
    memref.store %e, %tmp[%i] : memref<16xf32>
    %s = memref.load %acc[] : memref<f32>
    %t = arith.addf %s, %e : f32
    memref.store %t, %acc[] : memref<f32>
  }
  %total = memref.load %acc[] : memref<f32>
  scf.for %i = %c0 to %c16 step %c1 {
    %e = memref.load %tmp[%i] : memref<16xf32>
    %p = arith.divf %e, %total : f32
    memref.store %p, %tmp[%i] : memref<16xf32>
  }
  "memref.copy"(%tmp, %y) : (memref<16xf32>, memref<16xf32>) -> ()
  memref.dealloc %tmp : memref<16xf32>
  func.return
}
"""


def test_alloc_alloca_copy_dealloc() -> None:
    x = np.linspace(-3, 3, 16, dtype=np.float32)
    y = np.zeros(16, np.float32)
    _build(TEMPORARIES)["softmax"](x, y)
    e = np.exp(x.astype(np.float64))
    np.testing.assert_allclose(y, e / e.sum(), rtol=1e-5)


GLOBAL_DENSE = """
"memref.global"() <{sym_name = "w", sym_visibility = "private", type = memref<2x3xf32>,
  initial_value = dense<[[1.0, -2.0, 3.5], [0.25, 5.0, -6.0]]> : tensor<2x3xf32>,
  constant, alignment = 32 : i64}> : () -> ()
"memref.global"() <{sym_name = "zeros", sym_visibility = "private",
  type = memref<2x3xf32>, initial_value}> : () -> ()
func.func @scale(%x: memref<2x3xf32>, %y: memref<2x3xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %c3 = arith.constant 3 : index
  %w = memref.get_global @w : memref<2x3xf32>
  %z = memref.get_global @zeros : memref<2x3xf32>
  scf.for %i = %c0 to %c2 step %c1 {
    scf.for %j = %c0 to %c3 step %c1 {
      %a = memref.load %x[%i, %j] : memref<2x3xf32>
      %b = memref.load %w[%i, %j] : memref<2x3xf32>
      %o = memref.load %z[%i, %j] : memref<2x3xf32>
      %p = arith.mulf %a, %b : f32
      %q = arith.addf %p, %o : f32
      memref.store %q, %y[%i, %j] : memref<2x3xf32>
    }
  }
  func.return
}
"""

W = np.array([[1.0, -2.0, 3.5], [0.25, 5.0, -6.0]], np.float32)


def test_global_dense_weight() -> None:
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    y = np.zeros((2, 3), np.float32)
    _build(GLOBAL_DENSE)["scale"](x, y)
    np.testing.assert_array_equal(y, x * W)


GLOBAL_RESOURCE = GLOBAL_DENSE.replace(
    "dense<[[1.0, -2.0, 3.5], [0.25, 5.0, -6.0]]> : tensor<2x3xf32>",
    "dense_resource<w_blob> : tensor<2x3xf32>",
) + (
    '{-# dialect_resources: { builtin: { w_blob: "0x04000000'
    + W.tobytes().hex()
    + '" } } #-}'
)


def test_global_dense_resource_weight() -> None:
    # xDSL 0.74's memref.global verifier rejects dense_resource initial values, so
    # the input is not verified; the lowered llvm module is.
    x = np.arange(6, dtype=np.float32).reshape(2, 3) - 2
    y = np.zeros((2, 3), np.float32)
    _build(GLOBAL_RESOURCE, verify_input=False)["scale"](x, y)
    np.testing.assert_array_equal(y, x * W)


VIEWS = """
func.func @views(%x: memref<4x8xf32>, %tile: memref<2x4xf32>, %flat: memref<32xf32>,
                 %col: memref<4xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %c4 = arith.constant 4 : index
  %s = memref.subview %x[1, 2] [2, 4] [1, 1]
      : memref<4x8xf32> to memref<2x4xf32, strided<[8, 1], offset: 10>>
  scf.for %i = %c0 to %c2 step %c1 {
    scf.for %j = %c0 to %c4 step %c1 {
      %v = memref.load %s[%i, %j] : memref<2x4xf32, strided<[8, 1], offset: 10>>
      %d = arith.addf %v, %v : f32
      memref.store %d, %tile[%i, %j] : memref<2x4xf32>
    }
  }
  %f = memref.collapse_shape %x [[0, 1]] : memref<4x8xf32> into memref<32xf32>
  "memref.copy"(%f, %flat) : (memref<32xf32>, memref<32xf32>) -> ()
  %e = memref.expand_shape %flat [[0, 1, 2]] output_shape [2, 2, 8]
      : memref<32xf32> into memref<2x2x8xf32>
  %c = memref.subview %e[0, 0, 3] [2, 2, 1] [1, 1, 1]
      : memref<2x2x8xf32> to memref<2x2xf32, strided<[16, 8], offset: 3>>
  %r = memref.reinterpret_cast %col to offset: [0], sizes: [2, 2], strides: [2, 1]
      : memref<4xf32> to memref<2x2xf32, strided<[2, 1]>>
  "memref.copy"(%c, %r) : (memref<2x2xf32, strided<[16, 8], offset: 3>>,
      memref<2x2xf32, strided<[2, 1]>>) -> ()
  func.return
}
"""


def test_subview_reshapes_and_strided_copy() -> None:
    x = np.arange(32, dtype=np.float32).reshape(4, 8)
    tile, flat, col = (
        np.zeros((2, 4), np.float32),
        np.zeros(32, np.float32),
        np.zeros(4, np.float32),
    )
    _build(VIEWS)["views"](x, tile, flat, col)
    np.testing.assert_array_equal(tile, 2 * x[1:3, 2:6])
    np.testing.assert_array_equal(flat, x.reshape(-1))
    np.testing.assert_array_equal(col, x[:, 3])


CALLS = """
func.func private @affine(%x: f32, %a: f32, %b: f32) -> f32 {
  %p = arith.mulf %x, %a : f32
  %s = arith.addf %p, %b : f32
  func.return %s : f32
}
func.func private @stats(%x: memref<5xf32>) -> (f32, index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c5 = arith.constant 5 : index
  %zero = arith.constant 0.0 : f32
  %s = scf.for %i = %c0 to %c5 step %c1 iter_args(%acc = %zero) -> (f32) {
    %v = memref.load %x[%i] : memref<5xf32>
    %a = arith.addf %acc, %v : f32
    scf.yield %a : f32
  }
  func.return %s, %c5 : f32, index
}
func.func @main(%x: memref<5xf32>, %y: memref<5xf32>) -> f32 {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c5 = arith.constant 5 : index
  %a = arith.constant 3.0 : f32
  %b = arith.constant -1.0 : f32
  scf.for %i = %c0 to %c5 step %c1 {
    %v = memref.load %x[%i] : memref<5xf32>
    %r = func.call @affine(%v, %a, %b) : (f32, f32, f32) -> f32
    memref.store %r, %y[%i] : memref<5xf32>
  }
  %sum, %n = func.call @stats(%y) : (memref<5xf32>) -> (f32, index)
  %nf = arith.index_cast %n : index to i64
  %nff = arith.sitofp %nf : i64 to f32
  %mean = arith.divf %sum, %nff : f32
  func.return %mean : f32
}
"""


def test_func_call_between_functions() -> None:
    x = np.array([1, 2, 3, 4, 10], np.float32)
    y = np.zeros(5, np.float32)
    mean = _build(CALLS)["main"](x, y)
    np.testing.assert_array_equal(y, 3 * x - 1)
    assert mean == pytest.approx(float((3 * x - 1).mean()))


def test_noalias_arguments_reach_llvm_ir() -> None:
    text = _elementwise("%r = arith.mulf %x, %x : f32", 64).replace(
        "%xs: memref<64xf32>", "%xs: memref<64xf32> {llvm.noalias}"
    )
    ctx, module = _lower_in_context(text)
    assert 'ptr noalias %".1"' in translate_to_llvmir(module, ctx)
    x = np.linspace(-1, 1, 64, dtype=np.float32)
    out = np.zeros_like(x)
    _build(text)["f"](x, out)
    np.testing.assert_array_equal(out, x * x)


CONTROL_FLOW = """
func.func @classify(%x: memref<6xi32>, %y: memref<6xi32>) {
  %c0 = arith.constant 0 : index
  cf.br ^loop(%c0 : index)
^loop(%i: index):
  %c6 = arith.constant 6 : index
  %more = arith.cmpi slt, %i, %c6 : index
  cf.cond_br %more, ^body, ^exit
^body:
  %c7 = arith.constant 7 : i32
  %v = memref.load %x[%i] : memref<6xi32>
  cf.switch %v : i32, [
    default: ^store(%v : i32),
    1: ^ten,
    2: ^store(%c7 : i32)
  ]
^ten:
  %ten = arith.constant 10 : i32
  cf.br ^store(%ten : i32)
^store(%r: i32):
  memref.store %r, %y[%i] : memref<6xi32>
  %c1 = arith.constant 1 : index
  %next = arith.addi %i, %c1 : index
  cf.br ^loop(%next : index)
^exit:
  %c0_i32 = arith.constant 0 : i32
  %ok = arith.cmpi eq, %c0_i32, %c0_i32 : i32
  cf.assert %ok, "never fails"
  func.return
}
"""


def test_cf_branches_switch_and_assert() -> None:
    x = np.array([0, 1, 2, 3, 1, -5], np.int32)
    y = np.zeros(6, np.int32)
    _build(CONTROL_FLOW)["classify"](x, y)
    np.testing.assert_array_equal(y, [0, 10, 7, 3, 10, -5])


def test_cf_assert_failure_aborts_with_message() -> None:
    text = """
func.func @check(%x: i32) {
  %c0 = arith.constant 0 : i32
  %ok = arith.cmpi sge, %x, %c0 : i32
  cf.assert %ok, "x must be non-negative"
  func.return
}
"""
    module = _lower(text)
    assert "llvm.call @abort" in str(module)
    # Run in a child interpreter: the failing assert aborts the process.
    code = f"""
import numpy as np
from dagc.runtime.cpu import ArgSpec, CpuModule
f = CpuModule({translate_to_llvmir(module)!r}).get_function(
    "check", [ArgSpec.scalar(np.int32)])
f(5)
print("passed", flush=True)
f(-1)
print("unreachable", flush=True)
"""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert "passed" in result.stdout
    assert "unreachable" not in result.stdout
    assert "x must be non-negative" in result.stdout
    assert result.returncode != 0


def _all_ops_module() -> ModuleOp:
    return _lower(
        MATMUL + REDUCTION + TEMPORARIES + VIEWS + CALLS.replace("@main", "@main2")
    )


def test_llvm_ir_verifies_with_llvmlite() -> None:
    ir_text = translate_to_llvmir(_all_ops_module())
    parsed = llvm_binding.parse_assembly(ir_text)
    parsed.verify()
    assert "define void @matmul" in ir_text.replace('"', "")


def _print_with_resources(ctx: Context, module: ModuleOp) -> str:
    out = StringIO()
    printer = Printer(stream=out)
    printer.print_op(module)
    printer.print_metadata(ctx.loaded_dialects)
    return out.getvalue()


@pytest.mark.skipif(
    shutil.which("mlir-translate-22") is None,
    reason="mlir-translate-22 not installed (apt package mlir-22-tools)",
)
@pytest.mark.parametrize(
    "text",
    [
        MATMUL,
        REDUCTION,
        TEMPORARIES,
        VIEWS,
        CALLS,
        GLOBAL_DENSE,
        GLOBAL_RESOURCE,
        CONTROL_FLOW,
        _elementwise("%e = math.erf %x : f32\n    %r = math.round %e : f32", 4),
    ],
    ids=[
        "matmul",
        "reduction",
        "temporaries",
        "views",
        "calls",
        "globals",
        "resources",
        "cf",
        "math",
    ],
)
def test_mlir_translate_accepts_llvm_dialect(text: str) -> None:
    ctx, module = _lower_in_context(text, verify=text is not GLOBAL_RESOURCE)
    llvm_text = _print_with_resources(ctx, module)
    result = subprocess.run(
        ["mlir-translate-22", "--mlir-to-llvmir"],
        input=llvm_text,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr + llvm_text
    llvm_binding.parse_assembly(result.stdout).verify()


def test_cpu_module_checks_arguments() -> None:
    f = _build(MATMUL)["matmul"]
    a, b, c = (np.zeros(s, np.float32) for s in ((4, 8), (8, 5), (4, 5)))
    with pytest.raises(ValueError, match="dtype float32"):
        f(a.astype(np.float64), b, c)
    with pytest.raises(ValueError, match=r"shape \(8, 5\)"):
        f(a, np.zeros((5, 8), np.float32), c)
    with pytest.raises(ValueError, match="C-contiguous"):
        f(a, np.zeros((5, 8), np.float32).T, c)
    with pytest.raises(ValueError, match="expected 3 arguments"):
        f(a, b)
    with pytest.raises(ValueError, match="numpy array"):
        f(a, b, [0.0] * 20)


def test_cross_compile_aarch64_object() -> None:
    ir_text = translate_to_llvmir(_lower(MATMUL))
    module = CpuModule(ir_text, triple="aarch64-unknown-linux-gnu")
    obj = module.emit_object()
    assert obj[:4] == b"\x7fELF"
    assert int.from_bytes(obj[18:20], "little") == 183  # EM_AARCH64
    assert "fmul" in module.emit_assembly() or "fmadd" in module.emit_assembly()
    with pytest.raises(RuntimeError, match="cannot run"):
        module.get_function("matmul", [])


def test_host_object_and_assembly() -> None:
    module = CpuModule(translate_to_llvmir(_lower(MATMUL)))
    assert module.emit_object()[:4] == b"\x7fELF"
    assert "matmul" in module.emit_assembly()
    with pytest.raises(KeyError):
        module.get_function("missing", [ArgSpec.scalar(np.float32)])


def test_dynamic_shapes_are_rejected() -> None:
    text = """
func.func @f(%x: memref<?xf32>, %i: index) -> f32 {
  %v = memref.load %x[%i] : memref<?xf32>
  func.return %v : f32
}
"""
    with pytest.raises(DiagnosticException, match="static"):
        _lower(text)
