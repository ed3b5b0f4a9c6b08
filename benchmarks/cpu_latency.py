"""CPU latency, throughput, peak memory and compile time of dagc against PyTorch
eager and ONNX Runtime, from one run.

    python -m dagc.benchmarks.cpu_latency [--models resnet18,resnet50,mobilenet_v2,vit_small]
        [--batches 1,8] [--runs 30] [--threads 2]

For each model and batch size (224x224 f32 images), every measurement runs in a
fresh Python process, so that caches, thread pools and memory high-water marks do
not leak from one implementation into another:

- ``dagc compile cold``: ``dagc.compile`` from the torch model to a callable with an
  empty kernel cache (``DAGC_CACHE_DIR`` set to a new folder); the artifact is saved.
- ``dagc compile warm``: the same, in a new process, with the cache the cold
  compile filled.
- ``dagc``: the saved artifact loaded with ``dagc.runtime.load`` and run
  (``DAGC_NUM_THREADS=--threads``).
- ``torch``: eager PyTorch under ``torch.inference_mode()``, ``--threads`` threads.
- ``ort``: ONNX Runtime's CPU provider on ``dagc.export_onnx`` of the imported
  model, ``--threads`` intra-op threads (its compile time is session creation).

The three run processes are repeated in ``--rounds`` alternating rounds (3), and the
round of lowest latency is kept for each: on a shared host the speed of the same
code moves by tens of percent from one process to the next, often for the whole
process (the host's other tenants; the cause is not measured here), and
alternating gives each implementation the same chances. Latency is the median of
``--runs`` calls after warm-up (ms); GFLOP/s is the model's FLOPs (``dagc.stats``:
2 per MAC) over it. Peak memory is the growth of the
process's resident set from just before the model (or artifact, or session) is
loaded to the high-water mark after the timed runs (``VmHWM``), in MiB: it
counts weights, intermediates and the runtime's own buffers, not the Python
interpreter or the imported libraries (the largest of the rounds). Ratios are
against torch and ORT of the same run. The maximum absolute difference from eager
torch is printed for each.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np


def _status_mib(field: str) -> float:
    """A ``kB`` field of ``/proc/self/status`` (``VmRSS``, ``VmHWM``), in MiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise KeyError(field)


def _reset_peak() -> float:
    """Reset this process's resident-set high-water mark (``VmHWM``) to its current
    size (Linux: ``/proc/self/clear_refs``); returns that size, MiB. ``ru_maxrss``
    would not do: Linux carries it over from the parent across fork and exec."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    return _status_mib("VmRSS")


def _worker(task: str, folder: str, name: str, batch: int, runs: int, threads: int) -> dict:
    """One measurement in this (fresh) process; returns a JSON-able dict."""
    import torch

    torch.set_num_threads(threads)
    from dagc.benchmarks.gemm import median_seconds

    x = np.load(os.path.join(folder, "input.npy"))
    ref = np.load(os.path.join(folder, "ref.npy"))
    artifact = os.path.join(folder, "artifact")
    onnx_path = os.path.join(folder, "model.onnx")
    result: dict = {}
    if task == "compile":
        import dagc
        from dagc.examples.models import get_model

        model, _ = get_model(name)
        start = time.perf_counter()
        compiled = dagc.compile(model.eval(), (torch.from_numpy(x),))
        result["compile_s"] = time.perf_counter() - start
        result["err"] = float(np.abs(compiled(x) - ref).max())
        if not os.path.exists(artifact):
            compiled.save(artifact)
        return result
    if task == "export":
        import dagc
        from dagc.examples.models import get_model

        model, _ = get_model(name)
        dagc.export_onnx(dagc.import_torch(model.eval(), (torch.from_numpy(x),)), onnx_path)
        return result
    base = _reset_peak()
    if task == "dagc":
        import dagc.runtime

        start = time.perf_counter()
        run = dagc.runtime.load(artifact)
        result["compile_s"] = time.perf_counter() - start
        fn = lambda: run(x)  # noqa: E731
    elif task == "torch":
        from dagc.examples.models import get_model

        model, _ = get_model(name)
        model.eval()
        tx = torch.from_numpy(x)

        def fn():
            with torch.inference_mode():
                return model(tx).numpy()
    elif task == "ort":
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        start = time.perf_counter()
        session = ort.InferenceSession(onnx_path, options, providers=["CPUExecutionProvider"])
        result["compile_s"] = time.perf_counter() - start
        feed = {session.get_inputs()[0].name: x}
        fn = lambda: session.run(None, feed)[0]  # noqa: E731
    else:
        raise ValueError(f"unknown task {task!r}")
    result["err"] = float(np.abs(np.asarray(fn()) - ref).max())
    result["ms"] = median_seconds(fn, runs, 3) * 1e3
    result["peak_mib"] = _status_mib("VmHWM") - base
    return result


def _run(task: str, folder: str, name: str, batch: int, runs: int, threads: int,
         env: dict[str, str]) -> dict:
    """Run one measurement in a fresh interpreter; raises RuntimeError on failure."""
    cmd = [sys.executable, "-m", "dagc.benchmarks.cpu_latency", "--worker", task,
           "--folder", folder, "--models", name, "--batches", str(batch),
           "--runs", str(runs), "--threads", str(threads)]
    done = subprocess.run(cmd, env={**os.environ, **env}, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{task} on {name} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def bench(name: str, batch: int, runs: int, threads: int, rounds: int = 3) -> list[dict]:
    """Rows for one model and batch size (see the module docstring): ``rounds``
    alternating rounds of the dagc, torch and ort processes."""
    import torch

    import dagc
    from dagc.examples.models import get_model

    model, inputs = get_model(name)
    model.eval()
    x = inputs[0].repeat(batch, *([1] * (inputs[0].dim() - 1)))
    with torch.inference_mode():
        ref = model(x).numpy()
    gflop = dagc.stats(dagc.import_torch(model, (x,))).flops / 1e9
    rows = []
    env = {"DAGC_NUM_THREADS": str(threads), "OMP_NUM_THREADS": str(threads)}
    with tempfile.TemporaryDirectory(prefix="dagc-bench-") as folder:
        np.save(os.path.join(folder, "input.npy"), x.numpy())
        np.save(os.path.join(folder, "ref.npy"), ref)
        env["DAGC_CACHE_DIR"] = os.path.join(folder, "cache")
        cold = _run("compile", folder, name, batch, runs, threads, env)
        warm = _run("compile", folder, name, batch, runs, threads, env)
        _run("export", folder, name, batch, runs, threads, env)
        results: dict[str, list[dict]] = {"dagc": [], "torch": [], "ort": []}
        for _ in range(rounds):
            for task, done in results.items():
                done.append(_run(task, folder, name, batch, runs, threads, env))
        for task, done in results.items():
            r = {**min(done, key=lambda r: r["ms"]),
                 "peak_mib": max(r["peak_mib"] for r in done),
                 "err": max(r["err"] for r in done)}
            if task == "dagc":
                r.update(cold=cold["compile_s"], warm=warm["compile_s"])
            rows.append({"model": name, "batch": batch, "impl": task, "gflop": gflop, **r})
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="resnet18,resnet50,mobilenet_v2,vit_small")
    parser.add_argument("--batches", default="1,8")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3,
                        help="alternating rounds of fresh dagc, torch and ort processes")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(_worker(args.worker, args.folder, args.models, int(args.batches),
                                 args.runs, args.threads)))
        return
    rows = []
    for name in args.models.split(","):
        for batch in map(int, args.batches.split(",")):
            rows.extend(bench(name, batch, args.runs, args.threads, args.rounds))
            print(f"measured {name} batch {batch}", file=sys.stderr)
    print(f"threads {args.threads}; ms: the best of {args.rounds} alternating rounds, each the "
          f"median of {args.runs} runs; compile: dagc cold / warm "
          "(torch model to callable), ort session creation")
    print(f"{'model':<13} {'b':>2} {'impl':<5} {'compile s':>12} {'ms':>8} {'GFLOP/s':>8} "
          f"{'vs torch':>8} {'vs ort':>7} {'peak MiB':>9} {'max err':>8}")
    for r in rows:
        same = [q for q in rows if q["model"] == r["model"] and q["batch"] == r["batch"]]
        torch_ms = next(q["ms"] for q in same if q["impl"] == "torch")
        ort_ms = next(q["ms"] for q in same if q["impl"] == "ort")
        if r["impl"] == "dagc":
            build = f"{r['cold']:.1f}/{r['warm']:.1f}"
        else:
            build = f"{r.get('compile_s', 0.0):.2f}"
        print(f"{r['model']:<13} {r['batch']:>2} {r['impl']:<5} {build:>12} {r['ms']:>8.2f} "
              f"{r['gflop'] / r['ms'] * 1e3:>8.1f} {r['ms'] / torch_ms:>7.2f}x "
              f"{r['ms'] / ort_ms:>6.2f}x {r['peak_mib']:>9.1f} {r['err']:>8.1e}")


if __name__ == "__main__":
    main()
