"""
`convert-memref-to-llvm`: memrefs with static shapes and static strided layouts ->
the llvm dialect, with MLIR's *bare pointer* convention.

A memref value is one `!llvm.ptr`: the aligned base of its allocation. The sizes,
strides and offset stay in the memref type, so

- `memref.load`/`memref.store` compute the element index
  `offset + sum(index[d] * stride[d])` (in elements, i64) and address the element
  with `llvm.getelementptr inbounds`;
- view-like ops (`subview`, `cast`, `reinterpret_cast`, `collapse_shape`,
  `expand_shape`, `assume_alignment`) only change the type: the pointer passes
  through;
- `memref.view` (a typed buffer in a byte array, as `dagc-plan-memory` makes) ->
  `llvm.getelementptr inbounds` on `i8`: the source pointer plus the byte shift,
  the aligned pointer of the result as in MLIR's lowering;
- `memref.alloc` -> `aligned_alloc(alignment, size rounded up to the alignment)`
  (alignment: the op's, else 64 bytes), `memref.dealloc` -> `free`;
  `memref.alloca` -> `llvm.alloca` (same alignment rule);
- `memref.global` -> `llvm.mlir.global` of a flat `!llvm.array<N x T>`, its
  `dense<...>` or `dense_resource<...>` initial value reshaped to `tensor<NxT>`
  (an uninitialized global is zero-filled); `memref.get_global` ->
  `llvm.mlir.addressof`;
- `memref.copy` between contiguous memrefs -> `llvm.intr.memcpy`; otherwise a call
  to a generated internal function that loops over the elements (O3 inlines it).

Reference: MLIR's MemRefToLLVM conversion with `use-bare-ptr-memref-call-conv`.
Dynamic shapes, strides or offsets raise a DiagnosticException.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from math import prod

from xdsl.dialects import llvm, memref
from xdsl.dialects.builtin import (
    DenseIntOrFPElementsAttr,
    DenseResourceAttr,
    IntegerAttr,
    MemRefType,
    ModuleOp,
    ShapedType,
    TensorType,
    UnitAttr,
    i8,
    i64,
)
from xdsl.ir import Attribute, Block, Operation, Region, SSAValue
from xdsl.pattern_rewriter import (
    PatternRewriter,
    RewritePattern,
    op_type_rewrite_pattern,
)
from xdsl.rewriter import InsertPoint, Rewriter
from xdsl.traits import SymbolTable
from xdsl.utils.exceptions import DiagnosticException

from dagc.lowering import llvm_ops
from dagc.lowering.llvm_types import (
    PatternLoweringPass,
    cast_operands,
    convert_type,
    element_byte_size,
    replace_with_llvm,
    strided_layout,
)

DEFAULT_ALIGNMENT = 64
"""Byte alignment of allocations and globals that do not state one."""

_NO_WRAP = llvm.OverflowAttr(
    (llvm.OverflowFlag.NO_SIGNED_WRAP, llvm.OverflowFlag.NO_UNSIGNED_WRAP)
)


def _constant(value: int) -> llvm.ConstantOp:
    return llvm.ConstantOp(IntegerAttr(value, i64), i64)


def _memref_type(value: SSAValue) -> MemRefType:
    if not isinstance(value.type, MemRefType):
        raise DiagnosticException(f"expected a ranked memref, got {value.type}")
    return value.type


def element_offset(
    indices: Sequence[SSAValue], strides: Sequence[int], offset: int
) -> tuple[list[Operation], SSAValue | None]:
    """
    Build `offset + sum(indices[d] * strides[d])` from i64 `indices`.

    Returns the ops and the i64 value, or None when the sum is the constant 0.
    """
    ops: list[Operation] = []
    total: SSAValue | None = None
    for index, stride in zip(indices, strides, strict=True):
        if stride == 0:
            continue
        term = index
        if stride != 1:
            ops.append(stride_op := _constant(stride))
            ops.append(mul := llvm.MulOp(index, stride_op.result, overflow=_NO_WRAP))
            term = mul.res
        if total is not None:
            ops.append(add := llvm.AddOp(total, term, overflow=_NO_WRAP))
            term = add.res
        total = term
    if offset:
        ops.append(offset_op := _constant(offset))
        if total is None:
            total = offset_op.result
        else:
            ops.append(add := llvm.AddOp(total, offset_op.result, overflow=_NO_WRAP))
            total = add.res
    return ops, total


def element_address(
    base: SSAValue,
    indices: Sequence[SSAValue] | None,
    memref_type: MemRefType,
) -> tuple[list[Operation], SSAValue]:
    """
    The address of element `indices` (i64 values) of a memref of `memref_type`
    whose aligned base pointer is `base`; `indices=None` addresses the first
    element.
    """
    strides, offset = strided_layout(memref_type)
    if indices is None:
        ops, linear = element_offset([], [], offset)
    else:
        ops, linear = element_offset(indices, strides, offset)
    if linear is None:
        return ops, base
    gep = llvm.GEPOp(
        base,
        [llvm.GEP_USE_SSA_VAL],
        convert_type(memref_type.element_type),
        ssa_indices=[linear],
        inbounds=True,
    )
    return [*ops, gep], gep.result


def _is_contiguous(memref_type: MemRefType) -> bool:
    shape = memref_type.get_shape()
    strides, _ = strided_layout(memref_type)
    expected = ShapedType.strides_for_shape(shape)
    return all(
        size == 1 or stride == want
        for size, stride, want in zip(shape, strides, expected, strict=True)
    )


def _alignment(op: memref.AllocOp | memref.AllocaOp) -> int:
    return op.alignment.value.data if op.alignment is not None else DEFAULT_ALIGNMENT


def _static_allocation(op: memref.AllocOp | memref.AllocaOp) -> MemRefType:
    memref_type = _memref_type(op.memref)
    if op.dynamic_sizes or op.symbol_operands:
        raise DiagnosticException(f"{op.name} with dynamic sizes is not supported")
    strided_layout(memref_type)
    return memref_type


class LoadOpLowering(RewritePattern):
    """`memref.load` -> `llvm.getelementptr` + `llvm.load`."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: memref.LoadOp, rewriter: PatternRewriter, /):
        casts, (base, *indices) = cast_operands([op.memref, *op.indices])
        address_ops, address = element_address(base, indices, _memref_type(op.memref))
        load = llvm.LoadOp(address, convert_type(op.res.type))
        replace_with_llvm(rewriter, op, [*casts, *address_ops, load], load.results)


class StoreOpLowering(RewritePattern):
    """`memref.store` -> `llvm.getelementptr` + `llvm.store`."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: memref.StoreOp, rewriter: PatternRewriter, /):
        casts, (value, base, *indices) = cast_operands(
            [op.value, op.memref, *op.indices]
        )
        address_ops, address = element_address(base, indices, _memref_type(op.memref))
        store = llvm.StoreOp(value, address)
        rewriter.replace(op, [*casts, *address_ops, store], [])


@dataclass
class AllocOpLowering(RewritePattern):
    """`memref.alloc` -> `aligned_alloc(alignment, rounded size)`."""

    module: ModuleOp

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: memref.AllocOp, rewriter: PatternRewriter, /):
        memref_type = _static_allocation(op)
        alignment = _alignment(op)
        size = prod(memref_type.get_shape()) * element_byte_size(
            memref_type.element_type
        )
        size = -(-size // alignment) * alignment
        ptr = llvm.LLVMPointerType()
        llvm_ops.lookup_or_declare_function(
            self.module, "aligned_alloc", [i64, i64], ptr
        )
        ops: list[Operation] = [
            alignment_op := _constant(alignment),
            size_op := _constant(size),
            call := llvm.CallOp(
                "aligned_alloc", alignment_op, size_op, return_type=ptr
            ),
        ]
        replace_with_llvm(rewriter, op, ops, call.results)


class AllocaOpLowering(RewritePattern):
    """`memref.alloca` -> `llvm.alloca` of the element count."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: memref.AllocaOp, rewriter: PatternRewriter, /):
        memref_type = _static_allocation(op)
        ops: list[Operation] = [
            count := _constant(prod(memref_type.get_shape())),
            alloca := llvm.AllocaOp(
                count, convert_type(memref_type.element_type), alignment=_alignment(op)
            ),
        ]
        replace_with_llvm(rewriter, op, ops, alloca.results)


@dataclass
class DeallocOpLowering(RewritePattern):
    """`memref.dealloc` -> `free`."""

    module: ModuleOp

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: memref.DeallocOp, rewriter: PatternRewriter, /):
        llvm_ops.lookup_or_declare_function(
            self.module, "free", [llvm.LLVMPointerType()]
        )
        casts, (ptr,) = cast_operands([op.memref])
        rewriter.replace(op, [*casts, llvm.CallOp("free", ptr)], [])


class ViewLikeOpLowering(RewritePattern):
    """
    Ops that only change the memref type (its shape, strides and offset) -> the
    source pointer itself.
    """

    @op_type_rewrite_pattern
    def match_and_rewrite(
        self,
        op: memref.SubviewOp
        | memref.CastOp
        | memref.ReinterpretCastOp
        | memref.CollapseShapeOp
        | memref.ExpandShapeOp
        | memref.AssumeAlignmentOp,
        rewriter: PatternRewriter,
        /,
    ):
        if len(op.operands) != 1:
            raise DiagnosticException(
                f"{op.name} with dynamic offsets, sizes or strides is not supported"
            )
        strided_layout(_memref_type(op.results[0]))
        casts, (ptr,) = cast_operands(op.operands)
        replace_with_llvm(rewriter, op, casts, [ptr])


class ViewOpLowering(RewritePattern):
    """`memref.view` -> `llvm.getelementptr inbounds` of the byte shift on `i8`."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: memref.ViewOp, rewriter: PatternRewriter, /):
        if op.sizes:
            raise DiagnosticException(f"{op.name} with dynamic sizes is not supported")
        strided_layout(_memref_type(op.result))
        casts, (ptr, shift) = cast_operands([op.source, op.byte_shift])
        gep = llvm.GEPOp(ptr, [llvm.GEP_USE_SSA_VAL], i8, ssa_indices=[shift], inbounds=True)
        replace_with_llvm(rewriter, op, [*casts, gep], gep.results)


class ExtractAlignedPointerAsIndexOpLowering(RewritePattern):
    """`memref.extract_aligned_pointer_as_index` -> `llvm.ptrtoint`."""

    @op_type_rewrite_pattern
    def match_and_rewrite(
        self,
        op: memref.ExtractAlignedPointerAsIndexOp,
        rewriter: PatternRewriter,
        /,
    ):
        casts, (ptr,) = cast_operands([op.source])
        ptr_to_int = llvm.PtrToIntOp(ptr, i64)
        replace_with_llvm(rewriter, op, [*casts, ptr_to_int], ptr_to_int.results)


def _flat_initial_value(op: memref.GlobalOp) -> Attribute:
    flat = TensorType(op.type.element_type, [prod(op.type.get_shape())])
    value: Attribute = op.initial_value
    match value:
        case UnitAttr():
            return DenseIntOrFPElementsAttr.from_list(flat, [0])
        case DenseIntOrFPElementsAttr():
            return DenseIntOrFPElementsAttr(flat, value.data)
        case DenseResourceAttr():
            return DenseResourceAttr(value.resource_handle, flat)
        case _:
            raise DiagnosticException(f"unsupported initial value {value} of {op.name}")


class GlobalOpLowering(RewritePattern):
    """`memref.global` -> `llvm.mlir.global` of a flat array, 64-byte aligned."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: memref.GlobalOp, rewriter: PatternRewriter, /):
        strided_layout(op.type)
        array = llvm.LLVMArrayType(
            prod(op.type.get_shape()), convert_type(op.type.element_type)
        )
        alignment = op.alignment.value.data if op.alignment else DEFAULT_ALIGNMENT
        linkage = "external" if op.sym_visibility.data == "public" else "private"
        new_op = llvm.GlobalOp(
            array,
            op.sym_name,
            linkage,
            constant=op.constant is not None,
            value=_flat_initial_value(op),
            alignment=alignment,
        )
        rewriter.replace(op, new_op, [])


class GetGlobalOpLowering(RewritePattern):
    """`memref.get_global` -> `llvm.mlir.addressof`."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: memref.GetGlobalOp, rewriter: PatternRewriter, /):
        address = llvm.AddressOfOp(op.name_, llvm.LLVMPointerType())
        replace_with_llvm(rewriter, op, [address], address.results)


def _build_copy_function(
    name: str, source: MemRefType, target: MemRefType
) -> llvm.FuncOp:
    """
    `llvm.func internal @name(%dst: !llvm.ptr, %src: !llvm.ptr)`: one loop over the
    elements of `source` in row-major order, its linear index delinearized by the
    static shape into the addresses of both memrefs.
    """
    shape = source.get_shape()
    count = prod(shape)
    element = convert_type(source.element_type)
    ptr = llvm.LLVMPointerType()
    entry = Block(arg_types=[ptr, ptr])
    header = Block(arg_types=[i64])
    body = Block()
    exit_block = Block()
    dst, src = entry.args
    i = header.args[0]

    entry.add_ops([zero := _constant(0), llvm.BrOp(header, zero)])
    header.add_ops(
        [
            bound := _constant(count),
            in_range := llvm.ICmpOp(
                i, bound.result, IntegerAttr(llvm.ICmpPredicateFlag.SLT.to_int(), i64)
            ),
            llvm.CondBrOp(in_range, body, [], exit_block, []),
        ]
    )
    indices: list[SSAValue] = []
    inner = count
    for dim, size in enumerate(shape):
        inner //= size
        index = i
        if inner != 1:
            body.add_ops(
                [inner_op := _constant(inner), div := llvm.UDivOp(i, inner_op.result)]
            )
            index = div.res
        if dim != 0:
            body.add_ops(
                [size_op := _constant(size), rem := llvm.URemOp(index, size_op.result)]
            )
            index = rem.res
        indices.append(index)
    src_ops, src_address = element_address(src, indices, source)
    dst_ops, dst_address = element_address(dst, indices, target)
    body.add_ops(
        [
            *src_ops,
            load := llvm.LoadOp(src_address, element),
            *dst_ops,
            llvm.StoreOp(load, dst_address),
            one := _constant(1),
            next_i := llvm.AddOp(i, one.result, overflow=_NO_WRAP),
            llvm.BrOp(header, next_i),
        ]
    )
    exit_block.add_op(llvm.ReturnOp())
    return llvm.FuncOp(
        name,
        llvm.LLVMFunctionType([ptr, ptr]),
        linkage=llvm.LinkageAttr("internal"),
        body=Region([entry, header, body, exit_block]),
    )


@dataclass
class CopyOpLowering(RewritePattern):
    """
    `memref.copy` -> `llvm.intr.memcpy` between contiguous memrefs, else a call to
    a generated element-wise copy function (one per pair of memref types).
    """

    module: ModuleOp
    copy_functions: dict[tuple[MemRefType, MemRefType], str] = field(
        default_factory=dict[tuple[MemRefType, MemRefType], str]
    )

    def _copy_function(self, source: MemRefType, target: MemRefType) -> str:
        key = (source, target)
        if key not in self.copy_functions:
            index = len(self.copy_functions)
            while SymbolTable.lookup_symbol(self.module, f"__dagc_copy_{index}"):
                index += 1
            name = f"__dagc_copy_{index}"
            function = _build_copy_function(name, source, target)
            Rewriter.insert_op(function, InsertPoint.at_end(self.module.body.block))
            self.copy_functions[key] = name
        return self.copy_functions[key]

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: memref.CopyOp, rewriter: PatternRewriter, /):
        source = _memref_type(op.source)
        target = _memref_type(op.destination)
        if source.get_shape() != target.get_shape():
            raise DiagnosticException(f"{op.name} between different shapes")
        casts, (src, dst) = cast_operands([op.source, op.destination])
        count = prod(source.get_shape())
        if count == 0:
            rewriter.erase(op)
            return
        if not (_is_contiguous(source) and _is_contiguous(target)):
            name = self._copy_function(source, target)
            rewriter.replace(op, [*casts, llvm.CallOp(name, dst, src)], [])
            return
        src_ops, src_start = element_address(src, None, source)
        dst_ops, dst_start = element_address(dst, None, target)
        size = count * element_byte_size(source.element_type)
        ops: list[Operation] = [
            *casts,
            *src_ops,
            *dst_ops,
            size_op := _constant(size),
            llvm_ops.MemcpyOp(dst_start, src_start, size_op),
        ]
        rewriter.replace(op, ops, [])


@dataclass(frozen=True)
class ConvertMemRefToLLVMPass(PatternLoweringPass):
    """
    Lower memrefs with static shapes and layouts to `!llvm.ptr` and the llvm
    dialect, with the bare pointer convention (see the module docstring).
    """

    name = "convert-memref-to-llvm"

    def patterns(self, op: ModuleOp) -> list[RewritePattern]:
        return [
            LoadOpLowering(),
            StoreOpLowering(),
            AllocOpLowering(op),
            AllocaOpLowering(),
            DeallocOpLowering(op),
            ViewLikeOpLowering(),
            ViewOpLowering(),
            ExtractAlignedPointerAsIndexOpLowering(),
            GlobalOpLowering(),
            GetGlobalOpLowering(),
            CopyOpLowering(op),
        ]
