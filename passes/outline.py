"""``dag-outline{ops=a,b | from=a to=b func-name=f}``: wrap a subgraph into a
private ``func.func`` and call it.

The subgraph is either the ops named in ``ops`` or every op on a path from the op
named ``from`` to the op named ``to`` (both included). Constants used only by the
subgraph move into the function; every other value it uses becomes an argument
(in order of first use), and every value it defines that is used outside becomes
a result (in program order). The ops keep their names, so reports and
allocations still refer to them; ``dag-inline`` undoes the rewrite.

Names with dots must be quoted in a pipeline:
``dag-outline{from="layer1.0.conv1" to="layer1.0.relu_1" func-name=block}``.

Errors (reported by dag-opt as diagnostics): an unknown op name, ops spread over
several functions, ``to`` not reachable from ``from``, and a non-convex subgraph
(an op outside it both depends on it and feeds it, so no single call can
replace it).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.dialects.func import CallOp, FuncOp, ReturnOp
from xdsl.ir import Block, Operation, Region, SSAValue
from xdsl.passes import ModulePass

from dagc.dialects import dag
from dagc.passes.utils import KeywordOptions, block_for, users


class OutlineError(ValueError):
    """The requested subgraph cannot be outlined (the message says why)."""


def _by_name(module: ModuleOp, names: Iterable[str]) -> list[Operation]:
    wanted = set(names)
    found = [op for op in module.walk() if isinstance(op, dag.DagOp) and op.label in wanted]
    missing = wanted - {op.label for op in found}
    if missing:
        raise OutlineError(f"no op named {', '.join(repr(n) for n in sorted(missing))}")
    for op in found:
        parent = op.parent_op()
        if isinstance(parent, dag.FusedOp):
            raise OutlineError(f"'{op.label}' is inside dag.fused '{parent.label}'; "
                               "outline the fused op, or outline before dag-fuse")
    return found


def _reach(ops: Iterable[Operation], step) -> set[Operation]:
    """``ops`` and every op reachable from them through ``step(op)``."""
    seen: set[Operation] = set()
    stack = list(ops)
    while stack:
        op = stack.pop()
        if op not in seen:
            seen.add(op)
            stack.extend(step(op))
    return seen


def _descendants(ops: Iterable[Operation]) -> set[Operation]:
    return _reach(ops, lambda op: [u for r in op.results for u in users(r)])


def _ancestors(ops: Iterable[Operation], block: Block) -> set[Operation]:
    return _reach(ops, lambda op: [v.owner for v in op.operands
                                   if isinstance(v.owner, Operation) and v.owner.parent is block])


def select_subgraph(module: ModuleOp, ops: Sequence[str] = (), start: str | None = None,
                    end: str | None = None) -> list[Operation]:
    """The ops to outline, in program order, with the constants only they use.

    Raises:
        OutlineError: see the module docstring.
    """
    if bool(ops) == (start is not None or end is not None):
        raise OutlineError("give either ops=... or from=... to=...")
    if ops:
        chosen = _by_name(module, ops)
    else:
        if start is None or end is None:
            raise OutlineError("from=... needs to=... (and the reverse)")
        firsts, lasts = _by_name(module, [start]), _by_name(module, [end])
        down = _descendants(firsts)
        chosen = [op for op in _ancestors(lasts, lasts[0].parent) if op in down]
        if not any(op in down for op in lasts):
            raise OutlineError(f"'{end}' does not depend on '{start}'")
    blocks = {op.parent for op in chosen}
    if len(blocks) != 1:
        raise OutlineError("the ops to outline are in different functions")
    block = blocks.pop()
    assert isinstance(block, Block)
    if any(isinstance(op, ReturnOp) for op in chosen):
        raise OutlineError("cannot outline a terminator")
    inside = set(chosen)
    for op in block.ops:  # constants feeding only the subgraph move with it
        if isinstance(op, dag.ConstantOp) and op not in inside:
            us = users(op.result)
            if us and all(u in inside for u in us):
                inside.add(op)
    # convexity: nothing outside may depend on the subgraph and feed it
    outside_down = _descendants(u for op in inside for r in op.results
                                for u in users(r) if u not in inside)
    feeders = _ancestors(inside, block)
    bad = [op for op in outside_down if op not in inside and op in feeders]
    if bad:
        names = ", ".join(sorted(getattr(o, "label", o.name) for o in bad)[:3])
        raise OutlineError(f"the subgraph is not convex: {names} depend(s) on it and feed(s) it")
    return [op for op in block.ops if op in inside]


def _fresh_symbol(module: ModuleOp, base: str) -> str:
    taken = {f.sym_name.data for f in module.body.ops if isinstance(f, FuncOp)}
    name, i = base, 0
    while name in taken:
        i += 1
        name = f"{base}_{i}"
    return name


def topological_sort(block: Block) -> None:
    """Reorder ``block`` so that every value is defined before its uses, keeping
    the current order wherever it is already valid (the terminator stays last)."""
    ops = list(block.ops)
    term = ops[-1] if ops and isinstance(ops[-1], ReturnOp) else None
    body = [op for op in ops if op is not term]
    index = {op: i for i, op in enumerate(body)}
    deps = {op: {v.owner for v in op.operands if v.owner in index} for op in body}
    waiting = {op: len(d) for op, d in deps.items()}
    dependents: dict[Operation, list[Operation]] = {op: [] for op in body}
    for op, d in deps.items():
        for p in d:
            dependents[p].append(op)
    ready = [(index[op], id(op), op) for op in body if waiting[op] == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        _, _, op = heapq.heappop(ready)
        order.append(op)
        for u in dependents[op]:
            waiting[u] -= 1
            if waiting[u] == 0:
                heapq.heappush(ready, (index[u], id(u), u))
    if len(order) != len(body):
        raise OutlineError("the function has a cycle")
    if order == body:
        return
    for op in body:
        op.detach()
    anchor = block.first_op
    for op in order:
        if anchor is None:
            block.add_op(op)
        else:
            block.insert_op_before(op, anchor)


def outline(module: ModuleOp, subgraph: Sequence[Operation], func_name: str) -> CallOp:
    """Move ``subgraph`` (ops of one block, in program order) into a new private
    function named after ``func_name`` (made unique) and replace it by a call.

    Returns:
        the new ``func.call``.
    """
    block = subgraph[0].parent
    assert isinstance(block, Block)
    inside = set(subgraph)
    inputs: list[SSAValue] = []
    for op in subgraph:
        for v in op.operands:
            if (not isinstance(v.owner, Operation) or v.owner not in inside) and v not in inputs:
                inputs.append(v)
    outputs = [r for op in subgraph for r in op.results
               if any(u not in inside for u in users(r))]
    body, mapping = block_for(inputs, subgraph)
    body.add_op(ReturnOp(*(mapping[v] for v in outputs)))
    name = _fresh_symbol(module, func_name)
    func = FuncOp(name, ([v.type for v in inputs], [v.type for v in outputs]),
                  Region(body), visibility="private")
    parent_func = block.parent_op()
    assert parent_func is not None and parent_func.parent is module.body.block
    module.body.block.insert_op_after(func, parent_func)
    call = CallOp(name, inputs, [v.type for v in outputs])
    block.insert_op_after(call, subgraph[-1])
    for old, new in zip(outputs, call.results):
        new.name_hint = old.name_hint
        old.replace_all_uses_with(new)
    for op in reversed(subgraph):
        op.detach()
        op.erase()
    topological_sort(block)
    return call


@dataclass(frozen=True)
class OutlinePass(KeywordOptions, ModulePass):
    """Wrap a subgraph (named ops, or from=a to=b) into a private func + func.call."""

    name = "dag-outline"

    ops: tuple[str, ...] = ()
    """Names of the ops to outline."""
    from_: str | None = None
    """First op of the subgraph (with ``to``)."""
    to: str | None = None
    """Last op of the subgraph (with ``from``)."""
    func_name: str = "outlined"
    """Name of the new function (a suffix makes it unique)."""

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        subgraph = select_subgraph(op, self.ops, self.from_, self.to)
        outline(op, subgraph, self.func_name)
