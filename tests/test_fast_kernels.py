"""The micro-kernel lowering (`dagc-linalg-to-microkernels`): GEMM and convolution
kernels compiled through the CPU pipeline, compared with numpy / torch."""

import dagc
import dagc.compiler.compile as compile_module
import numpy as np
import pytest
import torch
from dagc.compiler import registry
from dagc.ir import parse
from dagc.lowering.linalg_to_microkernels import KC, LinalgToMicroKernelsPass

STAGE = "dagc-linalg-to-microkernels"


@pytest.fixture
def fast(monkeypatch):
    """``dagc.compile`` with the micro-kernel stage after bufferization."""
    monkeypatch.setitem(registry._PASSES, STAGE,
                        "dagc.lowering.linalg_to_microkernels:LinalgToMicroKernelsPass")
    stages = [s for s in compile_module.CPU_STAGES if s != STAGE]
    stages.insert(stages.index("dagc-bufferize") + 1, STAGE)
    monkeypatch.setattr(compile_module, "CPU_STAGES", tuple(stages))


class MatMul(torch.nn.Module):
    def forward(self, a, b):
        return a @ b


@pytest.mark.parametrize("m,k,n", [(13, KC + 44, 53), (6, 7, 32), (1, 5, 17), (20, 2 * KC, 64)])
def test_matmul(fast, m, k, n):
    """Full and edge tiles (rows < 6, one vector, scalar columns) and K blocks."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((k, n), dtype=np.float32)
    compiled = dagc.compile(MatMul(), (torch.from_numpy(a), torch.from_numpy(b)))
    assert "llvm.intr.fma" in compiled.llvm_ir or "llvm.fma" in compiled.llvm_ir
    np.testing.assert_allclose(compiled(a, b), a.astype(np.float64) @ b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    "conv",
    [
        {"in_channels": 3, "out_channels": 19, "kernel_size": 3, "stride": 2, "padding": 1},
        {"in_channels": 8, "out_channels": 40, "kernel_size": 1},
        {"in_channels": 12, "out_channels": 12, "kernel_size": 3, "padding": 1, "groups": 12},
        {"in_channels": 6, "out_channels": 10, "kernel_size": (3, 2), "padding": 2,
         "dilation": 2, "groups": 2, "bias": False},
    ],
    ids=["3x3s2", "1x1", "depthwise", "grouped-dilated"],
)
def test_conv2d(fast, conv):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(**conv), torch.nn.ReLU()).eval()
    x = torch.randn(2, conv["in_channels"], 11, 13)
    compiled = dagc.compile(model, (x,))
    with torch.no_grad():
        ref = model(x)
    torch.testing.assert_close(compiled(x), ref, rtol=1e-4, atol=1e-4)


def test_linear_and_small_model(fast):
    from dagc.examples.models import get_model

    model, inputs = get_model("resnet18_small")
    compiled = dagc.compile(model, inputs)
    with torch.no_grad():
        ref = model(*inputs)
    torch.testing.assert_close(compiled(*inputs), ref, rtol=1e-4, atol=1e-4)


MATMUL = """
builtin.module {
  func.func @f(%a: memref<4x8x{t}>, %b: memref<8x40x{t}>, %c: memref<4x40x{t}>) {
    linalg.matmul ins(%a, %b : memref<4x8x{t}>, memref<8x40x{t}>) outs(%c : memref<4x40x{t}>)
    func.return
  }
}
"""


def test_pass_rewrites_f32_matmul():
    m = parse(MATMUL.replace("{t}", "f32"))
    LinalgToMicroKernelsPass().apply(m.ctx, m.op)
    names = {op.name for op in m.op.walk()}
    assert "linalg.matmul" not in names
    # 40 columns: a panel of 2 x 16 lanes, then 8 columns with masked accesses.
    assert {"llvm.intr.fma", "scf.for", "llvm.load", "llvm.store", "llvm.shufflevector",
            "llvm.call_intrinsic", "llvm.intr.masked.store"} <= names


def test_pass_leaves_f64_matmul():
    m = parse(MATMUL.replace("{t}", "f64"))
    before = m.to_text()
    LinalgToMicroKernelsPass().apply(m.ctx, m.op)
    assert m.to_text() == before
