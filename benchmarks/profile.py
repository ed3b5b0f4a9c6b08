"""Where a compiled model's time goes: every kernel timed on its own.

    python -m dagc.benchmarks.profile [--model resnet18] [--batch 1] [--runs 20]
        [--top 25]

The model is imported and compiled as ``dagc.compile`` does (same dag-level
pipeline, same stages), except that the kernel functions made by
``dagc-outline-kernels`` are kept public, so each one can be called from Python
with its own buffers (random normal inputs, zeroed out-parameters). Each kernel's
median time over ``--runs`` calls is multiplied by the number of calls the entry
makes to it. The table lists, per kernel: the op kinds it holds, its calls, the time
per call and in total (ms), its share of the sum, its FLOPs per call and achieved
GFLOP/s (FLOPs as :func:`dagc.stats` counts them: 2 per MAC: a Winograd
convolution's are the direct convolution's, 2.25x the multiplies it does) and that
rate as a share of the FMA peak of the threads the kernels use, measured in the
same run (:func:`dagc.benchmarks.gemm.measured_peak`, before and after the kernels,
the larger kept). The whole entry is timed too; entry minus the sum of kernels is
the time spent between kernels (allocation of intermediates, calls, cold caches).
"""

from __future__ import annotations

import argparse
from collections import Counter

import numpy as np


def _kernel_rows(model_name: str, batch: int, runs: int):
    """``(rows, entry ms, peak GFLOP/s)``; a row is ``(kernel, ops, calls, ms per
    call, flops)``."""
    from xdsl.dialects.func import CallOp, FuncOp

    import dagc
    from dagc.benchmarks.gemm import measured_peak, median_seconds
    from dagc.compiler import compile as compile_module
    from dagc.compiler.compile import CPU_STAGES, HOISTED, hoist_entry, lower
    from dagc.dialects import dag
    from dagc.examples.models import get_model
    from dagc.lowering.llvm_to_llvmir import translate_to_llvmir
    from dagc.passes.analysis import op_cost
    from dagc.runtime.cpu import CpuModule, get_num_threads, specs_from_signature

    model, inputs = get_model(model_name)
    model.eval()
    inputs = [x.repeat(batch, *([1] * (x.dim() - 1))) for x in inputs]
    module = dagc.import_torch(model, inputs)
    pipeline = getattr(compile_module, "DEFAULT_PIPELINE", "")
    if pipeline:
        from dagc.compiler.pipeline import run_pipeline

        module = run_pipeline(module, pipeline)
    hoisted, _, _ = hoist_entry(module, CPU_STAGES[:HOISTED])
    outlined, _ = lower(hoisted, CPU_STAGES[HOISTED:HOISTED + 1])

    calls: Counter[str] = Counter()
    for op in outlined.forward.body.block.ops:
        if isinstance(op, CallOp):
            calls[op.callee.string_value()] += 1
    kinds, flops = {}, {}
    for func in outlined.op.body.ops:
        if isinstance(func, FuncOp) and func.sym_name.data in calls:
            func.sym_visibility = None  # public: callable from Python
            # Outlining inlines a fused region: the kernel's body holds its ops.
            ops = [o for o in func.body.block.ops if isinstance(o, dag.DagOp)
                   and not isinstance(o, dag.ConstantOp)]
            kinds[func.sym_name.data] = "+".join(o.name.removeprefix("dag.") for o in ops)
            flops[func.sym_name.data] = sum(op_cost(o)[0] for o in ops)

    bufferized, _ = lower(outlined, CPU_STAGES[HOISTED + 1:CPU_STAGES.index("dagc-bufferize") + 1])
    signatures = {f.sym_name.data: f.function_type for f in bufferized.op.body.ops
                  if isinstance(f, FuncOp) and f.sym_name.data in calls}
    lowered, _ = lower(bufferized, CPU_STAGES[CPU_STAGES.index("dagc-bufferize") + 1:])
    cpu = CpuModule(translate_to_llvmir(lowered.op, lowered.ctx))

    peak = measured_peak(get_num_threads())
    rng = np.random.default_rng(0)
    rows = []
    for name, count in calls.items():
        specs, _ = specs_from_signature(signatures[name])
        fn = cpu.get_function(name, specs)
        args = [rng.standard_normal(s.shape).astype(s.dtype) if s.shape is not None
                else s.dtype.type(1) for s in specs]
        seconds = median_seconds(lambda: fn(*args), runs, 2)
        rows.append((name, kinds[name], count, seconds * 1e3, flops[name]))
    peak = max(peak, measured_peak(get_num_threads()))

    compiled = dagc.compile(model, inputs)
    xs = [x.numpy() for x in inputs]
    entry_ms = median_seconds(lambda: compiled(*xs), runs, 3) * 1e3
    return rows, entry_ms, peak


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--top", type=int, default=25, help="rows to print")
    args = parser.parse_args(argv)
    rows, entry_ms, peak = _kernel_rows(args.model, args.batch, args.runs)
    total = sum(count * ms for _, _, count, ms, _ in rows)
    rows.sort(key=lambda r: -r[2] * r[3])
    print(f"{args.model}, batch {args.batch}: {len(rows)} kernels, sum of kernels "
          f"{total:.2f} ms, whole model {entry_ms:.2f} ms; FMA peak {peak:.0f} GFLOP/s")
    print(f"{'ops':<40} {'calls':>5} {'ms/call':>8} {'ms':>7} {'share':>6} "
          f"{'MFLOP':>8} {'GFLOP/s':>8} {'%peak':>6}")
    by_kind: Counter[str] = Counter()
    for name, kinds, count, ms, flops in rows:
        by_kind[kinds.split("+")[0]] += count * ms
    for name, kinds, count, ms, flops in rows[: args.top]:
        rate = flops / (ms * 1e6) if ms else 0.0
        print(f"{kinds[:40]:<40} {count:>5} {ms:>8.3f} {count * ms:>7.2f} "
              f"{count * ms / total:>6.1%} {flops / 1e6:>8.1f} {rate:>8.1f} "
              f"{rate / peak:>6.1%}")
    print("\nby leading op kind:")
    for kind, ms in by_kind.most_common():
        print(f"  {kind:<24} {ms:>7.2f} ms {ms / total:>6.1%}")


if __name__ == "__main__":
    main()
