"""Bufferization: linalg on tensors -> linalg on memrefs (pass `dagc-bufferize`).

xDSL 0.74 has no One-Shot Bufferize, so this file is a simplified one for the IR
that dagc's dag -> linalg lowering produces: `func.func` bodies of one block, on
ranked tensors with static shapes, holding linalg ops in destination-passing style,
`tensor.empty`, `expand_shape`, `collapse_shape`, `extract_slice`, `insert_slice`,
`pad`, `concat`, `extract`, `insert`, `cast` and `dim`, tensor `arith.constant`s
(`dense<>` and `dense_resource<>`), `func.call` and `func.return`.

The algorithm follows MLIR's One-Shot Bufferize
(https://mlir.llvm.org/docs/Bufferization/; M. Springer, "One-Shot Function
Bufferization of Tensor Programs", LLVM Developers' Meeting 2021), restricted to the
single block of each function, where program order is execution order:

1. Decomposition (rewrite patterns on tensors). `tensor.pad` becomes `tensor.empty`
   + `linalg.fill` + `tensor.insert_slice` (MLIR's `GeneralizePadOpPattern`) and
   `tensor.concat` becomes `tensor.empty` + one `tensor.insert_slice` per input
   (MLIR's `DecomposeTensorConcatOp`). Every op that writes a tensor is then in
   destination-passing style: its result is tied to one operand, its destination.
2. Empty-tensor elimination (MLIR's `-eliminate-empty-tensors`). A `tensor.empty`
   whose value flows, through destination operands only, into the source of a
   `tensor.insert_slice` is replaced by a `tensor.extract_slice` of that insert's
   destination at the same offsets, sizes and strides: the producers compute
   straight into the slice, and the insert has nothing left to copy.
   `tensor.empty`, `linalg.fill`, `arith.constant` and static `extract_slice` ops
   move up when the destination is defined too late. A tensor.empty has undefined
   contents, so replacing it by any tensor of its type preserves the semantics, and
   the analysis (4) still decides whether the buffers may be shared.
3. Function boundaries (MLIR's `-buffer-results-to-out-params`, without its copy).
   Each tensor result becomes a memref out-parameter appended to the arguments; the
   function returns its other results. The chain of destinations of a returned
   value (through insert_slice destinations and reshapes) is followed back to its
   root: a `tensor.empty` or a call result there gets the out-parameter, or a
   reshaped view of it, as its buffer, so that the value is computed in the
   caller's buffer; otherwise the op writing the root-most value gets it as the
   buffer to copy into, should it not write in place. The chain stops at a value
   that is used again later (another result, say). Results computed elsewhere are
   copied into their out-parameter at the return. Callers allocate out-parameters.
4. In-place analysis and rewriting, in program order. Every tensor value lives in a
   *buffer*: a view (a strided box) of a *root*: a `memref.alloc`, an argument, an
   out-parameter or a `memref.global`. An op writes its result into the buffer of
   its destination (in place) unless the root is read-only (arguments, constants)
   or the write conflicts with a read: a value living in the root, defined before
   the op, is read after it (or by another operand of it, unless at the very
   element being written) in an overlapping region. Reads are tracked closely
   enough for the cases that matter: a destination that the op's body never reads
   (`linalg.fill`, a generic ignoring its `out` argument) is no read; an
   insert_slice reads its destination everywhere but the slice, and one whose
   source was computed in the slice writes nothing new; the parts of a
   `tensor.empty` not yet written are undefined, and reading them is no read. A
   write out of place goes to a fresh `memref.alloc`, with a `memref.copy` of the
   old contents only when the op reads them. An all-parallel op whose destination
   is a fresh `tensor.empty` it does not read writes over an input of the same type
   instead, read through the same permutation, when nothing reads that input
   afterwards (buffer reuse, as in IREE): elementwise chains share one buffer.
   Views need no copy: `extract_slice` -> `memref.subview`, `expand_shape` /
   `collapse_shape` -> their memref versions (strided layouts included; the
   collapse of a non-contiguous view copies it first), `tensor.extract` ->
   `memref.load`, in a linalg body too (a gather). Tensor constants become
   deduplicated `memref.global` constants read through `memref.get_global`;
   `dense_resource` blobs are decoded into `dense` values, since xDSL's
   `memref.global` does not take `dense_resource` initial values.
5. Deallocation: each `memref.alloc` is freed right after the last op of the block
   that uses it or a view of it (liveness within the block).

Out-parameters are assumed not to alias the arguments or each other (as MLIR's
`restrict`); arguments are read-only. Allocations and globals get the alignment of
the pass option (bytes, 64 by default as in MLIR).

Not supported (the pass fails, naming the op): dynamic shapes and dynamic slice
indices; tensors inside nested regions, but for `tensor.extract` / `tensor.dim`
reading a tensor of the function's block; `tensor.pad` with a pad value computed
in its region; tensor ops not listed above.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from math import prod

from xdsl.context import Context
from xdsl.dialect_interfaces.op_asm import OpAsmDialectInterface
from xdsl.dialects import arith, func, memref, tensor
from xdsl.dialects.builtin import (
    ArrayAttr,
    BytesAttr,
    DenseArrayBase,
    DenseIntOrFPElementsAttr,
    DenseResourceAttr,
    DictionaryAttr,
    FunctionType,
    MemRefType,
    ModuleOp,
    NoneAttr,
    ShapedType,
    StridedLayoutAttr,
    StringAttr,
    TensorType,
    UnitAttr,
    i64,
)
from xdsl.dialects.linalg.abstract_ops import LinalgStructuredOperation
from xdsl.dialects.linalg.attrs import IteratorType
from xdsl.dialects.linalg.ops import BroadcastOp, FillOp, ReduceOp
from xdsl.ir import Attribute, Block, BlockArgument, Operation, SSAValue, Use
from xdsl.ir.affine import AffineDimExpr
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    GreedyRewritePatternApplier,
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
    op_type_rewrite_pattern,
)
from xdsl.rewriter import InsertPoint, Rewriter
from xdsl.utils.exceptions import PassFailedException

# --------------------------------------------------------------------------------
# 1. Decomposition into destination-passing style
# --------------------------------------------------------------------------------


class DecomposePadPattern(RewritePattern):
    """`tensor.pad` -> `tensor.empty` + `linalg.fill` + `tensor.insert_slice`.

    The pad value must be defined outside the region, or be a constant inside it
    (cloned in front of the pad). Raises PassFailedException for dynamic padding or
    a pad value computed in the region (from the indices, say).
    """

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: tensor.PadOp, rewriter: PatternRewriter, /):
        if op.low or op.high:
            raise PassFailedException("dagc-bufferize: tensor.pad with dynamic padding")
        low = op.static_low.get_values()
        if not any(low) and not any(op.static_high.get_values()):
            rewriter.replace(op, (), (op.source,))
            return
        yield_op = op.region.block.last_op
        assert isinstance(yield_op, tensor.YieldOp)
        pad_value = yield_op.arguments[0]
        new_ops: list[Operation] = []
        owner = pad_value.owner
        if (
            isinstance(owner, Block)
            and owner.parent_op() is op
            or (isinstance(owner, Operation) and op.is_ancestor(owner))
        ):
            if not isinstance(owner, arith.ConstantOp):
                raise PassFailedException(
                    "dagc-bufferize: tensor.pad with a pad value computed in its region"
                )
            owner = owner.clone()
            new_ops.append(owner)
            pad_value = owner.result
        result_type = op.result.type
        empty = tensor.EmptyOp((), result_type)
        fill = FillOp((pad_value,), (empty.tensor,), (result_type,))
        source_shape = _static_shape(op.source.type)
        insert = tensor.InsertSliceOp.from_static_parameters(
            op.source, fill.res[0], low, source_shape
        )
        rewriter.replace(op, (*new_ops, empty, fill, insert))


class DecomposeConcatPattern(RewritePattern):
    """`tensor.concat` -> `tensor.empty` + one `tensor.insert_slice` per input."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: tensor.ConcatOp, rewriter: PatternRewriter, /):
        result_type = op.result.type
        _static_shape(result_type)
        dim = op.dim.value.data
        empty = tensor.EmptyOp((), result_type)
        new_ops: list[Operation] = [empty]
        dest = empty.tensor
        offset = 0
        for value in op.inputs:
            shape = _static_shape(value.type)
            offsets = [0] * len(shape)
            offsets[dim] = offset
            insert = tensor.InsertSliceOp.from_static_parameters(
                value, dest, offsets, shape
            )
            new_ops.append(insert)
            dest = insert.result
            offset += shape[dim]
        rewriter.replace(op, new_ops, (dest,))


# --------------------------------------------------------------------------------
# Helpers on ops in destination-passing style
# --------------------------------------------------------------------------------


def _static_shape(type_: Attribute) -> tuple[int, ...]:
    """The shape of a ranked tensor or memref type; raises for dynamic shapes."""
    assert isinstance(type_, ShapedType)
    shape = tuple(type_.get_shape())
    if any(dim < 0 for dim in shape):
        raise PassFailedException(f"dagc-bufferize: dynamic shape in {type_}")
    return shape


def _dps_operands(
    op: Operation,
) -> tuple[Sequence[SSAValue], Sequence[SSAValue]] | None:
    """`(ins, outs)` of a linalg op in destination-passing style, else None.

    Result `j` of such an op is tied to `outs[j]`, and its body block takes one
    argument per input then one per output.
    """
    if isinstance(op, LinalgStructuredOperation):
        return op.inputs, op.outputs
    if isinstance(op, BroadcastOp | ReduceOp):
        return (op.input,), (op.init,)
    return None


def _reads_output(op: Operation, index: int) -> bool:
    """Whether the body of a linalg op reads the current value of output `index`."""
    ins, _ = _dps_operands(op)  # pyright: ignore[reportGeneralTypeIssues]
    block = op.regions[0].block
    return bool(block.args[len(ins) + index].uses)


def _tied_operand(value: SSAValue) -> SSAValue | None:
    """The destination operand a result is written into, if it has one."""
    op = value.owner
    if not isinstance(op, Operation):
        return None
    if (operands := _dps_operands(op)) is not None:
        return operands[1][op.results.index(value)]
    if isinstance(op, tensor.InsertSliceOp | tensor.InsertOp):
        return op.dest
    return None


def _static_slice(op: tensor.ExtractSliceOp | tensor.InsertSliceOp):
    """`(offsets, sizes, strides)` of a slice op, or None when any is dynamic."""
    if op.offsets or op.sizes or op.strides:
        return None
    return (
        op.static_offsets.get_values(),
        op.static_sizes.get_values(),
        op.static_strides.get_values(),
    )


def rank_reduced_dims(sizes: Sequence[int], shape: Sequence[int]) -> tuple[int, ...]:
    """The dimensions of a slice of `sizes` kept in a result of shape `shape`.

    A rank-reducing slice drops unit dimensions; they are matched from the left as
    in MLIR's `computeRankReductionMask`. Raises PassFailedException when `sizes`
    does not reduce to `shape`.
    """
    kept: list[int] = []
    for dim, size in enumerate(sizes):
        if len(kept) < len(shape) and size == shape[len(kept)]:
            kept.append(dim)
        elif size != 1:
            raise PassFailedException(
                f"dagc-bufferize: slice sizes {list(sizes)} do not reduce to {list(shape)}"
            )
    if len(kept) != len(shape):
        raise PassFailedException(
            f"dagc-bufferize: slice sizes {list(sizes)} do not reduce to {list(shape)}"
        )
    return tuple(kept)


# --------------------------------------------------------------------------------
# 2. Empty-tensor elimination
# --------------------------------------------------------------------------------


def _empty_anchor(value: SSAValue) -> tensor.EmptyOp | None:
    """The tensor.empty at the root of a value's chain of destination operands."""
    while (tied := _tied_operand(value)) is not None:
        value = tied
    return value.owner if isinstance(value.owner, tensor.EmptyOp) else None


def _first_user(op: Operation) -> Operation:
    """The first op of the parent block that uses a result of `op` (or holds a use)."""
    block = op.parent_block()
    assert block is not None
    users = {
        block.find_ancestor_op_in_block(use.operation)
        for result in op.results
        for use in result.uses
    }
    user = op.next_op
    while user is not None and user not in users:
        user = user.next_op
    assert user is not None
    return user


def _move_before(value: SSAValue, point: Operation) -> bool:
    """Make `value` available before `point` by moving its pure producers up.

    Returns False when a producer cannot move: only `tensor.empty`,
    `arith.constant`, `linalg.fill` and static `tensor.extract_slice` do.
    """
    op = value.owner
    if isinstance(op, Block) or op.is_before_in_block(point):
        return True
    if not isinstance(
        op, tensor.EmptyOp | arith.ConstantOp | FillOp | tensor.ExtractSliceOp
    ):
        return False
    if isinstance(op, tensor.ExtractSliceOp) and _static_slice(op) is None:
        return False
    if not all(_move_before(operand, point) for operand in op.operands):
        return False
    op.detach()
    point.parent_block().insert_op_before(op, point)  # pyright: ignore
    return True


def eliminate_empty_tensors(block: Block) -> None:
    """Let the producers of inserted slices compute into the destination directly.

    For each `tensor.insert_slice %src into %dest[o][s][t]` (static) whose `%src`
    chain of destination operands starts at a `tensor.empty` used once, that empty
    is replaced by `tensor.extract_slice %d[o][s][t]`, where `%d` is `%dest` or the
    first value up `%dest`'s own destination chain that is (or can be moved to be)
    defined before the chain starts. Insert ops are visited last to first so that
    nested inserts (a concat inside a concat) compose. This is MLIR's empty tensor
    elimination; the in-place analysis later decides whether the buffers coincide.
    """
    inserts = [op for op in block.ops if isinstance(op, tensor.InsertSliceOp)]
    for insert in reversed(inserts):
        if (params := _static_slice(insert)) is None:
            continue
        empty = _empty_anchor(insert.source)
        if empty is None or not empty.tensor.has_one_use():
            continue
        start = _first_user(empty)
        dest: SSAValue | None = insert.dest
        while dest is not None and not _move_before(dest, start):
            dest = _tied_operand(dest)
        if dest is None:
            continue
        offsets, sizes, strides = params
        slice_op = tensor.ExtractSliceOp(
            dest, offsets, sizes, strides, empty.tensor.type
        )
        block.insert_op_before(slice_op, start)
        empty.tensor.replace_all_uses_with(slice_op.result)
        Rewriter.erase_op(empty)


# --------------------------------------------------------------------------------
# 4. Memory model of the in-place analysis
# --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Box:
    """A strided box of a root buffer, in the root's index space.

    `offsets`, `sizes` and `strides` have one entry per root dimension; `dims` lists
    the root dimension of each dimension of the view (rank-reduced views drop some).
    """

    offsets: tuple[int, ...]
    sizes: tuple[int, ...]
    strides: tuple[int, ...]
    dims: tuple[int, ...]

    @staticmethod
    def whole(shape: Sequence[int]) -> _Box:
        rank = len(shape)
        return _Box((0,) * rank, tuple(shape), (1,) * rank, tuple(range(rank)))

    def slice(
        self,
        offsets: Sequence[int],
        sizes: Sequence[int],
        strides: Sequence[int],
        kept: Sequence[int],
    ) -> _Box:
        """The box of a (rank-reducing) slice of this view; `kept` view dims stay."""
        new_offsets, new_sizes = list(self.offsets), list(self.sizes)
        new_strides = list(self.strides)
        for view_dim, dim in enumerate(self.dims):
            new_offsets[dim] += offsets[view_dim] * self.strides[dim]
            new_sizes[dim] = sizes[view_dim]
            new_strides[dim] *= strides[view_dim]
        return _Box(
            tuple(new_offsets),
            tuple(new_sizes),
            tuple(new_strides),
            tuple(self.dims[view_dim] for view_dim in kept),
        )

    def _ranges(self):
        return zip(self.offsets, self.sizes, self.strides)

    def overlaps(self, other: _Box) -> bool:
        """Whether the bounding boxes intersect (conservative for strides > 1)."""
        for (o1, s1, t1), (o2, s2, t2) in zip(self._ranges(), other._ranges()):
            if not s1 or not s2 or o1 + (s1 - 1) * t1 < o2 or o2 + (s2 - 1) * t2 < o1:
                return False
        return True

    def contains(self, other: _Box) -> bool:
        """Whether every element of `other` is an element of this box."""
        if not all(other.sizes):
            return True
        for (o1, s1, t1), (o2, s2, t2) in zip(self._ranges(), other._ranges()):
            if o2 < o1 or o2 + (s2 - 1) * t2 > o1 + (s1 - 1) * t1:
                return False
            if (o2 - o1) % t1 or (s2 > 1 and t2 % t1):
                return False
        return True


def _overlap(a: _Box | None, b: _Box | None) -> bool:
    """Overlap of two regions, where None is an unknown region (overlaps all)."""
    return a is None or b is None or a.overlaps(b)


@dataclass(eq=False)
class _Root:
    """One piece of memory: an allocation, an argument, an out-parameter, a global."""

    shape: tuple[int, ...]
    writable: bool
    aliases: list[SSAValue] = field(default_factory=list[SSAValue])
    """The tensor values that live in this root, in program order."""


@dataclass
class _Buffer:
    """Where a tensor value lives: a memref value viewing part of a root."""

    memref: SSAValue
    root: _Root
    region: _Box | None
    """The elements of the root the view covers (None: not known)."""
    composable: bool
    """Whether `region.dims` describes the view's own index space (no reshape)."""
    defined: tuple[_Box, ...] | None = None
    """The elements written so far (None: the whole view). Only a tensor.empty and
    inserts into it are partially defined; reading undefined elements is no read."""

    @property
    def whole(self) -> bool:
        """Whether the view covers every element of its root."""
        return self.region == _Box.whole(self.root.shape)


@dataclass(frozen=True)
class _Read:
    """The part of a root that one use of a tensor value reads."""

    within: _Box | None
    defined: tuple[_Box, ...] | None
    excluded: _Box | None = None

    def overlaps(self, write: _Box | None) -> bool:
        """Whether writing `write` (None: anywhere) changes what this use reads."""
        if self.defined is not None and not any(
            _overlap(b, write) for b in self.defined
        ):
            return False
        if not _overlap(self.within, write):
            return False
        return not (
            self.excluded is not None
            and write is not None
            and self.excluded.contains(write)
        )


# --------------------------------------------------------------------------------
# Memref types of views
# --------------------------------------------------------------------------------


def _memref_type(type_: Attribute) -> MemRefType:
    """The identity-layout memref type of a static tensor type."""
    assert isinstance(type_, TensorType)
    return MemRefType(type_.get_element_type(), _static_shape(type_))


def _layout(source: MemRefType, shape, strides, offset) -> MemRefType:
    """A memref type of the given shape; identity layout when the source has one."""
    if isinstance(source.layout, NoneAttr):
        return MemRefType(source.get_element_type(), shape)
    return MemRefType(
        source.get_element_type(), shape, StridedLayoutAttr(strides, offset)
    )


def _collapsed_type(
    source: MemRefType, groups: Sequence[Sequence[int]]
) -> MemRefType | None:
    """The type of `memref.collapse_shape`, or None if a group is not contiguous."""
    shape, strides = source.get_shape(), source.get_strides()
    assert strides is not None
    new_shape: list[int] = []
    new_strides: list[int | None] = []
    for group in groups:
        dims = [d for d in group if shape[d] != 1] or list(group[-1:])
        for outer, inner in pairwise(dims):
            if strides[outer] != strides[inner] * shape[inner]:  # pyright: ignore
                return None
        new_shape.append(prod(shape[d] for d in group))
        new_strides.append(strides[dims[-1]] if dims else 1)
    return _layout(source, new_shape, new_strides, source.get_offset())


def _expanded_type(
    source: MemRefType, groups: Sequence[Sequence[int]], shape: Sequence[int]
) -> MemRefType:
    """The type of `memref.expand_shape` into `shape`."""
    strides = source.get_strides()
    assert strides is not None
    new_strides: list[int] = [0] * len(shape)
    for stride, group in zip(strides, groups):
        for d in reversed(group):
            new_strides[d] = stride  # pyright: ignore
            stride = stride * shape[d]  # pyright: ignore
    return _layout(source, shape, new_strides, source.get_offset())


def _groups(reassociation: ArrayAttr) -> list[list[int]]:
    return [[d.value.data for d in group] for group in reassociation]  # pyright: ignore


# --------------------------------------------------------------------------------
# Constants
# --------------------------------------------------------------------------------


def _decode_resource(ctx: Context, attr: DenseResourceAttr) -> DenseIntOrFPElementsAttr:
    """The `dense` value of a `dense_resource` blob of the builtin dialect.

    MLIR blobs are hex strings: a 4-byte little-endian alignment, then the raw
    little-endian elements. Raises PassFailedException for a missing or mis-sized
    blob.
    """
    interface = ctx.get_dialect("builtin").get_interface(OpAsmDialectInterface)
    handle = attr.resource_handle.data
    blob = interface.lookup(handle) if interface is not None else None
    if not blob:
        raise PassFailedException(
            f"dagc-bufferize: no data for dense_resource<{handle}>"
        )
    data = bytes.fromhex(blob[2:])[4:]
    type_ = attr.type
    element_type = type_.get_element_type()
    size = prod(_static_shape(type_)) * element_type.compile_time_size  # pyright: ignore
    if len(data) != size:
        raise PassFailedException(
            f"dagc-bufferize: dense_resource<{handle}> holds {len(data)} bytes, "
            f"{type_} needs {size}"
        )
    return DenseIntOrFPElementsAttr(type_, BytesAttr(data))  # pyright: ignore


@dataclass
class _Globals:
    """The `memref.global` constants of a module, one per distinct value."""

    ctx: Context
    module: ModuleOp
    alignment: int
    by_value: dict[Attribute, memref.GlobalOp] = field(
        default_factory=dict[Attribute, memref.GlobalOp]
    )
    names: set[str] = field(default_factory=set[str])
    last: memref.GlobalOp | None = None

    def get(self, value: Attribute) -> memref.GlobalOp:
        if (existing := self.by_value.get(value)) is not None:
            return existing
        if isinstance(value, DenseResourceAttr):
            base = "__constant_" + re.sub(r"\W", "_", value.resource_handle.data)
            initial = _decode_resource(self.ctx, value)
        else:
            assert isinstance(value, DenseIntOrFPElementsAttr)
            shape = "x".join(str(d) for d in value.get_shape())
            base = f"__constant_{shape}x{value.get_element_type()}"
            initial = value
        name, count = base, 0
        while name in self.names:
            name, count = f"{base}_{count}", count + 1
        self.names.add(name)
        global_op = memref.GlobalOp.get(
            StringAttr(name),
            _memref_type(initial.type),
            initial,
            constant=UnitAttr(),
            alignment=self.alignment,
        )
        block = self.module.body.block
        if self.last is None:
            block.insert_op_before(global_op, block.first_op)  # pyright: ignore
        else:
            block.insert_op_after(global_op, self.last)
        self.last = self.by_value[value] = global_op
        return global_op


# --------------------------------------------------------------------------------
# 3 + 4 + 5. Bufferization of one function
# --------------------------------------------------------------------------------


def _tensor_results(function_type: FunctionType) -> list[int]:
    return [i for i, t in enumerate(function_type.outputs) if isinstance(t, TensorType)]


def _bufferized_type(function_type: FunctionType) -> FunctionType:
    """Tensor arguments become memrefs, tensor results become trailing out-params."""
    inputs = [
        _memref_type(t) if isinstance(t, TensorType) else t
        for t in function_type.inputs
    ]
    outs = [_memref_type(t) for t in function_type.outputs if isinstance(t, TensorType)]
    results = [t for t in function_type.outputs if not isinstance(t, TensorType)]
    return FunctionType.from_lists([*inputs, *outs], results)


def _has_tensors(function_type: FunctionType) -> bool:
    return any(
        isinstance(t, TensorType)
        for t in (*function_type.inputs, *function_type.outputs)
    )


@dataclass
class _FunctionBufferizer:
    """Bufferizes the body of one `func.func` (see the module docstring)."""

    func_op: func.FuncOp
    signatures: dict[str, FunctionType]
    globals: _Globals
    alignment: int
    buffers: dict[SSAValue, _Buffer] = field(default_factory=dict[SSAValue, _Buffer])
    position: dict[Operation, int] = field(default_factory=dict[Operation, int])
    out_params: list[BlockArgument] = field(default_factory=list[BlockArgument])
    anchors: dict[SSAValue, tuple[int, list[Operation]]] = field(
        default_factory=dict[SSAValue, tuple[int, list[Operation]]]
    )
    """Values computed straight into an out-param: index, reshapes to undo."""
    out_roots: dict[BlockArgument, _Root] = field(
        default_factory=dict[BlockArgument, _Root]
    )
    old_args: list[BlockArgument] = field(default_factory=list[BlockArgument])
    allocs: list[memref.AllocOp] = field(default_factory=list[memref.AllocOp])
    done: list[Operation] = field(default_factory=list[Operation])

    @property
    def block(self) -> Block:
        return self.func_op.body.block

    def run(self) -> None:
        self._check_supported()
        eliminate_empty_tensors(self.block)
        self.position = {op: i for i, op in enumerate(self.block.ops)}
        self._convert_arguments()
        self._anchor_results()
        for op in list(self.block.ops):
            self._bufferize(op)
        for op in reversed(self.done):
            Rewriter.erase_op(op)
        for arg in self.old_args:
            self.block.erase_arg(arg)
        self._insert_deallocs()

    # -- setup ----------------------------------------------------------------

    def _check_supported(self) -> None:
        """Tensors live in the function's block; regions may only read them with
        `tensor.extract` and `tensor.dim` (a gather in a linalg body, say)."""
        if len(self.func_op.body.blocks) != 1:
            raise PassFailedException(
                f"dagc-bufferize: @{self.func_op.sym_name.data} has more than one block"
            )
        for op in self.func_op.body.walk():
            if op.parent_block() is self.block:
                continue
            if isinstance(op, tensor.ExtractOp | tensor.DimOp) and self._top(
                op.operands[0]
            ):
                continue
            if any(isinstance(v.type, TensorType) for v in (*op.operands, *op.results)):
                raise PassFailedException(
                    f"dagc-bufferize: tensors inside the region of "
                    f"{op.parent_op().name} are not supported"  # pyright: ignore
                )

    def _top(self, value: SSAValue) -> Operation | Block | None:
        """The op of the function's block defining `value` (the block for an
        argument), None when `value` is defined in a nested region."""
        owner = value.owner
        if isinstance(owner, Block):
            return owner if owner is self.block else None
        return owner if owner.parent_block() is self.block else None

    def _at(self, use: Use) -> int:
        """The position of the op of the function's block holding `use`."""
        top = self.block.find_ancestor_op_in_block(use.operation)
        assert top is not None
        return self.position[top]

    def _convert_arguments(self) -> None:
        """Memref arguments for tensor arguments, then one out-param per result."""
        old_type = self.func_op.function_type
        for arg in list(self.block.args):
            if isinstance(arg.type, TensorType):
                new_arg = self.block.insert_arg(_memref_type(arg.type), arg.index)
                new_arg.name_hint = arg.name_hint
                self.old_args.append(arg)
                root = _Root(_static_shape(arg.type), writable=False)
                self._set(arg, _Buffer(new_arg, root, _Box.whole(root.shape), True))
        for index in _tensor_results(old_type):
            out = self.block.insert_arg(
                _memref_type(old_type.outputs.data[index]), len(self.block.args)
            )
            out.name_hint = "out"
            self.out_params.append(out)
        self.func_op.function_type = _bufferized_type(old_type)
        if (arg_attrs := self.func_op.arg_attrs) is not None:
            self.func_op.arg_attrs = ArrayAttr(
                [*arg_attrs, *(DictionaryAttr({}) for _ in self.out_params)]
            )
        if (res_attrs := self.func_op.res_attrs) is not None:
            kept = [
                attrs
                for attrs, t in zip(res_attrs, old_type.outputs)
                if not isinstance(t, TensorType)
            ]
            self.func_op.res_attrs = ArrayAttr(kept) if kept else None

    def _anchor_results(self) -> None:
        """Give each out-param to the root of its result's destination chain.

        The chain goes from the returned value through destination operands and
        reshapes. A tensor.empty or call result at its root gets the out-param (or a
        reshaped view) as its buffer. Otherwise the op writing the root-most value
        of the chain gets it as the buffer to copy into, should it not write in
        place. The chain stops early at a destination that is used again after the
        op writing it (another result, say): that op will not write in place, and
        its copy goes to the out-param.
        """
        ret = self.block.last_op
        assert isinstance(ret, func.ReturnOp)
        tensors = [v for v in ret.arguments if isinstance(v.type, TensorType)]
        for index, value in enumerate(tensors):
            reshapes: list[Operation] = []
            writer: tuple[SSAValue, list[Operation]] | None = None
            while True:
                if (tied := _tied_operand(value)) is not None:
                    writer = (value, list(reshapes))
                    here = self.position[value.owner]  # pyright: ignore
                    value = tied
                    if any(self._at(use) > here for use in tied.uses):
                        break
                elif isinstance(
                    owner := value.owner, tensor.ExpandShapeOp | tensor.CollapseShapeOp
                ):
                    reshapes.append(owner)
                    value = owner.src
                else:
                    break
            if isinstance(value.owner, tensor.EmptyOp | func.CallOp):
                anchor = (value, reshapes)
            elif writer is not None:
                anchor = writer
            else:
                continue
            if anchor[0] not in self.anchors:
                self.anchors[anchor[0]] = (index, anchor[1])

    def _out_view(self, value: SSAValue, before: Operation) -> _Buffer:
        """The out-param anchored at `value`, reshaped to the type of `value`."""
        index, reshapes = self.anchors.pop(value)
        out = self.out_params[index]
        root = _Root(_static_shape(out.type), writable=True)
        self.out_roots[out] = root
        buffer = _Buffer(out, root, _Box.whole(root.shape), True, ())
        for reshape in reshapes:
            inverse = (
                tensor.CollapseShapeOp
                if isinstance(reshape, tensor.ExpandShapeOp)
                else tensor.ExpandShapeOp
            )
            buffer = self._reshape(
                buffer, inverse, reshape.reassociation, reshape.operands[0].type, before
            )
        return buffer

    # -- buffers ----------------------------------------------------------------

    def _set(self, value: SSAValue, buffer: _Buffer) -> _Buffer:
        self.buffers[value] = buffer
        buffer.root.aliases.append(value)
        return buffer

    def _insert(self, op: Operation, before: Operation) -> Operation:
        Rewriter.insert_op(op, InsertPoint.before(before))
        return op

    def _alloc(self, type_: Attribute, before: Operation, name: str | None) -> _Buffer:
        """A fresh writable root (undefined contents) shaped as a tensor or memref."""
        alloc = memref.AllocOp.get(
            type_.get_element_type(),  # pyright: ignore
            self.alignment,
            _static_shape(type_),
        )
        alloc.memref.name_hint = name
        self._insert(alloc, before)
        self.allocs.append(alloc)
        root = _Root(_static_shape(type_), writable=True)
        return _Buffer(alloc.memref, root, _Box.whole(root.shape), True, ())

    def _subview(
        self,
        buffer: _Buffer,
        params: tuple[Sequence[int], Sequence[int], Sequence[int]],
        shape: Sequence[int],
        before: Operation,
    ) -> _Buffer:
        """A `memref.subview` of a buffer (rank-reducing to `shape`)."""
        offsets, sizes, strides = params
        kept = rank_reduced_dims(sizes, shape)
        source = buffer.memref.type
        assert isinstance(source, MemRefType)
        source_strides = source.get_strides()
        source_offset = source.get_offset()
        assert source_strides is not None and source_offset is not None
        offset = source_offset + sum(o * s for o, s in zip(offsets, source_strides))  # pyright: ignore
        result_type = MemRefType(
            source.get_element_type(),
            shape,
            StridedLayoutAttr(
                [source_strides[d] * strides[d] for d in kept],  # pyright: ignore
                offset,
            ),
        )
        op = self._insert(
            memref.SubviewOp.get(buffer.memref, offsets, sizes, strides, result_type),
            before,
        )
        if buffer.composable and buffer.region is not None:
            region, composable = (
                buffer.region.slice(offsets, sizes, strides, kept),
                True,
            )
        else:
            region, composable = buffer.region, False
        return _Buffer(op.results[0], buffer.root, region, composable, buffer.defined)

    # -- in-place analysis ----------------------------------------------------

    def _read(self, value: SSAValue, use: Use) -> _Read | None:
        """What `use` reads of `value`'s root; None when it reads nothing."""
        buffer = self.buffers[value]
        user = use.operation
        within, excluded = buffer.region, None
        if (operands := _dps_operands(user)) is not None:
            ins, _ = operands
            if use.index >= len(ins) and not _reads_output(user, use.index - len(ins)):
                return None
        elif isinstance(user, tensor.InsertSliceOp) and use.index == 1:
            params = _static_slice(user)
            if params is not None and buffer.composable and buffer.region is not None:
                kept = rank_reduced_dims(params[1], _static_shape(user.source.type))
                excluded = buffer.region.slice(*params, kept)
        elif isinstance(user, tensor.ExtractSliceOp):
            params = _static_slice(user)
            if params is not None and buffer.composable and buffer.region is not None:
                kept = rank_reduced_dims(params[1], _static_shape(user.result.type))
                within = buffer.region.slice(*params, kept)
        return _Read(within, buffer.defined, excluded)

    def _can_write(
        self, op: Operation, tied: int, write: _Box | None, same_access: Collection[int]
    ) -> bool:
        """Whether `op` may write region `write` of its operand `tied`'s buffer.

        It may not when the root is read-only, or when a value living in the root is
        read after `op` (or by another operand of `op`, except the operands in
        `same_access`, read at the element being written) in an overlapping region.
        """
        root = self.buffers[op.operands[tied]].root
        if not root.writable:
            return False
        here = self.position[op]
        for value in root.aliases:
            for use in value.uses:
                if self._at(use) < here:
                    continue
                if use.operation is op and (
                    use.index == tied or use.index in same_access
                ):
                    continue
                read = self._read(value, use)
                if read is not None and read.overlaps(write):
                    return False
        return True

    def _same_access(self, op: Operation, out_index: int) -> set[int]:
        """Input operands of an all-parallel linalg op read where output is written."""
        if not isinstance(op, LinalgStructuredOperation) or not all(
            t.data == IteratorType.PARALLEL for t in op.get_iterator_types()
        ):
            return set()
        maps = op.get_indexing_maps().data
        out = len(op.inputs) + out_index
        target = self.buffers[op.operands[out]].memref
        return {
            index
            for index, value in enumerate(op.inputs)
            if value in self.buffers
            and self.buffers[value].memref is target
            and maps[index] == maps[out]
        }

    def _destination(
        self,
        op: Operation,
        tied: int,
        result: SSAValue,
        write: _Box | None,
        reads: bool,
        same_access: Collection[int] = (),
    ) -> _Buffer:
        """The buffer `op` writes into: its destination's, or a fresh copy."""
        value = op.operands[tied]
        buffer = self.buffers[value]
        if self._can_write(op, tied, write, same_access):
            return buffer
        if result in self.anchors:
            fresh = self._out_view(result, op)
        else:
            fresh = self._alloc(value.type, op, value.name_hint)
        if reads and buffer.defined != ():
            self._insert(memref.CopyOp(buffer.memref, fresh.memref), op)
            fresh.defined = None
        return fresh

    # -- rewriting ------------------------------------------------------------

    def _bufferize(self, op: Operation) -> None:
        if _dps_operands(op) is not None:
            self._bufferize_linalg(op)
        elif isinstance(op, tensor.EmptyOp):
            self._bufferize_empty(op)
        elif isinstance(op, arith.ConstantOp) and isinstance(
            op.result.type, TensorType
        ):
            global_op = self.globals.get(op.value)
            get = self._insert(
                memref.GetGlobalOp(global_op.sym_name.data, global_op.type), op
            )
            root = _Root(_static_shape(op.result.type), writable=False)
            self._set(
                op.result, _Buffer(get.results[0], root, _Box.whole(root.shape), True)
            )
        elif isinstance(op, tensor.ExtractSliceOp):
            params = self._params(op)
            buffer = self._subview(
                self.buffers[op.source], params, _static_shape(op.result.type), op
            )
            self._set(op.result, buffer)
        elif isinstance(op, tensor.InsertSliceOp):
            self._bufferize_insert_slice(op)
        elif isinstance(op, tensor.ExpandShapeOp | tensor.CollapseShapeOp):
            self._bufferize_reshape(op)
        elif isinstance(op, tensor.CastOp):
            _static_shape(op.dest.type)
            self._set(op.dest, self.buffers[op.source])
        elif isinstance(op, tensor.ExtractOp):
            load = memref.LoadOp.get(self.buffers[op.tensor].memref, op.indices)
            self._insert(load, op)
            op.result.replace_all_uses_with(load.res)
        elif isinstance(op, tensor.InsertOp):
            buffer = self._destination(op, 1, op.result, None, reads=True)
            self._insert(memref.StoreOp.get(op.scalar, buffer.memref, op.indices), op)
            self._set(
                op.result,
                _Buffer(buffer.memref, buffer.root, buffer.region, buffer.composable),
            )
        elif isinstance(op, tensor.DimOp):
            dim = memref.DimOp(self.buffers[op.source].memref, op.index)
            self._insert(dim, op)
            op.result.replace_all_uses_with(dim.result)
        elif isinstance(op, func.CallOp):
            self._bufferize_call(op)
        elif isinstance(op, func.ReturnOp):
            self._bufferize_return(op)
            return
        elif any(isinstance(v.type, TensorType) for v in (*op.operands, *op.results)):
            raise PassFailedException(f"dagc-bufferize: cannot bufferize {op.name}")
        else:
            self._bufferize_nested_reads(op)
            return
        self.done.append(op)

    def _bufferize_nested_reads(self, op: Operation) -> None:
        """`tensor.extract` / `tensor.dim` in the regions of `op` read its buffers."""
        for region in op.regions:
            for inner in list(region.walk()):
                if isinstance(inner, tensor.ExtractOp):
                    new = memref.LoadOp.get(
                        self.buffers[inner.tensor].memref, inner.indices
                    )
                elif isinstance(inner, tensor.DimOp):
                    new = memref.DimOp(self.buffers[inner.source].memref, inner.index)
                else:
                    continue
                Rewriter.replace_op(inner, new)

    def _params(self, op: tensor.ExtractSliceOp | tensor.InsertSliceOp):
        if (params := _static_slice(op)) is None:
            raise PassFailedException(f"dagc-bufferize: {op.name} with dynamic indices")
        return params

    def _bufferize_empty(self, op: tensor.EmptyOp) -> None:
        if not op.tensor.uses:
            return
        first = _first_user(op)
        if op.tensor in self.anchors:
            buffer = self._out_view(op.tensor, first)
        else:
            buffer = self._alloc(op.tensor.type, first, op.tensor.name_hint)
        self._set(op.tensor, buffer)

    def _bufferize_linalg(self, op: Operation) -> None:
        ins, outs = _dps_operands(op)  # pyright: ignore[reportGeneralTypeIssues]
        destinations: list[_Buffer] = []
        for index, value in enumerate(outs):
            reads = _reads_output(op, index)
            if not reads and (reused := self._reusable_input(op, index)) is not None:
                destinations.append(self.buffers[reused])
                continue
            destinations.append(
                self._destination(
                    op,
                    len(ins) + index,
                    op.results[index],
                    self.buffers[value].region,
                    reads,
                    self._same_access(op, index),
                )
            )
        self._bufferize_nested_reads(op)
        operands = [
            self.buffers[v].memref if isinstance(v.type, TensorType) else v for v in ins
        ] + [d.memref for d in destinations]
        new_op = type(op).create(
            operands=operands,
            result_types=[],
            properties=dict(op.properties),
            attributes=dict(op.attributes),
            regions=[
                Rewriter.move_region_contents_to_new_regions(r) for r in op.regions
            ],
        )
        self._insert(new_op, op)
        for result, buffer in zip(op.results, destinations):
            self._set(
                result,
                _Buffer(buffer.memref, buffer.root, buffer.region, buffer.composable),
            )

    def _reusable_input(self, op: Operation, index: int) -> SSAValue | None:
        """An input whose buffer may hold output `index` instead of a fresh alloc.

        The output must be a plain `tensor.empty` (its own allocation: not an
        out-param nor a slice of a larger buffer) that the op does not read; the op
        all-parallel with one output; the input of the same type, read through the
        same permutation map, so that each element is read before it is written;
        and nothing may read the input afterwards. Elementwise chains then run in
        one buffer rather than one buffer per op.
        """
        if not isinstance(op, LinalgStructuredOperation) or len(op.outputs) != 1:
            return None
        out = op.outputs[0]
        buffer = self.buffers[out]
        if (
            not isinstance(out.owner, tensor.EmptyOp)
            or buffer.root.aliases != [out]
            or buffer.root in self.out_roots.values()
            or op.results[0] in self.anchors
        ):
            return None
        maps = op.get_indexing_maps().data
        out_map = maps[len(op.inputs)].data
        if not all(t.data == IteratorType.PARALLEL for t in op.get_iterator_types()):
            return None
        if (
            sorted(r.position for r in out_map.results if isinstance(r, AffineDimExpr))
            != list(range(out_map.num_dims))
            or len(out_map.results) != out_map.num_dims
        ):
            return None
        for position, value in enumerate(op.inputs):
            if value.type != out.type or maps[position].data != out_map:
                continue
            candidate = self.buffers[value]
            same = {
                other
                for other, input_ in enumerate(op.inputs)
                if input_ in self.buffers
                and self.buffers[input_].memref is candidate.memref
                and maps[other].data == out_map
            }
            if self._can_write(op, position, candidate.region, same):
                return value
        return None

    def _bufferize_insert_slice(self, op: tensor.InsertSliceOp) -> None:
        params = self._params(op)
        shape = _static_shape(op.source.type)
        dest = self.buffers[op.dest]
        source = self.buffers[op.source]
        write = None
        if dest.composable and dest.region is not None:
            write = dest.region.slice(*params, rank_reduced_dims(params[1], shape))
        equivalent = (
            source.root is dest.root
            and source.composable
            and write is not None
            and source.region == write
        )
        if equivalent:
            # The source was computed in the slice: the insert writes nothing new.
            target = dest
        else:
            target = self._destination(op, 1, op.result, write, reads=True)
        if not equivalent:
            view = self._subview(target, params, shape, op)
            self._insert(memref.CopyOp(source.memref, view.memref), op)
            write = view.region
        if target.defined is None or write is None:
            defined = None
        else:
            defined = (*target.defined, write)
        self._set(
            op.result,
            _Buffer(
                target.memref, target.root, target.region, target.composable, defined
            ),
        )

    def _reshape(
        self,
        buffer: _Buffer,
        kind: type[tensor.ExpandShapeOp | tensor.CollapseShapeOp],
        reassociation: ArrayAttr,
        result_type: Attribute,
        before: Operation,
    ) -> _Buffer:
        """The memref version of a tensor reshape of `buffer` (copying if needed)."""
        groups = _groups(reassociation)
        shape = _static_shape(result_type)
        source = buffer.memref.type
        assert isinstance(source, MemRefType)
        if kind is tensor.CollapseShapeOp:
            new_type = _collapsed_type(source, groups)
            if new_type is None:
                fresh = self._alloc(source, before, None)
                self._insert(memref.CopyOp(buffer.memref, fresh.memref), before)
                fresh.defined = None if buffer.defined != () else ()
                buffer = fresh
                new_type = _collapsed_type(fresh.memref.type, groups)  # pyright: ignore
            op = memref.CollapseShapeOp.build(
                operands=[buffer.memref],
                result_types=[new_type],
                properties={"reassociation": reassociation},
            )
        else:
            op = memref.ExpandShapeOp.build(
                operands=[buffer.memref, []],
                result_types=[_expanded_type(source, groups, shape)],
                properties={
                    "reassociation": reassociation,
                    "static_output_shape": DenseArrayBase.from_list(i64, shape),
                },
            )
        self._insert(op, before)
        return _Buffer(op.results[0], buffer.root, buffer.region, False, buffer.defined)

    def _bufferize_reshape(self, op: tensor.ExpandShapeOp | tensor.CollapseShapeOp):
        if isinstance(op, tensor.ExpandShapeOp) and op.dynamic_output_shape:
            raise PassFailedException("dagc-bufferize: expand_shape with dynamic sizes")
        buffer = self._reshape(
            self.buffers[op.src], type(op), op.reassociation, op.result.type, op
        )
        self._set(op.result, buffer)

    def _bufferize_call(self, op: func.CallOp) -> None:
        """Pass argument buffers (identity layout) and fresh out-params to the callee."""
        callee = op.callee.root_reference.data
        if (old_type := self.signatures.get(callee)) is None:
            if any(isinstance(v.type, TensorType) for v in (*op.operands, *op.results)):
                raise PassFailedException(
                    f"dagc-bufferize: call to @{callee} with tensors, defined elsewhere"
                )
            return
        new_type = _bufferized_type(old_type)
        arguments: list[SSAValue] = []
        for value, expected in zip(op.arguments, new_type.inputs):
            if isinstance(value.type, TensorType):
                buffer = self.buffers[value]
                if buffer.memref.type != expected:
                    fresh = self._alloc(value.type, op, value.name_hint)
                    self._insert(memref.CopyOp(buffer.memref, fresh.memref), op)
                    buffer = fresh
                value = buffer.memref
            arguments.append(value)
        outs: list[_Buffer] = []
        for result in op.results:
            if isinstance(result.type, TensorType):
                if result in self.anchors:
                    buffer = self._out_view(result, op)
                else:
                    buffer = self._alloc(result.type, op, result.name_hint)
                outs.append(buffer)
        call = func.CallOp(
            op.callee, [*arguments, *(o.memref for o in outs)], new_type.outputs.data
        )
        self._insert(call, op)
        scalars = iter(call.results)
        buffers = iter(outs)
        for result in op.results:
            if isinstance(result.type, TensorType):
                buffer = next(buffers)
                buffer.defined = None
                self._set(result, buffer)
            else:
                result.replace_all_uses_with(next(scalars))

    def _bufferize_return(self, op: func.ReturnOp) -> None:
        """Copy the results not computed in place into their out-params.

        A copy into an out-param waits for the copies that read from it; a cycle
        (or a copy within one out-param) is broken by staging through an alloc.
        """
        pending: list[tuple[_Buffer, BlockArgument]] = []
        scalars: list[SSAValue] = []
        outs = iter(self.out_params)
        for value in op.arguments:
            if not isinstance(value.type, TensorType):
                scalars.append(value)
                continue
            out = next(outs)
            buffer = self.buffers[value]
            exact = buffer.root is self.out_roots.get(out) and buffer.whole
            if not (exact and buffer.memref.type == out.type):
                pending.append((buffer, out))
        while pending:
            for buffer, out in pending:
                root = self.out_roots.get(out)
                if all(source.root is not root for source, _ in pending):
                    self._insert(memref.CopyOp(buffer.memref, out), op)
                    pending.remove((buffer, out))
                    break
            else:
                buffer, out = pending[0]
                staged = self._alloc(out.type, op, None)
                self._insert(memref.CopyOp(buffer.memref, staged.memref), op)
                pending[0] = (staged, out)
        self._insert(func.ReturnOp(*scalars), op)
        self.done.append(op)

    # -- deallocation ---------------------------------------------------------

    def _insert_deallocs(self) -> None:
        """Deallocate each alloc after the last op of the block using it or a view."""
        order = {op: i for i, op in enumerate(self.block.ops)}
        for alloc in self.allocs:
            last: Operation | None = None
            pending = [alloc.memref]
            while pending:
                value = pending.pop()
                for use in value.uses:
                    user = use.operation
                    if isinstance(
                        user,
                        memref.SubviewOp
                        | memref.ExpandShapeOp
                        | memref.CollapseShapeOp,
                    ):
                        pending.append(user.results[0])
                    top = self.block.find_ancestor_op_in_block(user)
                    assert top is not None
                    if last is None or order[top] > order[last]:
                        last = top
            if last is None:
                Rewriter.erase_op(alloc)
                continue
            self.block.insert_op_after(memref.DeallocOp.get(alloc.memref), last)


def _erase_dead_views(module: ModuleOp) -> None:
    """Erase view ops whose results are unused (left over by the rewriting)."""
    views = (
        memref.SubviewOp,
        memref.ExpandShapeOp,
        memref.CollapseShapeOp,
        memref.GetGlobalOp,
    )
    for op in reversed(list(module.walk())):
        if isinstance(op, views) and not op.results[0].uses:
            Rewriter.erase_op(op)


@dataclass(frozen=True)
class BufferizePass(ModulePass):
    """Bufferize dagc's linalg-on-tensors functions into linalg on memrefs.

    Every `func.func` with tensor arguments or results is rewritten: tensor
    arguments become memrefs (identity layout, read-only), tensor results become
    trailing out-parameters, and the body computes on memrefs in place wherever the
    in-place analysis allows. See the module docstring for the algorithm (a
    simplified One-Shot Bufferize, after MLIR). Raises PassFailedException for IR
    outside the supported subset.
    """

    name = "dagc-bufferize"

    alignment: int = 64
    """Alignment in bytes of every `memref.alloc` and `memref.global`."""

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        PatternRewriteWalker(
            GreedyRewritePatternApplier(
                [DecomposePadPattern(), DecomposeConcatPattern()]
            ),
            apply_recursively=False,
        ).rewrite_module(op)
        functions = [f for f in op.walk() if isinstance(f, func.FuncOp)]
        signatures = {
            f.sym_name.data: f.function_type
            for f in functions
            if _has_tensors(f.function_type)
        }
        constants = _Globals(ctx, op, self.alignment)
        for function in functions:
            if function.sym_name.data not in signatures:
                continue
            if function.is_declaration:
                function.function_type = _bufferized_type(function.function_type)
                continue
            _FunctionBufferizer(function, signatures, constants, self.alignment).run()
        _erase_dead_views(op)
