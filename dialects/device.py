"""The ``device`` dialect: a program partitioned over devices.

``partition-devices`` (:mod:`dagc.passes.partition_devices`) groups the ops of a
function into ``device.subgraph`` regions, one device each, and makes every value
that crosses devices go through an explicit ``device.transfer``::

    %0 = device.subgraph "sg0" on "X64:0" (%a = %x : tensor<1x8xf32>) -> (tensor<1x8xf32>) {
      %r = dag.relu "relu"(%a) : (tensor<1x8xf32>) -> tensor<1x8xf32>
      device.yield %r : tensor<1x8xf32>
    }
    %1 = device.transfer %0 from "X64:0" to "NVIDIA:0" : tensor<1x8xf32>
    %2 = device.subgraph "sg1" on "NVIDIA:0" (%b = %1 : tensor<1x8xf32>) -> (tensor<1x8xf32>) {
      ...
    }

A subgraph is isolated from above, like a function body: the values it consumes are
its operands, bound to its block arguments, and the values it produces are yielded
by ``device.yield`` and become its results. Function arguments and results live in
host memory and are placed by the runtime (no transfer is spelled for them).

Devices are written ``KIND:index`` (the format of the device-allocation JSON of the
seed compiler guide, ``{"conv2d_2": "X64:0"}``); :data:`DEVICE_KINDS` is the one table
of supported kinds and :func:`parse_device` the one parser.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from xdsl.dialects.builtin import StringAttr, TensorType
from xdsl.dialects.utils import AbstractYieldOperation
from xdsl.ir import Attribute, Dialect, Region, SSAValue
from xdsl.irdl import (
    AnyAttr,
    IRDLOperation,
    VarConstraint,
    irdl_op_definition,
    lazy_traits_def,
    operand_def,
    prop_def,
    region_def,
    result_def,
    traits_def,
    var_operand_def,
    var_result_def,
)
from xdsl.parser import Parser
from xdsl.printer import Printer
from xdsl.traits import HasParent, IsolatedFromAbove, IsTerminator, Pure
from xdsl.utils.exceptions import VerifyException

# ----------------------------------------------------------------------------
# Device kinds
# ----------------------------------------------------------------------------


@dataclass(frozen=True)
class DeviceKind:
    """A kind of device and the backend that compiles for it.

    ``backend`` is ``"llvm"`` (LLVM CPU code, ``triple`` is its target triple),
    ``"spirv"`` (SPIR-V compute kernels dispatched through Vulkan) or ``"torch"``
    (run by PyTorch on the host: opaque ops and ops without a lowering).
    """

    name: str
    backend: str
    triple: str | None = None


DEVICE_KINDS: dict[str, DeviceKind] = {
    k.name: k
    for k in (
        DeviceKind("X86", "llvm", "i686-unknown-linux-gnu"),
        DeviceKind("X64", "llvm", "x86_64-unknown-linux-gnu"),
        DeviceKind("ARM", "llvm", "armv7-unknown-linux-gnueabihf"),
        DeviceKind("ARM64", "llvm", "aarch64-unknown-linux-gnu"),
        DeviceKind("NVIDIA", "spirv"),
        DeviceKind("AMDGPU", "spirv"),
        DeviceKind("INTELGPU", "spirv"),
        DeviceKind("MALI", "spirv"),
        DeviceKind("ADRENO", "spirv"),
        DeviceKind("HOST", "torch"),
    )
}
"""Supported device kinds, by name (the seed guide's list minus the vendor SDK ones)."""

UNSUPPORTED_KINDS: tuple[str, ...] = ("HEXAGON", "TPU", "CV22", "ARA1", "MYRIAD")
"""Kinds of the seed guide that need a vendor SDK dagc has no backend for."""


class DeviceError(ValueError):
    """A device string that is malformed or names an unsupported kind.

    ``reason`` is the message without the list of supported kinds."""

    def __init__(self, reason: str):
        super().__init__(f"{reason}; supported kinds: {supported_kinds()}")
        self.reason = reason


@dataclass(frozen=True, order=True)
class DeviceId:
    """One device: a kind from :data:`DEVICE_KINDS` and an index (``NVIDIA:1`` is the
    second NVIDIA GPU). ``str(device)`` is the canonical ``KIND:index`` spelling."""

    kind: str
    index: int = 0

    @property
    def backend(self) -> str:
        """``"llvm"``, ``"spirv"`` or ``"torch"`` (see :class:`DeviceKind`)."""
        return DEVICE_KINDS[self.kind].backend

    def __str__(self) -> str:
        return f"{self.kind}:{self.index}"


HOST = DeviceId("HOST", 0)
"""The host, where PyTorch runs opaque ops."""

_DEVICE_RE = re.compile(r"^\s*([A-Za-z][A-Za-z0-9_]*)\s*(?::\s*(\d+))?\s*$")


def supported_kinds() -> str:
    """The supported kinds as one comma-separated string (for error messages)."""
    return ", ".join(DEVICE_KINDS)


def parse_device(text: str) -> DeviceId:
    """Parse ``"KIND:index"`` (``"X64:0"``, ``"nvidia:1"``; a bare ``"X64"`` means
    index 0) into a :class:`DeviceId`. Kinds are case-insensitive.

    Raises:
        DeviceError: malformed text, or a kind that is unknown or unsupported
            (HEXAGON, TPU, CV22, ARA1, MYRIAD); the message lists the supported kinds.
    """
    if not isinstance(text, str):
        raise DeviceError(f"device must be a string like 'X64:0', got {text!r}")
    match = _DEVICE_RE.match(text)
    if match is None:
        raise DeviceError(f"malformed device '{text}': expected KIND:index (e.g. 'X64:0')")
    kind = match.group(1).upper()
    index = int(match.group(2) or 0)
    if kind not in DEVICE_KINDS:
        why = "is not supported by dagc" if kind in UNSUPPORTED_KINDS else "is unknown"
        raise DeviceError(f"device kind '{kind}' in '{text}' {why}")
    return DeviceId(kind, index)


def _verify_device(attr: StringAttr, what: str) -> DeviceId:
    try:
        return parse_device(attr.data)
    except DeviceError as e:
        raise VerifyException(f"{what}: {e}") from None


# ----------------------------------------------------------------------------
# Ops
# ----------------------------------------------------------------------------


@irdl_op_definition
class YieldOp(AbstractYieldOperation[Attribute]):
    """Terminates a ``device.subgraph``: its operands become the subgraph's results."""

    name = "device.yield"

    traits = lazy_traits_def(lambda: (IsTerminator(), HasParent(SubgraphOp), Pure()))


@irdl_op_definition
class SubgraphOp(IRDLOperation):
    """Ops that run together on one device.

    ``target`` is the device (``"NVIDIA:0"``), ``name`` a label for reports and
    artifacts (``"sg1"``). The operands are the values the subgraph consumes; they
    are bound, in order and with the same types, to the arguments of its single
    block, which is isolated from above (like a function body). The values yielded
    by the ``device.yield`` terminator are its results.

    Syntax::

        %r:2 = device.subgraph "sg1" on "NVIDIA:0" (%a = %x : T0, %b = %y : T1)
                   -> (R0, R1) attributes {...} { ... device.yield %u, %v : R0, R1 }

    The verifier checks that the target is a supported device, that an operand
    produced by a subgraph on another device comes through a ``device.transfer``,
    and that a transfer feeding it goes to this subgraph's device.
    """

    name = "device.subgraph"

    inputs = var_operand_def()
    outputs = var_result_def()
    body = region_def("single_block")
    target = prop_def(StringAttr)
    label_attr = prop_def(StringAttr, prop_name="name")

    traits = traits_def(IsolatedFromAbove())

    def __init__(
        self,
        label: str,
        target: str | DeviceId,
        inputs: Sequence[SSAValue],
        result_types: Sequence[Attribute],
        body: Region,
    ):
        super().__init__(
            operands=[inputs],
            result_types=[result_types],
            regions=[body],
            properties={"name": StringAttr(label), "target": StringAttr(str(target))},
        )

    @property
    def label(self) -> str:
        """The subgraph's name (``"sg0"``)."""
        return self.label_attr.data

    @property
    def device(self) -> DeviceId:
        """The parsed target (raises :class:`DeviceError` if it is invalid)."""
        return parse_device(self.target.data)

    @property
    def yield_op(self) -> YieldOp:
        """The ``device.yield`` terminator."""
        term = self.body.block.last_op
        assert isinstance(term, YieldOp)
        return term

    def verify_(self) -> None:
        device = _verify_device(self.target, f"subgraph '{self.label}'")
        block = self.body.block
        if len(block.args) != len(self.inputs):
            raise VerifyException(
                f"subgraph '{self.label}' has {len(self.inputs)} operands but its "
                f"block has {len(block.args)} arguments"
            )
        for i, (arg, operand) in enumerate(zip(block.args, self.inputs)):
            if arg.type != operand.type:
                raise VerifyException(
                    f"block argument #{i} has type {arg.type}, operand has {operand.type}"
                )
        term = block.last_op
        if not isinstance(term, YieldOp):
            raise VerifyException(f"subgraph '{self.label}' must end with device.yield")
        yielded = [v.type for v in term.arguments]
        if yielded != [r.type for r in self.outputs]:
            raise VerifyException(
                f"subgraph '{self.label}' yields ({', '.join(map(str, yielded))}) but "
                f"has results ({', '.join(str(r.type) for r in self.outputs)})"
            )
        for i, operand in enumerate(self.inputs):
            source = operand.owner
            if isinstance(source, SubgraphOp) and source.target != self.target:
                raise VerifyException(
                    f"operand #{i} of subgraph '{self.label}' on {device} comes from "
                    f"subgraph '{source.label}' on {source.target.data} without a "
                    "device.transfer"
                )
            if isinstance(source, TransferOp) and source.to != self.target:
                raise VerifyException(
                    f"operand #{i} of subgraph '{self.label}' on {device} is "
                    f"transferred to {source.to.data}"
                )

    # -- custom syntax ---------------------------------------------------------

    def print(self, printer: Printer) -> None:
        printer.print_string(" ")
        printer.print_string_literal(self.label)
        printer.print_string(" on ")
        printer.print_string_literal(self.target.data)
        printer.print_string(" (")

        def print_binding(pair: tuple[SSAValue, SSAValue]) -> None:
            arg, operand = pair
            printer.print_ssa_value(arg)
            printer.print_string(" = ")
            printer.print_ssa_value(operand)
            printer.print_string(" : ")
            printer.print_attribute(operand.type)

        printer.print_list(zip(self.body.block.args, self.inputs), print_binding)
        printer.print_string(") -> (")
        printer.print_list((r.type for r in self.outputs), printer.print_attribute)
        printer.print_string(")")
        printer.print_op_attributes(self.attributes, print_keyword=True)
        printer.print_string(" ")
        printer.print_region(self.body, print_entry_block_args=False)

    @classmethod
    def parse(cls, parser: Parser) -> SubgraphOp:
        label = parser.parse_str_literal("subgraph name expected")
        parser.parse_keyword("on")
        target = parser.parse_str_literal("target device expected, e.g. \"X64:0\"")

        def parse_binding() -> tuple[Parser.Argument, SSAValue]:
            arg = parser.parse_argument(expect_type=False)
            parser.parse_punctuation("=")
            operand = parser.parse_unresolved_operand()
            parser.parse_punctuation(":")
            ty = parser.parse_type()
            return arg.resolve(ty), parser.resolve_operand(operand, ty)

        bindings = parser.parse_comma_separated_list(
            parser.Delimiter.PAREN, parse_binding, " in subgraph operands"
        )
        parser.parse_punctuation("->")
        if parser.parse_optional_punctuation("(") is not None:
            result_types = []
            if parser.parse_optional_punctuation(")") is None:
                result_types = parser.parse_comma_separated_list(
                    parser.Delimiter.NONE, parser.parse_type
                )
                parser.parse_punctuation(")")
        else:
            result_types = [parser.parse_type()]
        attrs = parser.parse_optional_attr_dict_with_keyword()
        body = parser.parse_region([arg for arg, _ in bindings])
        op = cls(label, target, [v for _, v in bindings], result_types, body)
        if attrs is not None:
            op.attributes.update(attrs.data)
        return op


@irdl_op_definition
class TransferOp(IRDLOperation):
    """Copy a tensor from device ``from`` to device ``to`` (same type and value).

    Syntax: ``%y = device.transfer %x from "X64:0" to "NVIDIA:0" : tensor<...>``.
    The verifier checks both devices, that they differ, and that a transferred
    subgraph result (or transfer result) lives on ``from``.
    """

    name = "device.transfer"

    T: ClassVar = VarConstraint("T", AnyAttr())
    input = operand_def(T)
    result = result_def(T)
    from_ = prop_def(StringAttr, prop_name="from")
    to = prop_def(StringAttr)

    assembly_format = "$input `from` $from `to` $to attr-dict `:` type($input)"

    traits = traits_def(Pure())

    def __init__(self, value: SSAValue, from_: str | DeviceId, to: str | DeviceId):
        super().__init__(
            operands=[value],
            result_types=[value.type],
            properties={"from": StringAttr(str(from_)), "to": StringAttr(str(to))},
        )

    def verify_(self) -> None:
        src = _verify_device(self.from_, "transfer source")
        dst = _verify_device(self.to, "transfer destination")
        if src == dst:
            raise VerifyException(f"transfer from {src} to itself")
        owner = self.input.owner
        where = None
        if isinstance(owner, SubgraphOp):
            where = owner.target
        elif isinstance(owner, TransferOp):
            where = owner.to
        if where is not None and where != self.from_:
            raise VerifyException(
                f"transfer from {self.from_.data} of a value that lives on {where.data}"
            )

    @property
    def nbytes(self) -> int:
        """Bytes moved (static tensor types; 0 for types without a static size)."""
        return value_nbytes(self.input)


def value_nbytes(value: SSAValue) -> int:
    """Bytes of a statically shaped tensor value (element bits rounded up to whole
    bytes, so ``i1`` counts 1 byte); 0 for other types."""
    ty = value.type
    if not isinstance(ty, TensorType) or not ty.has_static_shape():
        return 0
    count = 1
    for d in ty.get_shape():
        count *= d
    width = getattr(ty.element_type, "bitwidth", None)
    if width is None:
        return 0
    return count * ((width + 7) // 8)


Device = Dialect("device", [SubgraphOp, TransferOp, YieldOp], [])
"""The device dialect."""
