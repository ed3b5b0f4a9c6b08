"""The micro-kernel lowering (`dagc-linalg-to-microkernels`): GEMM, convolution and
depthwise kernels with their fused epilogues, compiled through the CPU pipeline
and run on one and several threads, compared with numpy / torch."""

import re
import dagc
import numpy as np
import pytest
import torch
from dagc.compiler.compile import CPU_STAGES, lower
from dagc.ir import parse
from dagc.lowering.linalg_to_microkernels import KC, LinalgToMicroKernelsPass, Split
from xdsl.dialects import func
from xdsl.dialects.linalg.attrs import IteratorType
from xdsl.dialects.linalg.ops import GenericOp, MatmulOp, TransposeOp

STAGE = "dagc-linalg-to-microkernels"


def left_after_kernels(model: torch.nn.Module, inputs) -> int:
    """The ``linalg.generic`` ops left after the micro-kernels of ``model``'s
    kernels (0: every epilogue was absorbed), as ``dagc.compile`` lowers it."""
    m = dagc.run_pipeline(dagc.import_torch(model, inputs),
                          "builtin.module(dag-fold-batchnorm,dag-fuse)")
    low, _ = lower(m, CPU_STAGES[:CPU_STAGES.index(STAGE) + 1])
    left = 0
    for f in low.op.walk():
        if isinstance(f, func.FuncOp) and f.body.blocks:
            ops = list(f.body.block.ops)
            first = next((i for i, op in enumerate(ops) if "llvm.intr.fma" in str(op)), None)
            if first is not None:
                left += sum(isinstance(op, GenericOp) for op in ops[first:])
    return left


class MatMul(torch.nn.Module):
    def forward(self, a, b):
        return a @ b


@pytest.mark.parametrize("m,k,n", [(13, KC + 44, 53), (6, 7, 32), (1, 5, 17), (20, 2 * KC, 64)])
def test_matmul(m, k, n):
    """Full and edge tiles (rows < 6, one vector, scalar columns) and K blocks."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((k, n), dtype=np.float32)
    compiled = dagc.compile(MatMul(), (torch.from_numpy(a), torch.from_numpy(b)))
    assert "llvm.intr.fma" in compiled.llvm_ir or "llvm.fma" in compiled.llvm_ir
    np.testing.assert_allclose(compiled(a, b), a.astype(np.float64) @ b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("m,k,n", [(302, 70, 49), (42, KC + 44, 21), (40, 300, 45)],
                         ids=["shared-panels", "odd-tiles-dots", "one-vector-masked"])
def test_gemm_edges(m, k, n, thread_counts):
    """The columns past the whole panels: 16 by 12-row one-vector tiles (an odd
    number of 6-row tiles ends with one), then up to 8 by dot products along k
    (49 = 32 + 16 + 1, 21 = 16 + 5, over two k blocks with a masked k tail),
    more by a masked vector (45 = 32 + 13); B's panels packed once for several row
    blocks (302 rows: 2 blocks, the last with 2 tail rows). One and two threads."""
    assert (Split.of(m, n, k).rows > 1) == (m == 302)  # the cases the docstring names
    rng = np.random.default_rng(0)
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((k, n), dtype=np.float32)
    compiled = dagc.compile(MatMul(), (torch.from_numpy(a), torch.from_numpy(b)))
    for _ in thread_counts(1, 2):
        np.testing.assert_allclose(compiled(a, b), a.astype(np.float64) @ b,
                                   rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    "conv",
    [
        {"in_channels": 3, "out_channels": 19, "kernel_size": 3, "stride": 2, "padding": 1},
        {"in_channels": 8, "out_channels": 40, "kernel_size": 1},
        {"in_channels": 12, "out_channels": 12, "kernel_size": 3, "padding": 1, "groups": 12},
        {"in_channels": 5, "out_channels": 5, "kernel_size": 3, "stride": 2, "padding": 1,
         "groups": 5},
        {"in_channels": 4, "out_channels": 4, "kernel_size": (3, 5), "padding": (2, 1),
         "dilation": (1, 2), "groups": 4, "bias": False},
        {"in_channels": 6, "out_channels": 10, "kernel_size": (3, 2), "padding": 2,
         "dilation": 2, "groups": 2, "bias": False},
        {"in_channels": 3, "out_channels": 8, "kernel_size": 7, "stride": 2, "padding": 3},
        {"in_channels": 3, "out_channels": 20, "kernel_size": 3, "stride": 3},
    ],
    ids=["3x3s2", "1x1", "depthwise", "depthwise-s2", "depthwise-dilated", "grouped-dilated",
         "7x7s2", "patch-s3"],
)
def test_conv2d(conv):
    """im2col + GEMM (vector copies at stride 1 and 2 with the padding's zeros, one
    element at a time at stride 3), the direct 1x1 GEMM, the depthwise kernel
    (stride 1 and 2, padding, dilation, masked edge columns) and grouped
    convolution, each with a fused ReLU, on a batch of 2."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(**conv), torch.nn.ReLU()).eval()
    x = torch.randn(2, conv["in_channels"], 11, 13)
    compiled = dagc.compile(model, (x,))
    with torch.no_grad():
        ref = model(x)
    torch.testing.assert_close(compiled(x), ref, rtol=1e-4, atol=1e-4)


class MaxPool(torch.nn.Module):
    def __init__(self, *args):
        super().__init__()
        self.args = args

    def forward(self, x):
        return torch.nn.functional.max_pool2d(x, *self.args)


@pytest.mark.parametrize("args", [(3, 2, 1), (2, 2), (3, 1, 1), ((3, 2), (2, 1), (1, 0)),
                                  (3, 2, 1, 2), (2, 2, 0, 1, True)],
                         ids=["3x3s2p1", "2x2s2", "3x3s1p1", "3x2-strides-2x1", "dilated",
                              "ceil-mode"])
def test_max_pool(args, thread_counts):
    """Max pooling becomes the depthwise kernel's window walk with vector maximums
    (``-inf`` padding, stride 1 and 2, dilation, ceil mode), NaN propagating as in
    torch; on 1 and 2 threads."""
    torch.manual_seed(0)
    x = torch.randn(2, 5, 23, 21)
    x[0, 1, 4, 4] = float("nan")
    low, _ = lower(dagc.import_torch(MaxPool(*args), (x,)),
                   CPU_STAGES[:CPU_STAGES.index(STAGE) + 1])
    assert not any(isinstance(op, GenericOp) for op in low.op.walk())
    compiled = dagc.compile(MaxPool(*args), (x,))
    assert re.search(r"llvm\.maximum\.v(16|32)f32", compiled.llvm_ir)  # optimized IR
    for _ in thread_counts(1, 2):
        torch.testing.assert_close(compiled(x), MaxPool(*args)(x), equal_nan=True)


@pytest.mark.parametrize("m,k,n", [(1, 1280, 1000), (3, 70, 37), (6, 33, 17)])
def test_linear_few_rows(m, k, n, thread_counts):
    """A linear layer with at most 6 rows reads its weight's rows in place (dot
    products, no transposed copy), with the bias and GELU fused; column and depth
    edges (1000 = 62 x 16 + 8, 37, 17; 70, 33 along k); on 1 and 2 threads."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(k, n), torch.nn.GELU()).eval()
    x = torch.randn(m, k)
    assert left_after_kernels(model, (x,)) == 0
    compiled = dagc.compile(model, (x,))
    assert "llvm.vector.reduce.fadd" in compiled.llvm_ir
    with torch.no_grad():
        ref = model(x)
    for _ in thread_counts(1, 2):
        torch.testing.assert_close(compiled(x), ref, rtol=1e-4, atol=1e-4)


class Attention(torch.nn.Module):
    def __init__(self, causal: bool = False):
        super().__init__()
        self.causal = causal

    def forward(self, q, k, v):
        return torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=self.causal)


class Linear197(torch.nn.Module):
    """A ViT linear (197 rows: 32 tiles and 5 tail rows) whose transposed weight is
    read in place by the GEMM's packing (16 x 16 blocks of W transposed in
    registers, then the k rows past them and the 13 edge columns), with the bias
    and GELU fused; ``k`` past one k block gives the packing a k range known only
    at run time."""

    def __init__(self, k: int = 70):
        super().__init__()
        self.fc = torch.nn.Linear(k, 45)

    def forward(self, x):
        return torch.nn.functional.gelu(self.fc(x))


def _contractions_left(model: torch.nn.Module, inputs) -> list[str]:
    """The linalg contractions and transposes left after the micro-kernels."""
    m = dagc.run_pipeline(dagc.import_torch(model, inputs),
                          "builtin.module(dag-fold-batchnorm,dag-fuse)")
    low, _ = lower(m, CPU_STAGES[:CPU_STAGES.index(STAGE) + 1])
    return [op.name for op in low.op.walk()
            if isinstance(op, MatmulOp | TransposeOp) or (isinstance(op, GenericOp) and any(
                it.data == IteratorType.REDUCTION for it in op.iterator_types)
                and any(inner.name == "arith.mulf" for inner in op.body.block.ops))]


CONTRACTIONS = {
    # name: (model, input shapes)
    "bmm": (MatMul(), [(2, 3, 13, 40), (2, 3, 40, 37)]),
    "bmm-broadcast": (MatMul(), [(2, 3, 13, KC + 44), (3, KC + 44, 37)]),
    "bmm-broadcast-inner": (MatMul(), [(4, 1, 13, 40), (3, 40, 70)]),
    "bmm-large": (MatMul(), [(3, 130, 64), (3, 64, 197)]),
    "attention": (Attention(), [(1, 6, 197, 64)] * 3),
    "attention-causal": (Attention(causal=True), [(2, 3, 37, 16)] * 2 + [(2, 3, 37, 40)]),
    "linear-197": (Linear197(), [(197, 70)]),
    "linear-two-k-blocks": (Linear197(KC + 44), [(20, KC + 44)]),
}


@pytest.mark.parametrize("name", list(CONTRACTIONS))
def test_contraction(name, thread_counts):
    """Batched matmuls (a broadcast batch dim on either side, K blocks, edge rows
    and columns), attention (``q @ k^T``: B packed from k's rows, the scale fused;
    ``softmax @ v`` with the softmax, and a causal mask, fused into it split out)
    and a 197-row linear (its weight's transpose not copied) run on the packed
    GEMM, one per batch index, and match torch on 1 and 2 threads."""
    torch.manual_seed(0)
    model, shapes = CONTRACTIONS[name]
    model.eval()
    inputs = tuple(torch.randn(s) for s in shapes)
    left = _contractions_left(model, inputs)
    assert left == []
    compiled = dagc.compile(model, inputs)
    with torch.no_grad():
        ref = model(*inputs)
    for _ in thread_counts(1, 2):
        torch.testing.assert_close(compiled(*inputs), ref, rtol=1e-4, atol=1e-4)


class ConvResidual(torch.nn.Module):
    """``relu(conv(x) + r)``: a residual block's tail."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(8, 19, 3, padding=1)

    def forward(self, x, r):
        return torch.relu(self.conv(x) + r)


class Scaled(torch.nn.Module):
    def forward(self, a, b):
        return (a @ b) * 0.5


def _linear(activation: torch.nn.Module) -> tuple[torch.nn.Module, tuple]:
    return torch.nn.Sequential(torch.nn.Linear(40, 37), activation), (torch.randn(13, 40),)


EPILOGUES = {
    # name: (model, inputs, epilogue generics left after the kernels)
    "conv+bias+relu": lambda: (
        torch.nn.Sequential(torch.nn.Conv2d(8, 19, 3, padding=1), torch.nn.ReLU()),
        (torch.randn(1, 8, 13, 11),), 0),
    "conv+residual+relu": lambda: (ConvResidual(), (torch.randn(1, 8, 13, 11),
                                                    torch.randn(1, 19, 13, 11)), 0),
    "matmul+scale": lambda: (Scaled(), (torch.randn(13, 70), torch.randn(70, 53)), 0),
    "linear+gelu": lambda: (*_linear(torch.nn.GELU()), 0),
    "linear+hardswish": lambda: (*_linear(torch.nn.Hardswish()), 0),
    "conv+relu6": lambda: (torch.nn.Sequential(torch.nn.Conv2d(8, 19, 1), torch.nn.ReLU6()),
                           (torch.randn(1, 8, 13, 11),), 0),
    # A compare and select (leaky ReLU; sigmoid's exp) has no vector form: left alone.
    "linear+leaky_relu": lambda: (*_linear(torch.nn.LeakyReLU(0.1)), 1),
    "linear+sigmoid": lambda: (*_linear(torch.nn.Sigmoid()), 1),
}


@pytest.mark.parametrize("name", list(EPILOGUES))
def test_epilogue(name):
    """Elementwise epilogues absorbed into the GEMM's final store (bias, relu,
    residual, scale, relu6, hardswish, GELU's erf polynomial) or left as a loop,
    with edge tiles (13 rows, 53 / 37 / 143 columns), match torch."""
    torch.manual_seed(0)
    model, inputs, left = EPILOGUES[name]()
    model.eval()
    assert left_after_kernels(model, inputs) == left
    compiled = dagc.compile(model, inputs)
    with torch.no_grad():
        ref = model(*inputs)
    torch.testing.assert_close(compiled(*inputs), ref, rtol=1e-4, atol=1e-4)


class Net(torch.nn.Module):
    """Large enough for every parallel kernel, on 2 images of 27 x 27: im2col +
    GEMM (128 x 729) over column panels, a depthwise convolution over images and
    channels, two 1x1 GEMMs (256 x 729: 4 tail rows, 16 + 9 edge columns), a
    residual epilogue."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(32, 128, 3, padding=1)
        self.dw = torch.nn.Conv2d(128, 128, 3, padding=1, groups=128)
        self.pw = torch.nn.Conv2d(128, 256, 1)
        self.proj = torch.nn.Conv2d(128, 256, 1)

    def forward(self, x):
        y = torch.relu(self.conv(x))
        return torch.relu(self.pw(torch.nn.functional.relu6(self.dw(y))) + self.proj(y))


def test_threads(thread_counts):
    """The chunks of the parallel kernels give the same result on 1, 2 and 3
    threads (an uneven split) as torch."""
    torch.manual_seed(0)
    model, x = Net().eval(), torch.randn(2, 32, 27, 27)
    compiled = dagc.compile(model, (x,))
    assert compiled.llvm_ir.count("GOMP_parallel") >= 4
    with torch.no_grad():
        ref = model(x)
    for _ in thread_counts(1, 2, 3):
        torch.testing.assert_close(compiled(x), ref, rtol=1e-4, atol=1e-4)


def test_small_model():
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
