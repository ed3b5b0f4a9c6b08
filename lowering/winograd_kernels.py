"""Vector kernels for the transforms of Winograd's F(2x2, 3x3) (patterns of
``dagc-linalg-to-microkernels``).

``dag-to-linalg`` lowers ``dag.winograd_conv2d`` to an input transform, 16 GEMMs
and an output transform (see ``LowerWinogradConv2d``); the GEMMs are batched
contractions that the micro-kernel GEMM already computes. The two transforms are
``linalg.generic`` ops with constant transform-matrix operands, recognized here
from their indexing maps, their product-sum bodies and those constants (which must
be ``dag.WINOGRAD_BT`` and ``WINOGRAD_AT``):

- input, ``V[a, b, c, n, ty, tx] = sum_{r, s} BT[a, r] BT[b, s] x[n, c, 2ty + r,
  2tx + s]`` on the zero-padded input, read from the unpadded one when the op
  reads a padded copy (``_unpadded``; the copy is erased): per image and channel
  (an ``scf.parallel`` over both), per row of tiles, 16 tiles at a time along a
  vector: the 4x4 tile's rows are read as 16 stride-2 vectors (every other lane
  of a masked load, ``_strided_vector``; lanes whose column is in the padding are
  zeros, and so are rows in the padding), then ``B^T d B`` is 32 vector additions
  and subtractions (the matrix's entries are 0 and +-1, unrolled);
- output, ``y[n, f, i, j] += sum_{a, b} AT[i mod 2, a] AT[j mod 2, b] M[a, b,
  f, n, i // 2, j // 2]``: per image and output channel, per row of tiles, 16
  tiles at a time: 16 vector loads of ``M``, ``A^T m A`` (24 additions and
  subtractions) gives the 2x2 outputs of 16 tiles, whose two columns are
  interleaved by shuffles into the 32 outputs of each of the two output rows. The
  elementwise ops around the output transform are fused as around a GEMM
  (:class:`~dagc.lowering.linalg_to_microkernels.Fusion`: a bias broadcast before,
  an activation or residual add after).

A batch whose ``V`` and ``M`` together exceed ``WINOGRAD_GROUP_BYTES`` (8 MiB) runs
the three steps a group of images at a time, in one ``scf.for`` over the groups
(:class:`_Groups`): the input transform of the group's images into the first part
of ``V``'s buffer, the 16 GEMMs on those columns, the output transform of the
group's images from ``M``'s, so that ``V`` and ``M`` stay in the last-level cache
between the steps, with no copy of the input or the output per group.

Both transforms write every element of their output once, with vector stores masked at the
right edge, and read nothing out of bounds: loads are masked to the columns
inside the input, and rows of tiles that reach into the padding above or below
are emitted on their own with those rows zero.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from xdsl.dialects import arith, memref
from xdsl.dialects.builtin import DenseIntOrFPElementsAttr, ShapedType
from xdsl.dialects.linalg.attrs import IteratorType
from xdsl.dialects.linalg.ops import FillOp, GenericOp
from xdsl.ir import Block, BlockArgument, Operation, SSAValue
from xdsl.ir.affine import AffineMap
from xdsl.pattern_rewriter import PatternRewriter, RewritePattern, op_type_rewrite_pattern
from xdsl.traits import SymbolTable

from dagc.dialects.dag import WINOGRAD_AT, WINOGRAD_BT
from dagc.lowering.dag_to_linalg import WINOGRAD_INPUT_MAPS, WINOGRAD_OUTPUT_MAPS
from dagc.lowering.linalg_to_microkernels import (
    _VIEWS,
    LANES,
    PARALLEL_MIN_COPY,
    WINOGRAD_GROUP_BYTES,
    Fusion,
    _Access,
    _Builder,
    _Contraction,
    _first,
    _inert,
    _layout,
    _load,
    _Matrix,
    _pointer,
    _root,
    _shuffle,
    _store,
    _strided_vector,
    _tile_start,
    _tile_store,
    _unpadded,
    _zeros,
    effect_before,
    emit_batched_gemm,
    erase_padding,
)

_Layout = tuple[tuple[int, ...], tuple[int, ...], int]


def _constant_rows(value: SSAValue) -> tuple[tuple[float, ...], ...] | None:
    """The rows of the constant 2-D f32 matrix a ``memref.get_global`` of a
    constant global reads, or None."""
    op = value.owner
    if not isinstance(op, memref.GetGlobalOp):
        return None
    glob = SymbolTable.lookup_symbol(op, op.name_)
    if not isinstance(glob, memref.GlobalOp) or glob.constant is None or not isinstance(
            glob.initial_value, DenseIntOrFPElementsAttr):
        return None
    rows, cols = glob.type.get_shape()  # pyright: ignore
    values = list(glob.initial_value.get_values())
    return tuple(tuple(float(v) for v in values[r * cols:(r + 1) * cols]) for r in range(rows))


def _is_matrix(value: SSAValue, rows: Sequence[Sequence[float]]) -> bool:
    found = _constant_rows(value)
    return found is not None and found == tuple(tuple(float(v) for v in r) for r in rows)


def _product_sum(block: Block) -> bool:
    """Whether a linalg body yields ``acc + x0 * x1 * ...`` (``acc`` its last
    argument, the product of each other argument once, in any grouping and
    order) and holds nothing else."""
    *ins, acc = block.args
    ops = list(block.ops)
    if len(ops) != len(ins) + 1:  # len(ins) - 1 products, the sum, the yield
        return False
    (value,) = ops[-1].operands
    add = value.owner
    if not isinstance(add, arith.AddfOp) or acc not in add.operands:
        return False
    leaves: list[int] = []

    def walk(v: SSAValue) -> bool:
        if isinstance(v, BlockArgument) and v.block is block:
            leaves.append(v.index)
            return True
        mul = v.owner
        return isinstance(mul, arith.MulfOp) and walk(mul.lhs) and walk(mul.rhs)

    product = add.rhs if add.lhs is acc else add.lhs
    return walk(product) and sorted(leaves) == list(range(len(ins)))


def _zero_fill(op: Operation, out: SSAValue) -> FillOp | None:
    """The ``linalg.fill`` of 0 of ``out``'s buffer right before ``op`` (past ops
    without memory effects), or None."""
    prev = effect_before(op)
    if not isinstance(prev, FillOp) or _root(prev.outputs[0]) is not _root(out):
        return None
    value = prev.inputs[0].owner
    if not (isinstance(value, arith.ConstantOp) and value.value.value.data == 0.0  # pyright: ignore
            and prev.outputs[0].type == out.type):
        return None
    return prev


def _transform(op: GenericOp, parallel: int, maps: tuple[AffineMap, ...],
               matrix: Sequence[Sequence[float]]) -> tuple[SSAValue, SSAValue] | None:
    """``(source, destination)`` when ``op`` is a transform ``dst += T src T^T``
    with the constant ``matrix`` as both ``T`` operands: ``parallel`` parallel then
    two reduction loops, the indexing ``maps``, inputs ``(src, T, T)``, one output,
    buffer semantics, a product-sum body; else None."""
    iterators = [it.data for it in op.get_iterator_types()]
    if not (not op.results and len(op.inputs) == 3 and len(op.outputs) == 1
            and iterators == [IteratorType.PARALLEL] * parallel + [IteratorType.REDUCTION] * 2
            and _product_sum(op.body.block)):
        return None
    (src, t0, t1), (dst,) = op.inputs, op.outputs
    if (tuple(m.data for m in op.get_indexing_maps()) != maps
            or not (_is_matrix(t0, matrix) and _is_matrix(t1, matrix))):
        return None
    return src, dst


def _combine(b: _Builder, terms: Sequence[tuple[float, SSAValue]]) -> SSAValue:
    """``sum(c * v)`` over the terms, whose ``c`` are 0 or +-1 (at least one
    nonzero; the entries of ``B^T`` and ``A^T``): additions and subtractions."""
    total: SSAValue | None = None
    for c, v in terms:
        assert c in (0, 1, -1), "a transform entry other than 0 and +-1"
        if c == 0:
            continue
        if total is None:
            total = v if c > 0 else b.add(arith.NegfOp(v)).results[0]
        else:
            kind = arith.AddfOp if c > 0 else arith.SubfOp
            total = b.add(kind(total, v)).results[0]
    assert total is not None, "a transform row of zeros"
    return total


def _planes(b: _Builder, pointer: SSAValue, layout: _Layout, batch: Sequence[tuple[SSAValue | int, int]],
            ) -> list[list[_Matrix]]:
    """The ``TH x TW`` matrices ``[a][b]`` of a ``4 x 4 x K x N x TH x TW`` buffer
    at the indices ``batch`` (``(index, dim)`` pairs for ``k`` and ``n``)."""
    _, t, offset = layout
    base = b.linear([(i, t[d]) for i, d in batch], offset)
    return [[_Matrix(pointer, b.linear([(base, 1)], a * t[0] + c * t[1]), t[4])
             for c in range(4)] for a in range(4)]


def _groups(tiles: int) -> list[tuple[int, int]]:
    """The groups of up to 16 tiles along a row: ``(first, count)``."""
    return [(g, min(LANES, tiles - g)) for g in range(0, tiles, LANES)]


@dataclass(frozen=True)
class _InputTransform:
    """An input transform: ``x`` (``N x C x H x W``, read with ``pad`` = (top,
    left) rows and columns of zeros before it, as far as the tiles reach) -> ``v``
    (``4 x 4 x C x N x TH x TW``), with the fill of zeros that initializes ``v``
    and the ops that built the zero-padded copy of ``x`` the op reads (``padding``,
    erased with it; then ``x`` is the copy's source, see ``_unpadded``)."""

    x: SSAValue
    lx: _Layout
    pad: tuple[int, int]
    v: SSAValue
    lv: _Layout
    fill: FillOp
    padding: list[Operation]

    @staticmethod
    def of(op: GenericOp) -> _InputTransform | None:
        """The transform ``op`` computes (see the module docstring), or None."""
        operands = _transform(op, 6, WINOGRAD_INPUT_MAPS, WINOGRAD_BT)
        if operands is None:
            return None
        x, v = operands
        lx, lv = _layout(x), _layout(v)
        fill = _zero_fill(op, v)
        if lx is None or lv is None or lx[1][3] != 1 or lv[1][5] != 1 or fill is None:
            return None
        pad, padding = (0, 0), []
        unpadded = _unpadded(op, x)
        if unpadded is not None and _layout(unpadded[0])[1][3] == 1:  # pyright: ignore
            x, pad, padding = unpadded
            lx = _layout(x)  # pyright: ignore
        return _InputTransform(x, lx, pad, v, lv, fill, padding)  # pyright: ignore


def _window_vector(b: _Builder, xm: _Matrix, row: SSAValue | int, start: int, lanes: int,
                   width: int) -> SSAValue:
    """``vector<16xf32>`` of ``x[row, start + 2*l]`` for ``l < lanes``, 0 where
    that column is outside ``[0, width)`` and in the other lanes: a stride-2 load
    of the columns inside, shifted into place when the first are outside."""
    lo = min(max(-(-(-start) // 2), 0), lanes)  # first lane inside
    hi = min(max(-(-(width - start) // 2), lo), lanes)  # past the last
    if hi == lo:
        return _zeros(b)
    inside = _strided_vector(b, xm, row, start + 2 * lo, 2, hi - lo)
    if lo == 0:
        return inside
    return _shuffle(b, inside, [LANES if q < lo else q - lo for q in range(LANES)], _zeros(b))


def emit_input_transform(b: _Builder, t: _InputTransform, parallel: bool,
                         image0: SSAValue | int = 0) -> None:
    """Emit ``t`` (see the module docstring): the rows of tiles that read only
    rows of ``x`` in a loop, the others (reaching into the padding above or below)
    each on its own with their zero rows known. ``V``'s images are ``x``'s from
    ``image0`` on (``V`` may hold fewer images than ``x``: a group)."""
    (_, c, h, wd), tx, ox = t.lx
    (_, _, _, n, th, tw), _, _ = t.lv
    top, left = t.pad
    inner = (min(-(-top // 2), th), min(max((h + top - 4) // 2 + 1, 0), th))

    def channel(b: _Builder, ni: SSAValue | int, ci: SSAValue | int) -> None:
        xm = _Matrix(_pointer(b, t.x),
                     b.linear([(ni, tx[0]), (image0, tx[0]), (ci, tx[1])], ox), tx[2])
        vm = _planes(b, _pointer(b, t.v), t.lv, [(ci, 2), (ni, 3)])

        def row(b: _Builder, ty: SSAValue | int) -> None:
            for g0, lanes in _groups(tw):
                mask = None if lanes == LANES else _first(b, lanes)
                d = []
                for r in range(4):
                    y = b.linear([(ty, 2)], r - top)
                    if isinstance(y, int) and not 0 <= y < h:
                        d.append([_zeros(b)] * 4)
                        continue
                    d.append([_window_vector(b, xm, y, 2 * g0 + s - left, lanes, wd)
                              for s in range(4)])
                rows = [[_combine(b, [(WINOGRAD_BT[a][r], d[r][s]) for r in range(4)])
                         for s in range(4)] for a in range(4)]
                for a in range(4):
                    for k in range(4):
                        value = _combine(b, [(WINOGRAD_BT[k][s], rows[a][s]) for s in range(4)])
                        _store(b, value, vm[a][k], ty, g0, mask)

        for ty in range(inner[0]):
            row(b, ty)
        b.loop(inner[0], max(inner), 1, lambda b, ty, _: row(b, ty) or [])
        for ty in range(max(inner), th):
            row(b, ty)

    b.nest([n, c], lambda b, ivs: channel(b, *ivs),
           parallel and n * c * th * tw * 16 >= PARALLEL_MIN_COPY and n * c > 1)


@dataclass(frozen=True)
class _OutputTransform:
    """An output transform: ``m`` (``4 x 4 x F x N x TH x TW``) -> ``out`` (``N x
    F x OH x OW``, rows contiguous)."""

    m: SSAValue
    lm: _Layout
    out: SSAValue
    lo: _Layout

    @staticmethod
    def of(op: GenericOp) -> _OutputTransform | None:
        """The transform ``op`` computes (see the module docstring), or None."""
        operands = _transform(op, 4, WINOGRAD_OUTPUT_MAPS, WINOGRAD_AT)
        if operands is None:
            return None
        m, out = operands
        lm, lo = _layout(m), _layout(out)
        if lm is None or lo is None or lm[1][5] != 1 or lo[1][2:] != (lo[0][3], 1):
            return None
        return _OutputTransform(m, lm, out, lo)

    def output(self) -> tuple[_Access, tuple[int, ...]]:
        """The output as an access over the kernel index space ``(N, F, OH*OW)``."""
        (n, f, oh, ow), to, oo = self.lo
        return _Access(_root(self.out), oo, (to[0], to[1], 1)), (n, f, oh * ow)


def emit_output_transform(b: _Builder, t: _OutputTransform, fusion: Fusion,
                          parallel: bool, image0: SSAValue | int = 0) -> None:
    """Emit ``t`` with the ``fusion`` (see the module docstring). ``M``'s images
    are the output's from ``image0`` on (``M`` may hold fewer images: a group)."""
    (_, f, oh, ow), _, _ = t.lo
    (_, _, _, n, _, tw), _, _ = t.lm
    out, _ = t.output()
    low = [q // 2 + (q % 2) * LANES for q in range(LANES)]  # o0[0], o1[0], o0[1], ...
    high = [x + LANES // 2 for x in low]

    def channel(b: _Builder, ni: SSAValue | int, fi: SSAValue | int) -> None:
        mm = _planes(b, _pointer(b, t.m), t.lm, [(fi, 2), (ni, 3)])
        image = b.linear([(ni, 1), (image0, 1)])
        cm = out.matrix(b, (image,)).at(b)
        bound = fusion.bind(b, (image,))
        fused = None if bound is None else bound.at(b)

        def tiles(b: _Builder, ty: SSAValue | int, rows: int) -> None:
            for g0, lanes in _groups(tw):
                mask = None if lanes == LANES else _first(b, lanes)
                mv = [[_load(b, mm[a][k], ty, g0, LANES, mask) for k in range(4)]
                      for a in range(4)]
                count = min(2 * LANES, ow - 2 * g0)  # output columns of these tiles
                vectors = -(-count // LANES)
                last = count - (vectors - 1) * LANES
                cmask = None if last == LANES else _first(b, last)
                for i in range(rows):
                    ti = [_combine(b, [(WINOGRAD_AT[i][a], mv[a][k]) for a in range(4)])
                          for k in range(4)]
                    o = [_combine(b, [(WINOGRAD_AT[j][k], ti[k]) for k in range(4)])
                         for j in range(2)]
                    values = [_shuffle(b, o[0], lanes_, o[1]) for lanes_ in (low, high)]
                    j0 = b.linear([(ty, 2 * ow)], i * ow + 2 * g0)
                    acc = _tile_start(b, cm, fused, True, fi, 1, j0, vectors, cmask)
                    acc = [b.add(arith.AddfOp(acc[v], values[v])).results[0]
                           for v in range(vectors)]
                    _tile_store(b, acc, cm, fused, True, fi, 1, j0, vectors, cmask)

        b.loop(0, oh // 2, 1, lambda b, ty, _: tiles(b, ty, 2) or [])
        if oh % 2:
            tiles(b, oh // 2, 1)

    b.nest([n, f], lambda b, ivs: channel(b, *ivs),
           parallel and n * f * oh * ow * 4 >= PARALLEL_MIN_COPY and n * f > 1)


def _row_major(shape: Sequence[int]) -> tuple[int, ...]:
    """The strides of a contiguous row-major array of ``shape``."""
    return tuple(ShapedType.strides_for_shape(shape))


def _group_size(images: int, per_image: int, limit: int) -> int:
    """How many images of a batch of ``images`` run together when each takes
    ``per_image`` bytes: all when they fit in ``limit``, else the largest divisor
    of the batch that fits (1 at least), so that the groups are alike."""
    if images * per_image <= limit:
        return images
    return max((d for d in range(2, images) if images % d == 0 and d * per_image <= limit),
               default=1)


def _used_only_by(root: SSAValue, users: set[Operation]) -> bool:
    """Whether every op that uses ``root``, directly or through views of it, is in
    ``users``, a view or a ``memref.dealloc``."""
    for use in root.uses:
        op = use.operation
        if isinstance(op, _VIEWS):
            if not _used_only_by(op.results[0], users):
                return False
        elif op not in users and not isinstance(op, memref.DeallocOp):
            return False
    return True


@dataclass(frozen=True)
class _Groups:
    """A Winograd convolution whose ``V`` and ``M`` exceed ``WINOGRAD_GROUP_BYTES``, as
    ``dag-to-linalg`` lowers it: the input transform ``into`` (its op ``first``),
    the 16 GEMMs ``product`` (``M[p] = U[p] @ V[p]``, ``F x C`` by ``C x N*T``,
    after a zero fill of ``M``) and the output transform ``out_of`` (its op
    ``last``, after ``init``, the op that initializes the output, if any), ``V``
    and ``M`` read by nothing else, and nothing else between them but views,
    allocations, deallocations and ops without memory effects (the steps move to
    where ``last`` is). Emitted as a loop over groups of ``group`` images: each
    group's three steps use the first ``group``
    images' worth of ``V`` and ``M`` (a contiguous ``4 x 4 x C x group x TH x TW``
    and ``16 x F x group*T``), and read and write their images of the input and
    output in place. No copy of the input or output is made per group."""

    into: _InputTransform
    first: GenericOp
    product: _Contraction
    product_op: GenericOp
    out_of: _OutputTransform
    last: GenericOp
    init: Operation | None
    group: int

    @staticmethod
    def of(first: GenericOp, into: _InputTransform,
           limit: int = WINOGRAD_GROUP_BYTES) -> _Groups | None:
        """The grouped convolution whose input transform is ``first``, or None
        (one image, ``V`` and ``M`` within ``limit`` bytes, another shape of IR)."""
        (_, _, c, n, th, tw), _, _ = into.lv
        # The ops with memory effects after `first`, up to the output transform:
        # M's zero fill, the contraction, maybe the output's init, the transform.
        steps: list[Operation] = []
        op = first.next_op
        while op is not None and not (steps and isinstance(steps[-1], GenericOp)
                                      and _OutputTransform.of(steps[-1]) is not None):
            if not (_inert(op) or isinstance(op, memref.DeallocOp)):
                steps.append(op)
            op = op.next_op
        if len(steps) not in (3, 4) or not all(isinstance(s, GenericOp) for s in steps[1:]):
            return None
        zero, product_op, *init, out_op = steps
        product = _Contraction.of(product_op)  # pyright: ignore
        out_of = _OutputTransform.of(out_op)  # pyright: ignore
        if product is None or out_of is None:
            return None
        f, tiles = product.m, th * tw
        v, m = _root(into.v), product.c.root
        if not (product.batch == (16,) and product.k == c and product.n == n * tiles
                and product.b.root is v and product.a.root not in (v, m)
                and product.b.strides == (c * n * tiles, n * tiles, 1) and product.b.offset == 0
                and product.c.strides == (f * n * tiles, n * tiles, 1) and product.c.offset == 0
                and _root(out_of.m) is m and out_of.lm == ((4, 4, f, n, th, tw),
                                                           _row_major((4, 4, f, n, th, tw)), 0)
                and into.lv[1:] == (_row_major(into.lv[0]), 0)
                and _zero_fill(product_op, m) is zero  # pyright: ignore
                and _used_only_by(v, {into.fill, first, product_op})
                and _used_only_by(m, {zero, product_op, out_op})):
            return None
        group = _group_size(n, 16 * (c + f) * tiles * 4, limit)
        if group == n:
            return None
        return _Groups(into, first, product, product_op, out_of, out_op,  # pyright: ignore
                       init[0] if init else None, group)

    def emit(self, b: _Builder, out_fusion: Fusion, zero: Fusion, parallel: bool) -> None:
        """Emit the loop over the groups (see the class docstring); ``zero`` is the
        GEMMs' fusion (their zero init), ``out_fusion`` the output transform's."""
        (_, _, c, n, th, tw), _, _ = self.into.lv
        f, g = self.product.m, self.group
        cols = g * th * tw
        v_shape, m_shape = (4, 4, c, g, th, tw), (4, 4, f, g, th, tw)
        into = replace(self.into, lv=(v_shape, _row_major(v_shape), 0))
        out_of = replace(self.out_of, lm=(m_shape, _row_major(m_shape), 0))
        v, m = self.product.b.root, self.product.c.root

        def operands(b: _Builder, p: SSAValue | int):
            cm = _Matrix(m, b.linear([(p, f * cols)]), cols)
            bound = zero.bind(b, (p,))
            return (self.product.a.matrix(b, (p,)), _Matrix(v, b.linear([(p, c * cols)]), cols),
                    cm, None if bound is None else replace(bound, dest=cm))

        def group(b: _Builder, index: SSAValue | int, _) -> list[SSAValue]:
            image0 = b.linear([(index, g)])
            emit_input_transform(b, into, parallel, image0)
            emit_batched_gemm(b, 16, operands, f, cols, c, False, parallel)
            emit_output_transform(b, out_of, out_fusion, parallel, image0)
            return []

        b.loop(0, n // g, 1, group)


class WinogradToMicroKernels(RewritePattern):
    """The input and output transforms of F(2x2, 3x3) (``linalg.generic`` on f32
    memrefs, see the module docstring) -> vector kernels; the output transform
    with the elementwise ops around it fused. A batch whose ``V`` and ``M`` exceed
    ``group_bytes`` runs the transforms and the GEMMs between them a group of
    images at a time (:class:`_Groups`)."""

    def __init__(self, parallel: bool = True, group_bytes: int = WINOGRAD_GROUP_BYTES):
        self.parallel, self.group_bytes = parallel, group_bytes

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: GenericOp, rewriter: PatternRewriter, /):
        builder = _Builder(op.parent_block(), op)  # pyright: ignore
        into = _InputTransform.of(op)
        if into is not None:
            groups = _Groups.of(op, into, self.group_bytes)
            if groups is not None and self._emit_groups(groups, rewriter):
                return
            emit_input_transform(builder, into, self.parallel)
            rewriter.erase(into.fill)
            rewriter.erase(op)
            erase_padding(into.padding, rewriter)
            return
        out_of = _OutputTransform.of(op)
        if out_of is not None:
            out, space = out_of.output()
            fusion = Fusion.match(op, out, space, op.operands[:-1], rewriter)
            emit_output_transform(builder, out_of, fusion, self.parallel)
            fusion.erase(rewriter)
            rewriter.erase(op)

    def _emit_groups(self, groups: _Groups, rewriter: PatternRewriter) -> bool:
        """Replace the three steps of ``groups`` (and the ops fused into them) by
        its loop, emitted where the output transform was: after every buffer the
        fused ops read is defined. The deallocations between the steps (of ``V``,
        of a padded input) move after it. False, and nothing replaced, when the
        output's init cannot be fused: it would then run before the steps that
        moved past it."""
        product, last = groups.product, groups.last
        out, space = groups.out_of.output()
        out_fusion = Fusion.match(last, out, space, last.operands[:-1], rewriter)
        if groups.init is not None and groups.init not in out_fusion.ops:
            return False
        zero = Fusion.match(groups.product_op, product.c,
                            (*product.batch, product.m, product.n), product.reads, rewriter)
        op = groups.first.next_op
        while op is not last:
            following = op.next_op  # pyright: ignore
            if isinstance(op, memref.DeallocOp):
                op.detach()
                last.parent_block().insert_op_after(op, last)  # pyright: ignore
            op = following
        groups.emit(_Builder(last.parent_block(), last), out_fusion, zero,  # pyright: ignore
                    self.parallel)
        out_fusion.erase(rewriter)
        rewriter.erase(last)
        zero.erase(rewriter)
        rewriter.erase(groups.product_op)
        rewriter.erase(groups.into.fill)
        rewriter.erase(groups.first)
        erase_padding(groups.into.padding, rewriter)
        return True
