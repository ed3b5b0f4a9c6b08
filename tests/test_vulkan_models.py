"""Whole models on Vulkan: ``compile_vulkan`` (compiler/gpu_compile.py).

Every dag op (the cases of ``test_cpu_chain`` in test_dag_to_linalg.py) and the
small example models are compiled to SPIR-V, run through Vulkan (lavapipe in CI)
and compared with torch (rtol = atol = 1e-4). Tests that run kernels skip with
the reason when no Vulkan device is available.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from xdsl.dialects.builtin import f64

import dagc
from dagc.compiler.compile import CompileError
from dagc.dialects import dag
from dagc.compiler.gpu_compile import (
    KIND,
    VulkanExecutable,
    compile_vulkan,
    compile_vulkan_subgraph,
)
from dagc.lowering.loops_to_gpu import inline_calls
from dagc.runtime.artifact import ArtifactError, read_meta
from dagc.runtime.vulkan import VulkanRuntime
from test_dag_to_linalg import CHAIN, CONSTANTS, one_op_module, rand, ttype

RTOL = ATOL = 1e-4

_vulkan = VulkanRuntime.available()
needs_vulkan = pytest.mark.skipif(not _vulkan, reason=_vulkan.reason or "no Vulkan")


def reference(m: dagc.Module, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """The outputs of the reference executor (torch) on ``inputs``."""
    out = dagc.to_torch(m)(*[torch.from_numpy(np.array(a)) for a in inputs])
    return [o.detach().numpy() for o in (out if isinstance(out, tuple) else (out,))]


def table(compiled):
    """The dispatch table of a single-subgraph compiled model."""
    (subgraph,) = compiled.program.subgraphs
    assert isinstance(subgraph.executable, VulkanExecutable)
    return subgraph.executable.table


def assert_matches(compiled, m: dagc.Module, inputs) -> None:
    got = compiled(*inputs)
    got = got if isinstance(got, tuple) else (got,)
    want = reference(m, inputs)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape and g.dtype == w.dtype
        np.testing.assert_allclose(g, w, rtol=RTOL, atol=ATOL, equal_nan=True)


# ----------------------------------------------------------------------------
# Every op
# ----------------------------------------------------------------------------


@needs_vulkan
@pytest.mark.parametrize("cls,shapes,props,result_shape,positive", CHAIN)
def test_op_on_vulkan(cls, shapes, props, result_shape, positive):
    m = one_op_module(cls, [ttype(s) for s in shapes], props, result_shape)
    inputs = [
        rand(*s, seed=i, low=0.1 if positive else None) for i, s in enumerate(shapes)
    ]
    compiled = compile_vulkan(m)
    assert len(table(compiled).kernels) >= 1
    assert_matches(compiled, m, inputs)


@needs_vulkan
def test_constants_and_weights():
    """Weights (hoisted resources) are argument buffers; small dense literals are
    constant buffers (memref.get_global) whose contents travel in the table."""
    text = CONSTANTS.replace(
        "0x040000000000803F000000400000404000008040",
        "0x04000000" + np.arange(1, 7, dtype="<f4").tobytes().hex().upper(),
    )
    m = dagc.parse(text)
    compiled = compile_vulkan(m)
    assert list(compiled.program.weights()) == ["w"]
    assert len(table(compiled).constants) == 2
    assert_matches(compiled, m, [rand(2, 3)])


# ----------------------------------------------------------------------------
# Whole models
# ----------------------------------------------------------------------------


class Repeated(nn.Module):
    """Two identical blocks, a concat (an out-parameter that is a subview of the
    caller's buffer) and a flatten (a collapse_shape view)."""

    def __init__(self):
        super().__init__()
        self.a = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.ReLU())
        self.b = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.ReLU())
        self.fc = nn.Linear(8 * 5 * 5, 3)

    def forward(self, x):
        y = self.a(x)
        z = self.b(y)
        return self.fc(torch.cat([y, z], dim=1).flatten(1))


@needs_vulkan
def test_later_calls_reuse_the_resident_program():
    """The first call makes the table resident (weights uploaded once); later
    calls with other inputs still match."""
    torch.manual_seed(0)
    model = Repeated().eval()
    m = dagc.import_torch(model, (torch.randn(1, 4, 5, 5),))
    compiled = compile_vulkan(m)
    (subgraph,) = compiled.program.subgraphs
    executable = subgraph.executable
    temporaries = [b for b in executable.table.buffers
                   if b.argument is None and b.constant is None]
    assert temporaries
    programs = set()
    for seed in range(3):
        assert_matches(compiled, m, [rand(1, 4, 5, 5, seed=seed)])
        programs.add(id(executable._program))
    assert len(programs) == 1
    dispatches = executable.profile([rand(1, 4, 5, 5, seed=0)], runs=2)
    assert [name for name, _ in dispatches] == [k.name for k in executable.table.kernels]
    assert all(t >= 0 for _, t in dispatches) and sum(t for _, t in dispatches) > 0


@needs_vulkan
def test_identical_kernels_are_shared():
    torch.manual_seed(0)
    model = Repeated().eval()
    x = torch.randn(1, 4, 5, 5)
    m = dagc.import_torch(model, (x,))
    compiled = compile_vulkan(m)
    assert compiled.kernels < len(table(compiled).kernels)
    assert_matches(compiled, m, [x.numpy()])


def test_inline_calls_keeps_public_functions():
    """Private single-block callees are inlined and erased; the entry stays."""
    m = dagc.parse(
        """
func.func @forward(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %0 = dag.relu "r"(%x) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %1 = dag.neg "n"(%0) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  func.return %1 : tensor<2x3xf32>
}
"""
    )
    from dagc.compiler.compile import lower

    low, _ = lower(m, ("dagc-outline-kernels", "convert-dag-to-linalg", "dagc-bufferize"))
    calls = [o for o in low.walk() if o.name == "func.call"]
    assert len(calls) == 2
    inline_calls(low.op)
    funcs = [o.sym_name.data for o in low.op.body.ops if o.name == "func.func"]
    assert funcs == ["forward"]
    assert not [o for o in low.walk() if o.name == "func.call"]
    assert len([o for o in low.walk() if o.name == "linalg.generic"]) == 2


@needs_vulkan
@pytest.mark.parametrize("name", ["resnet18_small", "mobilenet_v2_small"])
def test_example_model_on_vulkan(name):
    from dagc.examples.models import get_model

    model, inputs = get_model(name)
    model.eval()
    m = dagc.import_torch(model, inputs)
    compiled = compile_vulkan(m)
    got = compiled(*inputs)
    assert isinstance(got, torch.Tensor)
    with torch.no_grad():
        want = model(*inputs)
    torch.testing.assert_close(got, want, rtol=RTOL, atol=ATOL)


# ----------------------------------------------------------------------------
# Artifacts and errors
# ----------------------------------------------------------------------------


def small_model() -> tuple[nn.Module, torch.Tensor]:
    torch.manual_seed(1)
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(36, 5),
    ).eval()
    return model, torch.randn(2, 3, 6, 6)


def test_save_and_load_subgraph(tmp_path):
    """The executable round-trips through dispatch.json + .spv + .npy files
    (no Vulkan needed)."""
    model, x = small_model()
    executable, _, kernels = compile_vulkan_subgraph(dagc.import_torch(model, (x,)))
    meta = executable.save(tmp_path)
    assert meta["kind"] == KIND
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(meta["files"])
    assert sum(f.endswith(".spv") for f in meta["files"]) == kernels
    loaded = VulkanExecutable.load(tmp_path, meta, executable.weights())
    assert loaded.table.buffers == executable.table.buffers
    assert loaded.table.kernels == executable.table.kernels
    assert loaded.table.results == executable.table.results
    assert loaded.inputs == executable.inputs and loaded.outputs == executable.outputs
    with pytest.raises(LookupError, match="weight"):
        VulkanExecutable.load(tmp_path, meta, {})


@needs_vulkan
def test_artifact_round_trip(tmp_path):
    from safetensors.numpy import load_file

    model, x = small_model()
    compiled = compile_vulkan(dagc.import_torch(model, (x,)))
    path = compiled.save(tmp_path / "build")
    (sub,) = read_meta(path)["subgraphs"]
    assert sub["kind"] == KIND
    loaded = VulkanExecutable.load(
        path / sub["folder"], sub, load_file(str(path / "weights.safetensors"))
    )
    with torch.no_grad():
        want = model(x).numpy()
    np.testing.assert_allclose(loaded.run([x.numpy()])[0], want, rtol=RTOL, atol=ATOL)
    torch.testing.assert_close(compiled(x), torch.from_numpy(want), rtol=RTOL, atol=ATOL)
    with pytest.raises(ValueError, match="input 0 must be float32"):
        compiled(torch.zeros(2, 3, 6, 5))
    spv = next((path / sub["folder"]).glob("*.spv"))
    spv.write_bytes(spv.read_bytes()[:-4])
    with pytest.raises(ArtifactError, match="checksum"):
        read_meta(path)


def test_unsupported_element_type_names_the_stage():
    """f64 tensors have no SPIR-V buffer type here: a CompileError names the stage."""
    m = one_op_module(dag.AddOp, [ttype((2, 3), f64)] * 2)
    with pytest.raises(CompileError, match="stage '.*f64"):
        compile_vulkan(m)


@needs_vulkan
def test_workgroup_size_and_spirv_version():
    model, x = small_model()
    m = dagc.import_torch(model, (x,))
    compiled = compile_vulkan(m, workgroup_size=32, spirv_version="1.4")
    assert max(k.local_size[0] for k in table(compiled).kernels) == 32
    assert all(k.spirv[5:7] == bytes([4, 1]) for k in table(compiled).kernels)
    assert_matches(compiled, m, [x.numpy()])
