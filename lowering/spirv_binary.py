"""Serialize a ``spirv.module`` to a SPIR-V binary, and validate binaries.

The binary layout follows the SPIR-V specification (Khronos, 1.6 unified,
section 2.3 "Physical Layout of a SPIR-V Module and Instruction"): a five-word
header, then capabilities, extensions, extended-instruction imports, the memory
model, entry points, execution modes, debug names, decorations, types /
constants / global variables, and function definitions. Types and constants are
deduplicated (SPIR-V forbids two identical non-aggregate type declarations).

Structured control flow follows MLIR's SPIR-V serializer
(mlir/lib/Target/SPIRV/Serialization): a ``spirv.mlir.loop``'s entry block is
folded into the enclosing block as an OpBranch to the header, the header gets
OpLoopMerge right before its terminator, and the merge block's label starts
the block in which the ops after the loop are emitted; a
``spirv.mlir.selection``'s header ops are emitted in the enclosing block,
followed by OpSelectionMerge. Block arguments become OpPhi instructions.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import tempfile
from collections.abc import Sequence

from dagc.dialects import spirv
from xdsl.dialects.builtin import (
    Float16Type,
    Float32Type,
    Float64Type,
    FloatAttr,
    FunctionType,
    IntegerAttr,
    IntegerType,
    Signedness,
    VectorType,
)
from xdsl.dialects.builtin import (
    ModuleOp as BuiltinModuleOp,
)
from xdsl.ir import Attribute, Block, Operation, SSAValue

MAGIC = 0x07230203
"""The SPIR-V magic number (first header word)."""

GENERATOR = 0
"""Generator magic number: 0 is 'no registered generator'."""

# Opcodes of the instructions the serializer writes itself (spec section 3.52).
OP_NAME = 5
OP_EXTENSION = 10
OP_EXT_INST_IMPORT = 11
OP_EXT_INST = 12
OP_MEMORY_MODEL = 14
OP_ENTRY_POINT = 15
OP_EXECUTION_MODE = 16
OP_CAPABILITY = 17
OP_TYPE_VOID = 19
OP_TYPE_BOOL = 20
OP_TYPE_INT = 21
OP_TYPE_FLOAT = 22
OP_TYPE_VECTOR = 23
OP_TYPE_ARRAY = 28
OP_TYPE_RUNTIME_ARRAY = 29
OP_TYPE_STRUCT = 30
OP_TYPE_POINTER = 32
OP_TYPE_FUNCTION = 33
OP_CONSTANT_TRUE = 41
OP_CONSTANT_FALSE = 42
OP_CONSTANT = 43
OP_FUNCTION = 54
OP_FUNCTION_PARAMETER = 55
OP_FUNCTION_END = 56
OP_VARIABLE = 59
OP_ACCESS_CHAIN = 65
OP_DECORATE = 71
OP_MEMBER_DECORATE = 72
OP_COMPOSITE_EXTRACT = 81
OP_PHI = 245
OP_LOOP_MERGE = 246
OP_SELECTION_MERGE = 247
OP_LABEL = 248
OP_BRANCH = 249
OP_BRANCH_CONDITIONAL = 250


class SerializationError(Exception):
    """The ``spirv.module`` cannot be written as a SPIR-V binary."""


class SPIRVValidationError(Exception):
    """``spirv-val`` (or dagc's own header checks) refused a SPIR-V binary."""


def _string_words(text: str) -> list[int]:
    """A literal string: UTF-8, nul-terminated, padded to whole little-endian words."""
    data = text.encode() + b"\0"
    data += b"\0" * (-len(data) % 4)
    return list(struct.unpack(f"<{len(data) // 4}I", data))


def _inst(opcode: int, *operands: int) -> list[int]:
    return [((len(operands) + 1) << 16) | opcode, *operands]


class _Serializer:
    """One-shot serializer state for one ``spirv.module``."""

    def __init__(self, module: spirv.ModuleOp):
        self.module = module
        self.next_id = 1
        self.names: list[list[int]] = []
        self.decorations: list[list[int]] = []
        self.globals: list[list[int]] = []  # types, constants, global variables
        self.functions: list[list[int]] = []
        self.type_ids: dict[object, int] = {}
        self.const_ids: dict[tuple[int, tuple[int, ...]], int] = {}
        self.symbol_ids: dict[str, int] = {}
        self.glsl_id = self.fresh()
        self.uses_glsl = False

    def fresh(self) -> int:
        self.next_id += 1
        return self.next_id - 1

    # ---------------------------------------------------------------- types

    def _dedup(self, key: object, opcode: int, operands: Sequence[int]) -> int:
        if key not in self.type_ids:
            ident = self.fresh()
            self.globals.append(_inst(opcode, ident, *operands))
            self.type_ids[key] = ident
        return self.type_ids[key]

    def type_id(self, ty: Attribute | None) -> int:
        """The id of ``ty`` (None is void), declaring it and its parts on first use."""
        if ty is None:
            return self._dedup(("void",), OP_TYPE_VOID, ())
        if isinstance(ty, IntegerType):
            if ty.width.data == 1:
                return self._dedup(("bool",), OP_TYPE_BOOL, ())
            signed = int(ty.signedness.data == Signedness.SIGNED)
            return self._dedup(
                ("int", ty.width.data, signed), OP_TYPE_INT, (ty.width.data, signed)
            )
        if isinstance(ty, Float16Type | Float32Type | Float64Type):
            return self._dedup(("float", ty.bitwidth), OP_TYPE_FLOAT, (ty.bitwidth,))
        if isinstance(ty, VectorType):
            if ty.get_num_dims() != 1:
                raise SerializationError(f"only 1-D vectors exist in SPIR-V, got {ty}")
            elem = self.type_id(ty.element_type)
            n = ty.get_shape()[0]
            return self._dedup(("vec", elem, n), OP_TYPE_VECTOR, (elem, n))
        if isinstance(ty, spirv.PointerType):
            pointee = self.type_id(ty.pointee)
            sc = spirv.StorageClass[ty.storage_class.data].value
            return self._dedup(("ptr", pointee, sc), OP_TYPE_POINTER, (sc, pointee))
        if isinstance(ty, FunctionType):
            ret = self.type_id(ty.outputs.data[0] if ty.outputs else None)
            params = tuple(self.type_id(t) for t in ty.inputs)
            return self._dedup(("fn", ret, params), OP_TYPE_FUNCTION, (ret, *params))
        if isinstance(ty, spirv.ArrayType | spirv.RuntimeArrayType | spirv.StructType):
            return self._aggregate_id(ty)
        raise SerializationError(f"type {ty} has no SPIR-V equivalent")

    def _aggregate_id(
        self, ty: spirv.ArrayType | spirv.RuntimeArrayType | spirv.StructType
    ) -> int:
        # Aggregates are keyed by the attribute: equal operands with other
        # decorations are distinct types.
        if ty in self.type_ids:
            return self.type_ids[ty]
        if isinstance(ty, spirv.ArrayType):
            elem = self.type_id(ty.element)
            length = self.constant_id(IntegerAttr(ty.count.data, IntegerType(32)))
            ident = self._dedup(ty, OP_TYPE_ARRAY, (elem, length))
        elif isinstance(ty, spirv.RuntimeArrayType):
            ident = self._dedup(ty, OP_TYPE_RUNTIME_ARRAY, (self.type_id(ty.element),))
        else:
            members = [self.type_id(m) for m in ty.members]
            ident = self._dedup(ty, OP_TYPE_STRUCT, members)
            for i, (off, decos) in enumerate(zip(ty.offsets, ty.member_decorations)):
                if off.data >= 0:
                    self.decorations.append(
                        _inst(
                            OP_MEMBER_DECORATE,
                            ident,
                            i,
                            spirv.Decoration.Offset,
                            off.data,
                        )
                    )
                for d in decos:
                    self.decorations.append(
                        _inst(OP_MEMBER_DECORATE, ident, i, spirv.Decoration[d.data])
                    )
            for d in ty.decorations:
                self.decorations.append(
                    _inst(OP_DECORATE, ident, spirv.Decoration[d.data])
                )
        if not isinstance(ty, spirv.StructType) and ty.stride.data:
            self.decorations.append(
                _inst(OP_DECORATE, ident, spirv.Decoration.ArrayStride, ty.stride.data)
            )
        return ident

    # ------------------------------------------------------------ constants

    def constant_id(self, value: IntegerAttr | FloatAttr) -> int:
        """The id of a module-scope constant, declared once per (type, bits)."""
        ty = value.type
        tid = self.type_id(ty)
        if isinstance(ty, IntegerType) and ty.width.data == 1:
            key = (tid, (int(bool(value.value.data)),))
            opcode, words = (OP_CONSTANT_TRUE if key[1][0] else OP_CONSTANT_FALSE), ()
        elif isinstance(value, IntegerAttr):
            width = ty.width.data  # type: ignore[union-attr]
            signed = ty.signedness.data == Signedness.SIGNED  # type: ignore[union-attr]
            # Narrow signed types are sign-extended to a word, others zero-extended.
            bits = value.value.data & (
                (1 << (32 if signed and width < 32 else width)) - 1
            )
            words = (bits & 0xFFFFFFFF, bits >> 32) if width == 64 else (bits,)
            key, opcode = (tid, words), OP_CONSTANT
        else:
            width = ty.bitwidth  # type: ignore[union-attr]
            fmt = {16: "<e", 32: "<f", 64: "<d"}[width]
            raw = int.from_bytes(struct.pack(fmt, value.value.data), "little")
            words = (raw & 0xFFFFFFFF, raw >> 32) if width == 64 else (raw,)
            key, opcode = (tid, words), OP_CONSTANT
        if key not in self.const_ids:
            ident = self.fresh()
            self.globals.append(_inst(opcode, tid, ident, *words))
            self.const_ids[key] = ident
        return self.const_ids[key]

    # --------------------------------------------------------------- module

    def run(self) -> bytes:
        ops = list(self.module.body.block.ops)
        # Symbols first: entry points refer to functions defined later.
        for op in ops:
            if isinstance(op, spirv.GlobalVariableOp | spirv.FuncOp):
                self.symbol_ids[op.sym_name.data] = self.fresh()
        entry_points: list[list[int]] = []
        modes: list[list[int]] = []
        for op in ops:
            if isinstance(op, spirv.GlobalVariableOp):
                self._global_variable(op)
            elif isinstance(op, spirv.FuncOp):
                self._function(op)
            elif isinstance(op, spirv.EntryPointOp):
                interface = [self._symbol(s.root_reference.data) for s in op.interface]
                entry_points.append(
                    _inst(
                        OP_ENTRY_POINT,
                        spirv.ExecutionModel[op.execution_model.data],
                        self._symbol(op.fn.root_reference.data),
                        *_string_words(op.fn.root_reference.data),
                        *interface,
                    )
                )
            elif isinstance(op, spirv.ExecutionModeOp):
                modes.append(
                    _inst(
                        OP_EXECUTION_MODE,
                        self._symbol(op.fn.root_reference.data),
                        spirv.ExecutionMode[op.execution_mode.data],
                        *(v.data for v in op.values),
                    )
                )
            else:
                raise SerializationError(
                    f"'{op.name}' cannot appear at spirv.module scope"
                )
        if not entry_points:
            raise SerializationError(
                "a spirv.module needs at least one spirv.EntryPoint"
            )

        vce = self.module.vce
        major, minor = vce.version_tuple
        words: list[int] = []
        for cap in vce.capabilities:
            words += _inst(OP_CAPABILITY, spirv.Capability[cap.data])
        for ext in vce.extensions:
            words += _inst(OP_EXTENSION, *_string_words(ext.data))
        if self.uses_glsl:
            words += _inst(
                OP_EXT_INST_IMPORT, self.glsl_id, *_string_words("GLSL.std.450")
            )
        words += _inst(
            OP_MEMORY_MODEL,
            spirv.ADDRESSING_MODELS[self.module.addressing_model.data],
            spirv.MEMORY_MODELS[self.module.memory_model.data],
        )
        for section in (
            entry_points,
            modes,
            self.names,
            self.decorations,
            self.globals,
            self.functions,
        ):
            for inst in section:
                words += inst
        header = [MAGIC, (major << 16) | (minor << 8), GENERATOR, self.next_id, 0]
        return struct.pack(f"<{len(header) + len(words)}I", *header, *words)

    def _symbol(self, name: str) -> int:
        if name not in self.symbol_ids:
            raise SerializationError(f"unknown symbol @{name}")
        return self.symbol_ids[name]

    def _global_variable(self, op: spirv.GlobalVariableOp) -> None:
        ident = self.symbol_ids[op.sym_name.data]
        self.names.append(_inst(OP_NAME, ident, *_string_words(op.sym_name.data)))
        tid = self.type_id(op.type)
        sc = spirv.StorageClass[op.type.storage_class.data]
        self.globals.append(_inst(OP_VARIABLE, tid, ident, sc))
        if op.descriptor_set is not None and op.binding is not None:
            self.decorations.append(
                _inst(
                    OP_DECORATE,
                    ident,
                    spirv.Decoration.DescriptorSet,
                    op.descriptor_set.value.data,
                )
            )
            self.decorations.append(
                _inst(
                    OP_DECORATE, ident, spirv.Decoration.Binding, op.binding.value.data
                )
            )
        if op.built_in is not None:
            self.decorations.append(
                _inst(
                    OP_DECORATE,
                    ident,
                    spirv.Decoration.BuiltIn,
                    spirv.BuiltIn[op.built_in.data],
                )
            )

    # ------------------------------------------------------------ functions

    def _function(self, op: spirv.FuncOp) -> None:
        _FunctionWriter(self, op).run()


class _FunctionWriter:
    """Writes one ``spirv.func``: labels, phis, structured merges, instructions."""

    def __init__(self, ser: _Serializer, op: spirv.FuncOp):
        self.ser = ser
        self.op = op
        self.code: list[list[int]] = []
        self.values: dict[SSAValue, int] = {}
        self.labels: dict[Block, int] = {}
        # Block -> list of (incoming values, predecessor label), filled as branches are written.
        self.incoming: dict[Block, list[tuple[Sequence[SSAValue], int]]] = {}
        self.phis: list[tuple[list[int], Block, int]] = []
        self.current_label = 0

    def label(self, block: Block) -> int:
        if block not in self.labels:
            self.labels[block] = self.ser.fresh()
        return self.labels[block]

    def value(self, v: SSAValue) -> int:
        if v not in self.values:
            owner = v.owner
            if isinstance(owner, spirv.ConstantOp):
                self.values[v] = self.ser.constant_id(owner.value)
            elif isinstance(owner, spirv.AddressOfOp):
                self.values[v] = self.ser._symbol(owner.variable.root_reference.data)
            else:
                raise SerializationError(
                    f"value used before its definition in @{self.op.sym_name.data}"
                )
        return self.values[v]

    def run(self) -> None:
        ser, op = self.ser, self.op
        ident = ser.symbol_ids[op.sym_name.data]
        ser.names.append(_inst(OP_NAME, ident, *_string_words(op.sym_name.data)))
        fty = op.function_type
        ret = ser.type_id(fty.outputs.data[0] if fty.outputs else None)
        control = spirv.FUNCTION_CONTROLS[op.function_control.data]
        self.code.append(_inst(OP_FUNCTION, ret, ident, control, ser.type_id(fty)))
        entry = op.body.blocks[0]
        for arg in entry.args:
            self.values[arg] = ser.fresh()
            self.code.append(
                _inst(OP_FUNCTION_PARAMETER, ser.type_id(arg.type), self.values[arg])
            )
        self.current_label = self.label(entry)
        self.code.append(_inst(OP_LABEL, self.current_label))
        # SPIR-V wants every function variable at the top of the first block.
        for var in op.walk():
            if isinstance(var, spirv.VariableOp):
                self.values[var.pointer] = ser.fresh()
                self.code.append(
                    _inst(
                        OP_VARIABLE,
                        ser.type_id(var.pointer.type),
                        self.values[var.pointer],
                        spirv.StorageClass.Function,
                    )
                )
        self.block_ops(entry)
        for block in list(op.body.blocks)[1:]:
            self.start_block(block)
            self.block_ops(block)
        self.code.append(_inst(OP_FUNCTION_END))
        for phi, block, index in self.phis:
            for values, pred in self.incoming.get(block, []):
                phi += [self.value(values[index]), pred]
            if len(phi) == 3:
                raise SerializationError("a block with arguments has no predecessor")
            phi[0] = (len(phi) << 16) | OP_PHI
        for inst in self.code:
            self.ser.functions.append(inst)

    def start_block(self, block: Block) -> None:
        self.current_label = self.label(block)
        self.code.append(_inst(OP_LABEL, self.current_label))
        for i, arg in enumerate(block.args):
            self.values[arg] = self.ser.fresh()
            phi = [0, self.ser.type_id(arg.type), self.values[arg]]
            self.phis.append((phi, block, i))
            self.code.append(phi)

    def block_ops(self, block: Block, merge: list[int] | None = None) -> None:
        """Write ``block``'s ops; ``merge`` (a merge instruction) goes before its terminator."""
        for op in block.ops:
            if merge is not None and op is block.last_op:
                self.code.append(merge)
            self.operation(op)

    def branch_to(self, target: Block, operands: Sequence[SSAValue]) -> int:
        self.incoming.setdefault(target, []).append((operands, self.current_label))
        return self.label(target)

    def operation(self, op: Operation) -> None:
        ser = self.ser
        if isinstance(op, spirv.ConstantOp | spirv.AddressOfOp | spirv.VariableOp):
            if not isinstance(op, spirv.VariableOp):
                self.value(op.results[0])
            return
        if isinstance(op, spirv.LoopOp):
            return self.loop(op)
        if isinstance(op, spirv.SelectionOp):
            return self.selection(op)
        if isinstance(op, spirv.BranchOp):
            self.code.append(
                _inst(OP_BRANCH, self.branch_to(op.target, op.target_operands))
            )
            return
        if isinstance(op, spirv.BranchConditionalOp):
            cond = self.value(op.condition)
            t = self.branch_to(op.true_target, op.true_target_operands)
            f = self.branch_to(op.false_target, op.false_target_operands)
            self.code.append(_inst(OP_BRANCH_CONDITIONAL, cond, t, f))
            return
        if isinstance(op, spirv.MergeOp):
            raise SerializationError("spirv.mlir.merge outside a merge block")
        if isinstance(op, spirv.ReturnOp):
            self.code.append(_inst(op.OPCODE))
            return
        if isinstance(op, spirv.ReturnValueOp | spirv.StoreOp):
            self.code.append(_inst(op.OPCODE, *(self.value(v) for v in op.operands)))
            return
        if len(op.results) != 1:
            raise SerializationError(f"'{op.name}' cannot be serialized")
        result = op.results[0]
        rt = ser.type_id(result.type)
        ident = ser.fresh()
        operands = [self.value(v) for v in op.operands]
        if isinstance(op, spirv.GLOp):
            ser.uses_glsl = True
            self.code.append(
                _inst(OP_EXT_INST, rt, ident, ser.glsl_id, op.GL_OPCODE, *operands)
            )
        elif isinstance(op, spirv.AccessChainOp):
            self.code.append(_inst(OP_ACCESS_CHAIN, rt, ident, *operands))
        elif isinstance(op, spirv.CompositeExtractOp):
            literals = [i.value.data for i in op.indices]
            self.code.append(
                _inst(OP_COMPOSITE_EXTRACT, rt, ident, *operands, *literals)
            )
        elif isinstance(op, spirv.SPIRVInstruction | spirv.LoadOp):
            self.code.append(_inst(op.OPCODE, rt, ident, *operands))
        else:
            raise SerializationError(f"'{op.name}' cannot be serialized")
        self.values[result] = ident

    def loop(self, op: spirv.LoopOp) -> None:
        blocks = list(op.body.blocks)
        entry, header, cont, merge = blocks[0], blocks[1], blocks[-2], blocks[-1]
        branch = entry.last_op
        assert isinstance(branch, spirv.BranchOp)
        self.code.append(
            _inst(OP_BRANCH, self.branch_to(header, branch.target_operands))
        )
        loop_merge = _inst(OP_LOOP_MERGE, self.label(merge), self.label(cont), 0)
        self.start_block(header)
        self.block_ops(header, loop_merge)
        for block in blocks[2:-1]:
            self.start_block(block)
            self.block_ops(block)
        self.start_block(merge)

    def selection(self, op: spirv.SelectionOp) -> None:
        blocks = list(op.body.blocks)
        header, merge = blocks[0], blocks[-1]
        if header.args:
            raise SerializationError("a selection header cannot take block arguments")
        self.block_ops(header, _inst(OP_SELECTION_MERGE, self.label(merge), 0))
        for block in blocks[1:-1]:
            self.start_block(block)
            self.block_ops(block)
        self.start_block(merge)


def serialize(module: spirv.ModuleOp | BuiltinModuleOp) -> bytes:
    """Serialize a ``spirv.module`` to a SPIR-V binary (little-endian words).

    A ``builtin.module`` holding exactly one ``spirv.module`` is accepted too.
    Returns the binary as bytes (length a multiple of 4). Raises
    SerializationError for ops or types without a SPIR-V form. The module is
    verified first (xDSL's VerifyException propagates).
    """
    if isinstance(module, BuiltinModuleOp):
        inner = [op for op in module.ops if isinstance(op, spirv.ModuleOp)]
        if len(inner) != 1:
            raise SerializationError(f"expected one spirv.module, found {len(inner)}")
        module = inner[0]
    module.verify()
    return _Serializer(module).run()


def words(binary: bytes) -> list[int]:
    """The 32-bit words of a SPIR-V binary (little-endian)."""
    return list(struct.unpack(f"<{len(binary) // 4}I", binary))


def target_env(binary: bytes) -> str:
    """The ``spirv-val --target-env`` matching a binary's version for Vulkan.

    SPIR-V 1.0 -> vulkan1.0, 1.3 -> vulkan1.1, 1.4 -> vulkan1.1spv1.4,
    1.5 -> vulkan1.2, 1.6 -> vulkan1.3.
    """
    minor = (words(binary[:8])[1] >> 8) & 0xFF
    return {
        0: "vulkan1.0",
        1: "vulkan1.1",
        2: "vulkan1.1",
        3: "vulkan1.1",
        4: "vulkan1.1spv1.4",
        5: "vulkan1.2",
        6: "vulkan1.3",
    }.get(minor, "vulkan1.3")


def spirv_val_path() -> str | None:
    """Path of the ``spirv-val`` tool (SPIRV-Tools), or None if not installed.

    The environment variable DAGC_SPIRV_VAL overrides the tool's path.
    """
    override = os.environ.get("DAGC_SPIRV_VAL")
    if override:
        return shutil.which(override)
    return shutil.which("spirv-val")


def check_header(binary: bytes) -> None:
    """Cheap structural checks that need no tool; raises SPIRVValidationError.

    Checks: size is a whole number of words and at least a header, magic number,
    version 1.0 to 1.6, non-zero id bound, and that every instruction's word
    count is non-zero and stays inside the binary.
    """
    if len(binary) % 4 or len(binary) < 20:
        raise SPIRVValidationError(
            "not a SPIR-V binary: size is not a whole header of words"
        )
    w = words(binary)
    if w[0] != MAGIC:
        raise SPIRVValidationError(f"bad SPIR-V magic number {w[0]:#010x}")
    major, minor = w[1] >> 16, (w[1] >> 8) & 0xFF
    if major != 1 or minor > 6:
        raise SPIRVValidationError(f"unsupported SPIR-V version {major}.{minor}")
    if w[3] == 0:
        raise SPIRVValidationError("SPIR-V id bound is zero")
    i = 5
    while i < len(w):
        count = w[i] >> 16
        if count == 0 or i + count > len(w):
            raise SPIRVValidationError(f"malformed instruction at word {i}")
        i += count


def validate(binary: bytes, env: str | None = None, require_tool: bool = False) -> None:
    """Validate a SPIR-V binary before it reaches a driver.

    Runs ``check_header`` and then ``spirv-val --target-env ENV`` (ENV from
    ``target_env`` unless given). Raises SPIRVValidationError with spirv-val's
    message when the binary is refused. If spirv-val is not installed, only the
    header checks run, unless ``require_tool`` (then RuntimeError).
    """
    check_header(binary)
    tool = spirv_val_path()
    if tool is None:
        if require_tool:
            raise RuntimeError("spirv-val not found (apt-get install spirv-tools)")
        return
    with tempfile.NamedTemporaryFile(suffix=".spv", delete=False) as f:
        f.write(binary)
        path = f.name
    try:
        proc = subprocess.run(
            [tool, "--target-env", env or target_env(binary), path],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.unlink(path)
    if proc.returncode != 0:
        raise SPIRVValidationError(
            (proc.stderr + proc.stdout).strip() or "spirv-val failed"
        )
