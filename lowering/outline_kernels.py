"""Outline every compute op of the entry function into a kernel function.

Each dag op (after :mod:`hoist_weights`, so weights are arguments) becomes a
``func.call`` to a private ``func.func`` holding just that op; a ``dag.fused`` op
(:mod:`dagc.passes.fuse`) becomes one kernel whose body is its region's ops, its
``dag.yield`` turned into the ``func.return``. Kernels are deduplicated by
*signature*: op kind, operand and result types, properties other than ``name``,
and for a fused op the ops of its body with the same data (MLIR's notion of
structurally equal ops). ResNet-18's 69 compute ops need 29 kernels; every later
stage (linalg, loops, LLVM) works and compiles once per kernel. The call keeps the
op's ``name`` as ``dagc.op``, so reports and diagnostics can still point at
``layer1.0.conv1``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp, StringAttr
from xdsl.dialects.func import CallOp, FuncOp, ReturnOp
from xdsl.ir import Block, Operation, Region, SSAValue
from xdsl.passes import ModulePass

from dagc.dialects import dag

OP_NAME_ATTR = "dagc.op"


def kernel_signature(op: Operation) -> str:
    """A stable text identifying the op's computation: everything but its name and
    the names of the ops in its regions, whose values are numbered (``a0`` for the
    first block argument, ``v0`` for the first op result)."""
    props = ", ".join(f"{k}={v}" for k, v in sorted(op.properties.items()) if k != "name")
    types = ", ".join(str(o.type) for o in op.operands)
    results = ", ".join(str(r.type) for r in op.results)
    signature = f"{op.name}({types}) -> ({results}) {{{props}}}"
    for region in op.regions:
        ids: dict[SSAValue, str] = {}
        body = []
        for block in region.blocks:
            ids.update((a, f"a{len(ids)}") for a in block.args)
            for inner in block.ops:
                refs = ", ".join(ids[v] for v in inner.operands)
                ids.update((r, f"v{len(ids)}") for r in inner.results)
                body.append(f"{kernel_signature(inner)}[{refs}]")
        signature += f" {{{'; '.join(body)}}}"
    return signature


def kernel_name(op: dag.DagOp, signature: str) -> str:
    """``k_<kind>_<digest of the signature>``; the kind of a fused op lists the
    kinds of its ops (``k_conv2d_add_relu_...``)."""
    digest = hashlib.sha1(signature.encode()).hexdigest()[:10]
    ops = op.body.block.ops if isinstance(op, dag.FusedOp) else [op]
    kind = "_".join(o.name.removeprefix("dag.") for o in ops if isinstance(o, dag.DagOp))
    return f"k_{kind}_{digest}"


def kernel_body(op: dag.DagOp) -> Region:
    """The body of ``op``'s kernel: a copy of the region of a fused op, its
    ``dag.yield`` replaced by ``func.return``; for any other op, the op applied to
    the kernel's arguments."""
    if isinstance(op, dag.FusedOp):
        body = op.body.clone()
        term = body.block.last_op
        assert isinstance(term, dag.YieldOp)
        body.block.insert_op_before(ReturnOp(*term.operands), term)
        term.detach()
        term.erase()
        return body
    block = Block(arg_types=[o.type for o in op.operands])
    clone = op.clone()
    for i, arg in enumerate(block.args):
        clone.operands[i] = arg
    block.add_ops([clone, ReturnOp(*clone.results)])
    return Region(block)


def _outlinable(op: Operation) -> bool:
    """Compute ops; constants stay in the caller (inline literals become kernel
    arguments like any operand) and opaque ops are not compiled."""
    return isinstance(op, dag.DagOp) and not isinstance(op, (dag.ConstantOp, dag.OpaqueOp))


@dataclass(frozen=True)
class OutlineKernelsPass(ModulePass):
    """One private kernel function per distinct dag op signature; calls in the entry."""

    name = "dagc-outline-kernels"

    entry: str = "forward"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        funcs = [f for f in op.body.ops if isinstance(f, FuncOp)]
        kernels: dict[str, FuncOp] = {}
        for func in funcs:
            if func.sym_name.data != self.entry:
                continue
            for inner in list(func.body.block.ops):
                if _outlinable(inner):
                    self._outline(inner, kernels, op)

    def _outline(self, op: dag.DagOp, kernels: dict[str, FuncOp], module: ModuleOp) -> None:
        sig = kernel_signature(op)
        name = kernel_name(op, sig)
        if name not in kernels:
            kernel = FuncOp(name, ([o.type for o in op.operands], [r.type for r in op.results]),
                            kernel_body(op), visibility="private")
            module.body.block.add_op(kernel)
            kernels[name] = kernel
        call = CallOp(name, list(op.operands), [r.type for r in op.results])
        call.attributes[OP_NAME_ATTR] = StringAttr(op.label)
        op.parent_block().insert_op_before(call, op)
        for old, new in zip(op.results, call.results):
            old.replace_all_uses_with(new)
        op.detach()
        op.erase()
