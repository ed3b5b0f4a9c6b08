"""The torch.fx frontend, the reference executor, and save/load (issue: foundation)."""

from __future__ import annotations

import operator
import re

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import dagc
from dagc.dialects import dag
from dagc.examples.models import MODELS, MyStrangeActivation, get_model
from dagc.runtime.reference import MissingOpaqueClass


def _check(model: nn.Module, *inputs: torch.Tensor, atol=1e-5, **kw) -> dagc.Module:
    """Import, run with the reference executor, compare with eager, round-trip text."""
    model.eval()
    m = dagc.import_torch(model, inputs, **kw)
    net = dagc.to_torch(m, opaque=kw.get("leaf_modules", ()))
    with torch.no_grad():
        want, got = model(*inputs), net(*inputs)
    want = want if isinstance(want, tuple) else (want,)
    got = got if isinstance(got, tuple) else (got,)
    assert len(want) == len(got)
    for w, g in zip(want, got):
        assert w.shape == g.shape
        torch.testing.assert_close(g, w, atol=atol, rtol=1e-5)
    text = str(m)
    assert str(dagc.parse(text)) == text
    return m


def _ops(m: dagc.Module) -> list[str]:
    return [op.name for op in m.walk() if isinstance(op, dag.DagOp)]


class Fn1(nn.Module):
    """Wraps a function of one tensor as a module (fx cannot trace ``*args``)."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


class Fn2(Fn1):
    def forward(self, x, y):
        return self.fn(x, y)


class Fn3(Fn1):
    def forward(self, x, y, z):
        return self.fn(x, y, z)


FN_BY_ARITY = {1: Fn1, 2: Fn2, 3: Fn3}


X4 = (2, 4, 7, 9)  # odd spatial sizes on purpose

FUNCTIONS = {
    "add_scalar_left": (lambda x: 2.0 + x, [X4], "dag.add"),
    "rsub": (lambda x: 1.0 - x, [X4], "dag.sub"),
    "rdiv": (lambda x: 1.0 / (x.abs() + 1), [X4], "dag.div"),
    "broadcast_mul": (lambda x, y: x * y, [X4, (4, 1, 1)], "dag.mul"),
    "div": (lambda x, y: torch.div(x, y), [X4, (9,)], "dag.div"),
    "pow": (lambda x: x.abs() ** 1.5, [X4], "dag.pow"),
    "max_min": (lambda x, y: torch.maximum(x, y) - torch.minimum(x, y), [X4, X4], "dag.maximum"),
    "neg": (lambda x: -x, [X4], "dag.neg"),
    "sqrt_rsqrt": (lambda x: torch.sqrt(x.abs()) + torch.rsqrt(x.abs() + 1), [X4], "dag.rsqrt"),
    "exp_log": (lambda x: torch.exp(x) + torch.log(x.abs() + 1), [X4], "dag.log"),
    "erf": (lambda x: torch.erf(x), [X4], "dag.erf"),
    "gelu_erf": (lambda x: F.gelu(x), [X4], "dag.gelu"),
    "gelu_tanh": (lambda x: F.gelu(x, approximate="tanh"), [X4], "dag.gelu"),
    "leaky_relu": (lambda x: F.leaky_relu(x, 0.3), [X4], "dag.leaky_relu"),
    "relu6_hardtanh": (lambda x: F.hardtanh(x, 0.0, 6.0), [X4], "dag.relu6"),
    "hardtanh": (lambda x: F.hardtanh(x), [X4], "dag.clamp"),
    "clamp_min": (lambda x: x.clamp(min=0.1), [X4], "dag.clamp"),
    "hard_acts": (lambda x: F.hardswish(x) + F.hardsigmoid(x) + F.silu(x), [X4], "dag.hardswish"),
    "softmax_neg_dim": (lambda x: F.softmax(x, dim=-1), [X4], "dag.softmax"),
    "log_softmax": (lambda x: x.log_softmax(1), [X4], "dag.log_softmax"),
    "mean_keepdim": (lambda x: x.mean((-1, -2), keepdim=True), [X4], "dag.mean"),
    "sum_all": (lambda x: x.sum(), [X4], "dag.sum"),
    "matmul_broadcast": (lambda a, b: a @ b, [(2, 3, 5, 4), (4, 6)], "dag.matmul"),
    "bmm": (lambda a, b: torch.bmm(a, b), [(3, 5, 4), (3, 4, 2)], "dag.matmul"),
    "view_permute": (lambda x: x.view(2, 4, -1).permute(2, 0, 1), [X4], "dag.permute"),
    "transpose_neg": (lambda x: x.transpose(-1, -2).contiguous(), [X4], "dag.permute"),
    "squeeze_unsqueeze": (lambda x: x[:, :1].squeeze(1).unsqueeze(-1), [X4], "dag.reshape"),
    "expand": (lambda x: x[:, :, :1].expand(-1, -1, 5, -1), [X4], "dag.expand"),
    "cat_neg_dim": (lambda x, y: torch.cat([x, y, x], dim=-1), [X4, (2, 4, 7, 2)], "dag.concat"),
    "stack": (lambda x, y: torch.stack([x, y], 1), [X4, X4], "dag.concat"),
    "split": (lambda x: torch.split(x, [1, 3], 1)[1] * 2, [X4], "dag.slice"),
    "chunk": (lambda x: x.chunk(3, dim=-1)[0] * x.chunk(3, dim=-1)[2], [X4], "dag.slice"),
    "unbind": (lambda x: x.unbind(1)[2], [X4], "dag.select"),
    "index": (lambda x: x[:, 1, ..., 2:7:2], [X4], "dag.select"),
    "index_none": (lambda x: x[None, :, 0], [X4], "dag.reshape"),
    "narrow": (lambda x: x.narrow(2, 1, 3), [X4], "dag.slice"),
    "pad_constant": (lambda x: F.pad(x, (1, 2, 3, 0), value=0.5), [X4], "dag.pad"),
    "pad_reflect": (lambda x: F.pad(x, (2, 1, 1, 2), mode="reflect"), [X4], "dag.pad"),
    "pad_replicate": (lambda x: F.pad(x, (1, 1, 2, 0), mode="replicate"), [X4], "dag.pad"),
    "interp_nearest": (lambda x: F.interpolate(x, scale_factor=2), [X4], "dag.interpolate"),
    "interp_size": (lambda x: F.interpolate(x, size=(5, 13)), [X4], "dag.interpolate"),
    "interp_bilinear": (lambda x: F.interpolate(x, scale_factor=2, mode="bilinear"), [X4], "dag.interpolate"),
    "interp_align": (lambda x: F.interpolate(x, size=(3, 4), mode="bilinear", align_corners=True), [X4], "dag.interpolate"),
    "max_pool_ceil": (lambda x: F.max_pool2d(x, 3, 2, 1, ceil_mode=True), [X4], "dag.max_pool2d"),
    "max_pool_dil": (lambda x: F.max_pool2d(x, 2, 1, 0, dilation=2), [X4], "dag.max_pool2d"),
    "avg_pool_nopad": (lambda x: F.avg_pool2d(x, 3, 2, 1, count_include_pad=False), [X4], "dag.avg_pool2d"),
    "avg_pool_ceil": (lambda x: F.avg_pool2d(x, 2, ceil_mode=True), [X4], "dag.avg_pool2d"),
    "adaptive_pool": (lambda x: F.adaptive_avg_pool2d(x, (3, 2)), [X4], "dag.adaptive_avg_pool2d"),
    "sdpa": (lambda q, k, v: F.scaled_dot_product_attention(q, k, v), [(2, 3, 5, 8), (2, 3, 6, 8), (2, 3, 6, 4)], "dag.scaled_dot_product_attention"),
    "sdpa_causal": (lambda q: F.scaled_dot_product_attention(q, q, q, is_causal=True, scale=0.3), [(1, 2, 5, 4)], "dag.scaled_dot_product_attention"),
    "shape_arith": (lambda x: x.reshape(x.shape[0], x.size(1) * x.shape[2], -1), [X4], "dag.reshape"),
    "zeros_from_shape": (lambda x: x + torch.ones(x.shape[-1]), [X4], "dag.constant"),
    "iadd": (lambda x, y: operator.iadd(x.clone(), y), [X4, X4], "dag.add"),
    "inplace_method": (lambda x: (x.clone().mul_(2).relu_()), [X4], "dag.relu"),
}


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_function_spellings(name):
    fn, shapes, expect_op = FUNCTIONS[name]
    g = torch.Generator().manual_seed(0)
    inputs = [torch.randn(s, generator=g) for s in shapes]
    m = _check(FN_BY_ARITY[len(inputs)](fn), *inputs)
    assert expect_op in _ops(m)


MODULES = {
    "conv_groups_dil": (nn.Conv2d(4, 6, 3, stride=2, padding=2, dilation=2, groups=2), X4),
    "conv_nobias_same": (nn.Conv2d(4, 4, 3, padding="same", bias=False), X4),
    "conv_depthwise": (nn.Conv2d(4, 4, (3, 5), stride=(1, 2), padding=(1, 2), groups=4), X4),
    "conv_reflect": (nn.Conv2d(4, 3, 3, padding=1, padding_mode="reflect"), X4),
    "conv_transpose": (nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2), X4),
    "conv_transpose_dil": (nn.ConvTranspose2d(4, 2, 2, stride=2, dilation=2), X4),
    "linear_3d": (nn.Linear(9, 5), X4),
    "linear_nobias": (nn.Linear(9, 5, bias=False), (3, 9)),
    "batch_norm": (nn.BatchNorm2d(4), X4),
    "batch_norm1d": (nn.BatchNorm1d(9), (5, 9)),
    "layer_norm": (nn.LayerNorm([7, 9]), X4),
    "group_norm": (nn.GroupNorm(2, 4), X4),
    "seq_acts": (nn.Sequential(nn.ReLU6(), nn.Hardswish(), nn.SiLU(), nn.GELU("tanh"),
                               nn.LeakyReLU(0.1), nn.Sigmoid(), nn.Tanh(), nn.Hardsigmoid(),
                               nn.Dropout(0.5), nn.Identity(), nn.Softmax(1), nn.LogSoftmax(-1)), X4),
    "pools": (nn.Sequential(nn.MaxPool2d(2, ceil_mode=True), nn.AvgPool2d(2, 1, 1),
                            nn.AdaptiveAvgPool2d(1), nn.Flatten()), X4),
    "upsample": (nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"),
                               nn.UpsamplingBilinear2d(scale_factor=2)), X4),
}


@pytest.mark.parametrize("name", sorted(MODULES))
def test_module_spellings(name):
    torch.manual_seed(0)
    mod, shape = MODULES[name]
    for b in mod.modules():  # non-trivial running statistics
        if isinstance(b, nn.modules.batchnorm._BatchNorm):
            b.running_mean.uniform_(-1, 1)
            b.running_var.uniform_(0.5, 2)
    _check(mod, torch.randn(shape))


def test_module_called_twice_shares_weights():
    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x):
            return self.fc(self.fc(x))

    m = _check(Twice(), torch.randn(2, 4))
    consts = [op for op in m.walk() if isinstance(op, dag.ConstantOp)]
    assert len(consts) == 2  # weight and bias, used by both calls
    assert [op.label for op in m.walk() if isinstance(op, dag.LinearOp)] == ["fc", "fc_1"]


@pytest.mark.parametrize("name", [n for n in MODELS if n != "strange_activation"])
def test_example_models(name):
    model, inputs = get_model(name)
    m = _check(model, *inputs)
    # Names are the module paths users know.
    labels = {op.label for op in m.walk() if isinstance(op, dag.DagOp)}
    if name.startswith("resnet"):
        assert {"conv1", "layer1.0.conv1", "fc"} <= labels


def test_strange_activation_needs_leaf():
    model, inputs = get_model("strange_activation")
    with pytest.raises(dagc.ImportError_) as e:
        dagc.import_torch(model, inputs, fallback="none")
    assert [p.where for p in e.value.problems] == ["strange_act"]
    assert "MyStrangeActivation" in str(e.value) and "leaf_modules" in str(e.value)
    m = _check(model, *inputs, leaf_modules=(MyStrangeActivation,))
    assert "dag.opaque" in _ops(m)
    # torch-dag's spelling of the same option.
    m2 = dagc.import_torch(model, inputs,
                           custom_autowrap_torch_module_classes=(MyStrangeActivation,))
    assert str(m2) == str(m)


class _Branchy(nn.Module):
    def forward(self, x):
        return x.relu() if x.shape[-1] > 2 else x


class _Looper(nn.Module):
    def forward(self, x):
        for i in range(int(x.sum() > 0)):
            x = x + i
        return x


def test_every_untraceable_module_is_reported():
    class Two(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b, self.fc = _Branchy(), _Looper(), nn.Linear(3, 3)

        def forward(self, x):
            return self.b(self.fc(self.a(x)))

    with pytest.raises(dagc.ImportError_) as e:
        dagc.import_torch(Two(), (torch.randn(2, 3),), fallback="none")
    where = sorted(p.where for p in e.value.problems)
    assert where == ["a", "b"]
    # Each names the forward of its class: this file, at a line number.
    assert all(re.fullmatch(r".*test_frontend\.py:\d+", p.location) for p in e.value.problems)


def test_every_unsupported_op_is_reported():
    class Unsupported(nn.Module):
        def forward(self, x):
            y = torch.cumsum(x, 1)
            z = torch.flip(x, [0])
            return y + z + torch.sort(x).values

    with pytest.raises(dagc.ImportError_) as e:
        dagc.import_torch(Unsupported(), (torch.randn(2, 3),))
    text = str(e.value)
    for op in ("cumsum", "flip", "sort"):
        assert op in text
    assert "torch.fx.wrap" in text


def test_data_dependent_python_value_is_refused():
    class Item(nn.Module):
        def forward(self, x):
            return x * x.sum().item()

    with pytest.raises(dagc.ImportError_, match="data-dependent"):
        dagc.import_torch(Item(), (torch.randn(3),))


def test_concrete_args_specialise_control_flow():
    class Flag(nn.Module):
        def forward(self, x, double: bool):
            return x * 2 if double else x - 1

    x = torch.randn(3)
    m = dagc.import_torch(Flag(), (x,), concrete_args={"double": True})
    assert torch.allclose(dagc.to_torch(m)(x), x * 2)


def _my_sort(x):
    return torch.sort(x, dim=-1).values


torch.fx.wrap("_my_sort")


def test_fx_wrap_function_becomes_opaque():
    class UsesWrapped(nn.Module):
        def forward(self, x):
            return _my_sort(x) + 1

    x = torch.randn(2, 5)
    m = dagc.import_torch(UsesWrapped(), (x,))
    opaque = [op for op in m.walk() if isinstance(op, dag.OpaqueOp)]
    assert [o.cls_name.data for o in opaque] == [f"{__name__}._my_sort"]
    with pytest.raises(MissingOpaqueClass, match="_my_sort"):
        dagc.to_torch(m)
    net = dagc.to_torch(m, opaque={f"{__name__}._my_sort": _my_sort})
    assert torch.allclose(net(x), _my_sort(x) + 1)


def test_preserve_hierarchy_outlines_functions():
    model, inputs = get_model("resnet18_small")
    m = dagc.import_torch(model, inputs, preserve_hierarchy=["layer1.0", "layer2.0"])
    funcs = [f.sym_name.data for f in m.op.body.ops]
    assert funcs == ["fn_layer1_0", "fn_layer2_0", "forward"]
    calls = [op.callee.string_value() for op in m.forward.walk() if op.name == "func.call"]
    assert calls == ["fn_layer1_0", "fn_layer2_0"]
    torch.testing.assert_close(dagc.to_torch(m)(*inputs), model(*inputs), atol=1e-5, rtol=1e-5)
    assert str(dagc.parse(str(m))) == str(m)


def test_look_for_dagable_modules():
    model, inputs = get_model("strange_activation")
    ok, bad = dagc.look_for_dagable_modules(model, inputs)
    assert MyStrangeActivation in bad and nn.Conv2d in ok and nn.GELU in ok


def test_save_load_without_source_or_pickle(tmp_path):
    model, inputs = get_model("strange_activation")
    m = dagc.import_torch(model, inputs, leaf_modules=(MyStrangeActivation,))
    path = tmp_path / "model.mlir"
    m.save(path)
    text = path.read_text()
    assert "dialect_resources" in text and "pickle" not in text
    loaded = dagc.load(path)
    with pytest.raises(MissingOpaqueClass, match="MyStrangeActivation"):
        dagc.to_torch(loaded)
    net = dagc.to_torch(loaded, opaque=[MyStrangeActivation])
    torch.testing.assert_close(net(*inputs), model(*inputs))


def test_to_torch_trains():
    model, inputs = get_model("resnet18_small")
    net = dagc.to_torch(dagc.import_torch(model, inputs))
    opt = torch.optim.SGD(net.parameters(), lr=1e-2)
    target = torch.zeros(1, 1000)
    losses = []
    for _ in range(4):
        opt.zero_grad()
        loss = F.mse_loss(net(*inputs), target)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    # Every parameter of the model gets a gradient (running statistics do not).
    trained = sum(p.numel() for p in net.parameters() if p.grad is not None)
    assert trained == sum(p.numel() for p in model.parameters())


def test_elided_weights_are_reported_when_run():
    model, inputs = get_model("resnet18_small")
    text = dagc.import_torch(model, inputs).to_text(elide_larger_than=16)
    m = dagc.parse(text)  # parses: the IR is intact
    with pytest.raises(KeyError, match="has no data"):
        dagc.to_torch(m)


def test_elision_counts_elements_of_any_dtype():
    m = dagc.parse("""
    func.func @forward(%x: tensor<2xi64>) -> tensor<2xi64> {
      %a = dag.constant "a"() {value = dense_resource<a> : tensor<2xi64>} : () -> tensor<2xi64>
      %b = dag.constant "b"() {value = dense_resource<b> : tensor<3xi64>} : () -> tensor<3xi64>
      %y = dag.add "y"(%x, %a) : (tensor<2xi64>, tensor<2xi64>) -> tensor<2xi64>
      func.return %y : tensor<2xi64>
    }
    {-#
      dialect_resources: {
        builtin: {
          a: "0x0400000001000000000000000200000000000000",
          b: "0x04000000010000000000000002000000000000000300000000000000"
        }
      }
    #-}
    """)
    text = m.to_text(elide_larger_than=2)
    assert "a: \"0x04" in text and "b: \"0x04" not in text  # 2 elements kept, 3 dropped
    assert m.to_text().count(": \"0x04") == 2


def test_operator_without_handler_is_reported_not_opaque():
    class FloorDiv(nn.Module):
        def forward(self, x):
            return x // 2

    with pytest.raises(dagc.ImportError_, match="floordiv"):
        dagc.import_torch(FloorDiv(), (torch.randn(3),), fallback="none")
