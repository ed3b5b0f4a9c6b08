"""Producer-consumer fusion of ``linalg.generic`` ops on tensors (pass
``dagc-linalg-fuse-elementwise``), as MLIR's ``-linalg-fuse-elementwise-ops``
(``mlir/lib/Dialect/Linalg/Transforms/ElementwiseOpFusion.cpp``).

A producer generic is fused into the consumer generic that reads its result when

- the producer is all-parallel, has one result, does not read its ``out`` argument
  and has no ``linalg.index`` whose loop the consumer cannot name;
- its output indexing map is a permutation (so it can be inverted);
- its result has no other user than the consumer, which reads it only as inputs,
  all through one indexing map (MLIR's default control function: single use).

The fused generic runs the consumer's loops. Each producer input ``x`` with map
``P_x`` is read through ``P_x o P_out^-1 o C_r``, where ``P_out`` is the producer's
output map and ``C_r`` the consumer's map of the fused operand; the producer's body
is inlined in front of the consumer's, and its yielded value replaces the
consumer's block argument. Inputs that end up read twice through the same map are
merged, and inputs the body does not read are dropped (MLIR's
``DeduplicateAndRemoveDeadOperandsAndResults``). A fusion that would leave a loop
without any map naming it is not done. Applied greedily, an elementwise chain
becomes one generic: one loop nest, no intermediate tensor.

A second pattern prepares in-place epilogues (IREE's
``AdaptLinalgInputOperandToOutputOperand``, in its
``ConvertToDestinationPassingStyle`` pass): an all-parallel generic whose output is
a ``tensor.empty`` that its body never reads takes as its output an input of the
same type and indexing map that a linalg op computed and nothing else reads (the
input stays an input, read at the element being written). Bufferization then
writes the generic in place into that input's buffer: the epilogue of a
convolution or matmul (bias, residual add, activation) overwrites the
accumulator, and the result of the kernel is computed in its out-parameter with
no intermediate buffer.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import tensor
from xdsl.dialects.builtin import AffineMapAttr, IntegerAttr, ModuleOp, i64
from xdsl.dialects.linalg.abstract_ops import LinalgStructuredOperation
from xdsl.dialects.linalg.attrs import IteratorType
from xdsl.dialects.linalg.ops import GenericOp, IndexOp
from xdsl.ir import Block, BlockArgument, Region, SSAValue
from xdsl.ir.affine import AffineDimExpr, AffineMap
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    GreedyRewritePatternApplier,
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
    op_type_rewrite_pattern,
)


def _maps(op: GenericOp) -> list[AffineMap]:
    return [m.data for m in op.indexing_maps]


def _all_parallel(op: GenericOp) -> bool:
    return all(it.data == IteratorType.PARALLEL for it in op.iterator_types)


def _on_tensors(op: GenericOp) -> bool:
    return len(op.res) == len(op.outputs)


def _out_arg(op: GenericOp, k: int = 0) -> BlockArgument:
    return op.body.block.args[len(op.inputs) + k]


def _fusable_producer(consumer: GenericOp, index: int) -> tuple[GenericOp, AffineMap] | None:
    """The producer of ``consumer``'s input ``index`` and the map from consumer
    loops to producer loops, if the two may fuse (see the module docstring)."""
    value = consumer.inputs[index]
    producer = value.owner
    if (not isinstance(producer, GenericOp) or len(producer.outputs) != 1
            or not _on_tensors(producer) or not _all_parallel(producer)
            or producer.parent_block() is not consumer.parent_block()
            or _out_arg(producer).uses):
        return None
    inputs = len(consumer.inputs)
    if any(u.operation is not consumer or u.index >= inputs for u in value.uses):
        return None
    consumer_maps = _maps(consumer)
    reads = {consumer_maps[u.index] for u in value.uses}
    out_map = _maps(producer)[-1]
    inverse = out_map.inverse_permutation()
    if len(reads) != 1 or inverse is None or len(out_map.results) != out_map.num_dims:
        return None
    to_producer = inverse.compose(reads.pop())
    for op in producer.body.block.ops:
        if isinstance(op, IndexOp) and not isinstance(
                to_producer.results[op.dim.value.data], AffineDimExpr):
            return None
    return producer, to_producer


def fuse_generics(producer: GenericOp, consumer: GenericOp, to_producer: AffineMap
                  ) -> GenericOp | None:
    """The generic computing ``consumer`` with ``producer`` inlined (not inserted),
    or None when a loop of the consumer would be left without a map naming it.

    ``to_producer`` maps consumer loops to producer loops (from
    :func:`_fusable_producer`).
    """
    fused_value = producer.res[0]
    consumer_args = consumer.body.block.args
    producer_maps, consumer_maps = _maps(producer), _maps(consumer)
    # (value, map, old block args read through it), in MLIR's operand order: the
    # consumer's inputs with the producer's inputs at the first fused position.
    inputs: list[tuple[SSAValue, AffineMap, list[BlockArgument]]] = []

    def add(value: SSAValue, map_: AffineMap, arg: BlockArgument) -> None:
        if not arg.uses:
            return
        for v, m, args in inputs:
            if v is value and m == map_:
                args.append(arg)
                return
        inputs.append((value, map_, [arg]))

    first = next(i for i, v in enumerate(consumer.inputs) if v is fused_value)
    for i, (value, map_) in enumerate(zip(consumer.inputs, consumer_maps)):
        if i == first:
            for v, m, arg in zip(producer.inputs, producer_maps, producer.body.block.args):
                add(v, m.compose(to_producer), arg)
        if value is not fused_value:
            add(value, map_, consumer_args[i])
    out_maps = consumer_maps[len(consumer.inputs):]
    named = set().union(*(m.used_dims() for m in [*(m for _, m, _ in inputs), *out_maps]))
    if len(named) != to_producer.num_dims:
        return None

    block = Block(arg_types=[v.type.element_type for v, _, _ in inputs]
                  + [o.type.element_type for o in consumer.outputs])
    mapping: dict[SSAValue, SSAValue] = {}
    for new, (_, _, olds) in zip(block.args, inputs):
        mapping.update((old, new) for old in olds)
    for k in range(len(consumer.outputs)):
        mapping[_out_arg(consumer, k)] = block.args[len(inputs) + k]
    for op in producer.body.block.ops:
        if op is producer.body.block.last_op:
            produced = mapping.get(op.operands[0], op.operands[0])
            break
        clone = op.clone(mapping)
        if isinstance(clone, IndexOp):
            expr = to_producer.results[clone.dim.value.data]
            assert isinstance(expr, AffineDimExpr)
            clone.dim = IntegerAttr(expr.position, i64)
        block.add_op(clone)
    for i, value in enumerate(consumer.inputs):
        if value is fused_value:
            mapping[consumer_args[i]] = produced
    for op in consumer.body.block.ops:
        block.add_op(op.clone(mapping))
    maps = [AffineMapAttr(m) for _, m, _ in inputs] + [AffineMapAttr(m) for m in out_maps]
    return GenericOp([v for v, _, _ in inputs], list(consumer.outputs), Region(block),
                     maps, consumer.iterator_types, consumer.res.types)


class FuseElementwise(RewritePattern):
    """Fuse the producer of one input of a generic into it (see the module
    docstring)."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: GenericOp, rewriter: PatternRewriter, /) -> None:
        if not _on_tensors(op):
            return
        for index in range(len(op.inputs)):
            found = _fusable_producer(op, index)
            if found is None:
                continue
            fused = fuse_generics(found[0], op, found[1])
            if fused is not None:
                rewriter.replace(op, fused)
                rewriter.erase(found[0])
                return


class ReuseInputAsInit(RewritePattern):
    """An all-parallel generic writing a ``tensor.empty`` it never reads takes an
    input of the same type and map, computed by a linalg op and read nowhere
    else, as its output (see the module docstring)."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: GenericOp, rewriter: PatternRewriter, /) -> None:
        if (len(op.outputs) != 1 or not _on_tensors(op) or not _all_parallel(op)
                or not isinstance(op.outputs[0].owner, tensor.EmptyOp)
                or _out_arg(op).uses):
            return
        maps = _maps(op)
        for value, map_ in zip(op.inputs, maps):
            if (value.type == op.outputs[0].type and map_ == maps[-1]
                    and isinstance(value.owner, LinalgStructuredOperation)
                    and value.owner.parent_block() is op.parent_block()
                    and value.has_one_use()):
                rewriter.replace(op, GenericOp(
                    list(op.inputs), [value], rewriter.move_region_contents_to_new_regions(op.body),
                    op.indexing_maps, op.iterator_types, op.res.types))
                return


@dataclass(frozen=True)
class LinalgFuseElementwisePass(ModulePass):
    """Fuse elementwise producer-consumer generics on tensors; let epilogues
    write over their input (see the module docstring)."""

    name = "dagc-linalg-fuse-elementwise"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        PatternRewriteWalker(
            GreedyRewritePatternApplier([FuseElementwise(), ReuseInputAsInit()])
        ).rewrite_module(op)
