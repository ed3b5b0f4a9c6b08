"""The entry's arena as an argument that the runtime owns (pass
`dagc-entry-workspace`).

Runs after `dagc-plan-memory`. The arena of `@forward`, the entry point, holds every
intermediate of a call and the kernels' scratch buffer (`dagc-hoist-kernel-scratch`),
and is as large as the model's largest live set (48 MiB for MobileNetV2 at batch 8,
before the scratch joined it). Allocated and freed by each call, a block that large comes
from `mmap` and goes back to the system every time (glibc's mmap threshold, which
otherwise follows the sizes freed, stops at 32 MiB on 64-bit hosts), so each call
first touches fresh pages: 11,800 page faults and 29 ms of system time a call on
MobileNetV2 at batch 8, more than its kernels' 25 ms. Instead, the arena becomes
the entry's last argument, a workspace the runtime owns:

    func.func @forward(%x: ..., %w: ..., %out: ...) {
      %arena = memref.alloc() {alignment = 64 : i64} : memref<Bxi8>
      ...
      memref.dealloc %arena : memref<Bxi8>
    }
->
    func.func @forward(%x: ..., %w: ..., %out: ..., %arena: memref<Bxi8>)
        attributes {dagc.workspace_bytes = B : i64} { ... }

and the runtime allocates it once per executable (`CpuExecutable`) and passes it
to every call. The arena is the alloc that `dagc-plan-memory` put first in the
entry block: an `i8` buffer of `dagc.arena_bytes` bytes. A module with no such
arena (one intermediate or none, or the pass not run) is left as it is.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import memref
from xdsl.dialects.builtin import (
    ArrayAttr,
    DictionaryAttr,
    FunctionType,
    IntegerAttr,
    MemRefType,
    ModuleOp,
    i8,
    i64,
)
from xdsl.dialects.func import FuncOp
from xdsl.passes import ModulePass
from xdsl.rewriter import Rewriter

from dagc.lowering.plan_memory import planned_bytes

WORKSPACE_BYTES_ATTR = "dagc.workspace_bytes"
"""Entry attribute (i64): size in bytes of its workspace, its last argument."""

ENTRY = "forward"
"""The entry point's symbol."""


def workspace_bytes(func: FuncOp) -> int:
    """The size of ``func``'s workspace argument (``dagc.workspace_bytes``), in
    bytes; 0 when it takes none."""
    value = func.attributes.get(WORKSPACE_BYTES_ATTR)
    return value.value.data if isinstance(value, IntegerAttr) else 0


def _arena(func: FuncOp) -> memref.AllocOp | None:
    """The arena ``dagc-plan-memory`` put first in ``func``'s entry block."""
    if not func.body.blocks:
        return None
    first = func.body.block.first_op
    size, _ = planned_bytes(func)
    if not isinstance(first, memref.AllocOp) or first.operands or not size:
        return None
    typ = first.memref.type
    if not (isinstance(typ, MemRefType) and typ.element_type == i8
            and tuple(typ.get_shape()) == (size,)):
        return None
    return first


@dataclass(frozen=True)
class EntryWorkspacePass(ModulePass):
    """``@forward``'s arena -> its last argument, ``dagc.workspace_bytes`` (see the
    module docstring). Idempotent: an entry with a workspace has no arena alloc."""

    name = "dagc-entry-workspace"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        entry = next((f for f in op.body.ops
                      if isinstance(f, FuncOp) and f.sym_name.data == ENTRY), None)
        arena = None if entry is None else _arena(entry)
        if entry is None or arena is None:
            return
        block = entry.body.block
        typ = arena.memref.type
        argument = block.insert_arg(typ, len(block.args))
        argument.name_hint = "workspace"
        for use in list(arena.memref.uses):
            if isinstance(use.operation, memref.DeallocOp):
                Rewriter.erase_op(use.operation)
        arena.memref.replace_all_uses_with(argument)
        Rewriter.erase_op(arena)
        inputs, outputs = entry.function_type.inputs.data, entry.function_type.outputs.data
        entry.function_type = FunctionType.from_lists([*inputs, typ], list(outputs))
        if entry.arg_attrs is not None:
            entry.arg_attrs = ArrayAttr([*entry.arg_attrs.data, DictionaryAttr({})])
        entry.attributes[WORKSPACE_BYTES_ATTR] = IntegerAttr(typ.get_shape()[0], i64)
