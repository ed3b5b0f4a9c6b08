"""torch.compile(model, backend="dagc"): dynamo graphs compiled for the CPU by dagc."""

from __future__ import annotations

import logging

import pytest
import torch
import torch.fx
from torch import nn

from dagc.compiler.torch_backend import dagc_backend, import_graph_module, register
from dagc.examples.models import get_model
from dagc.runtime.reference import to_torch

SMALL = ["resnet18_small", "mobilenet_v2_small", "efficientnet_small", "vit_tiny",
         "unet_small", "strange_activation"]


@pytest.fixture(autouse=True)
def _fresh_dynamo():
    register()
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


def assert_matches(got: torch.Tensor, want: torch.Tensor) -> None:
    """dagc's accuracy policy: max abs error <= 1e-4 * max(1, max |reference|)."""
    assert got.shape == want.shape and got.dtype == want.dtype
    scale = max(1.0, float(want.abs().max()))
    err = float((got - want).abs().max())
    assert err <= 1e-4 * scale, f"max abs error {err:.3g} at output scale {scale:.3g}"


def _eagerly_run(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "dagc" and "runs eagerly" in r.getMessage()]


def _compiled_graphs(caplog) -> int:
    return sum(1 for r in caplog.records
               if r.name == "dagc" and "backend 'dagc': compiled" in r.getMessage())


@pytest.mark.parametrize("name", [*SMALL, "resnet18"])
def test_example_models_match_eager(name, caplog):
    model, inputs = get_model(name)
    caplog.set_level(logging.INFO, logger="dagc")
    compiled = torch.compile(model, backend="dagc")
    with torch.no_grad():
        assert_matches(compiled(*inputs), model(*inputs))
        # Other values, same shapes: the dagc code runs again, not the example.
        other = tuple(torch.randn_like(x) for x in inputs)
        assert_matches(compiled(*other), model(*other))
    assert _eagerly_run(caplog) == []
    assert _compiled_graphs(caplog) == 1


def test_unsupported_op_falls_back_with_one_log_line(caplog):
    class Cumsum(nn.Module):
        def forward(self, x):
            return torch.cumsum(x.relu(), 1) * 2

    model, x = Cumsum(), torch.randn(2, 5)
    caplog.set_level(logging.INFO, logger="dagc")
    with torch.no_grad():
        got = torch.compile(model, backend="dagc")(x)
    assert torch.equal(got, model(x))
    lines = _eagerly_run(caplog)
    assert len(lines) == 1 and "cumsum" in lines[0] and "no dag op" in lines[0]
    assert _compiled_graphs(caplog) == 0


def test_grad_mode_with_trainable_inputs_falls_back(caplog):
    model, x = nn.Linear(4, 3), torch.randn(2, 4)
    caplog.set_level(logging.INFO, logger="dagc")
    got = torch.compile(model, backend="dagc")(x)
    got.sum().backward()  # eager: autograd still works
    assert model.weight.grad is not None
    lines = _eagerly_run(caplog)
    assert len(lines) == 1 and "require grad" in lines[0]


def test_graph_mutating_its_input_falls_back(caplog):
    class AddInPlace(nn.Module):
        def forward(self, x):
            x.add_(1.0)
            return x * 2

    x = torch.zeros(2, 3)
    caplog.set_level(logging.INFO, logger="dagc")
    with torch.no_grad():
        got = torch.compile(AddInPlace(), backend="dagc")(x)
    assert torch.equal(x, torch.ones(2, 3)) and torch.equal(got, torch.full((2, 3), 2.0))
    lines = _eagerly_run(caplog)
    assert len(lines) == 1 and "mutates its inputs" in lines[0]


def test_graph_breaks_compile_each_graph(caplog):
    class Branch(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(6, 6), nn.Linear(6, 3)

        def forward(self, x):
            y = torch.tanh(self.a(x))
            if y.sum().item() > 0:  # data-dependent: dynamo breaks the graph here
                y = y * 2
            return self.b(y)

    model = Branch().eval()
    caplog.set_level(logging.INFO, logger="dagc")
    compiled = torch.compile(model, backend="dagc")
    with torch.no_grad():
        for seed in range(3):
            x = torch.randn(2, 6, generator=torch.Generator().manual_seed(seed))
            assert_matches(compiled(x), model(x))
    assert _compiled_graphs(caplog) >= 2 and _eagerly_run(caplog) == []


def test_output_structure_and_weight_updates_are_kept():
    class Two(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x):
            y = self.fc(x)
            return {"y": y, "pair": (y.relu(), x - 1)}

    model, x = Two().eval(), torch.randn(3, 4)
    compiled = torch.compile(model, backend="dagc")
    with torch.no_grad():
        got, want = compiled(x), model(x)
        assert set(got) == {"y", "pair"} and len(got["pair"]) == 2
        assert_matches(got["y"], want["y"])
        assert_matches(got["pair"][0], want["pair"][0])
        assert_matches(got["pair"][1], want["pair"][1])
        # Parameters are graph inputs, not baked-in constants.
        model.fc.weight.mul_(-3.0)
        assert_matches(compiled(x)["y"], model(x)["y"])


def test_backend_called_directly_with_fake_inputs():
    from torch._subclasses.fake_tensor import FakeTensorMode

    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 4 * 4, 2))
    gm = torch.fx.symbolic_trace(model.eval())
    x = torch.randn(1, 3, 6, 6)
    with FakeTensorMode() as mode:
        fake = mode.from_tensor(x)
    run = dagc_backend(gm, [fake])
    assert hasattr(run, "compiled")
    with torch.no_grad():
        assert_matches(run(x), model(x))


def test_import_graph_module_converts_without_retracing():
    model = nn.Sequential(nn.Linear(5, 8), nn.GELU(), nn.Linear(8, 2)).eval()
    gm = torch.fx.symbolic_trace(model)
    x = torch.randn(3, 5)
    m = import_graph_module(gm, [x])
    names = [op.name for op in m.forward.body.block.ops]
    assert names.count("dag.linear") == 2 and "dag.gelu" in names
    with torch.no_grad():
        assert_matches(to_torch(m)(x), model(x))
