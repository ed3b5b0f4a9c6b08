"""Tests of the dag-level rewrite passes and analyses (dagc.passes).

Every semantics-preserving pass is run on the small example models and checked
numerically with the reference executor (``dagc.to_torch``) before vs after on
random inputs; passes that change the model are checked against PyTorch.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import dagc
from dagc.compiler.opt import build_pipeline
from dagc.dialects import dag
from dagc.examples.models import get_model
from dagc.passes.analysis import model_stats, op_cost
from dagc.passes.fold_batchnorm import FoldBatchNormPass
from dagc.passes.inline import InlinePass
from dagc.passes.insert_batchnorm import InsertBatchNormPass, identity_variance
from dagc.passes.outline import OutlineError, OutlinePass
from dagc.passes.remove_identity import RemoveIdentityPass
from dagc.passes.swap_activation import ACTIVATIONS, SwapActivationPass

SMALL = ["resnet18_small", "mobilenet_v2_small", "vit_tiny", "efficientnet_small",
         "unet_small"]

_CACHE: dict[str, tuple] = {}


def imported(name: str):
    """(torch model, example inputs, imported Module), imported once per session;
    tests get a clone of the module."""
    if name not in _CACHE:
        model, inputs = get_model(name)
        _CACHE[name] = (model, inputs, dagc.import_torch(model, inputs))
    model, inputs, m = _CACHE[name]
    return model, inputs, m.clone()


def run(m, x: torch.Tensor, double: bool = False) -> torch.Tensor:
    net = dagc.to_torch(m)
    if double:
        net, x = net.double(), x.double()
    with torch.no_grad():
        return net(x)


def apply(pass_, m):
    pass_.apply(m.ctx, m.op)
    m.verify()
    dagc.parse(m.to_text(elide_larger_than=16))  # the result prints and parses back
    return m


def count(m, cls) -> int:
    return sum(isinstance(op, cls) for op in m.walk())


def random_input(inputs, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(inputs[0].shape, generator=g)


# -- dag-fold-batchnorm ---------------------------------------------------------


@pytest.mark.parametrize("name", SMALL)
def test_fold_batchnorm_preserves_outputs(name):
    _, inputs, m = imported(name)
    x = random_input(inputs)
    # Folding is exact in real arithmetic; the folded weights are rounded to f32
    # once, so the models are compared in float64 (f32 execution adds ~1e-5 of
    # accumulation-order noise on the deeper models).
    before = run(m, x, double=True)
    bns = count(m, dag.BatchNormOp)
    gains_bias = sum(isinstance(op, dag.BatchNormOp) and op.input.owner.bias is None
                     for op in m.walk())
    constants = count(m, dag.ConstantOp)
    folded = apply(FoldBatchNormPass(), m)
    after = run(folded, x, double=True)
    assert (before - after).abs().max().item() <= 1e-5
    assert count(folded, dag.BatchNormOp) == 0
    # each folded batch norm took its four constants; bias-less convs gained one
    assert count(folded, dag.ConstantOp) == constants - 4 * bns + gains_bias


def test_fold_batchnorm_keeps_shared_conv():
    text = """
    func.func @forward(%x: tensor<1x1x4x4xf32>) -> tensor<1x2x4x4xf32> {
      %w = dag.constant "c.weight"() {value = dense<1.0> : tensor<2x1x1x1xf32>} : () -> tensor<2x1x1x1xf32>
      %y = dag.conv2d "c"(%x, %w) {stride = array<i64: 1, 1>, padding = array<i64: 0, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x1x4x4xf32>, tensor<2x1x1x1xf32>) -> tensor<1x2x4x4xf32>
      %m = dag.constant "m"() {value = dense<1.0> : tensor<2xf32>} : () -> tensor<2xf32>
      %z = dag.batch_norm "bn"(%y, %m, %m, %m, %m) {eps = 1.0e-05 : f64} : (tensor<1x2x4x4xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>) -> tensor<1x2x4x4xf32>
      %s = dag.add "a"(%y, %z) : (tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
      func.return %s : tensor<1x2x4x4xf32>
    }"""
    m = dagc.parse(text)
    out = apply(FoldBatchNormPass(), m)
    assert count(out, dag.BatchNormOp) == 1


# -- dag-insert-batchnorm / dag-remove-identity ---------------------------------


@pytest.mark.parametrize("name", SMALL)
def test_insert_batchnorm_is_the_identity(name):
    _, inputs, m = imported(name)
    x = random_input(inputs)
    before = run(m, x)
    out = apply(InsertBatchNormPass(), m.clone())
    assert torch.equal(run(out, x), before)  # bit for bit
    for op in out.walk():
        if isinstance(op, dag.Conv2dOp):
            assert any(isinstance(u.operation, dag.BatchNormOp) for u in op.result.uses)
    # dag-remove-identity recognises the inserted batch norms and restores the IR
    back = apply(RemoveIdentityPass(), out)
    assert back.to_text(elide_larger_than=0) == m.to_text(elide_larger_than=0)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("eps", [0.0, 1e-12, 1e-5, 1e-3, 0.5])
def test_identity_variance(eps, dtype):
    d = np.dtype(dtype)
    v = identity_variance(eps, d)
    assert v.dtype == d and v + d.type(eps) == d.type(1)


def test_remove_identity_matches_torch():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding=1)
            self.drop = nn.Dropout(0.5)
            self.skip = nn.Identity()

        def forward(self, x):
            y = self.drop(self.conv(x)) * 1.0 + 0.0
            return self.skip(y / 1.0 - 0.0).reshape(1, 4, 8, 8)

    model = Net().eval()
    x = torch.randn(1, 3, 8, 8)
    m = dagc.import_torch(model, (x,), leaf_modules=(nn.Dropout, nn.Identity))
    assert count(m, dag.OpaqueOp) == 2
    out = apply(RemoveIdentityPass(), m)
    kinds = [op.name for op in out.forward.body.block.ops]
    assert kinds == ["dag.constant", "dag.constant", "dag.conv2d", "func.return"]
    with torch.no_grad():
        assert torch.allclose(dagc.to_torch(out)(x), model(x), atol=1e-6)


# -- dag-swap-activation ----------------------------------------------------------


def _replace_modules(model: nn.Module, cls: type, make) -> nn.Module:
    model = copy.deepcopy(model)
    for parent in model.modules():
        for key, child in list(parent.named_children()):
            if isinstance(child, cls):
                setattr(parent, key, make())
    return model


@pytest.mark.parametrize("name, src, dst, options, torch_cls, torch_new", [
    ("vit_tiny", "gelu", "relu", {}, nn.GELU, nn.ReLU),
    ("mobilenet_v2_small", "relu6", "leaky_relu", {"negative_slope": 0.1}, nn.ReLU6,
     lambda: nn.LeakyReLU(0.1)),
    ("efficientnet_small", "silu", "hardswish", {}, nn.SiLU, nn.Hardswish),
])
def test_swap_activation_matches_torch(name, src, dst, options, torch_cls, torch_new):
    model, inputs, m = imported(name)
    n_src = count(m, ACTIVATIONS[src])
    out = apply(SwapActivationPass(from_=src, to=dst, **options), m)
    assert n_src > 0 and count(out, ACTIVATIONS[src]) == 0
    assert count(out, ACTIVATIONS[dst]) >= n_src
    expected_model = _replace_modules(model, torch_cls, torch_new)
    x = random_input(inputs)
    with torch.no_grad():
        assert torch.allclose(run(out, x), expected_model(x), atol=1e-5)
        assert not torch.allclose(run(out, x), model(x), atol=1e-3)


def test_swap_activation_only_named_ops():
    _, _, m = imported("vit_tiny")
    out = apply(SwapActivationPass(from_="gelu", to="relu", ops=("blocks.0.mlp.act",)), m)
    names = {op.label: op.name for op in out.walk() if isinstance(op, dag.DagOp)}
    assert names["blocks.0.mlp.act"] == "dag.relu"
    assert names["blocks.1.mlp.act"] == "dag.gelu"


def test_pass_options_parse_from_pipeline_text():
    pipeline = build_pipeline(
        "builtin.module(dag-swap-activation{from=gelu to=leaky_relu negative-slope=0},"
        'dag-outline{from="layer1.0.conv1" to=add func-name=block},'
        "dag-prune-channels{flops-target=0.5 criterion=bn-gamma round-to=8})")
    swap, outline, prune = pipeline.passes
    assert (swap.from_, swap.to, swap.negative_slope) == ("gelu", "leaky_relu", 0)
    assert (outline.from_, outline.to, outline.func_name) == ("layer1.0.conv1", "add", "block")
    assert (prune.flops_target, prune.criterion, prune.round_to) == (0.5, "bn-gamma", 8)
    assert str(swap).startswith('dag-swap-activation{from="gelu" to="leaky_relu"')
    m = imported("vit_tiny")[2]
    with pytest.raises(ValueError, match="not an activation"):
        SwapActivationPass(from_="gelu", to="softmax").apply(m.ctx, m.op)


# -- dag-outline / dag-inline -----------------------------------------------------


@pytest.mark.parametrize("name", SMALL)
def test_outline_then_inline_preserves_outputs(name):
    _, inputs, m = imported(name)
    x = random_input(inputs)
    before = run(m, x)
    compute = [op.label for op in m.forward.body.block.ops
               if isinstance(op, dag.DagOp) and not isinstance(op, dag.ConstantOp)]
    start, end = compute[1], compute[len(compute) // 2]
    out = apply(OutlinePass(from_=start, to=end, func_name="block"), m.clone())
    funcs = [op for op in out.op.body.ops if op.name == "func.func"]
    assert len(funcs) == 2 and funcs[1].sym_visibility.data == "private"
    inner = {op.label for op in funcs[1].walk() if isinstance(op, dag.DagOp)}
    assert {start, end} <= inner
    assert torch.equal(run(out, x), before)
    assert model_stats(out).flops == model_stats(m).flops  # calls expand in stats
    back = apply(InlinePass(), out)
    assert len([op for op in back.op.body.ops if op.name == "func.func"]) == 1
    assert sorted(op.label for op in back.walk() if isinstance(op, dag.DagOp)) == sorted(
        op.label for op in m.walk() if isinstance(op, dag.DagOp))
    assert torch.equal(run(back, x), before)


def test_outline_rejects_bad_subgraphs():
    _, _, m = imported("resnet18_small")
    with pytest.raises(OutlineError, match="not convex"):
        # conv1 feeds layer1.0.conv1 only through bn1/relu/maxpool, left outside
        OutlinePass(ops=("conv1", "layer1.0.conv1")).apply(m.ctx, m.op)
    with pytest.raises(OutlineError, match="no op named"):
        OutlinePass(ops=("conv9",)).apply(m.ctx, m.op)
    with pytest.raises(OutlineError, match="does not depend"):
        OutlinePass(from_="layer2.0.conv1", to="conv1").apply(m.ctx, m.op)


# -- analyses ---------------------------------------------------------------------


@pytest.mark.parametrize("name", SMALL)
def test_stats_params_and_macs_match_torch(name):
    model, inputs, m = imported(name)
    report = model_stats(m)
    assert report.params == sum(p.numel() for p in model.parameters())
    # MACs of convolutions and linear layers, measured with forward hooks
    macs = 0

    def hook(mod, args, out):
        nonlocal macs
        if isinstance(mod, nn.Conv2d):
            macs += out.numel() * mod.weight[0].numel()
        elif isinstance(mod, nn.ConvTranspose2d):
            macs += args[0].numel() * mod.weight[0].numel()
        else:
            macs += out.numel() * mod.in_features

    hooks = [mod.register_forward_hook(hook) for mod in model.modules()
             if isinstance(mod, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear))]
    with torch.no_grad():
        model(*inputs)
    for h in hooks:
        h.remove()
    layers = ("conv2d", "conv_transpose2d", "linear")
    layer_macs = sum(r.macs for r in report.rows if r.kind in layers)
    assert layer_macs == macs
    h, w = inputs[0].shape[-2:]
    assert report.kmapp == pytest.approx(report.flops / (h * w * 1000))
    text = report.render(top=5, sort_by="flops")
    assert "total" in text and "kmapp" in text


def test_stats_resnet18_published_macs():
    # He et al. 2016 / torchvision: ResNet-18 at 224x224 is 1.82 GMACs.
    model, inputs = get_model("resnet18")
    report = model_stats(dagc.import_torch(model, inputs))
    assert report.macs / 1e9 == pytest.approx(1.814, abs=0.01)
    assert report.flops > 2 * report.macs


def test_op_cost_with_shape_overrides():
    _, _, m = imported("resnet18_small")
    conv = next(op for op in m.walk() if isinstance(op, dag.Conv2dOp)
                and op.label == "layer1.0.conv1")
    flops, macs = op_cost(conv)
    half, half_macs = op_cost(conv, [(1, 32, 16, 16), (64, 32, 3, 3)], [(1, 64, 16, 16)])
    assert macs == 1 * 64 * 16 * 16 * 64 * 9 and half_macs * 2 == macs and flops == 2 * macs


# -- plugins: registering a pass from outside the package -------------------------


PLUGIN_PYPROJECT = """
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "dagc-test-plugin"
version = "0.1"

[tool.setuptools]
py-modules = ["dagc_test_plugin"]

[project.entry-points."xdsl.universe"]
dagc_test_plugin = "dagc_test_plugin:UNIVERSE"
"""

PLUGIN_MODULE = '''
"""A pass registered from outside dagc: relu -> relu6."""
from dataclasses import dataclass

from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (PatternRewriter, PatternRewriteWalker,
                                   RewritePattern, op_type_rewrite_pattern)
from xdsl.universe import Universe

from dagc.dialects import dag


class ReluToRelu6(RewritePattern):
    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: dag.ReluOp, rewriter: PatternRewriter):
        rewriter.replace(op, dag.Relu6Op.create(
            operands=[op.input], result_types=[op.result.type],
            properties={"name": op.node_name}))


@dataclass(frozen=True)
class ReluToRelu6Pass(ModulePass):
    """Clip every relu at 6."""

    name = "test-relu-to-relu6"

    def apply(self, ctx, op):
        PatternRewriteWalker(ReluToRelu6()).rewrite_module(op)


UNIVERSE = Universe(all_passes={"test-relu-to-relu6": lambda: ReluToRelu6Pass})
'''


def test_external_pass_through_entry_point(tmp_path: Path):
    pkg = tmp_path / "plugin"
    pkg.mkdir()
    (pkg / "pyproject.toml").write_text(PLUGIN_PYPROJECT)
    (pkg / "dagc_test_plugin.py").write_text(PLUGIN_MODULE)
    ir = tmp_path / "in.mlir"
    ir.write_text(textwrap.dedent("""
        func.func @forward(%x: tensor<4xf32>) -> tensor<4xf32> {
          %0 = dag.relu "act"(%x) : (tensor<4xf32>) -> tensor<4xf32>
          func.return %0 : tensor<4xf32>
        }
    """))
    pip = [sys.executable, "-m", "pip"]
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    subprocess.run([*pip, "install", "-q", "--no-deps", "--no-build-isolation", "-e", str(pkg)],
                   check=True, env=env, cwd=tmp_path)
    try:
        opt = [sys.executable, "-m", "dagc.compiler.opt"]
        listed = subprocess.run([*opt, "--list-passes"], capture_output=True, text=True,
                                check=True, cwd=tmp_path).stdout
        assert "test-relu-to-relu6" in listed
        out = subprocess.run([*opt, str(ir), "-p", "test-relu-to-relu6"], capture_output=True,
                             text=True, check=True, cwd=tmp_path).stdout
        assert 'dag.relu6 "act"(%x)' in out and "dag.relu " not in out
    finally:
        subprocess.run([*pip, "uninstall", "-q", "-y", "dagc-test-plugin"], check=True,
                       env=env, cwd=tmp_path)
    gone = subprocess.run([sys.executable, "-m", "dagc.compiler.opt", "--list-passes"],
                          capture_output=True, text=True, cwd=tmp_path).stdout
    assert "test-relu-to-relu6" not in gone
