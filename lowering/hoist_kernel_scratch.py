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

This pass makes each such buffer an argument of the kernel, and gives each caller
one scratch buffer, as large as the largest scratch of the kernels it calls, of
which every call passes views:

    func.func private @k(%a: memref<...>) {
      %p = memref.alloc() {alignment = 64 : i64} : memref<Nxf32>
      ...
      memref.dealloc %p : memref<Nxf32>
      func.return
    }
    func.func @forward(...) { ... func.call @k(%x) ... }
->
    func.func private @k(%a: memref<...>, %p: memref<Nxf32> {llvm.noalias}) { ... }
    func.func @forward(...) {
      %scratch = memref.alloc() {alignment = 64 : i64} : memref<Sxi8>
      ...
      %p = memref.view %scratch[%c0][] : memref<Sxi8> to memref<Nxf32>
      func.call @k(%x, %p)
      ...
      memref.dealloc %scratch : memref<Sxi8>
    }

`dagc-plan-memory` then places the scratch buffer in the entry's arena and
`dagc-entry-workspace` makes the arena a workspace that the runtime allocates once.
The kernels run one after another, so one buffer as large as the largest need
serves every call, each call's scratch starting at the same address (as glibc's
malloc handed back the block just freed). Planning each call's buffers by liveness
instead measured alike (MobileNetV2 and ResNet-50 at batch 8, in one process,
both built before the micro-kernels treated fresh allocs as inert).
Each argument is `llvm.noalias`: the views of one call are disjoint, and no other
argument reaches the scratch buffer (`dagc-parallel-to-threads` treats it as it
treated the allocation).

Hoisted: the `memref.alloc`s of a private callee's entry block with a static
shape, the identity layout, no operands and an alignment of at most 64 bytes,
freed by exactly one `memref.dealloc` in that block. A callee that is public,
whose symbol is used other than as the callee of `func.call`s, or that is called
from a function of several blocks or from inside another op's region (a loop's
iterations, which an `scf.parallel` runs at once, would share one buffer), is left
as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod

from xdsl.context import Context
from xdsl.dialects import arith, func, memref
from xdsl.dialects.builtin import (
    ArrayAttr,
    DictionaryAttr,
    FunctionType,
    IndexType,
    IntegerAttr,
    MemRefType,
    ModuleOp,
    NoneAttr,
    SymbolRefAttr,
    UnitAttr,
    i8,
)
from xdsl.ir import SSAValue
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint, Rewriter
from xdsl.utils.exceptions import DiagnosticException

from dagc.lowering.llvm_types import NOALIAS, element_byte_size

SCRATCH_ALIGNMENT = 64
"""Bytes: the alignment of the scratch buffer and of each view in it."""


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
        if (not isinstance(typ, MemRefType) or any(d < 0 for d in typ.get_shape())
                or not isinstance(typ.layout, NoneAttr)
                or not isinstance(typ.memory_space, NoneAttr)
                or (op.alignment is not None
                    and op.alignment.value.data > SCRATCH_ALIGNMENT)):
            continue
        try:
            element_byte_size(typ.element_type)
        except DiagnosticException:
            continue
        deallocs = [u.operation for u in op.memref.uses
                    if isinstance(u.operation, memref.DeallocOp)]
        if len(deallocs) == 1 and deallocs[0].parent_block() is block:
            found.append((op, deallocs[0]))
    return found


def _uses(module: ModuleOp, names: set[str]) -> tuple[dict[str, list[func.CallOp]], set[str]]:
    """The ``func.call``s of ``names`` by callee, and those of ``names`` referred to
    otherwise (a symbol reference among another op's attributes or properties)."""
    calls: dict[str, list[func.CallOp]] = {}
    other: set[str] = set()
    for op in module.walk():
        if isinstance(op, func.CallOp):
            calls.setdefault(op.callee.string_value(), []).append(op)
        elif not isinstance(op, func.FuncOp):
            for value in (*op.attributes.values(), *op.properties.values()):
                if isinstance(value, SymbolRefAttr) and value.string_value() in names:
                    other.add(value.string_value())
    return calls, other


def _byte_size(typ: MemRefType) -> int:
    return prod(typ.get_shape()) * element_byte_size(typ.element_type)


def _caller(call: func.CallOp) -> func.FuncOp | None:
    """The ``func.func`` whose body is one block holding ``call`` itself, else None
    (a call in a loop's body may run while another iteration's call does, in an
    ``scf.parallel``: their scratch would be one buffer)."""
    caller = call.parent_op()
    if not isinstance(caller, func.FuncOp) or len(caller.body.blocks) != 1:
        return None
    return caller


def hoist(callee: func.FuncOp, scratch: list[tuple[memref.AllocOp, memref.DeallocOp]]
          ) -> list[tuple[MemRefType, int]]:
    """Make ``scratch`` (``_scratch(callee)``) trailing ``llvm.noalias`` arguments of
    ``callee``; returns their types and byte offsets in the scratch buffer a caller
    passes views of."""
    block = callee.body.block
    n_args = len(block.args)
    layout, offset = [], 0
    for alloc, dealloc in scratch:
        typ = alloc.memref.type
        layout.append((typ, offset))
        offset += -(-_byte_size(typ) // SCRATCH_ALIGNMENT) * SCRATCH_ALIGNMENT
        argument = block.insert_arg(typ, len(block.args))
        argument.name_hint = alloc.memref.name_hint
        alloc.memref.replace_all_uses_with(argument)
        Rewriter.erase_op(dealloc)
        Rewriter.erase_op(alloc)
    inputs, outputs = callee.function_type.inputs.data, callee.function_type.outputs.data
    callee.function_type = FunctionType.from_lists(
        [*inputs, *(t for t, _ in layout)], list(outputs))
    old = callee.arg_attrs.data if callee.arg_attrs is not None else (
        [DictionaryAttr({})] * n_args)
    noalias = DictionaryAttr({NOALIAS: UnitAttr()})
    callee.arg_attrs = ArrayAttr([*old, *([noalias] * len(layout))])
    return layout


def _scratch_buffer(caller: func.FuncOp, size: int) -> SSAValue:
    """An ``i8`` buffer of ``size`` bytes allocated at the start of ``caller`` and
    freed before its return."""
    block = caller.body.block
    alloc = memref.AllocOp.get(i8, SCRATCH_ALIGNMENT, [size])
    alloc.memref.name_hint = "scratch"
    Rewriter.insert_op(alloc, InsertPoint.at_start(block))
    assert block.last_op is not None
    Rewriter.insert_op(memref.DeallocOp.get(alloc.memref), InsertPoint.before(block.last_op))
    return alloc.memref


def _pass_views(call: func.CallOp, scratch: SSAValue,
                layout: list[tuple[MemRefType, int]]) -> None:
    """Replace ``call`` by one passing views of ``scratch`` at ``layout``'s offsets."""
    views = []
    for typ, offset in layout:
        shift = arith.ConstantOp(IntegerAttr(offset, IndexType()))
        view = memref.ViewOp(scratch, shift, [], typ)
        Rewriter.insert_op([shift, view], InsertPoint.before(call))
        views.append(view.result)
    replacement = func.CallOp(call.callee, [*call.arguments, *views], list(call.result_types))
    replacement.attributes.update(call.attributes)
    Rewriter.replace_op(call, replacement)


@dataclass(frozen=True)
class HoistKernelScratchPass(ModulePass):
    """Scratch buffers of private kernels -> views of one scratch buffer of their
    callers (see the module docstring). Idempotent: a hoisted kernel has no
    scratch left."""

    name = "dagc-hoist-kernel-scratch"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        callees = {f.sym_name.data: f for f in op.body.ops
                   if isinstance(f, func.FuncOp) and f.sym_visibility is not None
                   and f.sym_visibility.data == "private" and f.body.blocks}
        calls, blocked = _uses(op, set(callees))
        sites: list[tuple[func.CallOp, func.FuncOp, list[tuple[MemRefType, int]]]] = []
        for name, callee in callees.items():
            callers = [_caller(c) for c in calls.get(name, [])]
            scratch = _scratch(callee)
            if name in blocked or not callers or None in callers or not scratch:
                continue
            layout = hoist(callee, scratch)
            sites += [(c, caller, layout) for c, caller in zip(calls[name], callers)]
        sizes: dict[func.FuncOp, int] = {}
        for _, caller, layout in sites:
            typ, offset = layout[-1]
            sizes[caller] = max(sizes.get(caller, 0), offset + _byte_size(typ))
        buffers = {caller: _scratch_buffer(caller, size) for caller, size in sizes.items()}
        for call, caller, layout in sites:
            _pass_views(call, buffers[caller], layout)
