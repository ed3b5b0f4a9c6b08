"""``dag-inline{functions=f,g}``: replace calls by the bodies of their callees.

Every ``func.call`` of a function defined in the module (only those named in
``functions``, if given) is replaced by a copy of the callee's body, its
arguments mapped to the call's operands and the call's results to the returned
values. Calls inside inlined bodies are inlined too (a recursive call is left in
place). Private functions left without callers are erased. This undoes
``dag-outline``: nested modules become one flat graph again.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.dialects.func import CallOp, FuncOp, ReturnOp
from xdsl.ir import SSAValue
from xdsl.passes import ModulePass


def inline_call(call: CallOp, callee: FuncOp) -> None:
    """Replace ``call`` by a copy of ``callee``'s single-block body."""
    block = call.parent_block()
    assert block is not None
    body = callee.body.block
    mapping: dict[SSAValue, SSAValue] = dict(zip(body.args, call.arguments))
    returned: list[SSAValue] = []
    for op in body.ops:
        if isinstance(op, ReturnOp):
            returned = [mapping.get(v, v) for v in op.operands]
            break
        block.insert_op_before(op.clone(mapping), call)
    for old, new in zip(call.res, returned):
        if not new.name_hint:
            new.name_hint = old.name_hint
        old.replace_all_uses_with(new)
    call.detach()
    call.erase()


def inline_calls(module: ModuleOp, only: frozenset[str] = frozenset()) -> int:
    """Inline every call (to ``only``, if given) in ``module``; return how many.

    Raises:
        ValueError: a named function is not defined in the module.
    """
    funcs = {f.sym_name.data: f for f in module.body.ops if isinstance(f, FuncOp)}
    unknown = sorted(only - set(funcs))
    if unknown:
        raise ValueError(f"no function named {', '.join('@' + n for n in unknown)}")
    count = 0
    changed = True
    while changed:
        changed = False
        for f in list(funcs.values()):
            for op in list(f.walk()):
                if not isinstance(op, CallOp):
                    continue
                name = op.callee.string_value()
                callee = funcs.get(name)
                if (callee is None or callee.is_declaration or callee is f
                        or (only and name not in only)):
                    continue
                if any(isinstance(o, CallOp) and o.callee.string_value() == f.sym_name.data
                       for o in callee.walk()):
                    continue  # mutual recursion
                inline_call(op, callee)
                count += 1
                changed = True
    called = {op.callee.string_value() for op in module.walk() if isinstance(op, CallOp)}
    for name, f in funcs.items():
        private = f.sym_visibility is not None and f.sym_visibility.data == "private"
        if private and name not in called and (not only or name in only):
            f.detach()
            f.erase()
    return count


@dataclass(frozen=True)
class InlinePass(ModulePass):
    """Inline func.call ops (all, or those to the named functions); drop dead private funcs."""

    name = "dag-inline"

    functions: tuple[str, ...] = ()
    """Only inline calls to these functions (all when empty)."""

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        inline_calls(op, frozenset(self.functions))
