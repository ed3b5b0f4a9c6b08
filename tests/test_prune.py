"""Tests of channel groups and dag-prune-channels (dagc.passes.prune_channels).

Pruning is checked exactly: the pruned model's output equals the ORIGINAL torch
model's output once the removed channels' parameters (listed by
``PruneReport.masks``, keyed by state_dict name) are set to zero.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import dagc
from dagc.dialects import dag
from dagc.passes.analysis import model_stats
from dagc.dialects.dag import reshape_blocks
from dagc.passes.channel_groups import channel_groups
from dagc.passes.prune_channels import PruneChannelsPass, prune

# The model cache and the one-thread fixture are shared with test_passes.py.
from test_passes import SMALL, imported  # noqa: E402


def masked(model: torch.nn.Module, masks: dict[str, dict[int, list[int]]]) -> torch.nn.Module:
    """``model`` with the given slices of its parameters and buffers set to zero."""
    model = copy.deepcopy(model)
    state = model.state_dict()
    with torch.no_grad():
        for name, dims in masks.items():
            t = state[name]
            for d, idx in dims.items():
                index = [slice(None)] * t.dim()
                index[d] = torch.tensor(idx, dtype=torch.long)
                t[tuple(index)] = 0
    return model


def groups_by_rep(m):
    return {g.representative: g for g in channel_groups(m).groups}


# -- channel groups -----------------------------------------------------------------


def test_reshape_blocks():
    assert reshape_blocks((1, 64, 7, 7), (1, 3136)) == [([0], [0]), ([1, 2, 3], [1])]
    assert reshape_blocks((1, 17, 192), (1, 17, 3, 2, 32)) == [
        ([0], [0]), ([1], [1]), ([2], [2, 3, 4])]
    assert reshape_blocks((6, 4), (4, 6)) == [([0, 1], [0, 1])]
    with pytest.raises(ValueError):
        reshape_blocks((2, 3), (7,))


def test_groups_resnet():
    g = groups_by_rep(imported("resnet18_small")[2])
    # the stem's channels run through the residual adds of layer1
    assert g["conv1"].producers == ["conv1", "layer1.0.conv2", "layer1.1.conv2"]
    assert {"bn1", "maxpool", "add", "add_1"} <= set(g["conv1"].members)
    assert g["conv1"].prunable and len(g["conv1"].atoms) == 64
    # downsample convs are coupled with the residual stream they feed
    assert "layer2.0.downsample.0" in g["layer2.0.conv2"].producers
    # the classifier's outputs are the model's outputs
    assert not g["fc"].prunable and "model output" in g["fc"].reason
    assert "fc.weight" in g["layer4.0.conv2"].params  # flatten -> linear in-features


def test_groups_depthwise_groupnorm_heads():
    mb = groups_by_rep(imported("mobilenet_v2_small")[2])
    # a depthwise conv couples its input and output channels
    assert mb["features.2.conv.0.0"].producers == ["features.2.conv.0.0", "features.2.conv.1.0"]
    unet = groups_by_rep(imported("unet_small")[2])
    gn = unet["down2.conv1"]  # 64 channels, group norm with 4 groups
    assert len(gn.atoms) == 4 and gn.channels == 64 and gn.prunable
    assert [len(a.slices[gn.rep_axis]) for a in gn.atoms] == [16] * 4
    vit = groups_by_rep(imported("vit_tiny")[2])
    heads = vit["blocks.0.attn.qkv"]  # 2 heads: each unit is q, k, v of one head
    assert len(heads.atoms) == 2 and heads.prunable
    assert [len(a.slices[heads.rep_axis]) for a in heads.atoms] == [96, 96]
    assert not vit["conv_proj"].prunable and "layer_norm" in vit["conv_proj"].reason


# -- exactness ----------------------------------------------------------------------


@pytest.mark.parametrize("ratio", [0.25, 0.5, 0.75])
@pytest.mark.parametrize("name", SMALL)
def test_pruned_equals_masked_original(name, ratio):
    model, inputs, m = imported(name)
    pruned, report = prune(m, ratio)
    pruned.verify()
    stats = model_stats(pruned)
    assert (stats.flops, stats.params) == (report.flops_after, report.params_after)
    assert report.flops_after < report.flops_before
    assert report.params_before == sum(p.numel() for p in model.parameters())
    x = torch.randn(inputs[0].shape, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        got = dagc.to_torch(pruned)(x)
        want = masked(model, report.masks)(x)
        original = model(x)
    assert (got - want).abs().max().item() <= 1e-5
    assert (got - original).abs().max().item() > 1e-3  # pruning did change the model
    assert "total" in report.render()


class OpMix(torch.nn.Module):
    """Channel rules the example models do not exercise: channel chunks (slice)
    gating each other, a grouped (not depthwise) conv, a grouped transposed conv,
    group norm, spatial padding, flatten + permute to tokens, attention with
    separate q/k/v projections (q and k coupled, default scale), a mean."""

    def __init__(self):
        super().__init__()
        nn = torch.nn
        self.stem = nn.Conv2d(3, 16, 3, padding=1)
        self.gconv = nn.Conv2d(8, 12, 3, padding=1, groups=4)
        self.up = nn.ConvTranspose2d(12, 8, 2, stride=2, groups=2)
        self.gn = nn.GroupNorm(2, 8)
        self.proj = nn.Conv2d(8, 16, 1)
        self.q, self.k, self.v = nn.Linear(16, 12), nn.Linear(16, 12), nn.Linear(16, 10)
        self.o = nn.Linear(10, 16)
        self.head = nn.Linear(16, 5)

    def forward(self, x):
        a, b = self.stem(x).chunk(2, dim=1)
        y = F.relu(self.gconv(a * torch.sigmoid(b)))
        y = self.gn(self.up(F.pad(y, (1, 1, 1, 1))))
        t = self.proj(F.silu(y)).flatten(2).permute(0, 2, 1)
        t = t + self.o(F.scaled_dot_product_attention(self.q(t), self.k(t), self.v(t)))
        return self.head(t.mean(dim=1))


@pytest.mark.parametrize("ratio", [0.25, 0.5, 0.75])
def test_op_mix_pruned_equals_masked(ratio):
    torch.manual_seed(0)
    model = OpMix().eval()
    x = torch.randn(1, 3, 8, 8)
    m = dagc.import_torch(model, (x,))
    groups = {g.representative: g for g in channel_groups(m).groups}
    # chunk halves gate each other; the grouped convs and the group norm merge
    # their groups into 2 units (whole transposed-conv groups)
    assert groups["stem"].producers == ["stem", "gconv", "up"]
    assert len(groups["stem"].atoms) == 2
    assert groups["q"].producers == ["q", "k"] and groups["q"].prunable
    pruned, report = prune(m, ratio)
    with torch.no_grad():
        got = dagc.to_torch(pruned)(x)
        assert (got - masked(model, report.masks)(x)).abs().max().item() <= 1e-5
        assert (got - model(x)).abs().max().item() > 1e-3
    ops = {op.label: op for op in pruned.walk() if isinstance(op, dag.DagOp)}
    if ratio == 0.5:
        assert ops["gconv"].groups.value.data == 2 and ops["gn"].num_groups.value.data == 1
        assert ops["chunk.1"].start.value.data == 4 and ops["chunk.1"].end.value.data == 8
        # the attention's head dim shrank: its scale stays 1/sqrt(12)
        sdpa = ops["scaled_dot_product_attention"]
        assert sdpa.scale.value.data == pytest.approx(12 ** -0.5)


def test_original_module_untouched():
    _, _, m = imported("efficientnet_small")
    text = m.to_text(elide_larger_than=0)
    prune(m, 0.5)
    assert m.to_text(elide_larger_than=0) == text


def test_pruned_model_trains():
    _, inputs, m = imported("mobilenet_v2_small")
    pruned, _ = prune(m, 0.5)
    net = dagc.to_torch(pruned)
    g = torch.Generator().manual_seed(0)
    x = torch.randn((4, *inputs[0].shape[1:]), generator=g)
    # the IR is typed for batch 1: train on the examples one at a time
    target = torch.randint(0, 10, (4,), generator=g)
    opt = torch.optim.SGD(net.parameters(), lr=0.01)

    def loss_fn():
        return sum(F.cross_entropy(net(x[i : i + 1]), target[i : i + 1]) for i in range(4)) / 4

    losses = [loss_fn().item()]
    for _ in range(5):
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        opt.step()
        losses.append(loss_fn().item())
    assert losses[-1] < 0.9 * losses[0]
    assert all(b < a for a, b in zip(losses, losses[1:]))


# -- how much, and which channels -----------------------------------------------------


def test_flops_target():
    _, _, m = imported("resnet18_small")
    pruned, report = prune(m, flops_target=0.5)
    assert report.flops_after <= 0.5 * report.flops_before
    assert report.flops_after >= 0.4 * report.flops_before  # not much more than asked
    assert model_stats(pruned).flops == report.flops_after
    # the bisection stops near the smallest ratio that reaches the target
    _, looser = prune(m, max(report.ratio - 0.01, 0.0))
    assert looser.flops_after > 0.5 * report.flops_before


def test_min_channels_and_round_to():
    _, _, m = imported("resnet18_small")
    _, report = prune(m, 0.9, round_to=8, min_channels=16)
    pruned = [g for g in report.groups if not g.kept_reason]
    assert pruned
    for g in pruned:
        assert g.channels_after % 8 == 0 and g.channels_after >= 16


def test_l1_removes_the_smallest_filters():
    model, _, m = imported("resnet18_small")
    _, report = prune(m, 0.5)
    g = next(g for g in report.groups if g.representative == "layer1.0.conv1")
    norms = model.layer1[0].conv1.weight.detach().abs().sum(dim=(1, 2, 3)).numpy()
    assert g.removed == sorted(np.argsort(norms, kind="stable")[:32].tolist())


def test_bn_gamma_removes_the_smallest_scales():
    model, _, m = imported("resnet18_small")
    _, report = prune(m, 0.25, criterion="bn-gamma")
    g = next(g for g in report.groups if g.representative == "layer2.0.conv1")
    gamma = model.layer2[0].bn1.weight.detach().abs().numpy()
    assert g.removed == sorted(np.argsort(gamma, kind="stable")[:32].tolist())


def test_scores_file(tmp_path):
    _, _, m = imported("efficientnet_small")
    scores = np.arange(96, dtype=float)[::-1]  # channel 95 is the least important
    path = tmp_path / "scores.json"
    path.write_text(json.dumps({"features.3.0.block.0.0": scores.tolist()}))
    _, report = prune(m, 0.5, criterion="scores", scores=path)
    by_rep = {g.representative: g for g in report.groups}
    assert by_rep["features.3.0.block.0.0"].removed == list(range(48, 96))
    untouched = [g for g in report.groups if g.representative != "features.3.0.block.0.0"]
    assert all(g.channels_after == g.channels_before for g in untouched)
    path.write_text(json.dumps({"no.such.op": [1.0]}))
    with pytest.raises(ValueError, match="unknown groups"):
        prune(m, 0.5, criterion="scores", scores=path)
    path.write_text(json.dumps({"features.3.0.block.0.0": [1.0, 2.0]}))
    with pytest.raises(ValueError, match="have 2 values"):
        prune(m, 0.5, criterion="scores", scores=path)


def test_bad_arguments():
    _, _, m = imported("efficientnet_small")
    for kwargs in ({"ratio": 1.0}, {"flops_target": 0.0}, {"criterion": "l2"},
                   {"round_to": 0}):
        with pytest.raises(ValueError):
            prune(m, **({"ratio": 0.5} | kwargs))


def test_pass_through_dag_opt(tmp_path):
    model, inputs, m = imported("efficientnet_small")
    src = tmp_path / "model.mlir"
    m.save(src)
    out = subprocess.run(
        [sys.executable, "-m", "dagc.compiler.opt", str(src), "--pass-pipeline",
         "builtin.module(dag-prune-channels{ratio=0.5 criterion=bn-gamma})"],
        capture_output=True, text=True, check=True).stdout
    from_cli = dagc.parse(out)
    from_api, report = prune(m, 0.5, criterion="bn-gamma")
    assert from_cli.to_text(elide_larger_than=0) == from_api.to_text(elide_larger_than=0)
    with torch.no_grad():
        got = dagc.to_torch(from_cli)(inputs[0])
        assert torch.allclose(got, masked(model, report.masks)(inputs[0]), atol=1e-5)


def test_pass_options():
    _, _, m = imported("efficientnet_small")
    with pytest.raises(ValueError, match="scores-file"):
        PruneChannelsPass(criterion="scores").apply(m.ctx, m.op)
    before = model_stats(m).flops
    PruneChannelsPass(flops_target=0.6).apply(m.ctx, m.op)
    m.verify()
    assert model_stats(m).flops <= 0.6 * before
    assert sum(isinstance(op, dag.Conv2dOp) for op in m.walk()) == 26
