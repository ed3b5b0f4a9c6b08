"""Kernel scratch -> buffers of the caller (pass `dagc-hoist-kernel-scratch`).

Runs after `dagc-linalg-to-microkernels`, before `dagc-plan-memory`. The
micro-kernels allocate scratch inside kernel functions: B's packed panels, the
per-chunk packing slots, a Winograd group's transformed tiles. Allocated and freed
by each call, a block larger than glibc's mmap threshold (128 KiB at first; it
follows the sizes freed, up to 32 MiB) comes from `mmap` and goes back to the
system every time, so each call first touches fresh pages. Measured on this
project's 2-core host: ResNet-18 at batch 8 took 6,280 page faults and 12 ms of
system time in each 75 ms call, and a 512x512 GEMM (1 MiB of packed panels) ran at
half speed in processes where the threshold had not risen.

This pass makes each such buffer an argument of the kernel and allocates it in the
caller around each call:

    func.func private @k(%a: memref<...>) {
      %p = memref.alloc() {alignment = 64 : i64} : memref<Nxf32>
      ...
      memref.dealloc %p : memref<Nxf32>
      func.return
    }
    func.call @k(%x) : (memref<...>) -> ()
->
    func.func private @k(%a: memref<...>, %p: memref<Nxf32> {llvm.noalias}) { ... }
    %p = memref.alloc() {alignment = 64 : i64} : memref<Nxf32>
    func.call @k(%x, %p) : (memref<...>, memref<Nxf32>) -> ()
    memref.dealloc %p : memref<Nxf32>

There `dagc-plan-memory` places it in the entry's arena with the other
intermediates (bytes reused by liveness: a kernel's scratch is live only during
its call) and `dagc-entry-workspace` makes the arena a workspace that the runtime
allocates once. The argument is `llvm.noalias`: each call site passes a buffer of
its own, which no other argument reaches (`dagc-parallel-to-threads` treats it
as it treated the allocation).

Hoisted: the `memref.alloc`s of a private callee's entry block with a static
shape and no operands, freed by exactly one `memref.dealloc` in that block. A
callee that is public, or whose symbol is used other than as the callee of
`func.call`s, is left as it is.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import func, memref
from xdsl.dialects.builtin import (
    ArrayAttr,
    DictionaryAttr,
    FunctionType,
    MemRefType,
    ModuleOp,
    SymbolRefAttr,
    UnitAttr,
)
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint, Rewriter

NOALIAS = "llvm.noalias"
"""The argument attribute of a hoisted buffer."""


def _scratch(callee: func.FuncOp) -> list[tuple[memref.AllocOp, memref.DeallocOp]]:
    """The allocs of ``callee``'s entry block that can be hoisted, with their deallocs."""
    if not callee.body.blocks:
        return []
    block = callee.body.block
    found = []
    for op in block.ops:
        if not isinstance(op, memref.AllocOp) or op.operands:
            continue
        typ = op.memref.type
        if not isinstance(typ, MemRefType) or any(d < 0 for d in typ.get_shape()):
            continue
        deallocs = [u.operation for u in op.memref.uses
                    if isinstance(u.operation, memref.DeallocOp)]
        if len(deallocs) == 1 and deallocs[0].parent_block() is block:
            found.append((op, deallocs[0]))
    return found


def _calls(module: ModuleOp) -> dict[str, list[func.CallOp]]:
    """The ``func.call``s of the module by callee name."""
    calls: dict[str, list[func.CallOp]] = {}
    for op in module.walk():
        if isinstance(op, func.CallOp):
            calls.setdefault(op.callee.string_value(), []).append(op)
    return calls


def _other_uses(module: ModuleOp, names: set[str]) -> set[str]:
    """Those of ``names`` referred to by anything but a ``func.call``'s callee
    (a symbol reference among another op's attributes or properties)."""
    used: set[str] = set()
    for op in module.walk():
        if isinstance(op, func.CallOp | func.FuncOp):
            continue
        for value in (*op.attributes.values(), *op.properties.values()):
            if isinstance(value, SymbolRefAttr) and value.string_value() in names:
                used.add(value.string_value())
    return used


def hoist(callee: func.FuncOp, calls: list[func.CallOp]) -> int:
    """Hoist ``callee``'s scratch into its ``calls``' callers; returns how many
    buffers were hoisted."""
    scratch = _scratch(callee)
    if not scratch:
        return 0
    block = callee.body.block
    n_args = len(block.args)
    for alloc, dealloc in scratch:
        argument = block.insert_arg(alloc.memref.type, len(block.args))
        argument.name_hint = alloc.memref.name_hint
        alloc.memref.replace_all_uses_with(argument)
        Rewriter.erase_op(dealloc)
        Rewriter.erase_op(alloc)
    types = [a.memref.type for a, _ in scratch]
    inputs, outputs = callee.function_type.inputs.data, callee.function_type.outputs.data
    callee.function_type = FunctionType.from_lists([*inputs, *types], list(outputs))
    old = callee.arg_attrs.data if callee.arg_attrs is not None else (
        [DictionaryAttr({})] * n_args)
    noalias = DictionaryAttr({NOALIAS: UnitAttr()})
    callee.arg_attrs = ArrayAttr([*old, *([noalias] * len(scratch))])
    for call in calls:
        buffers = []
        for alloc, _ in scratch:
            new = alloc.clone()
            Rewriter.insert_op(new, InsertPoint.before(call))
            buffers.append(new.memref)
        replacement = func.CallOp(call.callee, [*call.arguments, *buffers],
                                  list(call.result_types))
        replacement.attributes.update(call.attributes)
        Rewriter.replace_op(call, replacement)
        after = InsertPoint.after(replacement)  # before the op after the call
        for buffer in buffers:
            Rewriter.insert_op(memref.DeallocOp.get(buffer), after)
    return len(scratch)


@dataclass(frozen=True)
class HoistKernelScratchPass(ModulePass):
    """Scratch buffers of private kernels -> allocations of their callers (see the
    module docstring). Idempotent: a hoisted kernel has no scratch left."""

    name = "dagc-hoist-kernel-scratch"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        callees = {f.sym_name.data: f for f in op.body.ops
                   if isinstance(f, func.FuncOp) and f.sym_visibility is not None
                   and f.sym_visibility.data == "private" and f.body.blocks}
        blocked = _other_uses(op, set(callees))
        calls = _calls(op)
        for name, callee in callees.items():
            if name not in blocked and name in calls:
                hoist(callee, calls[name])
