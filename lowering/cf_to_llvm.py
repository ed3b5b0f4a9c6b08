"""
`convert-cf-to-llvm`: the cf dialect -> the llvm dialect.

`cf.br`/`cf.cond_br` become `llvm.br`/`llvm.cond_br`, and the blocks they branch to
get llvm-typed arguments (`index` -> `i64`, memref -> `!llvm.ptr`). `cf.switch`
becomes a chain of `llvm.icmp eq` + `llvm.cond_br` blocks. `cf.assert` branches to
a block that prints the message with `puts` and calls `abort`, as MLIR's
ControlFlowToLLVM does.
"""

from dataclasses import dataclass

from xdsl.dialects import cf, llvm
from xdsl.dialects.builtin import IntegerAttr, ModuleOp, StringAttr, i8, i32, i64
from xdsl.ir import Block, Operation, SSAValue
from xdsl.pattern_rewriter import (
    PatternRewriter,
    RewritePattern,
    op_type_rewrite_pattern,
)
from xdsl.rewriter import InsertPoint, Rewriter
from xdsl.traits import SymbolTable

from dagc.lowering import llvm_ops
from dagc.lowering.llvm_types import (
    PatternLoweringPass,
    cast_operands,
    convert_block_arguments,
)


class BranchOpLowering(RewritePattern):
    """`cf.br` -> `llvm.br`."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: cf.BranchOp, rewriter: PatternRewriter, /):
        convert_block_arguments(op.successor)
        casts, args = cast_operands(op.arguments)
        rewriter.replace(op, [*casts, llvm.BrOp(op.successor, *args)], [])


class ConditionalBranchOpLowering(RewritePattern):
    """`cf.cond_br` -> `llvm.cond_br`."""

    @op_type_rewrite_pattern
    def match_and_rewrite(
        self, op: cf.ConditionalBranchOp, rewriter: PatternRewriter, /
    ):
        convert_block_arguments(op.then_block)
        convert_block_arguments(op.else_block)
        then_casts, then_args = cast_operands(op.then_arguments)
        else_casts, else_args = cast_operands(op.else_arguments)
        branch = llvm.CondBrOp(
            op.cond, op.then_block, then_args, op.else_block, else_args
        )
        rewriter.replace(op, [*then_casts, *else_casts, branch], [])


class SwitchOpLowering(RewritePattern):
    """
    `cf.switch` -> one block per case, each comparing the flag with the case value
    and branching to the case's destination or to the next comparison; the last
    one falls through to the default destination.
    """

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: cf.SwitchOp, rewriter: PatternRewriter, /):
        for block in (op.default_block, *op.case_blocks):
            convert_block_arguments(block)
        casts, (flag,) = cast_operands([op.flag])
        default_casts, default_args = cast_operands(op.default_operands)
        values = op.case_values.get_values() if op.case_values else ()
        if not values:
            branch = llvm.BrOp(op.default_block, *default_args)
            rewriter.replace(op, [*casts, *default_casts, branch], [])
            return

        block = op.parent_block()
        region = op.parent_region()
        assert block is not None and region is not None
        default = op.default_block
        cases = list(zip(values, op.case_blocks, op.case_operand, strict=True))
        ops: list[Operation] = [*casts, *default_casts]
        current = block
        for i, (value, dest, operands) in enumerate(cases):
            last = i == len(cases) - 1
            next_block = default if last else Block()
            next_args = default_args if last else []
            case_casts, case_args = cast_operands(operands)
            ops += [
                *case_casts,
                value_op := llvm.ConstantOp(IntegerAttr(value, flag.type), flag.type),
                cmp := llvm.ICmpOp(
                    flag,
                    value_op.result,
                    IntegerAttr(llvm.ICmpPredicateFlag.EQ.to_int(), i64),
                ),
                llvm.CondBrOp(cmp, dest, case_args, next_block, next_args),
            ]
            if current is block:
                rewriter.replace(op, ops, [])
            else:
                current.add_ops(ops)
            if not last:
                region.insert_block_after(next_block, current)
                current = next_block
                ops = []


def _message_global(module: ModuleOp, message: str) -> str:
    """A private global holding `message` + NUL; returns its symbol name."""
    data = message + "\0"
    index = 0
    while SymbolTable.lookup_symbol(module, f"__dagc_assert_msg_{index}"):
        index += 1
    name = f"__dagc_assert_msg_{index}"
    global_op = llvm.GlobalOp(
        llvm.LLVMArrayType(len(data.encode()), i8),
        name,
        "private",
        constant=True,
        value=StringAttr(data),
    )
    Rewriter.insert_op(global_op, InsertPoint.at_start(module.body.block))
    return name


@dataclass
class AssertOpLowering(RewritePattern):
    """
    `cf.assert %cond, "msg"` -> `llvm.cond_br %cond, ^continue, ^fail` where
    `^fail` calls `puts("msg")` and `abort()`.
    """

    module: ModuleOp

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: cf.AssertOp, rewriter: PatternRewriter, /):
        block = op.parent_block()
        region = op.parent_region()
        assert block is not None and region is not None
        ptr = llvm.LLVMPointerType()
        llvm_ops.lookup_or_declare_function(self.module, "puts", [ptr], i32)
        llvm_ops.lookup_or_declare_function(self.module, "abort", [])
        message = _message_global(self.module, op.msg.data)

        continue_block = block.split_before(op)
        fail_block = Block()
        region.insert_block_after(fail_block, block)
        fail_block.add_ops(
            [
                address := llvm.AddressOfOp(message, ptr),
                llvm.CallOp("puts", address, return_type=i32),
                llvm.CallOp("abort"),
                llvm.UnreachableOp(),
            ]
        )
        condition: SSAValue = op.arg
        rewriter.insert(
            llvm.CondBrOp(condition, continue_block, [], fail_block, []),
            InsertPoint.at_end(block),
        )
        rewriter.erase(op)


@dataclass(frozen=True)
class ConvertCfToLLVMPass(PatternLoweringPass):
    """Lower the cf dialect to llvm branches (see the module docstring)."""

    name = "convert-cf-to-llvm"

    def patterns(self, op: ModuleOp) -> list[RewritePattern]:
        return [
            BranchOpLowering(),
            ConditionalBranchOpLowering(),
            SwitchOpLowering(),
            AssertOpLowering(op),
        ]
