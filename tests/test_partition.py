"""The device dialect and ``partition-devices``: partitioned models compute exactly
what the unpartitioned ones do (reference executor), and bad allocations fail with
messages that name the problem."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

import dagc
from dagc.dialects import dag, device
from dagc.dialects.device import DEVICE_KINDS, DeviceError, DeviceId, parse_device
from dagc.examples.models import get_model
from dagc.passes.partition_devices import (
    AllocationError,
    alloc_template,
    partition,
)

SUPPORTED = "X86, X64, ARM, ARM64, NVIDIA, AMDGPU, INTELGPU, MALI, ADRENO, HOST"


# ----------------------------------------------------------------------------
# Devices
# ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, kind, index, backend",
    [("X64:0", "X64", 0, "llvm"), ("arm64:3", "ARM64", 3, "llvm"), ("X86", "X86", 0, "llvm"),
     ("NVIDIA:1", "NVIDIA", 1, "spirv"), ("MALI:0", "MALI", 0, "spirv"),
     ("HOST:0", "HOST", 0, "torch")],
)
def test_parse_device(text, kind, index, backend):
    d = parse_device(text)
    assert d == DeviceId(kind, index)
    assert d.backend == backend
    assert str(d) == f"{kind}:{index}"


def test_device_table_covers_the_seed_kinds():
    assert list(DEVICE_KINDS) == SUPPORTED.split(", ")
    assert {k for k, v in DEVICE_KINDS.items() if v.backend == "llvm"} == {
        "X86", "X64", "ARM", "ARM64"}
    assert all(v.triple for v in DEVICE_KINDS.values() if v.backend == "llvm")


@pytest.mark.parametrize(
    "text, reason",
    [("HEXAGON:0", "'HEXAGON' in 'HEXAGON:0' is not supported by dagc"),
     ("TPU:1", "is not supported"), ("CV22:0", "is not supported"),
     ("ARA1:0", "is not supported"), ("MYRIAD:0", "is not supported"),
     ("CUDA:0", "'CUDA' in 'CUDA:0' is unknown"),
     ("X64:-1", "malformed device"), ("X64:0:1", "malformed device"), ("", "malformed")],
)
def test_parse_device_errors_list_supported_kinds(text, reason):
    with pytest.raises(DeviceError, match=reason) as info:
        parse_device(text)
    assert str(info.value).endswith(f"supported kinds: {SUPPORTED}")


# ----------------------------------------------------------------------------
# A small model with every kind of crossing
# ----------------------------------------------------------------------------


class Mlp(nn.Module):
    """fc1 -> (gelu, neg) -> add -> add -> fc2, with fc1's output read three times."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(8, 8)
        self.fc2 = nn.Linear(8, 4)

    def forward(self, x):
        h = self.fc1(x)
        a = torch.nn.functional.gelu(h)
        s = -h
        return self.fc2(a + h + s)


@pytest.fixture(scope="module")
def mlp():
    torch.manual_seed(0)
    model = Mlp().eval()
    x = torch.randn(2, 8)
    return dagc.import_torch(model, (x,)), model, x


def _names(m, cls):
    return [op.label for op in m.forward.walk() if isinstance(op, cls)]


def _subgraphs(m):
    return [op for op in m.forward.body.block.ops if isinstance(op, device.SubgraphOp)]


def _gelu_name(m):
    return next(op.label for op in m.forward.walk() if isinstance(op, dag.GeluOp))


@pytest.mark.parametrize("merge", [True, False])
def test_mlp_partition_matches_unpartitioned(mlp, merge):
    m, model, x = mlp
    alloc = {"fc1": "X64:0", _gelu_name(m): "NVIDIA:0", "fc2": "AMDGPU:0"}
    part, report = partition(m, alloc, merge=merge)
    assert not any(isinstance(op, device.SubgraphOp) for op in m.walk())
    with torch.no_grad():
        expected = dagc.to_torch(m)(x)
        got = dagc.to_torch(part)(x)
    torch.testing.assert_close(got, expected, rtol=0, atol=0)
    torch.testing.assert_close(got, model(x), rtol=1e-5, atol=1e-5)
    devices = [s.target.data for s in _subgraphs(part)]
    assert devices == ["X64:0", "NVIDIA:0", "X64:0", "AMDGPU:0"]
    # merge puts the negation (X64, reads only fc1) into the first X64 subgraph
    neg = _names(m, dag.NegOp)[0]
    assert (neg in report.subgraphs[0].ops) == merge
    assert (neg in report.subgraphs[2].ops) != merge
    # every transfer joins two different devices and is counted in bytes
    transfers = [op for op in part.walk() if isinstance(op, device.TransferOp)]
    assert len(transfers) == len(report.transfers) == 3
    assert report.bytes_moved == sum(t.nbytes for t in transfers) == 3 * 2 * 8 * 4
    # each subgraph holds its own copy of the constants it reads
    for sg in _subgraphs(part):
        for op in sg.walk():
            for v in op.operands:
                assert sg.is_ancestor(v.owner) if isinstance(v.owner, dag.ConstantOp) else True


def test_partition_roundtrips_through_text(mlp):
    m, _, x = mlp
    part, _ = partition(m, {"fc1": "ARM:0", "fc2": "MALI:0"}, default="X86:0")
    again = dagc.parse(part.to_text())
    assert again.to_text() == part.to_text()
    with torch.no_grad():
        torch.testing.assert_close(dagc.to_torch(again)(x), dagc.to_torch(m)(x),
                                   rtol=0, atol=0)


class Tied(nn.Module):
    """One linear layer applied twice: both calls read the same weights."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(6, 6)

    def forward(self, x):
        return self.fc(torch.relu(self.fc(x)))


def test_weight_copies_share_one_parameter():
    torch.manual_seed(0)
    model, x = Tied().eval(), torch.randn(3, 6)
    m = dagc.import_torch(model, (x,))
    linears = _names(m, dag.LinearOp)
    part, _ = partition(m, {linears[1]: "NVIDIA:0"})
    copies = [op for op in part.walk() if isinstance(op, dag.ConstantOp)]
    assert len({op.handle for op in copies}) < len(copies)  # a weight in two subgraphs
    net, ref = dagc.to_torch(part), dagc.to_torch(m)
    assert len(list(net.parameters())) == len(list(ref.parameters())) == 2
    # training sees one weight: gradients add up over both uses, as in torch
    net(x).sum().backward()
    model(x).sum().backward()
    grads = sorted((p.grad for p in net.parameters()), key=lambda g: g.dim())
    torch.testing.assert_close(grads[1], model.fc.weight.grad, rtol=1e-5, atol=1e-5)


def test_alloc_template(mlp):
    m, _, _ = mlp
    template = alloc_template(m, default="nvidia:2")
    ops = [op.label for op in m.forward.body.block.ops
           if isinstance(op, dag.DagOp) and not isinstance(op, dag.ConstantOp)]
    assert list(template) == ops
    assert set(template.values()) == {"NVIDIA:2"}
    _, report = partition(m, template)
    assert [s.device for s in report.subgraphs] == ["NVIDIA:2"]
    assert report.transfers == []
    with pytest.raises(DeviceError, match="HEXAGON"):
        alloc_template(m, default="HEXAGON:0")


def test_allocation_from_json_file(mlp, tmp_path):
    m, _, x = mlp
    path = tmp_path / "alloc.json"
    path.write_text(json.dumps({"fc2": "INTELGPU:0"}))
    part, report = partition(m, path)
    assert [s.device for s in report.subgraphs] == ["X64:0", "INTELGPU:0"]
    with torch.no_grad():
        torch.testing.assert_close(dagc.to_torch(part)(x), dagc.to_torch(m)(x),
                                   rtol=0, atol=0)


@pytest.mark.parametrize(
    "alloc, message",
    [({"fc3": "X64:0"}, r"do not exist in @forward: 'fc3' \(did you mean 'fc2'\?\)"),
     ({"zzz": "X64:0", "fc1": "X64:0"}, r"1 op\(s\) that do not exist in @forward: 'zzz'$"),
     ({"fc1": "HEXAGON:0"}, (r"'fc1': device kind 'HEXAGON' in 'HEXAGON:0' is not supported"
                             rf" by dagc \(supported kinds: {SUPPORTED}\)")),
     ({"fc1": "GPU"}, r"'fc1': device kind 'GPU' in 'GPU' is unknown"),
     ({"fc1.weight": "X64:0"}, "constants, which follow their consumers: 'fc1.weight'"),
     ({"fc1": 3}, "must be a JSON object of op name"),
     ],
)
def test_bad_allocations(mlp, alloc, message):
    m, _, _ = mlp
    with pytest.raises(AllocationError, match=message):
        partition(m, alloc)


def test_bad_default_and_files(mlp, tmp_path):
    m, _, _ = mlp
    with pytest.raises(AllocationError, match="default device: device kind 'TPU'"):
        partition(m, {}, default="TPU:0")
    with pytest.raises(AllocationError, match="cannot read allocation"):
        partition(m, tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(AllocationError, match="is not valid JSON"):
        partition(m, bad)
    part, _ = partition(m, {})
    with pytest.raises(AllocationError, match="already partitioned"):
        partition(part, {})


# ----------------------------------------------------------------------------
# ResNet-18 over three devices
# ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def resnet():
    model, inputs = get_model("resnet18_small")
    m = dagc.import_torch(model, inputs, leaf_modules=(nn.AdaptiveAvgPool2d,))
    return m, model, inputs


def test_resnet18_three_devices(resnet):
    m, model, inputs = resnet
    template = alloc_template(m)
    names = list(template)
    assert template["avgpool"] == "HOST:0"  # the leafed module runs on HOST
    stem = names[: names.index("maxpool") + 1]
    stages = names[len(stem): names.index("avgpool")]
    assert stem == ["conv1", "bn1", "relu", "maxpool"]
    assert stages[0].startswith("layer1.") and len(stages) > 40
    alloc = {**{n: "X64:0" for n in stem}, **{n: "NVIDIA:0" for n in stages}}
    part, report = partition(m, alloc)

    assert [(s.device, s.ops[0], s.ops[-1]) for s in report.subgraphs] == [
        ("X64:0", "conv1", "maxpool"),
        ("NVIDIA:0", stages[0], stages[-1]),
        ("HOST:0", "avgpool", "avgpool"),
        ("X64:0", "flatten", "fc"),
    ]
    assert [(t.src, t.dst, t.nbytes) for t in report.transfers] == [
        ("X64:0", "NVIDIA:0", 64 * 16 * 16 * 4),
        ("NVIDIA:0", "HOST:0", 512 * 2 * 2 * 4),
        ("HOST:0", "X64:0", 512 * 4),
    ]
    assert report.bytes_moved == (64 * 16 * 16 + 512 * 2 * 2 + 512) * 4
    text = str(report)
    assert "NVIDIA:0" in text and f"{report.bytes_moved} bytes moved" in text

    opaque = {"torch.nn.modules.pooling.AdaptiveAvgPool2d": model.avgpool}
    with torch.no_grad():
        expected = dagc.to_torch(m, opaque)(*inputs)
        got = dagc.to_torch(part, opaque)(*inputs)
        eager = model(*inputs)
    assert torch.equal(got, expected)
    torch.testing.assert_close(got, eager, rtol=1e-4, atol=1e-4)


def test_resnet18_unknown_names_suggest(resnet):
    m, _, _ = resnet
    with pytest.raises(AllocationError, match=r"'layer1.0.conv3' \(did you mean "
                                              r"'layer1.0.conv\d'\?\)"):
        partition(m, {"layer1.0.conv3": "NVIDIA:0"})
