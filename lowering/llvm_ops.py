"""
Operations of MLIR's llvm dialect that xDSL 0.74 lacks, and that the
`convert-*-to-llvm` lowerings emit.

They print and parse exactly as MLIR 22 prints them (the intrinsics with a custom
syntax use `llvm.intr.name(operands) : (types) -> type`, the others the generic
form), so the llvm-dialect IR dagc writes is accepted by `mlir-translate
--mlir-to-llvmir`. `LLVMExtended` is xDSL's `llvm` dialect plus these ops: register
it under the name `llvm` in a context that must parse them.

`llvm_to_llvmir.py` translates them to LLVM IR.
"""

from abc import ABC
from collections.abc import Sequence
from typing import ClassVar

from xdsl.dialects import llvm
from xdsl.dialects.builtin import (
    I32,
    AnyFloatConstr,
    BoolAttr,
    IntegerAttr,
    IntegerType,
    ModuleOp,
    SignlessIntegerConstraint,
    VectorType,
)
from xdsl.ir import Attribute, Dialect, Operation, SSAValue
from xdsl.irdl import (
    IRDLOperation,
    ParsePropInAttrDict,
    VarConstraint,
    irdl_op_definition,
    operand_def,
    prop_def,
    result_def,
    traits_def,
)
from xdsl.rewriter import InsertPoint, Rewriter
from xdsl.traits import Pure, SymbolTable

_FLOAT_LIKE = AnyFloatConstr | VectorType.constr(AnyFloatConstr)
_INT_LIKE = SignlessIntegerConstraint | VectorType.constr(SignlessIntegerConstraint)


@irdl_op_definition
class FPToSIOp(llvm.GenericCastOp):
    """`llvm.fptosi`: float to signed integer, rounding toward zero."""

    name = "llvm.fptosi"


@irdl_op_definition
class FPToUIOp(llvm.GenericCastOp):
    """`llvm.fptoui`: float to unsigned integer, rounding toward zero."""

    name = "llvm.fptoui"


@irdl_op_definition
class UIToFPOp(llvm.GenericCastOp):
    """`llvm.uitofp`: unsigned integer to float."""

    name = "llvm.uitofp"


class FloatIntrinsicOp(IRDLOperation, ABC):
    """
    An overloaded float intrinsic with fastmath flags, whose result has the type
    of its first operand, in MLIR's `llvm.intr.name(operands) : (types) -> type`
    syntax.
    """

    T: ClassVar = VarConstraint("T", _FLOAT_LIKE)

    res = result_def(T)

    fastmathFlags = prop_def(llvm.FastMathAttr, default_value=llvm.FastMathAttr(None))

    assembly_format = (
        "`(` operands `)` attr-dict `:` functional-type(operands, results)"
    )

    irdl_options = (ParsePropInAttrDict(),)

    traits = traits_def(Pure())

    def __init__(
        self,
        *operands: Operation | SSAValue,
        fast_math: llvm.FastMathAttr | None = None,
    ):
        super().__init__(
            operands=operands,
            result_types=[SSAValue.get(operands[0]).type],
            properties={"fastmathFlags": fast_math or llvm.FastMathAttr(None)},
        )


class UnaryIntrinsicOp(FloatIntrinsicOp, ABC):
    """An overloaded float intrinsic `T -> T`."""

    arg = operand_def(FloatIntrinsicOp.T)


class BinaryIntrinsicOp(FloatIntrinsicOp, ABC):
    """An overloaded float intrinsic `(T, T) -> T`."""

    lhs = operand_def(FloatIntrinsicOp.T)
    rhs = operand_def(FloatIntrinsicOp.T)


@irdl_op_definition
class FMaximumOp(BinaryIntrinsicOp):
    """`llvm.intr.maximum`: IEEE 754-2019 maximum, NaN if either operand is NaN."""

    name = "llvm.intr.maximum"


@irdl_op_definition
class FMinimumOp(BinaryIntrinsicOp):
    """`llvm.intr.minimum`: IEEE 754-2019 minimum, NaN if either operand is NaN."""

    name = "llvm.intr.minimum"


@irdl_op_definition
class FRoundOp(UnaryIntrinsicOp):
    """`llvm.intr.round`: round to nearest, ties away from zero (C `round`)."""

    name = "llvm.intr.round"


@irdl_op_definition
class FRoundEvenOp(UnaryIntrinsicOp):
    """`llvm.intr.roundeven`: round to nearest, ties to even."""

    name = "llvm.intr.roundeven"


@irdl_op_definition
class FTruncOp(UnaryIntrinsicOp):
    """`llvm.intr.trunc`: round toward zero."""

    name = "llvm.intr.trunc"


@irdl_op_definition
class FLog10Op(UnaryIntrinsicOp):
    """`llvm.intr.log10`: base-10 logarithm."""

    name = "llvm.intr.log10"


@irdl_op_definition
class FTanhOp(UnaryIntrinsicOp):
    """`llvm.intr.tanh`: hyperbolic tangent (LLVM >= 19; the backend calls `tanhf`)."""

    name = "llvm.intr.tanh"


@irdl_op_definition
class FPowIOp(FloatIntrinsicOp):
    """`llvm.intr.powi`: a float raised to a signless integer power."""

    name = "llvm.intr.powi"

    val = operand_def(FloatIntrinsicOp.T)
    power = operand_def(IntegerType)


class IntegerIntrinsicOp(IRDLOperation, ABC):
    """An overloaded integer intrinsic `T -> T`."""

    T: ClassVar = VarConstraint("T", _INT_LIKE)

    arg = operand_def(T)
    res = result_def(T)

    traits = traits_def(Pure())

    def __init__(
        self, arg: Operation | SSAValue, properties: dict[str, Attribute] | None = None
    ):
        super().__init__(
            operands=[arg],
            result_types=[SSAValue.get(arg).type],
            properties=properties or {},
        )


@irdl_op_definition
class CtPopOp(IntegerIntrinsicOp):
    """`llvm.intr.ctpop`: number of set bits."""

    name = "llvm.intr.ctpop"

    assembly_format = (
        "`(` operands `)` attr-dict `:` functional-type(operands, results)"
    )


@irdl_op_definition
class AbsOp(IntegerIntrinsicOp):
    """`llvm.intr.abs`: integer absolute value (generic form)."""

    name = "llvm.intr.abs"

    is_int_min_poison = prop_def(BoolAttr)

    def __init__(self, arg: Operation | SSAValue, is_int_min_poison: bool = False):
        flag = BoolAttr.from_bool(is_int_min_poison)
        super().__init__(arg, {"is_int_min_poison": flag})


class CountZerosOp(IntegerIntrinsicOp, ABC):
    """An integer bit-count intrinsic with an `is_zero_poison` flag (generic form)."""

    is_zero_poison = prop_def(BoolAttr)

    def __init__(self, arg: Operation | SSAValue, is_zero_poison: bool = False):
        super().__init__(arg, {"is_zero_poison": BoolAttr.from_bool(is_zero_poison)})


@irdl_op_definition
class CountLeadingZerosOp(CountZerosOp):
    """`llvm.intr.ctlz`: number of leading zero bits."""

    name = "llvm.intr.ctlz"


@irdl_op_definition
class CountTrailingZerosOp(CountZerosOp):
    """`llvm.intr.cttz`: number of trailing zero bits."""

    name = "llvm.intr.cttz"


@irdl_op_definition
class MemcpyOp(IRDLOperation):
    """`llvm.intr.memcpy`: copy `len` bytes between non-overlapping buffers."""

    name = "llvm.intr.memcpy"

    dst = operand_def(llvm.LLVMPointerType)
    src = operand_def(llvm.LLVMPointerType)
    len = operand_def(IntegerType)
    isVolatile = prop_def(BoolAttr)

    def __init__(
        self,
        dst: Operation | SSAValue,
        src: Operation | SSAValue,
        len: Operation | SSAValue,
        is_volatile: bool = False,
    ):
        super().__init__(
            operands=[dst, src, len],
            properties={"isVolatile": BoolAttr.from_bool(is_volatile)},
        )


@irdl_op_definition
class MaskedLoadOp(IRDLOperation):
    """`llvm.intr.masked.load`: the lanes of a vector that `mask` selects loaded
    from `data` (consecutive elements, `alignment` bytes), the others taken from
    `pass_thru`; no access to the unselected lanes' memory. (A
    `llvm.call_intrinsic` of `llvm.masked.load` is tied to one signature, which
    LLVM 22 changed; this op translates to the signature of each version.)"""

    name = "llvm.intr.masked.load"

    T: ClassVar = VarConstraint("T", VectorType.constr(AnyFloatConstr))

    data = operand_def(llvm.LLVMPointerType)
    mask = operand_def(VectorType)
    pass_thru = operand_def(T)
    res = result_def(T)
    alignment = prop_def(IntegerAttr[I32])

    assembly_format = (
        "$data `,` $mask `,` $pass_thru attr-dict `:` functional-type(operands, results)"
    )

    irdl_options = (ParsePropInAttrDict(),)

    def __init__(self, data: Operation | SSAValue, mask: Operation | SSAValue,
                 pass_thru: Operation | SSAValue, alignment: int):
        value = SSAValue.get(pass_thru)
        super().__init__(
            operands=[data, mask, value], result_types=[value.type],
            properties={"alignment": IntegerAttr(alignment, 32)},
        )


EXTRA_LLVM_OPS: tuple[type[IRDLOperation], ...] = (
    AbsOp,
    CountLeadingZerosOp,
    CountTrailingZerosOp,
    CtPopOp,
    FLog10Op,
    FMaximumOp,
    FMinimumOp,
    FPToSIOp,
    FPToUIOp,
    FPowIOp,
    FRoundEvenOp,
    FRoundOp,
    FTanhOp,
    FTruncOp,
    MaskedLoadOp,
    MemcpyOp,
    UIToFPOp,
)
"""The llvm ops this module adds to xDSL's."""

LLVMExtended = Dialect(
    "llvm",
    [*llvm.LLVM.operations, *EXTRA_LLVM_OPS],
    [*llvm.LLVM.attributes],
)
"""xDSL's llvm dialect with `EXTRA_LLVM_OPS`."""


def lookup_or_declare_function(
    module: ModuleOp,
    name: str,
    inputs: Sequence[Attribute],
    output: Attribute | None = None,
) -> None:
    """
    Make sure `module` has a symbol `name`: declare the external function
    `llvm.func @name(inputs) -> output` (a libc or libm function; no `output`:
    void) at the start of the module unless a symbol of that name exists.
    """
    if SymbolTable.lookup_symbol(module, name) is not None:
        return
    decl = llvm.FuncOp(
        name,
        llvm.LLVMFunctionType(inputs, output or llvm.LLVMVoidType()),
        linkage=llvm.LinkageAttr("external"),
    )
    Rewriter.insert_op(decl, InsertPoint.at_start(module.body.block))
