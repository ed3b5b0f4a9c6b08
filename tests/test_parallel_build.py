"""The CPU build function by function on several processes
(``dagc.compiler.parallel_build``): the split modules, the forked workers, their
errors, and that the linked code is the one-process build's."""

import os

import pytest
import torch
from torch import nn
from xdsl.dialects import func, memref

import dagc
from dagc.compiler.compile import CompileError
from dagc.compiler.parallel_build import (
    MIN_FORKED_FUNCTIONS,
    build_functions,
    compile_jobs,
    split_functions,
)
from dagc.ir import parse

MODULE = """
builtin.module {
  "memref.global"() <{sym_name = "table", type = memref<4xf32>, sym_visibility = "private",
    initial_value = dense<[1.0, 2.0, 3.0, 4.0]> : tensor<4xf32>, constant}> : () -> ()
  func.func @forward(%x: memref<4xf32>, %y: memref<4xf32>) {
    func.call @k_scale(%x, %y) : (memref<4xf32>, memref<4xf32>) -> ()
    func.call @k_add(%y, %y) : (memref<4xf32>, memref<4xf32>) -> ()
    func.return
  }
  func.func private @k_scale(%x: memref<4xf32>, %y: memref<4xf32>) {
    %t = memref.get_global @table : memref<4xf32>
    %c0 = arith.constant 0 : index
    %a = memref.load %x[%c0] : memref<4xf32>
    %b = memref.load %t[%c0] : memref<4xf32>
    %p = arith.mulf %a, %b : f32
    memref.store %p, %y[%c0] : memref<4xf32>
    func.return
  }
  func.func private @k_add(%x: memref<4xf32>, %y: memref<4xf32>) {
    %t = memref.get_global @table : memref<4xf32>
    %c1 = arith.constant 1 : index
    %a = memref.load %x[%c1] : memref<4xf32>
    %b = memref.load %t[%c1] : memref<4xf32>
    %s = arith.addf %a, %b : f32
    memref.store %s, %y[%c1] : memref<4xf32>
    func.return
  }
}
"""


def definitions(module) -> list[func.FuncOp]:
    return [op for op in module.op.body.ops if isinstance(op, func.FuncOp) and op.body.blocks]


def test_split_gives_each_function_what_it_refers_to():
    module = parse(MODULE)
    before = module.to_text()
    parts = split_functions(module)
    assert module.to_text() == before
    assert [[f.sym_name.data for f in definitions(p)] for p in parts] == [
        ["forward"], ["k_scale"], ["k_add"]]
    forward, scale, add = parts
    declared = {op.sym_name.data for op in forward.op.body.ops
                if isinstance(op, func.FuncOp) and not op.body.blocks}
    assert declared == {"k_scale", "k_add"}
    assert not any(isinstance(op, memref.GlobalOp) for op in forward.op.body.ops)
    for part in (scale, add):
        (kernel,) = definitions(part)
        assert kernel.sym_visibility is None  # called from @forward's module: public
        assert [op.sym_name.data for op in part.op.body.ops
                if isinstance(op, memref.GlobalOp)] == ["table"]
    for part in parts:
        part.verify()


def test_a_module_of_one_function_is_not_split():
    module = parse("""
builtin.module {
  func.func @forward(%x: memref<4xf32>) {
    func.return
  }
}
""")
    assert split_functions(module) == [module]


def test_compile_jobs_reads_the_environment(monkeypatch):
    monkeypatch.setenv("DAGC_COMPILE_JOBS", "3")
    assert compile_jobs() == 3
    monkeypatch.delenv("DAGC_COMPILE_JOBS")
    assert compile_jobs() == len(os.sched_getaffinity(0))
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv("DAGC_COMPILE_JOBS", bad)
        with pytest.raises(ValueError, match="DAGC_COMPILE_JOBS must be a positive integer"):
            compile_jobs()


def deep_mlp() -> nn.Module:
    """Linear + ReLU layers of distinct widths: one kernel each, more kernels than
    MIN_FORKED_FUNCTIONS, so that a build with two jobs forks."""
    torch.manual_seed(0)
    widths = list(range(8, 8 + MIN_FORKED_FUNCTIONS + 2))
    layers = []
    for a, b in zip(widths, widths[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers).eval()


X = (torch.randn(3, 8),)


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_one_and_two_jobs_build_the_same_code(monkeypatch, jobs):
    model = deep_mlp()
    monkeypatch.setenv("DAGC_COMPILE_JOBS", jobs)
    seen: list[str] = []
    compiled = dagc.compile(model, X, cache=False, progress=seen.append)
    lowering = [s for s in seen if s.startswith("lower functions")]
    functions = compiled.kernels + 1
    assert lowering == [f"lower functions ({jobs} jobs): {i}/{functions} done"
                        for i in range(functions + 1)]
    names = [s.name for s in compiled.stages]
    assert "llvm (translate + O3 + codegen)" in names and "llvm (link IR)" in names
    assert compiled.kernels >= MIN_FORKED_FUNCTIONS
    with torch.no_grad():
        want = model(*X)
    torch.testing.assert_close(compiled(*X), want, rtol=1e-5, atol=1e-5)
    monkeypatch.setenv("DAGC_COMPILE_JOBS", "1" if jobs == "2" else "2")
    other = dagc.compile(model, X, cache=False)
    assert other.llvm_ir == compiled.llvm_ir
    assert torch.equal(other(*X), compiled(*X))


def test_the_workers_run_in_other_processes(monkeypatch):
    """With two jobs the stages run in forked workers, not in this process."""
    from dagc.runtime.cpu import CpuModule

    real = CpuModule.bitcode
    monkeypatch.setattr(CpuModule, "bitcode",
                        lambda self: real(self) + os.getpid().to_bytes(8, "little"))
    from dagc.compiler.compile import CPU_STAGES, DEFAULT_PIPELINE, HOISTED, hoist_entry, lower
    from dagc.compiler.pipeline import run_pipeline

    module = run_pipeline(dagc.import_torch(deep_mlp(), X), DEFAULT_PIPELINE)
    hoisted, _, _ = hoist_entry(module, CPU_STAGES[:HOISTED])
    split = CPU_STAGES.index("dagc-entry-workspace") + 1
    planned, _ = lower(hoisted, CPU_STAGES[HOISTED:split])
    parts = split_functions(planned)
    assert len(parts) >= MIN_FORKED_FUNCTIONS
    bitcode, objects, reports = build_functions(parts, CPU_STAGES[split:], 3, jobs=2)
    pids = {int.from_bytes(b[-8:], "little") for b in bitcode}
    assert os.getpid() not in pids and 1 <= len(pids) <= 2
    assert [r.name for r in reports][-1] == "llvm (translate + O3 + codegen)"


def failing_stage(monkeypatch, action):
    """Make ``dagc-math-approximation``, a stage after the split, call ``action``."""
    from dagc.lowering.math_approximation import MathApproximationPass

    monkeypatch.setattr(MathApproximationPass, "apply", lambda self, ctx, op: action())


def test_a_stage_failing_in_a_worker_is_reported_with_its_reproducer(monkeypatch, tmp_path):
    def fail():
        raise ValueError("boom in a worker")

    failing_stage(monkeypatch, fail)
    monkeypatch.setenv("DAGC_COMPILE_JOBS", "2")
    with pytest.raises(CompileError, match="boom in a worker") as info:
        dagc.compile(deep_mlp(), X, cache=False)
    assert info.value.stage == "dagc-math-approximation"
    assert info.value.reproducer is not None and info.value.reproducer.exists()


def test_a_worker_that_dies_is_a_compile_error(monkeypatch):
    failing_stage(monkeypatch, lambda: os._exit(3))
    monkeypatch.setenv("DAGC_COMPILE_JOBS", "2")
    with pytest.raises(CompileError, match="a compile worker died") as info:
        dagc.compile(deep_mlp(), X, cache=False)
    assert info.value.stage == "build"


def test_an_artifact_of_several_objects_loads_and_runs(tmp_path, monkeypatch):
    """One object file per function: the artifact lists them all and loads them
    into one JIT; one of them missing is refused."""
    import json

    from dagc.runtime.artifact import ArtifactError, load

    monkeypatch.setenv("DAGC_COMPILE_JOBS", "2")
    model = deep_mlp()
    compiled = dagc.compile(model, X, cache=False)
    out = compiled.save(tmp_path / "build")
    meta = json.loads((out / "model.meta").read_text())
    (cpu,) = [sg for sg in meta["subgraphs"] if sg["kind"] == "llvm-object"]
    objects = cpu["objects"]
    assert len(objects) == compiled.kernels + 1 and objects[0] == "forward.o"
    runner = load(out)
    with torch.no_grad():
        want = model(*X).numpy()
    torch.testing.assert_close(torch.from_numpy(runner(X[0].numpy())), torch.from_numpy(want),
                               rtol=1e-5, atol=1e-5)
    (out / cpu["name"] / objects[-1]).unlink()
    with pytest.raises(ArtifactError, match=f"{objects[-1]} is missing"):
        load(out)
