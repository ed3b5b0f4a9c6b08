"""The dagc and dag-opt command lines: outputs, exit codes, no tracebacks."""

from __future__ import annotations

import subprocess
import sys

import pytest

import dagc
import dagc.examples.models


def dagc_cli(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dagc.compiler.cli", *args],
                          capture_output=True, text=True, cwd=cwd)


def test_import_round_trips_through_dag_opt(tmp_path):
    out = tmp_path / "m.mlir"
    r = dagc_cli("import", "vit_tiny", "-o", str(out))
    assert r.returncode == 0, r.stderr
    r = subprocess.run([sys.executable, "-m", "dagc.compiler.opt", str(out)],
                       capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout == out.read_text()


def test_import_from_a_factory_file(tmp_path):
    (tmp_path / "mymodel.py").write_text(
        "import torch\n"
        "def make():\n"
        "    return torch.nn.Sequential(torch.nn.Linear(4, 2), torch.nn.ReLU())\n")
    r = dagc_cli("import", f"{tmp_path}/mymodel.py:make", "--input-shape", "3,4")
    assert r.returncode == 0, r.stderr
    assert "dag.linear" in r.stdout and "tensor<3x4xf32>" in r.stdout
    r = dagc_cli("import", f"{tmp_path}/mymodel.py:make")
    assert r.returncode == 1 and "--input-shape" in r.stderr


@pytest.mark.parametrize("args, message", [
    (("import", "no_such_model"), "unknown model 'no_such_model'"),
    (("import", "nosuchpkg.mod:factory"), "cannot import 'nosuchpkg.mod'"),
    (("import", "strange_activation", "--fallback", "none"), "MyStrangeActivation"),
    (("import", "missing.mlir"), "no such file: missing.mlir"),
])
def test_errors_are_one_message_and_exit_1(args, message):
    r = dagc_cli(*args)
    assert r.returncode == 1
    assert message in r.stderr and "Traceback" not in r.stderr


def test_import_refuses_to_overwrite_its_input(tmp_path):
    path = tmp_path / "m.mlir"
    r = dagc_cli("import", "vit_tiny", "-o", str(path))
    before = path.read_text()
    r = dagc_cli("import", str(path), "-o", str(path))
    assert r.returncode == 1 and "refusing to overwrite" in r.stderr
    assert path.read_text() == before


def test_prune_and_stats_print_tables(tmp_path):
    out = tmp_path / "pruned.mlir"
    r = dagc_cli("prune", "resnet18_small", "--ratio", "0.5", "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert "total" in r.stdout and "->" in r.stdout
    pruned = dagc.load(out)
    original = dagc.import_torch(*dagc.examples.models.get_model("resnet18_small"))
    assert dagc.stats(pruned).params < 0.5 * dagc.stats(original).params
    r = dagc_cli("stats", "resnet18_small", "--top", "2", "--sort", "flops")
    assert r.returncode == 0 and "conv1" in r.stdout and "kmapp" in r.stdout


def test_view_writes_dot(tmp_path):
    out = tmp_path / "g.dot"
    alloc = tmp_path / "a.json"
    alloc.write_text('{"conv1": "NVIDIA:0"}')
    r = dagc_cli("view", "resnet18_small", "-o", str(out), "--allocation", str(alloc))
    assert r.returncode == 0, r.stderr
    dot = out.read_text()
    assert dot.startswith("digraph") and 'label="NVIDIA:0"' in dot and 'label="X64:0"' in dot


def test_alloc_template_and_device_errors(tmp_path):
    out = tmp_path / "alloc.json"
    r = dagc_cli("alloc-template", "resnet18_small", "--default", "X64:0", "-o", str(out))
    assert r.returncode == 0, r.stderr
    alloc = __import__("json").loads(out.read_text())
    assert alloc["conv1"] == "X64:0" and alloc["fc"] == "X64:0"
    r = dagc_cli("alloc-template", "resnet18_small", "--default", "TPU:0")
    assert r.returncode == 1 and "supported kinds: X86, X64" in r.stderr
    assert "Traceback" not in r.stderr


def test_bad_pass_options_are_a_diagnostic(tmp_path):
    f = tmp_path / "f.mlir"
    f.write_text("func.func @f(%x: tensor<2xf32>) -> tensor<2xf32> {\n"
                 "  func.return %x : tensor<2xf32>\n}\n")
    r = subprocess.run([sys.executable, "-m", "dagc.compiler.opt", str(f), "-p",
                        "partition-devices{default=X64:1}"], capture_output=True, text=True)
    assert r.returncode == 1 and "error:" in r.stderr and "Traceback" not in r.stderr
