"""CPU latency of dagc against PyTorch eager and ONNX Runtime (batch 1, 224x224).

    python -m dagc.benchmarks.cpu_latency [--models resnet18,mobilenet_v2]
        [--runs 30] [--threads 2] [--naive]

For each model, from one run: compile time (dagc: import + every stage + LLVM;
ORT: ``dagc.export_onnx`` of the imported module + session creation) and the median
latency of ``--runs`` calls after warm-up, for

- ``dagc``: ``dagc.compile`` with the ``dagc-linalg-to-microkernels`` stage
  (register-blocked vector GEMM / im2col convolutions; single-threaded);
- ``dagc naive`` (``--naive``): the plain loop nests, as before that stage
  (timed with 3 runs: each takes seconds);
- ``torch``: eager PyTorch in ``torch.no_grad()``, ``--threads`` threads;
- ``ort``: ONNX Runtime's CPU provider, ``--threads`` intra-op threads;
- ``torch 1t`` / ``ort 1t``: the same on one thread (dagc's kernels are
  single-threaded; on a loaded machine multi-threaded runtimes also suffer most).

Ratios are latency / torch latency. The maximum absolute difference of each output
from torch's is printed too.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np
import torch
from dagc.benchmarks.gemm import fast_stages, median_seconds, naive_stages, use_stages


def median_ms(fn, runs: int, warmup: int) -> float:
    """Median wall time of ``fn()`` over ``runs`` calls after ``warmup`` calls (ms)."""
    return median_seconds(fn, runs, warmup) * 1e3


def bench_model(name: str, runs: int, threads: int, naive: bool) -> list[tuple]:
    """Rows ``(model, impl, compile s, median ms, max abs err)`` for one model."""
    import dagc
    from dagc.compiler.compile import CPU_STAGES
    from dagc.examples.models import get_model

    model, inputs = get_model(name)
    model.eval()
    x = inputs[0]
    with torch.no_grad():
        ref = model(*inputs).numpy()
    rows = []
    variants = [("dagc", fast_stages())]
    if naive:
        variants.append(("dagc naive", naive_stages()))
    original = tuple(CPU_STAGES)
    for label, stages in variants:
        use_stages(stages)
        try:
            start = time.perf_counter()
            compiled = dagc.compile(model, inputs)
            build = time.perf_counter() - start
        finally:
            use_stages(original)
        arr = x.numpy()
        err = float(np.abs(compiled(arr) - ref).max())
        n = runs if label == "dagc" else 3
        rows.append((name, label, build, median_ms(lambda: compiled(arr), n, 3 if n > 3 else 1), err))

    def eager():
        with torch.no_grad():
            model(x)

    import onnxruntime as ort

    counts = [threads] if threads == 1 else [threads, 1]
    for count in counts:
        suffix = "" if count == threads else f" {count}t"
        torch.set_num_threads(count)
        rows.append((name, "torch" + suffix, 0.0, median_ms(eager, runs, 5), 0.0))
        start = time.perf_counter()
        module = dagc.import_torch(model, inputs)
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, f"{name}.onnx")
            dagc.export_onnx(module, path)
            options = ort.SessionOptions()
            options.intra_op_num_threads = count
            options.inter_op_num_threads = 1
            session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        build = time.perf_counter() - start
        feed = {session.get_inputs()[0].name: x.numpy()}
        err = float(np.abs(session.run(None, feed)[0] - ref).max())
        rows.append((name, "ort" + suffix, build,
                     median_ms(lambda: session.run(None, feed), runs, 5), err))
    torch.set_num_threads(threads)
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="resnet18,mobilenet_v2")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--naive", action="store_true",
                        help="also time the plain loop nests (slow)")
    args = parser.parse_args(argv)
    rows = []
    for name in args.models.split(","):
        rows.extend(bench_model(name, args.runs, args.threads, args.naive))
    print(f"{'model':<14} {'impl':<11} {'compile s':>9} {'median ms':>10} "
          f"{'vs torch':>8} {'vs ort':>7} {'max err':>8}")
    for name, label, build, ms, err in rows:
        torch_ms = next(r[3] for r in rows if r[0] == name and r[1] == "torch")
        ort_ms = next(r[3] for r in rows if r[0] == name and r[1] == "ort")
        print(f"{name:<14} {label:<11} {build:>9.2f} {ms:>10.2f} {ms / torch_ms:>7.2f}x "
              f"{ms / ort_ms:>6.2f}x {err:>8.1e}")


if __name__ == "__main__":
    main()
