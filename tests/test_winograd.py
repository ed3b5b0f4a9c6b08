"""Winograd's F(2x2, 3x3) (Lavin and Gray, CVPR 2016): the filter transform, the
``dag-winograd`` pass, the ``dag.winograd_conv2d`` verifier, and the op compiled
through the CPU pipeline, with the transforms' micro-kernels and without them
(the linalg ops lowered to loops), compared with torch's direct convolution."""

from __future__ import annotations

import subprocess
import sys

import dagc
import numpy as np
import pytest
import torch
from dagc.compiler import compile as cpu_compile
from dagc.compiler.compile import CPU_STAGES, DEFAULT_PIPELINE, HOISTED, hoist_entry, lower
from dagc.dialects import dag
from dagc.passes.analysis import model_stats
from dagc.passes.winograd import transformed_bytes, winograd_filter
from test_dag_to_linalg import check
from torch import nn
from xdsl.dialects.linalg.ops import GenericOp
from xdsl.utils.exceptions import VerifyException

KERNELS = "dagc-linalg-to-microkernels"
ANY_SIZE = "builtin.module(dag-winograd{min_tiles=1})"

# The matrices of F(2x2, 3x3) as Lavin and Gray print them (eq. 7), spelled here
# independently of dagc.dialects.dag.
BT = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], np.float64)
G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]], np.float64)
AT = np.array([[1, 1, 1, 0], [0, 1, -1, -1]], np.float64)


def op_names(m: dagc.Module) -> list[str]:
    return [op.name for op in m.walk()]


def conv_model(cin=16, cout=18, bias=True, **conv) -> nn.Module:
    torch.manual_seed(0)
    return nn.Conv2d(cin, cout, conv.pop("kernel_size", 3), bias=bias, **conv).eval()


def torch_out(model: nn.Module, *inputs: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(*inputs)


def reference(m: dagc.Module, x: torch.Tensor) -> torch.Tensor:
    """``m`` run by the reference executor (``dag.winograd_conv2d``'s torch kernel)."""
    with torch.no_grad():
        return dagc.to_torch(m)(x)


# ----------------------------------------------------------------------------
# The filter transform
# ----------------------------------------------------------------------------


def test_winograd_filter_is_g_w_gt():
    """``U[:, :, f, c] = G w[f, c] G^T`` (float64), laid out ``4 x 4 x F x C``."""
    w = np.random.default_rng(0).standard_normal((3, 2, 3, 3)).astype(np.float32)
    u = winograd_filter(w)
    assert u.shape == (4, 4, 3, 2) and u.dtype == np.float64
    for f in range(3):
        for c in range(2):
            np.testing.assert_allclose(u[:, :, f, c], G @ w[f, c].astype(np.float64) @ G.T,
                                       rtol=0, atol=1e-12)


def test_transforms_compute_a_correlation():
    """With ``dag``'s matrices, ``A^T [(G g G^T) * (B^T d B)] A`` is the 2 x 2 valid
    cross-correlation of a 4 x 4 tile ``d`` with the 3 x 3 filter ``g`` (what
    ``conv2d`` computes), and they are the paper's."""
    np.testing.assert_array_equal(np.array(dag.WINOGRAD_BT), BT)
    np.testing.assert_array_equal(np.array(dag.WINOGRAD_G), G)
    np.testing.assert_array_equal(np.array(dag.WINOGRAD_AT), AT)
    rng = np.random.default_rng(1)
    d, g = rng.standard_normal((4, 4)), rng.standard_normal((1, 1, 3, 3))
    y = AT @ (winograd_filter(g)[:, :, 0, 0] * (BT @ d @ BT.T)) @ AT.T
    direct = [[np.sum(d[i:i + 3, j:j + 3] * g[0, 0]) for j in range(2)] for i in range(2)]
    np.testing.assert_allclose(y, direct, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape", [(3, 3), (2, 2, 3), (4, 2, 5, 5), (4, 2, 3, 1), (1, 1, 1, 3, 3)])
def test_winograd_filter_rejects_other_shapes(shape):
    with pytest.raises(ValueError, match=r"F x C x 3 x 3 filter, got \[" + ", ".join(map(str, shape))):
        winograd_filter(np.zeros(shape, np.float32))


# ----------------------------------------------------------------------------
# The pass
# ----------------------------------------------------------------------------

PASS_CASES = [
    # batch, H, W, padding, bias
    (1, 6, 6, 0, True),
    (1, 7, 5, 1, False),  # odd H and W: the last row and column of tiles half used
    (2, 5, 8, 1, True),
    (2, 9, 7, 0, False),
    (1, 6, 7, (0, 1), True),  # padding on one axis only
    (1, 4, 5, 2, False),  # padding 2: output larger than input
]


@pytest.mark.parametrize("batch,h,w,padding,bias", PASS_CASES, ids=str)
def test_pass_rewrites_conv(batch, h, w, padding, bias):
    """The conv becomes ``dag.winograd_conv2d`` with ``U = G w G^T`` (a new blob, the
    old weight constant and its blob gone), the module verifies, and the reference
    executor matches torch's direct convolution."""
    model = conv_model(bias=bias, padding=padding)
    x = torch.randn(batch, 16, h, w, generator=torch.Generator().manual_seed(1))
    m = dagc.import_torch(model, (x,))
    out = dagc.run_pipeline(m, ANY_SIZE)
    out.verify()
    names = op_names(out)
    assert "dag.conv2d" not in names and names.count("dag.winograd_conv2d") == 1
    (op,) = [o for o in out.walk() if isinstance(o, dag.WinogradConv2dOp)]
    pad = (padding, padding) if isinstance(padding, int) else padding
    assert tuple(op.padding.get_values()) == pad
    assert (op.bias is not None) == bias
    labels = [o.label for o in out.walk() if isinstance(o, dag.ConstantOp)]
    assert "conv2d.weight" not in labels and labels.count("conv2d.weight.winograd") == 1
    weights = [handle for handle in out.referenced_resources() if "weight" in handle]
    assert weights == ["conv2d_weight_winograd"]
    u = out.resources.array(op.weight.owner.value)
    assert u.shape == (4, 4, 18, 16) and u.dtype == np.float32
    np.testing.assert_allclose(u, winograd_filter(model.weight.detach().numpy()), rtol=1e-6,
                               atol=1e-7)
    torch.testing.assert_close(reference(out, x), torch_out(model, x), rtol=1e-5, atol=1e-5)
    # the input module is left as it was
    assert "dag.conv2d" in op_names(m) and "dag.winograd_conv2d" not in op_names(m)


class ConvRelu(nn.Module):
    def __init__(self, cin=16, cout=16, padding=1, bias=True):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(cin, cout, 3, padding=padding, bias=bias)

    def forward(self, x):
        return torch.relu(self.conv(x))


class ConvResidualRelu(ConvRelu):
    def forward(self, x):
        return torch.relu(x + self.conv(x))


@pytest.mark.parametrize("bias", [True, False])
def test_pass_rewrites_conv_in_fused_region(bias):
    """After ``dag-fuse`` the conv reads its weight through a block argument: the
    fused op gains the ``U`` operand (a new constant) and loses the weight's."""
    model = ConvRelu(bias=bias).eval()
    x = torch.randn(1, 16, 7, 6, generator=torch.Generator().manual_seed(2))
    fused = dagc.run_pipeline(dagc.import_torch(model, (x,)), "builtin.module(dag-fuse)")
    (before,) = [o for o in fused.walk() if isinstance(o, dag.FusedOp)]
    assert [str(v.type) for v in before.inputs][1] == "tensor<16x16x3x3xf32>"
    out = dagc.run_pipeline(fused, ANY_SIZE)
    (region,) = [o for o in out.walk() if isinstance(o, dag.FusedOp)]
    types = [str(v.type) for v in region.inputs]
    assert "tensor<16x16x3x3xf32>" not in types
    assert types[-1] == "tensor<4x4x16x16xf32>" and len(types) == (3 if bias else 2)
    assert region.inputs[-1].owner.label == "conv.weight.winograd"
    assert len(region.body.block.args) == len(region.inputs)
    assert [o.name for o in region.body.block.ops] == ["dag.winograd_conv2d", "dag.relu",
                                                       "dag.yield"]
    conv = region.body.block.first_op
    assert conv.weight is region.body.block.args[-1]
    assert "conv.weight" not in [o.label for o in out.walk() if isinstance(o, dag.ConstantOp)]
    torch.testing.assert_close(reference(out, x), torch_out(model, x), rtol=1e-5, atol=1e-5)


def test_shared_weight():
    """A weight read by two convs: both are rewritten, then the weight goes."""

    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(16, 16, 3, padding=1)

        def forward(self, x):
            return self.conv(self.conv(x))

    torch.manual_seed(0)
    model = Twice().eval()
    x = torch.randn(1, 16, 6, 6)
    out = dagc.run_pipeline(dagc.import_torch(model, (x,)), ANY_SIZE)
    assert op_names(out).count("dag.winograd_conv2d") == 2 and "dag.conv2d" not in op_names(out)
    assert "conv.weight" not in [o.label for o in out.walk() if isinstance(o, dag.ConstantOp)]
    torch.testing.assert_close(reference(out, x), torch_out(model, x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "conv,hw,spec",
    [
        ({"stride": 2, "padding": 1}, (12, 12), ANY_SIZE),
        ({"dilation": 2, "padding": 2}, (12, 12), ANY_SIZE),
        ({"groups": 2, "padding": 1}, (12, 12), ANY_SIZE),
        ({"kernel_size": 1}, (12, 12), ANY_SIZE),
        ({"kernel_size": 5, "padding": 2}, (12, 12), ANY_SIZE),
        ({"kernel_size": (3, 1), "padding": 1}, (12, 12), ANY_SIZE),
        ({"cin": 15, "padding": 1}, (12, 12), ANY_SIZE),  # too few input channels
        ({"cout": 15, "padding": 1}, (12, 12), ANY_SIZE),  # too few output channels
        ({"padding": 1}, (10, 14), "builtin.module(dag-winograd)"),  # 5 x 7 tiles < 36
        ({"padding": 1}, (12, 12), "builtin.module(dag-winograd{min_channels=32})"),
    ],
    ids=["stride2", "dilation2", "groups2", "1x1", "5x5", "3x1", "15-inputs", "15-outputs",
         "35-tiles", "min-channels-32"],
)
def test_pass_leaves_conv(conv, hw, spec):
    """Convolutions F(2x2, 3x3) does not compute, or too small for it to pay, stay
    as they were (the IR is unchanged)."""
    model = conv_model(cin=conv.pop("cin", 16), cout=conv.pop("cout", 16), **conv)
    x = torch.randn(1, model.in_channels, *hw)
    m = dagc.import_torch(model, (x,))
    assert dagc.run_pipeline(m, spec).to_text() == m.to_text()


def test_pass_counts_tiles_of_all_images():
    """``min_tiles`` counts the 2x2 output tiles of the whole batch: 2 images of
    5 x 7 outputs are 2 * 3 * 4 = 24 tiles."""
    model = conv_model(cout=16)
    m = dagc.import_torch(model, (torch.randn(2, 16, 7, 9),))
    for tiles, rewritten in ((24, True), (25, False)):
        out = dagc.run_pipeline(m, f"builtin.module(dag-winograd{{min_tiles={tiles}}})")
        assert ("dag.winograd_conv2d" in op_names(out)) == rewritten


def test_pass_limits_the_transformed_bytes_per_image():
    """``max_mib`` bounds the transformed input and GEMM products of one image, ``16
    x (C + F) x tiles`` floats: 16 channels in and out, 4 images of 64 x 64 outputs
    (4096 tiles) make 8 MiB, 2 MiB an image. An image that does not fit stays
    direct; a batch is never split at the dag level (the kernels run large batches
    a group of images at a time); 0 lifts the bound."""
    model = conv_model(cout=16, padding=1)
    x = torch.randn(4, 16, 64, 64)
    m = dagc.import_torch(model, (x,))
    conv = next(op for op in m.walk() if op.name == "dag.conv2d")
    assert transformed_bytes(conv) == 8 << 20
    for mib, rewritten in ((8, True), (0, True), (2, True), (1, False)):
        out = dagc.run_pipeline(m, f"builtin.module(dag-winograd{{max_mib={mib}}})")
        names = op_names(out)
        assert names.count("dag.winograd_conv2d") == int(rewritten), mib
        assert ("dag.conv2d" in names) == (not rewritten)
        assert "dag.slice" not in names and "dag.concat" not in names


def test_pass_leaves_float64():
    model = conv_model(padding=1).double()
    m = dagc.import_torch(model, (torch.randn(1, 16, 12, 12, dtype=torch.float64),))
    assert dagc.run_pipeline(m, ANY_SIZE).to_text() == m.to_text()


WEIGHT_ARGUMENT = """
func.func @forward(%x: tensor<1x16x8x8xf32>, %w: tensor<16x16x3x3xf32>) -> (tensor<1x16x8x8xf32>, tensor<1x16x8x8xf32>) {
  %y = dag.conv2d "c"(%x, %w) {stride = array<i64: 1, 1>, padding = array<i64: 1, 1>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x16x8x8xf32>, tensor<16x16x3x3xf32>) -> tensor<1x16x8x8xf32>
  %z = dag.fused "f"(%xa = %x, %wa = %w) : (tensor<1x16x8x8xf32>, tensor<16x16x3x3xf32>) -> tensor<1x16x8x8xf32> {
    %c = dag.conv2d "fc"(%xa, %wa) {stride = array<i64: 1, 1>, padding = array<i64: 1, 1>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x16x8x8xf32>, tensor<16x16x3x3xf32>) -> tensor<1x16x8x8xf32>
    %r = dag.relu "r"(%c) : (tensor<1x16x8x8xf32>) -> tensor<1x16x8x8xf32>
    dag.yield %r : tensor<1x16x8x8xf32>
  }
  func.return %y, %z : tensor<1x16x8x8xf32>, tensor<1x16x8x8xf32>
}
"""


def test_pass_leaves_weight_that_is_not_constant():
    """A filter that is a function argument (at run time), directly or bound to a
    fused region's block argument, cannot be transformed ahead of time."""
    m = dagc.parse(WEIGHT_ARGUMENT)
    out = dagc.run_pipeline(m, ANY_SIZE)
    assert op_names(out).count("dag.conv2d") == 2 and "dag.winograd_conv2d" not in op_names(out)
    assert out.to_text() == m.to_text()


def test_pass_keeps_the_cost():
    """The cost analysis counts a Winograd convolution as the direct one."""
    model = conv_model(padding=1)
    m = dagc.import_torch(model, (torch.randn(2, 16, 6, 7),))
    before, after = model_stats(m), model_stats(dagc.run_pipeline(m, ANY_SIZE))
    assert [r.kind for r in after.rows] == ["winograd_conv2d"]
    assert (after.flops, after.macs) == (before.flops, before.macs) == (
        2 * 2 * 18 * 6 * 7 * 16 * 9 + 2 * 18 * 6 * 7, 2 * 18 * 6 * 7 * 16 * 9)


# ----------------------------------------------------------------------------
# The verifier
# ----------------------------------------------------------------------------


def winograd_ir(x, u, y, bias=None, padding=(1, 1)) -> str:
    def t(shape):
        return f"tensor<{'x'.join(map(str, shape))}xf32>"

    args = [f"%x: {t(x)}", f"%u: {t(u)}"] + ([f"%b: {t(bias)}"] if bias else [])
    operands = "%x, %u" + (", %b" if bias else "")
    types = ", ".join([t(x), t(u)] + ([t(bias)] if bias else []))
    return (f"func.func @f({', '.join(args)}) -> {t(y)} {{\n"
            f"  %y = dag.winograd_conv2d \"c\"({operands}) {{padding = array<i64: {padding[0]}, "
            f"{padding[1]}>}} : ({types}) -> {t(y)}\n"
            f"  func.return %y : {t(y)}\n}}\n")


def test_verifier_accepts_valid_op():
    m = dagc.parse(winograd_ir((2, 3, 5, 6), (4, 4, 8, 3), (2, 8, 5, 6), bias=(8,)))
    (op,) = [o for o in m.walk() if isinstance(o, dag.WinogradConv2dOp)]
    assert op.infer_result_shapes() == [(2, 8, 5, 6)]


@pytest.mark.parametrize(
    "x,u,y,bias,padding,message",
    [
        ((1, 3, 5, 5), (3, 3, 8, 3), (1, 8, 5, 5), None, (1, 1), "weight 4 x 4 x F x C"),
        ((1, 3, 5, 5), (4, 4, 8), (1, 8, 5, 5), None, (1, 1), "weight 4 x 4 x F x C"),
        ((3, 5, 5), (4, 4, 8, 3), (1, 8, 5, 5), None, (1, 1), "input must be 4-D"),
        ((1, 3, 5, 5), (4, 4, 8, 4), (1, 8, 5, 5), None, (1, 1),
         r"weight \[4, 4, 8, 4\] does not fit input \[1, 3, 5, 5\]"),
        ((1, 3, 5, 5), (4, 4, 8, 3), (1, 8, 5, 5), (3,), (1, 1), r"bias must have shape \[8\]"),
        ((1, 3, 5, 5), (4, 4, 8, 3), (1, 8, 5, 5), (1, 8), (1, 1), r"bias must have shape \[8\]"),
        ((1, 3, 1, 5), (4, 4, 8, 3), (1, 8, 1, 3), None, (0, 0), "output would be empty"),
        ((1, 3, 5, 5), (4, 4, 8, 3), (1, 8, 3, 3), None, (1, 1),
         r"result #0 has type tensor<1x8x3x3xf32>, but the operands and attributes give "
         r"tensor<1x8x5x5xf32>"),
    ],
    ids=["3x3-weight", "3-D-weight", "3-D-input", "channels", "bias-size", "bias-rank",
         "empty", "result"],
)
def test_verifier_rejects(x, u, y, bias, padding, message):
    with pytest.raises(VerifyException, match=message):
        dagc.parse(winograd_ir(x, u, y, bias, padding))


def test_dag_opt_reports_located_error(tmp_path):
    """``dag-opt`` on an invalid op: an MLIR-style located error, no traceback."""
    path = tmp_path / "bad.mlir"
    path.write_text(winograd_ir((1, 3, 5, 5), (4, 4, 8, 4), (1, 8, 5, 5)))
    run = subprocess.run([sys.executable, "-m", "dagc.compiler.opt", str(path)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 1
    assert f"{path}:2:" in run.stderr and "error:" in run.stderr and "does not fit input" in run.stderr
    assert "Traceback" not in run.stderr


# ----------------------------------------------------------------------------
# Through the CPU pipeline
# ----------------------------------------------------------------------------


def dag_for_cpu(model: nn.Module, x: torch.Tensor) -> dagc.Module:
    """``model`` imported and prepared as ``dagc.compile`` prepares a CPU subgraph."""
    return dagc.run_pipeline(dagc.import_torch(model, (x,)), DEFAULT_PIPELINE)


def assert_uses_winograd(m: dagc.Module) -> None:
    """The CPU pipeline rewrites ``m``'s conv (default thresholds), and the micro-
    kernel stage leaves no ``linalg.generic``: its transforms became vector code."""
    first, _ = lower(m, CPU_STAGES[:1])
    names = op_names(first)
    assert "dag.conv2d" not in names and names.count("dag.winograd_conv2d") == 1
    kernels, _ = lower(m, CPU_STAGES[:CPU_STAGES.index(KERNELS) + 1])
    assert not any(isinstance(op, GenericOp) for op in kernels.walk())
    assert "llvm.intr.masked.store" in op_names(kernels)


COMPILE_CASES = [
    # model class, (in channels, out channels, padding, bias), input shape
    pytest.param(ConvRelu, (16, 16, 1, True), (1, 16, 12, 12), id="conv-bias-relu-6x6-tiles"),
    pytest.param(ConvResidualRelu, (16, 16, 1, False), (1, 16, 13, 11), id="residual-odd"),
    pytest.param(ConvRelu, (16, 24, 1, True), (1, 16, 9, 38), id="wide-19-tiles"),
    pytest.param(ConvRelu, (20, 16, 0, True), (2, 20, 11, 15), id="batch2-pad0-odd"),
    pytest.param(ConvResidualRelu, (16, 16, 1, True), (2, 16, 10, 35), id="batch2-residual-wide"),
]


@pytest.mark.parametrize("cls,args,shape", COMPILE_CASES)
def test_compile(cls, args, shape):
    """``dagc.compile`` runs the conv by Winograd (the pass at the pipeline's head,
    the transforms' micro-kernels with the bias, residual and ReLU fused) and
    matches torch's direct convolution: 2 x 2 tiles cut at odd edges, rows of more
    than 16 tiles (two vector groups, the second masked), images side by side."""
    model = cls(*args).eval()
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(3))
    assert_uses_winograd(dag_for_cpu(model, x))
    compiled = dagc.compile(model, (x,), target="cpu", cache=False)
    torch.testing.assert_close(compiled(x), torch_out(model, x), rtol=1e-4, atol=1e-4)


def test_compile_parallel_transforms(thread_counts):
    """Transforms large enough to split over threads (``scf.parallel`` over images
    and channels) give the same result on 1 and 2 threads."""
    model = ConvRelu(32, 32, padding=1).eval()
    x = torch.randn(2, 32, 16, 16, generator=torch.Generator().manual_seed(4))
    m = dag_for_cpu(model, x)
    assert_uses_winograd(m)
    kernels, _ = lower(m, CPU_STAGES[:CPU_STAGES.index(KERNELS) + 1])
    assert op_names(kernels).count("scf.parallel") == 3  # input transform, GEMMs, output
    compiled = dagc.compile(model, (x,), target="cpu", cache=False)
    expected = torch_out(model, x)
    for _ in thread_counts(1, 2):
        torch.testing.assert_close(compiled(x), expected, rtol=1e-4, atol=1e-4)


def test_hoisted_weights_are_the_transformed_filters():
    """The stages up to weight hoisting run on a copy: the entry's weight is ``U``
    (``4 x 4 x F x C``) and the compiled module's weight store is left as it was."""
    model = ConvRelu(16, 16, padding=1).eval()
    m = dag_for_cpu(model, torch.randn(1, 16, 12, 12))
    blobs = dict(m.resources.blobs)
    text = m.to_text()
    _, _, entry = hoist_entry(m, CPU_STAGES[:HOISTED])
    assert sorted((a.shape for a in entry.arrays.values()), key=len) == [(16,), (4, 4, 16, 16)]
    (u,) = [a for a in entry.arrays.values() if a.ndim == 4]
    np.testing.assert_allclose(u, winograd_filter(model.conv.weight.detach().numpy()),
                               rtol=1e-6, atol=1e-7)
    assert m.resources.blobs == blobs and m.to_text() == text


def test_compile_cache_hit_uses_new_weights():
    """The compile cache's key is the IR after hoisting, where ``U`` is an argument:
    a model with other weights hits the entry and runs with its own ``U``."""
    x = torch.randn(1, 16, 12, 12, generator=torch.Generator().manual_seed(7))
    first = ConvRelu(16, 16, padding=1).eval()
    second = ConvRelu(16, 16, padding=1).eval()
    with torch.no_grad():
        second.conv.weight.mul_(-2.0)
    dagc.compile(first, (x,), target="cpu")
    compiled = dagc.compile(second, (x,), target="cpu")
    assert "cache hit" in [r.name for r in compiled.stages]
    torch.testing.assert_close(compiled(x), torch_out(second, x), rtol=1e-4, atol=1e-4)


def test_compile_without_microkernels(monkeypatch):
    """Without ``dagc-linalg-to-microkernels`` the three linalg ops (input
    transform, batched GEMM, output transform with floordiv/mod maps) lower to
    loops and still compute the convolution."""
    stages = tuple(s for s in CPU_STAGES if s != KERNELS)
    monkeypatch.setattr(cpu_compile, "CPU_STAGES", stages)
    model = ConvResidualRelu(16, 16, padding=1).eval()
    x = torch.randn(1, 16, 13, 11, generator=torch.Generator().manual_seed(5))
    first, _ = lower(dag_for_cpu(model, x), stages[:1])
    assert "dag.winograd_conv2d" in op_names(first)
    compiled = dagc.compile(model, (x,), target="cpu", cache=False)
    ran = [r.name for r in compiled.stages]
    assert "dag-winograd" in ran and KERNELS not in ran
    torch.testing.assert_close(compiled(x), torch_out(model, x), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("batch,limit,group",
                         [(4, 1 << 20, 2), (3, 1 << 20, 1), (2, 1 << 30, None)])
def test_compile_batch_in_groups(monkeypatch, batch, limit, group):
    """A batch whose ``V`` and ``M`` exceed ``winograd_group_bytes`` (here 225 tiles
    an image, 0.44 MiB with 16 channels in and out) runs the input transform, the
    GEMMs and the output transform (with the bias, the residual add and the ReLU
    fused) a group of images at a time: the largest divisor of the batch that fits
    (2 of 4, 1 of 3 within 1 MiB); one op for the whole batch at every level."""
    from dagc.lowering import winograd_kernels

    stages = tuple(f"{KERNELS}{{winograd_group_bytes={limit}}}" if s == KERNELS else s
                   for s in CPU_STAGES)
    monkeypatch.setattr(cpu_compile, "CPU_STAGES", stages)
    emitted = []
    emit = winograd_kernels._Groups.emit
    monkeypatch.setattr(winograd_kernels._Groups, "emit",
                        lambda self, *a: emitted.append(self.group) or emit(self, *a))
    model = ConvResidualRelu(16, 16, padding=1).eval()
    x = torch.randn(batch, 16, 30, 30, generator=torch.Generator().manual_seed(9))
    first, _ = lower(dag_for_cpu(model, x), stages[:1])
    assert [op.result.type.get_shape()[0] for op in first.walk()
            if op.name == "dag.winograd_conv2d"] == [batch]
    compiled = dagc.compile(model, (x,), target="cpu", cache=False)
    assert emitted == ([] if group is None else [group])
    torch.testing.assert_close(compiled(x), torch_out(model, x), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("batch,h,w,padding,bias", PASS_CASES[:4], ids=str)
def test_linalg_lowering(batch, h, w, padding, bias):
    """``convert-dag-to-linalg``'s three ops, run by the NumPy linalg evaluator and
    by the CPU backend's generic lowering (bufferize, loops, LLVM; no micro-kernels),
    match the reference executor and torch."""
    model = conv_model(bias=bias, padding=padding)
    x = torch.randn(batch, 16, h, w, generator=torch.Generator().manual_seed(6))
    m = dagc.run_pipeline(dagc.import_torch(model, (x,)), ANY_SIZE)
    assert "dag.winograd_conv2d" in op_names(m)
    check(m, [x.numpy()], cpu=True)
    torch.testing.assert_close(reference(m, x), torch_out(model, x), rtol=1e-5, atol=1e-5)
