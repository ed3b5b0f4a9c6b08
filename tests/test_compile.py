"""dagc.compile for the CPU, artifacts, and the dagc compile/run CLI (end to end)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

import dagc
from dagc.compiler.compile import CompileError
from dagc.examples.models import get_model
from dagc.runtime.artifact import ArtifactError


def assert_matches_torch(got: torch.Tensor, want: torch.Tensor) -> None:
    """dagc's accuracy policy: max abs error <= 1e-4 * max(1, max |reference|)."""
    assert got.shape == want.shape
    scale = max(1.0, float(want.abs().max()))
    err = float((got - want).abs().max())
    assert err <= 1e-4 * scale, f"max abs error {err:.3g} at output scale {scale:.3g}"


SMALL = ["resnet18_small", "mobilenet_v2_small", "efficientnet_small", "vit_tiny", "unet_small"]


@pytest.mark.parametrize("name", SMALL)
def test_small_models_compile_and_match(name):
    model, inputs = get_model(name)
    compiled = dagc.compile(model, inputs)
    with torch.no_grad():
        want = model(*inputs)
    assert_matches_torch(compiled(*inputs), want)
    # A second, different input: the code is not specialised to the example values.
    other = tuple(torch.randn_like(x) for x in inputs)
    with torch.no_grad():
        assert_matches_torch(compiled(*other), model(*other))


def test_kernels_are_deduplicated_by_signature():
    model, inputs = get_model("resnet18_small")
    compiled = dagc.compile(model, inputs)
    convs = sum(1 for op in compiled.dag.walk() if op.name == "dag.conv2d")
    assert convs == 20
    assert compiled.kernels < 35  # 69 compute ops share 29 kernels
    assert "define" in compiled.llvm_ir


def test_numpy_inputs_give_numpy_outputs_and_bad_inputs_are_refused():
    model, inputs = get_model("vit_tiny")
    compiled = dagc.compile(model, inputs)
    out = compiled(inputs[0].numpy())
    assert isinstance(out, np.ndarray)
    with pytest.raises(ValueError, match="takes 1 inputs"):
        compiled()
    with pytest.raises(ValueError, match=r"must be float32\[1, 3, 32, 32\]"):
        compiled(np.zeros((1, 3, 8, 8), np.float32))


def test_inputs_passed_by_address_read_only_strided_or_wrong():
    """The CPU executable passes arrays to the native code as addresses, checked
    once by itself: a read-only input (no writable buffer: numpy's address is the
    fallback) and a transposed, non-contiguous one (copied first) give torch's
    answer; a wrong shape or dtype is a ValueError, not an out-of-bounds read."""
    from dagc.runtime.cpu import address
    from dagc.runtime.executor import CpuExecutable

    torch.manual_seed(0)
    a, b = torch.randn(24, 40), torch.randn(40, 24)
    compiled = dagc.compile(_MatMul(), (a, b))
    read_only = np.frombuffer(a.numpy().tobytes(), np.float32).reshape(24, 40)
    assert not read_only.flags.writeable and address(read_only) == read_only.ctypes.data
    strided = np.ascontiguousarray(b.numpy().T).T
    assert not strided.flags.c_contiguous
    np.testing.assert_allclose(compiled(read_only, strided), (a @ b).numpy(), rtol=1e-4,
                               atol=1e-4)
    (executable,) = [sg.executable for sg in compiled.program.subgraphs]
    assert isinstance(executable, CpuExecutable)
    with pytest.raises(ValueError, match=r"input 1 must be float32\[40, 24\]"):
        executable.run([a.numpy(), b.numpy().T])
    with pytest.raises(ValueError, match=r"input 0 must be float32.*got float64"):
        executable.run([a.numpy().astype(np.float64), b.numpy()])
    with pytest.raises(ValueError, match="takes 2 inputs"):
        executable.run([a.numpy()])


class _MatMul(torch.nn.Module):
    def forward(self, a, b):
        return a @ b


def test_artifact_runs_in_a_fresh_process(tmp_path):
    model, inputs = get_model("resnet18_small")
    compiled = dagc.compile(model, inputs)
    out = compiled.save(tmp_path / "build")
    meta = json.loads((out / "model.meta").read_text())
    assert meta["format_version"] == 3 and meta["inputs"][0]["shape"] == [1, 3, 64, 64]
    assert [s["device"] for s in meta["subgraphs"]] == ["X64:0"]
    np.save(tmp_path / "x.npy", inputs[0].numpy())
    # The fresh process imports neither the model's module nor torch's model code.
    script = (
        "import sys, numpy as np, dagc.runtime\n"
        f"r = dagc.runtime.load({str(out)!r})\n"
        f"y = r(np.load({str(tmp_path / 'x.npy')!r}))\n"
        "assert 'dagc.examples.models' not in sys.modules\n"
        f"np.save({str(tmp_path / 'y.npy')!r}, y)\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, cwd=tmp_path)
    with torch.no_grad():
        want = model(*inputs)
    assert_matches_torch(torch.from_numpy(np.load(tmp_path / "y.npy")), want)


def _artifact(tmp_path):
    model, inputs = get_model("vit_tiny")
    return dagc.compile(model, inputs).save(tmp_path / "art")


def test_tampered_artifacts_are_refused(tmp_path):
    out = _artifact(tmp_path)
    assert dagc.runtime.load(out)  # intact: loads
    weights = out / "weights.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="checksum"):
        dagc.runtime.load(out)


def test_truncated_and_mismatched_artifacts_are_refused(tmp_path):
    out = _artifact(tmp_path)
    (out / "sg0" / "forward.o").unlink()
    with pytest.raises(ArtifactError, match="forward.o is missing"):
        dagc.runtime.load(out)
    meta = json.loads((out / "model.meta").read_text())
    meta["format_version"] = 99
    (out / "model.meta").write_text(json.dumps(meta))
    with pytest.raises(ArtifactError, match="format version 99"):
        dagc.runtime.load(out)
    (out / "model.meta").write_text("{not json")
    with pytest.raises(ArtifactError, match="corrupt"):
        dagc.runtime.load(out)
    with pytest.raises(ArtifactError, match="not a dagc artifact"):
        dagc.runtime.load(tmp_path)


def test_save_never_overwrites_user_files(tmp_path):
    model, inputs = get_model("vit_tiny")
    compiled = dagc.compile(model, inputs)
    precious = tmp_path / "mine"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    with pytest.raises(ArtifactError, match="not empty"):
        compiled.save(precious)
    with pytest.raises(ArtifactError, match="not empty"):
        compiled.save(precious, overwrite=True)  # not an artifact: never replaced
    assert (precious / "notes.txt").read_text() == "keep me"
    out = compiled.save(tmp_path / "art")
    with pytest.raises(ArtifactError):
        compiled.save(out)
    compiled.save(out, overwrite=True)  # an artifact may be replaced on request


def test_failing_stage_writes_a_reproducer(tmp_path):
    from dagc.compiler.compile import lower

    m = dagc.parse("""
    func.func @forward(%x: tensor<2xf32>) -> tensor<2xf32> {
      %0 = dag.opaque "host"(%x) {class = "pkg.Mod"} : (tensor<2xf32>) -> tensor<2xf32>
      func.return %0 : tensor<2xf32>
    }
    """)
    with pytest.raises(CompileError) as e:
        lower(m, ("dagc-outline-kernels", "convert-dag-to-linalg"), reproducer_dir=tmp_path)
    assert e.value.stage == "convert-dag-to-linalg"
    assert e.value.reproducer.exists()
    assert "dag.opaque" in e.value.reproducer.read_text()
    assert e.value.command.startswith("dag-opt ") and "-p convert-dag-to-linalg" in e.value.command
    # The command reproduces the failure with a located diagnostic.
    run = subprocess.run([sys.executable, "-m", "dagc.compiler.opt",
                          str(e.value.reproducer), "-p", "convert-dag-to-linalg"],
                         capture_output=True, text=True)
    assert run.returncode == 1 and "Traceback" not in run.stderr


def test_cli_compile_and_run(tmp_path):
    build = tmp_path / "build"
    r = subprocess.run([sys.executable, "-m", "dagc.compiler.cli", "compile", "vit_tiny",
                        "-o", str(build), "--runs", "2"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "max abs error vs torch" in r.stdout and "kernels" in r.stdout
    rel = float(r.stdout.split("relative error")[1].split()[1])
    assert rel <= 1e-4
    r = subprocess.run([sys.executable, "-m", "dagc.compiler.cli", "run", str(build)],
                       capture_output=True, text=True)
    assert r.returncode == 0 and "output 0: float32[1, 10]" in r.stdout, r.stderr
    r = subprocess.run([sys.executable, "-m", "dagc.compiler.cli", "run", str(tmp_path)],
                       capture_output=True, text=True)
    assert r.returncode == 1 and "not a dagc artifact" in r.stderr and "Traceback" not in r.stderr


def test_compile_a_mlir_file(tmp_path):
    model, inputs = get_model("unet_small")
    path = tmp_path / "unet.mlir"
    dagc.import_torch(model, inputs).save(path)
    compiled = dagc.compile(dagc.load(path))
    with torch.no_grad():
        assert_matches_torch(compiled(*inputs), model(*inputs))


def _three_way(model, inputs, middle: str):
    """Stem on X64:0, the residual stages on ``middle``, the leafed pooling on HOST."""
    import torch.nn as nn

    m = dagc.import_torch(model, inputs, leaf_modules=(nn.AdaptiveAvgPool2d,))
    ops = [op for op in m.forward.body.block.ops if op.name.startswith("dag.")
           and op.name != "dag.constant"]
    labels = [op.label for op in ops]
    first = next(i for i, n in enumerate(labels) if n.startswith("layer1"))
    last = max(i for i, n in enumerate(labels) if n.startswith("layer4"))
    alloc = {n: "X64:0" for n in labels}
    alloc.update({n: middle for n in labels[first:last + 1]})
    alloc.update({op.label: "HOST:0" for op in ops if op.name == "dag.opaque"})
    return m, alloc


def _vulkan_or_cpu() -> str:
    """NVIDIA:0 (Vulkan: a GPU or lavapipe) when a driver is present, else X64:1."""
    from dagc.runtime.vulkan import VulkanRuntime

    return "NVIDIA:0" if VulkanRuntime.available() else "X64:1"


def test_three_way_partition_runs_from_its_artifact(tmp_path):
    model, inputs = get_model("resnet18_small")
    middle = _vulkan_or_cpu()
    m, alloc = _three_way(model, inputs, middle)
    opaque = {"torch.nn.modules.pooling.AdaptiveAvgPool2d": model.avgpool}
    compiled = dagc.compile(m, allocation=alloc, opaque=opaque)
    devices = [sg.device for sg in compiled.program.subgraphs]
    assert devices == ["X64:0", middle, "HOST:0", "X64:0"]
    assert sum(1 for s in compiled.program.steps if s.op == "transfer") == 3
    with torch.no_grad():
        want = model(*inputs)
    assert_matches_torch(compiled(*inputs), want)
    out = compiled.save(tmp_path / "build")
    np.save(tmp_path / "x.npy", inputs[0].numpy())
    with pytest.raises(ArtifactError, match="AdaptiveAvgPool2d"):
        dagc.runtime.load(out)  # the HOST module's class must be given
    script = (
        "import sys, numpy as np, torch, dagc.runtime\n"
        "pool = torch.nn.AdaptiveAvgPool2d(1)\n"
        f"r = dagc.runtime.load({str(out)!r}, opaque={{'torch.nn.modules.pooling.AdaptiveAvgPool2d': pool}})\n"
        f"y = r(np.load({str(tmp_path / 'x.npy')!r}))\n"
        "assert 'dagc.examples.models' not in sys.modules\n"
        f"np.save({str(tmp_path / 'y.npy')!r}, y)\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, cwd=tmp_path)
    assert_matches_torch(torch.from_numpy(np.load(tmp_path / "y.npy")), want)


def test_unknown_devices_and_ops_in_allocations_are_refused():
    model, inputs = get_model("vit_tiny")
    with pytest.raises(ValueError, match="supported kinds"):
        dagc.compile(model, inputs, allocation={"head": "TPU:0"})
    with pytest.raises(ValueError, match="no_such_op"):
        dagc.compile(model, inputs, allocation={"no_such_op": "X64:0"})


@pytest.mark.parametrize("name", ["resnet18_small", "mobilenet_v2_small"])
def test_pruned_models_compile_and_match_their_reference(name):
    model, inputs = get_model(name)
    pruned, report = dagc.prune(dagc.import_torch(model, inputs), ratio=0.5)
    assert dagc.stats(pruned).flops < 0.5 * dagc.stats(dagc.import_torch(model, inputs)).flops
    compiled = dagc.compile(pruned)
    with torch.no_grad():
        want = dagc.to_torch(pruned)(*inputs)
    assert_matches_torch(compiled(*inputs), want)
