"""The benchmarks still run and measure what they say (on a small model, few runs):
their figures are not checked here, only that every implementation ran, matched
torch and reported a time, a rate and a memory figure."""

import re

from dagc.benchmarks import cpu_latency, profile


def test_cpu_latency_rows(capsys):
    cpu_latency.main(["--models", "resnet18_small", "--batches", "1", "--runs", "2",
                      "--threads", "1"])
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines() if line.startswith("resnet18_small")]
    assert [r[2] for r in rows] == ["dagc", "torch", "ort"]
    for r in rows:
        ms, gflops, peak, err = float(r[4]), float(r[5]), float(r[8]), float(r[9])
        assert ms > 0 and gflops > 0 and peak >= 0 and err < 1e-4
    assert re.fullmatch(r"[\d.]+/[\d.]+", rows[0][3])  # compile cold / warm


def test_profile_accounts_for_every_kernel(capsys):
    profile.main(["--model", "resnet18_small", "--runs", "2", "--top", "100"])
    out = capsys.readouterr().out
    kernels = int(re.search(r"(\d+) kernels", out).group(1))
    table = out.split("by leading op kind:")[0].splitlines()[2:]
    assert len([line for line in table if line.strip()]) == kernels
    assert "conv2d" in out
