"""Lowering of the dag dialect to linalg on tensors (pass ``convert-dag-to-linalg``).

Every dag op in the module (``func.func`` bodies, nested regions included) is
rewritten into ``linalg`` ops on tensors plus ``tensor``, ``arith`` and ``math``, in
destination-passing style, so that the result bufferizes (``dagc-bufferize``) and
lowers to loops. Each lowering implements the op's PyTorch semantics exactly (same
formulas, same NaN propagation, same bin and window boundaries); only the order of
floating-point sums may differ from PyTorch's kernels.

Forms used (upstream MLIR 22 spellings, as xDSL 0.74 prints them):

- named ops where xDSL has them: ``linalg.conv_2d_nchw_fchw`` (groups = 1),
  ``linalg.conv_2d_ngchw_gfchw`` (grouped and depthwise convolution, on
  ``tensor.expand_shape`` views splitting channels into groups; xDSL has no
  ``depthwise_conv_2d_nchw_chw``), ``linalg.matmul`` (rank-2 ``dag.matmul`` and
  ``dag.linear``), ``linalg.transpose``, ``linalg.fill``;
- ``linalg.generic`` for everything else: elementwise ops (operands broadcast through
  their indexing maps: a size-1 dim reads index 0), reductions, softmax, the norms,
  pooling shaped like ``linalg.pooling_nchw_max`` / ``_sum`` (xDSL has no sum
  pooling, and the implicit body of its max pooling is wrong), batched matmul (xDSL
  has no ``linalg.batch_matmul``), attention,
  transposed convolution, reflect/replicate padding and broadcasting (``dag.expand``:
  a generic, because xDSL's ``linalg.broadcast`` only adds dims);
- padding is always ``linalg.fill`` of the pad value + ``tensor.insert_slice`` (the
  form MLIR's ``GeneralizePadOpPattern`` produces), never ``tensor.pad``;
- ``tensor.collapse_shape`` / ``tensor.expand_shape`` for reshapes (every static
  reshape is a collapse followed by an expand), ``tensor.extract_slice`` /
  ``tensor.insert_slice`` for slice, select and concat;
- ``dag.constant`` -> ``arith.constant`` with the same value, so weights keep their
  ``dense_resource<handle>`` and their blob in the resource trailer;
- ``dag.interpolate`` computes its source indices from ``linalg.index`` and reads the
  input with ``tensor.extract`` in the generic's body (the gather is not affine).

A ``dag.fused`` region is inlined: its ops lower one by one, and
``dagc-linalg-fuse-elementwise`` then merges the elementwise ones.

``dag.opaque`` has no lowering (it runs on HOST through torch, outside the compiled
kernels): the pass fails on it, naming the op, unless the option
``keep-opaque=true`` asks to leave it in place between the lowered ops.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from dagc.dialects import dag
from xdsl.context import Context
from xdsl.dialects import arith, tensor
from xdsl.dialects import math as mathd
from xdsl.dialects.builtin import (
    AffineMapAttr,
    AnyFloat,
    ArrayAttr,
    DenseArrayBase,
    DenseIntOrFPElementsAttr,
    Float64Type,
    FloatAttr,
    IndexType,
    IntegerAttr,
    IntegerType,
    ModuleOp,
    TensorType,
    i1,
    i64,
)
from xdsl.dialects.linalg.attrs import IteratorTypeAttr
from xdsl.dialects.linalg.ops import (
    Conv2DNchwFchwOp,
    Conv2DNgchwGfchwOp,
    FillOp,
    GenericOp,
    IndexOp,
    MatmulOp,
    TransposeOp,
    YieldOp,
)
from xdsl.ir import Attribute, Block, Operation, Region, SSAValue
from xdsl.ir.affine import AffineExpr, AffineMap
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    GreedyRewritePatternApplier,
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
    op_type_rewrite_pattern,
)
from xdsl.rewriter import InsertPoint
from xdsl.utils.exceptions import PassFailedException

Shape = tuple[int, ...]


def _fail(op: dag.DagOp, why: str) -> PassFailedException:
    return PassFailedException(f'cannot lower {op.name} "{op.label}" to linalg: {why}')


def _ints(attr: DenseArrayBase) -> tuple[int, ...]:
    return tuple(int(v) for v in attr.get_values())


def _shape(value: SSAValue) -> Shape:
    assert isinstance(value.type, TensorType)
    return value.type.get_shape()


def _elem(value: SSAValue) -> Attribute:
    assert isinstance(value.type, TensorType)
    return value.type.element_type


def _is_float(t: Attribute) -> bool:
    return isinstance(t, AnyFloat)


# ----------------------------------------------------------------------------
# Indexing maps
# ----------------------------------------------------------------------------


def _d(i: int) -> AffineExpr:
    return AffineExpr.dimension(i)


def _c(v: int) -> AffineExpr:
    return AffineExpr.constant(v)


def affine_map(num_loops: int, exprs: Sequence[AffineExpr | int]) -> AffineMap:
    """``(d0, ..., d{num_loops-1}) -> (exprs)``; ints are dims, not constants."""
    return AffineMap(
        num_loops, 0, tuple(_d(e) if isinstance(e, int) else e for e in exprs)
    )


def identity_map(rank: int) -> AffineMap:
    """``(d0, ..., dn) -> (d0, ..., dn)``."""
    return AffineMap.identity(rank)


def projection_map(num_loops: int, dims: Sequence[int]) -> AffineMap:
    """``(d0, ..., d{num_loops-1}) -> (d{dims[0]}, d{dims[1]}, ...)``."""
    return affine_map(num_loops, list(dims))


def broadcast_map(src: Shape, dst: Shape) -> AffineMap:
    """The map reading a ``src``-shaped operand at a ``dst``-shaped loop point under
    NumPy broadcasting: dims align from the right, and a size-1 dim that is
    broadcast reads index 0.

    Raises:
        ValueError: ``src`` does not broadcast to ``dst``.
    """
    lead = len(dst) - len(src)
    if lead < 0:
        raise ValueError(f"{list(src)} does not broadcast to {list(dst)}")
    exprs: list[AffineExpr] = []
    for i, n in enumerate(src):
        if n == dst[lead + i]:
            exprs.append(_d(lead + i))
        elif n == 1:
            exprs.append(_c(0))
        else:
            raise ValueError(f"{list(src)} does not broadcast to {list(dst)}")
    return AffineMap(len(dst), 0, tuple(exprs))


# ----------------------------------------------------------------------------
# Scalar bodies
# ----------------------------------------------------------------------------


def scalar_constant(value: float, type: Attribute) -> arith.ConstantOp:
    """``arith.constant value : type`` for a float, integer or ``index`` type; for
    integers, ``+-inf`` become the type's extreme values (max pooling's init)."""
    if _is_float(type):
        return arith.ConstantOp(FloatAttr(float(value), type))
    if isinstance(type, IntegerType) and math.isinf(value):
        width = type.width.data
        value = (1 << (width - 1)) - 1 if value > 0 else -(1 << (width - 1))
    return arith.ConstantOp(IntegerAttr(int(value), type))


class BodyBuilder:
    """Appends the scalar ops of a ``linalg.generic`` body to ``block``.

    Arithmetic dispatches on the operand type: ``arith.*f`` ops for floats,
    ``arith.*i`` / ``*si`` for integers and ``index``. ``max`` / ``min`` on floats
    are ``arith.maximumf`` / ``minimumf``, which propagate NaN as
    ``torch.maximum`` / ``torch.minimum`` do.
    """

    def __init__(self, block: Block):
        self.block = block

    def emit(self, op: Operation) -> SSAValue:
        """Append ``op``; return its (first) result."""
        self.block.add_op(op)
        return op.results[0]

    def const(self, value: float, type: Attribute) -> SSAValue:
        """An ``arith.constant`` (see :func:`scalar_constant`)."""
        return self.emit(scalar_constant(value, type))

    def index(self, dim: int) -> SSAValue:
        """``linalg.index dim``: the current loop index of loop ``dim``."""
        return self.emit(IndexOp(dim))

    def _bin(self, fop, iop, a: SSAValue, b: SSAValue) -> SSAValue:
        if _is_float(a.type):
            return self.emit(fop(a, b))
        if iop is None:
            raise TypeError(f"no integer form of {fop.name}")
        return self.emit(iop(a, b))

    def add(self, a, b):
        return self._bin(arith.AddfOp, arith.AddiOp, a, b)

    def sub(self, a, b):
        return self._bin(arith.SubfOp, arith.SubiOp, a, b)

    def mul(self, a, b):
        return self._bin(arith.MulfOp, arith.MuliOp, a, b)

    def div(self, a, b):
        return self._bin(arith.DivfOp, None, a, b)

    def max(self, a, b):
        return self._bin(arith.MaximumfOp, arith.MaxSIOp, a, b)

    def min(self, a, b):
        return self._bin(arith.MinimumfOp, arith.MinSIOp, a, b)

    def pow(self, a, b):
        return self._bin(mathd.PowFOp, None, a, b)

    def neg(self, a):
        if _is_float(a.type):
            return self.emit(arith.NegfOp(a))
        return self.sub(self.const(0, a.type), a)

    def abs(self, a):
        if _is_float(a.type):
            return self.emit(mathd.AbsFOp(a))
        return self.emit(mathd.AbsIOp(a))

    def unary(self, op_type: type[Operation], a: SSAValue) -> SSAValue:
        """A one-operand ``math`` op (``math.ExpOp``, ``math.ErfOp``, ...)."""
        if not _is_float(a.type):
            raise TypeError(f"{op_type.name} needs a float operand, got {a.type}")
        return self.emit(op_type(a))

    def cmp(self, predicate: str, a: SSAValue, b: SSAValue) -> SSAValue:
        """``arith.cmpf`` with an ordered predicate (``"gt"`` -> ``ogt``) for floats,
        ``arith.cmpi`` with a signed one (``"gt"`` -> ``sgt``) otherwise."""
        if _is_float(a.type):
            return self.emit(arith.CmpfOp(a, b, "o" + predicate))
        pred = predicate if predicate in ("eq", "ne") else "s" + predicate
        return self.emit(arith.CmpiOp(a, b, pred))

    def select(self, cond: SSAValue, a: SSAValue, b: SSAValue) -> SSAValue:
        return self.emit(arith.SelectOp(cond, a, b))

    def and_(self, a: SSAValue, b: SSAValue) -> SSAValue:
        return self.emit(arith.AndIOp(a, b))

    # -- index arithmetic -----------------------------------------------------

    def index_const(self, value: int) -> SSAValue:
        return self.const(value, IndexType())

    def index_to_float(self, value: SSAValue, type: Attribute) -> SSAValue:
        """``sitofp(index_cast(value : index to i64))``."""
        wide = self.emit(arith.IndexCastOp(value, i64))
        return self.emit(arith.SIToFPOp(wide, type))

    def float_to_index(self, value: SSAValue) -> SSAValue:
        """``index_cast(fptosi(value) : i64 to index)`` (rounds toward zero)."""
        wide = self.emit(arith.FPToSIOp(value, i64))
        return self.emit(arith.IndexCastOp(wide, IndexType()))


BodyFn = Callable[..., SSAValue | Sequence[SSAValue]]
"""A generic's body: ``fn(b: BodyBuilder, *block_args) -> yielded value(s)``; the
block arguments are the input elements then the output elements."""


# ----------------------------------------------------------------------------
# Tensor-level construction
# ----------------------------------------------------------------------------


class LinalgBuilder:
    """Creates linalg / tensor / arith ops on tensors before the op being lowered.

    ``elem`` is the element type of the op's result; it is the default element type
    of the tensors created here.
    """

    def __init__(self, rewriter: PatternRewriter, elem: Attribute):
        self.rewriter = rewriter
        self.elem = elem

    def insert(self, op: Operation) -> SSAValue:
        """Insert ``op`` before the op being lowered; return its first result."""
        self.rewriter.insert(op)
        return op.results[0]

    def scalar(self, value: float, type: Attribute | None = None) -> SSAValue:
        """A scalar ``arith.constant`` (see :func:`scalar_constant`)."""
        return self.insert(scalar_constant(value, type or self.elem))

    def table(self, values: Sequence[float], type: Attribute | None = None) -> SSAValue:
        """A small 1-D ``arith.constant dense<[...]>`` tensor (lookup tables)."""
        t = TensorType(type or self.elem, [len(values)])
        return self.insert(
            arith.ConstantOp(DenseIntOrFPElementsAttr.from_list(t, list(values)))
        )

    def empty(self, shape: Sequence[int], elem: Attribute | None = None) -> SSAValue:
        """``tensor.empty() : tensor<shape x elem>`` (contents undefined)."""
        return self.insert(
            tensor.EmptyOp([], TensorType(elem or self.elem, list(shape)))
        )

    def fill(
        self, shape: Sequence[int], value: float, elem: Attribute | None = None
    ) -> SSAValue:
        """A tensor of ``shape`` filled with ``value`` (``linalg.fill``)."""
        elem = elem or self.elem
        dest = self.empty(shape, elem)
        return self.insert(FillOp([self.scalar(value, elem)], [dest], [dest.type]))

    def generic(
        self,
        inputs: Sequence[tuple[SSAValue, AffineMap]],
        out: SSAValue | Sequence[int],
        body: BodyFn,
        out_map: AffineMap | None = None,
        iterators: Sequence[str] | None = None,
        elem: Attribute | None = None,
    ) -> SSAValue:
        """One ``linalg.generic`` with one result.

        Args:
            inputs: (tensor, indexing map) pairs; every map has one dim per loop.
            out: the init tensor, or a shape for a fresh ``tensor.empty`` (of
                ``elem``, default the builder's) that the body must not read.
            body: builds the scalar body, see :data:`BodyFn`.
            out_map: the output's indexing map (default: identity, one loop per
                output dim).
            iterators: ``"parallel"`` / ``"reduction"`` per loop (default: all
                parallel).
        """
        if not isinstance(out, SSAValue):
            out = self.empty(out, elem)
        out_type = out.type
        assert isinstance(out_type, TensorType)
        if out_map is None:
            out_map = identity_map(len(out_type.get_shape()))
        num_loops = out_map.num_dims
        if iterators is None:
            iterators = ["parallel"] * num_loops
        values = [v for v, _ in inputs]
        block = Block(arg_types=[_elem(v) for v in values] + [out_type.element_type])
        result = body(BodyBuilder(block), *block.args)
        results = [result] if isinstance(result, SSAValue) else list(result)
        block.add_op(YieldOp(*results))
        its = [
            IteratorTypeAttr.parallel()
            if it == "parallel"
            else IteratorTypeAttr.reduction()
            for it in iterators
        ]
        maps = [m for _, m in inputs] + [out_map]
        return self.insert(
            GenericOp(
                values,
                [out],
                Region(block),
                [AffineMapAttr(m) for m in maps],
                its,
                [out_type],
            )
        )

    def map(self, shape: Sequence[int], fn: BodyFn, *operands: SSAValue) -> SSAValue:
        """Elementwise ``fn`` over operands broadcast (NumPy rules) to ``shape``."""
        shape = tuple(shape)
        inputs = [(v, broadcast_map(_shape(v), shape)) for v in operands]
        return self.generic(inputs, shape, lambda b, *args: fn(b, *args[:-1]))

    def reduce(
        self,
        inputs: Sequence[tuple[SSAValue, AffineMap]],
        loops: Sequence[int],
        dims: Sequence[int],
        init: float,
        body: BodyFn,
    ) -> SSAValue:
        """A reduction generic over a ``loops``-shaped iteration space.

        The result has the loop dims not in ``dims`` (in order), starts at ``init``,
        and ``body(b, *input_elements, acc)`` returns the new accumulator. A float
        sum (the accumulator's last op an ``arith.addf`` of the accumulator) may be
        reassociated, as PyTorch's vectorized CPU reductions sum: its ``addf``
        carries ``fastmath<reassoc>``, which lets LLVM vectorize the loop (with
        whatever the body computes per element, e.g. softmax's ``exp``).
        """
        kept = [i for i in range(len(loops)) if i not in dims]
        acc = self.fill([loops[i] for i in kept], init)
        result = self.generic(
            inputs,
            acc,
            body,
            out_map=projection_map(len(loops), kept),
            iterators=[
                "reduction" if i in dims else "parallel" for i in range(len(loops))
            ],
        )
        generic = result.owner
        assert isinstance(generic, GenericOp)
        block = generic.body.block
        last = block.last_op.operands[0].owner  # pyright: ignore[reportOptionalMemberAccess]
        if isinstance(last, arith.AddfOp) and block.args[-1] in last.operands:
            last.fastmath = arith.FastMathFlagsAttr([arith.FastMathFlag.REASSOC])
        return result

    # -- data movement --------------------------------------------------------

    def reshape(self, value: SSAValue, shape: Sequence[int]) -> SSAValue:
        """Row-major reshape of a static tensor: ``tensor.collapse_shape`` then
        ``tensor.expand_shape`` over the coarsest common grouping of the dims (either
        is left out when it would change nothing). Reshapes from or to rank 0 are a
        generic copy (xDSL's reshape verifiers reject MLIR's empty reassociation)."""
        src, dst = _shape(value), tuple(shape)
        if src == dst:
            return value
        owner = value.owner
        reshaped = isinstance(owner, tensor.CollapseShapeOp | tensor.ExpandShapeOp)
        if reshaped and _shape(owner.src) == dst:  # undo the previous reshape
            if not owner.result.uses:
                self.rewriter.erase(owner)
            return owner.src
        groups = reassociation(src, dst)
        if groups is None:
            zeros = AffineMap(len(dst), 0, tuple(_c(0) for _ in src))
            return self.generic(
                [(value, zeros)], dst, lambda b, v, _: v, elem=_elem(value)
            )
        elem = _elem(value)
        mid = value
        if any(len(gs) > 1 for gs, _ in groups):
            mid_shape = [math.prod(src[i] for i in gs) for gs, _ in groups]
            mid = self.insert(
                tensor.CollapseShapeOp.build(
                    operands=[value],
                    result_types=[TensorType(elem, mid_shape)],
                    properties={
                        "reassociation": _reassoc_attr([gs for gs, _ in groups])
                    },
                )
            )
        if any(len(gd) > 1 for _, gd in groups):
            mid = self.insert(
                tensor.ExpandShapeOp(
                    mid,
                    [],
                    _reassoc_attr([gd for _, gd in groups]),
                    dst,
                    TensorType(elem, dst),
                )
            )
        return mid

    def extract_slice(
        self,
        value: SSAValue,
        offsets: Sequence[int],
        sizes: Sequence[int],
        strides: Sequence[int] | None = None,
    ) -> SSAValue:
        """``tensor.extract_slice`` (same rank); no op for the whole tensor."""
        strides = list(strides or [1] * len(sizes))
        if tuple(sizes) == _shape(value) and not any(offsets) and set(strides) <= {1}:
            return value
        return self.insert(
            tensor.ExtractSliceOp.from_static_parameters(value, offsets, sizes, strides)
        )

    def insert_slice(
        self,
        source: SSAValue,
        dest: SSAValue,
        offsets: Sequence[int],
        strides: Sequence[int] | None = None,
    ) -> SSAValue:
        """``tensor.insert_slice`` of all of ``source`` into ``dest``."""
        sizes = _shape(source)
        return self.insert(
            tensor.InsertSliceOp.from_static_parameters(
                source, dest, offsets, sizes, strides or [1] * len(sizes)
            )
        )

    def pad(
        self,
        value: SSAValue,
        low: Sequence[int],
        high: Sequence[int],
        pad_value: float,
    ) -> SSAValue:
        """Constant padding (``low`` / ``high`` >= 0 per dim): ``linalg.fill`` of
        ``pad_value`` + ``tensor.insert_slice`` of ``value``."""
        if not any(low) and not any(high):
            return value
        shape = [n + lo + hi for n, lo, hi in zip(_shape(value), low, high)]
        dest = self.fill(shape, pad_value, _elem(value))
        return self.insert_slice(value, dest, low)

    def transpose(self, value: SSAValue, perm: Sequence[int]) -> SSAValue:
        """``linalg.transpose``: ``result.shape[i] = value.shape[perm[i]]``."""
        if list(perm) == list(range(len(perm))):
            return value
        src = _shape(value)
        dest = self.empty([src[p] for p in perm], _elem(value))
        return self.insert(
            TransposeOp(value, dest, DenseArrayBase.from_list(i64, list(perm)))
        )


def _reassoc_attr(groups: Sequence[Sequence[int]]) -> ArrayAttr:
    return ArrayAttr([ArrayAttr([IntegerAttr(i, i64) for i in g]) for g in groups])


def reassociation(src: Shape, dst: Shape) -> list[tuple[list[int], list[int]]] | None:
    """The coarsest grouping of ``src`` and ``dst`` dims into consecutive runs with
    equal products: ``[(src dims, dst dims), ...]``, every group non-empty on both
    sides (MLIR's reassociation). Built on :func:`dagc.dialects.dag.reshape_blocks`, whose trailing
    size-1 blocks with one empty side join the last group. None when a side has
    rank 0; one group of everything when the shapes have no elements.

    Raises:
        ValueError: the shapes have different element counts.
    """
    if math.prod(src) != math.prod(dst):
        raise ValueError(f"cannot reshape {list(src)} to {list(dst)}")
    if not src or not dst:
        return None
    if math.prod(src) == 0:
        return [(list(range(len(src))), list(range(len(dst))))]
    groups: list[tuple[list[int], list[int]]] = []
    for gs, gd in dag.reshape_blocks(src, dst):
        if gs and gd:
            groups.append((list(gs), list(gd)))
        else:
            groups[-1][0].extend(gs)
            groups[-1][1].extend(gd)
    return groups


# ----------------------------------------------------------------------------
# Lowerings shared by several ops
# ----------------------------------------------------------------------------


def _builder(rewriter: PatternRewriter, op: dag.DagOp) -> LinalgBuilder:
    result = op.results[0]
    assert isinstance(result.type, TensorType)
    return LinalgBuilder(rewriter, result.type.element_type)


def _float_elem(op: dag.DagOp, elem: Attribute) -> None:
    if not _is_float(elem):
        raise _fail(op, f"needs a floating-point element type, got {elem}")


def bias_init(
    lb: LinalgBuilder, bias: SSAValue | None, shape: Shape, dim: int
) -> SSAValue:
    """The accumulator of a convolution / matmul: ``bias`` (1-D, along ``dim``)
    broadcast to ``shape``, or zeros."""
    if bias is None:
        return lb.fill(shape, 0.0)
    return lb.generic(
        [(bias, projection_map(len(shape), [dim]))], shape, lambda b, x, _: x
    )


def softmax(
    lb: LinalgBuilder, x: SSAValue, dim: int, log: bool, safe: bool = False
) -> SSAValue:
    """``softmax(x, dim)`` / ``log_softmax`` as PyTorch computes them:
    ``m = max(x)``, ``s = sum(exp(x - m))``, then ``exp(x - m) / s`` or
    ``(x - m) - log(s)`` (three generics: max, sum of exp, result).

    ``safe``: a row that is all ``-inf`` gives zeros instead of NaN (PyTorch's
    ``_safe_softmax``, used by attention for fully masked rows)."""
    shape = _shape(x)
    rank = len(shape)
    ident = identity_map(rank)
    kept = projection_map(rank, [i for i in range(rank) if i != dim])
    m = lb.reduce(
        [(x, ident)], shape, [dim], -math.inf, lambda b, v, acc: b.max(v, acc)
    )
    s = lb.reduce(
        [(x, ident), (m, kept)],
        shape,
        [dim],
        0.0,
        lambda b, v, mx, acc: b.add(b.unary(mathd.ExpOp, b.sub(v, mx)), acc),
    )

    def fn(b: BodyBuilder, v, mx, sm, _):
        if log:
            res = b.sub(b.sub(v, mx), b.unary(mathd.LogOp, sm))
        else:
            res = b.div(b.unary(mathd.ExpOp, b.sub(v, mx)), sm)
        if safe:
            masked = b.cmp("eq", mx, b.const(-math.inf, v.type))
            res = b.select(masked, b.const(0.0, v.type), res)
        return res

    return lb.generic([(x, ident), (m, kept), (s, kept)], shape, fn)


def batched_contraction(
    lb: LinalgBuilder,
    a: SSAValue,
    b_: SSAValue,
    transpose_b: bool,
    scale: float | None = None,
) -> SSAValue:
    """``a @ b`` (or ``a @ b^T``) over broadcast batch dims, as one generic.

    a ``... x M x K``; b ``... x K x N`` (``... x N x K`` with ``transpose_b``);
    result ``batch x M x N`` where batch broadcasts both batch shapes. With
    ``scale`` the products are summed then multiplied by it.
    """
    sa, sb = _shape(a), _shape(b_)
    batch = dag.broadcast_shapes(sa[:-2], sb[:-2])
    nb = len(batch)
    m = sa[-2]
    n = sb[-2] if transpose_b else sb[-1]
    loops = nb + 3  # batch..., m, n, k
    dm, dn, dk = nb, nb + 1, nb + 2

    def batch_exprs(s: Shape) -> list[AffineExpr]:
        bmap = broadcast_map(s[:-2], batch)
        return list(bmap.results)

    amap = AffineMap(loops, 0, (*batch_exprs(sa), _d(dm), _d(dk)))
    bexprs = (_d(dn), _d(dk)) if transpose_b else (_d(dk), _d(dn))
    bmap = AffineMap(loops, 0, (*batch_exprs(sb), *bexprs))
    out_shape = (*batch, m, n)
    acc = lb.fill(out_shape, 0.0)
    res = lb.generic(
        [(a, amap), (b_, bmap)],
        acc,
        lambda b, x, y, z: b.add(z, b.mul(x, y)),
        out_map=projection_map(loops, [*range(nb), dm, dn]),
        iterators=["parallel"] * (nb + 2) + ["reduction"],
    )
    if scale is not None:
        res = lb.map(out_shape, lambda b, x: b.mul(x, b.const(scale, _elem(res))), res)
    return res


def moments(
    lb: LinalgBuilder, x: SSAValue, dims: Sequence[int]
) -> tuple[SSAValue, SSAValue]:
    """Mean and biased variance of ``x`` over ``dims`` (two passes:
    ``mean = sum(x) / n``, ``var = sum((x - mean)^2) / n``); results drop ``dims``."""
    shape = _shape(x)
    rank = len(shape)
    count = math.prod(shape[d] for d in dims)
    ident = identity_map(rank)
    kept = projection_map(rank, [i for i in range(rank) if i not in dims])
    total = lb.reduce([(x, ident)], shape, dims, 0.0, lambda b, v, acc: b.add(v, acc))
    mean = lb.map(_shape(total), lambda b, s: b.div(s, b.const(count, s.type)), total)

    def sq(b: BodyBuilder, v, mu, acc):
        d = b.sub(v, mu)
        return b.add(b.mul(d, d), acc)

    ssq = lb.reduce([(x, ident), (mean, kept)], shape, dims, 0.0, sq)
    var = lb.map(_shape(ssq), lambda b, s: b.div(s, b.const(count, s.type)), ssq)
    return mean, var


def window_extent(
    size: int, out: int, kernel: int, stride: int, pad: int, dil: int
) -> int:
    """How far windows reach into a ``pad``-padded input, so that the padded input
    is large enough: ``max(size + 2*pad, (out-1)*stride + dil*(kernel-1) + 1)``."""
    return max(size + 2 * pad, (out - 1) * stride + dil * (kernel - 1) + 1)


def pool_window(
    lb: LinalgBuilder,
    x: SSAValue,
    out_hw: tuple[int, int],
    kernel: tuple[int, int],
    stride: tuple[int, int],
    dilation: tuple[int, int],
    init: float,
    combine: Callable[[BodyBuilder, SSAValue, SSAValue], SSAValue],
) -> SSAValue:
    """Window reduction of an (already padded) ``N x C x H x W`` tensor, shaped like
    MLIR's ``linalg.pooling_nchw_*``: loops ``(n, c, oh, ow, kh, kw)``, input read at
    ``(n, c, oh*stride + kh*dil, ow*stride + kw*dil)``, a ``KH x KW`` window operand
    giving the window loops their extent; ``combine(b, acc, element)``.

    (xDSL 0.74's ``linalg.pooling_nchw_max`` is not used: its implicit body takes
    the max of the input and the window operand instead of the accumulator.)
    """
    n, c = _shape(x)[:2]
    window = lb.empty(kernel)
    (sh, sw), (dh, dw) = stride, dilation
    xmap = AffineMap(
        6, 0, (_d(0), _d(1), _d(2) * sh + _d(4) * dh, _d(3) * sw + _d(5) * dw)
    )
    return lb.generic(
        [(x, xmap), (window, projection_map(6, [4, 5]))],
        lb.fill((n, c, *out_hw), init),
        lambda b, v, _, acc: combine(b, acc, v),
        out_map=projection_map(6, [0, 1, 2, 3]),
        iterators=["parallel"] * 4 + ["reduction"] * 2,
    )


def divide_by_counts(
    lb: LinalgBuilder, sums: SSAValue, rows: Sequence[int], cols: Sequence[int]
) -> SSAValue:
    """``sums[n, c, i, j] / rows[i] / cols[j]`` (PyTorch's adaptive pooling divides
    twice); a uniform table is a constant in the body instead of an operand."""
    shape = _shape(sums)
    elem = _elem(sums)
    inputs: list[tuple[SSAValue, AffineMap]] = [(sums, identity_map(4))]
    row_t = col_t = None
    if len(set(rows)) > 1:
        row_t = len(inputs)
        inputs.append((lb.table(list(map(float, rows))), projection_map(4, [2])))
    if len(set(cols)) > 1:
        col_t = len(inputs)
        inputs.append((lb.table(list(map(float, cols))), projection_map(4, [3])))

    def body(b: BodyBuilder, *args):
        r = args[row_t] if row_t is not None else b.const(rows[0], elem)
        q = b.div(args[0], r)
        c = args[col_t] if col_t is not None else b.const(cols[0], elem)
        return b.div(q, c)

    return lb.generic(inputs, shape, body)


def divide_by_table(
    lb: LinalgBuilder, sums: SSAValue, counts: Sequence[Sequence[int]]
) -> SSAValue:
    """``sums[n, c, i, j] / counts[i][j]`` (average pooling's divisor); a uniform
    divisor is a constant in the body instead of an operand."""
    shape = _shape(sums)
    elem = _elem(sums)
    flat = [v for row in counts for v in row]
    if len(set(flat)) == 1:
        return lb.map(shape, lambda b, s: b.div(s, b.const(flat[0], elem)), sums)
    oh, ow = len(counts), len(counts[0])
    table = lb.reshape(lb.table(list(map(float, flat))), (oh, ow))
    return lb.generic(
        [(sums, identity_map(4)), (table, projection_map(4, [2, 3]))],
        shape,
        lambda b, s, d, _: b.div(s, d),
    )


# ----------------------------------------------------------------------------
# Patterns
# ----------------------------------------------------------------------------


def _one_plus_exp_neg(b: BodyBuilder, x: SSAValue) -> SSAValue:
    return b.add(b.const(1.0, x.type), b.unary(mathd.ExpOp, b.neg(x)))


def _sigmoid(b: BodyBuilder, x: SSAValue) -> SSAValue:
    return b.div(b.const(1.0, x.type), _one_plus_exp_neg(b, x))


def _relu6(b: BodyBuilder, x: SSAValue) -> SSAValue:
    return b.min(b.max(x, b.const(0, x.type)), b.const(6, x.type))


def _hardsigmoid(b: BodyBuilder, x: SSAValue) -> SSAValue:
    return b.div(_relu6(b, b.add(x, b.const(3, x.type))), b.const(6, x.type))


def _gelu(b: BodyBuilder, op: dag.GeluOp, x: SSAValue) -> SSAValue:
    t = x.type
    half, one = b.const(0.5, t), b.const(1.0, t)
    if op.approximate.data == "tanh":
        # 0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x^3)))
        cube = b.mul(b.mul(x, x), x)
        inner = b.add(x, b.mul(b.const(0.044715, t), cube))
        k = b.const(math.sqrt(2.0) * (2.0 / math.sqrt(math.pi)) * 0.5, t)
        th = b.unary(mathd.TanhOp, b.mul(k, inner))
        return b.mul(b.mul(half, x), b.add(one, th))
    # x * 0.5 * (1 + erf(x / sqrt(2)))
    e = b.unary(mathd.ErfOp, b.mul(x, b.const(1.0 / math.sqrt(2.0), t)))
    return b.mul(b.mul(x, half), b.add(one, e))


def _leaky_relu(b: BodyBuilder, op: dag.LeakyReluOp, x: SSAValue) -> SSAValue:
    slope = b.const(op.negative_slope.value.data, x.type)
    return b.select(b.cmp("gt", x, b.const(0, x.type)), x, b.mul(x, slope))


def _clamp(b: BodyBuilder, op: dag.ClampOp, x: SSAValue) -> SSAValue:
    if op.min is not None:
        x = b.max(x, b.const(op.min.value.data, x.type))
    if op.max is not None:
        x = b.min(x, b.const(op.max.value.data, x.type))
    return x


ELEMENTWISE: dict[type[dag.DagOp], Callable[..., SSAValue]] = {
    dag.AddOp: lambda b, op, x, y: b.add(x, y),
    dag.SubOp: lambda b, op, x, y: b.sub(x, y),
    dag.MulOp: lambda b, op, x, y: b.mul(x, y),
    dag.DivOp: lambda b, op, x, y: b.div(x, y),
    dag.PowOp: lambda b, op, x, y: b.pow(x, y),
    dag.MaximumOp: lambda b, op, x, y: b.max(x, y),
    dag.MinimumOp: lambda b, op, x, y: b.min(x, y),
    dag.NegOp: lambda b, op, x: b.neg(x),
    dag.SqrtOp: lambda b, op, x: b.unary(mathd.SqrtOp, x),
    dag.RsqrtOp: lambda b, op, x: b.unary(mathd.RsqrtOp, x),
    dag.ExpOp: lambda b, op, x: b.unary(mathd.ExpOp, x),
    dag.LogOp: lambda b, op, x: b.unary(mathd.LogOp, x),
    dag.AbsOp: lambda b, op, x: b.abs(x),
    dag.ErfOp: lambda b, op, x: b.unary(mathd.ErfOp, x),
    dag.TanhOp: lambda b, op, x: b.unary(mathd.TanhOp, x),
    dag.SigmoidOp: lambda b, op, x: _sigmoid(b, x),
    dag.ReluOp: lambda b, op, x: b.max(x, b.const(0, x.type)),
    dag.Relu6Op: lambda b, op, x: _relu6(b, x),
    dag.SiluOp: lambda b, op, x: b.div(x, _one_plus_exp_neg(b, x)),
    dag.HardswishOp: lambda b, op, x: b.div(
        b.mul(x, _relu6(b, b.add(x, b.const(3, x.type)))), b.const(6, x.type)
    ),
    dag.HardsigmoidOp: lambda b, op, x: _hardsigmoid(b, x),
    dag.GeluOp: _gelu,
    dag.LeakyReluOp: _leaky_relu,
    dag.ClampOp: _clamp,
}
"""Scalar bodies of the elementwise ops: ``fn(b, op, *operand_elements)``; the
formulas and their order of operations are PyTorch's CPU kernels'
(``silu = x / (1 + exp(-x))``, ``hardswish = x * relu6(x + 3) / 6``, gelu with erf
or tanh, ``leaky_relu = x > 0 ? x : x * slope``)."""


class LowerElementwise(RewritePattern):
    """``dag.add`` ... ``dag.clamp`` -> one generic; operands are broadcast by their
    indexing maps."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: dag.ElementwiseOp, rewriter: PatternRewriter, /):
        fn = ELEMENTWISE.get(type(op))
        if fn is None:  # softmax / log_softmax: LowerSoftmax
            return
        lb = _builder(rewriter, op)
        try:
            res = lb.map(
                _shape(op.results[0]), lambda b, *xs: fn(b, op, *xs), *op.operands
            )
        except TypeError as e:
            raise _fail(op, str(e)) from e
        rewriter.replace(op, [], [res])


class LowerSoftmax(RewritePattern):
    """``dag.softmax`` / ``dag.log_softmax`` -> max, sum of exp, result generics."""

    @op_type_rewrite_pattern
    def match_and_rewrite(
        self, op: dag.SoftmaxOp | dag.LogSoftmaxOp, rewriter: PatternRewriter, /
    ):
        lb = _builder(rewriter, op)
        _float_elem(op, lb.elem)
        res = softmax(lb, op.input, op.dim.value.data, isinstance(op, dag.LogSoftmaxOp))
        rewriter.replace(op, [], [res])


def _pair(attr: DenseArrayBase) -> tuple[int, int]:
    a, b = _ints(attr)
    return a, b


def _dense_i64(values: Sequence[int]) -> DenseIntOrFPElementsAttr:
    return DenseIntOrFPElementsAttr.from_list(
        TensorType(i64, [len(values)]), list(values)
    )


def conv2d(
    lb: LinalgBuilder,
    x: SSAValue,
    w: SSAValue,
    init: SSAValue,
    stride: tuple[int, int],
    dilation: tuple[int, int],
    groups: int,
) -> SSAValue:
    """Convolution of an already padded input, accumulated into ``init``.

    x ``N x C x H x W``, w ``F x C/groups x KH x KW``, init ``N x F x OH x OW``.
    groups = 1: ``linalg.conv_2d_nchw_fchw``; otherwise
    ``linalg.conv_2d_ngchw_gfchw`` on ``expand_shape`` views ``N x G x C/G x H x W``,
    ``G x F/G x C/G x KH x KW`` and ``N x G x F/G x OH x OW`` (PyTorch's group-major
    channel order), collapsed back.
    """
    strides, dilations = _dense_i64(stride), _dense_i64(dilation)
    if groups == 1:
        return lb.insert(
            Conv2DNchwFchwOp(
                [x, w], [init], [init.type], strides=strides, dilations=dilations
            )
        )
    n, c, h, wd = _shape(x)
    f, cg, kh, kw = _shape(w)
    out = _shape(init)
    g = groups
    xg = lb.reshape(x, (n, g, c // g, h, wd))
    wg = lb.reshape(w, (g, f // g, cg, kh, kw))
    ig = lb.reshape(init, (n, g, f // g, out[2], out[3]))
    yg = lb.insert(
        Conv2DNgchwGfchwOp(
            [xg, wg], [ig], [ig.type], strides=strides, dilations=dilations
        )
    )
    return lb.reshape(yg, out)


class LowerConv2d(RewritePattern):
    """``dag.conv2d`` -> zero padding (fill + insert_slice), the bias broadcast as
    the accumulator, then :func:`conv2d` (named convolution ops)."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: dag.Conv2dOp, rewriter: PatternRewriter, /):
        lb = _builder(rewriter, op)
        x, w = op.input, op.weight
        _, _, h, wd = _shape(x)
        _, _, kh, kw = _shape(w)
        out = _shape(op.result)
        (ph, pw), g = _pair(op.padding), op.groups.value.data
        (sh, sw), (dh, dw) = _pair(op.stride), _pair(op.dilation)
        hp = window_extent(h, out[2], kh, sh, ph, dh)
        wp = window_extent(wd, out[3], kw, sw, pw, dw)
        xp = lb.pad(x, [0, 0, ph, pw], [0, 0, hp - h - ph, wp - wd - pw], 0.0)
        init = bias_init(lb, op.bias, out, 1)
        res = conv2d(lb, xp, w, init, (sh, sw), (dh, dw), g)
        rewriter.replace(op, [], [res])


def constant_matrix(lb: LinalgBuilder, rows: Sequence[Sequence[float]]) -> SSAValue:
    """A small 2-D ``arith.constant dense<[[...], ...]>`` tensor of the builder's
    element type (transform matrices)."""
    t = TensorType(lb.elem, [len(rows), len(rows[0])])
    values = [float(v) for row in rows for v in row]
    return lb.insert(arith.ConstantOp(DenseIntOrFPElementsAttr.from_list(t, values)))


WINOGRAD_INPUT_MAPS: tuple[AffineMap, ...] = (
    affine_map(8, [_d(3), _d(2), _d(4) * 2 + _d(6), _d(5) * 2 + _d(7)]),
    projection_map(8, [0, 6]), projection_map(8, [1, 7]), projection_map(8, range(6)),
)
"""The input transform's maps over the loops ``(a, b, c, n, ty, tx, r, s)``: the
padded input, ``BT`` twice and ``V`` (see :class:`LowerWinogradConv2d`)."""

WINOGRAD_OUTPUT_MAPS: tuple[AffineMap, ...] = (
    affine_map(6, [_d(4), _d(5), _d(1), _d(0), _d(2) // 2, _d(3) // 2]),
    affine_map(6, [_d(2) % 2, _d(4)]), affine_map(6, [_d(3) % 2, _d(5)]),
    projection_map(6, range(4)),
)
"""The output transform's maps over the loops ``(n, f, i, j, a, b)``: ``M``,
``AT`` twice and the output (see :class:`LowerWinogradConv2d`)."""


class LowerWinogradConv2d(RewritePattern):
    """``dag.winograd_conv2d`` -> three linalg ops over the 2x2 output tiles
    (``TH x TW`` of them, ``T = TH*TW``), on the input zero-padded to ``2*TH + 2 x
    2*TW + 2``:

    1. the input transform, a generic: ``V[a, b, c, n, ty, tx] = sum_{r, s}
       BT[a, r] * BT[b, s] * x[n, c, 2*ty + r, 2*tx + s]`` (``4 x 4 x C x N x TH x
       TW``);
    2. the contraction with the filter, 16 GEMMs (:func:`batched_contraction`):
       ``M[p] = U[p] @ V[p]``, ``F x C`` by ``C x N*T``, the images side by side
       (each filter matrix is read once for the batch);
    3. the output transform, a generic accumulating into the bias broadcast:
       ``y[n, f, i, j] += sum_{a, b} AT[i mod 2, a] * AT[j mod 2, b] * M[a, b, f,
       n, i floordiv 2, j floordiv 2]`` over the ``OH x OW`` outputs.

    The transform matrices are constant operands (``dag.WINOGRAD_BT``,
    ``WINOGRAD_AT``); the micro-kernel lowering computes 1 and 3 with their
    entries unrolled."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: dag.WinogradConv2dOp, rewriter: PatternRewriter, /):
        lb = _builder(rewriter, op)
        x, u = op.input, op.weight
        n, c, h, wd = _shape(x)
        out = _shape(op.result)
        f = out[1]
        th, tw = -(-out[2] // 2), -(-out[3] // 2)
        ph, pw = _pair(op.padding)
        xp = lb.pad(x, [0, 0, ph, pw], [0, 0, 2 * th + 2 - h - ph, 2 * tw + 2 - wd - pw], 0.0)
        bt, at = constant_matrix(lb, dag.WINOGRAD_BT), constant_matrix(lb, dag.WINOGRAD_AT)
        # 1. loops (a, b, c, n, ty, tx, r, s)
        *ins, vmap = WINOGRAD_INPUT_MAPS
        v = lb.generic(
            list(zip((xp, bt, bt), ins)),
            lb.fill((4, 4, c, n, th, tw), 0.0),
            lambda b, d, p, q, acc: b.add(acc, b.mul(b.mul(p, q), d)),
            out_map=vmap,
            iterators=["parallel"] * 6 + ["reduction"] * 2,
        )
        # 2. M[p, f, (n, t)] = sum_c U[p, f, c] * V[p, c, (n, t)]
        m = batched_contraction(lb, lb.reshape(u, (16, f, c)),
                                lb.reshape(v, (16, c, n * th * tw)), transpose_b=False)
        m = lb.reshape(m, (4, 4, f, n, th, tw))
        # 3. loops (n, f, i, j, a, b)
        *ins, ymap = WINOGRAD_OUTPUT_MAPS
        res = lb.generic(
            list(zip((m, at, at), ins)),
            bias_init(lb, op.bias, out, 1),
            lambda b, mv, p, q, acc: b.add(acc, b.mul(b.mul(p, q), mv)),
            out_map=ymap,
            iterators=["parallel"] * 4 + ["reduction"] * 2,
        )
        rewriter.replace(op, [], [res])


class LowerConvTranspose2d(RewritePattern):
    """``dag.conv_transpose2d`` as a direct convolution (stride 1, same dilation):

    the input is spread with ``stride - 1`` zeros between elements and padded by
    ``dil*(K-1)`` (+ ``output_padding`` at the end): fill + strided
    ``insert_slice``, then ``extract_slice`` from ``padding`` on; the weight
    ``C x F/G x KH x KW`` is flipped in space and rearranged to
    ``F x C/G x KH x KW`` by a generic; then :func:`conv2d`.
    """

    @op_type_rewrite_pattern
    def match_and_rewrite(
        self, op: dag.ConvTranspose2dOp, rewriter: PatternRewriter, /
    ):
        lb = _builder(rewriter, op)
        x, w = op.input, op.weight
        n, c, h, wd = _shape(x)
        _, fg, kh, kw = _shape(w)
        out = _shape(op.result)
        g = op.groups.value.data
        s, p = _pair(op.stride), _pair(op.padding)
        opad, d = _pair(op.output_padding), _pair(op.dilation)
        k, size = (kh, kw), (h, wd)
        lo = [d[i] * (k[i] - 1) for i in range(2)]
        zs = [(size[i] - 1) * s[i] + 1 + 2 * lo[i] + opad[i] for i in range(2)]
        z = lb.fill((n, c, *zs), 0.0)
        z = lb.insert_slice(x, z, [0, 0, *lo], [1, 1, *s])
        z = lb.extract_slice(z, [0, 0, *p], (n, c, out[2] + lo[0], out[3] + lo[1]))
        # wf[g, f, c, kh, kw] = w[g*C/G + c, f, KH-1-kh, KW-1-kw]; no g when groups = 1
        cg = c // g
        if g == 1:
            flip = (_c(kh - 1) - _d(2), _c(kw - 1) - _d(3))
            wmap, wshape = AffineMap(4, 0, (_d(1), _d(0), *flip)), (fg, c, kh, kw)
        else:
            flip = (_c(kh - 1) - _d(3), _c(kw - 1) - _d(4))
            wmap = AffineMap(5, 0, (_d(0) * cg + _d(2), _d(1), *flip))
            wshape = (g, fg, cg, kh, kw)
        wf = lb.generic([(w, wmap)], wshape, lambda b, v, _: v)
        wf = lb.reshape(wf, (g * fg, cg, kh, kw))
        init = bias_init(lb, op.bias, out, 1)
        rewriter.replace(op, [], [conv2d(lb, z, wf, init, (1, 1), d, g)])


class LowerLinear(RewritePattern):
    """``dag.linear`` -> ``linalg.matmul(x2d, transpose(w))`` accumulating into the
    broadcast bias; leading dims of ``x`` are collapsed into rows."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: dag.LinearOp, rewriter: PatternRewriter, /):
        lb = _builder(rewriter, op)
        x, w = op.input, op.weight
        m, k = _shape(w)
        rows = math.prod(_shape(x)[:-1])
        x2 = lb.reshape(x, (rows, k))
        wt = lb.transpose(w, [1, 0])
        init = bias_init(lb, op.bias, (rows, m), 1)
        y = lb.insert(MatmulOp([x2, wt], [init], [init.type]))
        rewriter.replace(op, [], [lb.reshape(y, _shape(op.result))])


class LowerMatmul(RewritePattern):
    """``dag.matmul`` -> ``linalg.matmul`` for rank 2, else one batched generic
    (broadcast batch dims)."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: dag.MatmulOp, rewriter: PatternRewriter, /):
        lb = _builder(rewriter, op)
        a, b = op.lhs, op.rhs
        if len(_shape(a)) == 2 and len(_shape(b)) == 2:
            init = lb.fill(_shape(op.result), 0.0)
            res = lb.insert(MatmulOp([a, b], [init], [init.type]))
        else:
            res = batched_contraction(lb, a, b, transpose_b=False)
        rewriter.replace(op, [], [res])


class LowerScaledDotProductAttention(RewritePattern):
    """``dag.scaled_dot_product_attention`` -> scores ``q @ k^T * scale`` (generic),
    mask (added, or ``-inf`` where a boolean mask is false) and causal mask
    (``-inf`` where ``j > i``, from ``linalg.index``), softmax (zeros for a fully
    masked row, as PyTorch), ``@ v``."""

    @op_type_rewrite_pattern
    def match_and_rewrite(
        self, op: dag.ScaledDotProductAttentionOp, rewriter: PatternRewriter, /
    ):
        lb = _builder(rewriter, op)
        _float_elem(op, lb.elem)
        q, k, v = op.query, op.key, op.value
        e = _shape(q)[-1]
        scale = op.scale.value.data if op.scale is not None else 1.0 / math.sqrt(e)
        scores = batched_contraction(lb, q, k, transpose_b=True, scale=scale)
        shape = _shape(scores)
        rank = len(shape)
        causal = op.is_causal is not None
        mask = op.mask
        if mask is not None or causal:
            inputs = [(scores, identity_map(rank))]
            if mask is not None:
                inputs.append((mask, broadcast_map(_shape(mask), shape)))
            boolean = mask is not None and _elem(mask) == i1

            def body(b: BodyBuilder, s, *rest):
                ninf = b.const(-math.inf, s.type)
                if mask is not None:
                    s = b.select(rest[0], s, ninf) if boolean else b.add(s, rest[0])
                if causal:
                    later = b.cmp("gt", b.index(rank - 1), b.index(rank - 2))
                    s = b.select(later, ninf, s)
                return s

            scores = lb.generic(inputs, shape, body)
        probs = softmax(lb, scores, rank - 1, log=False, safe=True)
        res = batched_contraction(lb, probs, v, transpose_b=False)
        rewriter.replace(op, [], [lb.reshape(res, _shape(op.result))])


class LowerBatchNorm(RewritePattern):
    """``dag.batch_norm`` -> one generic:
    ``(x - mean) / sqrt(var + eps) * weight + bias`` with the statistics read along
    dim 1."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: dag.BatchNormOp, rewriter: PatternRewriter, /):
        lb = _builder(rewriter, op)
        _float_elem(op, lb.elem)
        shape = _shape(op.input)
        chan = projection_map(len(shape), [1])
        eps = op.eps.value.data

        def body(b: BodyBuilder, x, mean, var, w, bias, _):
            den = b.unary(mathd.SqrtOp, b.add(var, b.const(eps, x.type)))
            return b.add(b.mul(b.div(b.sub(x, mean), den), w), bias)

        res = lb.generic(
            [(op.input, identity_map(len(shape)))]
            + [(v, chan) for v in (op.mean, op.var, op.weight, op.bias)],
            shape,
            body,
        )
        rewriter.replace(op, [], [res])


def _normalize_body(eps: float):
    def body(b: BodyBuilder, x, mean, var, w, bias, _):
        rstd = b.unary(mathd.RsqrtOp, b.add(var, b.const(eps, x.type)))
        return b.add(b.mul(b.mul(b.sub(x, mean), rstd), w), bias)

    return body


class LowerLayerNorm(RewritePattern):
    """``dag.layer_norm`` -> mean and variance over the trailing dims (reduction
    generics), then ``(x - mean) * rsqrt(var + eps) * weight + bias``."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: dag.LayerNormOp, rewriter: PatternRewriter, /):
        lb = _builder(rewriter, op)
        _float_elem(op, lb.elem)
        shape = _shape(op.input)
        rank, lead = len(shape), len(shape) - len(_shape(op.weight))
        mean, var = moments(lb, op.input, list(range(lead, rank)))
        stat = projection_map(rank, list(range(lead)))
        affine = projection_map(rank, list(range(lead, rank)))
        res = lb.generic(
            [
                (op.input, identity_map(rank)),
                (mean, stat),
                (var, stat),
                (op.weight, affine),
                (op.bias, affine),
            ],
            shape,
            _normalize_body(op.eps.value.data),
        )
        rewriter.replace(op, [], [res])


class LowerGroupNorm(RewritePattern):
    """``dag.group_norm`` -> on the view ``N x G x C/G x ...`` (``expand_shape``):
    mean and variance over all but (n, g), then the normalisation with the affine
    parameters viewed as ``G x C/G``."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: dag.GroupNormOp, rewriter: PatternRewriter, /):
        lb = _builder(rewriter, op)
        _float_elem(op, lb.elem)
        shape = _shape(op.input)
        g = op.num_groups.value.data
        n, c, *rest = shape
        gshape = (n, g, c // g, *rest)
        rank = len(gshape)
        xg = lb.reshape(op.input, gshape)
        mean, var = moments(lb, xg, list(range(2, rank)))
        stat = projection_map(rank, [0, 1])
        affine = projection_map(rank, [1, 2])
        wg = lb.reshape(op.weight, (g, c // g))
        bg = lb.reshape(op.bias, (g, c // g))
        res = lb.generic(
            [
                (xg, identity_map(rank)),
                (mean, stat),
                (var, stat),
                (wg, affine),
                (bg, affine),
            ],
            gshape,
            _normalize_body(op.eps.value.data),
        )
        rewriter.replace(op, [], [lb.reshape(res, shape)])


class LowerMaxPool2d(RewritePattern):
    """``dag.max_pool2d`` -> ``-inf`` padding (enough for ceil_mode windows) and a
    window-max generic (``arith.maximumf``: NaN propagates, as in torch)."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: dag.MaxPool2dOp, rewriter: PatternRewriter, /):
        lb = _builder(rewriter, op)
        x = op.input
        _, _, h, w = _shape(x)
        out = _shape(op.result)
        k, s = _pair(op.kernel), _pair(op.stride)
        p, d = _pair(op.padding), _pair(op.dilation)
        hp = window_extent(h, out[2], k[0], s[0], p[0], d[0])
        wp = window_extent(w, out[3], k[1], s[1], p[1], d[1])
        xp = lb.pad(
            x, [0, 0, p[0], p[1]], [0, 0, hp - h - p[0], wp - w - p[1]], -math.inf
        )
        res = pool_window(lb, xp, out[2:], k, s, d, -math.inf, BodyBuilder.max)
        rewriter.replace(op, [], [res])


def avg_pool_divisors(
    size: int, out: int, kernel: int, stride: int, pad: int, count_include_pad: bool
) -> list[int]:
    """PyTorch's ``avg_pool2d`` divisor per output index along one axis: the window
    clipped to the padded input (``count_include_pad``) or to the input."""
    result = []
    for o in range(out):
        start = o * stride - pad
        end = min(start + kernel, size + pad)
        if count_include_pad:
            result.append(end - start)
        else:
            result.append(min(end, size) - max(start, 0))
    return result


class LowerAvgPool2d(RewritePattern):
    """``dag.avg_pool2d`` -> zero padding, window sums (generic), division by
    PyTorch's divisor (the window size, or its part inside the input without
    ``count_include_pad``; a constant table when it varies)."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: dag.AvgPool2dOp, rewriter: PatternRewriter, /):
        lb = _builder(rewriter, op)
        _float_elem(op, lb.elem)
        x = op.input
        _, _, h, w = _shape(x)
        out = _shape(op.result)
        k, s, p = _pair(op.kernel), _pair(op.stride), _pair(op.padding)
        hp = window_extent(h, out[2], k[0], s[0], p[0], 1)
        wp = window_extent(w, out[3], k[1], s[1], p[1], 1)
        xp = lb.pad(x, [0, 0, p[0], p[1]], [0, 0, hp - h - p[0], wp - w - p[1]], 0.0)
        sums = pool_window(lb, xp, out[2:], k, s, (1, 1), 0.0, BodyBuilder.add)
        inc = op.count_include_pad is not None
        rows = avg_pool_divisors(h, out[2], k[0], s[0], p[0], inc)
        cols = avg_pool_divisors(w, out[3], k[1], s[1], p[1], inc)
        res = divide_by_table(lb, sums, [[r * c for c in cols] for r in rows])
        rewriter.replace(op, [], [res])


def adaptive_bins(size: int, out: int) -> list[tuple[int, int]]:
    """PyTorch's adaptive pooling bins: ``[floor(i*size/out), ceil((i+1)*size/out))``."""
    return [((i * size) // out, -(-((i + 1) * size) // out)) for i in range(out)]


class LowerAdaptiveAvgPool2d(RewritePattern):
    """``dag.adaptive_avg_pool2d`` -> window sums then ``/ rows / cols`` (PyTorch's
    order). Equal bins (``size % out == 0``) are a plain strided pooling; unequal
    ones sum the whole input per bin, keeping the elements an ``i1`` bin-membership
    table selects (exact, but ``H*W`` work per output element)."""

    @op_type_rewrite_pattern
    def match_and_rewrite(
        self, op: dag.AdaptiveAvgPool2dOp, rewriter: PatternRewriter, /
    ):
        lb = _builder(rewriter, op)
        _float_elem(op, lb.elem)
        x = op.input
        n, c, h, w = _shape(x)
        oh, ow = _pair(op.output_size)
        bh, bw = adaptive_bins(h, oh), adaptive_bins(w, ow)
        if h % oh == 0 and w % ow == 0:
            k = (h // oh, w // ow)
            sums = pool_window(lb, x, (oh, ow), k, k, (1, 1), 0.0, BodyBuilder.add)
        else:

            def member(bins, size):
                flags = [int(lo <= j < hi) for lo, hi in bins for j in range(size)]
                return lb.reshape(lb.table(flags, i1), (len(bins), size))

            mh, mw = member(bh, h), member(bw, w)
            sums = lb.generic(
                [
                    (x, projection_map(6, [0, 1, 4, 5])),
                    (mh, projection_map(6, [2, 4])),
                    (mw, projection_map(6, [3, 5])),
                ],
                lb.fill((n, c, oh, ow), 0.0),
                lambda b, v, r, q, acc: b.add(
                    acc, b.select(b.and_(r, q), v, b.const(0.0, v.type))
                ),
                out_map=projection_map(6, [0, 1, 2, 3]),
                iterators=["parallel"] * 4 + ["reduction"] * 2,
            )
        res = divide_by_counts(
            lb, sums, [hi - lo for lo, hi in bh], [hi - lo for lo, hi in bw]
        )
        rewriter.replace(op, [], [res])


class LowerReduce(RewritePattern):
    """``dag.sum`` / ``dag.mean`` -> a reduction generic (then ``/ count`` for the
    mean); ``keepdim`` re-inserts the unit dims with ``expand_shape``."""

    @op_type_rewrite_pattern
    def match_and_rewrite(
        self, op: dag.SumOp | dag.MeanOp, rewriter: PatternRewriter, /
    ):
        lb = _builder(rewriter, op)
        if isinstance(op, dag.MeanOp):
            _float_elem(op, lb.elem)
        x = op.input
        shape = _shape(x)
        dims = sorted(_ints(op.dims))
        res = lb.reduce(
            [(x, identity_map(len(shape)))],
            shape,
            dims,
            0,
            lambda b, v, acc: b.add(v, acc),
        )
        if isinstance(op, dag.MeanOp):
            count = math.prod(shape[d] for d in dims)
            res = lb.map(
                _shape(res), lambda b, s: b.div(s, b.const(count, s.type)), res
            )
        rewriter.replace(op, [], [lb.reshape(res, _shape(op.result))])


class LowerReshape(RewritePattern):
    """``dag.reshape`` -> ``tensor.collapse_shape`` and/or ``tensor.expand_shape``."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: dag.ReshapeOp, rewriter: PatternRewriter, /):
        lb = _builder(rewriter, op)
        rewriter.replace(op, [], [lb.reshape(op.input, _shape(op.result))])


class LowerExpand(RewritePattern):
    """``dag.expand`` -> a generic copying through a broadcasting map."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: dag.ExpandOp, rewriter: PatternRewriter, /):
        lb = _builder(rewriter, op)
        shape = _shape(op.result)
        res = (
            op.input
            if _shape(op.input) == shape
            else lb.map(shape, lambda b, x: x, op.input)
        )
        rewriter.replace(op, [], [res])


def _ratio(a: int, c: int, t: Attribute) -> float:
    """``a / c`` rounded as PyTorch computes resize scales: in float (its opmath type
    for f16 / bf16 / f32), in double for f64."""
    if isinstance(t, Float64Type):
        return a / c
    return float(np.float32(a) / np.float32(c))


def _nearest_index(b: BodyBuilder, dst: SSAValue, size: int, out: int, t) -> SSAValue:
    """PyTorch's legacy nearest source index:
    ``min(floor(dst * float(size) / out), size - 1)`` in the element type."""
    if size == out:
        return dst
    scale = _ratio(size, out, t)
    v = b.unary(mathd.FloorOp, b.mul(b.index_to_float(dst, t), b.const(scale, t)))
    return b.min(b.float_to_index(v), b.index_const(size - 1))


def _linear_source(
    b: BodyBuilder, dst: SSAValue, size: int, out: int, align: bool, t
) -> tuple[SSAValue, SSAValue, SSAValue, SSAValue]:
    """PyTorch's bilinear source for one axis (``area_pixel_compute_source_index``):
    ``(i0, i1, lambda0, lambda1)``. ``align_corners``: ``src = dst*(size-1)/(out-1)``;
    else ``src = max((dst + 0.5) * size/out - 0.5, 0)``; ``i0 = floor(src)``,
    ``i1 = min(i0 + 1, size - 1)``, ``lambda1 = src - i0``."""
    pos = b.index_to_float(dst, t)
    if align:
        scale = _ratio(size - 1, out - 1, t) if out > 1 else 0.0
        src = b.mul(b.const(scale, t), pos)
    else:
        half = b.const(0.5, t)
        src = b.sub(b.mul(b.const(_ratio(size, out, t), t), b.add(pos, half)), half)
        src = b.max(src, b.const(0.0, t))
    i0 = b.float_to_index(src)
    i1 = b.min(b.emit(arith.AddiOp(i0, b.index_const(1))), b.index_const(size - 1))
    l1 = b.sub(src, b.index_to_float(i0, t))
    l0 = b.sub(b.const(1.0, t), l1)
    return i0, i1, l0, l1


class LowerInterpolate(RewritePattern):
    """``dag.interpolate`` -> a generic over the output whose body computes the
    source indices from ``linalg.index`` (PyTorch's formulas, in the element type)
    and reads the input with ``tensor.extract``; bilinear is
    ``l0h*(l0w*x00 + l1w*x01) + l1h*(l0w*x10 + l1w*x11)``."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: dag.InterpolateOp, rewriter: PatternRewriter, /):
        lb = _builder(rewriter, op)
        _float_elem(op, lb.elem)
        x = op.input
        _, _, h, w = _shape(x)
        out = _shape(op.result)
        t = lb.elem
        nearest = op.mode.data == "nearest"
        align = op.align_corners is not None

        def read(b: BodyBuilder, n, c, i, j):
            return b.emit(tensor.ExtractOp(x, [n, c, i, j], t))

        def body(b: BodyBuilder, _):
            n, c, i, j = (b.index(d) for d in range(4))
            if nearest:
                return read(
                    b,
                    n,
                    c,
                    _nearest_index(b, i, h, out[2], t),
                    _nearest_index(b, j, w, out[3], t),
                )
            h0, h1, lh0, lh1 = _linear_source(b, i, h, out[2], align, t)
            w0, w1, lw0, lw1 = _linear_source(b, j, w, out[3], align, t)

            def row(r):
                return b.add(
                    b.mul(lw0, read(b, n, c, r, w0)), b.mul(lw1, read(b, n, c, r, w1))
                )

            return b.add(b.mul(lh0, row(h0)), b.mul(lh1, row(h1)))

        rewriter.replace(op, [], [lb.generic([], out, body)])


class LowerPermute(RewritePattern):
    """``dag.permute`` -> ``linalg.transpose``."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: dag.PermuteOp, rewriter: PatternRewriter, /):
        lb = _builder(rewriter, op)
        rewriter.replace(op, [], [lb.transpose(op.input, _ints(op.perm))])


class LowerConcat(RewritePattern):
    """``dag.concat`` -> ``tensor.empty`` + one ``tensor.insert_slice`` per input."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: dag.ConcatOp, rewriter: PatternRewriter, /):
        lb = _builder(rewriter, op)
        dim = op.dim.value.data
        if len(op.inputs) == 1:
            rewriter.replace(op, [], [op.inputs[0]])
            return
        res = lb.empty(_shape(op.result))
        offset = 0
        for v in op.inputs:
            offsets = [0] * len(_shape(v))
            offsets[dim] = offset
            res = lb.insert_slice(v, res, offsets)
            offset += _shape(v)[dim]
        rewriter.replace(op, [], [res])


class LowerSlice(RewritePattern):
    """``dag.slice`` -> ``tensor.extract_slice`` (the step is its stride)."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: dag.SliceOp, rewriter: PatternRewriter, /):
        lb = _builder(rewriter, op)
        shape = _shape(op.input)
        dim = op.dim.value.data
        offsets, strides = [0] * len(shape), [1] * len(shape)
        offsets[dim], strides[dim] = op.start.value.data, op.step.value.data
        res = lb.extract_slice(op.input, offsets, _shape(op.result), strides)
        rewriter.replace(op, [], [res])


class LowerSelect(RewritePattern):
    """``dag.select`` -> ``tensor.extract_slice`` of size 1, then ``collapse_shape``
    drops the dim."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: dag.SelectOp, rewriter: PatternRewriter, /):
        lb = _builder(rewriter, op)
        shape = list(_shape(op.input))
        dim = op.dim.value.data
        offsets = [0] * len(shape)
        offsets[dim], shape[dim] = op.index.value.data, 1
        piece = lb.extract_slice(op.input, offsets, shape)
        rewriter.replace(op, [], [lb.reshape(piece, _shape(op.result))])


def _edge_pad(
    lb: LinalgBuilder, x: SSAValue, dim: int, before: int, after: int, reflect: bool
) -> SSAValue:
    """Reflect / replicate padding of one dim: the result is ``tensor.empty`` with
    ``x`` and the two edge pieces inserted; each piece is a generic reading ``x``
    through an affine map of the piece index ``j`` along ``dim``: reflect
    ``before - j`` and ``n - 2 - j``, replicate ``0`` and ``n - 1``."""
    shape = _shape(x)
    rank, n = len(shape), shape[dim]

    def piece(count: int, expr: AffineExpr) -> SSAValue:
        pshape = list(shape)
        pshape[dim] = count
        exprs = [_d(i) if i != dim else expr for i in range(rank)]
        return lb.generic(
            [(x, AffineMap(rank, 0, tuple(exprs)))], pshape, lambda b, v, _: v
        )

    full = list(shape)
    full[dim] = n + before + after
    res = lb.empty(full, _elem(x))
    offsets = [0] * rank
    offsets[dim] = before
    res = lb.insert_slice(x, res, offsets)
    if before:
        expr = _c(before) - _d(dim) if reflect else _c(0)
        res = lb.insert_slice(piece(before, expr), res, [0] * rank)
    if after:
        expr = _c(n - 2) - _d(dim) if reflect else _c(n - 1)
        offsets[dim] = before + n
        res = lb.insert_slice(piece(after, expr), res, offsets)
    return res


class LowerPad(RewritePattern):
    """``dag.pad`` -> the positive pads (constant: fill + insert_slice; reflect /
    replicate: one dim at a time, see ``_edge_pad``), then one ``extract_slice``
    cropping the negative ones, which is PyTorch's meaning of a negative pad."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: dag.PadOp, rewriter: PatternRewriter, /):
        lb = _builder(rewriter, op)
        x = op.input
        shape = _shape(x)
        rank = len(shape)
        pads = _ints(op.pads)
        low, high = [0] * rank, [0] * rank
        for i in range(len(pads) // 2):
            low[rank - 1 - i], high[rank - 1 - i] = pads[2 * i], pads[2 * i + 1]
        mode = op.mode.data
        pos_low, pos_high = [max(v, 0) for v in low], [max(v, 0) for v in high]
        if mode == "constant":
            res = lb.pad(x, pos_low, pos_high, op.value.value.data)
        else:
            res = x
            for dim in range(rank):
                if mode == "reflect" and max(pos_low[dim], pos_high[dim]) >= shape[dim]:
                    raise _fail(
                        op,
                        f"reflect padding of dim {dim} must be smaller "
                        f"than its size {shape[dim]}",
                    )
                if pos_low[dim] or pos_high[dim]:
                    res = _edge_pad(
                        lb, res, dim, pos_low[dim], pos_high[dim], mode == "reflect"
                    )
        crop = [-min(v, 0) for v in low]
        res = lb.extract_slice(res, crop, _shape(op.result))
        rewriter.replace(op, [], [res])


class LowerConstant(RewritePattern):
    """``dag.constant`` -> ``arith.constant`` with the same ``dense`` /
    ``dense_resource`` value."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: dag.ConstantOp, rewriter: PatternRewriter, /):
        rewriter.replace(op, arith.ConstantOp(op.value, op.result.type))


class InlineFused(RewritePattern):
    """``dag.fused`` -> its body's ops in its place (block arguments replaced by its
    operands, its results by the yielded values), to be lowered like any other; the
    CPU and Vulkan pipelines outline it into one kernel first
    (:mod:`dagc.lowering.outline_kernels`)."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: dag.FusedOp, rewriter: PatternRewriter, /):
        term = op.yield_op
        values = list(term.arguments)
        rewriter.erase(term)
        rewriter.inline_block(op.body.block, InsertPoint.before(op), op.inputs)
        rewriter.replace(op, [], values)


class RejectOpaque(RewritePattern):
    """Fails on ``dag.opaque``, which only torch can run."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: dag.OpaqueOp, rewriter: PatternRewriter, /):
        raise _fail(
            op,
            f"it is an opaque module ({op.cls_name.data}) that only torch can run; "
            "allocate it to HOST, or run with keep-opaque=true to leave it in place",
        )


PATTERNS: tuple[RewritePattern, ...] = (
    LowerElementwise(), LowerSoftmax(), LowerConv2d(), LowerWinogradConv2d(), LowerConvTranspose2d(),
    LowerLinear(), LowerMatmul(), LowerScaledDotProductAttention(), LowerBatchNorm(),
    LowerLayerNorm(), LowerGroupNorm(), LowerMaxPool2d(), LowerAvgPool2d(),
    LowerAdaptiveAvgPool2d(), LowerReduce(), LowerReshape(), LowerExpand(),
    LowerInterpolate(), LowerPermute(), LowerConcat(), LowerSlice(), LowerSelect(),
    LowerPad(), LowerConstant(), InlineFused(),
)  # fmt: skip
"""One pattern per op family; together they cover every dag op but ``dag.opaque``."""


@dataclass(frozen=True)
class ConvertDagToLinalgPass(ModulePass):
    """Lower every dag op to linalg on tensors (+ tensor, arith, math).

    Options:
        keep_opaque: leave ``dag.opaque`` ops in place instead of failing on them
            (default false).

    Raises:
        PassFailedException: an op cannot be lowered (``dag.opaque`` without
            ``keep_opaque``, an integer element type where the op needs floats,
            reflect padding as large as the dim); the message names the op and its
            ``name``.
    """

    name = "convert-dag-to-linalg"

    keep_opaque: bool = False

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        patterns = list(PATTERNS)
        if not self.keep_opaque:
            patterns.append(RejectOpaque())
        PatternRewriteWalker(
            GreedyRewritePatternApplier(patterns),
            apply_recursively=False,
        ).rewrite_module(op)
