"""
The llvm dialect -> LLVM IR text, with llvmlite's IR builder.

Built on xDSL's translation (`xdsl/backend/llvm/convert.py`): its `convert_op`
translates the ops xDSL defines, and this module adds

- the ops of `llvm_ops.py` (`llvm.fptosi`/`fptoui`/`uitofp`, `llvm.intr.maximum`,
  `minimum`, `round`, `roundeven`, `trunc`, `log10`, `tanh`, `powi`, `abs`,
  `ctlz`, `cttz`, `ctpop`, `memcpy`, `masked.load`), declared with mangled intrinsic
  names;
- xDSL's float intrinsics (`llvm.intr.exp`, ...) with mangled names too (xDSL
  declares `llvm.exp` once for all types) and with their fastmath flags;
- `llvm.cond_br` to one block with two sets of arguments (through a new block);
- globals initialized from `dense<...>` or `dense_resource<...>` data, emitted as
  raw bytes (`c"..."`, host byte order) or `zeroinitializer`, with their alignment
  and linkage;
- function linkage (`internal` functions can be inlined and dropped by LLVM).
"""

from collections.abc import Callable

import llvmlite.ir as ir
from xdsl.backend.llvm.convert import (
    _declare_func,  # pyright: ignore[reportPrivateUsage]
)
from xdsl.backend.llvm.convert_op import convert_op, create_constant, declare_intrinsic
from xdsl.backend.llvm.convert_type import convert_type
from xdsl.context import Context
from xdsl.dialect_interfaces.op_asm import OpAsmDialectInterface
from xdsl.dialects import llvm
from xdsl.dialects.builtin import (
    Builtin,
    DenseIntOrFPElementsAttr,
    DenseResourceAttr,
    IntegerAttr,
    ModuleOp,
    StringAttr,
)
from xdsl.ir import Attribute, Block, Operation, SSAValue
from xdsl.utils.exceptions import LLVMTranslationException

from dagc.lowering import llvm_ops

_ValueMap = dict[SSAValue, ir.Value]

_CASTS: dict[type[Operation], str] = {
    llvm_ops.FPToSIOp: "fptosi",
    llvm_ops.FPToUIOp: "fptoui",
    llvm_ops.UIToFPOp: "uitofp",
}

# Also xDSL's own intrinsic ops: its translation declares them unmangled
# (`llvm.exp`), so that f32 and f64 uses in one module clash.
_FLOAT_INTRINSICS: dict[type[Operation], str] = {
    llvm.FAbsOp: "llvm.fabs",
    llvm.FCeilOp: "llvm.ceil",
    llvm.FCopySignOp: "llvm.copysign",
    llvm.FCosOp: "llvm.cos",
    llvm.FExp2Op: "llvm.exp2",
    llvm.FExpOp: "llvm.exp",
    llvm.FFloorOp: "llvm.floor",
    llvm.FLog2Op: "llvm.log2",
    llvm.FLogOp: "llvm.log",
    llvm.FMAOp: "llvm.fma",
    llvm.FPowOp: "llvm.pow",
    llvm.FSinOp: "llvm.sin",
    llvm.FSqrtOp: "llvm.sqrt",
    llvm.VectorFMaxOp: "llvm.maxnum",
    llvm.VectorFMinOp: "llvm.minnum",
    llvm_ops.FMaximumOp: "llvm.maximum",
    llvm_ops.FMinimumOp: "llvm.minimum",
    llvm_ops.FRoundOp: "llvm.round",
    llvm_ops.FRoundEvenOp: "llvm.roundeven",
    llvm_ops.FTruncOp: "llvm.trunc",
    llvm_ops.FLog10Op: "llvm.log10",
    llvm_ops.FTanhOp: "llvm.tanh",
}

_INTEGER_INTRINSICS: dict[type[Operation], str] = {
    llvm_ops.AbsOp: "llvm.abs",
    llvm_ops.CountLeadingZerosOp: "llvm.ctlz",
    llvm_ops.CountTrailingZerosOp: "llvm.cttz",
    llvm_ops.CtPopOp: "llvm.ctpop",
}

_I1 = ir.IntType(1)


def _function(module: ir.Module, name: str, type: ir.FunctionType) -> ir.Function:
    """The function `name` of `module`, declared with `type` if absent."""
    existing = module.globals.get(name)
    if isinstance(existing, ir.Function):
        return existing
    return ir.Function(module, type, name=name)


def _fastmath(op: Operation) -> tuple[str, ...]:
    flags = op.properties.get("fastmathFlags")
    if isinstance(flags, llvm.FastMathAttr):
        return tuple(f.value for f in flags.data)
    return ()


def _convert_float_intrinsic(
    op: Operation, builder: ir.IRBuilder, values: _ValueMap
) -> None:
    args = [values[v] for v in op.operands]
    value_type = args[0].type
    fn = declare_intrinsic(
        builder.module,
        _FLOAT_INTRINSICS[type(op)],
        value_type,
        ir.FunctionType(value_type, [value_type] * len(args)),
    )
    values[op.results[0]] = builder.call(fn, args, fastmath=_fastmath(op))


def _convert_integer_intrinsic(
    op: Operation, builder: ir.IRBuilder, values: _ValueMap
) -> None:
    arg = values[op.operands[0]]
    args = [arg]
    for flag_name in ("is_int_min_poison", "is_zero_poison"):
        flag = op.properties.get(flag_name)
        if flag is not None:
            assert isinstance(flag, IntegerAttr)
            args.append(ir.Constant(_I1, int(flag.value.data != 0)))
    name = f"{_INTEGER_INTRINSICS[type(op)]}.{arg.type.intrinsic_name}"
    fn = _function(
        builder.module, name, ir.FunctionType(arg.type, [a.type for a in args])
    )
    values[op.results[0]] = builder.call(fn, args)


def _convert_powi(op: llvm_ops.FPowIOp, builder: ir.IRBuilder, values: _ValueMap):
    val, power = values[op.val], values[op.power]
    name = f"llvm.powi.{val.type.intrinsic_name}.{power.type.intrinsic_name}"
    fn = _function(
        builder.module, name, ir.FunctionType(val.type, [val.type, power.type])
    )
    values[op.res] = builder.call(fn, [val, power], fastmath=_fastmath(op))


def _convert_memcpy(op: llvm_ops.MemcpyOp, builder: ir.IRBuilder, values: _ValueMap):
    dst, src, length = values[op.dst], values[op.src], values[op.len]
    name = f"llvm.memcpy.p0.p0.{length.type.intrinsic_name}"
    fn_type = ir.FunctionType(ir.VoidType(), [dst.type, src.type, length.type, _I1])
    volatile = ir.Constant(_I1, int(op.isVolatile.value.data != 0))
    builder.call(_function(builder.module, name, fn_type), [dst, src, length, volatile])


def _convert_masked_load(op: llvm_ops.MaskedLoadOp, builder: ir.IRBuilder,
                         values: _ValueMap) -> None:
    """A call of `llvm.masked.load` with the alignment an operand (the form LLVM
    up to 21 declares, which LLVM 22's IR parser upgrades)."""
    data, mask, pass_thru = values[op.data], values[op.mask], values[op.pass_thru]
    align = ir.Constant(ir.IntType(32), op.alignment.value.data)
    vector = pass_thru.type
    name = f"llvm.masked.load.v{vector.count}{vector.element.intrinsic_name}.p0"
    fn_type = ir.FunctionType(pass_thru.type, [data.type, align.type, mask.type, pass_thru.type])
    values[op.res] = builder.call(_function(builder.module, name, fn_type),
                                  [data, align, mask, pass_thru])


def _convert_gep(op: llvm.GEPOp, builder: ir.IRBuilder, values: _ValueMap) -> None:
    """`llvm.getelementptr`, its result an opaque `ptr` as in LLVM IR. (xDSL's
    translation, and llvmlite for a typed source such as an alloca, give it the
    source's pointer type, so that a store through a pointer to a struct field
    fails llvmlite's type check.)"""
    dynamic = iter(op.ssa_indices)
    indices = [
        values[next(dynamic)]
        if index == llvm.GEP_USE_SSA_VAL
        else ir.Constant(ir.IntType(32), index)
        for index in op.rawConstantIndices.iter_values()
    ]
    pointer = values[op.ptr]
    gep = builder.gep(
        pointer,
        indices,
        inbounds=op.inbounds is not None,
        source_etype=convert_type(op.elem_type),
    )
    gep.type = ir.PointerType(addrspace=pointer.type.addrspace)
    values[op.result] = gep


def _convert_cast(op: Operation, builder: ir.IRBuilder, values: _ValueMap) -> None:
    instruction = getattr(builder, _CASTS[type(op)])
    values[op.results[0]] = instruction(
        values[op.operands[0]], convert_type(op.results[0].type)
    )


_CONVERTERS: dict[
    type[Operation], Callable[[Operation, ir.IRBuilder, _ValueMap], None]
] = {
    **{t: _convert_cast for t in _CASTS},
    **{t: _convert_float_intrinsic for t in _FLOAT_INTRINSICS},
    **{t: _convert_integer_intrinsic for t in _INTEGER_INTRINSICS},
    llvm_ops.FPowIOp: _convert_powi,  # pyright: ignore[reportAssignmentType]
    llvm_ops.MemcpyOp: _convert_memcpy,  # pyright: ignore[reportAssignmentType]
    llvm_ops.MaskedLoadOp: _convert_masked_load,  # pyright: ignore[reportAssignmentType]
    llvm.GEPOp: _convert_gep,  # pyright: ignore[reportAssignmentType]
}


def _convert_cond_br_to_one_block(
    op: llvm.CondBrOp,
    builder: ir.IRBuilder,
    values: _ValueMap,
    blocks: dict[Block, ir.Block],
) -> None:
    """
    `llvm.cond_br %c, ^bb(a), ^bb(b)`: LLVM IR allows one phi entry per
    predecessor, so the else edge goes through a new block (as MLIR's
    legalize-for-export does).
    """
    current = builder.block
    target = blocks[op.then_block]
    edge = current.function.append_basic_block(name=f"{current.name}.else")
    for arg, then_value, else_value in zip(
        op.then_block.args, op.then_arguments, op.else_arguments, strict=True
    ):
        phi = values[arg]
        assert isinstance(phi, ir.PhiInstr)
        phi.add_incoming(values[then_value], current)
        phi.add_incoming(values[else_value], edge)
    builder.cbranch(values[op.cond], target, edge)
    ir.IRBuilder(edge).branch(target)


def _convert_function_body(op: llvm.FuncOp, llvm_module: ir.Module) -> None:
    """Translate the blocks of `op` (as xDSL's `_convert_func` does)."""
    function = llvm_module.get_global(op.sym_name.data)
    assert isinstance(function, ir.Function)
    blocks: dict[Block, ir.Block] = {}
    values: _ValueMap = {}
    for i, block in enumerate(op.body.blocks):
        blocks[block] = function.append_basic_block(name=block.name_hint or "")
        if i == 0:
            values.update(zip(block.args, function.args, strict=True))
        elif block.args:
            # Incoming values are added by the branch ops.
            builder = ir.IRBuilder(blocks[block])
            for arg in block.args:
                values[arg] = builder.phi(convert_type(arg.type))
    for block in op.body.blocks:
        builder = ir.IRBuilder(blocks[block])
        if blocks[block].instructions:
            builder.position_after(blocks[block].instructions[-1])
        for inner in block.ops:
            converter = _CONVERTERS.get(type(inner))
            if converter is not None:
                converter(inner, builder, values)
            elif (
                isinstance(inner, llvm.CondBrOp)
                and inner.then_block is inner.else_block
            ):
                _convert_cond_br_to_one_block(inner, builder, values, blocks)
            else:
                convert_op(inner, builder, values, blocks)


def resource_bytes(attr: DenseResourceAttr, ctx: Context | None = None) -> bytes:
    """
    The raw data of a `dense_resource` blob, from the resources of the `builtin`
    dialect of `ctx` (default: xDSL's shared `Builtin` dialect), where the parser
    put the module's `{-# dialect_resources #-}` trailer. Blobs use MLIR's format:
    a 4-byte little-endian alignment, then the data.

    Raises:
        LLVMTranslationException: when the blob is missing.
    """
    dialect = Builtin if ctx is None else ctx.get_dialect("builtin")
    interface = dialect.get_interface(OpAsmDialectInterface)
    blob = interface.lookup(attr.resource_handle.data) if interface else None
    if not blob:
        raise LLVMTranslationException(
            f"no data for dense_resource<{attr.resource_handle.data}>"
        )
    return bytes.fromhex(blob[2:])[4:]


def _global_initializer(
    value: Attribute, type: Attribute, ctx: Context | None
) -> ir.Constant:
    match value:
        case DenseIntOrFPElementsAttr() | DenseResourceAttr():
            data = (
                value.data.data
                if isinstance(value, DenseIntOrFPElementsAttr)
                else resource_bytes(value, ctx)
            )
            if not any(data):
                return ir.Constant(convert_type(type), None)
            return ir.Constant(ir.ArrayType(ir.IntType(8), len(data)), bytearray(data))
        case StringAttr():
            data = value.data.encode()
            return ir.Constant(ir.ArrayType(ir.IntType(8), len(data)), bytearray(data))
        case _:
            return create_constant(type, value)


def _convert_global(
    op: llvm.GlobalOp, llvm_module: ir.Module, ctx: Context | None
) -> None:
    if op.value is None:
        variable = ir.GlobalVariable(
            llvm_module, convert_type(op.global_type), op.sym_name.data
        )
    else:
        initializer = _global_initializer(op.value, op.global_type, ctx)
        variable = ir.GlobalVariable(llvm_module, initializer.type, op.sym_name.data)
        variable.initializer = initializer
    if op.linkage.linkage.data != "external":
        variable.linkage = op.linkage.linkage.data
    variable.global_constant = op.constant is not None
    if op.alignment is not None:
        variable.align = op.alignment.value.data


def translate_module(
    module: ModuleOp,
    ctx: Context | None = None,
    *,
    triple: str | None = None,
    data_layout: str = "",
) -> ir.Module:
    """
    Translate a module of llvm-dialect ops (`llvm.func`, `llvm.mlir.global`) to an
    llvmlite module. `dense_resource` blobs are read from `ctx` (the context the
    module was parsed in; see `resource_bytes`). The triple is the module's
    `llvm.target_triple` attribute, else `triple`, else llvmlite's default (host)
    triple.

    Raises:
        LLVMTranslationException: for a missing `dense_resource` blob or an
            unsupported type.
        NotImplementedError: for an op that is not in the llvm dialect.
    """
    llvm_module = ir.Module()
    module_triple = module.attributes.get("llvm.target_triple")
    if isinstance(module_triple, StringAttr):
        llvm_module.triple = module_triple.data
    elif triple is not None:
        llvm_module.triple = triple
    else:
        from llvmlite import binding

        llvm_module.triple = binding.get_default_triple()
    if data_layout:
        llvm_module.data_layout = data_layout

    functions: list[llvm.FuncOp] = []
    for op in module.ops:
        match op:
            case llvm.GlobalOp():
                _convert_global(op, llvm_module, ctx)
            case llvm.FuncOp():
                functions.append(op)
            case _:
                raise NotImplementedError(f"cannot translate '{op.name}' to LLVM IR")
    for op in functions:
        _declare_func(op, llvm_module)
        if op.body.blocks and op.linkage.linkage.data != "external":
            function = llvm_module.get_global(op.sym_name.data)
            function.linkage = op.linkage.linkage.data
    for op in functions:
        if op.body.blocks:
            _convert_function_body(op, llvm_module)
    return llvm_module


def translate_to_llvmir(module: ModuleOp, ctx: Context | None = None) -> str:
    """
    Translate a module of llvm-dialect ops to LLVM IR text for the host triple;
    `dense_resource` blobs are read from `ctx` (see `translate_module`).
    """
    return str(translate_module(module, ctx))
