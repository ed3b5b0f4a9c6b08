"""``partition-devices{allocation=alloc.json default=X64:0}``: split a model over devices.

Every op of the entry function gets a device from the allocation, a JSON object
keyed by op ``name`` (``{"layer1.0.conv1": "NVIDIA:0", ...}``, the format of the
seed compiler guide); ops it does not name get ``default``, except ``dag.opaque``
ops, which run on ``HOST:0`` unless allocated. ``dag.constant`` ops follow their
consumers: each subgraph gets its own copy of the constants it reads (the weight
blob is shared).

Ops of one device are then grouped into ``device.subgraph`` regions in program
order (greedy: the current subgraph grows while the device stays the same). With
``merge=true`` (the default) an op may also join an earlier subgraph of its device
when all its operands are available there, i.e. produced by that subgraph or by
ones before it; subgraphs then only read values of earlier subgraphs, so their
order is a topological order and no cycle can appear (a greedy list-scheduling
heuristic; it does not minimise bytes moved). Values that cross devices
go through one ``device.transfer`` per (value, destination device).

The decisions are returned as a :class:`PartitionReport` (subgraphs with their
device and ops, transfers, bytes moved), printed as a rich table on stderr with
``report=true``.

Python API: :func:`partition` (module in, partitioned copy and report out) and
:func:`alloc_template` (every op name mapped to a default device, to edit and save).
"""

from __future__ import annotations

import difflib
import io
import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import IO

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.dialects.func import FuncOp, ReturnOp
from xdsl.ir import Operation, Region, SSAValue
from xdsl.passes import ModulePass

from dagc.dialects import dag
from dagc.dialects.device import (
    HOST,
    DeviceError,
    DeviceId,
    SubgraphOp,
    TransferOp,
    YieldOp,
    parse_device,
    supported_kinds,
    value_nbytes,
)
from dagc.ir import Module
from dagc.passes.utils import block_for

Allocation = Mapping[str, str] | str | os.PathLike
"""An allocation: a mapping op name -> ``"KIND:index"``, or the path of a JSON file
holding one."""


class AllocationError(ValueError):
    """An allocation that names missing ops or unsupported devices."""


# ----------------------------------------------------------------------------
# The report
# ----------------------------------------------------------------------------


@dataclass
class SubgraphInfo:
    """One subgraph: its name, device, the names of its ops (constants left out,
    program order), and how many values it consumes and produces."""

    name: str
    device: str
    ops: list[str]
    inputs: int
    outputs: int


@dataclass
class TransferInfo:
    """One transfer: the op that produced the value, the devices, the tensor type
    and its size in bytes."""

    value: str
    src: str
    dst: str
    type: str
    nbytes: int


@dataclass
class PartitionReport:
    """What ``partition-devices`` decided: subgraphs in execution order and
    transfers in program order."""

    subgraphs: list[SubgraphInfo] = field(default_factory=list)
    transfers: list[TransferInfo] = field(default_factory=list)

    @property
    def bytes_moved(self) -> int:
        """Total bytes of all transfers (one inference)."""
        return sum(t.nbytes for t in self.transfers)

    @property
    def devices(self) -> list[str]:
        """The devices used, in order of first use."""
        return list(dict.fromkeys(s.device for s in self.subgraphs))

    def renderables(self) -> list:
        """The rich tables (subgraphs, transfers) and the summary line."""
        from rich.table import Table

        sub = Table(title="partition-devices: subgraphs")
        for col in ("subgraph", "device", "ops", "first .. last op"):
            sub.add_column(col, justify="right" if col == "ops" else "left")
        sub.add_column("in", justify="right")
        sub.add_column("out", justify="right")
        for s in self.subgraphs:
            span = s.ops[0] if len(s.ops) == 1 else f"{s.ops[0]} .. {s.ops[-1]}" if s.ops else ""
            sub.add_row(s.name, s.device, str(len(s.ops)), span, str(s.inputs), str(s.outputs))
        tr = Table(title="partition-devices: transfers")
        for col in ("value", "from", "to", "type", "bytes"):
            tr.add_column(col, justify="right" if col == "bytes" else "left")
        for t in self.transfers:
            tr.add_row(t.value, t.src, t.dst, t.type, str(t.nbytes))
        total = (f"{len(self.subgraphs)} subgraphs on {len(self.devices)} devices, "
                 f"{len(self.transfers)} transfers, {self.bytes_moved} bytes moved")
        return [sub, tr, total]

    def print(self, file: IO[str] | None = None) -> None:
        """Print the tables with rich (to ``file``, default stderr)."""
        from rich.console import Console

        console = Console(file=file or sys.stderr, width=120)
        for r in self.renderables():
            console.print(r)

    def __str__(self) -> str:
        stream = io.StringIO()
        self.print(stream)
        return stream.getvalue()


# ----------------------------------------------------------------------------
# Allocations
# ----------------------------------------------------------------------------


def load_allocation(allocation: Allocation) -> dict[str, str]:
    """The allocation as a dict op name -> device string (not yet validated).

    Raises:
        AllocationError: the file cannot be read, is not JSON, or is not an object
            of strings.
    """
    if isinstance(allocation, Mapping):
        data = dict(allocation)
        where = "allocation"
    else:
        where = f"allocation '{os.fspath(allocation)}'"
        try:
            with open(allocation) as f:
                data = json.load(f)
        except OSError as e:
            raise AllocationError(f"cannot read {where}: {e.strerror}") from None
        except json.JSONDecodeError as e:
            raise AllocationError(f"{where} is not valid JSON: {e}") from None
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        raise AllocationError(
            f'{where} must be a JSON object of op name -> "KIND:index" strings'
        )
    return data


def entry_function(module: ModuleOp) -> FuncOp:
    """The function ``partition-devices`` works on: ``@forward``, else the first
    public function (the rule of :attr:`dagc.ir.Module.forward`).

    Raises:
        ValueError: the module has no public function.
    """
    return Module(module, Context()).forward


def _label(op: Operation) -> str:
    return op.label if isinstance(op, dag.DagOp) else op.name


def _body_ops(func: FuncOp) -> list[Operation]:
    return [op for op in func.body.block.ops if not isinstance(op, ReturnOp)]


def alloc_template(module: Module | ModuleOp, default: str = "X64:0") -> dict[str, str]:
    """An allocation naming every op of the entry function (constants left out,
    program order) with ``default``; ``dag.opaque`` ops get ``"HOST:0"``, where
    they run. Edit it and pass it to :func:`partition` or ``partition-devices``.

    Raises:
        DeviceError: ``default`` is not a supported device.
    """
    dev = str(parse_device(default))
    op = module.op if isinstance(module, Module) else module
    return {
        o.label: str(HOST) if isinstance(o, dag.OpaqueOp) else dev
        for o in _body_ops(entry_function(op))
        if isinstance(o, dag.DagOp) and not isinstance(o, dag.ConstantOp)
    }


def resolve_allocation(
    module: ModuleOp, allocation: Allocation, default: str = "X64:0"
) -> dict[Operation, DeviceId]:
    """The device of every non-constant op of the entry function.

    Raises:
        AllocationError: the allocation names ops the entry function does not have
            (each listed, with a close match if there is one), names constants
            (they follow their consumers), or has devices that are malformed or
            unsupported (the message lists the supported kinds).
    """
    alloc = load_allocation(allocation)
    try:
        default_dev = parse_device(default)
    except DeviceError as e:
        raise AllocationError(f"default device: {e}") from None
    func = entry_function(module)
    ops = _body_ops(func)
    if any(isinstance(o, SubgraphOp | TransferOp) for o in ops):
        raise AllocationError(f"@{func.sym_name.data} is already partitioned")
    names = {o.label for o in ops if isinstance(o, dag.DagOp)
             and not isinstance(o, dag.ConstantOp)}
    constants = {o.label for o in ops if isinstance(o, dag.ConstantOp)}
    errors = []
    unknown = [k for k in alloc if k not in names and k not in constants]
    if unknown:
        nested = _nested_names(module, func)
        items = []
        for k in unknown:
            if k in nested:
                items.append(f"'{k}' (in @{nested[k]}: run dag-inline first)")
                continue
            close = difflib.get_close_matches(k, sorted(names), n=1)
            items.append(f"'{k}'" + (f" (did you mean '{close[0]}'?)" if close else ""))
        errors.append(f"allocation names {len(unknown)} op(s) that do not exist in "
                      f"@{func.sym_name.data}: {', '.join(items)}")
    named_constants = [k for k in alloc if k in constants and k not in names]
    if named_constants:
        errors.append("allocation names constants, which follow their consumers: "
                      + ", ".join(f"'{k}'" for k in named_constants))
    devices: dict[str, DeviceId] = {}
    bad = []
    for k, v in alloc.items():
        try:
            devices[k] = parse_device(v)
        except DeviceError as e:
            bad.append(f"'{k}': {e.reason}")
    if bad:
        errors.append(f"allocation has unsupported devices: {', '.join(bad)} "
                      f"(supported kinds: {supported_kinds()})")
    if errors:
        raise AllocationError("; ".join(errors))
    placement = {}
    for o in ops:
        if isinstance(o, dag.ConstantOp):
            continue
        label = o.label if isinstance(o, dag.DagOp) else None
        if label in devices:
            placement[o] = devices[label]
        elif isinstance(o, dag.OpaqueOp):
            placement[o] = HOST
        else:
            placement[o] = default_dev
    return placement


def _nested_names(module: ModuleOp, entry: FuncOp) -> dict[str, str]:
    """Op names found in other functions, name -> function."""
    found = {}
    for f in module.body.ops:
        if isinstance(f, FuncOp) and f is not entry:
            for o in f.walk():
                if isinstance(o, dag.DagOp):
                    found.setdefault(o.label, f.sym_name.data)
    return found


# ----------------------------------------------------------------------------
# Partitioning
# ----------------------------------------------------------------------------


@dataclass
class _Group:
    device: DeviceId
    ops: list[Operation] = field(default_factory=list)


def _external_operands(op: Operation) -> list[SSAValue]:
    """Values ``op`` (including its nested regions) uses but does not define."""
    inside: set[SSAValue] = set()
    used: list[SSAValue] = []
    for o in op.walk():
        inside.update(o.results)
        for r in o.regions:
            for b in r.blocks:
                inside.update(b.args)
        used.extend(o.operands)
    return [v for v in dict.fromkeys(used) if v not in inside]


def group_ops(ops: list[Operation], placement: Mapping[Operation, DeviceId],
              merge: bool = True) -> list[_Group]:
    """Group ``ops`` (program order) into same-device groups in a topological order.

    An op joins the last group if it has the same device; with ``merge``, it joins
    the latest group of its device that comes no earlier than every group producing
    one of its operands; otherwise it opens a new group.
    """
    groups: list[_Group] = []
    where: dict[Operation, int] = {}
    for op in ops:
        if op not in placement:
            continue
        dev = placement[op]
        ready = max((where[v.owner] for v in _external_operands(op)
                     if isinstance(v.owner, Operation) and v.owner in where), default=0)
        candidates = range(len(groups) - 1, ready - 1, -1) if merge else range(
            len(groups) - 1, len(groups) - 2, -1)
        chosen = next((i for i in candidates if i >= 0 and groups[i].device == dev), None)
        if chosen is None:
            groups.append(_Group(dev))
            chosen = len(groups) - 1
        groups[chosen].ops.append(op)
        where[op] = chosen
    return groups


def partition_function(func: FuncOp, placement: Mapping[Operation, DeviceId],
                       merge: bool = True) -> PartitionReport:
    """Rewrite ``func``'s body into ``device.subgraph`` and ``device.transfer`` ops
    following ``placement`` (every non-constant op of the body -> its device).

    Returns:
        The report of subgraphs and transfers.
    """
    block = func.body.block
    old_ops = list(block.ops)
    ret = block.last_op
    assert isinstance(ret, ReturnOp)
    groups = group_ops(_body_ops(func), placement, merge)

    top_of: dict[Operation, int] = {}  # op of the body -> group index
    for gi, g in enumerate(groups):
        for op in g.ops:
            top_of[op] = gi

    def group_of_use(user: Operation) -> int | None:
        while user.parent_block() is not block:
            user = user.parent_op()  # type: ignore[assignment]
        return top_of.get(user)

    report = PartitionReport()
    new_ops: list[Operation] = []
    outer: dict[SSAValue, SSAValue] = {}  # original value -> value in the function
    lives_on: dict[SSAValue, DeviceId] = {}
    moved: dict[tuple[SSAValue, DeviceId], SSAValue] = {}
    for gi, g in enumerate(groups):
        members = set(g.ops)
        inputs: list[SSAValue] = []
        for op in g.ops:
            for v in _external_operands(op):
                if isinstance(v.owner, dag.ConstantOp) or (
                    isinstance(v.owner, Operation) and v.owner in members
                ):
                    continue
                inputs.append(v)
        inputs = list(dict.fromkeys(inputs))
        outputs = [r for op in g.ops for r in op.results
                   if any(group_of_use(u.operation) != gi for u in r.uses)]

        operands = []
        for v in inputs:
            value = outer.get(v, v)
            src = lives_on.get(v)
            if src is not None and src != g.device:
                key = (v, g.device)
                if key not in moved:
                    transfer = TransferOp(value, src, g.device)
                    new_ops.append(transfer)
                    moved[key] = transfer.result
                    report.transfers.append(TransferInfo(
                        _label(v.owner), str(src), str(g.device), str(v.type),
                        value_nbytes(v)))
                value = moved[key]
            operands.append(value)

        body, mapper = block_for(inputs)
        for op in g.ops:
            for v in _external_operands(op):
                if isinstance(v.owner, dag.ConstantOp) and v not in mapper:
                    body.add_op(v.owner.clone(mapper))
            body.add_op(op.clone(mapper))
        body.add_op(YieldOp(*(mapper[v] for v in outputs)))
        name = f"sg{gi}"
        sg = SubgraphOp(name, g.device, operands, [v.type for v in outputs], Region(body))
        new_ops.append(sg)
        for v, r in zip(outputs, sg.results):
            outer[v] = r
            lives_on[v] = g.device
        report.subgraphs.append(SubgraphInfo(
            name, str(g.device), [_label(o) for o in g.ops], len(inputs), len(outputs)))

    results = []
    for v in ret.operands:
        if v not in outer and isinstance(v.owner, dag.ConstantOp):
            const = v.owner.clone()
            new_ops.append(const)
            outer[v] = const.result
        results.append(outer.get(v, v))
    new_ops.append(ReturnOp(*results))
    for op in new_ops:
        block.add_op(op)
    for op in reversed(old_ops):
        op.detach()
        op.erase(safe_erase=False)
    return report


def partition_module(module: ModuleOp, allocation: Allocation, default: str = "X64:0",
                     merge: bool = True) -> PartitionReport:
    """Partition the entry function of ``module`` in place (see the module docstring).

    Raises:
        AllocationError: see :func:`resolve_allocation`.
    """
    placement = resolve_allocation(module, allocation, default)
    return partition_function(entry_function(module), placement, merge)


def partition(module: Module, allocation: Allocation, default: str = "X64:0",
              merge: bool = True) -> tuple[Module, PartitionReport]:
    """A partitioned copy of ``module`` and the report of what was decided.

    Args:
        module: a dag module (not modified).
        allocation: op name -> ``"KIND:index"``, or the path of such a JSON file.
        default: the device of ops the allocation does not name (opaque ops: HOST).
        merge: let ops join an earlier subgraph of their device when their operands
            are available there (fewer subgraphs and transfers).

    Raises:
        AllocationError: unknown op names (with close matches), constants named,
            malformed or unsupported devices (listing the supported kinds).
    """
    out = module.clone()
    report = partition_module(out.op, allocation, default, merge)
    out.verify()
    return out, report


@dataclass(frozen=True)
class PartitionDevicesPass(ModulePass):
    """Partition the entry function over devices (see the module docstring)."""

    name = "partition-devices"

    allocation: str = ""
    """Path of the allocation JSON (op name -> ``"KIND:index"``); empty: none."""
    default: str = "X64:0"
    """Device of the ops the allocation does not name."""
    merge: bool = True
    """Let an op join an earlier subgraph of its device when its operands are there."""
    report: bool = False
    """Print the decisions as tables on stderr."""

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        result = partition_module(op, self.allocation or {}, self.default, self.merge)
        if self.report:
            result.print()
