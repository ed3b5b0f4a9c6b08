"""import_torch(fallback="auto"): TorchDynamo export, then automatic leafing; doctor."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import dagc
from dagc.compiler.fallback import diagnose, doctor, fallback_report, opaque_for
from dagc.dialects import dag
from dagc.examples.untraceable import UNTRACEABLE, UNTRACEABLE_LEAVES


def assert_matches(got: torch.Tensor, want: torch.Tensor) -> None:
    """dagc's accuracy policy: max abs error <= 1e-4 * max(1, max |reference|)."""
    assert got.shape == want.shape
    scale = max(1.0, float(want.abs().max()))
    err = float((got - want).abs().max())
    assert err <= 1e-4 * scale, f"max abs error {err:.3g} at output scale {scale:.3g}"


# Control flow on shapes is specialised by TorchDynamo (no opaque op left);
# control flow on data, numpy, and ops without dag handlers are leafed (torch 2.13).
DYNAMO = {"shape_branch", "zeros_from_shape", "loop_over_size", "len_call",
          "unbind_comprehension", "shape_assert", "shape_keyed_moduledict",
          "while_on_shape"}


def _opaque_ops(m) -> list[dag.OpaqueOp]:
    return [op for op in m.walk() if isinstance(op, dag.OpaqueOp)]


@pytest.mark.parametrize("name", sorted(UNTRACEABLE))
def test_untraceable_models_import_through_the_fallback_chain(name):
    model, inputs = UNTRACEABLE[name]()
    with pytest.raises(dagc.ImportError_, match="torch.fx cannot trace"):
        dagc.import_torch(model, inputs, fallback="none")
    m = dagc.import_torch(model, inputs, fallback="auto")
    report = fallback_report(m)
    assert report.attempts[0].startswith("torch.fx: cannot trace")
    net = dagc.to_torch(m, opaque=opaque_for(model, m))
    other = tuple(torch.randn_like(x) for x in inputs)
    with torch.no_grad():
        assert_matches(net(*inputs), model(*inputs))
        assert_matches(net(*other), model(*other))
    if name in DYNAMO:
        assert report.strategy == "dynamo" and not report.leafed and not _opaque_ops(m)
        # Module paths and state_dict names, as with torch.fx.
        labels = {op.label for op in m.walk() if isinstance(op, dag.DagOp)}
        assert {"stem", "stem.weight"} <= labels or {"fc1", "fc1.weight"} <= labels
    else:
        leaf = UNTRACEABLE_LEAVES[name]
        assert report.strategy == "fx+leafed"
        assert [x.cls for x in report.leafed] == [f"{leaf.__module__}.{leaf.__qualname__}"]
        assert "torch.fx cannot trace it" in report.leafed[0].reason
        path = report.leafed[0].path
        assert isinstance(model.get_submodule(path), leaf)
        assert [op.label for op in _opaque_ops(m)] == [path]
        assert len(report.attempts) == 2 and report.attempts[1].startswith("TorchDynamo export")
    # Compiled for the CPU: without opaque ops one X64 subgraph; with them the
    # leafed module runs in a HOST subgraph between two X64 ones.
    compiled = dagc.compile(m, opaque=opaque_for(model, m))
    devices = [sg.device for sg in compiled.program.subgraphs]
    assert devices == (["X64:0"] if name in DYNAMO else ["X64:0", "HOST:0", "X64:0"])
    with torch.no_grad():
        assert_matches(compiled(*other), model(*other))


def test_report_survives_printing_and_parsing():
    model, inputs = UNTRACEABLE["data_branch"]()
    m = dagc.import_torch(model, inputs, fallback="auto")
    text = m.to_text()
    assert "dagc.leafed" in text and "sign_flip" in text
    again = dagc.parse(text)
    assert fallback_report(again) == fallback_report(m)


class _Branchy(nn.Module):
    def forward(self, x):
        return x.relu() if x.shape[-1] > 2 else x


class _DataLoop(nn.Module):
    def forward(self, x):
        for i in range(int(x.sum() > 0)):
            x = x + i
        return x


class _Two(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b, self.fc = _Branchy(), _DataLoop(), nn.Linear(3, 3)
        self.c = _Branchy()

    def forward(self, x):
        return self.c(self.b(self.fc(self.a(x))))


def test_every_untraceable_class_is_leafed_and_user_leaves_are_kept():
    model, x = _Two().eval(), torch.randn(2, 3)
    m = dagc.import_torch(model, (x,), fallback="auto")
    report = fallback_report(m)
    assert report.strategy == "fx+leafed"
    assert sorted(l.path for l in report.leafed) == ["a", "b", "c"]
    with torch.no_grad():
        assert_matches(dagc.to_torch(m, opaque=opaque_for(model, m))(x), model(x))
    # A user leaf is honoured (dynamo is skipped), only the rest is leafed.
    m2 = dagc.import_torch(model, (x,), fallback="auto", leaf_modules=(_DataLoop,))
    assert sorted(l.path for l in fallback_report(m2).leafed) == ["a", "c"]
    assert len(_opaque_ops(m2)) == 3


def test_library_layers_without_dag_op_are_leafed():
    model = nn.Sequential(nn.Linear(4, 4), nn.Softplus(), nn.Linear(4, 2)).eval()
    x = torch.randn(3, 4)
    with pytest.raises(dagc.ImportError_, match="no dag op"):
        dagc.import_torch(model, (x,), fallback="none")
    m = dagc.import_torch(model, (x,), fallback="auto")
    report = fallback_report(m)
    assert [(l.path, l.cls) for l in report.leafed] == [("1", "torch.nn.modules.activation.Softplus")]
    with torch.no_grad():
        assert_matches(dagc.to_torch(m, opaque=opaque_for(model, m))(x), model(x))


def test_traceable_models_are_unchanged_and_bad_mode_is_refused():
    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU()).eval()
    x = torch.randn(2, 4)
    auto = dagc.import_torch(model, (x,), fallback="auto")
    assert auto.to_text() == dagc.import_torch(model, (x,), fallback="none").to_text()
    assert fallback_report(auto).strategy == "fx"
    with pytest.raises(ValueError, match="fallback"):
        dagc.import_torch(model, (x,), fallback="sometimes")


def test_unsupported_functions_are_still_reported():
    class Cumsum(nn.Module):
        def forward(self, x):
            return torch.cumsum(x, 1)

    with pytest.raises(dagc.ImportError_, match="cumsum"):
        dagc.import_torch(Cumsum(), (torch.randn(2, 3),), fallback="auto")


def test_doctor_names_the_offending_module_and_the_fix():
    model, inputs = UNTRACEABLE["data_branch"]()
    rows = {d.module: d for d in diagnose(model, inputs)}
    assert set(rows) == {"<model>", "sign_flip"}  # library layers with dag ops: no row
    assert not rows["<model>"].traceable and "sign_flip" in rows["<model>"].reason
    flip = rows["sign_flip"]
    assert not flip.traceable and flip.cls.endswith("SignFlip")
    assert "control flow" in flip.reason and "leaf_modules=(SignFlip,)" in flip.fix
    table = doctor(model, inputs)
    assert [c.header for c in table.columns] == [
        "module", "class", "traceable", "reason", "suggested fix"]
    assert table.row_count == 2
    # Control flow on shapes: TorchDynamo imports it, so no leaf is suggested.
    model, inputs = UNTRACEABLE["shape_branch"]()
    pool = {d.module: d for d in diagnose(model, inputs)}["shape_pool"]
    assert not pool.traceable and "without opaque ops" in pool.fix
    assert "leaf_modules" not in pool.fix
    # A traceable model: one row, traceable.
    ok = diagnose(nn.Sequential(nn.Linear(2, 2)), (torch.randn(1, 2),))
    assert [(d.module, d.traceable) for d in ok] == [("<model>", True)]
