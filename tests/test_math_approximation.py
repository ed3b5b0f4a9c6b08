"""`dagc-math-approximation`: the f32 exp/erf/tanh expansions against torch, over
the whole float range (overflow, underflow, subnormals, inf, NaN), and the proof
that they make the elementwise loops vectorizable."""

import re

import numpy as np
import pytest
import torch

import dagc
from dagc.runtime.cpu import CpuModule

SPECIAL = [float("nan"), float("inf"), -float("inf"), 0.0, -0.0, 1e-30, -1e-30, 3e-4,
           88.72, 88.7228, 89.0, -87.5, -100.0, -103.9, -104.0]


def _inputs() -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.cat([torch.linspace(-120, 120, 12001), torch.randn(4000, generator=g) * 3,
                      torch.tensor(SPECIAL)])


class Activations(torch.nn.Module):
    def forward(self, x):
        f = torch.nn.functional
        return torch.stack([torch.exp(x), torch.erf(x), torch.tanh(x), torch.sigmoid(x),
                            f.silu(x), f.gelu(x, approximate="tanh")])


@pytest.fixture(scope="module")
def compiled():
    x = _inputs()
    return dagc.compile(Activations(), (x,)), x


@pytest.mark.parametrize("index,name,max_ulp,max_abs", [
    (0, "exp", 2, 0.0), (1, "erf", None, 4e-7), (2, "tanh", None, 4e-7),
    (3, "sigmoid", None, 1e-7), (4, "silu", None, 1e-6), (5, "gelu_tanh", None, 2e-6),
])
def test_matches_torch(compiled, index, name, max_ulp, max_abs):
    c, x = compiled
    got, ref = c(x.numpy())[index], Activations()(x).numpy()[index]
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
    infinite = np.isinf(ref)
    np.testing.assert_array_equal(got[infinite], ref[infinite])
    finite = np.isfinite(ref)
    err = np.abs(got[finite] - ref[finite])
    if max_ulp is not None:  # relative to the float spacing at the true value
        assert (err <= max_ulp * np.spacing(np.abs(ref[finite]))).all(), name
    else:
        assert err.max() <= max_abs, (name, err.max())


def test_softmax_matches_torch():
    class Softmax(torch.nn.Module):
        def forward(self, v):
            return torch.softmax(v, -1)

    x = torch.randn(8, 100, generator=torch.Generator().manual_seed(1)) * 20
    got = dagc.compile(Softmax(), (x,))(x.numpy())
    np.testing.assert_allclose(got, Softmax()(x).numpy(), rtol=1e-6, atol=1e-7)


def test_exp_reaches_subnormals_and_the_largest_float():
    x = torch.tensor([-100.0, -103.0, 88.5, 88.72])
    c = dagc.compile(type("E", (torch.nn.Module,), {"forward": lambda s, v: torch.exp(v)})(),
                     (x,))
    got, ref = c(x.numpy()), torch.exp(x).numpy()
    assert (got[:2] > 0).all() and (got[:2] < np.finfo(np.float32).tiny).all()
    np.testing.assert_allclose(got, ref, rtol=3e-7, atol=1e-44)


def test_gelu_kernel_is_vectorized():
    """With the expansion the erf loop has no libm call left and LLVM vectorizes it."""
    class Gelu(torch.nn.Module):
        def forward(self, v):
            return torch.nn.functional.gelu(v)

    c = dagc.compile(Gelu(), (torch.randn(4, 256),))
    optimized = CpuModule(c.llvm_ir).llvm_ir
    assert "erff" not in optimized
    assert re.search(r"<(8|16) x float>", optimized)
