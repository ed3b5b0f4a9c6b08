"""Full-size ResNet-18 (batch 1, 3x224x224) compiled to SPIR-V and run through Vulkan.

    python benchmarks/vulkan_resnet18.py [--model resnet18] [--runs 3] [--device NAME]
        [--workgroup-size 64] [--profile]

Prints the compile time per stage, the Vulkan device, the number of kernels and
dispatches, the median latency of ``--runs`` calls after one warm-up call (the
warm-up also builds the compute pipelines), PyTorch eager's latency on the same
input in the same run (and the ratio; on a CUDA machine also eager on the GPU,
input copied in and output copied back as dagc's call does), and the largest
absolute difference from torch's output. ``--profile`` adds the kernels taking
the most device time, from Vulkan timestamp queries. On lavapipe (Mesa's CPU
Vulkan driver) the kernels run on the CPU cores: expect seconds per call, not a
GPU's milliseconds.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from dagc.benchmarks.gemm import median_seconds


def main(argv: list[str] | None = None) -> None:
    import dagc
    from dagc.compiler.gpu_compile import compile_vulkan, shared_runtime
    from dagc.examples.models import get_model

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--device", default=None, help="Vulkan device name substring")
    parser.add_argument("--workgroup-size", type=int, default=64)
    parser.add_argument("--profile", action="store_true",
                        help="time each dispatch on the device (timestamp queries)")
    args = parser.parse_args(argv)

    model, inputs = get_model(args.model)
    model.eval()
    start = time.perf_counter()
    m = dagc.import_torch(model, inputs)
    print(f"import: {time.perf_counter() - start:.2f} s")
    compiled = compile_vulkan(m, workgroup_size=args.workgroup_size, device=args.device)
    for r in compiled.stages:
        print(f"  {r.name:<70} {r.seconds:7.2f} s")
    print(f"device: {shared_runtime(args.device).device_name}")
    table = compiled.program.subgraphs[0].executable.table
    print(f"kernels: {compiled.kernels}, dispatches per call: {len(table.kernels)}, "
          f"buffers: {len(table.buffers)}")
    x = inputs[0]
    start = time.perf_counter()
    y = compiled(x)
    print(f"first call (pipelines built): {time.perf_counter() - start:.2f} s")
    with torch.no_grad():
        ref = model(*inputs)
    err = float((y - ref).abs().max())
    vulkan = median_seconds(lambda: compiled(x), args.runs, warmup=1)

    def eager():
        with torch.no_grad():
            model(x)

    eager()
    torch_s = median_seconds(eager, max(args.runs, 5), warmup=1)
    rows = [("vulkan", vulkan), ("torch", torch_s)]
    if torch.cuda.is_available():  # a GPU machine: torch eager on that GPU too
        model_gpu = model.cuda()

        def eager_cuda():  # input copied in, output back (synchronizes), as dagc's call
            with torch.no_grad():
                model_gpu(x.cuda()).cpu()

        rows.append(("torch-cuda", median_seconds(eager_cuda, max(args.runs, 5), warmup=2)))
    print(f"{'impl':<10} {'median latency':>15} {'/ torch':>9}")
    for name, seconds in rows:
        print(f"{name:<10} {seconds * 1e3:12.2f} ms {seconds / torch_s:9.2f}")
    if args.profile:
        executable = compiled.program.subgraphs[0].executable
        print_profile(executable.profile([x.numpy()], args.runs), vulkan,
                      table=executable.table)
    print(f"max |vulkan - torch| = {err:.2e} (max |torch| = {float(ref.abs().max()):.2e})")
    if not np.isfinite(err) or err > 1e-3 * max(1.0, float(ref.abs().max())):
        raise SystemExit("the Vulkan output does not match torch")


def print_profile(dispatches: list[tuple[str, float]], call_seconds: float, top: int = 12,
                  table=None) -> None:
    """A table of the kernels taking the most device time (summed over their
    dispatches), with their share of the device total, and the device total
    against the call's latency (the rest: submission, waiting, copies in Python)."""
    by_kernel: dict[str, list[float]] = {}
    for name, seconds in dispatches:
        by_kernel.setdefault(name, []).append(seconds)
    total = sum(t for _, t in dispatches)
    print(f"device time {total * 1e3:.2f} ms of {call_seconds * 1e3:.2f} ms per call "
          f"({len(dispatches)} dispatches)")
    grid = {k.name: (k.workgroups, k.local_size) for k in table.kernels} if table else {}
    print(f"{'kernel':<24} {'workgroups x local size':<28} {'dispatches':>10} {'ms':>8} "
          f"{'share':>6}")
    ranked = sorted(by_kernel.items(), key=lambda kv: -sum(kv[1]))
    for name, times in ranked[:top]:
        groups, local = grid.get(name, ((), ()))
        shape = f"{'x'.join(map(str, groups))} x {'x'.join(map(str, local))}" if groups else ""
        print(f"{name[:24]:<24} {shape:<28} {len(times):>10} {sum(times) * 1e3:8.3f} "
              f"{sum(times) / total:6.1%}")


if __name__ == "__main__":
    main()
