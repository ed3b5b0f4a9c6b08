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

A call with the `dagc.parallel` attribute (made by `dagc-parallel-to-threads`,
`parallel_to_threads.py`: the callee runs iterations `[begin, end)` of a range of
independent iterations, its first two arguments) runs on a libgomp thread team,
as GCC compiles `#pragma omp parallel for schedule(static)`:

    %n = llvm.load @dagc_num_threads : i32        (0: libgomp's default count)
    llvm.cond_br (%n == 1), ^serial, ^threads
  ^serial:   llvm.call @f(%begin, %end, captures...)       whole range, no libgomp
  ^threads:  store %begin, %end, captures... to an entry-block llvm.alloca struct
             llvm.call @GOMP_parallel(@f_omp, %struct, %n, 0)

and `@f_omp(ptr)`, generated once per callee, loads the struct and calls `@f` on
its thread's contiguous chunk of `[begin, end)`: chunk `t` of `T`
(`omp_get_thread_num`, `omp_get_num_threads`) has `q + (t < r)` iterations, `q`
and `r` the quotient and remainder of the range by `T` (libgomp's static schedule,
`gomp_iter_static_next` in libgomp/iter.c). `@dagc_num_threads` is an external
i32 global that the module declares and the runtime defines (`runtime/cpu.py`): one
variable of the process, so that modules compiled apart and linked together share
it. `GOMP_parallel` returns once every thread has finished.
"""

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import func, llvm
from xdsl.dialects.builtin import (
    ArrayAttr,
    DenseArrayBase,
    DictionaryAttr,
    IntegerAttr,
    ModuleOp,
    i32,
    i64,
)
from xdsl.ir import Attribute, Block, Operation, Region, SSAValue
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    PatternRewriter,
    RewritePattern,
    op_type_rewrite_pattern,
)
from xdsl.traits import SymbolTable
from xdsl.utils.exceptions import DiagnosticException

from dagc.lowering.llvm_ops import lookup_or_declare_function
from dagc.lowering.llvm_types import (
    cast_operands,
    convert_block_arguments,
    convert_type,
    replace_with_llvm,
)
from dagc.lowering.parallel_to_threads import PARALLEL_ATTR
from dagc.lowering.pattern_dispatch import apply_patterns, preorder
from dagc.runtime.cpu import NUM_THREADS


_PTR = llvm.LLVMPointerType()


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


def _int(value: int, type: Attribute = i64) -> llvm.ConstantOp:
    return llvm.ConstantOp(IntegerAttr(value, type), type)


def _thunk(module: ModuleOp, callee: str, fields: list[Attribute]) -> str:
    """
    Define (once) `void @<callee>_omp(ptr %data)`, the function each thread of the
    team runs: it loads `begin`, `end` and the captures from the struct of `fields`
    at `%data` and calls `@callee` on the thread's static chunk of `[begin, end)`.
    Returns its name.
    """
    name = f"{callee}_omp"
    if SymbolTable.lookup_symbol(module, name) is not None:
        return name
    lookup_or_declare_function(module, "omp_get_thread_num", [], i32)
    lookup_or_declare_function(module, "omp_get_num_threads", [], i32)
    struct = llvm.LLVMStructType.from_type_list(fields)
    block = Block(arg_types=[_PTR])
    values: list[SSAValue] = []
    for i, field in enumerate(fields):
        address = llvm.GEPOp(block.args[0], [0, i], struct)
        load = llvm.LoadOp(address, field)
        block.add_ops([address, load])
        values.append(load.dereferenced_value)
    begin, end = values[:2]
    less = llvm.ICmpPredicateFlag.SLT.to_int()
    block.add_ops(
        [
            thread_i32 := llvm.CallOp("omp_get_thread_num", return_type=i32),
            threads_i32 := llvm.CallOp("omp_get_num_threads", return_type=i32),
            thread := llvm.SExtOp(thread_i32, i64),
            threads := llvm.SExtOp(threads_i32, i64),
            total := llvm.SubOp(end, begin),
            quotient := llvm.SDivOp(total.res, threads.res),
            remainder := llvm.SRemOp(total.res, threads.res),
            # Threads below the remainder run one iteration more.
            longer := llvm.ICmpOp(thread.res, remainder.res, IntegerAttr(less, i64)),
            extra := llvm.ZExtOp(longer, i64),
            before := llvm.SelectOp(longer, thread, remainder),
            full := llvm.MulOp(thread.res, quotient.res),
            offset := llvm.AddOp(full.res, before.res),
            lower := llvm.AddOp(begin, offset.res),
            size := llvm.AddOp(quotient.res, extra.res),
            upper := llvm.AddOp(lower.res, size.res),
            llvm.CallOp(callee, lower, upper, *values[2:]),
            llvm.ReturnOp(),
        ]
    )
    module.body.block.add_op(
        llvm.FuncOp(
            name,
            llvm.LLVMFunctionType([_PTR]),
            linkage=llvm.LinkageAttr("internal"),
            body=Region(block),
        )
    )
    return name


def _lower_parallel_call(call: func.CallOp, module: ModuleOp) -> None:
    """
    Replace a `{dagc.parallel}` call by the serial call or the `GOMP_parallel`
    call, as `@dagc_num_threads` says (see the module docstring).
    """
    if call.results:
        raise DiagnosticException(f"a {PARALLEL_ATTR} call must return nothing:\n{call}")
    if not isinstance(call.parent_op(), func.FuncOp):
        raise DiagnosticException(
            f"a {PARALLEL_ATTR} call must be in a function's body, not in a "
            f"'{call.parent_op().name}' (lower scf to cf first):\n{call}"  # pyright: ignore
        )
    callee = call.callee.string_value()
    casts, args = cast_operands(call.arguments)
    fields = [a.type for a in args]
    thunk = _thunk(module, callee, fields)
    lookup_or_declare_function(module, "GOMP_parallel", [_PTR, _PTR, i32, i32])
    if SymbolTable.lookup_symbol(module, NUM_THREADS) is None:
        count = llvm.GlobalOp(i32, NUM_THREADS, "external")
        module.body.block.insert_op_before(count, module.body.block.first_op)

    block = call.parent_block()
    assert block is not None and block.parent is not None
    entry = block.parent.blocks[0]
    struct = llvm.LLVMStructType.from_type_list(fields)
    one = _int(1)
    data = llvm.AllocaOp(one, struct, alignment=8)
    entry.insert_ops_before([one, data], entry.first_op)  # pyright: ignore

    after = block.split_before(call)
    serial, threaded = Block(), Block()
    block.parent.insert_block_after([serial, threaded], block)
    threads_address = llvm.AddressOfOp(NUM_THREADS, _PTR)
    threads = llvm.LoadOp(threads_address, i32)
    is_one = llvm.ICmpOp(
        threads.dereferenced_value,
        (single := _int(1, i32)).result,
        IntegerAttr(llvm.ICmpPredicateFlag.EQ.to_int(), i64),
    )
    block.add_ops(
        [*casts, threads_address, threads, single, is_one,
         llvm.CondBrOp(is_one, serial, (), threaded, ())]
    )
    serial.add_ops([llvm.CallOp(callee, *args), llvm.BrOp(after)])
    for i, value in enumerate(args):
        address = llvm.GEPOp(data, [0, i], struct)
        threaded.add_ops([address, llvm.StoreOp(value, address)])
    threaded.add_ops(
        [
            function := llvm.AddressOfOp(thunk, _PTR),
            flags := _int(0, i32),
            llvm.CallOp("GOMP_parallel", function, data, threads, flags),
            llvm.BrOp(after),
        ]
    )
    call.detach()
    call.erase()


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
        for call in [c for c in preorder(op) if isinstance(c, func.CallOp)]:
            if PARALLEL_ATTR in call.attributes:
                _lower_parallel_call(call, op)
        apply_patterns(op, [FuncOpLowering(), ReturnOpLowering(), CallOpLowering()])
