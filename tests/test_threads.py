"""Multi-threaded CPU code: `dagc-parallel-to-threads`, the `GOMP_parallel` lowering
of `{dagc.parallel}` calls and the runtime's thread count (`DAGC_NUM_THREADS`,
`dagc.runtime.set_num_threads`), checked against numpy and torch."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from xdsl.parser import Parser

import dagc
import dagc.runtime
from dagc.compiler.opt import build_pipeline
from dagc.ir import make_context
from dagc.lowering.llvm_to_llvmir import translate_to_llvmir
from dagc.runtime import cpu
from dagc.runtime.cpu import ArgSpec, CpuModule

# @scale: %y = 2 * %x + (row index), and every row records the OpenMP thread that
# ran it (omp_get_thread_num), so that a test sees the team and its static split;
# 97 rows, a prime, are split unevenly by any team of 2 to 96 threads. The rows are
# the range split among threads (97 >= GRAIN), the 64 columns a loop inside.
# @window_sums: a pooling-like window (a nested scf.for) in an outlined loop.
# @total: a reduction, which stays serial.
KERNELS = """
func.func private @omp_get_thread_num() -> i32
func.func @scale(%x: memref<97x64xf32>, %y: memref<97x64xf32>, %ids: memref<97xi32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c64 = arith.constant 64 : index
  %c97 = arith.constant 97 : index
  %two = arith.constant 2.0 : f32
  "scf.parallel"(%c0, %c0, %c97, %c64, %c1, %c1) <{operandSegmentSizes = array<i32: 2, 2, 2, 0>}> ({
  ^bb0(%i: index, %j: index):
    %v = memref.load %x[%i, %j] : memref<97x64xf32>
    %s = arith.mulf %v, %two : f32
    %ii = arith.index_cast %i : index to i32
    %fi = arith.sitofp %ii : i32 to f32
    %r = arith.addf %s, %fi : f32
    memref.store %r, %y[%i, %j] : memref<97x64xf32>
    %t = func.call @omp_get_thread_num() : () -> i32
    memref.store %t, %ids[%i] : memref<97xi32>
    scf.reduce
  }) : (index, index, index, index, index, index) -> ()
  func.return
}
func.func @window_sums(%x: memref<97x64xf32>, %y: memref<97x61xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %c61 = arith.constant 61 : index
  %c97 = arith.constant 97 : index
  %zero = arith.constant 0.0 : f32
  "scf.parallel"(%c0, %c0, %c97, %c61, %c1, %c1) <{operandSegmentSizes = array<i32: 2, 2, 2, 0>}> ({
  ^bb0(%i: index, %j: index):
    %sum = scf.for %k = %c0 to %c4 step %c1 iter_args(%acc = %zero) -> (f32) {
      %jk = arith.addi %j, %k : index
      %v = memref.load %x[%i, %jk] : memref<97x64xf32>
      %next = arith.addf %acc, %v : f32
      scf.yield %next : f32
    }
    memref.store %sum, %y[%i, %j] : memref<97x61xf32>
    scf.reduce
  }) : (index, index, index, index, index, index) -> ()
  func.return
}
func.func @total(%x: memref<97x64xf32>) -> f32 {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c64 = arith.constant 64 : index
  %c97 = arith.constant 97 : index
  %zero = arith.constant 0.0 : f32
  %s = "scf.parallel"(%c0, %c0, %c97, %c64, %c1, %c1, %zero) <{operandSegmentSizes = array<i32: 2, 2, 2, 1>}> ({
  ^bb0(%i: index, %j: index):
    %v = memref.load %x[%i, %j] : memref<97x64xf32>
    scf.reduce(%v : f32) {
    ^bb1(%a: f32, %b: f32):
      %t = arith.addf %a, %b : f32
      scf.reduce.return %t : f32
    }
  }) : (index, index, index, index, index, index, f32) -> f32
  func.return %s : f32
}
"""


def _compile_kernels(text: str = KERNELS) -> CpuModule:
    """`text` through `dagc-parallel-to-threads` (a low `min-work`, so that these
    small loops get threads), `convert-to-llvm` and LLVM."""
    ctx = make_context()
    module = Parser(ctx, text).parse_module()
    build_pipeline("dagc-parallel-to-threads{min-work=4096},convert-to-llvm").apply(
        ctx, module
    )
    module.verify()
    return CpuModule(translate_to_llvmir(module, ctx))


@pytest.fixture
def threads(monkeypatch):
    """`dagc.runtime.set_num_threads`, its setting undone after the test."""
    monkeypatch.setattr(cpu, "_num_threads", cpu._num_threads)
    return dagc.runtime.set_num_threads


def _chunks(rows: int, team: int) -> np.ndarray:
    """The thread of each row under libgomp's static schedule."""
    q, r = divmod(rows, team)
    return np.repeat(np.arange(team), [q + (t < r) for t in range(team)]).astype(np.int32)


@pytest.mark.parametrize("team", [1, 2, 3])
def test_parallel_loops_match_numpy_and_split_statically(team, threads):
    module = _compile_kernels()
    scale = module.get_function(
        "scale",
        [ArgSpec.array((97, 64), np.float32), ArgSpec.array((97, 64), np.float32),
         ArgSpec.array((97,), np.int32)],
    )
    windows = module.get_function(
        "window_sums",
        [ArgSpec.array((97, 64), np.float32), ArgSpec.array((97, 61), np.float32)],
    )
    total = module.get_function(
        "total", [ArgSpec.array((97, 64), np.float32)], ArgSpec.scalar(np.float32)
    )
    threads(team)
    x = np.random.default_rng(team).standard_normal((97, 64)).astype(np.float32)
    y = np.zeros_like(x)
    ids = np.full(97, -1, np.int32)
    scale(x, y, ids)
    np.testing.assert_array_equal(y, 2 * x + np.arange(97, dtype=np.float32)[:, None])
    # Every row ran, on the thread the static schedule gives it: the team is real.
    np.testing.assert_array_equal(ids, _chunks(97, team))

    sums = np.zeros((97, 61), np.float32)
    windows(x, sums)
    want = sum(x[:, k : k + 61] for k in range(4))
    np.testing.assert_allclose(sums, want, rtol=1e-5, atol=1e-5)
    assert total(x) == pytest.approx(float(x.astype(np.float64).sum()), abs=1e-3)


def test_set_num_threads_updates_loaded_code_and_checks_its_argument(threads):
    module = _compile_kernels()
    scale = module.get_function(
        "scale",
        [ArgSpec.array((97, 64), np.float32), ArgSpec.array((97, 64), np.float32),
         ArgSpec.array((97,), np.int32)],
    )
    x = np.ones((97, 64), np.float32)
    y, ids = np.zeros_like(x), np.zeros(97, np.int32)
    threads(2)
    scale(x, y, ids)
    np.testing.assert_array_equal(ids, _chunks(97, 2))
    threads(1)  # the loaded code follows, and runs serially
    scale(x, y, ids)
    np.testing.assert_array_equal(ids, np.zeros(97, np.int32))
    assert dagc.runtime.get_num_threads() == 1
    for bad in (0, -2, 1.5, True):
        with pytest.raises(ValueError, match="positive integer"):
            dagc.runtime.set_num_threads(bad)


def test_bad_environment_variable_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(cpu, "_num_threads", None)
    monkeypatch.setenv("DAGC_NUM_THREADS", "many")
    with pytest.raises(ValueError, match="DAGC_NUM_THREADS must be a positive integer, got 'many'"):
        dagc.runtime.get_num_threads()
    monkeypatch.setenv("DAGC_NUM_THREADS", "3")
    assert dagc.runtime.get_num_threads() == 3
    monkeypatch.delenv("DAGC_NUM_THREADS")
    assert dagc.runtime.get_num_threads() == len(os.sched_getaffinity(0))


SERIAL_FALLBACK = """
import ctypes.util, warnings, numpy as np
find = ctypes.util.find_library
ctypes.util.find_library = lambda name: None if name == "gomp" else find(name)
import sys
sys.path.insert(0, {tests!r})
from test_threads import _compile_kernels
from dagc.runtime.cpu import ArgSpec
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    scale = _compile_kernels().get_function("scale", [ArgSpec.array((97, 64), np.float32),
        ArgSpec.array((97, 64), np.float32), ArgSpec.array((97,), np.int32)])
assert any("libgomp (OpenMP) could not be loaded" in str(w.message) for w in caught), caught
x = np.ones((97, 64), np.float32); y = np.zeros_like(x); ids = np.full(97, -1, np.int32)
scale(x, y, ids)
assert (ids == 0).all() and (y == 2 + np.arange(97)[:, None]).all()
print("serial ok")
"""


def test_without_libgomp_parallel_loops_run_serially():
    script = SERIAL_FALLBACK.format(tests=os.path.dirname(__file__))
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True,
        env={**os.environ, "DAGC_NUM_THREADS": "3"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "serial ok" in done.stdout


def test_model_with_threads_matches_torch_and_artifact_runs_threaded(tmp_path, threads):
    from dagc.examples.models import get_model

    model, inputs = get_model("resnet18_small")
    compiled = dagc.compile(model, inputs)
    assert "GOMP_parallel" in compiled.llvm_ir
    with torch.no_grad():
        want = model(*inputs)
    scale = max(1.0, float(want.abs().max()))
    for team in (1, 2, 3):
        threads(team)
        err = float((compiled(*inputs) - want).abs().max())
        assert err <= 1e-4 * scale, (team, err)

    out = compiled.save(tmp_path / "build")
    np.save(tmp_path / "x.npy", inputs[0].numpy())
    script = (
        "import ctypes, numpy as np, dagc.runtime\n"
        "from dagc.runtime import cpu\n"
        f"r = dagc.runtime.load({str(out)!r})\n"
        "counts = [cpu._thread_count.value]\n"
        "assert counts == [2], counts\n"
        f"np.save({str(tmp_path / 'y.npy')!r}, r(np.load({str(tmp_path / 'x.npy')!r})))\n"
        "print(counts)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path,
        env={**os.environ, "DAGC_NUM_THREADS": "2"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [2]
    got = torch.from_numpy(np.load(tmp_path / "y.npy"))
    assert float((got - want).abs().max()) <= 1e-4 * scale
