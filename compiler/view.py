"""Graphviz drawings of dag programs (``dagc view``).

Nodes are dag ops (weights are folded into their consumer's label), edges are SSA
values labelled with their shapes. Nodes are coloured by op kind, or by device when
an allocation (op name -> ``KIND:index``) is given, with one cluster per device.
"""

from __future__ import annotations

import colorsys
import hashlib
import subprocess
from collections.abc import Mapping

from xdsl.dialects.func import CallOp, FuncOp, ReturnOp
from xdsl.ir import BlockArgument, Operation, SSAValue

from dagc.dialects import dag
from dagc.ir import Module


def _color(key: str) -> str:
    """A stable pastel colour for a key (op kind or device)."""
    h = int(hashlib.md5(key.encode()).hexdigest()[:6], 16) / 0xFFFFFF
    r, g, b = colorsys.hls_to_rgb(h, 0.82, 0.6)
    return f"#{int(r * 255):02x}{int(g * 255):02x}{int(b * 255):02x}"


def _shape(v: SSAValue) -> str:
    t = v.type
    return "x".join(map(str, t.get_shape())) if hasattr(t, "get_shape") else str(t)


def _quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_dot(module: Module, allocation: Mapping[str, str] | None = None,
           default_device: str = "X64:0") -> str:
    """The entry function of ``module`` as a Graphviz DOT digraph.

    Args:
        allocation: op name -> device; with it nodes are coloured and clustered by
            device (ops not named get ``default_device``).
    """
    func: FuncOp = module.forward
    ids: dict[Operation | BlockArgument, str] = {}
    lines = ["digraph dag {", "  rankdir=TB;",
             '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=10];',
             '  edge [fontname="Helvetica", fontsize=8];']
    for i, arg in enumerate(func.body.block.args):
        ids[arg] = f"in{i}"
        label = _quote(f"input {arg.name_hint or i}\n{_shape(arg)}")
        lines.append(f'  in{i} [label={label}, shape=ellipse, fillcolor="#eeeeee"];')
    clusters: dict[str, list[str]] = {}
    for n, op in enumerate(func.body.block.ops):
        if isinstance(op, dag.ConstantOp):
            continue
        node = f"op{n}"
        ids[op] = node
        if isinstance(op, ReturnOp):
            lines.append(f'  {node} [label="output", shape=ellipse, fillcolor="#eeeeee"];')
        else:
            name = op.label if isinstance(op, dag.DagOp) else (
                op.callee.string_value() if isinstance(op, CallOp) else op.name)
            kind = op.name.removeprefix("dag.")
            weights = [o for o in op.operands if isinstance(o.owner, dag.ConstantOp)]
            extra = "".join("\n" + _shape(w) for w in weights[:2])
            device = (allocation or {}).get(name, default_device) if allocation is not None else None
            fill = _color(device if device else kind)
            label = f"{name}\n{kind}{extra}"
            lines.append(f"  {node} [label={_quote(label)}, fillcolor={_quote(fill)}];")
            if device:
                clusters.setdefault(device, []).append(node)
        for v in op.operands:
            src = v.owner if isinstance(v.owner, Operation) else v
            if isinstance(src, dag.ConstantOp):
                continue
            if src in ids:
                lines.append(f"  {ids[src]} -> {node} [label={_quote(_shape(v))}];")
    for i, (device, nodes) in enumerate(sorted(clusters.items())):
        lines.append(f"  subgraph cluster_{i} {{ label={_quote(device)}; style=dashed; "
                     + " ".join(nodes) + "; }")
    lines.append("}")
    return "\n".join(lines) + "\n"


def render(dot: str, fmt: str) -> bytes:
    """Render DOT with Graphviz's ``dot`` (svg, png, pdf).

    Raises:
        RuntimeError: Graphviz is not installed (``apt-get install graphviz``).
    """
    try:
        return subprocess.run(["dot", f"-T{fmt}"], input=dot.encode(), check=True,
                              capture_output=True).stdout
    except FileNotFoundError as e:
        raise RuntimeError("rendering needs Graphviz's 'dot' (apt-get install graphviz); "
                           "write a .dot file instead") from e
