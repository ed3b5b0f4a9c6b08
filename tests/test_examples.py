"""Tests for the model zoo (dagc.examples.models) and the untraceable models."""

import pytest
import torch
import torch.fx as fx
import torch.nn.functional as F
from torch import nn

from dagc.examples import models
from dagc.examples.models import MODELS, get_model
from dagc.examples.untraceable import UNTRACEABLE, UNTRACEABLE_LEAVES

EXPECTED_OUTPUT_SHAPES = {
    "resnet18": (1, 1000),
    "resnet50": (1, 1000),
    "mobilenet_v2": (1, 1000),
    "vit_small": (1, 1000),
    "efficientnet_b0": (1, 1000),
    "mobilenet_v3_small_like": (1, 1000),
    "unet_small": (1, 2, 64, 64),
    "strange_activation": (1, 1),
    "resnet18_small": (1, 1000),
    "mobilenet_v2_small": (1, 10),
    "vit_tiny": (1, 10),
    "efficientnet_small": (1, 10),
}

# Parameter counts published for torchvision's implementations (torchvision.models
# documentation), which the architectures here reproduce layer for layer.
TORCHVISION_PARAMS = {
    "resnet18": 11_689_512,
    "resnet50": 25_557_032,
    "mobilenet_v2": 3_504_872,
    "efficientnet_b0": 5_288_548,
    "mobilenet_v3_small_like": 2_542_856,
}

# How symbolic tracing fails on each untraceable model (torch 2.13).
TRACE_ERRORS = {
    "shape_branch": fx.proxy.TraceError,
    "zeros_from_shape": TypeError,
    "loop_over_size": TypeError,
    "loop_over_tensor": fx.proxy.TraceError,
    "data_branch": fx.proxy.TraceError,
    "numpy_call": ValueError,
    "len_call": RuntimeError,
    "item_data_dependent": TypeError,
    "unbind_comprehension": fx.proxy.TraceError,
    "tolist": fx.proxy.TraceError,
    "shape_assert": fx.proxy.TraceError,
    "shape_keyed_moduledict": KeyError,
    "while_on_shape": fx.proxy.TraceError,
}

SMALL = [
    "resnet18_small",
    "mobilenet_v2_small",
    "vit_tiny",
    "efficientnet_small",
    "unet_small",
]


class LeafTracer(fx.Tracer):
    """A tracer that keeps instances of ``leaf_classes`` as single call_module nodes."""

    def __init__(self, leaf_classes: tuple[type[nn.Module], ...]):
        super().__init__()
        self.leaf_classes = leaf_classes

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return isinstance(m, self.leaf_classes) or super().is_leaf_module(
            m, module_qualified_name
        )


def trace_with_leaves(
    model: nn.Module, *leaf_classes: type[nn.Module]
) -> fx.GraphModule:
    tracer = LeafTracer(leaf_classes)
    graph = tracer.trace(model)
    return fx.GraphModule(tracer.root, graph)


def test_registry_covers_the_expected_models():
    assert set(MODELS) == set(EXPECTED_OUTPUT_SHAPES)


@pytest.mark.parametrize("name", sorted(set(MODELS) - {"strange_activation"}))
def test_model_runs_and_traces(name):
    model, inputs = get_model(name)
    assert not model.training
    with torch.no_grad():
        out = model(*inputs)
    assert out.shape == EXPECTED_OUTPUT_SHAPES[name]
    assert out.dtype == torch.float32
    assert torch.isfinite(out).all()
    # Well-scaled and input-dependent: neither blown up nor collapsed.
    assert 1e-3 < out.std().item() < 1e2
    if name in TORCHVISION_PARAMS:
        assert sum(p.numel() for p in model.parameters()) == TORCHVISION_PARAMS[name]

    gm = fx.symbolic_trace(model)
    with torch.no_grad():
        traced = gm(*inputs)
    torch.testing.assert_close(traced, out, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", SMALL)
def test_factories_are_deterministic_and_leave_global_rng_alone(name):
    state = torch.get_rng_state()
    model_a, inputs_a = MODELS[name]()
    assert torch.equal(torch.get_rng_state(), state)
    model_b, inputs_b = MODELS[name]()
    for a, b in zip(inputs_a, inputs_b, strict=True):
        assert torch.equal(a, b)
    sd_a, sd_b = model_a.state_dict(), model_b.state_dict()
    assert sd_a.keys() == sd_b.keys()
    for key in sd_a:
        assert torch.equal(sd_a[key], sd_b[key]), key


@pytest.mark.parametrize(
    "name", ["resnet18_small", "mobilenet_v2_small", "efficientnet_small", "unet_small"]
)
def test_batchnorm_parameters_are_nontrivial(name):
    model, _ = MODELS[name]()
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert bns
    for bn in bns:
        assert bn.running_mean.abs().min() > 0
        assert (bn.running_var - 1).abs().max() > 0.05
        assert (bn.weight - 1).abs().max() > 0.05
        assert bn.bias.abs().max() > 0.01
        assert (bn.running_var > 0).all()


def test_perturb_running_stats_preserves_the_function():
    torch.manual_seed(0)
    model = models.efficientnet_small()
    x = torch.randn(2, 3, 32, 32)
    models.calibrate_batchnorm(model, (x,))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        expected = model(x)
    models.perturb_running_stats(model, torch.Generator().manual_seed(3))
    with torch.no_grad():
        actual = model(x)
    torch.testing.assert_close(actual, expected, rtol=1e-4, atol=1e-5)
    changed = [
        k
        for k, v in model.state_dict().items()
        if k.endswith("running_mean") and not torch.equal(v, before[k])
    ]
    assert len(changed) == sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())


def test_calibrated_batchnorm_normalises_the_calibration_batch():
    torch.manual_seed(0)
    bn = nn.BatchNorm2d(4)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), bn)
    x = 3.0 + 2.0 * torch.randn(8, 3, 10, 10)
    models.calibrate_batchnorm(model, (x,))
    assert not model.training
    with torch.no_grad():
        y = model(x)
    torch.testing.assert_close(y.mean(dim=(0, 2, 3)), torch.zeros(4), atol=1e-5, rtol=0)
    torch.testing.assert_close(y.var(dim=(0, 2, 3)), torch.ones(4), atol=1e-2, rtol=0)


def test_get_model_unknown_name_lists_known_names():
    with pytest.raises(KeyError) as info:
        get_model("resnet19")
    message = str(info.value)
    assert "resnet19" in message
    for name in MODELS:
        assert name in message


def test_torchvision_attribute_names():
    resnet = models.resnet18()
    names = dict(resnet.named_modules())
    for name in [
        "conv1",
        "bn1",
        "maxpool",
        "layer1.0.conv1",
        "layer2.0.downsample.0",
        "layer2.0.downsample.1",
        "layer4.1.bn2",
        "avgpool",
        "fc",
    ]:
        assert name in names, name
    assert resnet.layer1[0].downsample is None
    mobilenet = dict(models.mobilenet_v2(width_mult=0.5).named_modules())
    assert isinstance(mobilenet["features.2.conv.1.0"], nn.Conv2d)
    assert mobilenet["features.2.conv.1.0"].groups > 1  # depthwise
    assert isinstance(mobilenet["features.2.conv.1.2"], nn.ReLU6)
    assert isinstance(mobilenet["classifier.0"], nn.Dropout)
    assert isinstance(mobilenet["classifier.1"], nn.Linear)


def test_resnet50_downsample_and_strides():
    model = models.resnet50()
    assert model.layer2[0].conv2.stride == (2, 2)
    assert model.layer2[0].conv1.stride == (1, 1)
    assert [len(getattr(model, f"layer{i}")) for i in range(1, 5)] == [3, 4, 6, 3]


def test_efficientnet_b0_stage_config():
    model = models.efficientnet_b0()
    stages = list(model.features)[1:-1]
    assert [len(s) for s in stages] == [1, 2, 2, 3, 3, 4, 1]
    kernels = [s[0].block[-3][0].kernel_size[0] for s in stages]
    assert kernels == [3, 3, 5, 3, 5, 5, 3]
    assert sum(isinstance(m, models.SqueezeExcitation) for m in model.modules()) == 16


def test_vit_has_explicit_and_sdpa_attention_that_agree():
    model, (x,) = MODELS["vit_tiny"]()
    kinds = [type(block.attn) for block in model.blocks]
    assert kinds == [models.Attention, models.SDPAttention]
    gm = fx.symbolic_trace(model)
    targets = {
        n.target for n in gm.graph.nodes if n.op in ("call_function", "call_method")
    }
    assert F.scaled_dot_product_attention in targets
    assert "softmax" in targets
    assert torch.cat in targets
    tokens = torch.randn(2, 17, 64)
    explicit = models.Attention(64, 2)
    fused = models.SDPAttention(64, 2)
    fused.load_state_dict(explicit.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(
            fused(tokens), explicit(tokens), rtol=1e-5, atol=1e-5
        )


def test_vit_small_token_count():
    model = models.vit_small()
    assert model.pos_embedding.shape == (1, 197, 192)
    assert models.vit_small(patch_size=32).pos_embedding.shape == (1, 50, 192)


def test_unet_contains_both_upsamplings_and_norms():
    model, _ = MODELS["unet_small"]()
    gm = fx.symbolic_trace(model)
    functions = {n.target for n in gm.graph.nodes if n.op == "call_function"}
    assert F.interpolate in functions
    assert torch.cat in functions
    module_types = {type(m) for m in model.modules()}
    assert {
        nn.ConvTranspose2d,
        nn.GroupNorm,
        nn.LeakyReLU,
        nn.BatchNorm2d,
    } <= module_types


def test_strange_activation_model_matches_torch_dag_example():
    from dagc.examples.models import MyStrangeActivation

    model, (x,) = get_model("strange_activation")
    with torch.no_grad():
        out = model(x)
    assert out.shape == (1, 1) and torch.isfinite(out).all()
    with pytest.raises(fx.proxy.TraceError):
        fx.symbolic_trace(model)
    gm = trace_with_leaves(model, MyStrangeActivation)
    leaf_calls = [
        n.target
        for n in gm.graph.nodes
        if n.op == "call_module"
        and isinstance(gm.get_submodule(n.target), MyStrangeActivation)
    ]
    assert leaf_calls == ["strange_act"]
    with torch.no_grad():
        torch.testing.assert_close(gm(x), out)

    act = MyStrangeActivation()
    square, wide = 4 * torch.randn(1, 2, 3, 3), 4 * torch.randn(1, 2, 3, 5)
    torch.testing.assert_close(act(square), F.gelu(square))
    torch.testing.assert_close(act(wide), F.relu6(wide))


def test_untraceable_registry():
    assert len(UNTRACEABLE) >= 10
    assert UNTRACEABLE.keys() == UNTRACEABLE_LEAVES.keys() == TRACE_ERRORS.keys()
    assert len(set(UNTRACEABLE_LEAVES.values())) == len(UNTRACEABLE_LEAVES)


@pytest.mark.parametrize("name", sorted(UNTRACEABLE))
def test_untraceable_fails_and_traces_with_leaf(name):
    model, inputs = UNTRACEABLE[name]()
    leaf = UNTRACEABLE_LEAVES[name]
    with torch.no_grad():
        out = model(*inputs)
    assert torch.isfinite(out).all()
    with pytest.raises(TRACE_ERRORS[name]):
        fx.symbolic_trace(model)

    gm = trace_with_leaves(model, leaf)
    calls = [n for n in gm.graph.nodes if n.op == "call_module"]
    leaf_calls = [n for n in calls if isinstance(gm.get_submodule(n.target), leaf)]
    assert len(leaf_calls) == 1
    # The rest of the model is ordinary traced layers.
    assert any(
        isinstance(gm.get_submodule(n.target), (nn.Conv2d, nn.Linear)) for n in calls
    )
    with torch.no_grad():
        torch.testing.assert_close(gm(*inputs), out)
