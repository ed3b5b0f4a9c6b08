"""dagc's matmul kernel against numpy and torch sgemm (f32, square, 256..2048).

    python -m dagc.benchmarks.gemm [--sizes 256,512,1024,2048] [--runs 30] [--naive]

For each size: the median time of ``--runs`` calls after warm-up, GFLOP/s
(``2 n^3`` flops) and the percentage of the peak of all cores and of one core. One
core's peak is measured by a loop of 12 independent AVX-512 FMAs (32 flop/cycle on
this CPU; the clock under turbo and load is not knowable from /proc/cpuinfo).
dagc compiles a model computing ``a @ b`` through the CPU pipeline with the
``dagc-linalg-to-microkernels`` stage (``--naive``: also without it, the plain
loop nest, measured with 3 runs at sizes <= 512 only). numpy, torch and dagc (its
GEMM chunks on the libgomp team, ``dagc.runtime.set_num_threads``) use
``--threads`` threads (2). Everything is printed from one run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "2")
os.environ.setdefault("MKL_NUM_THREADS", "2")

import numpy as np
import torch

FAST_STAGE = "dagc-linalg-to-microkernels"


def fast_stages() -> tuple[str, ...]:
    """``CPU_STAGES`` with the micro-kernel stage after ``dagc-bufferize``."""
    from dagc.compiler.compile import CPU_STAGES

    stages = list(CPU_STAGES)
    if FAST_STAGE not in stages:
        stages.insert(stages.index("dagc-bufferize") + 1, FAST_STAGE)
    return tuple(stages)


def naive_stages() -> tuple[str, ...]:
    """``CPU_STAGES`` without the micro-kernels: plain loop nests (the baseline)."""
    from dagc.compiler.compile import CPU_STAGES

    return tuple(s for s in CPU_STAGES if s != FAST_STAGE)


def use_stages(stages: tuple[str, ...]) -> None:
    """Make ``dagc.compile`` run ``stages`` (and know the micro-kernel pass)."""
    import dagc.compiler.compile as compile_module
    from dagc.compiler import registry

    registry._PASSES.setdefault(
        FAST_STAGE, "dagc.lowering.linalg_to_microkernels:LinalgToMicroKernelsPass")
    compile_module.CPU_STAGES = stages


CHAINS = 12
"""Independent accumulators of the peak loop (>= FMA latency x pipes)."""


def measured_core_peak(seconds: float = 0.2) -> float:
    """One core's f32 FMA throughput in GFLOP/s, measured: a loop of 12
    independent ``<16 x float>`` fused multiply-adds (the register-blocked inner
    loop of a GEMM with no memory traffic), compiled for the host with llvmlite."""
    import ctypes

    from dagc.runtime.cpu import CpuModule

    body = "\n".join(
        f"  %a{i} = phi <16 x float> [ zeroinitializer, %entry ], [ %b{i}, %loop ]"
        for i in range(CHAINS)) + "\n  %i = phi i64 [ 0, %entry ], [ %j, %loop ]\n" + "\n".join(
        f"  %b{i} = call <16 x float> @llvm.fma.v16f32(<16 x float> %x, <16 x float> %y, "
        f"<16 x float> %a{i})" for i in range(CHAINS))
    total = "\n".join(f"  %s{i} = fadd <16 x float> %s{i - 1}, %b{i}" for i in range(1, CHAINS))
    ir = f"""
declare <16 x float> @llvm.fma.v16f32(<16 x float>, <16 x float>, <16 x float>)
define float @fma_loop(i64 %n, float %v) {{
entry:
  %xi = insertelement <16 x float> undef, float %v, i32 0
  %x = shufflevector <16 x float> %xi, <16 x float> undef, <16 x i32> zeroinitializer
  %y = fadd <16 x float> %x, %x
  br label %loop
loop:
{body}
  %j = add i64 %i, 1
  %c = icmp ult i64 %j, %n
  br i1 %c, label %loop, label %exit
exit:
  %s0 = fadd <16 x float> %b0, zeroinitializer
{total}
  %r = extractelement <16 x float> %s{CHAINS - 1}, i32 0
  ret float %r
}}
"""
    cpu = CpuModule(ir, opt_level=1)
    address = cpu._execution_engine().get_function_address("fma_loop")
    fn = ctypes.CFUNCTYPE(ctypes.c_float, ctypes.c_int64, ctypes.c_float)(address)
    n = 1 << 16
    while True:
        start = time.perf_counter()
        fn(n, 1e-9)
        elapsed = time.perf_counter() - start
        if elapsed > seconds / 4:
            break
        n *= 4
    best = min(_timed(fn, n) for _ in range(5))
    return n * CHAINS * 16 * 2 / best / 1e9


def _timed(fn, n: int) -> float:
    start = time.perf_counter()
    fn(n, 1e-9)
    return time.perf_counter() - start


class MatMul(torch.nn.Module):
    def forward(self, a, b):
        return a @ b


def median_seconds(fn, runs: int, warmup: int = 3) -> float:
    """Median wall time of ``fn()`` in seconds over ``runs`` calls after ``warmup``
    calls; the one timer every benchmark uses."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="256,512,1024,2048")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--naive", action="store_true",
                        help="also time the plain loop nest (sizes <= 512)")
    args = parser.parse_args(argv)
    import dagc
    from dagc.compiler.compile import CPU_STAGES

    import dagc.runtime

    torch.set_num_threads(args.threads)
    dagc.runtime.set_num_threads(args.threads)
    cores = os.cpu_count() or 1
    core_peak = measured_core_peak()
    peak = cores * core_peak
    print(f"peak: {cores} cores x {core_peak:.0f} GFLOP/s (measured AVX-512 FMA loop) = "
          f"{peak:.0f} GFLOP/s")
    original, fast = tuple(CPU_STAGES), fast_stages()
    rows = []
    for n in [int(s) for s in args.sizes.split(",")]:
        rng = np.random.default_rng(0)
        a = rng.standard_normal((n, n), dtype=np.float32)
        b = rng.standard_normal((n, n), dtype=np.float32)
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        flops = 2.0 * n ** 3
        results = {}
        variants = [("dagc", fast)]
        if args.naive and n <= 512:
            variants.append(("dagc naive", naive_stages()))
        for label, stages in variants:
            use_stages(stages)
            start = time.perf_counter()
            compiled = dagc.compile(MatMul(), (ta, tb))
            build = time.perf_counter() - start
            runs = args.runs if label == "dagc" else 3
            sec = median_seconds(lambda: compiled(a, b), runs, 1 if runs == 3 else 3)
            # The reference after the timing: BLAS threads spin-wait after a call
            # and would take the cores from dagc's team.
            ref = a @ b
            err = float(np.abs(compiled(a, b) - ref).max() / max(1.0, np.abs(ref).max()))
            results[label] = (sec, build, err)
        results["numpy"] = (median_seconds(lambda: a @ b, args.runs), 0.0, 0.0)
        results["torch"] = (median_seconds(lambda: torch.mm(ta, tb), args.runs), 0.0, 0.0)
        for label, (sec, build, err) in results.items():
            gf = flops / sec / 1e9
            rows.append((n, label, sec * 1e3, gf, 100 * gf / peak, 100 * gf / core_peak,
                         build, err, sec / results["torch"][0]))
    use_stages(original)
    print(f"{'n':>5} {'impl':<11} {'ms':>9} {'GFLOP/s':>8} {'%peak':>6} {'%core':>6} "
          f"{'compile s':>9} {'rel err':>8} {'vs torch':>8}")
    for n, label, ms, gf, pct, pct_core, build, err, ratio in rows:
        print(f"{n:>5} {label:<11} {ms:>9.3f} {gf:>8.1f} {pct:>6.1f} {pct_core:>6.1f} "
              f"{build:>9.2f} {err:>8.1e} {ratio:>7.2f}x")
    print(f"%peak: of all {cores} cores; %core: of one core (every impl uses "
          f"{args.threads} threads). "
          "vs torch: time / torch's time.")


if __name__ == "__main__":
    main()
