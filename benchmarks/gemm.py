"""dagc's matmul kernel against numpy and torch sgemm (f32, square, 256..2048).

    python -m dagc.benchmarks.gemm [--sizes 256,512,1024,2048] [--runs 30] [--naive]

For each size: the time of one call (ms), GFLOP/s (``2 n^3`` flops) and the
percentage of the peak of ``--threads`` cores and of one core. The implementations
are timed in ``--rounds`` alternating rounds, each the median of ``--runs`` calls
after warm-up, and the best round is kept: on a shared host the speed of the same
code moves by tens of percent from one moment, or one process, to the next (the
host's other tenants; the cause is not measured here), and alternating gives every
implementation the same chances. The peak is measured
by a loop of 12 independent AVX-512 FMAs (:func:`measured_peak`; the clock under
turbo and load is not knowable from /proc/cpuinfo), on one thread and on
``--threads`` threads at once, before each size and after the last; the largest
of these is the peak (another tenant taking a core for a moment lowers one
measurement: a run measured 248 GFLOP/s on two threads, as much as one core).
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
from functools import cache, partial
from math import inf

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


@cache
def _fma_loop():
    """The ctypes function ``float fma_loop(i64 n, float v)``: ``n`` iterations of
    ``CHAINS`` independent ``<16 x float>`` fused multiply-adds (the register-blocked
    inner loop of a GEMM with no memory traffic), compiled for the host with
    llvmlite. ctypes releases the GIL while it runs."""
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
    fn._module = cpu  # keep the engine (and the code) alive with the function
    return fn


def measured_peak(threads: int = 1, seconds: float = 0.2) -> float:
    """The f32 FMA throughput of ``threads`` cores, in GFLOP/s, measured: the loop of
    :func:`_fma_loop` run on ``threads`` Python threads at once (best of 5 tries of
    about ``seconds`` each), flops of all threads over the wall time. With several
    threads this is the peak the cores reach together (shared clock and power
    limits, other tenants of the host), not the one-core figure times ``threads``."""
    import threading

    fn = _fma_loop()
    n = 1 << 16
    while True:
        start = time.perf_counter()
        fn(n, 1e-9)
        elapsed = time.perf_counter() - start
        if elapsed > seconds / 4:
            break
        n *= 4

    def together() -> float:
        workers = [threading.Thread(target=fn, args=(n, 1e-9)) for _ in range(threads)]
        start = time.perf_counter()
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        return time.perf_counter() - start

    best = min(together() for _ in range(5))
    return threads * n * CHAINS * 16 * 2 / best / 1e9


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
    parser.add_argument("--rounds", type=int, default=3,
                        help="alternating rounds of every implementation; the best "
                             "round's median is kept")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--naive", action="store_true",
                        help="also time the plain loop nest (sizes <= 512)")
    args = parser.parse_args(argv)
    import dagc
    from dagc.compiler.compile import CPU_STAGES

    import dagc.runtime

    torch.set_num_threads(args.threads)
    dagc.runtime.set_num_threads(args.threads)
    # The peaks are measured before each size and after the last, and the largest
    # is kept: a core taken by another tenant for a moment would lower one.
    core_peaks, peaks = [measured_peak(1)], [measured_peak(args.threads)]
    original, fast = tuple(CPU_STAGES), fast_stages()
    rows = []
    for n in [int(s) for s in args.sizes.split(",")]:
        rng = np.random.default_rng(0)
        a = rng.standard_normal((n, n), dtype=np.float32)
        b = rng.standard_normal((n, n), dtype=np.float32)
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        impls: dict[str, tuple] = {}  # label: (fn, runs, warm-up, compile s)
        variants = [("dagc", fast)]
        if args.naive and n <= 512:
            variants.append(("dagc naive", naive_stages()))
        for label, stages in variants:
            use_stages(stages)
            start = time.perf_counter()
            compiled = dagc.compile(MatMul(), (ta, tb))
            build = time.perf_counter() - start
            fast_impl = label == "dagc"
            impls[label] = (partial(compiled, a, b), args.runs if fast_impl else 3,
                            3 if fast_impl else 1, build)
        impls["numpy"] = (partial(np.matmul, a, b), args.runs, 3, 0.0)
        impls["torch"] = (partial(torch.mm, ta, tb), args.runs, 3, 0.0)
        seconds = {label: inf for label in impls}
        for _ in range(args.rounds):
            for label, (fn, runs, warmup, _) in impls.items():
                # BLAS and OpenMP threads spin-wait for a while after a call and
                # would take the cores from the next implementation's threads.
                time.sleep(0.05)
                seconds[label] = min(seconds[label], median_seconds(fn, runs, warmup))
        ref = a @ b
        for label, (fn, _, _, build) in impls.items():
            got = np.asarray(fn())
            err = float(np.abs(got - ref).max() / max(1.0, np.abs(ref).max()))
            rows.append((n, label, seconds[label], build, err,
                         seconds[label] / seconds["torch"]))
        core_peaks.append(measured_peak(1))
        peaks.append(measured_peak(args.threads))
    use_stages(original)
    core_peak, peak = max(core_peaks), max(peaks)
    print(f"peak (measured AVX-512 FMA loop, the largest of {len(peaks)} measurements): "
          f"one core {core_peak:.0f} GFLOP/s, {args.threads} threads at once {peak:.0f} GFLOP/s")
    print(f"{'n':>5} {'impl':<11} {'ms':>9} {'GFLOP/s':>8} {'%peak':>6} {'%core':>6} "
          f"{'compile s':>9} {'rel err':>8} {'vs torch':>8}")
    for n, label, sec, build, err, ratio in rows:
        gf = 2.0 * n ** 3 / sec / 1e9
        print(f"{n:>5} {label:<11} {sec * 1e3:>9.3f} {gf:>8.1f} {100 * gf / peak:>6.1f} "
              f"{100 * gf / core_peak:>6.1f} {build:>9.2f} {err:>8.1e} {ratio:>7.2f}x")
    print(f"ms: the best of {args.rounds} alternating rounds' medians. %peak: of the "
          f"{args.threads}-thread peak; %core: of one core's (every impl uses "
          f"{args.threads} threads). vs torch: time / torch's time.")


if __name__ == "__main__":
    main()
