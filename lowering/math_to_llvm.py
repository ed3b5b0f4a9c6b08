"""
`convert-math-to-llvm`: the math dialect -> the llvm dialect.

A math op with an LLVM intrinsic becomes that intrinsic (as MLIR's MathToLLVM
does); one without becomes a call to the C library's libm function of the operand's
precision (`erff` for f32, `erf` for f64, as MLIR's MathToLibm does), declared in the
module; an f16/bf16 operand is extended to f32 for the call and the result
truncated back. IEEE NaN/inf behaviour is the intrinsic's or libm's: nothing is
approximated. `math.rsqrt` becomes `1 / sqrt(x)`.
"""

from dataclasses import dataclass

from xdsl.dialects import llvm, math
from xdsl.dialects.builtin import (
    BFloat16Type,
    Float16Type,
    Float32Type,
    Float64Type,
    FloatAttr,
    ModuleOp,
    VectorType,
    f32,
)
from xdsl.ir import Attribute, Operation, SSAValue
from xdsl.pattern_rewriter import (
    PatternRewriter,
    RewritePattern,
    op_type_rewrite_pattern,
)
from xdsl.utils.exceptions import DiagnosticException

from dagc.lowering import llvm_ops
from dagc.lowering.llvm_types import PatternLoweringPass, replace_with_llvm

_UNARY_INTRINSICS: dict[type[Operation], type[Operation]] = {
    math.CeilOp: llvm.FCeilOp,
    math.CosOp: llvm.FCosOp,
    math.Exp2Op: llvm.FExp2Op,
    math.ExpOp: llvm.FExpOp,
    math.FloorOp: llvm.FFloorOp,
    math.Log10Op: llvm_ops.FLog10Op,
    math.Log2Op: llvm.FLog2Op,
    math.LogOp: llvm.FLogOp,
    math.RoundEvenOp: llvm_ops.FRoundEvenOp,
    math.RoundOp: llvm_ops.FRoundOp,
    math.SinOp: llvm.FSinOp,
    math.SqrtOp: llvm.FSqrtOp,
    math.TanhOp: llvm_ops.FTanhOp,
    math.TruncOp: llvm_ops.FTruncOp,
}

_BINARY_INTRINSICS: dict[type[Operation], type[Operation]] = {
    math.CopySignOp: llvm.FCopySignOp,
    math.PowFOp: llvm.FPowOp,
}

_INTEGER_INTRINSICS: dict[type[Operation], type[Operation]] = {
    math.AbsIOp: llvm_ops.AbsOp,
    math.CountLeadingZerosOp: llvm_ops.CountLeadingZerosOp,
    math.CountTrailingZerosOp: llvm_ops.CountTrailingZerosOp,
    math.CtPopOp: llvm_ops.CtPopOp,
}

LIBM_FUNCTIONS: dict[type[Operation], str] = {
    math.AcosOp: "acos",
    math.AcoshOp: "acosh",
    math.AsinOp: "asin",
    math.AsinhOp: "asinh",
    math.Atan2Op: "atan2",
    math.AtanOp: "atan",
    math.AtanhOp: "atanh",
    math.CbrtOp: "cbrt",
    math.CoshOp: "cosh",
    math.ErfOp: "erf",
    math.ExpM1Op: "expm1",
    math.Log1pOp: "log1p",
    math.SinhOp: "sinh",
    math.TanOp: "tan",
}
"""The math ops lowered to libm calls, by the double-precision function's name."""


def _fastmath(op: Operation) -> llvm.FastMathAttr:
    fastmath = op.properties.get("fastmath")
    assert isinstance(fastmath, math.FastMathFlagsAttr)
    return llvm.FastMathAttr(fastmath.data)


class UnaryIntrinsicLowering(RewritePattern):
    """A unary math op with an LLVM intrinsic -> `llvm.intr.*`."""

    @op_type_rewrite_pattern
    def match_and_rewrite(
        self,
        op: math.CeilOp
        | math.CosOp
        | math.Exp2Op
        | math.ExpOp
        | math.FloorOp
        | math.Log10Op
        | math.Log2Op
        | math.LogOp
        | math.RoundEvenOp
        | math.RoundOp
        | math.SinOp
        | math.SqrtOp
        | math.TanhOp
        | math.TruncOp,
        rewriter: PatternRewriter,
        /,
    ):
        new_op = _UNARY_INTRINSICS[type(op)](op.operand, fast_math=_fastmath(op))
        replace_with_llvm(rewriter, op, [new_op], new_op.results)


class AbsFOpLowering(RewritePattern):
    """`math.absf` -> `llvm.intr.fabs`."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: math.AbsFOp, rewriter: PatternRewriter, /):
        new_op = llvm.FAbsOp(op.operand, op.result.type, fast_math=_fastmath(op))
        replace_with_llvm(rewriter, op, [new_op], new_op.results)


class BinaryIntrinsicLowering(RewritePattern):
    """`math.copysign`, `math.powf` -> `llvm.intr.copysign`, `llvm.intr.pow`."""

    @op_type_rewrite_pattern
    def match_and_rewrite(
        self, op: math.CopySignOp | math.PowFOp, rewriter: PatternRewriter, /
    ):
        new_op = _BINARY_INTRINSICS[type(op)](op.lhs, op.rhs, fast_math=_fastmath(op))
        replace_with_llvm(rewriter, op, [new_op], new_op.results)


class FmaOpLowering(RewritePattern):
    """`math.fma` -> `llvm.intr.fma` (fused, one rounding)."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: math.FmaOp, rewriter: PatternRewriter, /):
        new_op = llvm.FMAOp(op.a, op.b, op.c, fast_math=_fastmath(op))
        replace_with_llvm(rewriter, op, [new_op], new_op.results)


class FPowIOpLowering(RewritePattern):
    """`math.fpowi` -> `llvm.intr.powi`."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: math.FPowIOp, rewriter: PatternRewriter, /):
        new_op = llvm_ops.FPowIOp(op.lhs, op.rhs, fast_math=_fastmath(op))
        replace_with_llvm(rewriter, op, [new_op], new_op.results)


class RsqrtOpLowering(RewritePattern):
    """`math.rsqrt` -> `1 / llvm.intr.sqrt(x)` (IEEE: rsqrt(0) = inf)."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: math.RsqrtOp, rewriter: PatternRewriter, /):
        float_type = op.result.type
        if isinstance(float_type, VectorType):
            raise DiagnosticException(f"{op.name} on vectors is not supported yet")
        fastmath = _fastmath(op)
        ops: list[Operation] = [
            one := llvm.ConstantOp(FloatAttr(1.0, float_type), float_type),
            sqrt := llvm.FSqrtOp(op.operand, fast_math=fastmath),
            div := llvm.FDivOp(one, sqrt, fast_math=fastmath),
        ]
        replace_with_llvm(rewriter, op, ops, div.results)


class IntegerIntrinsicLowering(RewritePattern):
    """
    `math.absi`, `math.ctlz`, `math.cttz`, `math.ctpop` -> their intrinsics, with
    defined results for INT_MIN and zero (no poison flags).
    """

    @op_type_rewrite_pattern
    def match_and_rewrite(
        self,
        op: math.AbsIOp
        | math.CountLeadingZerosOp
        | math.CountTrailingZerosOp
        | math.CtPopOp,
        rewriter: PatternRewriter,
        /,
    ):
        new_op = _INTEGER_INTRINSICS[type(op)](op.operand)
        replace_with_llvm(rewriter, op, [new_op], new_op.results)


@dataclass
class LibmCallLowering(RewritePattern):
    """
    A math op without an LLVM intrinsic -> a call to libm (`erff`/`erf`, ...),
    declared in `module`.
    """

    module: ModuleOp

    @op_type_rewrite_pattern
    def match_and_rewrite(
        self,
        op: math.AcosOp
        | math.AcoshOp
        | math.AsinOp
        | math.AsinhOp
        | math.Atan2Op
        | math.AtanOp
        | math.AtanhOp
        | math.CbrtOp
        | math.CoshOp
        | math.ErfOp
        | math.ExpM1Op
        | math.Log1pOp
        | math.SinhOp
        | math.TanOp,
        rewriter: PatternRewriter,
        /,
    ):
        result_type = op.results[0].type
        base = LIBM_FUNCTIONS[type(op)]
        match result_type:
            case Float64Type():
                call_type, name = result_type, base
            case Float32Type() | Float16Type() | BFloat16Type():
                call_type, name = f32, base + "f"
            case _:
                raise DiagnosticException(
                    f"{op.name} on {result_type} has no libm function to call"
                )
        ops: list[Operation] = []
        args: list[SSAValue] = []
        for operand in op.operands:
            if operand.type != call_type:
                ops.append(ext := llvm.FPExtOp(operand, call_type))
                operand = ext.result
            args.append(operand)
        inputs: list[Attribute] = [call_type] * len(args)
        llvm_ops.lookup_or_declare_function(self.module, name, inputs, call_type)
        ops.append(call := llvm.CallOp(name, *args, return_type=call_type))
        result = call.returned
        assert result is not None
        if call_type != result_type:
            ops.append(trunc := llvm.FPTruncOp(result, result_type))
            result = trunc.result
        replace_with_llvm(rewriter, op, ops, [result])


@dataclass(frozen=True)
class ConvertMathToLLVMPass(PatternLoweringPass):
    """
    Lower the math dialect to llvm intrinsics and libm calls (see the module
    docstring). `math.ipowi` is not supported and is left in place.
    """

    name = "convert-math-to-llvm"

    def patterns(self, op: ModuleOp) -> list[RewritePattern]:
        return [
            UnaryIntrinsicLowering(),
            AbsFOpLowering(),
            BinaryIntrinsicLowering(),
            FmaOpLowering(),
            FPowIOpLowering(),
            RsqrtOpLowering(),
            IntegerIntrinsicLowering(),
            LibmCallLowering(op),
        ]
