"""
`convert-func-to-llvm`: `func.func`/`func.call`/`func.return` -> `llvm.func`/
`llvm.call`/`llvm.return`, with MLIR's bare pointer calling convention.

The lowered functions have a plain C ABI, with no `llvm.emit_c_interface` wrappers:
a memref argument or result is one pointer (the aligned base of its buffer, see
`memref_to_llvm.py`), `index` is `i64`, other scalars keep their types. So

    func.func @f(%a: memref<4x8xf32>, %n: index, %x: f32) -> f32

becomes `float f(float *a, int64_t n, float x)`. A function with several results
returns an `!llvm.struct` of them. Public functions keep external linkage; private
functions with a body become `internal` (LLVM may inline and drop them); bodiless
declarations stay external so that they link against other objects. `llvm.*`
argument attributes (`{llvm.noalias}`, `{llvm.align = 64 : i64}`) are kept.
"""

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import func, llvm
from xdsl.dialects.builtin import (
    ArrayAttr,
    DenseArrayBase,
    DictionaryAttr,
    ModuleOp,
    i64,
)
from xdsl.ir import Attribute, Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    GreedyRewritePatternApplier,
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
    op_type_rewrite_pattern,
)

from dagc.lowering.llvm_types import (
    cast_operands,
    convert_block_arguments,
    convert_type,
    replace_with_llvm,
)


def _result_type(types: tuple[Attribute, ...]) -> Attribute:
    """The llvm return type for function results of `types`."""
    converted = [convert_type(t) for t in types]
    if not converted:
        return llvm.LLVMVoidType()
    if len(converted) == 1:
        return converted[0]
    return llvm.LLVMStructType.from_type_list(converted)


def _llvm_arg_attrs(op: func.FuncOp) -> ArrayAttr[DictionaryAttr] | None:
    """The `llvm.*` argument attributes of `op` (e.g. `llvm.noalias`), if any."""
    if op.arg_attrs is None:
        return None
    kept = [
        DictionaryAttr({k: v for k, v in attrs.data.items() if k.startswith("llvm.")})
        for attrs in op.arg_attrs
    ]
    if not any(attrs.data for attrs in kept):
        return None
    return ArrayAttr(kept)


class FuncOpLowering(RewritePattern):
    """`func.func` -> `llvm.func` with converted argument and result types."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: func.FuncOp, rewriter: PatternRewriter, /):
        function_type = llvm.LLVMFunctionType(
            [convert_type(t) for t in op.function_type.inputs],
            _result_type(op.function_type.outputs.data),
        )
        is_declaration = not op.body.blocks
        private = op.sym_visibility is not None and op.sym_visibility.data == "private"
        linkage = "internal" if private and not is_declaration else "external"
        body = rewriter.move_region_contents_to_new_regions(op.body)
        if body.blocks:
            convert_block_arguments(body.blocks[0])
        new_op = llvm.FuncOp(
            op.sym_name,
            function_type,
            linkage=llvm.LinkageAttr(linkage),
            body=body,
            other_props={"arg_attrs": _llvm_arg_attrs(op)},
        )
        rewriter.replace(op, new_op, [])


class ReturnOpLowering(RewritePattern):
    """`func.return` -> `llvm.return` (several values are packed in a struct)."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: func.ReturnOp, rewriter: PatternRewriter, /):
        casts, values = cast_operands(op.arguments)
        if len(values) <= 1:
            ret = llvm.ReturnOp(values[0] if values else None)
            rewriter.replace(op, [*casts, ret], [])
            return
        struct_type = llvm.LLVMStructType.from_type_list([v.type for v in values])
        ops: list[Operation] = [*casts, undef := llvm.UndefOp(struct_type)]
        struct: SSAValue = undef.res
        for i, value in enumerate(values):
            position = DenseArrayBase.from_list(i64, [i])
            ops.append(insert := llvm.InsertValueOp(position, struct, value))
            struct = insert.res
        rewriter.replace(op, [*ops, llvm.ReturnOp(struct)], [])


class CallOpLowering(RewritePattern):
    """`func.call` -> `llvm.call` (several results are unpacked from a struct)."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: func.CallOp, rewriter: PatternRewriter, /):
        casts, args = cast_operands(op.arguments)
        result_types = tuple(r.type for r in op.results)
        return_type = _result_type(result_types)
        call = llvm.CallOp(
            op.callee,
            *args,
            return_type=None
            if isinstance(return_type, llvm.LLVMVoidType)
            else return_type,
        )
        ops: list[Operation] = [*casts, call]
        if len(result_types) <= 1:
            replace_with_llvm(rewriter, op, ops, call.results)
            return
        assert call.returned is not None
        results: list[SSAValue] = []
        for i, type in enumerate(result_types):
            position = DenseArrayBase.from_list(i64, [i])
            extract = llvm.ExtractValueOp(position, call.returned, convert_type(type))
            ops.append(extract)
            results.append(extract.res)
        replace_with_llvm(rewriter, op, ops, results)


@dataclass(frozen=True)
class ConvertFuncToLLVMPass(ModulePass):
    """
    Lower the func dialect to llvm functions with the bare pointer convention (see
    the module docstring).
    """

    name = "convert-func-to-llvm"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        PatternRewriteWalker(
            GreedyRewritePatternApplier(
                [FuncOpLowering(), ReturnOpLowering(), CallOpLowering()]
            ),
            apply_recursively=False,
        ).rewrite_module(op)
