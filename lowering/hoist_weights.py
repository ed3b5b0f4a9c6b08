"""Hoist weights out of the code: ``dag.constant`` blobs -> entry-function arguments.

Compiled code then takes its weights as buffers (loaded from safetensors at run time)
instead of embedding them as LLVM/SPIR-V constants: object files stay small, LLVM
never sees hundreds of megabytes of initialisers, and one kernel binary serves any
weights of the same shapes. Small inline ``dense<...>`` literals (scalars) stay.

Each new argument carries ``dagc.weight = "<resource handle>"`` in its argument
attributes, which is how runtimes find the tensor to pass.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import DictionaryAttr, FunctionType, ModuleOp, StringAttr
from xdsl.dialects.func import FuncOp
from xdsl.passes import ModulePass

from dagc.dialects import dag

WEIGHT_ATTR = "dagc.weight"


def weight_handles(func: FuncOp) -> list[str | None]:
    """Per argument of ``func``: the resource handle it receives, or None for a
    model input."""
    attrs = func.arg_attrs.data if func.arg_attrs is not None else ()
    out: list[str | None] = []
    for i in range(len(func.body.block.args)):
        d = attrs[i].data if i < len(attrs) else {}
        h = d.get(WEIGHT_ATTR)
        out.append(h.data if isinstance(h, StringAttr) else None)
    return out


@dataclass(frozen=True)
class HoistWeightsPass(ModulePass):
    """Turn resource-backed dag.constant ops of the entry function into arguments."""

    name = "dagc-hoist-weights"

    entry: str = "forward"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for func in op.body.ops:
            if isinstance(func, FuncOp) and func.sym_name.data == self.entry:
                _hoist(func)


def _hoist(func: FuncOp) -> None:
    block = func.body.block
    handles = weight_handles(func)
    by_handle = {h: block.args[i] for i, h in enumerate(handles) if h is not None}
    for const in list(block.ops):
        if not isinstance(const, dag.ConstantOp) or const.handle is None:
            continue
        arg = by_handle.get(const.handle)
        if arg is None:
            arg = block.insert_arg(const.result.type, len(block.args))
            arg.name_hint = "w_" + const.handle
            by_handle[const.handle] = arg
            handles.append(const.handle)
        const.result.replace_all_uses_with(arg)
        const.detach()
        const.erase()
    func.function_type = FunctionType.from_lists(
        [a.type for a in block.args], list(func.function_type.outputs.data))
    func.arg_attrs = _arg_attrs(handles)


def _arg_attrs(handles: list[str | None]):
    from xdsl.dialects.builtin import ArrayAttr

    return ArrayAttr([DictionaryAttr({} if h is None else {WEIGHT_ATTR: StringAttr(h)})
                      for h in handles])
