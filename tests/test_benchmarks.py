"""The benchmarks still run and measure what they say (on a small model, few runs):
their figures are not checked here, only that every implementation ran, matched
torch and reported a time, a rate and a memory figure."""

import re

import pytest

from dagc.benchmarks import cpu_latency, gemm, profile


def test_cpu_latency_rows(capsys):
    cpu_latency.main(["--models", "resnet18_small", "--batches", "1", "--runs", "2",
                      "--threads", "1", "--rounds", "2"])
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
    rows = [line.split() for line in table if line.strip()]
    assert len(rows) == kernels
    assert "conv2d" in out
    peak = float(re.search(r"FMA peak (\d+) GFLOP/s", out).group(1))
    for row in rows:  # %peak is GFLOP/s over the peak of the same run
        assert float(row[-1].rstrip("%")) == pytest.approx(
            100 * float(row[-2]) / peak, rel=0.02, abs=0.2)


def test_gemm_rows(capsys):
    """Every implementation and size has a row; its rate is its time's (2 n^3
    flops, to the printed digits) and dagc's result matches numpy's."""
    gemm.main(["--sizes", "128,200", "--runs", "2", "--rounds", "2", "--threads", "2"])
    out = capsys.readouterr().out
    assert re.search(r"one core \d+ GFLOP/s, 2 threads at once \d+ GFLOP/s", out)
    rows = [line.split() for line in out.splitlines() if re.match(r"\s*\d+ ", line)]
    assert [(r[0], r[1]) for r in rows] == [
        (n, impl) for n in ("128", "200") for impl in ("dagc", "numpy", "torch")]
    for r in rows:
        n, ms, gflops, err = int(r[0]), float(r[2]), float(r[3]), float(r[7])
        assert ms > 0 and err < 1e-5
        assert gflops == pytest.approx(2 * n ** 3 / ms / 1e6, rel=0.1, abs=0.1)
