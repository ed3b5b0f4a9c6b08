"""`dagc-math-approximation`: f32 `math.exp`, `math.erf` and `math.tanh` -> arith
polynomials that LLVM can vectorize.

`convert-math-to-llvm` turns these ops into calls of libm (`expf`, `erff`,
`tanhf`), one call per element: a loop holding a call is not vectorized, and GELU,
SiLU, sigmoid and softmax kernels then run at a few ns per element. As MLIR's
`math-polynomial-approximation` (`populateMathPolynomialApproximationPatterns`),
this pass expands each f32 op into `arith` / `math.floor` ops only:

- `exp(x)`: the Cephes `expf` scheme (S. L. Moshier, Cephes Math Library): `n =
  floor(x log2(e) + 1/2)`, `r = x - n ln 2` with ln 2 split in two constants
  (Cody and Waite), `exp(r) = 1 + r + r^2 P(r)` with a degree-5 P, times `2^n` built
  from the exponent bits as `2^(n >> 1) * 2^(n - (n >> 1))`, so that every result
  from the smallest subnormal to the largest float is reached. `x > 88.7228...`
  gives `+inf`, `x < -103.97...` gives 0, NaN stays NaN. Within 1 ulp of torch's
  `exp` on a sweep of [-120, 120] (the tests allow 2).
- `erf(x)`: `x P(x^2) / Q(x^2)` on `x` clamped to [-4, 4] (odd degree-13 P, degree-8
  Q; Eigen's `generic_fast_erf_float`, after the minimax fit of XLA's `ErfImpl32`).
  Absolute error below 4e-7 on a sweep of [-120, 120]; NaN stays NaN.
- `tanh(x)`: `x P(x^2) / Q(x^2)` on `x` clamped to [-7.9053, 7.9053] (odd degree-13 P,
  degree-6 Q; Eigen's `generic_fast_tanh_float`), `x` itself for `|x| < 4e-4`.
  Absolute error below 4e-7 on the same sweep; NaN stays NaN.

Other element types (f16, f64, vectors) and other math ops are left to
`convert-math-to-llvm`. Place: in the CPU pipeline before `convert-to-llvm` (the
SPIR-V lowering keeps the GLSL extended instructions).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import arith, math
from xdsl.dialects.builtin import Float32Type, FloatAttr, IntegerAttr, ModuleOp, f32, i32
from xdsl.ir import Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    PatternRewriter,
    RewritePattern,
    op_type_rewrite_pattern,
)

from dagc.lowering.pattern_dispatch import apply_patterns


class _Emitter:
    """Collects the scalar f32/i32 ops of one expansion, in order."""

    def __init__(self) -> None:
        self.ops: list[Operation] = []

    def _add(self, op: Operation) -> SSAValue:
        self.ops.append(op)
        return op.results[0]

    def f(self, value: float) -> SSAValue:
        return self._add(arith.ConstantOp(FloatAttr(value, f32)))

    def i(self, value: int) -> SSAValue:
        return self._add(arith.ConstantOp(IntegerAttr(value, i32)))

    def add(self, a: SSAValue, b: SSAValue) -> SSAValue:
        return self._add(arith.AddfOp(a, b))

    def sub(self, a: SSAValue, b: SSAValue) -> SSAValue:
        return self._add(arith.SubfOp(a, b))

    def mul(self, a: SSAValue, b: SSAValue) -> SSAValue:
        return self._add(arith.MulfOp(a, b))

    def div(self, a: SSAValue, b: SSAValue) -> SSAValue:
        return self._add(arith.DivfOp(a, b))

    def clamp(self, x: SSAValue, lo: float, hi: float) -> SSAValue:
        """``min(max(x, lo), hi)``; NaN propagates (arith's maximumf/minimumf)."""
        return self._add(arith.MinimumfOp(self._add(arith.MaximumfOp(x, self.f(lo))), self.f(hi)))

    def cmp(self, predicate: str, a: SSAValue, b: SSAValue) -> SSAValue:
        return self._add(arith.CmpfOp(a, b, predicate))

    def select(self, cond: SSAValue, a: SSAValue, b: SSAValue) -> SSAValue:
        return self._add(arith.SelectOp(cond, a, b))

    def horner(self, x: SSAValue, coefficients: Sequence[float]) -> SSAValue:
        """``c[0] x^(n-1) + ... + c[n-1]`` by Horner's rule."""
        acc = self.f(coefficients[0])
        for c in coefficients[1:]:
            acc = self.add(self.mul(acc, x), self.f(c))
        return acc

    def pow2(self, n: SSAValue) -> SSAValue:
        """``2^n`` for an i32 ``n`` in [-126, 127], from the exponent bits."""
        biased = self._add(arith.AddiOp(n, self.i(127)))
        bits = self._add(arith.ShLIOp(biased, self.i(23)))
        return self._add(arith.BitcastOp(bits, f32))

    def rational_odd(self, x: SSAValue, p: Sequence[float], q: Sequence[float]) -> SSAValue:
        """``x P(x^2) / Q(x^2)`` (coefficients from the highest power down)."""
        x2 = self.mul(x, x)
        return self.div(self.mul(x, self.horner(x2, p)), self.horner(x2, q))


LOG2E = 1.44269504088896341
LN2_HI, LN2_LO = 0.693359375, -2.12194440e-4
EXP_P = (1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2,
         1.6666665459e-1, 5.0000001201e-1)
EXP_OVERFLOW = 88.72283935546875  # above: +inf (log of the largest float)
EXP_UNDERFLOW = -103.97207708  # below: 0 (log of the smallest subnormal / 2)

ERF_P = (-2.72614225801306e-10, 2.77068142495902e-08, -2.10102402082508e-06,
         -5.69250639462346e-05, -7.34990630326855e-04, -2.95459980854025e-03,
         -1.60960333262415e-02)
ERF_Q = (-1.45660718464996e-05, -2.13374055278905e-04, -1.68282697438203e-03,
         -7.37332916720468e-03, -1.42647390514189e-02)

TANH_P = (-2.76076847742355e-16, 2.00018790482477e-13, -8.60467152213735e-11,
          5.12229709037114e-08, 1.48572235717979e-05, 6.37261928875436e-04,
          4.89352455891786e-03)
TANH_Q = (1.19825839466702e-06, 1.18534705686654e-04, 2.26843463243900e-03,
          4.89352518554385e-03)
TANH_CLAMP = 7.90531110763549805
TANH_TINY = 0.0004


def expand_exp(e: _Emitter, x: SSAValue) -> SSAValue:
    """``exp(x)`` for an f32 ``x`` (see the module docstring)."""
    xc = e.clamp(x, EXP_UNDERFLOW, EXP_OVERFLOW)
    n = e._add(math.FloorOp(e.add(e.mul(xc, e.f(LOG2E)), e.f(0.5))))
    r = e.sub(e.sub(xc, e.mul(n, e.f(LN2_HI))), e.mul(n, e.f(LN2_LO)))
    y = e.add(e.add(e.mul(e.horner(r, EXP_P), e.mul(r, r)), r), e.f(1.0))
    ni = e._add(arith.FPToSIOp(n, i32))
    half = e._add(arith.ShRSIOp(ni, e.i(1)))
    rest = e._add(arith.SubiOp(ni, half))
    result = e.mul(e.mul(y, e.pow2(half)), e.pow2(rest))
    result = e.select(e.cmp("ogt", x, e.f(EXP_OVERFLOW)), e.f(float("inf")), result)
    result = e.select(e.cmp("olt", x, e.f(EXP_UNDERFLOW)), e.f(0.0), result)
    return e.select(e.cmp("uno", x, x), x, result)


def expand_erf(e: _Emitter, x: SSAValue) -> SSAValue:
    """``erf(x)`` for an f32 ``x`` (see the module docstring)."""
    return e.rational_odd(e.clamp(x, -4.0, 4.0), ERF_P, ERF_Q)


def expand_tanh(e: _Emitter, x: SSAValue) -> SSAValue:
    """``tanh(x)`` for an f32 ``x`` (see the module docstring)."""
    ratio = e.rational_odd(e.clamp(x, -TANH_CLAMP, TANH_CLAMP), TANH_P, TANH_Q)
    absx = e._add(math.AbsFOp(x))
    return e.select(e.cmp("olt", absx, e.f(TANH_TINY)), x, ratio)


EXPANSIONS = {math.ExpOp: expand_exp, math.ErfOp: expand_erf, math.TanhOp: expand_tanh}
"""Op class -> ``fn(emitter, x) -> value`` building its f32 approximation."""


class ApproximateMath(RewritePattern):
    """A scalar f32 op of :data:`EXPANSIONS` -> its arith expansion."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: math.ExpOp | math.ErfOp | math.TanhOp,
                          rewriter: PatternRewriter, /):
        if not isinstance(op.result.type, Float32Type):
            return
        e = _Emitter()
        value = EXPANSIONS[type(op)](e, op.operand)
        rewriter.replace(op, e.ops, [value])


@dataclass(frozen=True)
class MathApproximationPass(ModulePass):
    """Expand f32 exp/erf/tanh into vectorizable arith polynomials (see the module
    docstring for the algorithms and their errors)."""

    name = "dagc-math-approximation"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        apply_patterns(op, [ApproximateMath()])
