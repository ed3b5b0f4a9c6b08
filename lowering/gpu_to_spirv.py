"""Lower GPU kernels to the spirv dialect, and build the host's dispatch table.

Input: what ``convert-loops-to-gpu`` produces, a ``gpu.module`` of
``gpu.func ... kernel`` functions on statically shaped memrefs (f32, i32 or
i1 elements, identity layout) whose bodies use arith, math, scf.for / scf.if,
memref.load / memref.store and gpu.global_id / block_id / thread_id /
block_dim / grid_dim. Each kernel becomes one ``spirv.module`` with one
GLCompute entry point:

* memref argument i -> ``spirv.GlobalVariable bind(0, i)`` in the
  StorageBuffer storage class, pointing to a Block-decorated struct holding an
  ``!spirv.array<N x T, stride=4>`` (the memref flattened row-major; read-only
  buffers get NonWritable); loads and stores linearize their indices;
* ``index`` becomes ``i32``;
* ``scf.for`` -> ``spirv.mlir.loop`` (induction variable and iter_args as
  header block arguments, results through Function variables), ``scf.if`` ->
  ``spirv.mlir.selection``; the GPU ids -> GlobalInvocationId / WorkgroupId /
  LocalInvocationId / NumWorkgroups built-ins, LocalSize from
  ``gpu.known_block_size``;
* math ops -> GLSL.std.450 instructions; ``math.erf``, which GLSL lacks, -> the
  rational approximation used by Eigen (``generic_fast_erf_float``) and XLA
  (``ErfImpl32``): erf(x) ~ x P(x^2) / Q(x^2) on x clamped to [-4, 4], max
  absolute error 4.2e-7 in f32 (measured against math.erf on [-6, 6]);
  ``math.tanh`` clamps its input to [-10, 10] first (tanh is +-1 in f32
  there), a guard for drivers that expand tanh through exp(2x) and would
  overflow to NaN (lavapipe's GLSL tanh is exact at +-100 without it).

From SPIR-V 1.4 on the entry point lists every global variable it uses;
before, only the Input built-ins. The version is the pass option
``spirv_version`` ("1.3" to "1.6"; 1.3 is the first with the StorageBuffer
storage class in core and what Vulkan 1.1 accepts).

``build_dispatch_table`` then turns the host function (memref.alloc,
memref.get_global of dense constants, gpu.launch_func, func.return) into a
``DispatchTable``: buffers (constants with their contents), and per launch
the kernel's SPIR-V binary (serialized once per kernel), its bindings and its
workgroup counts.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from dagc.dialects import spirv
from dagc.lowering.spirv_binary import serialize
from xdsl.context import Context
from xdsl.dialects import arith, func, gpu, math, memref, scf
from xdsl.dialects.builtin import (
    DenseIntOrFPElementsAttr,
    Float32Type,
    FloatAttr,
    FunctionType,
    IndexType,
    IntegerAttr,
    IntegerType,
    MemRefType,
    ModuleOp,
    NoneAttr,
    StridedLayoutAttr,
    SymbolRefAttr,
    VectorType,
    i32,
)
from xdsl.ir import Attribute, Block, Operation, Region, SSAValue
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
    op_type_rewrite_pattern,
)
from xdsl.utils.exceptions import PassFailedException

# Eigen's generic_fast_erf_float / XLA's ErfImpl32 coefficients, highest first.
ERF_ALPHA = (
    -2.72614225801306e-10,
    2.77068142495902e-08,
    -2.10102402082508e-06,
    -5.69250639462346e-05,
    -7.34990630326855e-04,
    -2.95459980854025e-03,
    -1.60960333262415e-02,
)
ERF_BETA = (
    -1.45660718464996e-05,
    -2.13374055278905e-04,
    -1.68282697438203e-03,
    -7.37332916720468e-03,
    -1.42647390514189e-02,
)

_FLOAT_BINARY: dict[type[Operation], Callable[[SSAValue, SSAValue], Operation]] = {
    arith.AddfOp: spirv.FAddOp,
    arith.SubfOp: spirv.FSubOp,
    arith.MulfOp: spirv.FMulOp,
    arith.DivfOp: spirv.FDivOp,
    arith.MaximumfOp: spirv.GLFMaxOp,
    arith.MaxnumfOp: spirv.GLFMaxOp,
    arith.MinimumfOp: spirv.GLFMinOp,
    arith.MinnumfOp: spirv.GLFMinOp,
    math.PowFOp: spirv.GLPowOp,
    math.Atan2Op: spirv.GLAtan2Op,
}
_INT_BINARY: dict[type[Operation], Callable[[SSAValue, SSAValue], Operation]] = {
    arith.AddiOp: spirv.IAddOp,
    arith.SubiOp: spirv.ISubOp,
    arith.MuliOp: spirv.IMulOp,
    arith.DivSIOp: spirv.SDivOp,
    arith.DivUIOp: spirv.UDivOp,
    arith.RemSIOp: spirv.SRemOp,
    arith.RemUIOp: spirv.UModOp,
    arith.ShLIOp: spirv.ShiftLeftLogicalOp,
    arith.ShRSIOp: spirv.ShiftRightArithmeticOp,
    arith.ShRUIOp: spirv.ShiftRightLogicalOp,
    arith.MaxSIOp: spirv.GLSMaxOp,
    arith.MinSIOp: spirv.GLSMinOp,
    arith.MaxUIOp: spirv.GLUMaxOp,
    arith.MinUIOp: spirv.GLUMinOp,
}
_BITWISE: dict[
    type[Operation], tuple[Callable[[SSAValue, SSAValue], Operation], ...]
] = {
    # (on integers, on i1)
    arith.AndIOp: (spirv.BitwiseAndOp, spirv.LogicalAndOp),
    arith.OrIOp: (spirv.BitwiseOrOp, spirv.LogicalOrOp),
    arith.XOrIOp: (spirv.BitwiseXorOp, spirv.LogicalNotEqualOp),
}
_UNARY: dict[type[Operation], Callable[[SSAValue], Operation]] = {
    arith.NegfOp: spirv.FNegateOp,
    math.ExpOp: spirv.GLExpOp,
    math.Exp2Op: spirv.GLExp2Op,
    math.LogOp: spirv.GLLogOp,
    math.Log2Op: spirv.GLLog2Op,
    math.SqrtOp: spirv.GLSqrtOp,
    math.RsqrtOp: spirv.GLInverseSqrtOp,
    math.AbsFOp: spirv.GLFAbsOp,
    math.AbsIOp: spirv.GLSAbsOp,
    math.FloorOp: spirv.GLFloorOp,
    math.CeilOp: spirv.GLCeilOp,
    math.RoundOp: spirv.GLRoundOp,
    math.RoundEvenOp: spirv.GLRoundEvenOp,
    math.TruncOp: spirv.GLTruncOp,
    math.SinOp: spirv.GLSinOp,
    math.CosOp: spirv.GLCosOp,
    math.TanOp: spirv.GLTanOp,
    math.AsinOp: spirv.GLAsinOp,
    math.AcosOp: spirv.GLAcosOp,
    math.AtanOp: spirv.GLAtanOp,
    math.SinhOp: spirv.GLSinhOp,
    math.CoshOp: spirv.GLCoshOp,
}
_CONVERT: dict[type[Operation], Callable[[SSAValue, Attribute], Operation]] = {
    arith.SIToFPOp: spirv.ConvertSToFOp,
    arith.UIToFPOp: spirv.ConvertUToFOp,
    arith.FPToSIOp: spirv.ConvertFToSOp,
    arith.FPToUIOp: spirv.ConvertFToUOp,
    arith.BitcastOp: spirv.BitcastOp,
}
# arith.cmpf predicate number -> op; 0 (false), 7 (ord), 14 (uno), 15 (true) are special.
_CMPF: dict[int, Callable[[SSAValue, SSAValue], Operation]] = {
    1: spirv.FOrdEqualOp,
    2: spirv.FOrdGreaterThanOp,
    3: spirv.FOrdGreaterThanEqualOp,
    4: spirv.FOrdLessThanOp,
    5: spirv.FOrdLessThanEqualOp,
    6: spirv.FOrdNotEqualOp,
    8: spirv.FUnordEqualOp,
    9: spirv.FUnordGreaterThanOp,
    10: spirv.FUnordGreaterThanEqualOp,
    11: spirv.FUnordLessThanOp,
    12: spirv.FUnordLessThanEqualOp,
    13: spirv.FUnordNotEqualOp,
}
# arith.cmpi predicate number (eq, ne, slt, sle, sgt, sge, ult, ule, ugt, uge) -> op.
_CMPI: dict[int, Callable[[SSAValue, SSAValue], Operation]] = {
    0: spirv.IEqualOp,
    1: spirv.INotEqualOp,
    2: spirv.SLessThanOp,
    3: spirv.SLessThanEqualOp,
    4: spirv.SGreaterThanOp,
    5: spirv.SGreaterThanEqualOp,
    6: spirv.ULessThanOp,
    7: spirv.ULessThanEqualOp,
    8: spirv.UGreaterThanOp,
    9: spirv.UGreaterThanEqualOp,
}
_BUILTIN_OF: dict[type[Operation], spirv.BuiltIn] = {
    gpu.GlobalIdOp: spirv.BuiltIn.GlobalInvocationId,
    gpu.BlockIdOp: spirv.BuiltIn.WorkgroupId,
    gpu.ThreadIdOp: spirv.BuiltIn.LocalInvocationId,
    gpu.GridDimOp: spirv.BuiltIn.NumWorkgroups,
}
_DIM_INDEX = {"x": 0, "y": 1, "z": 2}

BUFFER_ELEMENT_TYPES = {"f32": "float32", "i32": "int32", "i1": "int32"}
"""Memref element types a kernel buffer may have -> numpy dtype names.

SPIR-V has no booleans in storage buffers: an ``i1`` buffer holds one 32-bit
integer per element (0 or 1); loads compare it with 0, stores select 1 or 0.
"""


def parse_version(text: str) -> tuple[int, int]:
    """``"1.3"`` or ``"v1.3"`` -> ``(1, 3)``; raises PassFailedException outside 1.3-1.6."""
    try:
        major, minor = (int(p) for p in text.lstrip("v").split("."))
    except ValueError:
        raise PassFailedException(f"malformed SPIR-V version '{text}'") from None
    if (major, minor) < (1, 3) or (major, minor) > (1, 6):
        raise PassFailedException(f"SPIR-V version {text} unsupported: use 1.3 to 1.6")
    return major, minor


def convert_type(ty: Attribute) -> Attribute:
    """Kernel scalar type -> SPIR-V type: index and i64 -> i32; i1, i32, f32
    unchanged.

    i64 scalars in kernels are index arithmetic (``arith.index_cast`` to i64 and
    back, e.g. interpolation's source coordinates): buffers hold f32/i32 only and
    their sizes fit 32 bits, so they are narrowed like ``index``.
    Raises PassFailedException for any other type.
    """
    if isinstance(ty, IndexType) or (isinstance(ty, IntegerType) and ty.width.data == 64):
        return i32
    if isinstance(ty, IntegerType) and ty.width.data in (1, 32):
        return IntegerType(ty.width.data)
    if isinstance(ty, Float32Type):
        return ty
    raise PassFailedException(
        f"type {ty} is not supported in SPIR-V kernels (i1, i32, f32, index)"
    )


def buffer_type(ty: MemRefType) -> spirv.PointerType:
    """The StorageBuffer pointer type of a kernel memref argument.

    ``memref<4x8xf32>`` -> ``!spirv.ptr<!spirv.struct<(!spirv.array<32 x f32,
    stride=4> [0]), Block>, StorageBuffer>``. Raises PassFailedException for
    dynamic shapes, non-identity layouts or element types other than f32/i32.
    """
    shape = ty.get_shape()
    if any(d < 0 for d in shape):
        raise PassFailedException(f"{ty} must have a static shape")
    if not isinstance(ty.layout, NoneAttr) and not (
        isinstance(ty.layout, StridedLayoutAttr)
        and ty.layout.get_strides() == tuple(_row_major_strides(shape))
        and ty.layout.get_offset() in (0, None)
    ):
        raise PassFailedException(f"{ty} must have the identity layout")
    if str(ty.element_type) not in BUFFER_ELEMENT_TYPES:
        raise PassFailedException(f"{ty}: buffers hold f32, i32 or i1 elements")
    count = 1
    for d in shape:
        count *= d
    element = i32 if _is_bool(ty.element_type) else ty.element_type
    array = spirv.ArrayType(max(count, 1), element, 4)
    return spirv.PointerType(
        spirv.StructType([array], [0], ["Block"]), spirv.StorageClass.StorageBuffer
    )


def _is_bool(ty: Attribute) -> bool:
    return isinstance(ty, IntegerType) and ty.width.data == 1


def _row_major_strides(shape: Sequence[int]) -> list[int]:
    strides = [1] * len(shape)
    for d in range(len(shape) - 2, -1, -1):
        strides[d] = strides[d + 1] * shape[d + 1]
    return strides


class _KernelLowering:
    """Builds the spirv.module of one gpu.func kernel."""

    def __init__(self, kernel: gpu.FuncOp, version: tuple[int, int]):
        self.kernel = kernel
        self.version = version
        self.name = kernel.sym_name.data
        self.func = spirv.FuncOp(self.name, FunctionType.from_lists([], []))
        self.entry = self.func.body.block
        self.block = self.entry
        self.values: dict[SSAValue, SSAValue] = {}
        self.buffers: dict[SSAValue, spirv.GlobalVariableOp] = {}
        self.builtins: dict[spirv.BuiltIn, spirv.GlobalVariableOp] = {}
        self.constants: dict[tuple[Attribute, object], SSAValue] = {}
        self.prologue = (
            0  # number of ops (constants, variables) at the top of the entry block
        )

    # ----------------------------------------------------------- helpers

    def emit(self, op: Operation) -> SSAValue:
        self.block.add_op(op)
        return op.results[0] if op.results else None  # type: ignore[return-value]

    def _prologue_op(self, op: Operation) -> SSAValue:
        ops = list(self.entry.ops)
        if self.prologue < len(ops):
            self.entry.insert_op_before(op, ops[self.prologue])
        else:
            self.entry.add_op(op)
        self.prologue += 1
        return op.results[0]

    def const(self, value: float, ty: Attribute = i32) -> SSAValue:
        """A spirv.Constant in the entry block's prologue (so it dominates all uses)."""
        key = (ty, float(value).hex() if isinstance(ty, Float32Type) else int(value))
        if key not in self.constants:
            attr = (
                FloatAttr(float(value), ty)
                if isinstance(ty, Float32Type)
                else IntegerAttr(int(value), ty)
            )
            self.constants[key] = self._prologue_op(spirv.ConstantOp(attr))
        return self.constants[key]

    def variable(self, ty: Attribute) -> SSAValue:
        return self._prologue_op(spirv.VariableOp(ty))

    def value(self, v: SSAValue) -> SSAValue:
        if v not in self.values:
            raise PassFailedException(f"value of type {v.type} has no SPIR-V lowering")
        return self.values[v]

    def builtin(self, which: spirv.BuiltIn, dim: int) -> SSAValue:
        if which not in self.builtins:
            ty = spirv.PointerType(VectorType(i32, [3]), spirv.StorageClass.Input)
            self.builtins[which] = spirv.GlobalVariableOp(
                f"__builtin__{which.name}__", ty, built_in=which
            )
        var = self.builtins[which]
        vec = self.emit(spirv.LoadOp(self.emit(spirv.AddressOfOp(var))))
        return self.emit(spirv.CompositeExtractOp(vec, [dim]))

    def pointer(self, mem: SSAValue, indices: Sequence[SSAValue]) -> SSAValue:
        var = self.buffers.get(mem)
        if var is None:
            raise PassFailedException("memref accesses must use a kernel argument")
        assert isinstance(mem.type, MemRefType)
        linear: SSAValue | None = None
        for idx, stride in zip(indices, _row_major_strides(mem.type.get_shape())):
            term = self.value(idx)
            if stride != 1:
                term = self.emit(spirv.IMulOp(term, self.const(stride)))
            linear = term if linear is None else self.emit(spirv.IAddOp(linear, term))
        base = self.emit(spirv.AddressOfOp(var))
        zero = self.const(0)
        return self.emit(
            spirv.AccessChainOp(base, [zero, linear if linear is not None else zero])
        )

    # ------------------------------------------------------------ module

    def lower(self) -> spirv.ModuleOp:
        kernel = self.kernel
        if len(kernel.body.blocks) != 1:
            raise PassFailedException(f"kernel @{self.name} must have a single block")
        size = kernel.known_block_size
        if size is None:
            raise PassFailedException(f"kernel @{self.name} needs gpu.known_block_size")
        self.local_size = tuple(size.get_values())
        stored = {o.memref for o in kernel.walk() if isinstance(o, memref.StoreOp)}
        globals_: list[Operation] = []
        for i, arg in enumerate(kernel.body.block.args):
            if not isinstance(arg.type, MemRefType):
                raise PassFailedException(
                    f"kernel @{self.name}: argument {i} is not a memref"
                )
            ptr = buffer_type(arg.type)
            if arg not in stored:
                struct = ptr.pointee
                assert isinstance(struct, spirv.StructType)
                ptr = spirv.PointerType(
                    spirv.StructType(
                        list(struct.members), [0], ["Block"], [["NonWritable"]]
                    ),
                    spirv.StorageClass.StorageBuffer,
                )
            var = spirv.GlobalVariableOp(f"{self.name}_arg{i}", ptr, bind=(0, i))
            self.buffers[arg] = var
            globals_.append(var)
        self.lower_block(kernel.body.block)
        interface = [v.sym_name.data for v in self.builtins.values()]
        if self.version >= (1, 4):
            interface += [v.sym_name.data for v in globals_]
        return spirv.ModuleOp(
            [
                *self.builtins.values(),
                *globals_,
                self.func,
                spirv.EntryPointOp(
                    spirv.ExecutionModel.GLCompute, self.name, interface
                ),
                spirv.ExecutionModeOp(
                    self.name, spirv.ExecutionMode.LocalSize, self.local_size
                ),
            ],
            sym_name=self.name,
            vce=spirv.VerCapExtAttr(self.version, ["Shader"], []),
        )

    def lower_block(self, block: Block) -> list[SSAValue]:
        """Lower ``block``'s ops into ``self.block``; returns the mapped yielded values."""
        for op in block.ops:
            if isinstance(op, scf.YieldOp):
                return [self.value(v) for v in op.operands]
            if isinstance(op, gpu.ReturnOp):
                self.emit(spirv.ReturnOp())
                return []
            self.lower_op(op)
        return []

    # --------------------------------------------------------------- ops

    def lower_op(self, op: Operation) -> None:
        t = type(op)
        if isinstance(op, arith.ConstantOp):
            if not isinstance(op.value, IntegerAttr | FloatAttr):
                raise PassFailedException(
                    "only scalar arith.constant values can appear in kernels"
                )
            ty = convert_type(op.result.type)
            self.values[op.result] = self.const(op.value.value.data, ty)
            return
        if isinstance(op, scf.ForOp):
            return self.lower_for(op)
        if isinstance(op, scf.IfOp):
            return self.lower_if(op)
        if isinstance(op, memref.LoadOp):
            ptr = self.pointer(op.memref, op.indices)
            loaded = self.emit(spirv.LoadOp(ptr))
            if _is_bool(op.res.type):
                loaded = self.emit(spirv.INotEqualOp(loaded, self.const(0)))
            self.values[op.res] = loaded
            return
        if isinstance(op, memref.StoreOp):
            ptr = self.pointer(op.memref, op.indices)
            value = self.value(op.value)
            if _is_bool(op.value.type):
                value = self.emit(spirv.SelectOp(value, self.const(1), self.const(0)))
            self.emit(spirv.StoreOp(ptr, value))
            return
        if t in _BUILTIN_OF:
            dim = _DIM_INDEX[op.dimension.data]  # type: ignore[attr-defined]
            self.values[op.results[0]] = self.builtin(_BUILTIN_OF[t], dim)
            return
        if isinstance(op, gpu.BlockDimOp):
            self.values[op.result] = self.const(
                self.local_size[_DIM_INDEX[op.dimension.data]]
            )
            return
        operands = [self.value(v) for v in op.operands]
        self.values[op.results[0]] = self.lower_compute(op, operands)

    def lower_compute(self, op: Operation, x: list[SSAValue]) -> SSAValue:
        """Lower a side-effect-free arith/math op whose operands are already lowered."""
        t = type(op)
        if t in _FLOAT_BINARY:
            return self.emit(_FLOAT_BINARY[t](*x))
        if t in _INT_BINARY:
            return self.emit(_INT_BINARY[t](*x))
        if t in _BITWISE:
            on_int, on_bool = _BITWISE[t]
            return self.emit((on_bool if x[0].type == spirv.BoolType else on_int)(*x))
        if t in _UNARY:
            return self.emit(_UNARY[t](*x))
        if t in _CONVERT:
            return self.emit(_CONVERT[t](x[0], convert_type(op.results[0].type)))
        if isinstance(op, arith.CmpiOp):
            return self.emit(_CMPI[op.predicate.value.data](*x))
        if isinstance(op, arith.CmpfOp):
            return self.lower_cmpf(op.predicate.value.data, x)
        if isinstance(op, arith.SelectOp):
            return self.emit(spirv.SelectOp(*x))
        if isinstance(op, arith.IndexCastOp):
            if convert_type(op.results[0].type) != x[0].type:
                raise PassFailedException(
                    "index casts must be between index and i32 or i64"
                )
            return x[0]
        if (
            isinstance(op, arith.ExtSIOp | arith.ExtUIOp | arith.TruncIOp)
            and convert_type(op.results[0].type) == x[0].type
        ):
            return x[0]  # between i32 and i64, both i32 in kernels
        if (
            isinstance(op, arith.ExtUIOp | arith.ExtSIOp)
            and x[0].type == spirv.BoolType
        ):
            one = -1 if isinstance(op, arith.ExtSIOp) else 1
            ty = convert_type(op.results[0].type)
            return self.emit(
                spirv.SelectOp(x[0], self.const(one, ty), self.const(0, ty))
            )
        if isinstance(op, math.FmaOp):
            return self.emit(spirv.GLFmaOp(*x))
        if isinstance(op, math.TanhOp):
            clamped = self.emit(
                spirv.GLFClampOp(
                    x[0], self.const(-10.0, x[0].type), self.const(10.0, x[0].type)
                )
            )
            return self.emit(spirv.GLTanhOp(clamped))
        if isinstance(op, math.ErfOp):
            return self.lower_erf(x[0])
        if isinstance(op, math.Log1pOp):
            return self.emit(
                spirv.GLLogOp(self.emit(spirv.FAddOp(x[0], self.const(1.0, x[0].type))))
            )
        if isinstance(op, math.ExpM1Op):
            return self.emit(
                spirv.FSubOp(self.emit(spirv.GLExpOp(x[0])), self.const(1.0, x[0].type))
            )
        if isinstance(op, math.Log10Op):
            log = self.emit(spirv.GLLogOp(x[0]))
            return self.emit(
                spirv.FMulOp(log, self.const(0.4342944819032518, x[0].type))
            )
        raise PassFailedException(f"'{op.name}' has no SPIR-V lowering")

    def lower_cmpf(self, predicate: int, x: list[SSAValue]) -> SSAValue:
        if predicate in _CMPF:
            return self.emit(_CMPF[predicate](*x))
        if predicate in (0, 15):
            return self.const(int(predicate == 15), spirv.BoolType)
        nan_a = self.emit(spirv.IsNanOp(x[0]))
        nan_b = self.emit(spirv.IsNanOp(x[1]))
        any_nan = self.emit(spirv.LogicalOrOp(nan_a, nan_b))
        return any_nan if predicate == 14 else self.emit(spirv.LogicalNotOp(any_nan))

    def lower_erf(self, x: SSAValue) -> SSAValue:
        ty = x.type
        xc = self.emit(spirv.GLFClampOp(x, self.const(-4.0, ty), self.const(4.0, ty)))
        x2 = self.emit(spirv.FMulOp(xc, xc))

        def horner(coefficients: Sequence[float]) -> SSAValue:
            acc = self.const(coefficients[0], ty)
            for c in coefficients[1:]:
                acc = self.emit(
                    spirv.FAddOp(self.emit(spirv.FMulOp(acc, x2)), self.const(c, ty))
                )
            return acc

        p = self.emit(spirv.FMulOp(horner(ERF_ALPHA), xc))
        return self.emit(spirv.FDivOp(p, horner(ERF_BETA)))

    def lower_for(self, op: scf.ForOp) -> None:
        lb, ub, step = (self.value(v) for v in (op.lb, op.ub, op.step))
        inits = [self.value(v) for v in op.iter_args]
        arg_types = [i32, *(v.type for v in inits)]
        result_vars = [self.variable(v.type) for v in inits]
        entry, header, body, cont, merge = (
            Block(),
            Block(arg_types=arg_types),
            Block(),
            Block(),
            Block(),
        )
        loop = spirv.LoopOp(Region([entry, header, body, cont, merge]))
        self.emit(loop)
        entry.add_op(spirv.BranchOp(header, lb, *inits))
        iv, *carried = header.args
        for var, value in zip(result_vars, carried):
            header.add_op(spirv.StoreOp(var, value))
        cond = spirv.SLessThanOp(iv, ub)
        header.add_ops([cond, spirv.BranchConditionalOp(cond, body, merge)])
        outer = self.block
        self.block = body
        self.values[op.body.block.args[0]] = iv
        for src, dst in zip(op.body.block.args[1:], carried):
            self.values[src] = dst
        yielded = self.lower_block(op.body.block)
        self.emit(spirv.BranchOp(cont))
        nxt = spirv.IAddOp(iv, step)
        cont.add_ops([nxt, spirv.BranchOp(header, nxt, *yielded)])
        merge.add_op(spirv.MergeOp())
        self.block = outer
        for res, var in zip(op.results, result_vars):
            self.values[res] = self.emit(spirv.LoadOp(var))

    def lower_if(self, op: scf.IfOp) -> None:
        result_vars = [self.variable(convert_type(r.type)) for r in op.results]
        header, merge = Block(), Block()
        branches = [(Block(), op.true_region)]
        if op.false_region.blocks:
            branches.append((Block(), op.false_region))
        else_target = branches[1][0] if len(branches) > 1 else merge
        header.add_op(
            spirv.BranchConditionalOp(self.value(op.cond), branches[0][0], else_target)
        )
        selection = spirv.SelectionOp(
            Region([header, *(b for b, _ in branches), merge])
        )
        self.emit(selection)
        outer = self.block
        for block, region in branches:
            self.block = block
            yielded = self.lower_block(region.block)
            for var, value in zip(result_vars, yielded):
                self.emit(spirv.StoreOp(var, value))
            self.emit(spirv.BranchOp(merge))
        merge.add_op(spirv.MergeOp())
        self.block = outer
        for res, var in zip(op.results, result_vars):
            self.values[res] = self.emit(spirv.LoadOp(var))


def lower_kernel(
    kernel: gpu.FuncOp, version: tuple[int, int] = (1, 3)
) -> spirv.ModuleOp:
    """Lower one ``gpu.func`` kernel to a ``spirv.module`` named after it.

    Raises PassFailedException for ops, types or shapes without a lowering.
    """
    return _KernelLowering(kernel, version).lower()


@dataclass
class LowerGPUModulePattern(RewritePattern):
    """Replace a ``gpu.module`` by one ``spirv.module`` per kernel and retarget launches."""

    version: tuple[int, int] = (1, 3)

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: gpu.ModuleOp, rewriter: PatternRewriter):
        kernels = [f for f in op.body.block.ops if isinstance(f, gpu.FuncOp)]
        if any(f.kernel is None for f in kernels):
            raise PassFailedException("only kernel functions can be lowered to SPIR-V")
        modules = [lower_kernel(k, self.version) for k in kernels]
        top = op.parent_op()
        assert top is not None
        renamed = {k.sym_name.data for k in kernels}
        for launch in top.walk():
            if isinstance(launch, gpu.LaunchFuncOp):
                ref = launch.kernel
                nested = [r.data for r in ref.nested_references]
                if (
                    ref.root_reference.data == op.sym_name.data
                    and nested
                    and nested[-1] in renamed
                ):
                    launch.kernel = SymbolRefAttr(nested[-1], [nested[-1]])
                    rewriter.notify_op_modified(launch)
        rewriter.replace(op, modules, new_results=[])


@dataclass(frozen=True)
class ConvertGPUToSPIRVPass(ModulePass):
    """Lower every ``gpu.module`` of kernels to ``spirv.module``s (one per kernel).

    Option ``spirv_version``: "1.3" (default) to "1.6". ``gpu.launch_func``
    ops then name ``@kernel::@kernel`` (the spirv.module and its entry point).
    """

    name = "convert-gpu-to-spirv"

    spirv_version: str = "1.3"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        version = parse_version(self.spirv_version)
        PatternRewriteWalker(
            LowerGPUModulePattern(version), apply_recursively=False
        ).rewrite_module(op)


# --------------------------------------------------------------------------
# Host side: the dispatch table
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class BufferSpec:
    """One device buffer: ``shape``, numpy ``dtype`` name, and where it comes from.

    ``argument`` is the host function's argument index for an input buffer,
    None for a temporary (``memref.alloc``) the runtime allocates. ``constant``
    names the entry of ``DispatchTable.constants`` holding the initial contents
    of a constant buffer (a ``memref.get_global``), else None.
    """

    shape: tuple[int, ...]
    dtype: str
    argument: int | None = None
    constant: str | None = None

    @property
    def nbytes(self) -> int:
        """Size in bytes (4-byte elements)."""
        n = 4
        for d in self.shape:
            n *= d
        return n


@dataclass(frozen=True)
class KernelDispatch:
    """One compute dispatch.

    ``spirv``: the SPIR-V binary; ``entry_point``: its GLCompute entry point;
    ``bindings[i]``: index (into ``DispatchTable.buffers``) of the buffer bound
    at descriptor set 0, binding i; ``workgroups``: workgroup counts (x, y, z);
    ``local_size``: invocations per workgroup (x, y, z).
    """

    name: str
    spirv: bytes
    entry_point: str
    bindings: tuple[int, ...]
    workgroups: tuple[int, int, int]
    local_size: tuple[int, int, int]


@dataclass(frozen=True)
class DispatchTable:
    """The host program of a GPU function: buffers, dispatches in order, results.

    ``results``: buffer indices whose contents the function produces (its
    returned memrefs, or else the argument buffers that kernels write).
    ``constants``: the contents of constant buffers (``BufferSpec.constant``),
    numpy arrays of the buffer's shape and dtype.
    """

    buffers: tuple[BufferSpec, ...]
    kernels: tuple[KernelDispatch, ...]
    results: tuple[int, ...]
    inputs: tuple[int, ...] = field(default=())
    constants: dict[str, np.ndarray] = field(default_factory=dict, compare=False)

    def __hash__(self) -> int:
        return hash((self.buffers, self.kernels, self.results, self.inputs))

    def save(self, directory: str | Path) -> None:
        """Write ``dispatch.json``, one ``<kernel>.spv`` per dispatch and one
        ``<constant>.npy`` per constant buffer into ``directory``."""
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        for name, data in self.constants.items():
            np.save(path / f"{name}.npy", data, allow_pickle=False)
        kernels = []
        for k in self.kernels:
            (path / f"{k.name}.spv").write_bytes(k.spirv)
            kernels.append(
                {
                    "name": k.name,
                    "spv": f"{k.name}.spv",
                    "entry_point": k.entry_point,
                    "bindings": list(k.bindings),
                    "workgroups": list(k.workgroups),
                    "local_size": list(k.local_size),
                }
            )
        table = {
            "format": 1,
            "buffers": [
                {
                    "shape": list(b.shape),
                    "dtype": b.dtype,
                    "argument": b.argument,
                    **({"constant": f"{b.constant}.npy"} if b.constant else {}),
                }
                for b in self.buffers
            ],
            "kernels": kernels,
            "results": list(self.results),
        }
        (path / "dispatch.json").write_text(json.dumps(table, indent=2))

    @staticmethod
    def load(directory: str | Path) -> DispatchTable:
        """Read a table written by ``save``. Raises ValueError on an unknown format."""
        path = Path(directory)
        table = json.loads((path / "dispatch.json").read_text())
        if table.get("format") != 1:
            raise ValueError(f"unknown dispatch table format {table.get('format')}")
        buffers = tuple(
            BufferSpec(
                tuple(b["shape"]),
                b["dtype"],
                b["argument"],
                b["constant"].removesuffix(".npy") if b.get("constant") else None,
            )
            for b in table["buffers"]
        )
        constants = {
            b.constant: np.load(path / f"{b.constant}.npy", allow_pickle=False)
            for b in buffers
            if b.constant
        }
        kernels = tuple(
            KernelDispatch(
                k["name"],
                (path / k["spv"]).read_bytes(),
                k["entry_point"],
                tuple(k["bindings"]),
                tuple(k["workgroups"]),
                tuple(k["local_size"]),  # type: ignore[arg-type]
            )
            for k in table["kernels"]
        )
        return DispatchTable(
            buffers, kernels, tuple(table["results"]), _inputs(buffers), constants
        )


def _inputs(buffers: Sequence[BufferSpec]) -> tuple[int, ...]:
    by_arg = sorted(
        (b.argument, i) for i, b in enumerate(buffers) if b.argument is not None
    )
    return tuple(i for _, i in by_arg)


def _constant_index(value: SSAValue) -> int:
    op = value.owner
    if isinstance(op, arith.ConstantOp) and isinstance(op.value, IntegerAttr):
        return op.value.value.data
    raise PassFailedException("gpu.launch_func sizes must be arith.constant values")


def _written_bindings(module: spirv.ModuleOp) -> set[int]:
    written: set[int] = set()
    variables = {
        v.sym_name.data: v.binding.value.data
        for v in module.body.block.ops
        if isinstance(v, spirv.GlobalVariableOp) and v.binding is not None
    }
    for op in module.walk():
        if isinstance(op, spirv.StoreOp) and isinstance(
            op.ptr.owner, spirv.AccessChainOp
        ):
            base = op.ptr.owner.base_ptr.owner
            if isinstance(base, spirv.AddressOfOp):
                name = base.variable.root_reference.data
                if name in variables:
                    written.add(variables[name])
    return written


def build_dispatch_table(
    module: ModuleOp, function: str | None = None
) -> DispatchTable:
    """The dispatch table of a host ``func.func`` after ``convert-gpu-to-spirv``.

    ``function``: the host function's name (default: the only one that
    launches kernels). The host body may hold arith.constant, memref.alloc
    (temporary buffers), memref.get_global (constant buffers: the global must
    have a dense initial value and not be written), gpu.launch_func,
    memref.dealloc and func.return; each
    launched ``spirv.module`` is serialized. Raises PassFailedException for
    anything else (scalar arguments, other host ops, unknown kernels).
    """
    hosts = [
        f
        for f in module.walk()
        if isinstance(f, func.FuncOp)
        and (
            function is None
            and any(isinstance(o, gpu.LaunchFuncOp) for o in f.walk())
            or f.sym_name.data == function
        )
    ]
    if len(hosts) != 1:
        raise PassFailedException(f"expected one host function, found {len(hosts)}")
    host = hosts[0]
    spirv_modules = {
        m.sym_name.data: m
        for m in module.walk()
        if isinstance(m, spirv.ModuleOp) and m.sym_name
    }
    globals_ = {
        g.sym_name.data: g for g in module.walk() if isinstance(g, memref.GlobalOp)
    }
    buffers: list[BufferSpec] = []
    index: dict[SSAValue, int] = {}
    constants: dict[str, np.ndarray] = {}
    global_buffers: dict[str, int] = {}

    def add_buffer(
        value: SSAValue, argument: int | None, constant: str | None = None
    ) -> None:
        ty = value.type
        if not isinstance(ty, MemRefType):
            raise PassFailedException(
                f"host function argument of type {ty}: only memrefs can be passed"
            )
        buffer_type(ty)
        index[value] = len(buffers)
        buffers.append(
            BufferSpec(
                tuple(ty.get_shape()),
                BUFFER_ELEMENT_TYPES[str(ty.element_type)],
                argument,
                constant,
            )
        )

    def add_global(op: memref.GetGlobalOp) -> None:
        name = op.name_.root_reference.data
        if name in global_buffers:  # one buffer per global
            index[op.memref] = global_buffers[name]
            return
        g = globals_.get(name)
        if g is None or not isinstance(g.initial_value, DenseIntOrFPElementsAttr):
            raise PassFailedException(
                f"memref.get_global @{name}: the global must exist and be initialized "
                "with dense<...> values"
            )
        if g.constant is None and any(
            isinstance(o, memref.StoreOp) and o.memref.owner is op for o in host.walk()
        ):
            raise PassFailedException(f"global @{name} is written: not supported")
        key = f"constant{len(constants)}"
        add_buffer(op.memref, None, key)
        spec = buffers[-1]
        values = np.asarray(g.initial_value.get_values())
        if _is_bool(g.type.element_type):
            values = values != 0  # i1 values may read as -1 (signed)
        values = values.astype(spec.dtype)
        count = int(np.prod(spec.shape)) if spec.shape else 1
        if values.size == 1 and count != 1:  # a splat
            values = np.full(count, values.reshape(()), dtype=spec.dtype)
        constants[key] = values.reshape(spec.shape)
        global_buffers[name] = index[op.memref]

    for i, arg in enumerate(host.body.block.args):
        add_buffer(arg, i)
    kernels: list[KernelDispatch] = []
    serialized: dict[str, bytes] = {}  # a kernel launched twice is serialized once
    written: set[int] = set()
    results: list[int] | None = None
    for op in host.body.block.ops:
        if isinstance(op, arith.ConstantOp | memref.DeallocOp):
            continue
        if isinstance(op, memref.AllocOp | memref.AllocaOp):
            add_buffer(op.memref, None)
        elif isinstance(op, memref.GetGlobalOp):
            add_global(op)
        elif isinstance(op, gpu.LaunchFuncOp):
            name = op.kernel.root_reference.data
            if name not in spirv_modules:
                raise PassFailedException(
                    f"@{name} is not a spirv.module; run convert-gpu-to-spirv first"
                )
            spv_module = spirv_modules[name]
            if name not in serialized:
                serialized[name] = serialize(spv_module)
            bindings = tuple(index[v] for v in op.kernelOperands)
            written |= {bindings[b] for b in _written_bindings(spv_module)}
            entry = [
                e
                for e in spv_module.body.block.ops
                if isinstance(e, spirv.EntryPointOp)
            ]
            mode = [
                e
                for e in spv_module.body.block.ops
                if isinstance(e, spirv.ExecutionModeOp)
            ]
            kernels.append(
                KernelDispatch(
                    name=name,
                    spirv=serialized[name],
                    entry_point=entry[0].fn.root_reference.data,
                    bindings=bindings,
                    workgroups=tuple(
                        _constant_index(v)
                        for v in (op.gridSizeX, op.gridSizeY, op.gridSizeZ)
                    ),  # type: ignore[arg-type]
                    local_size=tuple(v.data for v in mode[0].values)
                    if mode
                    else (1, 1, 1),  # type: ignore[arg-type]
                )
            )
        elif isinstance(op, func.ReturnOp):
            results = [index[v] for v in op.arguments] if op.arguments else None
        else:
            raise PassFailedException(
                f"host op '{op.name}' cannot run from a dispatch table"
            )
    if results is None:
        results = sorted(i for i in written if buffers[i].argument is not None)
    return DispatchTable(
        tuple(buffers), tuple(kernels), tuple(results), _inputs(buffers), constants
    )
