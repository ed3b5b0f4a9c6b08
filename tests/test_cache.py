"""The persistent compile cache (dagc.compiler.cache) and how dagc.compile uses it.

conftest.py gives every test an empty cache directory of its own (DAGC_CACHE_DIR).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from torch import nn

import dagc
from dagc.compiler import cache as cache_module
from dagc.compiler.cache import CacheEntry, CacheWarning, CompileCache
from dagc.compiler.compile import CPU_STAGES, HOISTED, CompileError
from dagc.runtime.artifact import load

LOWERING = set(CPU_STAGES[HOISTED:]) | {"llvm (translate + O3 + codegen)", "llvm (link IR)"}


def mlp(seed: int, act: type[nn.Module] = nn.ReLU, hidden: int = 16) -> nn.Module:
    """A small MLP, (2, 8) -> (2, 4) float32, with weights drawn from ``seed``."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(8, hidden), act(), nn.Linear(hidden, 4)).eval()


X = (torch.randn(2, 8, generator=torch.Generator().manual_seed(1)),)


@pytest.fixture(autouse=True)
def _users_verification(monkeypatch):
    """Compile as users do: the IR is verified once, after the last stage."""
    monkeypatch.delenv("DAGC_VERIFY_EACH", raising=False)


def stage_names(compiled) -> list[str]:
    return [s.name for s in compiled.stages]


def entries() -> list[Path]:
    return sorted((Path(os.environ["DAGC_CACHE_DIR"]) / "v1").glob("*.bin"))


def check(compiled, model, inputs=X) -> None:
    with torch.no_grad():
        want = model(*inputs)
    torch.testing.assert_close(compiled(*inputs), want, rtol=1e-5, atol=1e-5)


def test_a_hit_skips_lowering_and_gives_identical_results():
    model = mlp(0)
    cold = dagc.compile(model, X)
    assert LOWERING <= set(stage_names(cold)) and stage_names(cold)[-1] == "cache store"
    assert len(entries()) == 1
    warm = dagc.compile(model, X)
    assert stage_names(warm) == [*CPU_STAGES[:HOISTED], "cache hit"]
    assert torch.equal(warm(*X), cold(*X))
    check(warm, model)
    assert warm.kernels == cold.kernels > 0
    assert warm.llvm_ir == cold.llvm_ir and "define" in warm.llvm_ir
    assert warm.memory == cold.memory


def test_new_weights_hit_and_are_used():
    """The key is the IR after dagc-hoist-weights: weights are arguments, so another
    model of the same architecture hits, and its own weights are passed."""
    first, second = mlp(0), mlp(1)
    dagc.compile(first, X)
    compiled = dagc.compile(second, X)
    assert "cache hit" in stage_names(compiled)
    check(compiled, second)
    with torch.no_grad():
        assert not torch.allclose(first(*X), second(*X))


@pytest.mark.parametrize("change", ["shape", "activation", "width"])
def test_other_ir_misses(change):
    dagc.compile(mlp(0), X)
    model, inputs = {
        "shape": (mlp(0), (torch.randn(3, 8),)),
        "activation": (mlp(0, nn.Sigmoid), X),
        "width": (mlp(0, hidden=24), X),
    }[change]
    compiled = dagc.compile(model, inputs)
    assert "cache hit" not in stage_names(compiled)
    assert len(entries()) == 2
    check(compiled, model, inputs)


def test_options_and_toolchain_are_in_the_key(monkeypatch):
    ir = "func.func @forward() { func.return }"
    key = CompileCache.key(ir, {"stages": ["a"], "opt_level": 3})
    assert key == CompileCache.key(ir, {"opt_level": 3, "stages": ["a"]})
    assert key != CompileCache.key(ir + " ", {"stages": ["a"], "opt_level": 3})
    assert key != CompileCache.key(ir, {"stages": ["a"], "opt_level": 2})
    assert key != CompileCache.key(ir, {"stages": ["a", "b"], "opt_level": 3})
    tools = cache_module.toolchain()
    assert {"sources", "llvm", "triple", "cpu", "features"} <= set(tools)
    monkeypatch.setattr(cache_module, "toolchain", lambda: {**tools, "cpu": "other"})
    assert key != CompileCache.key(ir, {"stages": ["a"], "opt_level": 3})


def test_the_opt_level_is_in_the_key():
    dagc.compile(mlp(0), X)
    assert "cache hit" not in stage_names(dagc.compile(mlp(0), X, opt_level=1))


@pytest.mark.parametrize("damage", ["flip", "truncate", "empty", "other key"])
def test_a_corrupt_entry_is_detected_and_rebuilt(damage):
    model = mlp(0)
    dagc.compile(model, X)
    [path] = entries()
    data = path.read_bytes()
    if damage == "flip":
        i = len(data) // 2
        path.write_bytes(data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1:])
    elif damage == "truncate":
        path.write_bytes(data[: len(data) - 100])
    elif damage == "empty":
        path.write_bytes(b"")
    else:  # a whole, valid entry under the wrong name
        store = CompileCache(path.parent.parent)
        store.put("0" * 64, CacheEntry([b"not an object"], "", {"kernels": 1}))
        os.replace(store.path("0" * 64), path)
    with pytest.warns(CacheWarning, match="corrupt entry"):
        rebuilt = dagc.compile(model, X)
    assert "cache hit" not in stage_names(rebuilt) and "cache store" in stage_names(rebuilt)
    check(rebuilt, model)
    assert "cache hit" in stage_names(dagc.compile(model, X))  # the entry is whole again


def test_an_entry_whose_object_has_no_entry_point_is_rebuilt():
    model = mlp(0)
    dagc.compile(model, X)
    [path] = entries()
    key = path.stem
    from dagc.runtime.cpu import CpuModule

    # A whole entry (LLVM trusts object files: a malformed one is caught by the
    # checksum, not here) whose object has no @forward.
    other = CpuModule("define void @other() {\n  ret void\n}\n").emit_object()
    CompileCache(path.parent.parent).put(key, CacheEntry([other], "", {"kernels": 1}))
    with pytest.warns(CacheWarning, match="does not load"):
        rebuilt = dagc.compile(model, X)
    assert "cache store" in stage_names(rebuilt)
    check(rebuilt, model)


def test_dagc_cache_0_and_cache_false_disable_it(monkeypatch):
    model = mlp(0)
    dagc.compile(model, X, cache=False)
    assert entries() == []
    monkeypatch.setenv("DAGC_CACHE", "0")
    for _ in range(2):
        compiled = dagc.compile(model, X)
        assert not {"cache hit", "cache store"} & set(stage_names(compiled))
    assert entries() == []
    monkeypatch.delenv("DAGC_CACHE")
    dagc.compile(model, X)
    assert "cache hit" not in stage_names(dagc.compile(model, X, cache=False))


def test_the_cache_directory(monkeypatch, tmp_path):
    monkeypatch.setenv("DAGC_CACHE_DIR", str(tmp_path / "explicit"))
    assert cache_module.cache_dir() == tmp_path / "explicit"
    monkeypatch.delenv("DAGC_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_module.cache_dir() == tmp_path / "xdg" / "dagc"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_module.cache_dir() == tmp_path / "home" / ".cache" / "dagc"
    monkeypatch.setenv("DAGC_CACHE_MAX_MB", "lots")
    with pytest.raises(ValueError, match="DAGC_CACHE_MAX_MB"):
        CompileCache.from_env()


def test_an_unwritable_cache_is_a_warning(monkeypatch, tmp_path):
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("DAGC_CACHE_DIR", str(tmp_path / "file"))  # not a directory
    model = mlp(0)
    with pytest.warns(CacheWarning, match="cannot write"):
        compiled = dagc.compile(model, X)
    check(compiled, model)


def test_least_recently_used_entries_are_evicted(tmp_path):
    store = CompileCache(tmp_path, max_bytes=2500)
    keys = [f"{i:064x}" for i in range(3)]
    for i, key in enumerate(keys[:2]):
        store.put(key, CacheEntry([bytes(1000)], "", {}))
        os.utime(store.path(key), (1000 + i, 1000 + i))
    assert store.get(keys[0]) is not None  # used: now the most recent
    store.put(keys[2], CacheEntry([bytes(1000)], "", {}))
    assert [store.get(k) is not None for k in keys] == [True, False, True]
    entry = store.get(keys[0])
    assert entry.objects == [bytes(1000)] and entry.meta == {}


def test_a_saved_artifact_of_a_hit_runs(tmp_path):
    model = mlp(0)
    dagc.compile(model, X)
    compiled = dagc.compile(model, X)
    assert "cache hit" in stage_names(compiled)
    compiled.save(tmp_path / "build")
    check(load(tmp_path / "build"), model)


# -- lower(): one verification on success, a checked replay on failure ----------


class Break:
    """A stage that gives @forward a signature its body does not have."""

    def apply(self, ctx, module):
        from xdsl.dialects.builtin import FunctionType, f32

        next(iter(module.body.ops)).function_type = FunctionType.from_lists([f32], [])


class Nothing:
    def apply(self, ctx, module):
        pass


class FailOnce:
    """A stage that raises the first time only (a failure that does not reproduce)."""

    runs = 0

    def apply(self, ctx, module):
        FailOnce.runs += 1
        if FailOnce.runs == 1:
            raise RuntimeError("flaky")


@pytest.fixture
def fake_stages(monkeypatch):
    from dagc.compiler import opt

    real = opt.build_pipeline
    fakes = {"break": Break(), "nothing": Nothing(), "fail-once": FailOnce()}
    monkeypatch.setattr(opt, "build_pipeline", lambda spec: fakes.get(spec) or real(spec))
    return dagc.parse("""
    func.func @forward(%x: tensor<2xf32>) -> tensor<2xf32> {
      func.return %x : tensor<2xf32>
    }
    """)


@pytest.mark.parametrize("verify_each", [False, True])
def test_the_stage_that_leaves_invalid_ir_is_named(fake_stages, tmp_path, verify_each):
    """Unchecked, only the result is verified; when it fails, the checked replay
    names the stage that broke the IR and writes its input."""
    from dagc.compiler.compile import lower

    with pytest.raises(CompileError) as e:
        lower(fake_stages, ("nothing", "break", "nothing"), reproducer_dir=tmp_path,
              verify_each=verify_each)
    assert e.value.stage == "break"
    assert "func.func @forward(%x: tensor<2xf32>) -> tensor<2xf32>" in e.value.reproducer.read_text()


def test_a_failure_that_does_not_reproduce_is_still_reported(fake_stages):
    from dagc.compiler.compile import lower

    FailOnce.runs = 0
    with pytest.raises(CompileError, match="stage 'fail-once' failed: flaky"):
        lower(fake_stages, ("nothing", "fail-once", "nothing"), verify_each=False)
    assert FailOnce.runs == 2


def test_cli_prints_cache_hits_and_has_no_cache(tmp_path):
    factory = tmp_path / "tiny.py"
    factory.write_text(textwrap.dedent("""
        import torch
        from torch import nn

        def make():
            torch.manual_seed(0)
            return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4)).eval(), \\
                (torch.randn(2, 8),)
    """))

    def compile_(*extra: str) -> str:
        r = subprocess.run([sys.executable, "-m", "dagc.compiler.cli", "compile",
                            f"{factory}:make", "-o", str(tmp_path / "build"), "--force",
                            "--runs", "1", *extra], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        return r.stdout + r.stderr

    assert "cache store" in compile_()
    assert "cache hit" in compile_()
    out = compile_("--no-cache")
    assert "cache hit" not in out and "cache store" not in out
