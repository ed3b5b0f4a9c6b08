"""The SPIR-V backend: spirv dialect, binary serializer, loop nests -> kernels, Vulkan.

Kernels run on whatever Vulkan device ``VulkanRuntime`` picks (lavapipe, Mesa's
CPU driver, in CI) and are compared with numpy. Tests that need ``spirv-val``
or a Vulkan driver skip with the reason when it is absent.
"""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
from dagc.dialects import spirv
from dagc.dialects.spirv import SPIRV
from dagc.lowering.gpu_to_spirv import (
    ERF_ALPHA,
    ERF_BETA,
    ConvertGPUToSPIRVPass,
    DispatchTable,
    KernelDispatch,
    build_dispatch_table,
)
from dagc.lowering.loops_to_gpu import ConvertLoopsToGPUPass, LaunchGeometry
from dagc.lowering.spirv_binary import (
    SPIRVValidationError,
    check_header,
    serialize,
    spirv_val_path,
    validate,
)
from dagc.runtime.vulkan import VulkanError, VulkanRuntime
from xdsl.context import Context
from xdsl.dialects import arith, builtin, func, gpu, memref, scf
from xdsl.dialects import math as math_dialect
from xdsl.parser import Parser
from xdsl.utils.exceptions import PassFailedException

needs_spirv_val = pytest.mark.skipif(
    spirv_val_path() is None,
    reason="spirv-val not installed (apt-get install spirv-tools)",
)
_vulkan = VulkanRuntime.available()
needs_vulkan = pytest.mark.skipif(not _vulkan, reason=_vulkan.reason or "no Vulkan")


def _context() -> Context:
    ctx = Context()
    for d in (
        builtin.Builtin,
        func.Func,
        arith.Arith,
        math_dialect.Math,
        scf.Scf,
        memref.MemRef,
        gpu.GPU,
        SPIRV,
    ):
        ctx.load_dialect(d)
    return ctx


def parse(text: str) -> builtin.ModuleOp:
    module = Parser(_context(), text).parse_module()
    module.verify()
    return module


def lower(
    text: str, workgroup_size: int = 64, version: str = "1.3"
) -> builtin.ModuleOp:
    module = parse(text)
    ConvertLoopsToGPUPass(workgroup_size).apply(_context(), module)
    ConvertGPUToSPIRVPass(version).apply(_context(), module)
    module.verify()
    return module


def compile_loops(text: str, **options) -> DispatchTable:
    return build_dispatch_table(lower(text, **options))


@pytest.fixture(scope="module")
def runtime():
    if not _vulkan:
        pytest.skip(_vulkan.reason)
    with VulkanRuntime() as rt:
        yield rt


# --------------------------------------------------------------- textual IR


def parallel(ivs: str, lbs: str, ubs: str, steps: str, body: str) -> str:
    """An ``scf.parallel`` in generic form (xDSL has no custom syntax for it)."""
    n = len(ivs.split(","))
    args = ", ".join(f"{v.strip()}: index" for v in ivs.split(","))
    return f"""
  "scf.parallel"({lbs}, {ubs}, {steps}) <{{operandSegmentSizes = array<i32: {n}, {n}, {n}, 0>}}> ({{
  ^bb0({args}):
{body}
    scf.reduce
  }}) : ({", ".join(["index"] * 3 * n)}) -> ()"""


CONSTANTS = """
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %c3 = arith.constant 3 : index
  %c4 = arith.constant 4 : index
  %c5 = arith.constant 5 : index
  %c6 = arith.constant 6 : index
  %c50 = arith.constant 50 : index
  %f0 = arith.constant 0.0 : f32
"""


def elementwise(op: str, binary: bool) -> str:
    """out = op(x[, y]) on 3x50 f32 memrefs (150 invocations: 3 workgroups of 64)."""
    t = "memref<3x50xf32>"
    value = f"%r = {op} %a, %b : f32" if binary else f"%r = {op} %a : f32"
    body = f"""
    %a = memref.load %x[%i, %j] : {t}
    %b = memref.load %y[%i, %j] : {t}
    {value}
    memref.store %r, %out[%i, %j] : {t}"""
    return f"""func.func @ew(%x: {t}, %y: {t}, %out: {t}) {{{CONSTANTS}
{parallel("%i, %j", "%c0, %c0", "%c3, %c50", "%c1, %c1", body)}
  func.return
}}"""


# ------------------------------------------------------------ dialect level

SPIRV_MODULE = """
spirv.module @k Logical GLSL450 requires #spirv.vce<v1.3, [Shader], []> {
  spirv.GlobalVariable @gid built_in("GlobalInvocationId") : !spirv.ptr<vector<3xi32>, Input>
  spirv.GlobalVariable @buf bind(0, 0) : !spirv.ptr<!spirv.struct<(!spirv.array<8 x f32, stride=4> [0]), Block>, StorageBuffer>
  spirv.func @k() "None" {
    %c0 = spirv.Constant 0 : i32
    %c8 = spirv.Constant 8 : i32
    %one = spirv.Constant 1.000000e+00 : f32
    %g = spirv.mlir.addressof @gid : !spirv.ptr<vector<3xi32>, Input>
    %gv = spirv.Load "Input" %g : vector<3xi32>
    %x = spirv.CompositeExtract %gv[0 : i32] : vector<3xi32>
    %in = spirv.ULessThan %x, %c8 : i32
    spirv.mlir.selection {
      spirv.BranchConditional %in, ^bb1, ^bb2
    ^bb1:
      %b = spirv.mlir.addressof @buf : !spirv.ptr<!spirv.struct<(!spirv.array<8 x f32, stride=4> [0]), Block>, StorageBuffer>
      %p = spirv.AccessChain %b[%c0, %x] : !spirv.ptr<!spirv.struct<(!spirv.array<8 x f32, stride=4> [0]), Block>, StorageBuffer>, i32, i32 -> !spirv.ptr<f32, StorageBuffer>
      %v = spirv.Load "StorageBuffer" %p : f32
      %e = spirv.GL.Exp %v : f32
      %s = spirv.FAdd %e, %one : f32
      spirv.Store "StorageBuffer" %p, %s : f32
      spirv.Branch ^bb2
    ^bb2:
      spirv.mlir.merge
    }
    spirv.Return
  }
  spirv.EntryPoint "GLCompute" @k, @gid
  spirv.ExecutionMode @k "LocalSize", 8, 1, 1
}
"""


def test_dialect_round_trip():
    first = str(parse(SPIRV_MODULE))
    assert str(parse(first)) == first
    assert 'spirv.Load "StorageBuffer"' in first
    assert "!spirv.struct<(!spirv.array<8 x f32, stride=4> [0]), Block>" in first


def test_verifier_rejects_storage_buffer_without_block():
    text = SPIRV_MODULE.replace("[0]), Block>", "[0])>")
    with pytest.raises(Exception, match="Block"):
        parse(text)


def test_serializer_header_and_dedup():
    binary = serialize(parse(SPIRV_MODULE))
    check_header(binary)
    words = np.frombuffer(binary, dtype="<u4")
    assert words[0] == 0x07230203 and words[1] == 0x00010300
    # OpTypeInt 32 0 is declared exactly once although i32 appears many times.
    int_decls = [
        i
        for i in range(5, len(words))
        if words[i] == (4 << 16 | 21) and words[i + 2] == 32
    ]
    assert len(int_decls) == 1


@needs_spirv_val
def test_serializer_output_passes_spirv_val():
    validate(serialize(parse(SPIRV_MODULE)), require_tool=True)


@needs_spirv_val
def test_spirv_1_4_needs_buffers_in_interface():
    # From SPIR-V 1.4 the entry point must list the buffer too: spirv-val catches it.
    text = SPIRV_MODULE.replace("v1.3", "v1.5")
    with pytest.raises(SPIRVValidationError):
        validate(serialize(parse(text)), require_tool=True)
    fixed = text.replace('"GLCompute" @k, @gid', '"GLCompute" @k, @gid, @buf')
    validate(serialize(parse(fixed)), require_tool=True)


def test_erf_approximation_error_below_1e6():
    x = np.linspace(-6, 6, 20001).astype(np.float32)
    xc = np.clip(x, np.float32(-4), np.float32(4))
    x2 = xc * xc
    p = np.float32(ERF_ALPHA[0])
    for c in ERF_ALPHA[1:]:
        p = p * x2 + np.float32(c)
    q = np.float32(ERF_BETA[0])
    for c in ERF_BETA[1:]:
        q = q * x2 + np.float32(c)
    ref = np.array([math.erf(float(v)) for v in x])
    assert np.abs(xc * p / q - ref).max() < 1e-6


def test_launch_geometry():
    g = LaunchGeometry.plan((3, 50), 64)
    assert (g.local_size, g.groups) == (64, (3, 1, 1))
    assert LaunchGeometry.plan((5,), 64).local_size == 5
    big = LaunchGeometry.plan((70000,), 1)
    assert big.groups == (65535, 2, 1)
    assert big.groups[0] * big.groups[1] * big.local_size >= big.total


# ------------------------------------------------------------- lowering


def test_lowering_structure():
    module = lower(elementwise("arith.addf", True))
    kernels = [o for o in module.walk() if isinstance(o, spirv.ModuleOp)]
    assert len(kernels) == 1
    text = str(kernels[0])
    assert 'built_in("GlobalInvocationId")' in text
    assert "bind(0, 2)" in text and "NonWritable" in text
    assert '"LocalSize", 64, 1, 1' in text
    launches = [o for o in module.walk() if isinstance(o, gpu.LaunchFuncOp)]
    assert len(launches) == 1 and len(launches[0].kernelOperands) == 3


def test_captured_scalar_is_refused():
    text = (
        """func.func @f(%x: memref<4xf32>, %s: f32) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
"""
        + parallel(
            "%i", "%c0", "%c4", "%c1", "    memref.store %s, %x[%i] : memref<4xf32>"
        )
        + """
  func.return
}"""
    )
    with pytest.raises(PassFailedException, match="only memrefs and arith.constant"):
        lower(text)


@needs_spirv_val
@pytest.mark.parametrize("version", ["1.3", "1.5", "1.6"])
def test_lowered_kernels_validate(version):
    table = compile_loops(CONV2D, version=version)
    for kernel in table.kernels:
        validate(kernel.spirv, require_tool=True)


# ------------------------------------------------------------- on Vulkan

RNG = np.random.default_rng(0)

EW_CASES = {
    "add": ("arith.addf", True, lambda a, b: a + b, (-3, 3)),
    "max": ("arith.maximumf", True, np.maximum, (-3, 3)),
    "exp": ("math.exp", False, np.exp, (-5, 5)),
    "tanh": ("math.tanh", False, np.tanh, (-30, 30)),
    "erf": ("math.erf", False, np.vectorize(math.erf), (-5, 5)),
}


@needs_vulkan
@pytest.mark.parametrize("case", sorted(EW_CASES))
def test_elementwise_on_vulkan(runtime, case):
    op, binary, ref, (lo, hi) = EW_CASES[case]
    table = compile_loops(elementwise(op, binary))
    x = RNG.uniform(lo, hi, (3, 50)).astype(np.float32)
    y = RNG.uniform(lo, hi, (3, 50)).astype(np.float32)
    (out,) = runtime.run(table, [x, y, np.zeros((3, 50), np.float32)])
    expected = (
        ref(x.astype(np.float64), y.astype(np.float64))
        if binary
        else ref(x.astype(np.float64))
    )
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


ROW_SUM = f"""func.func @rowsum(%x: memref<6x50xf32>, %out: memref<6xf32>) {{{CONSTANTS}
{
    parallel(
        "%i",
        "%c0",
        "%c6",
        "%c1",
        '''
    %s = scf.for %k = %c0 to %c50 step %c1 iter_args(%acc = %f0) -> (f32) {
      %v = memref.load %x[%i, %k] : memref<6x50xf32>
      %pos = arith.cmpf ogt, %v, %f0 : f32
      %w = scf.if %pos -> (f32) {
        %d = arith.mulf %v, %v : f32
        scf.yield %d : f32
      } else {
        scf.yield %v : f32
      }
      %n = arith.addf %acc, %w : f32
      scf.yield %n : f32
    }
    memref.store %s, %out[%i] : memref<6xf32>''',
    )
}
  func.return
}}"""


@needs_vulkan
def test_reduction_on_vulkan(runtime):
    x = RNG.uniform(-1, 1, (6, 50)).astype(np.float32)
    (out,) = runtime.run(compile_loops(ROW_SUM), [x, np.zeros(6, np.float32)])
    np.testing.assert_allclose(
        out, np.where(x > 0, x * x, x).sum(axis=1), rtol=1e-5, atol=1e-5
    )


FULL_SUM = """func.func @total(%x: memref<4x5xf32>, %out: memref<1xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %c5 = arith.constant 5 : index
  %f0 = arith.constant 0.0 : f32
  memref.store %f0, %out[%c0] : memref<1xf32>
  scf.for %i = %c0 to %c4 step %c1 {
    scf.for %j = %c0 to %c5 step %c1 {
      %v = memref.load %x[%i, %j] : memref<4x5xf32>
      %a = memref.load %out[%c0] : memref<1xf32>
      %s = arith.addf %a, %v : f32
      memref.store %s, %out[%c0] : memref<1xf32>
    }
  }
  func.return
}"""


@needs_vulkan
def test_full_reduction_single_invocation(runtime):
    # The host-level memref.store is not a loop nest: dispatch tables refuse it.
    with pytest.raises(PassFailedException, match="memref.store"):
        compile_loops(FULL_SUM)
    text = FULL_SUM.replace("  memref.store %f0, %out[%c0] : memref<1xf32>\n", "", 1)
    table = compile_loops(text)
    assert table.kernels[0].workgroups == (1, 1, 1) and table.kernels[0].local_size == (
        1,
        1,
        1,
    )
    x = RNG.uniform(-1, 1, (4, 5)).astype(np.float32)
    (out,) = runtime.run(table, [x, np.array([0.5], np.float32)])
    np.testing.assert_allclose(out, [0.5 + x.sum()], rtol=1e-5, atol=1e-5)


MATMUL = f"""func.func @matmul(%A: memref<5x3xf32>, %B: memref<3x6xf32>, %C: memref<5x6xf32>) {{{
    CONSTANTS
}
{
    parallel(
        "%i, %j",
        "%c0, %c0",
        "%c5, %c6",
        "%c1, %c1",
        "    memref.store %f0, %C[%i, %j] : memref<5x6xf32>",
    )
}
{
    parallel(
        "%i, %j",
        "%c0, %c0",
        "%c5, %c6",
        "%c1, %c1",
        '''
    scf.for %k = %c0 to %c3 step %c1 {
      %a = memref.load %A[%i, %k] : memref<5x3xf32>
      %b = memref.load %B[%k, %j] : memref<3x6xf32>
      %c = memref.load %C[%i, %j] : memref<5x6xf32>
      %m = arith.mulf %a, %b : f32
      %s = arith.addf %c, %m : f32
      memref.store %s, %C[%i, %j] : memref<5x6xf32>
    }''',
    )
}
  func.return
}}"""


@needs_vulkan
def test_matmul_on_vulkan(runtime):
    table = compile_loops(MATMUL, workgroup_size=8)
    assert len(table.kernels) == 2 and table.kernels[1].workgroups == (4, 1, 1)
    a = RNG.standard_normal((5, 3)).astype(np.float32)
    b = RNG.standard_normal((3, 6)).astype(np.float32)
    (out,) = runtime.run(table, [a, b, np.full((5, 6), 9, np.float32)])
    np.testing.assert_allclose(out, a @ b, rtol=1e-5, atol=1e-5)


# 2-D convolution, valid padding: x 2x6x6, w 3x2x3x3, bias 3 -> y 3x4x4, then
# ReLU into a temporary and a copy out, so three kernels share a memref.alloc.
def over_output(body: str) -> str:
    """An scf.parallel over the 3x4x4 convolution output."""
    return parallel(
        "%co, %oy, %ox", "%c0, %c0, %c0", "%c3, %c4, %c4", "%c1, %c1, %c1", body
    )


CONV_BODY = """
    %b0 = memref.load %bias[%co] : memref<3xf32>
    %s = scf.for %ci = %c0 to %c2 step %c1 iter_args(%a0 = %b0) -> (f32) {
      %s1 = scf.for %ky = %c0 to %c3 step %c1 iter_args(%a1 = %a0) -> (f32) {
        %s2 = scf.for %kx = %c0 to %c3 step %c1 iter_args(%a2 = %a1) -> (f32) {
          %iy = arith.addi %oy, %ky : index
          %ix = arith.addi %ox, %kx : index
          %xv = memref.load %x[%ci, %iy, %ix] : memref<2x6x6xf32>
          %wv = memref.load %w[%co, %ci, %ky, %kx] : memref<3x2x3x3xf32>
          %m = arith.mulf %xv, %wv : f32
          %n = arith.addf %a2, %m : f32
          scf.yield %n : f32
        }
        scf.yield %s2 : f32
      }
      scf.yield %s1 : f32
    }
    memref.store %s, %t[%co, %oy, %ox] : memref<3x4x4xf32>"""

RELU_BODY = """
    %v = memref.load %t[%co, %oy, %ox] : memref<3x4x4xf32>
    %r = arith.maximumf %v, %f0 : f32
    memref.store %r, %t[%co, %oy, %ox] : memref<3x4x4xf32>"""

COPY_BODY = """
    %v = memref.load %t[%co, %oy, %ox] : memref<3x4x4xf32>
    memref.store %v, %y[%co, %oy, %ox] : memref<3x4x4xf32>"""

CONV2D = (
    "func.func @conv(%x: memref<2x6x6xf32>, %w: memref<3x2x3x3xf32>,"
    " %bias: memref<3xf32>, %y: memref<3x4x4xf32>) {"
    + CONSTANTS
    + "  %t = memref.alloc() : memref<3x4x4xf32>"
    + over_output(CONV_BODY)
    + over_output(RELU_BODY)
    + over_output(COPY_BODY)
    + "\n  func.return\n}"
)


def conv2d_reference(x: np.ndarray, w: np.ndarray, bias: np.ndarray) -> np.ndarray:
    out = np.zeros((w.shape[0], x.shape[1] - 2, x.shape[2] - 2))
    for ky in range(3):
        for kx in range(3):
            window = x[:, ky : ky + out.shape[1], kx : kx + out.shape[2]].astype(
                np.float64
            )
            out += np.einsum("oc,cyx->oyx", w[:, :, ky, kx], window)
    return np.maximum(out + bias[:, None, None], 0)


@needs_vulkan
@pytest.mark.parametrize("version", ["1.3", "1.6"])
def test_conv2d_on_vulkan(runtime, version, tmp_path):
    table = compile_loops(CONV2D, version=version)
    assert [b.argument for b in table.buffers] == [0, 1, 2, 3, None]
    assert table.results == (3,)
    table.save(tmp_path)
    table = DispatchTable.load(tmp_path)
    x = RNG.standard_normal((2, 6, 6)).astype(np.float32)
    w = RNG.standard_normal((3, 2, 3, 3)).astype(np.float32)
    bias = RNG.standard_normal(3).astype(np.float32)
    (out,) = runtime.run(table, [x, w, bias, np.zeros((3, 4, 4), np.float32)])
    np.testing.assert_allclose(out, conv2d_reference(x, w, bias), rtol=1e-5, atol=1e-5)


@needs_vulkan
def test_two_dimensional_grid(runtime):
    # 70000 workgroups of one invocation exceed 65535 along x: the y dimension is used.
    t = "memref<70000xf32>"
    body = f"""
    %v = memref.load %x[%i] : {t}
    %r = arith.addf %v, %v : f32
    memref.store %r, %y[%i] : {t}"""
    text = f"""func.func @twice(%x: {t}, %y: {t}) {{
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %n = arith.constant 70000 : index
{parallel("%i", "%c0", "%n", "%c1", body)}
  func.return
}}"""
    table = compile_loops(text, workgroup_size=1)
    assert table.kernels[0].workgroups == (65535, 2, 1)
    x = RNG.standard_normal(70000).astype(np.float32)
    (out,) = runtime.run(table, [x, np.zeros(70000, np.float32)])
    np.testing.assert_array_equal(out, 2 * x)


@needs_vulkan
def test_malformed_module_refused_before_driver(runtime, monkeypatch):
    import dagc.runtime.vulkan as rt_module

    def never(*args, **kwargs):
        raise AssertionError("a malformed module reached the driver")

    monkeypatch.setattr(rt_module, "_Pipeline", never)
    good = compile_loops(elementwise("arith.addf", True))
    kernel = good.kernels[0]
    bad_magic = DispatchTable(
        good.buffers,
        (
            KernelDispatch(
                kernel.name,
                b"\x00" * 4 + kernel.spirv[4:],
                kernel.entry_point,
                kernel.bindings,
                kernel.workgroups,
                kernel.local_size,
            ),
        ),
        good.results,
    )
    inputs = [np.zeros((3, 50), np.float32)] * 3
    with pytest.raises(SPIRVValidationError, match="magic"):
        runtime.run(bad_magic, inputs)
    if spirv_val_path() is None:
        pytest.skip("spirv-val not installed (apt-get install spirv-tools)")
    # Well-formed words, invalid module: the buffer struct has no Offset decoration.
    text = SPIRV_MODULE.replace("stride=4> [0]), Block>", "stride=4>), Block>")
    invalid = serialize(parse(text))
    no_layout = DispatchTable(
        good.buffers[:1],
        (KernelDispatch("k", invalid, "k", (0,), (1, 1, 1), (8, 1, 1)),),
        (0,),
    )
    with pytest.raises(SPIRVValidationError):
        runtime.run(no_layout, [np.zeros((3, 50), np.float32)])


@needs_vulkan
def test_wrong_inputs_are_refused(runtime):
    table = compile_loops(elementwise("arith.addf", True))
    with pytest.raises(ValueError, match="expected 3 inputs"):
        runtime.run(table, [np.zeros((3, 50))])
    with pytest.raises(ValueError, match="shape"):
        runtime.run(table, [np.zeros((50, 3))] * 3)


@needs_vulkan
def test_prepared_program_keeps_resident_arguments(runtime):
    """prepare() uploads argument 1 once; each call streams only arguments 0, 2."""
    table = compile_loops(elementwise("arith.addf", True))
    y = RNG.uniform(-3, 3, (3, 50)).astype(np.float32)
    program = runtime.prepare(table, {1: y})
    for _ in range(2):
        x = RNG.uniform(-3, 3, (3, 50)).astype(np.float32)
        (out,) = program([x, np.zeros((3, 50), np.float32)])
        np.testing.assert_allclose(out, x + y, rtol=1e-6)
    with pytest.raises(ValueError, match="expected 2 inputs"):
        program([x])
    program.release()
    program.release()  # idempotent
    with pytest.raises(VulkanError, match="released"):
        program([x, np.zeros((3, 50), np.float32)])
    with pytest.raises(ValueError, match="not arguments"):
        runtime.prepare(table, {7: y})
    with pytest.raises(ValueError, match="shape"):
        runtime.prepare(table, {1: y.T})


@needs_vulkan
def test_a_program_called_from_several_threads(runtime):
    """Calls from several threads take turns: each gets its own inputs' result."""
    from concurrent.futures import ThreadPoolExecutor

    table = compile_loops(elementwise("arith.addf", True))
    y = RNG.uniform(-3, 3, (3, 50)).astype(np.float32)
    program = runtime.prepare(table, {1: y})
    xs = [np.full((3, 50), i, np.float32) for i in range(24)]
    with ThreadPoolExecutor(4) as pool:
        outs = list(pool.map(lambda x: program([x, np.zeros((3, 50), np.float32)])[0], xs))
    for x, out in zip(xs, outs):
        np.testing.assert_allclose(out, x + y, rtol=1e-6)
    program.release()


@needs_vulkan
def test_closing_the_runtime_releases_its_programs():
    table = compile_loops(elementwise("arith.addf", True))
    with VulkanRuntime() as rt:
        program = rt.prepare(table)
        assert program in rt._programs
    assert program.command is None and not program.buffers


def test_a_driverless_loader_is_named_in_the_reason(monkeypatch):
    """The binding raises VkResult classes with an empty message: the reason
    must still say what failed (seen on a GPU machine without glvnd)."""
    vk = pytest.importorskip("vulkan", reason="the 'vulkan' package is not installed")

    def refuse(*args):
        raise vk.VkErrorIncompatibleDriver()

    monkeypatch.setattr(vk, "vkCreateInstance", refuse)
    monkeypatch.setattr(VulkanRuntime, "_probe", None)
    available = VulkanRuntime.available()
    assert not available
    assert "VkErrorIncompatibleDriver" in available.reason
    assert "VK_DRIVER_FILES" in available.reason
    with pytest.raises(VulkanError, match="vkCreateInstance failed"):
        VulkanRuntime()


GPU_IDS = """builtin.module attributes {gpu.container_module} {
  func.func @ids(%out: memref<96xf32>) {
    %c1 = arith.constant 1 : index
    %c3 = arith.constant 3 : index
    %c32 = arith.constant 32 : index
    "gpu.launch_func"(%c3, %c1, %c1, %c32, %c1, %c1, %out) <{kernel = @kernels::@ids, operandSegmentSizes = array<i32: 0, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 0>}> : (index, index, index, index, index, index, memref<96xf32>) -> ()
    func.return
  }
  "gpu.module"() <{sym_name = "kernels"}> ({
    "gpu.func"() <{function_type = (memref<96xf32>) -> (), kernel}> ({
    ^bb0(%out: memref<96xf32>):
      %block = "gpu.block_id"() <{dimension = #gpu<dim x>}> : () -> index
      %thread = "gpu.thread_id"() <{dimension = #gpu<dim x>}> : () -> index
      %size = "gpu.block_dim"() <{dimension = #gpu<dim x>}> : () -> index
      %groups = "gpu.grid_dim"() <{dimension = #gpu<dim x>}> : () -> index
      %base = arith.muli %block, %size : index
      %i = arith.addi %base, %thread : index
      %g = arith.muli %groups, %size : index
      %scaled = arith.muli %i, %g : index
      %as_i32 = arith.index_cast %scaled : index to i32
      %v = arith.sitofp %as_i32 : i32 to f32
      memref.store %v, %out[%i] : memref<96xf32>
      "gpu.return"() : () -> ()
    }) {sym_name = "ids", gpu.known_block_size = array<i32: 32, 1, 1>} : () -> ()
  }) : () -> ()
}"""


@needs_vulkan
def test_workgroup_and_local_ids(runtime):
    # out[i] = (block_id * block_dim + thread_id) * (grid_dim * block_dim)
    module = parse(GPU_IDS)
    ConvertGPUToSPIRVPass().apply(_context(), module)
    text = str(module)
    for builtin_name in ("WorkgroupId", "LocalInvocationId", "NumWorkgroups"):
        assert f'built_in("{builtin_name}")' in text
    table = build_dispatch_table(module)
    (out,) = runtime.run(table, [np.zeros(96, np.float32)])
    np.testing.assert_array_equal(out, np.arange(96, dtype=np.float32) * 96)


GRAMMAR = "/usr/include/spirv/unified1"


@pytest.mark.skipif(
    not os.path.exists(f"{GRAMMAR}/spirv.core.grammar.json"),
    reason="SPIR-V grammar not installed (apt-get install spirv-headers)",
)
def test_opcodes_and_enumerants_match_khronos_grammar():
    import json

    import dagc.lowering.spirv_binary as binary

    with open(f"{GRAMMAR}/spirv.core.grammar.json") as f:
        core = json.load(f)
    with open(f"{GRAMMAR}/extinst.glsl.std.450.grammar.json") as f:
        glsl = json.load(f)
    opcodes = {i["opname"]: i["opcode"] for i in core["instructions"]}
    gl_opcodes = {i["opname"]: i["opcode"] for i in glsl["instructions"]}
    for op in SPIRV.operations:
        short = op.name.split(".")[-1]
        if hasattr(op, "GL_OPCODE"):
            assert gl_opcodes[short] == op.GL_OPCODE, op.name
        elif hasattr(op, "OPCODE"):
            assert opcodes["Op" + short] == op.OPCODE, op.name
    for name, value in vars(binary).items():
        if name.startswith("OP_"):
            camel = "Op" + "".join(p.capitalize() for p in name[3:].split("_"))
            assert opcodes[camel] == value, name
    kinds = {
        k["kind"]: {
            e["enumerant"]: int(str(e["value"]), 0) for e in k.get("enumerants", [])
        }
        for k in core["operand_kinds"]
    }
    for enum in (
        spirv.StorageClass,
        spirv.Decoration,
        spirv.BuiltIn,
        spirv.ExecutionModel,
        spirv.ExecutionMode,
        spirv.Capability,
    ):
        for member in enum:
            assert kinds[enum.__name__][member.name] == member.value, member
    for table, kind in (
        (spirv.ADDRESSING_MODELS, "AddressingModel"),
        (spirv.MEMORY_MODELS, "MemoryModel"),
        (spirv.FUNCTION_CONTROLS, "FunctionControl"),
    ):
        for name, value in table.items():
            assert kinds[kind][name] == value, name
