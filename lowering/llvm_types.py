"""
Type conversion shared by the standard-dialect -> llvm-dialect lowerings.

Every `convert-*-to-llvm` pass converts the types it meets with `convert_type`:

- `index` becomes `i64` (dagc targets 64-bit hosts only);
- a `memref` with a static shape and a static strided layout becomes an opaque
  `!llvm.ptr`, MLIR's *bare pointer* convention: the pointer is the aligned base of
  the allocation, and the offset, sizes and strides stay in the memref type, where
  `convert-memref-to-llvm` reads them to compute element addresses;
- `vector<...xindex>` becomes `vector<...xi64>`;
- every other builtin type (signless integers, f16, bf16, f32, f64, vectors of
  them) and every llvm type is already legal and is kept.

Like MLIR's dialect conversion, the passes run one after another and meet at
`builtin.unrealized_conversion_cast` ops: a pattern casts the operands it consumes to
their converted types (`cast_operands`) and casts the results it produces back to the
original types (`replace_with_llvm`). Once every edge has run, xDSL's
`reconcile-unrealized-casts` removes the cast pairs.
"""

from collections.abc import Sequence

from xdsl.context import Context
from xdsl.dialects import llvm
from xdsl.dialects.builtin import (
    AffineMapAttr,
    BFloat16Type,
    Float16Type,
    Float32Type,
    Float64Type,
    IndexType,
    IntegerType,
    MemRefType,
    ModuleOp,
    NoneAttr,
    ShapedType,
    StridedLayoutAttr,
    UnrealizedConversionCastOp,
    VectorType,
    i64,
)
from xdsl.ir import Attribute, Block, Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import PatternRewriter, RewritePattern
from xdsl.rewriter import InsertPoint, Rewriter
from xdsl.utils.exceptions import DiagnosticException

from dagc.lowering.pattern_dispatch import apply_patterns

INDEX_TYPE = i64
"""The llvm type that `index` lowers to."""

NOALIAS = "llvm.noalias"
"""The argument attribute saying no other argument reaches a memref argument's
bytes (`dagc-hoist-kernel-scratch`'s scratch, `dagc-parallel-to-threads`'s
captures); `dagc-func-to-llvm` keeps it and LLVM reads it."""


def convert_type(typ: Attribute) -> Attribute:
    """
    Return the llvm-dialect type that values of `typ` have after lowering.

    `index` -> `i64`, `memref<...>` -> `!llvm.ptr`, `vector<Nxindex>` ->
    `vector<Nxi64>`; any other type is returned unchanged.
    """
    if isinstance(typ, IndexType):
        return INDEX_TYPE
    if isinstance(typ, MemRefType):
        return llvm.LLVMPointerType()
    if isinstance(typ, VectorType) and isinstance(typ.element_type, IndexType):
        return VectorType(INDEX_TYPE, typ.get_shape(), typ.scalable_dims)
    return typ


def element_byte_size(typ: Attribute) -> int:
    """
    The allocation size in bytes of one element of `typ`, as LLVM's x86-64 and
    AArch64 data layouts define it (an `iN` takes the next power of two of
    `ceil(N/8)` bytes, a vector is padded to a power of two).

    Raises:
        DiagnosticException: for a type with no fixed size (e.g. a memref).
    """
    match typ:
        case IndexType():
            return 8
        case IntegerType():
            size = max(1, (typ.width.data + 7) // 8)
            return 1 << (size - 1).bit_length()
        case Float16Type() | BFloat16Type():
            return 2
        case Float32Type():
            return 4
        case Float64Type():
            return 8
        case VectorType():
            n = 1
            for dim in typ.get_shape():
                n *= dim
            size = n * element_byte_size(typ.element_type)
            return 1 << (size - 1).bit_length()
        case _:
            raise DiagnosticException(f"no fixed byte size for element type {typ}")


def strided_layout(typ: MemRefType) -> tuple[tuple[int, ...], int]:
    """
    The strides (in elements, one per dimension) and the offset (in elements) of a
    memref type with a static shape and a static layout: the identity layout, a
    `strided<[...], offset: ...>` layout or an affine map that is linear in its
    dimensions.

    Raises:
        DiagnosticException: when a dimension, a stride or the offset is dynamic, or
            the layout is an affine map that is not linear.
    """
    shape = typ.get_shape()
    if any(dim < 0 for dim in shape):
        raise DiagnosticException(
            f"only static shapes lower to llvm, got {typ} (dynamic dimension)"
        )
    layout = typ.layout
    if isinstance(layout, NoneAttr):
        return tuple(ShapedType.strides_for_shape(shape)), 0
    if isinstance(layout, StridedLayoutAttr):
        strides = layout.get_strides()
        offset = layout.get_offset()
        if offset is None or any(s is None for s in strides):
            raise DiagnosticException(
                f"only static strides and offsets lower to llvm, got {typ}"
            )
        return tuple(s for s in strides if s is not None), offset
    if isinstance(layout, AffineMapAttr):
        amap = layout.data
        if amap.num_symbols or len(amap.results) != 1:
            raise DiagnosticException(f"unsupported memref layout in {typ}")
        rank = len(shape)
        offset = amap.eval([0] * rank, [])[0]
        strides = tuple(
            amap.eval([int(i == d) for i in range(rank)], [])[0] - offset
            for d in range(rank)
        )
        # A linear map agrees with its strides at any other point too.
        probe = [2 + d for d in range(rank)]
        linear = offset + sum(p * s for p, s in zip(probe, strides, strict=True))
        if amap.eval(probe, [])[0] != linear:
            raise DiagnosticException(f"non-linear memref layout in {typ}")
        return strides, offset
    raise DiagnosticException(f"unsupported memref layout in {typ}")


def _cast(value: SSAValue, typ: Attribute) -> tuple[Operation, SSAValue]:
    """
    A `builtin.unrealized_conversion_cast` of `value` to `typ` and its result (which
    keeps `value`'s name hint). Built with `Operation.create`, which skips the IRDL
    argument checks of `UnrealizedConversionCastOp.cast_one`: the lowering of a
    ResNet-50 builds some 30,000 casts.
    """
    cast = UnrealizedConversionCastOp.create(operands=(value,), result_types=(typ,))
    result = cast.results[0]
    result.name_hint = value.name_hint
    return cast, result


def cast_operands(
    values: Sequence[SSAValue],
) -> tuple[list[Operation], list[SSAValue]]:
    """
    Cast `values` to their llvm types.

    Returns the `builtin.unrealized_conversion_cast` ops to insert (one per value
    whose type changes) and the values to use in their place. A value that is
    itself a cast from its llvm type (the result of an op an edge has lowered
    already) is replaced by that cast's input, with no new cast, as
    `reconcile-unrealized-casts` would do later.
    """
    ops: list[Operation] = []
    converted: list[SSAValue] = []
    for value in values:
        new_type = convert_type(value.type)
        if new_type == value.type:
            converted.append(value)
            continue
        owner = value.owner
        if (
            isinstance(owner, UnrealizedConversionCastOp)
            and len(owner.inputs) == 1
            and owner.inputs[0].type == new_type
        ):
            converted.append(owner.inputs[0])
            continue
        cast, result = _cast(value, new_type)
        ops.append(cast)
        converted.append(result)
    return ops, converted


def replace_with_llvm(
    rewriter: PatternRewriter,
    op: Operation,
    new_ops: Sequence[Operation],
    new_results: Sequence[SSAValue],
) -> None:
    """
    Replace `op` by `new_ops`, whose values `new_results` (llvm types) take the
    place of `op`'s results; a result whose original type is not an llvm type is
    reached through a cast back to that type.
    """
    ops = list(new_ops)
    results: list[SSAValue] = []
    for old, new in zip(op.results, new_results, strict=True):
        if old.type == new.type:
            results.append(new)
            continue
        cast, result = _cast(new, old.type)
        ops.append(cast)
        results.append(result)
    rewriter.replace(op, ops, results)


def convert_block_arguments(block: Block) -> None:
    """
    Give the arguments of `block` their llvm types. The uses of an argument whose
    type changes go through a cast back to the old type, inserted at the start of
    the block. Arguments that already have llvm types are left alone.
    """
    for arg in block.args:
        old_type = arg.type
        new_type = convert_type(old_type)
        if new_type == old_type:
            continue
        new_arg = Rewriter.replace_value_with_new_type(arg, new_type)
        cast, result = _cast(new_arg, old_type)
        Rewriter.insert_op(cast, InsertPoint.at_start(block))
        new_arg.replace_uses_with_if(result, lambda use, c=cast: use.operation is not c)


class PatternLoweringPass(ModulePass):
    """
    A `convert-*-to-llvm` edge: its `patterns` rewrite a module in one walk (each op
    with the first pattern that matches it; the ops the patterns insert are not
    visited, see `pattern_dispatch`). `convert-to-llvm` applies the
    patterns of several edges in a single walk (their ops are disjoint).
    """

    def patterns(self, op: ModuleOp) -> list[RewritePattern]:
        """The rewrite patterns of this edge, for the module `op` (where some of
        them declare the functions they call)."""
        raise NotImplementedError

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        apply_patterns(op, self.patterns(op))
