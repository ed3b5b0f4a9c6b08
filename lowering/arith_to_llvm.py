"""
`convert-arith-to-llvm`: the arith dialect -> the llvm dialect.

Follows MLIR's ArithToLLVM conversion (mlir/lib/Conversion/ArithToLLVM) and, for
`floordivsi`/`ceildivsi`/`ceildivui`, MLIR's arith-expand rewrites
(mlir/lib/Dialect/Arith/Transforms/ExpandOps.cpp). `index` values become `i64`;
fastmath and overflow flags are carried over. Values of types that other edges
convert reach these ops through `builtin.unrealized_conversion_cast`s (see
`llvm_types.py`).
"""

from dataclasses import dataclass

from xdsl.dialects import arith, llvm
from xdsl.dialects.builtin import (
    DenseIntOrFPElementsAttr,
    FloatAttr,
    IntegerAttr,
    IntegerType,
    ModuleOp,
    VectorType,
    i1,
    i64,
)
from xdsl.ir import Operation, SSAValue
from xdsl.pattern_rewriter import (
    PatternRewriter,
    RewritePattern,
    op_type_rewrite_pattern,
)
from xdsl.utils.exceptions import DiagnosticException

from dagc.lowering import llvm_ops
from dagc.lowering.llvm_types import (
    PatternLoweringPass,
    cast_operands,
    convert_type,
    replace_with_llvm,
)

_INTEGER_BINARY_OPS: dict[type[Operation], type[Operation]] = {
    arith.AddiOp: llvm.AddOp,
    arith.SubiOp: llvm.SubOp,
    arith.MuliOp: llvm.MulOp,
    arith.ShLIOp: llvm.ShlOp,
    arith.DivUIOp: llvm.UDivOp,
    arith.DivSIOp: llvm.SDivOp,
    arith.RemUIOp: llvm.URemOp,
    arith.RemSIOp: llvm.SRemOp,
    arith.AndIOp: llvm.AndOp,
    arith.OrIOp: llvm.OrOp,
    arith.XOrIOp: llvm.XOrOp,
    arith.ShRUIOp: llvm.LShrOp,
    arith.ShRSIOp: llvm.AShrOp,
}

_FLOAT_BINARY_OPS: dict[type[Operation], type[Operation]] = {
    arith.AddfOp: llvm.FAddOp,
    arith.SubfOp: llvm.FSubOp,
    arith.MulfOp: llvm.FMulOp,
    arith.DivfOp: llvm.FDivOp,
    arith.MaximumfOp: llvm_ops.FMaximumOp,
    arith.MinimumfOp: llvm_ops.FMinimumOp,
    arith.MaxnumfOp: llvm.VectorFMaxOp,
    arith.MinnumfOp: llvm.VectorFMinOp,
}

_CAST_OPS: dict[type[Operation], type[Operation]] = {
    arith.ExtFOp: llvm.FPExtOp,
    arith.TruncFOp: llvm.FPTruncOp,
    arith.ExtSIOp: llvm.SExtOp,
    arith.ExtUIOp: llvm.ZExtOp,
    arith.TruncIOp: llvm.TruncOp,
    arith.SIToFPOp: llvm.SIToFPOp,
    arith.UIToFPOp: llvm_ops.UIToFPOp,
    arith.FPToSIOp: llvm_ops.FPToSIOp,
    arith.FPToUIOp: llvm_ops.FPToUIOp,
    arith.BitcastOp: llvm.BitcastOp,
}

_MIN_MAX_PREDICATES: dict[type[Operation], str] = {
    arith.MinSIOp: "slt",
    arith.MaxSIOp: "sgt",
    arith.MinUIOp: "ult",
    arith.MaxUIOp: "ugt",
}


def _icmp(lhs: SSAValue, rhs: SSAValue, predicate: str) -> llvm.ICmpOp:
    flag = llvm.ICmpPredicateFlag(predicate)
    return llvm.ICmpOp(lhs, rhs, IntegerAttr(flag.to_int(), i64))


def _overflow(flags: arith.IntegerOverflowAttr) -> llvm.OverflowAttr:
    if not flags.data:
        return llvm.OverflowAttr("none")
    return llvm.OverflowAttr(tuple(llvm.OverflowFlag(f.value) for f in flags.data))


class ConstantOpLowering(RewritePattern):
    """`arith.constant` -> `llvm.mlir.constant` (scalars and dense vectors)."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: arith.ConstantOp, rewriter: PatternRewriter, /):
        value = op.value
        if isinstance(value, DenseIntOrFPElementsAttr) and not isinstance(
            value.type, VectorType
        ):
            raise DiagnosticException(
                f"{op.name} of type {op.result.type} must be bufferized (to a "
                "memref.global) before lowering to llvm"
            )
        if not isinstance(value, IntegerAttr | FloatAttr | DenseIntOrFPElementsAttr):
            raise DiagnosticException(f"cannot lower {op.name} with value {value}")
        new_op = llvm.ConstantOp(value, convert_type(op.result.type))
        replace_with_llvm(rewriter, op, [new_op], new_op.results)


class IntegerBinaryOpLowering(RewritePattern):
    """Integer arithmetic and bitwise ops -> their llvm instruction."""

    @op_type_rewrite_pattern
    def match_and_rewrite(
        self,
        op: arith.AddiOp
        | arith.SubiOp
        | arith.MuliOp
        | arith.ShLIOp
        | arith.DivUIOp
        | arith.DivSIOp
        | arith.RemUIOp
        | arith.RemSIOp
        | arith.AndIOp
        | arith.OrIOp
        | arith.XOrIOp
        | arith.ShRUIOp
        | arith.ShRSIOp,
        rewriter: PatternRewriter,
        /,
    ):
        casts, (lhs, rhs) = cast_operands(op.operands)
        llvm_type = _INTEGER_BINARY_OPS[type(op)]
        if isinstance(op, arith.SignlessIntegerBinaryOperationWithOverflow):
            new_op = llvm_type(lhs, rhs, overflow=_overflow(op.overflow_flags))
        else:
            new_op = llvm_type(lhs, rhs)
        replace_with_llvm(rewriter, op, [*casts, new_op], new_op.results)


class IntegerMinMaxOpLowering(RewritePattern):
    """`arith.{min,max}{si,ui}` -> `llvm.icmp` + `llvm.select`."""

    @op_type_rewrite_pattern
    def match_and_rewrite(
        self,
        op: arith.MinSIOp | arith.MaxSIOp | arith.MinUIOp | arith.MaxUIOp,
        rewriter: PatternRewriter,
        /,
    ):
        casts, (lhs, rhs) = cast_operands(op.operands)
        cmp = _icmp(lhs, rhs, _MIN_MAX_PREDICATES[type(op)])
        select = llvm.SelectOp(cmp, lhs, rhs)
        replace_with_llvm(rewriter, op, [*casts, cmp, select], select.results)


class RoundingDivSIOpLowering(RewritePattern):
    """
    `arith.floordivsi`/`arith.ceildivsi` -> a truncating `q = a / b`, moved one
    step toward -inf/+inf when the division is inexact and the exact quotient is
    negative/positive:
    `q * b != a && ((a < 0) != (b < 0)) ? q - 1 : q` (floor),
    `q * b != a && ((a < 0) == (b < 0)) ? q + 1 : q` (ceil).
    """

    @op_type_rewrite_pattern
    def match_and_rewrite(
        self, op: arith.FloorDivSIOp | arith.CeilDivSIOp, rewriter: PatternRewriter, /
    ):
        casts, (a, b) = cast_operands(op.operands)
        int_type = a.type
        ceil = isinstance(op, arith.CeilDivSIOp)
        step = 1 if ceil else -1
        ops: list[Operation] = [
            zero := llvm.ConstantOp(IntegerAttr(0, int_type), int_type),
            step_op := llvm.ConstantOp(IntegerAttr(step, int_type), int_type),
            quotient := llvm.SDivOp(a, b),
            product := llvm.MulOp(quotient.res, b),
            inexact := _icmp(a, product.res, "ne"),
            a_neg := _icmp(a, zero.result, "slt"),
            b_neg := _icmp(b, zero.result, "slt"),
            toward := _icmp(a_neg.res, b_neg.res, "eq" if ceil else "ne"),
            adjust := llvm.AndOp(inexact.res, toward.res),
            stepped := llvm.AddOp(quotient.res, step_op.result),
            result := llvm.SelectOp(adjust, stepped, quotient),
        ]
        replace_with_llvm(rewriter, op, [*casts, *ops], result.results)


class CeilDivUIOpLowering(RewritePattern):
    """`arith.ceildivui` -> `a == 0 ? 0 : (a - 1) / b + 1`."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: arith.CeilDivUIOp, rewriter: PatternRewriter, /):
        casts, (a, b) = cast_operands(op.operands)
        int_type = a.type
        ops: list[Operation] = [
            zero := llvm.ConstantOp(IntegerAttr(0, int_type), int_type),
            one := llvm.ConstantOp(IntegerAttr(1, int_type), int_type),
            is_zero := _icmp(a, zero.result, "eq"),
            a_minus_one := llvm.SubOp(a, one.result),
            quotient := llvm.UDivOp(a_minus_one.res, b),
            ceil := llvm.AddOp(quotient.res, one.result),
            result := llvm.SelectOp(is_zero, zero, ceil),
        ]
        replace_with_llvm(rewriter, op, [*casts, *ops], result.results)


class CmpiOpLowering(RewritePattern):
    """`arith.cmpi` -> `llvm.icmp` (the predicates are numbered alike)."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: arith.CmpiOp, rewriter: PatternRewriter, /):
        casts, (lhs, rhs) = cast_operands(op.operands)
        cmp = llvm.ICmpOp(lhs, rhs, IntegerAttr(op.predicate.value.data, i64))
        replace_with_llvm(rewriter, op, [*casts, cmp], cmp.results)


class CmpfOpLowering(RewritePattern):
    """
    `arith.cmpf` -> `llvm.fcmp` (the predicates are numbered alike); the constant
    predicates `false` and `true` become constants.
    """

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: arith.CmpfOp, rewriter: PatternRewriter, /):
        predicate = arith.CMPF_COMPARISON_OPERATIONS[op.predicate.value.data]
        if predicate in ("false", "true"):
            value = IntegerAttr.from_bool(predicate == "true")
            new_op = llvm.ConstantOp(value, i1)
            replace_with_llvm(rewriter, op, [new_op], new_op.results)
            return
        cmp = llvm.FCmpOp(op.lhs, op.rhs, IntegerAttr(op.predicate.value.data, i64))
        cmp.fastmathFlags = llvm.FastMathAttr(op.fastmath.data)
        replace_with_llvm(rewriter, op, [cmp], cmp.results)


class SelectOpLowering(RewritePattern):
    """`arith.select` -> `llvm.select`."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: arith.SelectOp, rewriter: PatternRewriter, /):
        casts, (cond, lhs, rhs) = cast_operands(op.operands)
        select = llvm.SelectOp(cond, lhs, rhs)
        replace_with_llvm(rewriter, op, [*casts, select], select.results)


class FloatBinaryOpLowering(RewritePattern):
    """
    Float arithmetic -> llvm instructions; `maximumf`/`minimumf` (NaN-propagating)
    -> `llvm.intr.maximum`/`minimum`, `maxnumf`/`minnumf` (NaN-ignoring) ->
    `llvm.intr.maxnum`/`minnum`.
    """

    @op_type_rewrite_pattern
    def match_and_rewrite(
        self,
        op: arith.AddfOp
        | arith.SubfOp
        | arith.MulfOp
        | arith.DivfOp
        | arith.MaximumfOp
        | arith.MinimumfOp
        | arith.MaxnumfOp
        | arith.MinnumfOp,
        rewriter: PatternRewriter,
        /,
    ):
        llvm_type = _FLOAT_BINARY_OPS[type(op)]
        new_op = llvm_type(
            op.lhs, op.rhs, fast_math=llvm.FastMathAttr(op.fastmath.data)
        )
        replace_with_llvm(rewriter, op, [new_op], new_op.results)


class NegfOpLowering(RewritePattern):
    """`arith.negf` -> `llvm.fneg`."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: arith.NegfOp, rewriter: PatternRewriter, /):
        new_op = llvm.FNegOp(op.operand, fast_math=llvm.FastMathAttr(op.fastmath.data))
        replace_with_llvm(rewriter, op, [new_op], new_op.results)


class CastOpLowering(RewritePattern):
    """Width and int/float conversions -> the llvm cast instruction."""

    @op_type_rewrite_pattern
    def match_and_rewrite(
        self,
        op: arith.ExtFOp
        | arith.TruncFOp
        | arith.ExtSIOp
        | arith.ExtUIOp
        | arith.TruncIOp
        | arith.SIToFPOp
        | arith.UIToFPOp
        | arith.FPToSIOp
        | arith.FPToUIOp
        | arith.BitcastOp,
        rewriter: PatternRewriter,
        /,
    ):
        casts, (input,) = cast_operands(op.operands)
        new_op = _CAST_OPS[type(op)](input, convert_type(op.results[0].type))
        replace_with_llvm(rewriter, op, [*casts, new_op], new_op.results)


class IndexCastOpLowering(RewritePattern):
    """
    `arith.index_cast` -> `llvm.sext` (widening), `llvm.trunc` (narrowing), or
    nothing (i64 <-> index).
    """

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: arith.IndexCastOp, rewriter: PatternRewriter, /):
        casts, (input,) = cast_operands(op.operands)
        source = input.type
        target = convert_type(op.result.type)
        assert isinstance(source, IntegerType) and isinstance(target, IntegerType)
        if source.width.data < target.width.data:
            new_ops: list[Operation] = [llvm.SExtOp(input, target)]
        elif source.width.data > target.width.data:
            new_ops = [llvm.TruncOp(input, target)]
        else:
            new_ops = []
        result = new_ops[0].results[0] if new_ops else input
        replace_with_llvm(rewriter, op, [*casts, *new_ops], [result])


@dataclass(frozen=True)
class ConvertArithToLLVMPass(PatternLoweringPass):
    """
    Lower the arith dialect to the llvm dialect. `index` becomes `i64`; tensor
    constants must have been bufferized. `arith.{addui,mului,mulsi}_extended` are
    not supported and are left in place.
    """

    name = "convert-arith-to-llvm"

    def patterns(self, op: ModuleOp) -> list[RewritePattern]:
        return [
            ConstantOpLowering(),
            IntegerBinaryOpLowering(),
            IntegerMinMaxOpLowering(),
            RoundingDivSIOpLowering(),
            CeilDivUIOpLowering(),
            CmpiOpLowering(),
            CmpfOpLowering(),
            SelectOpLowering(),
            FloatBinaryOpLowering(),
            NegfOpLowering(),
            CastOpLowering(),
            IndexCastOpLowering(),
        ]
