"""dagc's ``spirv`` dialect: the compute subset of SPIR-V.

xDSL has no SPIR-V dialect; this one follows MLIR's ``spirv`` dialect spelling
where practical, so that a kernel reads the same in both
(https://mlir.llvm.org/docs/Dialects/SPIR-V/):

    spirv.module @k Logical GLSL450 requires #spirv.vce<v1.3, [Shader], []> {
      spirv.GlobalVariable @arg0 bind(0, 0) :
          !spirv.ptr<!spirv.struct<(!spirv.array<4 x f32, stride=4> [0]), Block>,
                     StorageBuffer>
      spirv.func @k() "None" {
        %p = spirv.mlir.addressof @arg0 : !spirv.ptr<...>
        ...
        spirv.Return
      }
      spirv.EntryPoint "GLCompute" @k, @arg0
      spirv.ExecutionMode @k "LocalSize", 64, 1, 1
    }

Scalar and vector types are the builtin ones (``i1`` is OpTypeBool, ``i32``,
``f32``, ``vector<3xi32>``); pointers, arrays, runtime arrays and structs (with
member offsets and decorations) are the ``!spirv.*`` types below.

Every op that maps to one SPIR-V instruction states its opcode (``OPCODE``, or
``GL_OPCODE`` for GLSL.std.450 extended instructions) as a class variable, so the
binary serializer in ``dagc.lowering.spirv_binary`` stays table driven. Opcode
and enumerant values are from the SPIR-V 1.6 specification (Khronos, unified
rev. 2) and the GLSL.std.450 extended instruction set (rev. 9).

Control flow is either plain blocks with ``spirv.Branch`` /
``spirv.BranchConditional`` or MLIR's structured ``spirv.mlir.loop`` and
``spirv.mlir.selection`` regions, which serialize with OpLoopMerge and
OpSelectionMerge. Block arguments serialize as OpPhi.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from enum import IntEnum
from typing import ClassVar

from xdsl.dialects.builtin import (
    ArrayAttr,
    FlatSymbolRefAttrConstr,
    Float16Type,
    Float32Type,
    Float64Type,
    FloatAttr,
    FunctionType,
    IntAttr,
    IntegerAttr,
    IntegerType,
    StringAttr,
    SymbolNameConstraint,
    SymbolRefAttr,
    VectorType,
    i32,
)
from xdsl.ir import (
    Attribute,
    Block,
    Dialect,
    Operation,
    ParametrizedAttribute,
    Region,
    SSAValue,
    TypeAttribute,
)
from xdsl.irdl import (
    AnyAttr,
    AttrSizedOperandSegments,
    IRDLOperation,
    ParamAttrConstraint,
    VarConstraint,
    base,
    irdl_attr_definition,
    irdl_op_definition,
    operand_def,
    opt_prop_def,
    prop_def,
    region_def,
    result_def,
    successor_def,
    traits_def,
    var_operand_def,
)
from xdsl.parser import AttrParser, Parser
from xdsl.printer import Printer
from xdsl.traits import (
    HasParent,
    IsolatedFromAbove,
    IsTerminator,
    NoTerminator,
    OptionalSymbolOpInterface,
    Pure,
    SymbolOpInterface,
    SymbolTable,
)
from xdsl.utils.exceptions import VerifyException

# --------------------------------------------------------------------------
# Enumerants (name = spelling in the IR, value = SPIR-V operand value)
# --------------------------------------------------------------------------


class StorageClass(IntEnum):
    """SPIR-V storage classes (spec section 3.7)."""

    UniformConstant = 0
    Input = 1
    Uniform = 2
    Output = 3
    Workgroup = 4
    CrossWorkgroup = 5
    Private = 6
    Function = 7
    Generic = 8
    PushConstant = 9
    StorageBuffer = 12


class Decoration(IntEnum):
    """SPIR-V decorations used by compute kernels (spec section 3.20)."""

    Block = 2
    ArrayStride = 6
    BuiltIn = 11
    Restrict = 19
    Aliased = 20
    Volatile = 21
    Coherent = 23
    NonWritable = 24
    NonReadable = 25
    Binding = 33
    DescriptorSet = 34
    Offset = 35


class BuiltIn(IntEnum):
    """SPIR-V compute built-ins (spec section 3.21)."""

    NumWorkgroups = 24
    WorkgroupSize = 25
    WorkgroupId = 26
    LocalInvocationId = 27
    GlobalInvocationId = 28
    LocalInvocationIndex = 29


class ExecutionModel(IntEnum):
    """SPIR-V execution models (spec section 3.3); only compute is lowered to."""

    GLCompute = 5
    Kernel = 6


class ExecutionMode(IntEnum):
    """SPIR-V execution modes (spec section 3.6)."""

    LocalSize = 17


class Capability(IntEnum):
    """SPIR-V capabilities a compute kernel may declare (spec section 3.31)."""

    Matrix = 0
    Shader = 1
    Float16 = 9
    Float64 = 10
    Int64 = 11
    Int16 = 22
    Int8 = 39
    StorageBuffer16BitAccess = 4433
    VariablePointers = 4442


ADDRESSING_MODELS = {"Logical": 0, "Physical32": 1, "Physical64": 2}
"""SPIR-V addressing models (spec section 3.4)."""

MEMORY_MODELS = {"Simple": 0, "GLSL450": 1, "OpenCL": 2, "Vulkan": 3}
"""SPIR-V memory models (spec section 3.5)."""

FUNCTION_CONTROLS = {"None": 0, "Inline": 1, "DontInline": 2, "Pure": 4, "Const": 8}
"""SPIR-V function control masks (spec section 3.24)."""


def _check_enum(enum: type[IntEnum], value: str, what: str) -> None:
    if value not in enum.__members__:
        raise VerifyException(
            f"unknown {what} '{value}', expected one of {', '.join(enum.__members__)}"
        )


# --------------------------------------------------------------------------
# Types and attributes
# --------------------------------------------------------------------------


@irdl_attr_definition
class PointerType(ParametrizedAttribute, TypeAttribute):
    """``!spirv.ptr<pointee, StorageClass>`` (OpTypePointer)."""

    name = "spirv.ptr"

    pointee: Attribute
    storage_class: StringAttr

    def __init__(self, pointee: Attribute, storage_class: StorageClass | str):
        sc = (
            storage_class.name
            if isinstance(storage_class, StorageClass)
            else storage_class
        )
        super().__init__(pointee, StringAttr(sc))

    def verify(self) -> None:
        _check_enum(StorageClass, self.storage_class.data, "storage class")

    def print_parameters(self, printer: Printer) -> None:
        with printer.in_angle_brackets():
            printer.print_attribute(self.pointee)
            printer.print_string(", " + self.storage_class.data)

    @classmethod
    def parse_parameters(cls, parser: AttrParser) -> Sequence[Attribute]:
        with parser.in_angle_brackets():
            pointee = parser.parse_type()
            parser.parse_punctuation(",")
            storage = parser.parse_identifier("storage class")
        return (pointee, StringAttr(storage))


def _print_stride(printer: Printer, stride: IntAttr) -> None:
    if stride.data:
        printer.print_string(f", stride={stride.data}")


def _parse_stride(parser: AttrParser) -> IntAttr:
    if parser.parse_optional_punctuation(",") is None:
        return IntAttr(0)
    parser.parse_keyword("stride")
    parser.parse_punctuation("=")
    return IntAttr(parser.parse_integer(allow_negative=False))


@irdl_attr_definition
class ArrayType(ParametrizedAttribute, TypeAttribute):
    """``!spirv.array<N x T, stride=S>`` (OpTypeArray); stride 0 means undecorated."""

    name = "spirv.array"

    count: IntAttr
    element: Attribute
    stride: IntAttr

    def __init__(self, count: int, element: Attribute, stride: int = 0):
        super().__init__(IntAttr(count), element, IntAttr(stride))

    def verify(self) -> None:
        if self.count.data <= 0:
            raise VerifyException("!spirv.array needs a positive element count")

    def print_parameters(self, printer: Printer) -> None:
        with printer.in_angle_brackets():
            printer.print_string(f"{self.count.data} x ")
            printer.print_attribute(self.element)
            _print_stride(printer, self.stride)

    @classmethod
    def parse_parameters(cls, parser: AttrParser) -> Sequence[Attribute]:
        with parser.in_angle_brackets():
            count = parser.parse_integer(allow_negative=False)
            parser.parse_shape_delimiter()
            element = parser.parse_type()
            stride = _parse_stride(parser)
        return (IntAttr(count), element, stride)


@irdl_attr_definition
class RuntimeArrayType(ParametrizedAttribute, TypeAttribute):
    """``!spirv.rtarray<T, stride=S>`` (OpTypeRuntimeArray)."""

    name = "spirv.rtarray"

    element: Attribute
    stride: IntAttr

    def __init__(self, element: Attribute, stride: int = 0):
        super().__init__(element, IntAttr(stride))

    def print_parameters(self, printer: Printer) -> None:
        with printer.in_angle_brackets():
            printer.print_attribute(self.element)
            _print_stride(printer, self.stride)

    @classmethod
    def parse_parameters(cls, parser: AttrParser) -> Sequence[Attribute]:
        with parser.in_angle_brackets():
            element = parser.parse_type()
            stride = _parse_stride(parser)
        return (element, stride)


@irdl_attr_definition
class StructType(ParametrizedAttribute, TypeAttribute):
    """``!spirv.struct<(T0 [0, NonWritable], T1 [4]), Block>`` (OpTypeStruct).

    ``offsets`` holds each member's byte offset (-1: no Offset decoration),
    ``member_decorations`` each member's extra decorations (names of
    ``Decoration`` members without operands), ``decorations`` the struct's own
    decorations (``Block`` for a buffer's interface block).
    """

    name = "spirv.struct"

    members: ArrayAttr[Attribute]
    offsets: ArrayAttr[IntAttr]
    member_decorations: ArrayAttr[ArrayAttr[StringAttr]]
    decorations: ArrayAttr[StringAttr]

    def __init__(
        self,
        members: Sequence[Attribute],
        offsets: Sequence[int] | None = None,
        decorations: Sequence[str] = (),
        member_decorations: Sequence[Sequence[str]] | None = None,
    ):
        offsets = [-1] * len(members) if offsets is None else offsets
        member_decorations = member_decorations or [()] * len(members)
        super().__init__(
            ArrayAttr(members),
            ArrayAttr(IntAttr(o) for o in offsets),
            ArrayAttr(
                ArrayAttr(StringAttr(d) for d in ds) for ds in member_decorations
            ),
            ArrayAttr(StringAttr(d) for d in decorations),
        )

    def verify(self) -> None:
        n = len(self.members)
        if len(self.offsets) != n or len(self.member_decorations) != n:
            raise VerifyException(
                "!spirv.struct needs one offset and decoration list per member"
            )
        for d in [
            *self.decorations,
            *(d for ds in self.member_decorations for d in ds),
        ]:
            _check_enum(Decoration, d.data, "decoration")

    def print_parameters(self, printer: Printer) -> None:
        def print_member(i: int) -> None:
            printer.print_attribute(self.members.data[i])
            items = (
                [str(self.offsets.data[i].data)]
                if self.offsets.data[i].data >= 0
                else []
            )
            items += [d.data for d in self.member_decorations.data[i]]
            if items:
                printer.print_string(" [" + ", ".join(items) + "]")

        printer.print_string("<(")
        printer.print_list(range(len(self.members)), print_member)
        printer.print_string(")")
        for d in self.decorations:
            printer.print_string(", " + d.data)
        printer.print_string(">")

    @classmethod
    def parse_parameters(cls, parser: AttrParser) -> Sequence[Attribute]:
        members: list[Attribute] = []
        offsets: list[IntAttr] = []
        member_decos: list[ArrayAttr[StringAttr]] = []

        def parse_member_item() -> int | str:
            value = parser.parse_optional_integer(allow_negative=False)
            return value if value is not None else parser.parse_identifier("decoration")

        def parse_member() -> None:
            members.append(parser.parse_type())
            items = (
                parser.parse_optional_comma_separated_list(
                    parser.Delimiter.SQUARE, parse_member_item
                )
                or []
            )
            numbers = [i for i in items if isinstance(i, int)]
            offsets.append(IntAttr(numbers[0] if numbers else -1))
            member_decos.append(
                ArrayAttr(StringAttr(i) for i in items if isinstance(i, str))
            )

        decorations: list[StringAttr] = []
        with parser.in_angle_brackets():
            parser.parse_comma_separated_list(parser.Delimiter.PAREN, parse_member)
            while parser.parse_optional_punctuation(",") is not None:
                decorations.append(StringAttr(parser.parse_identifier("decoration")))
        return (
            ArrayAttr(members),
            ArrayAttr(offsets),
            ArrayAttr(member_decos),
            ArrayAttr(decorations),
        )


@irdl_attr_definition
class VerCapExtAttr(ParametrizedAttribute):
    """``#spirv.vce<v1.3, [Shader], [SPV_KHR_...]>``: version, capabilities, extensions."""

    name = "spirv.vce"

    version: StringAttr
    capabilities: ArrayAttr[StringAttr]
    extensions: ArrayAttr[StringAttr]

    def __init__(
        self,
        version: tuple[int, int] = (1, 3),
        capabilities: Sequence[str] = ("Shader",),
        extensions: Sequence[str] = (),
    ):
        super().__init__(
            StringAttr(f"v{version[0]}.{version[1]}"),
            ArrayAttr(StringAttr(c) for c in capabilities),
            ArrayAttr(StringAttr(e) for e in extensions),
        )

    @property
    def version_tuple(self) -> tuple[int, int]:
        """The SPIR-V version as ``(major, minor)``."""
        major, minor = self.version.data[1:].split(".")
        return int(major), int(minor)

    def verify(self) -> None:
        v = self.version.data
        if not (v.startswith("v") and v[1:].replace(".", "", 1).isdigit() and "." in v):
            raise VerifyException(f"malformed SPIR-V version '{v}', expected e.g. v1.3")
        if not (1, 0) <= self.version_tuple <= (1, 6):
            raise VerifyException(f"unsupported SPIR-V version {v} (1.0 to 1.6)")
        for c in self.capabilities:
            _check_enum(Capability, c.data, "capability")

    def print_parameters(self, printer: Printer) -> None:
        caps = ", ".join(c.data for c in self.capabilities)
        exts = ", ".join(e.data for e in self.extensions)
        printer.print_string(f"<{self.version.data}, [{caps}], [{exts}]>")

    @classmethod
    def parse_parameters(cls, parser: AttrParser) -> Sequence[Attribute]:
        def ident() -> StringAttr:
            return StringAttr(parser.parse_identifier())

        with parser.in_angle_brackets():
            version = ident()
            parser.parse_punctuation(",")
            caps = parser.parse_comma_separated_list(parser.Delimiter.SQUARE, ident)
            parser.parse_punctuation(",")
            exts = parser.parse_comma_separated_list(parser.Delimiter.SQUARE, ident)
        return (version, ArrayAttr(caps), ArrayAttr(exts))


_Floats = base(Float16Type) | base(Float32Type) | base(Float64Type)
IntLike = base(IntegerType) | base(VectorType)
FloatLike = _Floats | base(VectorType)
ScalarLike = base(IntegerType) | _Floats
NumberLike = base(IntegerType) | _Floats | base(VectorType)
BoolType = IntegerType(1)

# --------------------------------------------------------------------------
# Module structure
# --------------------------------------------------------------------------


@irdl_op_definition
class ModuleOp(IRDLOperation):
    """``spirv.module @name? Logical GLSL450 requires #spirv.vce<...> { ... }``."""

    name = "spirv.module"

    addressing_model = prop_def(StringAttr)
    memory_model = prop_def(StringAttr)
    vce_triple = opt_prop_def(VerCapExtAttr)
    sym_name = opt_prop_def(SymbolNameConstraint())
    body = region_def("single_block")

    traits = traits_def(
        IsolatedFromAbove(), NoTerminator(), SymbolTable(), OptionalSymbolOpInterface()
    )

    def __init__(
        self,
        ops: Sequence[Operation] | Region = (),
        sym_name: str | None = None,
        vce: VerCapExtAttr | None = None,
        addressing_model: str = "Logical",
        memory_model: str = "GLSL450",
    ):
        super().__init__(
            properties={
                "addressing_model": StringAttr(addressing_model),
                "memory_model": StringAttr(memory_model),
                "vce_triple": vce,
                "sym_name": StringAttr(sym_name) if sym_name else None,
            },
            regions=[ops if isinstance(ops, Region) else Region(Block(ops))],
        )

    @property
    def vce(self) -> VerCapExtAttr:
        """The version/capabilities/extensions triple (v1.3 + Shader if absent)."""
        return self.vce_triple or VerCapExtAttr()

    def verify_(self) -> None:
        if self.addressing_model.data not in ADDRESSING_MODELS:
            raise VerifyException(
                f"unknown addressing model '{self.addressing_model.data}'"
            )
        if self.memory_model.data not in MEMORY_MODELS:
            raise VerifyException(f"unknown memory model '{self.memory_model.data}'")

    def print(self, printer: Printer) -> None:
        if self.sym_name is not None:
            printer.print_string(" ")
            printer.print_symbol_name(self.sym_name.data)
        printer.print_string(f" {self.addressing_model.data} {self.memory_model.data}")
        if self.vce_triple is not None:
            printer.print_string(" requires ")
            printer.print_attribute(self.vce_triple)
        printer.print_op_attributes(self.attributes, print_keyword=True)
        printer.print_string(" ")
        printer.print_region(self.body, print_empty_block=False)

    @classmethod
    def parse(cls, parser: Parser) -> ModuleOp:
        sym = parser.parse_optional_symbol_name()
        addressing = parser.parse_identifier("addressing model")
        memory = parser.parse_identifier("memory model")
        vce = None
        if parser.parse_optional_keyword("requires"):
            vce = parser.parse_attribute()
            if not isinstance(vce, VerCapExtAttr):
                parser.raise_error("expected #spirv.vce<...> after 'requires'")
        attrs = parser.parse_optional_attr_dict_with_keyword()
        region = parser.parse_region()
        if not region.blocks:
            region.add_block(Block())
        op = cls(region, sym.data if sym else None, vce, addressing, memory)
        if attrs is not None:
            op.attributes |= attrs.data
        return op


@irdl_op_definition
class GlobalVariableOp(IRDLOperation):
    """A module-scope variable (OpVariable outside functions).

    ``spirv.GlobalVariable @arg0 bind(0, 1) : !spirv.ptr<T, StorageBuffer>``
    ``spirv.GlobalVariable @gid built_in("GlobalInvocationId") : !spirv.ptr<vector<3xi32>, Input>``
    """

    name = "spirv.GlobalVariable"

    sym_name = prop_def(SymbolNameConstraint())
    type = prop_def(PointerType)
    descriptor_set = opt_prop_def(IntegerAttr)
    binding = opt_prop_def(IntegerAttr)
    built_in = opt_prop_def(StringAttr)

    traits = traits_def(SymbolOpInterface())

    def __init__(
        self,
        sym_name: str,
        type: PointerType,
        *,
        bind: tuple[int, int] | None = None,
        built_in: BuiltIn | None = None,
    ):
        props: dict[str, Attribute | None] = {
            "sym_name": StringAttr(sym_name),
            "type": type,
        }
        if bind is not None:
            props["descriptor_set"] = IntegerAttr(bind[0], i32)
            props["binding"] = IntegerAttr(bind[1], i32)
        if built_in is not None:
            props["built_in"] = StringAttr(built_in.name)
        super().__init__(properties=props)

    def verify_(self) -> None:
        if self.built_in is not None:
            _check_enum(BuiltIn, self.built_in.data, "built-in")
        if (self.binding is None) != (self.descriptor_set is None):
            raise VerifyException("bind(set, binding) needs both numbers")
        sc = self.type.storage_class.data
        if sc == "Function":
            raise VerifyException(
                "a global variable cannot have Function storage class"
            )
        if sc in ("StorageBuffer", "Uniform", "PushConstant"):
            pointee = self.type.pointee
            if not (
                isinstance(pointee, StructType)
                and "Block" in [d.data for d in pointee.decorations]
            ):
                raise VerifyException(
                    f"a {sc} variable must point to a struct decorated with Block"
                )

    def print(self, printer: Printer) -> None:
        printer.print_string(" ")
        printer.print_symbol_name(self.sym_name.data)
        if self.binding is not None and self.descriptor_set is not None:
            printer.print_string(
                f" bind({self.descriptor_set.value.data}, {self.binding.value.data})"
            )
        if self.built_in is not None:
            printer.print_string(" built_in(")
            printer.print_string_literal(self.built_in.data)
            printer.print_string(")")
        printer.print_op_attributes(self.attributes)
        printer.print_string(" : ")
        printer.print_attribute(self.type)

    @classmethod
    def parse(cls, parser: Parser) -> GlobalVariableOp:
        sym = parser.parse_symbol_name().data
        bind = None
        built_in = None
        if parser.parse_optional_keyword("bind"):
            with parser.in_parens():
                s = parser.parse_integer(allow_negative=False)
                parser.parse_punctuation(",")
                b = parser.parse_integer(allow_negative=False)
            bind = (s, b)
        if parser.parse_optional_keyword("built_in"):
            with parser.in_parens():
                name = parser.parse_str_literal()
            if name not in BuiltIn.__members__:
                parser.raise_error(f"unknown built-in '{name}'")
            built_in = BuiltIn[name]
        attrs = parser.parse_optional_attr_dict()
        parser.parse_punctuation(":")
        ty = parser.parse_type()
        if not isinstance(ty, PointerType):
            parser.raise_error("spirv.GlobalVariable must have a !spirv.ptr type")
        op = cls(sym, ty, bind=bind, built_in=built_in)
        op.attributes |= attrs
        return op


@irdl_op_definition
class FuncOp(IRDLOperation):
    """``spirv.func @name(%a: i32) -> f32 "None" { ... }`` (OpFunction)."""

    name = "spirv.func"

    sym_name = prop_def(SymbolNameConstraint())
    function_type = prop_def(FunctionType)
    function_control = prop_def(StringAttr)
    body = region_def()

    traits = traits_def(IsolatedFromAbove(), SymbolOpInterface(), HasParent(ModuleOp))

    def __init__(
        self,
        sym_name: str,
        function_type: FunctionType,
        body: Region | None = None,
        control: str = "None",
    ):
        if body is None:
            body = Region(Block(arg_types=function_type.inputs))
        super().__init__(
            properties={
                "sym_name": StringAttr(sym_name),
                "function_type": function_type,
                "function_control": StringAttr(control),
            },
            regions=[body],
        )

    def verify_(self) -> None:
        if self.function_control.data not in FUNCTION_CONTROLS:
            raise VerifyException(
                f"unknown function control '{self.function_control.data}'"
            )
        if len(self.function_type.outputs) > 1:
            raise VerifyException("a spirv.func returns at most one value")
        if (
            self.body.blocks
            and self.body.blocks[0].arg_types != self.function_type.inputs.data
        ):
            raise VerifyException(
                "entry block arguments must match the function inputs"
            )

    def print(self, printer: Printer) -> None:
        printer.print_string(" ")
        printer.print_symbol_name(self.sym_name.data)
        printer.print_string("(")
        printer.print_list(self.body.blocks[0].args, printer.print_block_argument)
        printer.print_string(")")
        if self.function_type.outputs:
            printer.print_string(" -> ")
            printer.print_attribute(self.function_type.outputs.data[0])
        printer.print_string(" ")
        printer.print_string_literal(self.function_control.data)
        printer.print_op_attributes(self.attributes, print_keyword=True)
        printer.print_string(" ")
        printer.print_region(self.body, print_entry_block_args=False)

    @classmethod
    def parse(cls, parser: Parser) -> FuncOp:
        sym = parser.parse_symbol_name().data
        args = parser.parse_comma_separated_list(
            parser.Delimiter.PAREN, lambda: parser.parse_argument(expect_type=True)
        )
        outputs = (
            [parser.parse_type()] if parser.parse_optional_punctuation("->") else []
        )
        control = parser.parse_str_literal("function control")
        attrs = parser.parse_optional_attr_dict_with_keyword()
        body = parser.parse_region(args)
        fty = FunctionType.from_lists([a.type for a in args], outputs)
        op = cls(sym, fty, body, control)
        if attrs is not None:
            op.attributes |= attrs.data
        return op


@irdl_op_definition
class EntryPointOp(IRDLOperation):
    """``spirv.EntryPoint "GLCompute" @fn, @var...`` (OpEntryPoint).

    From SPIR-V 1.4 on, ``interface`` must list every global variable the entry
    point's call tree uses; before 1.4 only its Input/Output variables.
    """

    name = "spirv.EntryPoint"

    execution_model = prop_def(StringAttr)
    fn = prop_def(FlatSymbolRefAttrConstr)
    interface = prop_def(ArrayAttr[SymbolRefAttr])

    def __init__(self, model: ExecutionModel, fn: str, interface: Sequence[str]):
        super().__init__(
            properties={
                "execution_model": StringAttr(model.name),
                "fn": SymbolRefAttr(fn),
                "interface": ArrayAttr(SymbolRefAttr(v) for v in interface),
            }
        )

    def verify_(self) -> None:
        _check_enum(ExecutionModel, self.execution_model.data, "execution model")

    def print(self, printer: Printer) -> None:
        printer.print_string(" ")
        printer.print_string_literal(self.execution_model.data)
        printer.print_string(" ")
        printer.print_list([self.fn, *self.interface], printer.print_attribute)
        printer.print_op_attributes(self.attributes)

    @classmethod
    def parse(cls, parser: Parser) -> EntryPointOp:
        model = parser.parse_str_literal("execution model")
        if model not in ExecutionModel.__members__:
            parser.raise_error(f"unknown execution model '{model}'")
        syms = parser.parse_comma_separated_list(
            parser.Delimiter.NONE, lambda: parser.parse_symbol_name().data
        )
        op = cls(ExecutionModel[model], syms[0], syms[1:])
        op.attributes |= parser.parse_optional_attr_dict()
        return op


@irdl_op_definition
class ExecutionModeOp(IRDLOperation):
    """``spirv.ExecutionMode @fn "LocalSize", 64, 1, 1`` (OpExecutionMode)."""

    name = "spirv.ExecutionMode"

    fn = prop_def(FlatSymbolRefAttrConstr)
    execution_mode = prop_def(StringAttr)
    values = prop_def(ArrayAttr[IntAttr])

    def __init__(self, fn: str, mode: ExecutionMode, values: Sequence[int]):
        super().__init__(
            properties={
                "fn": SymbolRefAttr(fn),
                "execution_mode": StringAttr(mode.name),
                "values": ArrayAttr(IntAttr(v) for v in values),
            }
        )

    def verify_(self) -> None:
        _check_enum(ExecutionMode, self.execution_mode.data, "execution mode")
        if self.execution_mode.data == "LocalSize" and (
            len(self.values) != 3 or any(v.data < 1 for v in self.values)
        ):
            raise VerifyException("LocalSize takes three positive sizes")

    def print(self, printer: Printer) -> None:
        printer.print_string(" ")
        printer.print_attribute(self.fn)
        printer.print_string(" ")
        printer.print_string_literal(self.execution_mode.data)
        for v in self.values:
            printer.print_string(f", {v.data}")
        printer.print_op_attributes(self.attributes)

    @classmethod
    def parse(cls, parser: Parser) -> ExecutionModeOp:
        fn = parser.parse_symbol_name().data
        mode = parser.parse_str_literal("execution mode")
        if mode not in ExecutionMode.__members__:
            parser.raise_error(f"unknown execution mode '{mode}'")
        values: list[int] = []
        while parser.parse_optional_punctuation(",") is not None:
            values.append(parser.parse_integer())
        op = cls(fn, ExecutionMode[mode], values)
        op.attributes |= parser.parse_optional_attr_dict()
        return op


# --------------------------------------------------------------------------
# Memory
# --------------------------------------------------------------------------


@irdl_op_definition
class AddressOfOp(IRDLOperation):
    """``spirv.mlir.addressof @var : !spirv.ptr<...>``: a global variable's pointer."""

    name = "spirv.mlir.addressof"

    variable = prop_def(FlatSymbolRefAttrConstr)
    pointer = result_def(PointerType)

    traits = traits_def(Pure())

    assembly_format = "$variable attr-dict `:` type($pointer)"

    def __init__(self, var: GlobalVariableOp):
        super().__init__(
            properties={"variable": SymbolRefAttr(var.sym_name)},
            result_types=[var.type],
        )


@irdl_op_definition
class VariableOp(IRDLOperation):
    """``spirv.Variable : !spirv.ptr<T, Function>`` (function-scope OpVariable).

    The serializer places every function variable at the top of the function's
    first block, as SPIR-V requires.
    """

    name = "spirv.Variable"

    pointer = result_def(PointerType)

    assembly_format = "attr-dict `:` type($pointer)"

    def __init__(self, type: Attribute):
        super().__init__(result_types=[PointerType(type, StorageClass.Function)])

    def verify_(self) -> None:
        if self.pointer.type.storage_class.data != "Function":
            raise VerifyException("spirv.Variable must have Function storage class")


def _constant_int(value: SSAValue) -> int | None:
    op = value.owner
    if isinstance(op, ConstantOp) and isinstance(op.value, IntegerAttr):
        return op.value.value.data
    return None


def access_chain_result(base: Attribute, indices: Sequence[SSAValue]) -> PointerType:
    """The pointer type an OpAccessChain of ``base`` by ``indices`` yields.

    Struct members must be indexed by a ``spirv.Constant``; arrays, runtime arrays
    and vectors by any integer. Raises VerifyException on a bad chain.
    """
    if not isinstance(base, PointerType):
        raise VerifyException("spirv.AccessChain base must be a pointer")
    ty = base.pointee
    for idx in indices:
        if not isinstance(idx.type, IntegerType) or idx.type.width.data == 1:
            raise VerifyException("spirv.AccessChain indices must be integers")
        if isinstance(ty, StructType):
            member = _constant_int(idx)
            if member is None or not 0 <= member < len(ty.members):
                raise VerifyException("struct index must be an in-range spirv.Constant")
            ty = ty.members.data[member]
        elif isinstance(ty, ArrayType | RuntimeArrayType):
            ty = ty.element
        elif isinstance(ty, VectorType):
            ty = ty.element_type
        else:
            raise VerifyException(f"cannot index into {ty}")
    return PointerType(ty, base.storage_class.data)


@irdl_op_definition
class AccessChainOp(IRDLOperation):
    """``spirv.AccessChain %base[%i, %j] : !spirv.ptr<S, SC>, i32, i32 -> !spirv.ptr<T, SC>``."""

    name = "spirv.AccessChain"

    base_ptr = operand_def(PointerType)
    indices = var_operand_def(IntegerType)
    component_ptr = result_def(PointerType)

    traits = traits_def(Pure())

    def __init__(
        self, base: SSAValue | Operation, indices: Sequence[SSAValue | Operation]
    ):
        base = SSAValue.get(base)
        idx = [SSAValue.get(i) for i in indices]
        super().__init__(
            operands=[base, idx], result_types=[access_chain_result(base.type, idx)]
        )

    def verify_(self) -> None:
        expected = access_chain_result(self.base_ptr.type, self.indices)
        if expected != self.component_ptr.type:
            raise VerifyException(f"expected result type {expected}")

    def print(self, printer: Printer) -> None:
        printer.print_string(" ")
        printer.print_ssa_value(self.base_ptr)
        printer.print_string("[")
        printer.print_list(self.indices, printer.print_ssa_value)
        printer.print_string("]")
        printer.print_op_attributes(self.attributes)
        printer.print_string(" : ")
        printer.print_list(
            [self.base_ptr.type, *self.indices.types], printer.print_attribute
        )
        printer.print_string(" -> ")
        printer.print_attribute(self.component_ptr.type)

    @classmethod
    def parse(cls, parser: Parser) -> AccessChainOp:
        base = parser.parse_unresolved_operand()
        idx = parser.parse_comma_separated_list(
            parser.Delimiter.SQUARE, parser.parse_unresolved_operand
        )
        attrs = parser.parse_optional_attr_dict()
        parser.parse_punctuation(":")
        types = parser.parse_comma_separated_list(
            parser.Delimiter.NONE, parser.parse_type
        )
        parser.parse_punctuation("->")
        parser.parse_type()
        if len(types) != len(idx) + 1:
            parser.raise_error("expected the base type and one type per index")
        op = cls(
            parser.resolve_operand(base, types[0]),
            [parser.resolve_operand(i, t) for i, t in zip(idx, types[1:])],
        )
        op.attributes |= attrs
        return op


def _storage_class_of(ptr: SSAValue) -> str:
    assert isinstance(ptr.type, PointerType)
    return ptr.type.storage_class.data


def _print_access(
    printer: Printer,
    op: IRDLOperation,
    ptr: SSAValue,
    value: SSAValue | None,
    ty: Attribute,
) -> None:
    """Print ``"SC" %ptr[, %value] attrs : type`` (spirv.Load / spirv.Store)."""
    printer.print_string(" ")
    printer.print_string_literal(_storage_class_of(ptr))
    printer.print_string(" ")
    printer.print_ssa_value(ptr)
    if value is not None:
        printer.print_string(", ")
        printer.print_ssa_value(value)
    printer.print_op_attributes(op.attributes)
    printer.print_string(" : ")
    printer.print_attribute(ty)


def _parse_access(
    parser: Parser, with_value: bool
) -> tuple[SSAValue, SSAValue | None, dict[str, Attribute]]:
    """Parse what ``_print_access`` prints; returns (pointer, value, attributes)."""
    sc = parser.parse_str_literal("storage class")
    ptr = parser.parse_unresolved_operand()
    value = None
    if with_value:
        parser.parse_punctuation(",")
        value = parser.parse_unresolved_operand()
    attrs = parser.parse_optional_attr_dict()
    parser.parse_punctuation(":")
    ty = parser.parse_type()
    resolved = parser.resolve_operand(value, ty) if value is not None else None
    return parser.resolve_operand(ptr, PointerType(ty, sc)), resolved, attrs


@irdl_op_definition
class LoadOp(IRDLOperation):
    """``spirv.Load "StorageBuffer" %ptr : f32`` (OpLoad)."""

    name = "spirv.Load"
    OPCODE: ClassVar[int] = 61

    ptr = operand_def(PointerType)
    value = result_def()

    def __init__(self, ptr: SSAValue | Operation):
        ptr = SSAValue.get(ptr)
        assert isinstance(ptr.type, PointerType)
        super().__init__(operands=[ptr], result_types=[ptr.type.pointee])

    def verify_(self) -> None:
        if self.ptr.type.pointee != self.value.type:
            raise VerifyException("spirv.Load result type must be the pointee type")

    def print(self, printer: Printer) -> None:
        _print_access(printer, self, self.ptr, None, self.value.type)

    @classmethod
    def parse(cls, parser: Parser) -> LoadOp:
        ptr, _, attrs = _parse_access(parser, with_value=False)
        op = cls(ptr)
        op.attributes |= attrs
        return op


@irdl_op_definition
class StoreOp(IRDLOperation):
    """``spirv.Store "StorageBuffer" %ptr, %value : f32`` (OpStore)."""

    name = "spirv.Store"
    OPCODE: ClassVar[int] = 62

    ptr = operand_def(PointerType)
    value = operand_def()

    def __init__(self, ptr: SSAValue | Operation, value: SSAValue | Operation):
        super().__init__(operands=[ptr, value])

    def verify_(self) -> None:
        if self.ptr.type.pointee != self.value.type:
            raise VerifyException("spirv.Store value type must be the pointee type")

    def print(self, printer: Printer) -> None:
        _print_access(printer, self, self.ptr, self.value, self.value.type)

    @classmethod
    def parse(cls, parser: Parser) -> StoreOp:
        ptr, value, attrs = _parse_access(parser, with_value=True)
        assert value is not None
        op = cls(ptr, value)
        op.attributes |= attrs
        return op


# --------------------------------------------------------------------------
# Constants and composites
# --------------------------------------------------------------------------


@irdl_op_definition
class ConstantOp(IRDLOperation):
    """``spirv.Constant 1.0 : f32`` / ``spirv.Constant true`` (OpConstant*).

    The serializer hoists constants to module scope and deduplicates them.
    """

    name = "spirv.Constant"

    _T: ClassVar = VarConstraint("T", AnyAttr())
    value = prop_def(
        ParamAttrConstraint(IntegerAttr, (AnyAttr(), _T))
        | ParamAttrConstraint(FloatAttr, (AnyAttr(), _T))
    )
    result = result_def(_T)

    traits = traits_def(Pure())

    assembly_format = "attr-dict $value"

    def __init__(self, value: IntegerAttr | FloatAttr):
        super().__init__(properties={"value": value}, result_types=[value.type])

    @staticmethod
    def i32(value: int) -> ConstantOp:
        """An ``i32`` constant."""
        return ConstantOp(IntegerAttr(value, i32))

    @staticmethod
    def f32(value: float) -> ConstantOp:
        """An ``f32`` constant."""
        return ConstantOp(FloatAttr(value, Float32Type()))

    @staticmethod
    def bool(value: bool) -> ConstantOp:
        """An ``i1`` (OpTypeBool) constant."""
        return ConstantOp(IntegerAttr(int(value), BoolType))


@irdl_op_definition
class CompositeExtractOp(IRDLOperation):
    """``spirv.CompositeExtract %v[0 : i32] : vector<3xi32>`` (OpCompositeExtract)."""

    name = "spirv.CompositeExtract"

    composite = operand_def()
    indices = prop_def(ArrayAttr[IntegerAttr])
    component = result_def()

    traits = traits_def(Pure())

    def __init__(self, composite: SSAValue | Operation, indices: Sequence[int]):
        composite = SSAValue.get(composite)
        ty = composite.type
        for i in indices:
            if isinstance(ty, VectorType):
                ty = ty.element_type
            elif isinstance(ty, ArrayType):
                ty = ty.element
            elif isinstance(ty, StructType):
                ty = ty.members.data[i]
            else:
                raise VerifyException(f"cannot extract from {ty}")
        super().__init__(
            operands=[composite],
            properties={"indices": ArrayAttr(IntegerAttr(i, i32) for i in indices)},
            result_types=[ty],
        )

    def print(self, printer: Printer) -> None:
        printer.print_string(" ")
        printer.print_ssa_value(self.composite)
        printer.print_string("[")
        printer.print_list(
            self.indices, lambda i: printer.print_string(f"{i.value.data} : i32")
        )
        printer.print_string("]")
        printer.print_op_attributes(self.attributes)
        printer.print_string(" : ")
        printer.print_attribute(self.composite.type)

    @classmethod
    def parse(cls, parser: Parser) -> CompositeExtractOp:
        value = parser.parse_unresolved_operand()

        def index() -> int:
            i = parser.parse_integer(allow_negative=False)
            parser.parse_punctuation(":")
            parser.parse_type()
            return i

        indices = parser.parse_comma_separated_list(parser.Delimiter.SQUARE, index)
        attrs = parser.parse_optional_attr_dict()
        parser.parse_punctuation(":")
        ty = parser.parse_type()
        op = cls(parser.resolve_operand(value, ty), indices)
        op.attributes |= attrs
        return op


# --------------------------------------------------------------------------
# Arithmetic, logic, comparisons, conversions
# --------------------------------------------------------------------------


class SPIRVInstruction(IRDLOperation, abc.ABC):
    """An op that serializes as ``OPCODE result-type result operands...``."""

    OPCODE: ClassVar[int]


class SameTypeBinaryOp(IRDLOperation, abc.ABC):
    """Syntax and builder shared by binary ops whose operands and result share a type."""

    traits = traits_def(Pure())
    assembly_format = "$lhs `,` $rhs attr-dict `:` type($result)"

    def __init__(self, lhs: SSAValue | Operation, rhs: SSAValue | Operation):
        super().__init__(operands=[lhs, rhs], result_types=[SSAValue.get(lhs).type])


class IntBinaryOp(SameTypeBinaryOp, SPIRVInstruction, abc.ABC):
    """Integer (or vector of integers) binary arithmetic: ``%r = spirv.IAdd %a, %b : i32``."""

    T: ClassVar = VarConstraint("T", IntLike)
    lhs = operand_def(T)
    rhs = operand_def(T)
    result = result_def(T)


class FloatBinaryOp(SameTypeBinaryOp, SPIRVInstruction, abc.ABC):
    """Float (or vector of floats) binary arithmetic: ``%r = spirv.FAdd %a, %b : f32``."""

    T: ClassVar = VarConstraint("T", FloatLike)
    lhs = operand_def(T)
    rhs = operand_def(T)
    result = result_def(T)


class UnaryOp(SPIRVInstruction, abc.ABC):
    """One operand, result of the same type: ``%r = spirv.FNegate %a : f32``."""

    T: ClassVar = VarConstraint("T", AnyAttr())
    operand = operand_def(T)
    result = result_def(T)

    traits = traits_def(Pure())
    assembly_format = "$operand attr-dict `:` type($result)"

    def __init__(self, operand: SSAValue | Operation):
        super().__init__(operands=[operand], result_types=[SSAValue.get(operand).type])


@irdl_op_definition
class IAddOp(IntBinaryOp):
    name = "spirv.IAdd"
    OPCODE: ClassVar[int] = 128


@irdl_op_definition
class ISubOp(IntBinaryOp):
    name = "spirv.ISub"
    OPCODE: ClassVar[int] = 130


@irdl_op_definition
class IMulOp(IntBinaryOp):
    name = "spirv.IMul"
    OPCODE: ClassVar[int] = 132


@irdl_op_definition
class UDivOp(IntBinaryOp):
    name = "spirv.UDiv"
    OPCODE: ClassVar[int] = 134


@irdl_op_definition
class SDivOp(IntBinaryOp):
    name = "spirv.SDiv"
    OPCODE: ClassVar[int] = 135


@irdl_op_definition
class UModOp(IntBinaryOp):
    name = "spirv.UMod"
    OPCODE: ClassVar[int] = 137


@irdl_op_definition
class SRemOp(IntBinaryOp):
    name = "spirv.SRem"
    OPCODE: ClassVar[int] = 138


@irdl_op_definition
class SModOp(IntBinaryOp):
    name = "spirv.SMod"
    OPCODE: ClassVar[int] = 139


@irdl_op_definition
class ShiftRightLogicalOp(IntBinaryOp):
    name = "spirv.ShiftRightLogical"
    OPCODE: ClassVar[int] = 194


@irdl_op_definition
class ShiftRightArithmeticOp(IntBinaryOp):
    name = "spirv.ShiftRightArithmetic"
    OPCODE: ClassVar[int] = 195


@irdl_op_definition
class ShiftLeftLogicalOp(IntBinaryOp):
    name = "spirv.ShiftLeftLogical"
    OPCODE: ClassVar[int] = 196


@irdl_op_definition
class BitwiseOrOp(IntBinaryOp):
    name = "spirv.BitwiseOr"
    OPCODE: ClassVar[int] = 197


@irdl_op_definition
class BitwiseXorOp(IntBinaryOp):
    name = "spirv.BitwiseXor"
    OPCODE: ClassVar[int] = 198


@irdl_op_definition
class BitwiseAndOp(IntBinaryOp):
    name = "spirv.BitwiseAnd"
    OPCODE: ClassVar[int] = 199


@irdl_op_definition
class LogicalOrOp(IntBinaryOp):
    name = "spirv.LogicalOr"
    OPCODE: ClassVar[int] = 166


@irdl_op_definition
class LogicalAndOp(IntBinaryOp):
    name = "spirv.LogicalAnd"
    OPCODE: ClassVar[int] = 167


@irdl_op_definition
class LogicalNotEqualOp(IntBinaryOp):
    name = "spirv.LogicalNotEqual"
    OPCODE: ClassVar[int] = 165


@irdl_op_definition
class FAddOp(FloatBinaryOp):
    name = "spirv.FAdd"
    OPCODE: ClassVar[int] = 129


@irdl_op_definition
class FSubOp(FloatBinaryOp):
    name = "spirv.FSub"
    OPCODE: ClassVar[int] = 131


@irdl_op_definition
class FMulOp(FloatBinaryOp):
    name = "spirv.FMul"
    OPCODE: ClassVar[int] = 133


@irdl_op_definition
class FDivOp(FloatBinaryOp):
    name = "spirv.FDiv"
    OPCODE: ClassVar[int] = 136


@irdl_op_definition
class FRemOp(FloatBinaryOp):
    """Remainder whose sign follows the dividend (C fmod)."""

    name = "spirv.FRem"
    OPCODE: ClassVar[int] = 140


@irdl_op_definition
class FModOp(FloatBinaryOp):
    """Remainder whose sign follows the divisor (Python %)."""

    name = "spirv.FMod"
    OPCODE: ClassVar[int] = 141


@irdl_op_definition
class SNegateOp(UnaryOp):
    name = "spirv.SNegate"
    OPCODE: ClassVar[int] = 126


@irdl_op_definition
class FNegateOp(UnaryOp):
    name = "spirv.FNegate"
    OPCODE: ClassVar[int] = 127


@irdl_op_definition
class NotOp(UnaryOp):
    name = "spirv.Not"
    OPCODE: ClassVar[int] = 200


@irdl_op_definition
class LogicalNotOp(UnaryOp):
    name = "spirv.LogicalNot"
    OPCODE: ClassVar[int] = 168


class CompareOp(SPIRVInstruction, abc.ABC):
    """Scalar comparison yielding ``i1``: ``%r = spirv.FOrdLessThan %a, %b : f32``."""

    T: ClassVar = VarConstraint("T", ScalarLike)
    lhs = operand_def(T)
    rhs = operand_def(T)
    result = result_def(BoolType)

    traits = traits_def(Pure())
    assembly_format = "$lhs `,` $rhs attr-dict `:` type($lhs)"

    def __init__(self, lhs: SSAValue | Operation, rhs: SSAValue | Operation):
        super().__init__(operands=[lhs, rhs], result_types=[BoolType])


@irdl_op_definition
class IEqualOp(CompareOp):
    name = "spirv.IEqual"
    OPCODE: ClassVar[int] = 170


@irdl_op_definition
class INotEqualOp(CompareOp):
    name = "spirv.INotEqual"
    OPCODE: ClassVar[int] = 171


@irdl_op_definition
class UGreaterThanOp(CompareOp):
    name = "spirv.UGreaterThan"
    OPCODE: ClassVar[int] = 172


@irdl_op_definition
class SGreaterThanOp(CompareOp):
    name = "spirv.SGreaterThan"
    OPCODE: ClassVar[int] = 173


@irdl_op_definition
class UGreaterThanEqualOp(CompareOp):
    name = "spirv.UGreaterThanEqual"
    OPCODE: ClassVar[int] = 174


@irdl_op_definition
class SGreaterThanEqualOp(CompareOp):
    name = "spirv.SGreaterThanEqual"
    OPCODE: ClassVar[int] = 175


@irdl_op_definition
class ULessThanOp(CompareOp):
    name = "spirv.ULessThan"
    OPCODE: ClassVar[int] = 176


@irdl_op_definition
class SLessThanOp(CompareOp):
    name = "spirv.SLessThan"
    OPCODE: ClassVar[int] = 177


@irdl_op_definition
class ULessThanEqualOp(CompareOp):
    name = "spirv.ULessThanEqual"
    OPCODE: ClassVar[int] = 178


@irdl_op_definition
class SLessThanEqualOp(CompareOp):
    name = "spirv.SLessThanEqual"
    OPCODE: ClassVar[int] = 179


@irdl_op_definition
class FOrdEqualOp(CompareOp):
    name = "spirv.FOrdEqual"
    OPCODE: ClassVar[int] = 180


@irdl_op_definition
class FUnordEqualOp(CompareOp):
    name = "spirv.FUnordEqual"
    OPCODE: ClassVar[int] = 181


@irdl_op_definition
class FOrdNotEqualOp(CompareOp):
    name = "spirv.FOrdNotEqual"
    OPCODE: ClassVar[int] = 182


@irdl_op_definition
class FUnordNotEqualOp(CompareOp):
    name = "spirv.FUnordNotEqual"
    OPCODE: ClassVar[int] = 183


@irdl_op_definition
class FOrdLessThanOp(CompareOp):
    name = "spirv.FOrdLessThan"
    OPCODE: ClassVar[int] = 184


@irdl_op_definition
class FUnordLessThanOp(CompareOp):
    name = "spirv.FUnordLessThan"
    OPCODE: ClassVar[int] = 185


@irdl_op_definition
class FOrdGreaterThanOp(CompareOp):
    name = "spirv.FOrdGreaterThan"
    OPCODE: ClassVar[int] = 186


@irdl_op_definition
class FUnordGreaterThanOp(CompareOp):
    name = "spirv.FUnordGreaterThan"
    OPCODE: ClassVar[int] = 187


@irdl_op_definition
class FOrdLessThanEqualOp(CompareOp):
    name = "spirv.FOrdLessThanEqual"
    OPCODE: ClassVar[int] = 188


@irdl_op_definition
class FUnordLessThanEqualOp(CompareOp):
    name = "spirv.FUnordLessThanEqual"
    OPCODE: ClassVar[int] = 189


@irdl_op_definition
class FOrdGreaterThanEqualOp(CompareOp):
    name = "spirv.FOrdGreaterThanEqual"
    OPCODE: ClassVar[int] = 190


@irdl_op_definition
class FUnordGreaterThanEqualOp(CompareOp):
    name = "spirv.FUnordGreaterThanEqual"
    OPCODE: ClassVar[int] = 191


@irdl_op_definition
class IsNanOp(SPIRVInstruction):
    """``%r = spirv.IsNan %a : f32`` (OpIsNan)."""

    name = "spirv.IsNan"
    OPCODE: ClassVar[int] = 156

    operand = operand_def(FloatLike)
    result = result_def(BoolType)

    traits = traits_def(Pure())
    assembly_format = "$operand attr-dict `:` type($operand)"

    def __init__(self, operand: SSAValue | Operation):
        super().__init__(operands=[operand], result_types=[BoolType])


@irdl_op_definition
class SelectOp(SPIRVInstruction):
    """``%r = spirv.Select %cond, %a, %b : i1, f32`` (OpSelect)."""

    name = "spirv.Select"
    OPCODE: ClassVar[int] = 169

    T: ClassVar = VarConstraint("T", AnyAttr())
    condition = operand_def(BoolType)
    true_value = operand_def(T)
    false_value = operand_def(T)
    result = result_def(T)

    traits = traits_def(Pure())
    assembly_format = (
        "$condition `,` $true_value `,` $false_value attr-dict `:` "
        "type($condition) `,` type($result)"
    )

    def __init__(
        self,
        cond: SSAValue | Operation,
        true_value: SSAValue | Operation,
        false_value: SSAValue | Operation,
    ):
        super().__init__(
            operands=[cond, true_value, false_value],
            result_types=[SSAValue.get(true_value).type],
        )


class ConvertOp(SPIRVInstruction, abc.ABC):
    """``%r = spirv.ConvertSToF %a : i32 to f32``: a conversion between types."""

    operand = operand_def()
    result = result_def()

    traits = traits_def(Pure())
    assembly_format = "$operand attr-dict `:` type($operand) `to` type($result)"

    def __init__(self, operand: SSAValue | Operation, result_type: Attribute):
        super().__init__(operands=[operand], result_types=[result_type])


@irdl_op_definition
class ConvertFToUOp(ConvertOp):
    name = "spirv.ConvertFToU"
    OPCODE: ClassVar[int] = 109


@irdl_op_definition
class ConvertFToSOp(ConvertOp):
    name = "spirv.ConvertFToS"
    OPCODE: ClassVar[int] = 110


@irdl_op_definition
class ConvertSToFOp(ConvertOp):
    name = "spirv.ConvertSToF"
    OPCODE: ClassVar[int] = 111


@irdl_op_definition
class ConvertUToFOp(ConvertOp):
    name = "spirv.ConvertUToF"
    OPCODE: ClassVar[int] = 112


@irdl_op_definition
class UConvertOp(ConvertOp):
    name = "spirv.UConvert"
    OPCODE: ClassVar[int] = 113


@irdl_op_definition
class SConvertOp(ConvertOp):
    name = "spirv.SConvert"
    OPCODE: ClassVar[int] = 114


@irdl_op_definition
class FConvertOp(ConvertOp):
    name = "spirv.FConvert"
    OPCODE: ClassVar[int] = 115


@irdl_op_definition
class BitcastOp(ConvertOp):
    name = "spirv.Bitcast"
    OPCODE: ClassVar[int] = 124


# --------------------------------------------------------------------------
# GLSL.std.450 extended instructions
# --------------------------------------------------------------------------


class GLOp(IRDLOperation, abc.ABC):
    """An OpExtInst of the GLSL.std.450 set; ``GL_OPCODE`` is its instruction number."""

    GL_OPCODE: ClassVar[int]


class GLUnaryOp(GLOp, abc.ABC):
    """``%r = spirv.GL.Exp %a : f32``."""

    T: ClassVar = VarConstraint("T", NumberLike)
    operand = operand_def(T)
    result = result_def(T)

    traits = traits_def(Pure())
    assembly_format = "$operand attr-dict `:` type($result)"

    def __init__(self, operand: SSAValue | Operation):
        super().__init__(operands=[operand], result_types=[SSAValue.get(operand).type])


class GLBinaryOp(SameTypeBinaryOp, GLOp, abc.ABC):
    """``%r = spirv.GL.Pow %a, %b : f32``."""

    T: ClassVar = VarConstraint("T", NumberLike)
    lhs = operand_def(T)
    rhs = operand_def(T)
    result = result_def(T)


class GLTernaryOp(GLOp, abc.ABC):
    """``%r = spirv.GL.Fma %a, %b, %c : f32``."""

    T: ClassVar = VarConstraint("T", NumberLike)
    x = operand_def(T)
    y = operand_def(T)
    z = operand_def(T)
    result = result_def(T)

    traits = traits_def(Pure())
    assembly_format = "$x `,` $y `,` $z attr-dict `:` type($result)"

    def __init__(
        self, x: SSAValue | Operation, y: SSAValue | Operation, z: SSAValue | Operation
    ):
        super().__init__(operands=[x, y, z], result_types=[SSAValue.get(x).type])


@irdl_op_definition
class GLRoundOp(GLUnaryOp):
    name = "spirv.GL.Round"
    GL_OPCODE: ClassVar[int] = 1


@irdl_op_definition
class GLRoundEvenOp(GLUnaryOp):
    name = "spirv.GL.RoundEven"
    GL_OPCODE: ClassVar[int] = 2


@irdl_op_definition
class GLTruncOp(GLUnaryOp):
    name = "spirv.GL.Trunc"
    GL_OPCODE: ClassVar[int] = 3


@irdl_op_definition
class GLFAbsOp(GLUnaryOp):
    name = "spirv.GL.FAbs"
    GL_OPCODE: ClassVar[int] = 4


@irdl_op_definition
class GLSAbsOp(GLUnaryOp):
    name = "spirv.GL.SAbs"
    GL_OPCODE: ClassVar[int] = 5


@irdl_op_definition
class GLFSignOp(GLUnaryOp):
    name = "spirv.GL.FSign"
    GL_OPCODE: ClassVar[int] = 6


@irdl_op_definition
class GLFloorOp(GLUnaryOp):
    name = "spirv.GL.Floor"
    GL_OPCODE: ClassVar[int] = 8


@irdl_op_definition
class GLCeilOp(GLUnaryOp):
    name = "spirv.GL.Ceil"
    GL_OPCODE: ClassVar[int] = 9


@irdl_op_definition
class GLSinOp(GLUnaryOp):
    name = "spirv.GL.Sin"
    GL_OPCODE: ClassVar[int] = 13


@irdl_op_definition
class GLCosOp(GLUnaryOp):
    name = "spirv.GL.Cos"
    GL_OPCODE: ClassVar[int] = 14


@irdl_op_definition
class GLTanOp(GLUnaryOp):
    name = "spirv.GL.Tan"
    GL_OPCODE: ClassVar[int] = 15


@irdl_op_definition
class GLAsinOp(GLUnaryOp):
    name = "spirv.GL.Asin"
    GL_OPCODE: ClassVar[int] = 16


@irdl_op_definition
class GLAcosOp(GLUnaryOp):
    name = "spirv.GL.Acos"
    GL_OPCODE: ClassVar[int] = 17


@irdl_op_definition
class GLAtanOp(GLUnaryOp):
    name = "spirv.GL.Atan"
    GL_OPCODE: ClassVar[int] = 18


@irdl_op_definition
class GLSinhOp(GLUnaryOp):
    name = "spirv.GL.Sinh"
    GL_OPCODE: ClassVar[int] = 19


@irdl_op_definition
class GLCoshOp(GLUnaryOp):
    name = "spirv.GL.Cosh"
    GL_OPCODE: ClassVar[int] = 20


@irdl_op_definition
class GLTanhOp(GLUnaryOp):
    name = "spirv.GL.Tanh"
    GL_OPCODE: ClassVar[int] = 21


@irdl_op_definition
class GLAtan2Op(GLBinaryOp):
    name = "spirv.GL.Atan2"
    GL_OPCODE: ClassVar[int] = 25


@irdl_op_definition
class GLPowOp(GLBinaryOp):
    name = "spirv.GL.Pow"
    GL_OPCODE: ClassVar[int] = 26


@irdl_op_definition
class GLExpOp(GLUnaryOp):
    name = "spirv.GL.Exp"
    GL_OPCODE: ClassVar[int] = 27


@irdl_op_definition
class GLLogOp(GLUnaryOp):
    name = "spirv.GL.Log"
    GL_OPCODE: ClassVar[int] = 28


@irdl_op_definition
class GLExp2Op(GLUnaryOp):
    name = "spirv.GL.Exp2"
    GL_OPCODE: ClassVar[int] = 29


@irdl_op_definition
class GLLog2Op(GLUnaryOp):
    name = "spirv.GL.Log2"
    GL_OPCODE: ClassVar[int] = 30


@irdl_op_definition
class GLSqrtOp(GLUnaryOp):
    name = "spirv.GL.Sqrt"
    GL_OPCODE: ClassVar[int] = 31


@irdl_op_definition
class GLInverseSqrtOp(GLUnaryOp):
    name = "spirv.GL.InverseSqrt"
    GL_OPCODE: ClassVar[int] = 32


@irdl_op_definition
class GLFMinOp(GLBinaryOp):
    name = "spirv.GL.FMin"
    GL_OPCODE: ClassVar[int] = 37


@irdl_op_definition
class GLUMinOp(GLBinaryOp):
    name = "spirv.GL.UMin"
    GL_OPCODE: ClassVar[int] = 38


@irdl_op_definition
class GLSMinOp(GLBinaryOp):
    name = "spirv.GL.SMin"
    GL_OPCODE: ClassVar[int] = 39


@irdl_op_definition
class GLFMaxOp(GLBinaryOp):
    name = "spirv.GL.FMax"
    GL_OPCODE: ClassVar[int] = 40


@irdl_op_definition
class GLUMaxOp(GLBinaryOp):
    name = "spirv.GL.UMax"
    GL_OPCODE: ClassVar[int] = 41


@irdl_op_definition
class GLSMaxOp(GLBinaryOp):
    name = "spirv.GL.SMax"
    GL_OPCODE: ClassVar[int] = 42


@irdl_op_definition
class GLFClampOp(GLTernaryOp):
    name = "spirv.GL.FClamp"
    GL_OPCODE: ClassVar[int] = 43


@irdl_op_definition
class GLFMixOp(GLTernaryOp):
    name = "spirv.GL.FMix"
    GL_OPCODE: ClassVar[int] = 46


@irdl_op_definition
class GLFmaOp(GLTernaryOp):
    name = "spirv.GL.Fma"
    GL_OPCODE: ClassVar[int] = 50


# --------------------------------------------------------------------------
# Control flow
# --------------------------------------------------------------------------


@irdl_op_definition
class BranchOp(IRDLOperation):
    """``spirv.Branch ^bb1(%x : i32)`` (OpBranch; block arguments become OpPhi)."""

    name = "spirv.Branch"

    target_operands = var_operand_def()
    target = successor_def()

    traits = traits_def(IsTerminator())

    assembly_format = (
        "$target (`(` $target_operands^ `:` type($target_operands) `)`)? attr-dict"
    )

    def __init__(self, target: Block, *operands: SSAValue | Operation):
        super().__init__(operands=[list(operands)], successors=[target])


@irdl_op_definition
class BranchConditionalOp(IRDLOperation):
    """``spirv.BranchConditional %c, ^bb1, ^bb2(%x : i32)`` (OpBranchConditional)."""

    name = "spirv.BranchConditional"

    condition = operand_def(BoolType)
    true_target_operands = var_operand_def()
    false_target_operands = var_operand_def()
    true_target = successor_def()
    false_target = successor_def()

    irdl_options = (AttrSizedOperandSegments(as_property=True),)
    traits = traits_def(IsTerminator())

    assembly_format = """
    $condition `,`
    $true_target (`(` $true_target_operands^ `:` type($true_target_operands) `)`)? `,`
    $false_target (`(` $false_target_operands^ `:` type($false_target_operands) `)`)?
    attr-dict
    """

    def __init__(
        self,
        condition: SSAValue | Operation,
        true_target: Block,
        false_target: Block,
        true_operands: Sequence[SSAValue | Operation] = (),
        false_operands: Sequence[SSAValue | Operation] = (),
    ):
        super().__init__(
            operands=[condition, true_operands, false_operands],
            successors=[true_target, false_target],
        )


@irdl_op_definition
class ReturnOp(IRDLOperation):
    """``spirv.Return`` (OpReturn)."""

    name = "spirv.Return"
    OPCODE: ClassVar[int] = 253

    traits = traits_def(IsTerminator())
    assembly_format = "attr-dict"

    def __init__(self):
        super().__init__()


@irdl_op_definition
class ReturnValueOp(IRDLOperation):
    """``spirv.ReturnValue %v : f32`` (OpReturnValue)."""

    name = "spirv.ReturnValue"
    OPCODE: ClassVar[int] = 254

    value = operand_def()

    traits = traits_def(IsTerminator())
    assembly_format = "$value attr-dict `:` type($value)"

    def __init__(self, value: SSAValue | Operation):
        super().__init__(operands=[value])


@irdl_op_definition
class MergeOp(IRDLOperation):
    """``spirv.mlir.merge``: the terminator of a loop's or selection's merge block."""

    name = "spirv.mlir.merge"

    traits = traits_def(IsTerminator())
    assembly_format = "attr-dict"

    def __init__(self):
        super().__init__()


class _StructuredOp(IRDLOperation, abc.ABC):
    body = region_def()

    def print(self, printer: Printer) -> None:
        printer.print_op_attributes(self.attributes, print_keyword=True)
        printer.print_string(" ")
        printer.print_region(self.body)

    @classmethod
    def parse(cls, parser: Parser):
        attrs = parser.parse_optional_attr_dict_with_keyword()
        op = cls(parser.parse_region())
        if attrs is not None:
            op.attributes |= attrs.data
        return op

    def __init__(self, body: Region):
        super().__init__(regions=[body])

    def _verify_merge_block(self) -> None:
        blocks = self.body.blocks
        if not blocks:
            raise VerifyException(f"{self.name} needs at least one block")
        merge = blocks[-1]
        if len(merge.ops) != 1 or not isinstance(merge.first_op, MergeOp) or merge.args:
            raise VerifyException(
                f"the last block of {self.name} must hold only spirv.mlir.merge"
            )


@irdl_op_definition
class LoopOp(_StructuredOp):
    """``spirv.mlir.loop { ... }``: a structured loop (OpLoopMerge).

    Blocks, as in MLIR: an entry block holding only ``spirv.Branch`` to the
    header; the header (may take block arguments, its terminator branches into
    the body or to the merge block); body blocks; the continue block (second to
    last, branches back to the header); the merge block (last, only
    ``spirv.mlir.merge``).
    """

    name = "spirv.mlir.loop"

    def verify_(self) -> None:
        self._verify_merge_block()
        blocks = self.body.blocks
        if len(blocks) < 4:
            raise VerifyException(
                "spirv.mlir.loop needs entry, header, continue and merge blocks"
            )
        entry = blocks[0]
        if (
            len(entry.ops) != 1
            or not isinstance(entry.first_op, BranchOp)
            or (entry.first_op.target is not blocks[1])
        ):
            raise VerifyException(
                "the loop entry block must hold only a branch to the header"
            )


@irdl_op_definition
class SelectionOp(_StructuredOp):
    """``spirv.mlir.selection { ... }``: a structured if (OpSelectionMerge).

    The first block is the header and ends in ``spirv.BranchConditional``; the
    last block is the merge block.
    """

    name = "spirv.mlir.selection"

    def verify_(self) -> None:
        self._verify_merge_block()
        if len(self.body.blocks) < 2 or not isinstance(
            self.body.blocks[0].last_op, BranchConditionalOp
        ):
            raise VerifyException(
                "the selection header must end in spirv.BranchConditional"
            )


SPIRV = Dialect(
    "spirv",
    [
        ModuleOp,
        GlobalVariableOp,
        FuncOp,
        EntryPointOp,
        ExecutionModeOp,
        AddressOfOp,
        VariableOp,
        AccessChainOp,
        LoadOp,
        StoreOp,
        ConstantOp,
        CompositeExtractOp,
        IAddOp,
        ISubOp,
        IMulOp,
        UDivOp,
        SDivOp,
        UModOp,
        SRemOp,
        SModOp,
        ShiftRightLogicalOp,
        ShiftRightArithmeticOp,
        ShiftLeftLogicalOp,
        BitwiseOrOp,
        BitwiseXorOp,
        BitwiseAndOp,
        LogicalOrOp,
        LogicalAndOp,
        LogicalNotEqualOp,
        FAddOp,
        FSubOp,
        FMulOp,
        FDivOp,
        FRemOp,
        FModOp,
        SNegateOp,
        FNegateOp,
        NotOp,
        LogicalNotOp,
        IEqualOp,
        INotEqualOp,
        UGreaterThanOp,
        SGreaterThanOp,
        UGreaterThanEqualOp,
        SGreaterThanEqualOp,
        ULessThanOp,
        SLessThanOp,
        ULessThanEqualOp,
        SLessThanEqualOp,
        FOrdEqualOp,
        FUnordEqualOp,
        FOrdNotEqualOp,
        FUnordNotEqualOp,
        FOrdLessThanOp,
        FUnordLessThanOp,
        FOrdGreaterThanOp,
        FUnordGreaterThanOp,
        FOrdLessThanEqualOp,
        FUnordLessThanEqualOp,
        FOrdGreaterThanEqualOp,
        FUnordGreaterThanEqualOp,
        IsNanOp,
        SelectOp,
        ConvertFToUOp,
        ConvertFToSOp,
        ConvertSToFOp,
        ConvertUToFOp,
        UConvertOp,
        SConvertOp,
        FConvertOp,
        BitcastOp,
        GLRoundOp,
        GLRoundEvenOp,
        GLTruncOp,
        GLFAbsOp,
        GLSAbsOp,
        GLFSignOp,
        GLFloorOp,
        GLCeilOp,
        GLSinOp,
        GLCosOp,
        GLTanOp,
        GLAsinOp,
        GLAcosOp,
        GLAtanOp,
        GLSinhOp,
        GLCoshOp,
        GLTanhOp,
        GLAtan2Op,
        GLPowOp,
        GLExpOp,
        GLLogOp,
        GLExp2Op,
        GLLog2Op,
        GLSqrtOp,
        GLInverseSqrtOp,
        GLFMinOp,
        GLUMinOp,
        GLSMinOp,
        GLFMaxOp,
        GLUMaxOp,
        GLSMaxOp,
        GLFClampOp,
        GLFMixOp,
        GLFmaOp,
        BranchOp,
        BranchConditionalOp,
        ReturnOp,
        ReturnValueOp,
        MergeOp,
        LoopOp,
        SelectionOp,
    ],
    [
        PointerType,
        ArrayType,
        RuntimeArrayType,
        StructType,
        VerCapExtAttr,
    ],
)
"""The ``spirv`` dialect (compute subset)."""
