"""Register-blocked, vectorized, multi-threaded kernels for the hot linalg ops
(pass `dagc-linalg-to-microkernels`).

Runs on linalg on memrefs (after `dagc-bufferize`, before
`dagc-linalg-generalize`) and replaces, when their operands are f32 with unit
innermost strides,

- `linalg.matmul` (`C += A @ B`, A `M x K`, B `K x N`, C `M x N`); when B is a
  transposed copy of a matrix W (a linear layer's weight), W is read in place and
  the copy erased: with at most `MR` rows, dot products along W's rows
  (:func:`emit_dot_rows`), else the GEMM packs B's panels from W's rows;
- batched matrix products: a `linalg.generic` recognized from its indexing maps
  and multiply-add body as MLIR's `isaContractionOpInterface` does
  (:class:`_Contraction`: `dag.matmul` with batch dims, broadcast or not, and the
  `q @ k^T` of attention, B then strided), one GEMM per batch index; a
  multiplicand that is an expression of the inputs (a softmax that
  `dagc-linalg-fuse-elementwise` fused into `@ v`) is first computed once into a
  buffer (:func:`_split_multiplicands`), not once per output column;
- `linalg.conv_2d_nchw_fchw` (groups = 1) and `linalg.conv_2d_ngchw_gfchw`
  (grouped convolution): per image (and group), an im2col copy of the input
  windows into a `C*KH*KW x OH*OW` buffer (none for a 1x1, stride 1 window over a
  contiguous input), then the same GEMM with the weight `F x C*KH*KW` as A and the
  output `F x OH*OW` as C;
- depthwise convolution (`conv_2d_ngchw_gfchw` with one input and one output
  channel per group, horizontal stride 1 or 2): a direct kernel, see
  :func:`emit_depthwise`;
- max pooling (the window-max `linalg.generic` of `dag-to-linalg`, MLIR's
  `linalg.pooling_nchw_max`, recognized by :meth:`_Conv.of_max_pool`): the same
  direct kernel with maximums instead of multiply-adds.
- the input and output transforms of Winograd's F(2x2, 3x3) (the generics
  `dag-to-linalg` makes of `dag.winograd_conv2d`; its 16 GEMMs are batched
  contractions): vector kernels in :mod:`dagc.lowering.winograd_kernels`.

A convolution whose input is a zero-padded copy (a zero fill, then a copy into its
interior) reads the unpadded input instead: im2col writes the zeros of the
padding, the depthwise kernel pads one channel at a time, in cache (a pooling's
``-inf`` padding likewise).

The kernels absorb the elementwise ops around them (:class:`Fusion`): the op that
initializes C before (a zero fill, a bias broadcast) gives the accumulators their
first value, and the epilogue after (activation, residual add, scale, ...; in
place, or into another buffer) is applied to them before the final store.

GEMM
----
The loop nest of a GotoBLAS / BLIS GEMM (Goto and van de Geijn, "Anatomy of
high-performance matrix multiplication", TOMS 2008; Van Zee and van de Geijn,
"BLIS", TOMS 2015): `K` is split into blocks of `KC = 256`, `M` into balanced
blocks of at most `MC = 252` rows (the `MC x KC` block of A is read once per
column panel and stays in L2), then `N` into panels of `NR = 2 x 16` columns, then
the rows into micro-tiles of `MR = 6`. Each `KC x NR` panel of B is first copied to
a contiguous 32 KiB buffer (when more than one row tile reuses it, or B's columns
are not contiguous: a transposed B, W^T, is packed by 16 x 16 blocks of W read
along its rows and transposed in registers), so that it stays in L1 whatever B's
leading dimension (power-of-two strides would otherwise map its rows to a few cache
sets); when several row blocks read
B, all its whole panels are packed once, before them (`K x NR` each; an
`scf.parallel` over the panels when the GEMM is threaded), instead of once per
block. A is read in place. The micro-kernel keeps the `MR x NR` block of C
in 12 vector registers (`vector<16xf32>`, one AVX-512 register each) carried
through the `k` loop as `scf.for` iteration arguments, and per `k` loads two
vectors of B, broadcasts six scalars of A and issues 12 fused multiply-adds. Edges:
the tail rows use the same micro-kernel with fewer rows; of the last `N mod 32`
columns, 16 go to one-vector micro-kernels of `2 x MR` rows (12 accumulators), the
last `N mod 16` to dot products along `k` when at most `DOT_EDGE` (B's columns
copied to rows, :func:`_dot_row`), else to a vector whose loads and stores are
masked (`llvm.masked.load` / `llvm.masked.store`), so every shape is exact and
nothing is read or written out of bounds. Each element of C sums over `k` in
increasing order within a micro-kernel, as the loop lowering does; results differ
only by FMA rounding (and, in the dot products, by the order of the sums).
The micro-kernels of the first `k` block start from the fused init (else from C),
those of the last one end with the fused epilogue (else store to C): each runs
exactly once per element.

Threads: a GEMM of at least `PARALLEL_MIN_FLOPS` is split into chunks
(:class:`Split`: balanced row blocks times balanced ranges of column panels), the
iterations of an outermost `scf.parallel` with constant bounds (run on a thread pool
by `dagc-parallel-to-threads`, which gives each thread a contiguous range of
iterations). Each chunk runs all `k` blocks over its block of C, with its own
packed-B buffer (or reading the panels packed once before the chunks, when there
are several row blocks); the rows and columns past the whole tiles and panels belong to the
last row block and column range. A batch of GEMMs adds the batch index as the
outermost dimension of the same `scf.parallel` (one fork-join for all). Chunks write
disjoint blocks of C (and of the epilogue's destination): the body is race-free. The
im2col copy of a large convolution is an `scf.parallel` over the input channels and
window rows (each writing `KW` rows of the column buffer by vectors), a large
depthwise convolution or pooling one over images and channels.

Emission
--------
The loops are `scf.for` / `scf.parallel` / `scf.if` over `index`; the memory
accesses and arithmetic of the kernels are emitted directly in the llvm dialect
with vector types (MLIR's `vector` dialect would be lowered to exactly these ops,
and dagc has no vector -> llvm edge): the aligned base pointer of each memref
(`memref.extract_aligned_pointer_as_index`, `llvm.inttoptr`), `llvm.getelementptr`,
`llvm.load` / `llvm.store` with 4-byte alignment, `llvm.intr.masked.load`
(:class:`llvm_ops.MaskedLoadOp`), `llvm.intr.masked.store`, `llvm.insertelement` +
`llvm.shufflevector` (broadcast, strided lanes) and `llvm.intr.fma`. The fused
ops' `arith` / `math` ops are cloned on `vector<16xf32>` operands and lowered by
`convert-to-llvm` like scalar ones. `convert-to-llvm` leaves the llvm ops as they
are and lowers the loops and index arithmetic around them; LLVM's backend then
selects AVX-512 (or, on narrower hosts, splits each vector).

Ops whose operands do not qualify (other element types, a non-unit innermost
stride, an output whose spatial dims are not contiguous) are left for the loop
lowering, and so are the elementwise ops that cannot be fused. Place: in the CPU
pipeline right after `dagc-bufferize`, before `dagc-hoist-kernel-scratch` moves the
scratch buffers allocated here into the callers and `dagc-plan-memory` plans them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import cache
from math import inf, prod

from dagc.lowering import llvm_ops
from dagc.lowering.llvm_types import strided_layout
from dagc.lowering.math_approximation import EXPANSIONS, ApproximateMath
from xdsl.context import Context
from xdsl.dialects import arith, llvm, math, memref, scf
from xdsl.dialects.builtin import (
    AffineMapAttr,
    ArrayAttr,
    DenseArrayBase,
    DenseIntOrFPElementsAttr,
    Float32Type,
    FloatAttr,
    IndexType,
    IntegerAttr,
    IntegerType,
    MemRefType,
    ModuleOp,
    VectorType,
    f32,
    i1,
    i32,
    i64,
)
from xdsl.dialects.linalg.attrs import IteratorType, IteratorTypeAttr
from xdsl.dialects.linalg.ops import (
    Conv2DNchwFchwOp,
    Conv2DNgchwGfchwOp,
    FillOp,
    GenericOp,
    IndexOp,
    MatmulOp,
    TransposeOp,
)
from xdsl.ir import Attribute, Block, BlockArgument, Operation, Region, SSAValue
from xdsl.ir.affine import (
    AffineBinaryOpExpr,
    AffineBinaryOpKind,
    AffineConstantExpr,
    AffineDimExpr,
    AffineExpr,
    AffineMap,
)
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    GreedyRewritePatternApplier,
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
    op_type_rewrite_pattern,
)
from xdsl.rewriter import InsertPoint
from xdsl.traits import is_side_effect_free
from xdsl.utils.exceptions import DiagnosticException

LANES = 16
"""f32 lanes of one vector register (AVX-512)."""

MR = 6
"""Rows of C per micro-kernel."""

NV = 2
"""Vectors of C per row of the micro-kernel (NR = NV * LANES columns)."""

NR = NV * LANES
"""Columns of C per micro-kernel (a panel)."""

KC = 256
"""Depth of a block of K."""

MC = 252
"""Most rows of A in a block (``MC x KC`` floats, 252 KiB, stay in a 1 MiB L2). Up
to 252 output channels (ResNet's 64..256) are one block, so each panel of B is
packed once and a GEMM's chunks are column ranges only: measured on ResNet-18's
3x3 convolutions (Zen 5, one thread) 4-7% faster than 120 rows with 128 output
channels (3x3 and 64->128 stride 2), equal with 256 and 512 (64 is one block
either way)."""

DOT_EDGE = 8
"""The most columns of C past its whole vectors (``N mod 16``) computed as dot
products along ``k`` (:func:`_dot_row`) rather than by a micro-kernel whose last
vector is masked to them: a masked vector costs a full fused multiply-add per row
and ``k``; the dot products ``columns`` of them and ``1 + columns`` loads per row
and 16 ``k``. (8 and 15 measured alike on ResNet's 196- and 49-column outputs.)"""

PARALLEL_MIN_FLOPS = 1 << 21
"""Kernels of fewer flops (2 per multiply-add; about 20 us on one core) run on one
thread: a fork-join would cost a noticeable share of them."""

CHUNK_FLOPS = 1 << 19
"""The least work of one parallel chunk of a GEMM (flops)."""

CHUNKS = 16
"""The most chunks of a GEMM: two per thread on 8 cores, for balance."""

PARALLEL_MIN_COPY = 1 << 16
"""im2col copies of at least this many elements are split over threads."""

WINOGRAD_GROUP_BYTES = 8 << 20
"""The most bytes of ``V`` and ``M`` (16 floats per 2x2 tile and input or output
channel) that one group of images of a Winograd convolution takes: a larger batch
is transformed, multiplied and transformed back a group at a time
(``winograd_kernels._Groups``), so that ``V`` and ``M`` stay in the last-level
cache between the three steps. ResNet-18's 56x56 convolutions take 6.1 MiB per image (groups of
one), its 28x28 ones 3.1 MiB (two), its 14x14 ones 1.5 MiB (four at batch 8)."""


class _Builder:
    """Appends ops to a block (before its terminator, when given one)."""

    def __init__(self, block: Block, before: Operation | None = None):
        self.block, self.before = block, before

    def add(self, op: Operation) -> Operation:
        if self.before is None:
            self.block.add_op(op)
        else:
            self.block.insert_op_before(op, self.before)
        return op

    def const(self, value: int) -> SSAValue:
        return self.add(arith.ConstantOp(IntegerAttr.from_index_int_value(value))).results[0]

    def linear(
        self, terms: Sequence[tuple[SSAValue | int, int]], offset: int = 0
    ) -> SSAValue | int:
        """``offset + sum(v * c)`` on ``index``; a Python int when every term is one."""
        total: SSAValue | None = None
        for value, scale in terms:
            if isinstance(value, int):
                offset += value * scale
                continue
            if scale == 0:
                continue
            term = value
            if scale != 1:
                term = self.add(arith.MuliOp(value, self.const(scale))).results[0]
            total = term if total is None else self.add(arith.AddiOp(total, term)).results[0]
        if total is None:
            return offset
        if offset:
            total = self.add(arith.AddiOp(total, self.const(offset))).results[0]
        return total

    def value(self, index: SSAValue | int) -> SSAValue:
        """``index`` as an SSA value (a constant for an int)."""
        return self.const(index) if isinstance(index, int) else index

    def share(self, part: SSAValue | int, units: int, parts: int) -> SSAValue | int:
        """``part * units // parts``: where part ``part`` of ``units`` split into
        ``parts`` balanced ranges begins (the end of the last for ``part ==
        parts``)."""
        if isinstance(part, int):
            return part * units // parts
        scaled = self.value(self.linear([(part, units)]))
        return self.add(arith.DivUIOp(scaled, self.const(parts))).results[0]

    def ceildiv_clamped(self, value: SSAValue | int, divisor: int, hi: int) -> SSAValue | int:
        """``min(max(ceil(value / divisor), 0), hi)`` (``divisor > 0``)."""
        if isinstance(value, int):
            return min(max(-(-value // divisor), 0), hi)
        quotient = self.add(arith.CeilDivSIOp(value, self.const(divisor))).results[0]
        low = self.add(arith.MaxSIOp(quotient, self.const(0))).results[0]
        return self.add(arith.MinSIOp(low, self.const(hi))).results[0]

    def loop(
        self,
        lo: SSAValue | int,
        hi: SSAValue | int,
        step: int,
        body: Callable[[_Builder, SSAValue | int, Sequence[SSAValue]], Sequence[SSAValue]],
        inits: Sequence[SSAValue] = (),
    ) -> Sequence[SSAValue]:
        """``for i in range(lo, hi, step)``: an ``scf.for`` carrying ``inits``;
        with static bounds, nothing for no trip and the body inlined with
        ``i = lo`` for one."""
        if isinstance(lo, int) and isinstance(hi, int):
            trips = -(-(hi - lo) // step)
            if trips <= 0:
                return list(inits)
            if trips == 1:
                return list(body(self, lo, list(inits)))
        block = Block(arg_types=[IndexType(), *(v.type for v in inits)])
        inner = _Builder(block)
        results = body(inner, block.args[0], list(block.args[1:]))
        inner.add(scf.YieldOp(*results))
        return self.add(
            scf.ForOp(self.value(lo), self.value(hi), self.const(step), inits, block)
        ).results

    def parallel(
        self, bounds: Sequence[int], body: Callable[[_Builder, Sequence[SSAValue]], None]
    ) -> None:
        """An ``scf.parallel`` over ``0 <= i_d < bounds[d]`` (constant bounds)."""
        block = Block(arg_types=[IndexType()] * len(bounds))
        inner = _Builder(block)
        body(inner, list(block.args))
        inner.add(scf.ReduceOp())
        zeros, ones = [self.const(0)] * len(bounds), [self.const(1)] * len(bounds)
        self.add(scf.ParallelOp(zeros, [self.const(n) for n in bounds], ones, Region(block)))

    def nest(self, bounds: Sequence[int],
             body: Callable[[_Builder, Sequence[SSAValue | int]], None],
             parallel: bool) -> None:
        """``body`` over ``0 <= i_d < bounds[d]``: one ``scf.parallel`` when
        ``parallel``, else nested ``scf.for`` (:meth:`loop`: a bound of 1 gives
        the index 0, known)."""
        if parallel:
            self.parallel(bounds, body)
            return

        def level(b: _Builder, ivs: list[SSAValue | int]) -> None:
            if len(ivs) == len(bounds):
                body(b, ivs)
                return
            b.loop(0, bounds[len(ivs)], 1, lambda b, i, _: level(b, [*ivs, i]) or [])

        level(self, [])

    def if_else(
        self,
        cond: SSAValue | bool,
        then: Callable[[_Builder], Sequence[SSAValue]],
        otherwise: Callable[[_Builder], Sequence[SSAValue]],
    ) -> list[SSAValue]:
        """``then`` or ``otherwise`` (each returning values of the same types) as
        an ``scf.if`` on ``cond``; just the one taken for a bool."""
        if isinstance(cond, bool):
            return list((then if cond else otherwise)(self))
        blocks, values = [], []
        for branch in (then, otherwise):
            block = Block()
            inner = _Builder(block)
            values.append(list(branch(inner)))
            inner.add(scf.YieldOp(*values[-1]))
            blocks.append(block)
        types = [v.type for v in values[0]]
        return list(self.add(scf.IfOp(cond, types, Region(blocks[0]), Region(blocks[1]))).results)

    def if_(self, cond: SSAValue | bool, body: Callable[[_Builder], None]) -> None:
        """``body`` under ``scf.if cond``; always or never for a bool."""
        self.if_else(cond, lambda b: body(b) or [], lambda b: [])


@dataclass(frozen=True)
class _Matrix:
    """A row-major f32 matrix in memory: element ``(r, c)`` is at
    ``source + offset + r * ld + c * inc`` (elements). ``source`` is a memref
    (its aligned pointer) until :meth:`at` turns it into an ``!llvm.ptr``;
    ``inc`` is the column stride (vectors along a row need 1; 0: one value per
    row, broadcast)."""

    source: SSAValue
    offset: SSAValue | int
    ld: int
    inc: int = 1

    def at(self, b: _Builder) -> _Matrix:
        """This matrix with its pointer computed by ``b``."""
        if isinstance(self.source.type, MemRefType):
            return replace(self, source=_pointer(b, self.source))
        return self


def _pointer(b: _Builder, value: SSAValue) -> SSAValue:
    """The aligned base pointer of a memref, as ``!llvm.ptr``."""
    address = b.add(memref.ExtractAlignedPointerAsIndexOp.get(value)).results[0]
    as_int = b.add(arith.IndexCastOp(address, i64)).results[0]
    return b.add(llvm.IntToPtrOp(as_int)).results[0]


def _address(b: _Builder, m: _Matrix, row: SSAValue | int, col: SSAValue | int) -> SSAValue:
    assert isinstance(m.source.type, llvm.LLVMPointerType), "resolve the matrix first"
    index = b.linear([(m.offset, 1), (row, m.ld), (col, m.inc)])
    if isinstance(index, int):
        if index == 0:
            return m.source
        as_int = b.add(llvm.ConstantOp(IntegerAttr(index, i64), i64)).results[0]
    else:
        as_int = b.add(arith.IndexCastOp(index, i64)).results[0]
    return b.add(
        llvm.GEPOp(m.source, [llvm.GEP_USE_SSA_VAL], f32, ssa_indices=[as_int], inbounds=True)
    ).results[0]


def _lane_type(lanes: int) -> Attribute:
    return f32 if lanes == 1 else VectorType(f32, [lanes])


def _mask(b: _Builder, lanes: Sequence[bool]) -> SSAValue:
    """A constant ``vector<Nxi1>`` with the given lanes set."""
    mask_type = VectorType(i1, [len(lanes)])
    value = DenseIntOrFPElementsAttr.from_list(mask_type, [int(x) for x in lanes])
    return b.add(llvm.ConstantOp(value, mask_type)).results[0]


def _first(b: _Builder, count: int) -> SSAValue:
    """``vector<16xi1>`` with the first ``count`` lanes set."""
    return _mask(b, [i < count for i in range(LANES)])


def _zeros(b: _Builder, lanes: int = LANES, value: float = 0.0) -> SSAValue:
    """A constant ``vector<lanes x f32>`` of zeros (or of ``value``)."""
    vtype = VectorType(f32, [lanes])
    return b.add(llvm.ConstantOp(
        DenseIntOrFPElementsAttr.from_list(vtype, [value] * lanes), vtype)).results[0]


def _load(
    b: _Builder, m: _Matrix, row, col, lanes: int, mask: SSAValue | None = None
) -> SSAValue:
    """Load ``lanes`` consecutive floats at ``(row, col)`` (only the ``mask``
    lanes, others 0)."""
    address = _address(b, m, row, col)
    if mask is None:
        return b.add(llvm.LoadOp(address, _lane_type(lanes), alignment=4)).results[0]
    return b.add(llvm_ops.MaskedLoadOp(address, mask, _zeros(b, lanes), alignment=4)).results[0]


def _row_vector(b: _Builder, m: _Matrix, row, col, mask: SSAValue | None) -> SSAValue:
    """``vector<16xf32>`` of row ``row`` from column ``col``: a load (masked when
    ``mask`` is given), or the row's one value broadcast when ``m.inc`` is 0."""
    if m.inc == 0:
        return _splat(b, _load(b, m, row, 0, 1), LANES)
    return _load(b, m, row, col, LANES, mask)


def _store(b: _Builder, value: SSAValue, m: _Matrix, row, col,
           mask: SSAValue | None = None) -> None:
    address = _address(b, m, row, col)
    if mask is None:
        b.add(llvm.StoreOp(value, address, alignment=4))
    else:
        b.add(llvm.MaskedStoreOp(value, address, mask, alignment=4))


def _shuffle(b: _Builder, vector: SSAValue, lanes: Sequence[int],
             second: SSAValue | None = None) -> SSAValue:
    """The ``lanes`` of ``vector`` (and, numbered after its lanes, of ``second``),
    as a ``vector<len(lanes) x f32>``."""
    mask = DenseArrayBase.from_list(i32, list(lanes))
    shuffle = llvm.ShuffleVectorOp.build(
        operands=[vector, vector if second is None else second], properties={"mask": mask},
        result_types=[VectorType(f32, [len(lanes)])])
    return b.add(shuffle).results[0]


def _splat(b: _Builder, scalar: SSAValue, lanes: int) -> SSAValue:
    if lanes == 1:
        return scalar
    undef = b.add(llvm.UndefOp(VectorType(f32, [lanes]))).results[0]
    zero = b.add(llvm.ConstantOp(IntegerAttr(0, i32), i32)).results[0]
    one = b.add(llvm.InsertElementOp(undef, scalar, zero)).results[0]
    return _shuffle(b, one, [0] * lanes)


# --------------------------------------------------------------------------- #
# Fused elementwise ops
# --------------------------------------------------------------------------- #

_VIEWS = (memref.SubviewOp, memref.ExpandShapeOp, memref.CollapseShapeOp, memref.CastOp,
          memref.ReinterpretCastOp)
"""Ops whose result is a view of their first operand's memory."""

_VECTOR_OPS = (
    arith.ConstantOp, arith.AddfOp, arith.SubfOp, arith.MulfOp, arith.DivfOp,
    arith.NegfOp, arith.MaximumfOp, arith.MinimumfOp, arith.MaxnumfOp, arith.MinnumfOp,
    arith.AddiOp, arith.SubiOp, arith.MuliOp, arith.AndIOp, arith.OrIOp, arith.XOrIOp,
    arith.ShLIOp, arith.ShRSIOp, arith.ShRUIOp, arith.BitcastOp, math.AbsFOp, math.FmaOp,
    math.SqrtOp, math.FloorOp, math.CeilOp, math.CopySignOp,
)
"""Scalar ops a fused body may hold: xDSL types them on vectors too, and
``convert-to-llvm`` lowers each to an LLVM instruction or intrinsic. Compares,
selects and int/float conversions are not among them (xDSL's arith and llvm ops
type those on scalars only), and neither are the math ops that LLVM turns into one
libm call per lane. ``math.exp``, ``math.erf`` and ``math.tanh`` are expanded into
``dagc-math-approximation``'s polynomials (as the CPU pipeline does for scalars)
when those use only these ops. A body with any other op keeps its linalg op out
of the kernel (its loop nest is then vectorized by LLVM)."""


@cache
def _expansion_vectorizes(kind: type[Operation]) -> bool:
    """Whether ``dagc-math-approximation`` expands an f32 ``kind`` op (a key of
    its ``EXPANSIONS``) into ``_VECTOR_OPS`` only."""
    block = Block(arg_types=[f32])
    block.add_op(kind(block.args[0]))
    PatternRewriteWalker(ApproximateMath()).rewrite_region(Region(block))
    return all(isinstance(op, _VECTOR_OPS) for op in block.ops)


def _root(value: SSAValue) -> SSAValue:
    """The memref whose memory ``value`` views (``value`` itself if no view)."""
    while isinstance(value.owner, _VIEWS):
        value = value.owner.operands[0]
    return value


def _defined_before(value: SSAValue, op: Operation) -> bool:
    """Whether ``value`` is usable at ``op`` in straight-line code: an argument of
    a block enclosing ``op`` or the result of an op before ``op`` (or before the
    op enclosing it) in that op's block."""
    if isinstance(value, BlockArgument):
        return value.block.is_ancestor(op)
    owner = value.owner
    assert isinstance(owner, Operation)
    while op.parent_block() is not owner.parent_block():
        parent = op.parent_op()
        if parent is None:
            return False
        op = parent
    return owner.is_before_in_block(op)


def _onto(strides: Sequence[int], shape: Sequence[int],
          target: Sequence[int]) -> tuple[int, ...] | None:
    """Strides over the index space ``target`` of the addresses that ``strides``
    give over ``shape``, both row-major shapes of the same elements (a reshape):
    element ``l`` (linear) is at ``sum(i_d * strides[d])`` for ``i = unravel(l,
    shape)``. None when that is not affine in ``unravel(l, target)``.

    The two shapes are related through their common refinement (the axes bounded
    by the suffix products of both, as reassociation maps are computed); each
    target dim is then a run of refined axes along which the address must step
    uniformly."""
    bounds = sorted({prod(s[d:]) for s in (shape, target) for d in range(len(s) + 1)})
    if any(hi % lo for lo, hi in zip(bounds, bounds[1:])):
        return None
    # The address step of each refined axis, keyed by its inner bound.
    step: dict[int, int] = {}
    for d, size in enumerate(shape):
        inner = prod(shape[d + 1:])
        for bound in bounds:
            if inner <= bound < inner * size:
                step[bound] = strides[d] * (bound // inner)
    result = []
    for e, size in enumerate(target):
        inner = prod(target[e + 1:])
        axes = [bound for bound in bounds if inner <= bound < inner * size]
        stride = step[inner] if axes else 0
        if any(step[bound] != stride * (bound // inner) for bound in axes):
            return None
        result.append(stride)
    return tuple(result)


@dataclass(frozen=True)
class _Access:
    """Where a memref operand's element for each element of C's kernel index
    space ``(batch..., row, column)`` lies: ``root + offset + sum(index * stride)``
    (elements from the aligned pointer of the memref ``root``)."""

    root: SSAValue
    offset: int
    strides: tuple[int, ...]

    def same(self, other: _Access, space: Sequence[int]) -> bool:
        """Whether both access the same memory at every index of ``space``."""
        return (self.root is other.root and self.offset == other.offset
                and all(a == b for a, b, n in zip(self.strides, other.strides, space) if n > 1))

    def matrix(self, b: _Builder, batch: Sequence[SSAValue | int]) -> _Matrix:
        """The ``rows x columns`` matrix of this access at the batch index ``batch``."""
        offset = b.linear(list(zip(batch, self.strides)), self.offset)
        return _Matrix(self.root, offset, self.strides[-2], self.strides[-1])


def _access(value: SSAValue, amap: AffineMap, loops: Sequence[int],
            space: Sequence[int]) -> _Access | None:
    """The access of a linalg operand ``value`` read through ``amap`` in a loop
    nest of shape ``loops`` whose elements are those of ``space`` (row-major).
    None when the layout is not static or not affine in ``space``."""
    layout = _layout(value)
    steps = None if layout is None else _steps(amap, layout[1], layout[2])
    if steps is None:
        return None
    onto = _onto(steps[0], loops, space)
    return None if onto is None else _Access(_root(value), steps[1], onto)


def _steps(amap: AffineMap, strides: Sequence[int],
           offset: int) -> tuple[list[int], int] | None:
    """The address step (elements) per loop of a memref with ``strides`` and
    ``offset`` read through ``amap`` (dims and constants), and the offset at the
    first iteration; None for other expressions."""
    steps = [0] * amap.num_dims
    for result, stride in zip(amap.results, strides):
        if isinstance(result, AffineDimExpr):
            steps[result.position] += stride
        elif isinstance(result, AffineConstantExpr):
            offset += result.value * stride
        else:
            return None
    return steps, offset


def _linear_form(expr: AffineExpr, dims: int) -> tuple[list[int], int] | None:
    """``expr`` as ``sum(coefficients[d] * d_d) + constant``; None when it is not
    linear in the dims (a product of dims, mod, division, a symbol)."""
    if isinstance(expr, AffineDimExpr):
        return [int(d == expr.position) for d in range(dims)], 0
    if isinstance(expr, AffineConstantExpr):
        return [0] * dims, expr.value
    if not isinstance(expr, AffineBinaryOpExpr) or expr.kind not in (
            AffineBinaryOpKind.Add, AffineBinaryOpKind.Mul):
        return None
    lhs, rhs = _linear_form(expr.lhs, dims), _linear_form(expr.rhs, dims)
    if lhs is None or rhs is None:
        return None
    if expr.kind == AffineBinaryOpKind.Add:
        return [x + y for x, y in zip(lhs[0], rhs[0])], lhs[1] + rhs[1]
    if any(rhs[0]):
        lhs, rhs = rhs, lhs
    if any(rhs[0]):
        return None  # a product of dims
    return [x * rhs[1] for x in lhs[0]], lhs[1] * rhs[1]


def _coefficients(amap: AffineMap) -> tuple[list[list[int]], list[int]] | None:
    """The coefficient of each dim in each result of ``amap`` and each result's
    constant, None unless every result is linear in the dims (:func:`_linear_form`)."""
    forms = [_linear_form(r, amap.num_dims) for r in amap.results]
    if amap.num_symbols or any(f is None for f in forms):
        return None
    return [f[0] for f in forms], [f[1] for f in forms]  # pyright: ignore


def _aliases(root: SSAValue) -> list[SSAValue]:
    """``root`` and every view of it (transitively)."""
    found, work = [], [root]
    while work:
        value = work.pop()
        found.append(value)
        work += [r for use in value.uses if isinstance(use.operation, _VIEWS)
                 for r in use.operation.results]
    return found


def _dead_after(root: SSAValue, op: Operation) -> bool:
    """Whether nothing reads the memory of ``root`` after ``op`` but its dealloc:
    ``root`` must be an allocation (or a ``memref.view`` of one: a buffer of
    ``dagc-plan-memory``'s arena); the caller sees an argument's memory."""
    owner = root.owner
    if isinstance(owner, memref.ViewOp):
        owner = owner.source.owner
    if not isinstance(owner, memref.AllocOp):
        return False
    for value in _aliases(root):
        for use in value.uses:
            user = use.operation
            while user.parent_block() is not op.parent_block():
                user = user.parent_op()
                if user is None:
                    return False
            if op.is_before_in_block(user) and not isinstance(
                user, (memref.DeallocOp, *_VIEWS)
            ):
                return False
    return True


def _unchanged(value: SSAValue, start: Operation, end: Operation) -> bool:
    """Whether nothing writes ``value``'s memory between ``start`` and ``end`` (of
    one block): only ``_inert`` ops, deallocs, and linalg fills and generics
    writing other memory lie between."""
    root = _root(value)
    op = start.next_op
    while op is not end:
        if op is None:
            return False
        if not _inert(op) and not (
            isinstance(op, GenericOp | FillOp | memref.DeallocOp)
            and _root(op.operands[-1]) is not root
        ):
            return False
        op = op.next_op
    return True


def _vectorizable(block: Block, at: Operation) -> bool:
    """Whether every op of a linalg body can run on ``vector<16 x ...>``: scalar
    f32 / integer ops of ``_VECTOR_OPS`` (or expanded into them), with values from
    outside that are f32 and usable at ``at``."""
    ops = list(block.ops)
    for op in ops:
        if op is not ops[-1]:
            expanded = type(op) in EXPANSIONS and _expansion_vectorizes(type(op))
            if not (isinstance(op, _VECTOR_OPS) or expanded) or op.regions:
                return False
            types = [*(v.type for v in op.operands), *op.result_types]
            if not all(isinstance(t, Float32Type | IntegerType) for t in types):
                return False
            if isinstance(op, arith.ConstantOp) and not isinstance(
                op.value, FloatAttr | IntegerAttr
            ):
                return False
        for operand in op.operands:
            outside = not (isinstance(operand, BlockArgument) and operand.block is block) and not (
                isinstance(operand.owner, Operation) and operand.owner.parent_block() is block)
            if outside and not (isinstance(operand.type, Float32Type)
                                and _defined_before(operand, at)):
                return False
    return len(ops[-1].operands) == 1


@dataclass(frozen=True)
class _Stage:
    """One absorbed elementwise op: its body, and per block argument what it
    reads: None for the value computed so far (in registers), an access for a
    memref, the value itself for a scalar from outside."""

    body: Block
    args: tuple[_Access | SSAValue | None, ...]


def _operands(op: GenericOp | FillOp, kernel: Operation,
              space: tuple[int, ...]) -> list[_Access | SSAValue] | None:
    """The operands of an all-parallel ``linalg.generic`` or ``linalg.fill`` on
    memrefs, writing an identity-indexed memref whose elements are those of
    ``space`` (row-major), and whose body is vectorizable: their accesses over
    ``space`` (a scalar operand: itself, usable at ``kernel``). None when ``op``
    does not qualify."""
    if op.results or len(op.outputs) != 1 or any(
        it.data != IteratorType.PARALLEL for it in op.get_iterator_types()
    ):
        return None
    out = op.outputs[0]
    maps = [m.data for m in op.get_indexing_maps()]
    if not isinstance(out.type, MemRefType) or maps[-1] != AffineMap.identity(
            out.type.get_num_dims()):
        return None
    loops = tuple(out.type.get_shape())
    if prod(loops) != prod(space) or not _vectorizable(op.body.block, kernel):
        return None
    operands: list[_Access | SSAValue] = []
    for value, amap in zip(op.operands, maps):
        if isinstance(value.type, MemRefType):
            access = _access(value, amap, loops, space)
            if access is None:
                return None
            if space[-1] > 1 and access.strides[-1] not in (0, 1):
                return None  # loaded as vectors along C's rows, or broadcast
            operands.append(access)
        elif isinstance(value.type, Float32Type) and _defined_before(value, kernel):
            operands.append(value)
        else:
            return None
    return operands


def _inert(op: Operation) -> bool:
    """Whether ``op`` touches no memory that exists before it: an op without memory
    effects or regions (views, constants, index arithmetic), or a fresh
    ``memref.alloc`` (this pass runs before ``dagc-plan-memory`` turns those into
    views)."""
    if isinstance(op, memref.AllocOp):
        return not op.operands
    return is_side_effect_free(op) and not op.regions


def effect_before(op: Operation) -> Operation | None:
    """The op before ``op`` in its block past ``_inert`` ops, or None."""
    prev = op.prev_op
    while prev is not None and _inert(prev):
        prev = prev.prev_op
    return prev


@dataclass
class Fusion:
    """The elementwise ops fused into a kernel whose output is C, over C's kernel
    index space ``(batch..., row, column)`` of shape ``space``:

    - ``init``: an all-parallel ``linalg.fill`` or ``linalg.generic`` right
      before the kernel (past ``_inert`` ops) that writes every
      element of C without reading it (zeros, a bias broadcast per channel): the
      first ``k`` block starts its accumulators from it instead of loading C;
    - ``stages``, the epilogue: the all-parallel ``linalg.generic`` ops after the
      kernel (past deallocs and ``_inert`` ops) that read C at every
      element, in place or into another buffer D when C is dead after them
      (``dest``: where the last one writes); the last ``k`` block applies them to
      its accumulators before it stores them (into ``dest``).

    Their other operands are, per element of C, at an affine address in C's index
    space with column stride 0 (per row: a per-channel bias or scale, a scalar) or
    1 (C-shaped: a residual), or scalars. Their bodies hold only ``_VECTOR_OPS``
    (after the expansion of ``math.erf``), cloned on ``vector<16xf32>`` by
    :meth:`_BoundFusion.start` and :meth:`_BoundFusion.apply`. Found by
    :meth:`match`; ``ops`` are the linalg ops absorbed."""

    space: tuple[int, ...]
    init: _Stage | None
    stages: list[_Stage]
    dest: _Access
    ops: list[Operation]

    @staticmethod
    def match(kernel: Operation, out: _Access, space: tuple[int, ...],
              reads: Sequence[SSAValue], rewriter: PatternRewriter) -> Fusion:
        """The ops around ``kernel`` (whose output C is ``out`` over ``space``,
        and which reads the memrefs ``reads``) that can be fused: the epilogue
        stops at the first op that cannot (possibly none). Their math ops are
        expanded through ``rewriter``."""
        fusion = Fusion(space, None, [], out, [])
        op = effect_before(kernel)
        if isinstance(op, GenericOp | FillOp):
            fusion._match_init(op, kernel, rewriter)
        read_roots = {_root(v) for v in reads}
        op = kernel.next_op
        while op is not None:
            if isinstance(op, GenericOp):
                if not fusion._absorb(op, kernel, read_roots, rewriter):
                    break
            elif not (isinstance(op, memref.DeallocOp) or _inert(op)):
                break
            op = op.next_op
        return fusion

    def _match_init(self, op: GenericOp | FillOp, kernel: Operation,
                    rewriter: PatternRewriter) -> None:
        """Take ``op`` as ``init`` when it qualifies (see the class docstring)."""
        operands = _operands(op, kernel, self.space)
        if operands is None:
            return
        *ins, out = operands
        if not (isinstance(out, _Access) and out.same(self.dest, self.space)):
            return
        if op.body.block.args[-1].uses or any(
            isinstance(a, _Access) and a.root is out.root for a in ins
        ):
            return  # it reads C
        _expand_math(op, rewriter)
        self.init = _Stage(op.body.block, (*ins, None))
        self.ops.append(op)

    def _absorb(self, op: GenericOp, kernel: Operation, reads: set[SSAValue],
                rewriter: PatternRewriter) -> bool:
        """Append ``op`` as a stage when it qualifies (see the class docstring)."""
        operands = _operands(op, kernel, self.space)
        if operands is None:
            return False
        current, dest = self.dest, operands[-1]
        if not isinstance(dest, _Access) or (self.space[-1] > 1 and dest.strides[-1] != 1):
            return False  # the stores are vectors along C's rows
        if dest.root is current.root:
            if not dest.same(current, self.space):
                return False
        elif dest.root in reads or not _dead_after(current.root, op):
            return False
        args: list[_Access | SSAValue | None] = []
        for access in operands:
            if isinstance(access, _Access) and access.root in (current.root, dest.root):
                # C itself, or D's old value at the element being written.
                here = current if access.root is current.root else dest
                if not access.same(here, self.space):
                    return False
                args.append(None if here is current else access)
            else:
                args.append(access)
        # Every memref the fused code touches must exist where the kernel runs:
        # an allocation after the kernel moves before it.
        late = {a.root for a in operands
                if isinstance(a, _Access) and not _defined_before(a.root, kernel)}
        if any(not isinstance(r.owner, memref.AllocOp) or r.owner.operands for r in late):
            return False
        for root in late:
            root.owner.detach()  # pyright: ignore
            kernel.parent_block().insert_op_before(root.owner, kernel)  # pyright: ignore
        _expand_math(op, rewriter)
        reads.update(a.root for a in args if isinstance(a, _Access))
        self.stages.append(_Stage(op.body.block, tuple(args)))
        self.ops.append(op)
        self.dest = dest
        return True

    def erase(self, rewriter: PatternRewriter) -> None:
        """Erase the absorbed linalg ops."""
        for op in self.ops:
            rewriter.erase(op)

    def bind(self, b: _Builder, batch: Sequence[SSAValue | int]) -> _BoundFusion | None:
        """The fused ops' matrices at one batch index (image, group); None when
        nothing is fused."""
        if not self.ops:
            return None

        def bound(stage: _Stage) -> tuple[Block, list[_Matrix | SSAValue | None]]:
            return stage.body, [a.matrix(b, batch) if isinstance(a, _Access) else a
                                for a in stage.args]

        return _BoundFusion(None if self.init is None else bound(self.init),
                            [bound(s) for s in self.stages], self.dest.matrix(b, batch))


def _expand_math(op: Operation, rewriter: PatternRewriter) -> None:
    """Expand the ``math.exp`` / ``erf`` / ``tanh`` of a linalg op's body into
    ``dagc-math-approximation``'s polynomials."""
    for inner in list(op.regions[0].block.ops):
        ApproximateMath().match_and_rewrite(inner, rewriter)


_Bound = tuple[Block, list[_Matrix | SSAValue | None]]
"""A stage at one batch index: its body and, per block argument, the matrix it
reads, the scalar, or None for the accumulator."""


@dataclass
class _BoundFusion:
    """A :class:`Fusion` at one batch index: its init and epilogue stages, and
    ``dest``, where the epilogue's results are stored."""

    init: _Bound | None
    stages: list[_Bound]
    dest: _Matrix

    def at(self, b: _Builder) -> _BoundFusion:
        """These stages with their pointers computed by ``b`` (one per memref)."""
        pointers: dict[SSAValue, SSAValue] = {}

        def at(m: _Matrix | SSAValue | None):
            if not isinstance(m, _Matrix):
                return m
            if m.source not in pointers:
                pointers[m.source] = m.at(b).source
            return replace(m, source=pointers[m.source])

        def stage(bound: _Bound) -> _Bound:
            return bound[0], [at(m) for m in bound[1]]

        return _BoundFusion(None if self.init is None else stage(self.init),
                            [stage(s) for s in self.stages], at(self.dest))

    def start(self, b: _Builder, i0, rows: int, j0, vectors: int,
              mask: SSAValue | None) -> list[SSAValue]:
        """The init's values of the ``rows x vectors`` block of vectors of C at
        row ``i0``, column ``j0`` (row-major)."""
        assert self.init is not None
        return _vectorize(b, *self.init, [], i0, j0, rows, vectors, mask)

    def apply(self, b: _Builder, acc: Sequence[SSAValue], i0, rows: int, j0,
              vectors: int, mask: SSAValue | None) -> list[SSAValue]:
        """The epilogue of the block of vectors ``acc`` (as in :meth:`start`):
        each stage's body cloned on vectors."""
        for body, args in self.stages:
            acc = _vectorize(b, body, args, list(acc), i0, j0, rows, vectors, mask)
        return list(acc)


def _vectorize(b: _Builder, body: Block, mats: Sequence[_Matrix | SSAValue | None],
               acc: list[SSAValue], i0, j0, rows: int, vectors: int,
               mask: SSAValue | None) -> list[SSAValue]:
    """A stage's body on the ``rows x vectors`` block of vectors ``acc``
    (row-major) of C at row ``i0``, column ``j0``. Values that depend on neither
    the row nor the column are computed once."""
    # Whether each value of the body depends on the row and on the column.
    varies: dict[SSAValue, tuple[bool, bool]] = {}
    for arg, m in zip(body.args, mats):
        if m is None:
            varies[arg] = (True, True)
        elif isinstance(m, _Matrix):
            varies[arg] = (m.ld != 0, m.inc != 0)
    for op in body.ops:
        flags = [varies.get(v, (False, False)) for v in op.operands]
        for result in op.results:
            varies[result] = (any(r for r, _ in flags), any(c for _, c in flags))
    done: dict[tuple[SSAValue, int | None, int | None], SSAValue] = {}

    def vector(value: SSAValue, r: int, v: int) -> SSAValue:
        row, col = varies.get(value, (False, False))
        key = (value, r if row else None, v if col else None)
        if key in done:
            return done[key]
        owner = value.owner
        if isinstance(value, BlockArgument) and value.block is body:
            m = mats[value.index]
            if m is None:
                result = acc[r * vectors + v]
            elif isinstance(m, _Matrix):
                result = _row_vector(b, m, b.linear([(i0, 1)], r),
                                     b.linear([(j0, 1)], v * LANES), _last_mask(mask, v, vectors))
            else:
                result = _broadcast(b, m)
        elif isinstance(owner, Operation) and owner.parent_block() is body:
            result = b.add(_vector_op(owner, [vector(x, r, v) for x in owner.operands])).results[0]
        else:
            result = _broadcast(b, value)
        done[key] = result
        return result

    (yielded,) = body.last_op.operands  # pyright: ignore
    return [vector(yielded, r, v) for r in range(rows) for v in range(vectors)]


def _broadcast(b: _Builder, scalar: SSAValue) -> SSAValue:
    """``vector<16xf32>`` of an f32 from outside a body (a constant for one)."""
    if isinstance(scalar.owner, arith.ConstantOp):
        return b.add(_vector_op(scalar.owner, [])).results[0]
    return _splat(b, scalar, LANES)


def _vector_op(op: Operation, operands: Sequence[SSAValue]) -> Operation:
    """``op`` (a scalar op of ``_VECTOR_OPS``) on ``vector<16 x ...>`` operands."""
    types = [VectorType(t, [LANES]) for t in op.result_types]
    if isinstance(op, arith.ConstantOp):
        value = op.value
        assert isinstance(value, FloatAttr | IntegerAttr)
        return arith.ConstantOp(
            DenseIntOrFPElementsAttr.from_list(types[0], [value.value.data] * LANES), types[0])
    return type(op).create(operands=operands, result_types=types,
                           properties=dict(op.properties), attributes=dict(op.attributes))


# --------------------------------------------------------------------------- #
# GEMM
# --------------------------------------------------------------------------- #


def _last_mask(mask: SSAValue | None, v: int, vectors: int) -> SSAValue | None:
    """The mask of vector ``v`` of a row of ``vectors``: ``mask`` for the last."""
    return mask if v == vectors - 1 else None


def _tile_start(b: _Builder, c: _Matrix, fusion: _BoundFusion | None, first: SSAValue | bool,
                i0, rows: int, j0, vectors: int, mask: SSAValue | None) -> list[SSAValue]:
    """The accumulators of the ``rows x vectors`` block of vectors of C at row
    ``i0``, column ``j0`` (row-major): C's values, or on the first k block
    (``first``) the fused init's."""

    def load(b: _Builder) -> list[SSAValue]:
        return [_load(b, c, b.linear([(i0, 1)], r), b.linear([(j0, 1)], v * LANES), LANES,
                      _last_mask(mask, v, vectors)) for r in range(rows) for v in range(vectors)]

    if fusion is None or fusion.init is None:
        return load(b)
    return b.if_else(first, lambda b: fusion.start(b, i0, rows, j0, vectors, mask), load)


def _tile_store(b: _Builder, acc: Sequence[SSAValue], c: _Matrix,
                fusion: _BoundFusion | None, last: SSAValue | bool,
                i0, rows: int, j0, vectors: int, mask: SSAValue | None) -> None:
    """Store the accumulators of a block of C (as in ``_tile_start``) into C, or
    on the last k block (``last``) the fused epilogue's results into its
    destination."""

    def store(b: _Builder, values: Sequence[SSAValue], dest: _Matrix) -> list[SSAValue]:
        for r in range(rows):
            for v in range(vectors):
                col = b.linear([(j0, 1)], v * LANES)
                _store(b, values[r * vectors + v], dest, b.linear([(i0, 1)], r), col,
                       _last_mask(mask, v, vectors))
        return []

    if fusion is None or not fusion.stages:
        store(b, acc, c)
        return
    b.if_else(last, lambda b: store(b, fusion.apply(b, acc, i0, rows, j0, vectors, mask),
                                    fusion.dest), lambda b: store(b, acc, c))


def _micro_kernel(
    b: _Builder, a: _Matrix, bm: _Matrix, c: _Matrix,
    i0: SSAValue | int, j0: SSAValue | int, k0: SSAValue | int, k1: SSAValue | int,
    rows: int, vectors: int, bj0: SSAValue | int | None = None,
    columns: int | None = None, fusion: _BoundFusion | None = None,
    first: SSAValue | bool = True, last: SSAValue | bool = True,
) -> None:
    """``C[i0:i0+rows, j0:j0+vectors*16] += A[i0:, k0:k1] @ B[k0:k1, bj0:]``
    with the block of C in registers (``bj0`` defaults to ``j0``). ``columns``:
    only that many columns of the last vector (masked loads and stores). The
    ``fusion``'s init replaces C's values on the ``first`` k block, its epilogue
    runs on the ``last``."""
    bj0 = j0 if bj0 is None else bj0
    mask = None if columns is None else _first(b, columns)
    acc = _tile_start(b, c, fusion, first, i0, rows, j0, vectors, mask)

    def step(inner: _Builder, k, acc):
        bv = [_load(inner, bm, k, inner.linear([(bj0, 1)], v * LANES), LANES,
                    _last_mask(mask, v, vectors)) for v in range(vectors)]
        out = []
        for r in range(rows):
            av = _splat(inner, _load(inner, a, inner.linear([(i0, 1)], r), k, 1), LANES)
            for v in range(vectors):
                out.append(inner.add(llvm.FMAOp(av, bv[v], acc[r * vectors + v])).results[0])
        return out

    acc = b.loop(k0, k1, 1, step, acc)
    _tile_store(b, acc, c, fusion, last, i0, rows, j0, vectors, mask)


@dataclass(frozen=True)
class Split:
    """How a GEMM is divided into chunks: ``rows`` balanced blocks of its whole
    MR-row tiles (at most ``MC`` rows each) times ``cols`` balanced ranges of its
    whole NR-column panels. The rows past the whole tiles belong to the last block,
    the columns past the whole panels to the last range. Chunks write disjoint
    blocks of C; each runs all ``k`` blocks and packs its own panels of B (unless
    there are several row blocks: :func:`emit_batched_gemm` then packs B's whole
    panels once, before the chunks)."""

    rows: int
    cols: int

    @staticmethod
    def of(m: int, n: int, k: int, parallel: bool = True, batches: int = 1) -> Split:
        """The chunks of an ``m x n x k`` GEMM, one of ``batches`` alike: the
        fewest row blocks of at most ``MC`` rows (as one thread runs it), and, for
        parallel GEMMs of at least ``PARALLEL_MIN_FLOPS`` in all, about
        ``CHUNKS`` chunks in all (the batch index first) of at least
        ``CHUNK_FLOPS``: equal ranges of column panels first (a panel of B is
        packed once per row block, whatever the split), then smaller row blocks
        when there are too few panels for half of them."""
        tiles, panels = m // MR, n // NR
        blocks = max(1, -(-m // MC))
        flops = 2 * m * n * k * batches
        want = -(-min(CHUNKS, flops // CHUNK_FLOPS) // batches)
        if not parallel or flops < PARALLEL_MIN_FLOPS or want < 2:
            return Split(blocks, 1)
        cols = max(1, min(panels, -(-want // blocks)))
        cols = -(-panels // -(-panels // cols)) if panels else 1  # equal ranges
        if 2 * blocks * cols > want:  # enough: no more packing of B
            return Split(blocks, cols)
        return Split(max(blocks, min(tiles, -(-want // cols))), cols)


def _odd_tiles(b: _Builder, r0: SSAValue | int, r1: SSAValue | int) -> SSAValue | bool:
    """Whether rows ``[r0, r1)`` (a multiple of ``MR`` apart) are an odd number of
    ``MR``-row tiles: a bool when both are known, else an i1."""
    if isinstance(r0, int) and isinstance(r1, int):
        return (r1 - r0) // MR % 2 == 1
    rows = b.add(arith.SubiOp(b.value(r1), b.value(r0))).results[0]
    rest = b.add(arith.RemUIOp(rows, b.const(2 * MR))).results[0]
    return b.add(arith.CmpiOp(rest, b.const(0), "ne")).results[0]


def _equals(b: _Builder, index: SSAValue | int, value: int) -> SSAValue | bool:
    """Whether ``index == value``: a bool when ``index`` is known, else an i1."""
    if isinstance(index, int):
        return index == value
    return b.add(arith.CmpiOp(index, b.const(value), "eq")).results[0]


_Operands = Callable[[_Builder, SSAValue | int],
                     tuple[_Matrix, _Matrix, _Matrix, "_BoundFusion | None"]]
"""A, B, C and the fusion of the GEMM at an index of a batch of GEMMs, computed by
the builder (inside the loop over the batch)."""


def emit_gemm(b: _Builder, a: _Matrix, bm: _Matrix, c: _Matrix, m: int, n: int, k: int,
              fusion: _BoundFusion | None = None, parallel: bool = True) -> None:
    """Emit ``C += A @ B`` for f32 A ``m x k``, B ``k x n``, C ``m x n`` (static
    sizes; C with unit column stride, A and B any strides), C starting from
    ``fusion``'s init and ending in its epilogue: :func:`emit_batched_gemm` with a
    batch of one."""
    emit_batched_gemm(b, 1, lambda b, _: (a, bm, c, fusion), m, n, k, bm.inc != 1, parallel)


def emit_batched_gemm(b: _Builder, batches: int, operands: _Operands, m: int, n: int, k: int,
                      strided_b: bool, parallel: bool = True) -> None:
    """Emit ``batches`` GEMMs ``C += A @ B``, f32 A ``m x k``, B ``k x n``, C ``m x
    n`` (static sizes), those of batch index ``i`` given by ``operands(b, i)``: row-
    major matrices, C with unit column stride, A any strides, and B unit column
    stride unless ``strided_b`` (a transposed matrix, ``W^T`` with W ``n x k``):
    then every panel of B, the edge columns too, is packed from its strided
    layout (16 x 16 blocks of W transposed in registers), and the dot products
    of the last columns read W's rows in place. See the module
    docstring for the blocking and :class:`Split` for the chunks of each GEMM; the
    batch index and the chunks are the dimensions of one ``scf.parallel`` (unless
    ``parallel`` is False or there is only one chunk in all). The ops are
    appended through ``b``."""
    split = Split.of(m, n, k, parallel, batches)
    tiles, panels = m // MR, n // NR
    n_full = panels * NR
    rows = -(-tiles // split.rows) * MR + m % MR  # the most rows of a block
    threaded = (parallel and batches * split.rows * split.cols > 1
                and 2 * m * n * k * batches >= PARALLEL_MIN_FLOPS)
    rest = n - n_full
    dots = rest % LANES if rest % LANES <= DOT_EDGE else 0  # columns by dot products
    # B's whole panels, packed once before the chunks when several row blocks
    # read them (panel p at p * k * NR, its rows k x NR), else by each chunk.
    shared = None
    if batches == 1 and split.rows > 1 and panels:
        shared = b.add(memref.AllocOp.get(f32, 64, [panels * k * NR])).results[0]

        def pack_panel(b: _Builder, p: SSAValue | int) -> None:
            source, whole = operands(b, 0)[1].at(b), _Matrix(_pointer(b, shared), 0, NR)
            j0 = b.linear([(p, NR)])
            _pack(b, source, replace(whole, offset=b.linear([(j0, k)])), 0, k, j0, NR)

        if threaded and panels > 1:
            b.parallel([panels], lambda b, ivs: pack_panel(b, ivs[0]))
        else:
            b.loop(0, panels, 1, lambda b, p, _: pack_panel(b, p) or [])
    pack = None
    if (rows > MR and panels and shared is None) or strided_b or dots:
        slots = (batches if threaded else 1) * split.rows * split.cols
        pack = b.add(memref.AllocOp.get(f32, 64, [slots * KC * NR])).results[0]

    def chunk(b: _Builder, bi: SSAValue | int, rb: SSAValue | int, cb: SSAValue | int) -> None:
        a, bm, c, fusion = operands(b, bi)
        am, bmm, cm = a.at(b), bm.at(b), c.at(b)
        fused = None if fusion is None else fusion.at(b)
        packed = None
        if pack is not None:
            slot = bi if threaded else 0
            at = b.linear([(slot, split.rows * split.cols * KC * NR),
                           (rb, split.cols * KC * NR), (cb, KC * NR)])
            packed = _Matrix(_pointer(b, pack), at, NR)
        # Rows [r0, r1) in whole tiles, then the tail rows if this is the last
        # block; columns [c0, c1) in whole panels, then the edge if the last range.
        r0, r1 = (b.linear([(b.share(i, tiles, split.rows), MR)]) for i in (rb, _next(b, rb)))
        c0, c1 = (b.linear([(b.share(i, panels, split.cols), NR)]) for i in (cb, _next(b, cb)))
        tail = m % MR
        row_tail = _equals(b, rb, split.rows - 1) if tail else False
        col_edge = _equals(b, cb, split.cols - 1) if n > n_full else False
        nk = -(-k // KC)

        def k_block(b: _Builder, k0, _):
            if isinstance(k0, int):
                k1: SSAValue | int = min(k0 + KC, k)
            else:
                k1 = b.value(b.linear([(k0, 1)], KC))
                if k % KC:
                    k1 = b.add(arith.MinSIOp(k1, b.const(k))).results[0]
            first = fused is None or fused.init is None or _equals(b, k0, 0)
            last = fused is None or not fused.stages or _equals(b, k0, (nk - 1) * KC)

            def tiles_of(b: _Builder, j0, src, col, vectors, columns):
                """Micro-kernels over the rows of this block for the columns at ``j0``:
                ``MR`` rows each, or for one vector ``2 * MR`` (12 accumulators keep
                both FMA units busy; 6 would wait on the FMA latency), the last
                ``MR`` alone when the block has an odd number of tiles."""

                def tile(b: _Builder, i0, _, rows: int = MR):
                    _micro_kernel(b, am, src, cm, i0, j0, k0, k1, rows, vectors, col,
                                  columns, fused, first, last)
                    return []

                if vectors > 1:
                    b.loop(r0, r1, MR, tile)
                else:
                    b.loop(r0, b.linear([(r1, 1)], -MR), 2 * MR,
                           lambda b, i0, _: tile(b, i0, _, 2 * MR))
                    b.if_(_odd_tiles(b, r0, r1), lambda b: tile(b, b.linear([(r1, 1)], -MR), []))
                b.if_(row_tail, lambda b: _micro_kernel(
                    b, am, src, cm, r1, j0, k0, k1, tail, vectors, col, columns, fused,
                    first, last))

            def packed_panel(b: _Builder, j0, columns: int) -> _Matrix:
                """The ``k1 - k0`` x ``columns`` block of B at ``(k0, j0)`` copied to the
                packed buffer, as a matrix indexed like B's rows from ``k0``."""
                assert packed is not None
                _pack(b, bmm, packed, k0, k1, j0, columns)
                return replace(packed, offset=b.linear([(packed.offset, 1), (k0, -NR)]))

            def panel(b: _Builder, j0, _):
                src, col = bmm, j0
                if shared is not None:
                    src, col = _Matrix(_pointer(b, shared), b.linear([(j0, k)]), NR), 0
                elif packed is not None:
                    src, col = packed_panel(b, j0, NR), 0
                tiles_of(b, j0, src, col, NV, None)
                return []

            b.loop(c0, c1, NR, panel)

            def edge(b: _Builder) -> None:
                # One or two vectors, the last one masked when partial; then the
                # last `dots` columns by dot products.
                vec = rest - dots
                if vec:
                    src, col = bmm, n_full
                    if strided_b:
                        src, col = packed_panel(b, n_full, vec), 0
                    tiles_of(b, n_full, src, col, -(-vec // LANES), vec % LANES or None)
                if dots:
                    dot_edge(b, n_full + vec)

            def dot_edge(b: _Builder, j0: int) -> None:
                """Columns ``j0..n`` of the rows of this block: per row, dot products
                of A's row with B's columns over this k block, B's columns being
                W's rows in place for a transposed B, else first copied to rows
                of the packed buffer."""
                if strided_b:  # B = W^T: B's column j is W's row j
                    wm = _Matrix(bmm.source, bmm.offset, bmm.inc, bmm.ld)
                else:  # Bt[jj, kk - k0] = B[kk, j0 + jj]
                    assert packed is not None
                    bt = replace(packed, ld=KC)

                    def column(b: _Builder, jj, _):
                        def element(b: _Builder, kk, _):
                            value = _load(b, bmm, kk, b.linear([(jj, 1)], j0), 1)
                            _store(b, value, bt, jj, b.linear([(kk, 1), (k0, -1)]))
                            return []

                        b.loop(k0, k1, 1, element)
                        return []

                    b.loop(0, dots, 1, column)
                    wm = replace(bt, offset=b.linear([(bt.offset, 1), (k0, -1)], -j0 * KC))
                whole = k - k % LANES  # k1 rounded down to a multiple of 16
                k_end = k1 if not k % LANES else (
                    min(k1, whole) if isinstance(k1, int)
                    else b.add(arith.MinSIOp(k1, b.const(whole))).results[0])
                tail_cond = True if nk == 1 else _equals(b, k0, (nk - 1) * KC)

                def row(b: _Builder, i, _):
                    _dot_row(b, am, wm, cm, fused, i, j0, dots, k0, k_end, k % LANES,
                             tail_cond, first, last)
                    return []

                def tail_rows(b: _Builder) -> None:
                    b.loop(r1, b.linear([(r1, 1)], tail), 1, row)

                b.loop(r0, r1, 1, row)
                b.if_(row_tail, tail_rows)

            b.if_(col_edge, edge)
            return []

        b.loop(0, nk * KC, KC, k_block)

    dims = (batches, split.rows, split.cols)
    if threaded:
        # Unit dimensions stay out of the loop (their index is 0, known).
        def body(b: _Builder, ivs: Sequence[SSAValue]) -> None:
            it = iter(ivs)
            chunk(b, *(next(it) if d > 1 else 0 for d in dims))

        b.parallel([d for d in dims if d > 1], body)
    else:
        b.nest(dims, lambda b, ivs: chunk(b, *ivs), False)
    for buffer in (pack, shared):
        if buffer is not None:
            b.add(memref.DeallocOp.get(buffer))


def _pack(b: _Builder, src: _Matrix, packed: _Matrix, k0, k1, j0, columns: int) -> None:
    """``packed[kk - k0, j] = src[kk, j0 + j]`` for ``k0 <= kk < k1``, ``j <
    columns``: vectors along the rows of a matrix with unit column stride (for a
    whole panel); for ``src = W^T`` (unit row stride: W's rows contiguous), 16 x
    16 blocks loaded along W's rows and transposed in registers
    (:func:`_transpose`), the last ``(k1 - k0) mod 16`` rows one column at a time;
    else one column of ``src`` at a time."""
    if src.inc == 1 and columns == NR:
        def row(b: _Builder, kk, _):
            at = b.linear([(kk, 1), (k0, -1)])
            for v in range(NV):
                value = _load(b, src, kk, b.linear([(j0, 1)], v * LANES), LANES)
                _store(b, value, packed, at, v * LANES)
            return []

        b.loop(k0, k1, 1, row)
        return

    def column(b: _Builder, j, _, lo=k0):
        def element(b: _Builder, kk, _):
            value = _load(b, src, kk, b.linear([(j0, 1), (j, 1)]), 1)
            _store(b, value, packed, b.linear([(kk, 1), (k0, -1)]), j)
            return []

        b.loop(lo, k1, 1, element)
        return []

    if src.ld != 1:
        b.loop(0, columns, 1, column)
        return
    # B = W^T with W's rows contiguous: blocks of 16 x 16 read along W's rows and
    # transposed in registers, then the last k1 - k0 mod 16 rows one at a time.
    if isinstance(k0, int) and isinstance(k1, int):
        whole: SSAValue | int = k1 - (k1 - k0) % LANES
    else:
        span = b.add(arith.SubiOp(b.value(k1), b.value(k0))).results[0]
        rest = b.add(arith.RemUIOp(span, b.const(LANES))).results[0]
        whole = b.add(arith.SubiOp(b.value(k1), rest)).results[0]

    def block(b: _Builder, kk, _):
        for h in range(0, columns, LANES):
            count = min(LANES, columns - h)
            # src[kk .. kk+15, j] are consecutive (src.ld == 1): W's row j.
            w_rows = [_load(b, src, kk, b.linear([(j0, 1)], h + jj), LANES)
                      for jj in range(count)]
            w_rows += [_zeros(b)] * (LANES - count)
            for t, vector in enumerate(_transpose(b, w_rows)):
                _store(b, vector, packed, b.linear([(kk, 1), (k0, -1)], t), h)
        return []

    b.loop(k0, whole, LANES, block)
    b.loop(0, columns, 1, lambda b, j, _: column(b, j, _, whole))


def _transpose(b: _Builder, rows: Sequence[SSAValue]) -> list[SSAValue]:
    """The 16 x 16 matrix whose rows are the 16 ``vector<16xf32>`` ``rows``,
    transposed: four stages of ``llvm.shufflevector`` pairs, stage ``s`` swapping
    the off-diagonal ``2^s x 2^s`` blocks of each ``2^(s+1)`` block (the recursive
    block transpose; 64 shuffles)."""
    rows = list(rows)
    size = 1
    while size < LANES:
        low = [lane if lane // size % 2 == 0 else LANES + lane - size for lane in range(LANES)]
        high = [lane + size if lane // size % 2 == 0 else LANES + lane for lane in range(LANES)]
        out = list(rows)
        for group in range(0, LANES, 2 * size):
            for i in range(group, group + size):
                out[i], out[i + size] = (_shuffle(b, rows[i], mask, rows[i + size])
                                         for mask in (low, high))
        rows, size = out, 2 * size
    return rows


def _next(b: _Builder, index: SSAValue | int) -> SSAValue | int:
    """``index + 1``."""
    return b.linear([(index, 1)], 1)


def emit_dot_rows(b: _Builder, a: _Matrix, w: _Matrix, c: _Matrix, m: int, n: int, k: int,
                  fusion: _BoundFusion | None = None, parallel: bool = True) -> None:
    """Emit ``C += A @ W^T`` for f32 A ``m x k``, W ``n x k``, C ``m x n`` with few
    rows (``m <= MR``, a classifier at batch 1), reading W's rows in place: per
    block of 16 rows of W and per row of A, 16 vector accumulators along ``k`` (a
    fused multiply-add per 16 ``k``, the last ones masked), each summed
    (``llvm.vector.reduce.fadd``) into one lane of a vector of 16 columns of C,
    which then goes through the fused init and epilogue like a micro-kernel's.
    Blocks of W are split into chunks (an ``scf.parallel``) as GEMM column panels
    are. The sums over ``k`` are in another order than the loop lowering's."""
    blocks, tail = n // LANES, n % LANES
    flops = 2 * m * n * k
    chunks = 1
    if parallel and flops >= PARALLEL_MIN_FLOPS:
        chunks = max(1, min(CHUNKS, blocks, flops // CHUNK_FLOPS))

    def block(b: _Builder, am: _Matrix, wm: _Matrix, cm: _Matrix, fused, j0, count: int):
        """C[:, j0:j0+count] (count <= 16)."""
        for i in range(m):
            _dot_row(b, am, wm, cm, fused, i, j0, count, 0, k - k % LANES, k % LANES, True,
                     True, True)

    def chunk(b: _Builder, cb: SSAValue | int) -> None:
        am, wm, cm = a.at(b), w.at(b), c.at(b)
        fused = None if fusion is None else fusion.at(b)
        lo, hi = (b.linear([(b.share(x, blocks, chunks), LANES)]) for x in (cb, _next(b, cb)))
        b.loop(lo, hi, LANES, lambda b, j0, _: block(b, am, wm, cm, fused, j0, LANES) or [])
        if tail:
            b.if_(_equals(b, cb, chunks - 1),
                  lambda b: block(b, am, wm, cm, fused, blocks * LANES, tail))

    if chunks > 1:
        b.parallel([chunks], lambda b, ivs: chunk(b, ivs[0]))
    else:
        chunk(b, 0)


def _dot_row(b: _Builder, a: _Matrix, w: _Matrix, c: _Matrix, fused: _BoundFusion | None,
             i, j0, count: int, k0, k_end, tail: int, tail_cond: SSAValue | bool,
             first: SSAValue | bool, last: SSAValue | bool) -> None:
    """``C[i, j0 + jj] += sum_kk A[i, kk] * W[j0 + jj, kk]`` for ``jj < count <=
    16``, over ``k0 <= kk < k_end`` (a multiple of 16 apart) and, when
    ``tail_cond``, the ``tail`` more ``kk`` after (masked loads): one vector
    accumulator along ``kk`` per column (a fused multiply-add per 16 ``kk``),
    each summed (``llvm.vector.reduce.fadd``) into one lane of a vector of C's
    row, which starts from the fused init on the ``first`` k block and ends in
    the fused epilogue on the ``last``, like a micro-kernel's. The sums over
    ``kk`` are in another order than the loop lowering's."""
    mask = None if count == LANES else _first(b, count)
    zero = _zeros(b)

    def step(b: _Builder, kk, acc, lanes: int = LANES):
        kmask = None if lanes == LANES else _first(b, lanes)
        av = _load(b, a, i, kk, LANES, kmask)
        return [b.add(llvm.FMAOp(av, _load(b, w, b.linear([(j0, 1)], jj), kk, LANES, kmask),
                                 acc[jj])).results[0] for jj in range(count)]

    acc = b.loop(k0, k_end, LANES, step, [zero] * count)
    if tail:
        acc = b.if_else(tail_cond, lambda b: step(b, k_end, acc, tail), lambda b: acc)
    dot = zero
    for jj, vector in enumerate(acc):
        start = b.add(llvm.ConstantOp(FloatAttr(0.0, f32), f32)).results[0]
        total = b.add(llvm.CallIntrinsicOp(
            "llvm.vector.reduce.fadd.v16f32", [start, vector], [f32])).results[0]
        lane = b.add(llvm.ConstantOp(IntegerAttr(jj, i32), i32)).results[0]
        dot = b.add(llvm.InsertElementOp(dot, total, lane)).results[0]
    (start,) = _tile_start(b, c, fused, first, i, 1, j0, 1, mask)
    value = b.add(llvm.FAddOp(start, dot)).results[0]
    _tile_store(b, [value], c, fused, last, i, 1, j0, 1, mask)


def _transposed(op: Operation, value: SSAValue) -> tuple[TransposeOp, SSAValue] | None:
    """When the input ``value`` of ``op`` is a buffer holding only a transpose of a
    memref X (a ``linalg.transpose`` into ``value`` before ``op``, nothing else
    using the buffer but deallocs, X unchanged in between): that transpose and X."""
    root = _root(value)
    writers = [use.operation for alias in _aliases(root) for use in alias.uses
               if use.operation is not op and not isinstance(use.operation, (memref.DeallocOp,
                                                                            *_VIEWS))]
    if len(writers) != 1 or not isinstance(writers[0], TransposeOp):
        return None
    transpose = writers[0]
    if (transpose.outputs[0] is not value or transpose.parent_block() is not op.parent_block()
            or not transpose.is_before_in_block(op) or not _dead_after(root, op)):
        return None
    (x,) = transpose.inputs
    return (transpose, x) if _unchanged(x, transpose, op) else None


def _source(op: Operation, value: SSAValue
            ) -> tuple[SSAValue, tuple[int, ...], int, TransposeOp | None] | None:
    """Where ``op`` finds the elements of its f32 memref input ``value``: the memref
    read, its strides along ``value``'s dims and offset (``_layout``), and the
    ``linalg.transpose`` to erase when ``value`` is a transposed copy (see
    ``_transposed``) read in place, through permuted strides. None when the
    layout is not static."""
    transposed = _transposed(op, value)
    if transposed is not None:
        transpose, x = transposed
        layout = _layout(x)
        if layout is not None:
            _, strides, offset = layout
            permuted = tuple(strides[d] for d in transpose.permutation.get_values())
            return x, permuted, offset, transpose
    layout = _layout(value)
    return None if layout is None else (value, layout[1], layout[2], None)


def _layout(value: SSAValue) -> tuple[tuple[int, ...], tuple[int, ...], int] | None:
    """Shape, strides and offset of an f32 memref with a static layout, else None."""
    t = value.type
    if not isinstance(t, MemRefType) or not isinstance(t.element_type, Float32Type):
        return None
    try:
        strides, offset = strided_layout(t)
    except DiagnosticException:
        return None
    return tuple(t.get_shape()), strides, offset


@dataclass
class MatmulToMicroKernels(RewritePattern):
    """``linalg.matmul`` on f32 memrefs (unit column stride of C) -> GEMM, with the
    elementwise ops around it fused (see :class:`Fusion`). A B that is a
    transposed copy of W (a linear layer's weight) is read from W in place (see
    ``_source``): dot products along W's rows for at most ``MR`` rows, else the
    GEMM packs B's panels from W's rows."""

    parallel: bool = True

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: MatmulOp, rewriter: PatternRewriter, /):
        if len(op.inputs) != 2 or len(op.outputs) != 1 or op.results:
            return
        maps = [m.data for m in op.indexing_maps.data]
        if [str(x) for x in maps] != [
            "(d0, d1, d2) -> (d0, d2)", "(d0, d1, d2) -> (d2, d1)", "(d0, d1, d2) -> (d0, d1)"
        ]:
            return
        (a, bv), (c,) = op.inputs, op.outputs
        la, lc, source = _layout(a), _layout(c), _source(op, bv)
        if la is None or lc is None or source is None or lc[1][1] != 1:
            return
        (sa, ta, oa), (sc, tc, oc), (w, tb, ob, transpose) = la, lc, source
        (m, k), n = sa, sc[1]
        out = _Access(_root(c), oc, tc)
        fusion = Fusion.match(op, out, tuple(sc), (a, w), rewriter)
        b = _Builder(op.parent_block(), op)  # pyright: ignore
        am = _Matrix(a, oa, ta[0], ta[1])
        if m <= MR and ta[1] == 1 and tb[0] == 1:
            # B = W^T, W n x k with unit column stride: dot products along W's rows.
            emit_dot_rows(b, am, _Matrix(w, ob, tb[1]), out.matrix(b, ()), m, n, k,
                          fusion.bind(b, ()), self.parallel)
        else:  # packs the panels of a transposed B from W's rows
            emit_gemm(b, am, _Matrix(w, ob, tb[0], tb[1]), out.matrix(b, ()), m, n, k,
                      fusion.bind(b, ()), self.parallel)
        if transpose is not None:
            rewriter.erase(transpose)
        fusion.erase(rewriter)
        rewriter.erase(op)


@dataclass(frozen=True)
class _Contraction:
    """A batched matrix product ``C[z, i, j] += sum_k A[z, i, k] * B[z, k, j]``
    computed by a ``linalg.generic``: ``batch`` is the shape of its batch index
    ``z`` (C's leading dims), A, B and C accesses over ``(batch..., i, k)``,
    ``(batch..., k, j)`` and ``(batch..., i, j)``, and ``m x n x k`` the size of
    each product. A batch dim that an input's map leaves out broadcasts it (stride
    0); B may have any strides (a transposed matrix: ``q @ k^T``). ``reads``
    are the memrefs read, ``transposes`` the transposed copies of inputs that are
    read in place instead (see ``_source``), erased with the op."""

    batch: tuple[int, ...]
    a: _Access
    b: _Access
    c: _Access
    m: int
    n: int
    k: int
    reads: tuple[SSAValue, ...]
    transposes: tuple[TransposeOp, ...]

    @staticmethod
    def of(op: GenericOp) -> _Contraction | None:
        """The contraction ``op`` computes, as MLIR's ``isaContractionOpInterface``
        recognizes one (the indexing maps and a multiply-add body, not an op
        name): two f32 memref inputs and one output with static layouts, one
        reduction dim ``k``, a body ``out + x * y`` (either order), the output
        map a projection onto all the parallel dims whose last two are ``i`` and
        ``j``, one input indexed by ``i`` and not ``j`` (A), the other by ``j``
        and not ``i`` (B), both by ``k``. None for any other op, or when C's
        column stride is not 1."""
        if op.results or len(op.inputs) != 2 or len(op.outputs) != 1:
            return None
        iterators = [it.data for it in op.get_iterator_types()]
        if iterators.count(IteratorType.REDUCTION) != 1 or not _multiply_add(op.body.block):
            return None
        maps = [m.data for m in op.get_indexing_maps()]
        dims = [[r.position if isinstance(r, AffineDimExpr) else None for r in m.results]
                for m in maps]
        kd = iterators.index(IteratorType.REDUCTION)
        out = dims[-1]
        if None in out or sorted(out) != [d for d in range(len(iterators)) if d != kd] or (
                len(out) < 2):
            return None
        *batch_dims, md, nd = out
        operands = list(zip(op.operands, maps))
        x, y = dims[0], dims[1]
        if md in y and nd in x:  # the inputs the other way around
            x, y = y, x
            operands[:2] = operands[1::-1]
        if nd in x or md in y or kd not in x or kd not in y or md not in x or nd not in y:
            return None
        sa, sb = (_source(op, v) for v, _ in operands[:2])
        lc = _layout(op.outputs[0])
        if sa is None or sb is None or lc is None:
            return None
        sources = (sa, sb, (op.outputs[0], lc[1], lc[2], None))
        steps: list[tuple[SSAValue, list[int], int]] = []
        for (_, amap), (value, strides, offset, _) in zip(operands, sources):
            step = _steps(amap, strides, offset)
            if step is None:
                return None
            steps.append((_root(value), *step))

        def access(i: int, row: int, col: int) -> _Access:
            root, step, offset = steps[i]
            return _Access(root, offset, (*(step[d] for d in batch_dims), step[row], step[col]))

        c = access(2, md, nd)
        if c.strides[-1] != 1:
            return None
        transposes = {t: None for _, _, _, t in (sa, sb) if t is not None}  # in order, once
        loops = op.get_static_loop_ranges()
        return _Contraction(tuple(loops[d] for d in batch_dims), access(0, md, kd),
                            access(1, kd, nd), c, loops[md], loops[nd], loops[kd],
                            (sa[0], sb[0]), tuple(transposes))


@dataclass
class ContractionToMicroKernels(RewritePattern):
    """A batched matrix product ``linalg.generic`` on f32 memrefs (see
    :class:`_Contraction`) -> one packed GEMM per batch index (the batch index a
    dimension of the GEMMs' ``scf.parallel``), with the elementwise ops around it
    fused (see :class:`Fusion`)."""

    parallel: bool = True

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: GenericOp, rewriter: PatternRewriter, /):
        mm = _Contraction.of(op)
        if mm is None:
            split = _split_multiplicands(op, rewriter)
            mm = None if split is None else _Contraction.of(split)
            if split is None or mm is None:
                return
            op = split
        fusion = Fusion.match(op, mm.c, (*mm.batch, mm.m, mm.n), mm.reads, rewriter)

        def operands(b: _Builder, index: SSAValue | int):
            batch = _unravel(b, index, mm.batch)
            return (mm.a.matrix(b, batch), mm.b.matrix(b, batch), mm.c.matrix(b, batch),
                    fusion.bind(b, batch))

        emit_batched_gemm(_Builder(op.parent_block(), op), prod(mm.batch),  # pyright: ignore
                          operands, mm.m, mm.n, mm.k, mm.b.strides[-1] != 1, self.parallel)
        for transpose in mm.transposes:
            rewriter.erase(transpose)
        fusion.erase(rewriter)
        rewriter.erase(op)


def _unravel(b: _Builder, index: SSAValue | int, shape: Sequence[int]) -> list[SSAValue | int]:
    """The multi-index of the row-major linear ``index`` in ``shape``."""
    result: list[SSAValue | int] = []
    for d in range(len(shape) - 1, -1, -1):
        if d == 0:
            result.append(index)
        elif isinstance(index, int):
            index, rest = divmod(index, shape[d])
            result.append(rest)
        else:
            size = b.const(shape[d])
            result.append(b.add(arith.RemUIOp(index, size)).results[0])
            index = b.add(arith.DivUIOp(index, size)).results[0]
    return result[::-1]


def _split_multiplicands(op: GenericOp, rewriter: PatternRewriter) -> GenericOp | None:
    """A generic computing ``out + f(xs) * g(ys)`` with one reduction dim, where
    ``f`` and ``g`` are expressions of its inputs (a producer that
    ``dagc-linalg-fuse-elementwise`` fused into a matrix product: softmax's
    ``exp(s - max) / sum`` before ``@ v``) -> each multiplicand that is not an
    input computed once into a new buffer, by an all-parallel generic over the
    loops its inputs name, and the multiply-add generic reading the buffers
    (returned; None, and nothing changed, when ``op`` is not of this form, a
    multiplicand names all the loops (no recomputation to save) or reads the
    output). A ``linalg.index`` (a causal mask) becomes that of the same loop in
    the new loop nest. The multiplicand generics are inserted before the op that
    initializes the output when there is one (see :class:`Fusion`)."""
    if op.results or len(op.outputs) != 1 or not isinstance(op.outputs[0].type, MemRefType):
        return None
    iterators = [it.data for it in op.get_iterator_types()]
    block = op.body.block
    ops = list(block.ops)
    if iterators.count(IteratorType.REDUCTION) != 1 or len(ops) < 3 or any(
            o.regions for o in ops):
        return None
    add, end = ops[-2], ops[-1]
    out_arg = block.args[-1]
    if not (isinstance(add, arith.AddfOp) and tuple(end.operands) == (add.result,)
            and out_arg in (add.lhs, add.rhs)):
        return None
    mul = (add.rhs if add.lhs is out_arg else add.lhs).owner
    if not (isinstance(mul, arith.MulfOp) and mul.parent_block() is block
            and isinstance(mul.result.type, Float32Type)):
        return None
    maps = [m.data for m in op.get_indexing_maps()]
    loops = op.get_static_loop_ranges()
    out_root = _root(op.outputs[0])
    anchor = effect_before(op)
    if not (isinstance(anchor, GenericOp | FillOp) and _root(anchor.outputs[0]) is out_root):
        anchor = op
    inputs: list[tuple[SSAValue, AffineMap]] = []
    made: list[Operation] = []  # the buffers and generics, inserted once all qualify
    for factor in (mul.lhs, mul.rhs):
        if isinstance(factor, BlockArgument) and factor.block is block:
            if factor is out_arg:
                return None
            inputs.append((op.operands[factor.index], maps[factor.index]))
            continue
        # The body ops that ``factor`` depends on, in order, and the inputs they read.
        needed, work = {factor}, [factor]
        while work:
            owner = work.pop().owner
            if isinstance(owner, Operation) and owner.parent_block() is block:
                fresh = [v for v in owner.operands if v not in needed]
                needed.update(fresh)
                work += fresh
        if out_arg in needed:
            return None
        slice_ops = [o for o in ops if any(r in needed for r in o.results)]
        if not all(isinstance(o, IndexOp) or is_side_effect_free(o) for o in slice_ops):
            return None
        outside = [v for o in slice_ops for v in o.operands
                   if not (isinstance(v, BlockArgument) and v.block is block)
                   and not (isinstance(v.owner, Operation) and v.owner.parent_block() is block)]
        if not all(_defined_before(v, anchor) for v in outside):
            return None
        args = [a for a in block.args if a in needed]
        if not args:
            return None
        dims = sorted({e.position for a in args for e in maps[a.index].results
                       if isinstance(e, AffineDimExpr)}
                      | {o.dim.value.data for o in slice_ops if isinstance(o, IndexOp)})
        if len(dims) == len(loops) or any(
                not isinstance(e, AffineDimExpr | AffineConstantExpr)
                for a in args for e in maps[a.index].results):
            return None
        if any(_root(op.operands[a.index]) is out_root for a in args):
            return None
        renumber = {d: AffineDimExpr(i) for i, d in enumerate(dims)}
        shape = [loops[d] for d in dims]
        buffer = memref.AllocOp.get(f32, 64, shape)
        body = Block(arg_types=[*(a.type for a in args), f32])
        mapping = dict(zip(args, body.args))
        for o in slice_ops:
            if isinstance(o, IndexOp):  # the same loop's index in the new loop nest
                index = IndexOp(dims.index(o.dim.value.data))
                body.add_op(index)
                mapping[o.result] = index.result
            else:
                body.add_op(o.clone(mapping))
        body.add_op(type(end).create(operands=[mapping[factor]]))
        producer = GenericOp(
            [op.operands[a.index] for a in args], [buffer.memref], Region(body),
            [AffineMapAttr(AffineMap(len(dims), 0, tuple(
                e if isinstance(e, AffineConstantExpr) else renumber[e.position]
                for e in maps[a.index].results))) for a in args]
            + [AffineMapAttr(AffineMap.identity(len(dims)))],
            ArrayAttr([IteratorTypeAttr.parallel()] * len(dims)))
        inputs.append((buffer.memref, AffineMap(len(loops), 0, tuple(
            AffineDimExpr(d) for d in dims))))
        made += [buffer, producer]
    if not made:
        return None
    rewriter.insert(made, InsertPoint.before(anchor))
    mac = Block(arg_types=[f32, f32, f32])
    x, y, acc = mac.args
    product = arith.MulfOp(x, y)
    total = arith.AddfOp(acc, product.result)
    mac.add_ops([product, total, type(end).create(operands=[total.result])])
    contraction = GenericOp(
        [v for v, _ in inputs], [op.outputs[0]], Region(mac),
        [AffineMapAttr(m) for _, m in inputs] + [AffineMapAttr(maps[-1])],
        op.iterator_types)
    deallocs = [memref.DeallocOp.get(o.results[0]) for o in made if isinstance(o, memref.AllocOp)]
    rewriter.replace(op, [contraction, *deallocs], [])
    return contraction


def _multiply_add(block: Block) -> bool:
    """Whether a linalg body is ``yield out + x * y`` on f32 (``x``, ``y`` the
    inputs, ``out`` the output, any order of operands)."""
    ops = list(block.ops)
    if len(ops) != 3 or len(block.args) != 3 or not all(
            isinstance(a.type, Float32Type) for a in block.args):
        return False
    mul, add, end = ops
    x, y, out = block.args
    return (isinstance(mul, arith.MulfOp) and isinstance(add, arith.AddfOp)
            and {mul.lhs, mul.rhs} == {x, y}
            and {add.lhs, add.rhs} == {out, mul.result}
            and tuple(end.operands) == (add.result,))


def _unpadded(
    op: Operation, x: SSAValue, border: float = 0.0
) -> tuple[SSAValue, tuple[int, int], list[Operation]] | None:
    """When the input ``x`` of the window op ``op`` (a convolution, a pooling)
    views a buffer that only holds a copy of a 4-D memref padded with ``border``:
    a ``linalg.fill`` of ``border`` over the whole buffer, then a ``memref.copy`` of the source into a unit-stride subview
    at spatial offsets (top, left), nothing else using the buffer but ``op`` and
    deallocs. Returns the source, the offsets and the fill and the copy."""
    root = _root(x)
    users = [use.operation for alias in _aliases(root) for use in alias.uses
             if not isinstance(use.operation, (memref.DeallocOp, *_VIEWS))]
    fills = [u for u in users if isinstance(u, FillOp)]
    copies = [u for u in users if isinstance(u, memref.CopyOp)]
    if len(users) != 3 or len(fills) != 1 or len(copies) != 1 or op not in users:
        return None
    (fill,), (copy,) = fills, copies
    value = fill.inputs[0].owner
    if not (isinstance(value, arith.ConstantOp) and isinstance(value.value, FloatAttr)
            and value.value.value.data == border and fill.outputs[0] is root):
        return None
    view, src = copy.destination.owner, copy.source
    if not (isinstance(view, memref.SubviewOp) and view.source is root and not view.offsets
            and not view.sizes and not view.strides and _layout(src) is not None):
        return None
    offsets = tuple(view.static_offsets.get_values())
    shape = tuple(src.type.get_shape())  # pyright: ignore
    if (len(offsets) != 4 or offsets[:2] != (0, 0)
            or tuple(view.static_strides.get_values()) != (1,) * 4
            or tuple(view.static_sizes.get_values()) != shape):
        return None
    if not (fill.parent_block() is copy.parent_block() is op.parent_block()
            and fill.is_before_in_block(copy) and copy.is_before_in_block(op)
            and _dead_after(root, op) and _unchanged(src, copy, op)):
        return None
    return src, (offsets[2], offsets[3]), [fill, copy]


@dataclass(frozen=True)
class _Conv:
    """A 2-D convolution on grouped views: x ``N x G x C x H x W``, w ``G x F x C x
    KH x KW``, out ``N x G x F x OH x OW`` (G = 1 for a plain convolution), with
    the layouts (shape, strides, offset) of each and the window's stride and
    dilation. ``x`` is read with ``border`` around it: ``pad`` (top, left) rows
    and columns, up to ``padded`` (height, width) in all; ``padding`` are the ops
    that built the padded copy the op reads (erased with it).

    A max pooling is the same window walk without weights (``w`` None, its layout
    only the window's shape ``C x 1 x 1 x KH x KW``, one channel per group) and a
    maximum instead of multiply-adds, read with ``-inf`` around it."""

    x: SSAValue
    w: SSAValue | None
    out: SSAValue
    lx: tuple[tuple[int, ...], tuple[int, ...], int]
    lw: tuple[tuple[int, ...], tuple[int, ...], int]
    lo: tuple[tuple[int, ...], tuple[int, ...], int]
    stride: tuple[int, int]
    dilation: tuple[int, int]
    pad: tuple[int, int]
    padded: tuple[int, int]
    padding: list[Operation]
    border: float = 0.0

    @staticmethod
    def of(op: Conv2DNchwFchwOp | Conv2DNgchwGfchwOp) -> _Conv | None:
        """The convolution ``op`` computes, None when a layout is not static f32
        or the output's spatial dims are not contiguous. A zero-padded copy of
        its input is read from its source instead (see ``_unpadded``)."""
        (x, w), (out,) = op.inputs, op.outputs
        layouts = [_layout(v) for v in (x, w, out)]
        if any(t is None for t in layouts):
            return None
        (sx, tx, ox), (sw, tw, ow), (so, to, oo) = layouts  # pyright: ignore
        if len(sx) == 4:  # no group dim: add a unit one
            sx, tx = (sx[0], 1, *sx[1:]), (tx[0], 0, *tx[1:])
            sw, tw = (1, *sw), (0, *tw)
            so, to = (so[0], 1, *so[1:]), (to[0], 0, *to[1:])
        if to[3:] != (so[4], 1):
            return None
        stride, dilation = (tuple(a.get_values()) for a in (op.strides, op.dilations))
        pad, padding, padded = (0, 0), [], sx[3:]
        unpadded = _unpadded(op, x)
        if unpadded is not None:
            x, pad, padding = unpadded
            (n, c, h, wd), (t0, t1, t2, t3), ox = _layout(x)  # pyright: ignore
            per = sx[2]  # channels per group
            sx, tx = (n, sx[1], per, h, wd), (t0, per * t1, t1, t2, t3)
        return _Conv(x, w, out, (sx, tx, ox), (sw, tw, ow), (so, to, oo),
                     stride, dilation, pad, padded, padding)  # pyright: ignore

    @staticmethod
    def of_max_pool(op: GenericOp) -> _Conv | None:
        """The max pooling ``op`` computes, recognized from its indexing maps and
        body, as ``dag-to-linalg``'s ``pool_window`` writes one (MLIR's
        ``linalg.pooling_nchw_max``): inputs x ``N x C x H x W`` and a ``KH x KW``
        window, loops ``(n, c, oh, ow, kh, kw)`` (the last two reductions), x read
        at ``(n, c, oh*sh + kh*dh, ow*sw + kw*dw)``, the output ``N x C x OH x OW``
        at ``(n, c, oh, ow)``, a body ``maximumf(out, x)`` (either order). None for
        any other op, or when a layout is not static f32 with unit column strides."""
        if op.results or len(op.inputs) != 2 or len(op.outputs) != 1:
            return None
        iterators = [it.data for it in op.get_iterator_types()]
        if iterators != [IteratorType.PARALLEL] * 4 + [IteratorType.REDUCTION] * 2:
            return None
        body = list(op.body.block.ops)
        acc, value = op.body.block.args[2], op.body.block.args[0]
        if not (len(body) == 2 and isinstance(body[0], arith.MaximumfOp)
                and set(body[0].operands) == {acc, value}
                and tuple(body[1].operands) == tuple(body[0].results)):
            return None
        xmap, wmap, omap = (_coefficients(m.data) for m in op.get_indexing_maps())

        def projection(*dims: int) -> tuple[list[list[int]], list[int]]:
            return [[int(d == i) for d in range(6)] for i in dims], [0] * len(dims)

        if xmap is None or omap != projection(0, 1, 2, 3) or wmap != projection(4, 5):
            return None
        rows, offsets = xmap
        (sh, dh), (sw, dw) = (rows[2][2], rows[2][4]), (rows[3][3], rows[3][5])
        if (any(offsets) or rows[:2] != projection(0, 1)[0]
                or rows[2] != [0, 0, sh, 0, dh, 0] or rows[3] != [0, 0, 0, sw, 0, dw]):
            return None
        (x, window), (out,) = op.inputs, op.outputs
        lx, lo = _layout(x), _layout(out)
        kernel = window.type.get_shape()  # pyright: ignore
        if lx is None or lo is None or lx[1][3] != 1 or lo[1][3] != 1:
            return None
        (n, c, _, _), tx, ox = lx
        (_, _, oh, owd), to, oo = lo
        padded, pad, padding = lx[0][2:], (0, 0), []
        unpadded = _unpadded(op, x, -inf)
        if unpadded is not None:
            x, pad, padding = unpadded
            (_, _, h, wd), tx, ox = _layout(x)  # pyright: ignore
        else:
            h, wd = padded

        def grouped(t: Sequence[int]) -> tuple[int, ...]:
            return (t[0], t[1], t[1], t[2], t[3])  # one channel per group

        return _Conv(x, None, out, ((n, c, 1, h, wd), grouped(tx), ox),
                     ((c, 1, 1, *kernel), (0,) * 5, 0),
                     ((n, c, 1, oh, owd), grouped(to), oo),
                     (sh, sw), (dh, dw), pad, padded, padding, -inf)

    @property
    def depthwise(self) -> bool:
        """Whether :func:`emit_depthwise` computes it: one input and one output
        channel per group (of several), a horizontal stride of 1 or 2, unit column
        stride of x."""
        (_, g, c, _, _), tx, _ = self.lx
        (_, f, _, _, _), _, _ = self.lw
        return (c, f) == (1, 1) and g > 1 and self.stride[1] in (1, 2) and tx[4] == 1

    @property
    def gemm(self) -> bool:
        """Whether :func:`_conv_gemm` computes it: w[g] is a row-major ``F x
        C*KH*KW`` matrix."""
        (_, _, _, kh, kw), tw, _ = self.lw
        return tw[2:] == (kh * kw, kw, 1)

    def output(self) -> tuple[_Access, tuple[int, ...]]:
        """The output as an access over the kernel index space ``(N, G, F, OH*OW)``."""
        (n, g, f, oh, ow), to, oo = self.lo
        return _Access(_root(self.out), oo, (to[0], to[1], to[2], 1)), (n, g, f, oh * ow)

    def plane(self, b: _Builder, ni, gi, ci) -> _Matrix:
        """Channel ``ci`` of group ``gi`` of image ``ni`` of x, ``H x W``."""
        _, tx, ox = self.lx
        return _Matrix(self.x, b.linear([(ni, tx[0]), (gi, tx[1]), (ci, tx[2])], ox), tx[3], tx[4])

    def erase(self, rewriter: PatternRewriter) -> None:
        """Erase the ops that built the padded input, and the padded buffer when
        nothing else uses it."""
        erase_padding(self.padding, rewriter)


def erase_padding(padding: Sequence[Operation], rewriter: PatternRewriter) -> None:
    """Erase the fill and copy that built a padded input (as :func:`_unpadded`
    returns them), and the padded buffer when nothing else uses it."""
    if not padding:
        return
    fill = padding[0]
    assert isinstance(fill, FillOp)
    root = fill.outputs[0]
    for op in padding:
        rewriter.erase(op)
    users = {use.operation for alias in _aliases(root) for use in alias.uses}
    if all(isinstance(u, (memref.DeallocOp, *_VIEWS)) for u in users):
        while users:  # users of a view before the view
            unused = {u for u in users if not any(r.uses for r in u.results)}
            for u in unused:
                rewriter.erase(u)
            users -= unused
        rewriter.erase(root.owner)  # pyright: ignore


def _conv_gemm(b: _Builder, conv: _Conv, fusion: Fusion, parallel: bool) -> None:
    """Emit the convolution (``conv.gemm``) as im2col + GEMM per image and group,
    with the ``fusion``."""
    (n, g, c, _, wd), tx, ox = conv.lx
    (_, f, _, kh, kw), tw, ow = conv.lw
    (_, _, _, oh, owd), _, _ = conv.lo
    kdim = c * kh * kw
    # A = w[g] as F x C*KH*KW; C = out[n, g] as F x OH*OW.
    direct = ((kh, kw) == (1, 1) and conv.stride == (1, 1) and tx[3:] == (wd, 1)
              and conv.pad == (0, 0) and conv.padded == (oh, owd))
    out, _ = conv.output()
    col = None
    if not direct:
        col = b.add(memref.AllocOp.get(f32, 64, [kdim, oh * owd])).results[0]

    def image(b: _Builder, ni, _):
        def group(b: _Builder, gi, _):
            if direct:
                bm = _Matrix(conv.x, b.linear([(ni, tx[0]), (gi, tx[1])], ox), tx[2])
            else:
                _im2col(b, conv, col, ni, gi, parallel)
                bm = _Matrix(col, 0, oh * owd)
            am = _Matrix(conv.w, b.linear([(gi, tw[0])], ow), tw[1])
            emit_gemm(b, am, bm, out.matrix(b, (ni, gi)), f, oh * owd, kdim,
                      fusion.bind(b, (ni, gi)), parallel)
            return []

        b.loop(0, g, 1, group)
        return []

    b.loop(0, n, 1, image)
    if col is not None:
        b.add(memref.DeallocOp.get(col))


def _im2col(b: _Builder, conv: _Conv, col: SSAValue, ni, gi, parallel: bool) -> None:
    """``col[(ci*KH + i)*KW + j, y*OW + z] = x[ni, gi, ci, y*sh + i*dh - top,
    z*sw + j*dw - left]``, 0 outside x (the padding): per row of ``col`` and
    output row ``y``, the columns ``z`` whose input is inside x (a static range
    for each ``j``, unrolled) are copied by vectors (:func:`_copy_run`), the others
    zeroed; an ``scf.parallel`` over the ``(ci, i)`` rows of ``col`` when it is
    large."""
    (_, _, c, h, wd), _, _ = conv.lx
    (_, _, _, kh, kw), _, _ = conv.lw
    (_, _, _, oh, owd), _, _ = conv.lo
    (sh, sw), (dh, dw), (top, left) = conv.stride, conv.dilation, conv.pad
    cm = _Matrix(col, 0, oh * owd)

    def rows(b: _Builder, ci, i) -> None:
        xm, cmm = conv.plane(b, ni, gi, ci).at(b), cm.at(b)
        # Output rows [y0, y1) read inside x.
        y0, y1 = (b.ceildiv_clamped(b.linear([(i, -dh)], lim), sh, oh) for lim in (top, top + h))
        for j in range(kw):
            row = b.linear([(ci, kh * kw), (i, kw)], j)
            # Output columns [z0, z1) read inside x.
            z0, z1 = (min(max(-(-(lim - j * dw) // sw), 0), owd) for lim in (left, left + wd))

            def zero_rows(b: _Builder, y, _):
                _copy_run(b, cmm, row, b.linear([(y, owd)]), None, 0, 0, owd)
                return []

            def inside(b: _Builder, y, _):
                at = b.linear([(y, owd)])
                _copy_run(b, cmm, row, at, None, 0, 0, z0)
                hy = b.linear([(y, sh), (i, dh)], -top)
                _copy_run(b, cmm, row, b.linear([(at, 1)], z0), xm, hy,
                          z0 * sw + j * dw - left, z1 - z0, sw)
                _copy_run(b, cmm, row, b.linear([(at, 1)], z1), None, 0, 0, owd - z1)
                return []

            b.loop(0, y0, 1, zero_rows)
            b.loop(y0, y1, 1, inside)
            b.loop(y1, oh, 1, zero_rows)

    b.nest([c, kh], lambda b, ivs: rows(b, *ivs),
           parallel and c * kh * kw * oh * owd >= PARALLEL_MIN_COPY and c * kh > 1)


def _strided_vector(b: _Builder, m: _Matrix, row, col, step: int, count: int) -> SSAValue:
    """``vector<16xf32>`` of ``m[row, col + t*step]`` for ``t < count`` (``count
    <= 16``, the other lanes 0): a (masked) load for ``step`` 1; for ``step`` 2 a
    load of ``2*count`` floats masked to the even lanes, whose even lanes are kept
    (``llvm.shufflevector``)."""
    if step == 1:
        return _load(b, m, row, col, LANES, None if count == LANES else _first(b, count))
    assert step == 2
    lanes = _mask(b, [q % 2 == 0 and q // 2 < count for q in range(2 * LANES)])
    return _shuffle(b, _load(b, m, row, col, 2 * LANES, lanes), range(0, 2 * LANES, 2))


def _copy_run(b: _Builder, dst: _Matrix, drow, dcol, src: _Matrix | None, srow, scol,
              count: int, step: int = 1, fill: float = 0.0) -> None:
    """``dst[drow, dcol + t] = src[srow, scol + t*step]`` (``fill`` without
    ``src``) for ``t < count`` (static): by vectors of 16, the last masked, for
    ``step`` 1 or 2 (:func:`_strided_vector`), else one element at a time."""
    if count <= 0:
        return
    if src is not None and step > 2:
        def element(b: _Builder, t, _):
            value = _load(b, src, srow, b.linear([(scol, 1), (t, step)]), 1)
            _store(b, value, dst, drow, b.linear([(dcol, 1), (t, 1)]))
            return []

        b.loop(0, count, 1, element)
        return
    if src is None:
        filled = _zeros(b, value=fill)

    def vector(b: _Builder, t, lanes: int) -> None:
        value = filled if src is None else _strided_vector(
            b, src, srow, b.linear([(scol, 1), (t, step)]), step, lanes)
        _store(b, value, dst, drow, b.linear([(dcol, 1), (t, 1)]),
               None if lanes == LANES else _first(b, lanes))

    full = count - count % LANES
    b.loop(0, full, LANES, lambda b, t, _: vector(b, t, LANES) or [])
    if count > full:
        vector(b, full, count - full)


def _copy_plane(b: _Builder, dst: _Matrix, src: _Matrix | None, rows: int, cols: int,
                at: tuple[int, int] = (0, 0), fill: float = 0.0) -> None:
    """``dst[at[0] + r, at[1] + c] = src[r, c]`` (``fill`` without ``src``) for
    ``r < rows``, ``c < cols`` (:func:`_copy_run` per row)."""

    def row(b: _Builder, r, _):
        _copy_run(b, dst, b.linear([(r, 1)], at[0]), at[1], src, r, 0, cols, fill=fill)
        return []

    b.loop(0, rows, 1, row)


def emit_depthwise(b: _Builder, conv: _Conv, fusion: Fusion, parallel: bool) -> None:
    """Emit a depthwise convolution (``conv.depthwise``: one input and one output
    channel per group), or a max pooling (``conv.w`` None), directly: per image
    and channel, per output row, vectors of 16 output columns (the last one
    masked) accumulate ``KH * KW`` fused multiply-adds of broadcast weights and
    input vectors (for a pooling, maximums of the input vectors; NaN propagates,
    as ``arith.maximumf``), starting from the fused init, or the output, then the
    fused epilogue and a store. A horizontal stride of 2 loads 32 consecutive
    inputs (masked to the even lanes) and keeps the even lanes
    (``llvm.shufflevector``). With padding, each channel is first copied into the
    interior of a buffer of the padded size whose border is ``conv.border`` (one
    per chunk of channels, in cache, instead of the whole padded input in
    memory). The channels (of all images) are split into balanced chunks, an
    ``scf.parallel`` when the kernel is large."""
    (n, g, _, h, wd), _, _ = conv.lx
    (_, _, _, kh, kw), tw, ow = conv.lw
    (_, _, _, oh, owd), _, _ = conv.lo
    (sh, sw), (dh, dw) = conv.stride, conv.dilation
    out, _ = conv.output()

    (hp, wp), (top, left) = conv.padded, conv.pad
    padded = conv.pad != (0, 0) or conv.padded != (h, wd)

    def channel(b: _Builder, ni, gi, scratch: _Matrix | None) -> None:
        xm = conv.plane(b, ni, gi, 0).at(b)
        if scratch is not None:  # the padded channel (its border is conv.border)
            _copy_plane(b, scratch, xm, h, wd, (top, left))
            xm = scratch
        om = out.matrix(b, (ni, gi)).at(b)
        bound = fusion.bind(b, (ni, gi))
        fused = None if bound is None else bound.at(b)
        if conv.w is None:
            def combine(b: _Builder, acc: SSAValue, xv: SSAValue, _: int) -> SSAValue:
                return b.add(llvm_ops.FMaximumOp(acc, xv)).results[0]
        else:
            wm = _Matrix(conv.w, b.linear([(gi, tw[0])], ow), tw[3], tw[4]).at(b)
            weights = [_splat(b, _load(b, wm, i, j, 1), LANES)
                       for i in range(kh) for j in range(kw)]

            def combine(b: _Builder, acc: SSAValue, xv: SSAValue, tap: int) -> SSAValue:
                return b.add(llvm.FMAOp(weights[tap], xv, acc)).results[0]

        def vectors(b: _Builder, y, x0, count: int) -> None:
            p = b.linear([(y, owd), (x0, 1)])
            mask = None if count == LANES else _first(b, count)
            (acc,) = _tile_start(b, om, fused, True, 0, 1, p, 1, mask)
            for i in range(kh):
                for j in range(kw):
                    row, at = b.linear([(y, sh)], i * dh), b.linear([(x0, sw)], j * dw)
                    acc = combine(b, acc, _strided_vector(b, xm, row, at, sw, count), i * kw + j)
            _tile_store(b, [acc], om, fused, True, 0, 1, p, 1, mask)

        def row(b: _Builder, y, _):
            full = owd - owd % LANES
            b.loop(0, full, LANES, lambda b, x0, _: vectors(b, y, x0, LANES) or [])
            if owd > full:
                vectors(b, y, full, owd - full)
            return []

        b.loop(0, oh, 1, row)

    flops = 2 * n * g * oh * owd * kh * kw
    chunks = 1
    if parallel and flops >= PARALLEL_MIN_FLOPS:
        chunks = min(CHUNKS, n * g, max(2, flops // CHUNK_FLOPS))

    def chunk(b: _Builder, index: SSAValue | int) -> None:
        """Channels [lo, hi) of the ``N * G`` (images, then channels)."""
        scratch = None
        if padded:
            buffer = b.add(memref.AllocOp.get(f32, 64, [hp * wp])).results[0]
            scratch = _Matrix(_pointer(b, buffer), 0, wp)
            _copy_plane(b, scratch, None, hp, wp, fill=conv.border)

        def each(b: _Builder, at, _):
            if n == 1 or isinstance(at, int):
                ni, gi = (0, at) if n == 1 else divmod(at, g)
            else:
                ni = b.add(arith.DivUIOp(at, b.const(g))).results[0]
                gi = b.add(arith.RemUIOp(at, b.const(g))).results[0]
            channel(b, ni, gi, scratch)
            return []

        b.loop(b.share(index, n * g, chunks), b.share(_next(b, index), n * g, chunks), 1, each)
        if padded:
            b.add(memref.DeallocOp.get(buffer))

    if chunks > 1:
        b.parallel([chunks], lambda b, ivs: chunk(b, ivs[0]))
    else:
        chunk(b, 0)


@dataclass
class ConvToMicroKernels(RewritePattern):
    """``linalg.conv_2d_nchw_fchw`` / ``conv_2d_ngchw_gfchw`` on f32 memrefs ->
    the depthwise kernel or im2col + GEMM, with the elementwise ops around it
    fused (see :class:`Fusion`)."""

    parallel: bool = True

    @op_type_rewrite_pattern
    def match_and_rewrite(
        self, op: Conv2DNchwFchwOp | Conv2DNgchwGfchwOp, rewriter: PatternRewriter, /
    ):
        if op.results:
            return
        conv = _Conv.of(op)
        if conv is None:
            return
        if conv.depthwise:
            _replace_window_op(op, conv, emit_depthwise, self.parallel, rewriter)
        elif conv.gemm:
            _replace_window_op(op, conv, _conv_gemm, self.parallel, rewriter)


@dataclass
class MaxPoolToMicroKernels(RewritePattern):
    """A max pooling ``linalg.generic`` on f32 memrefs (see
    :meth:`_Conv.of_max_pool`) -> the depthwise kernel's window walk with
    maximums, with the elementwise ops around it fused (see :class:`Fusion`)."""

    parallel: bool = True

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: GenericOp, rewriter: PatternRewriter, /):
        pool = _Conv.of_max_pool(op)
        if pool is not None and pool.depthwise:
            _replace_window_op(op, pool, emit_depthwise, self.parallel, rewriter)


def _replace_window_op(op: Operation, conv: _Conv,
                       emit: Callable[[_Builder, _Conv, Fusion, bool], None],
                       parallel: bool, rewriter: PatternRewriter) -> None:
    """Replace the convolution or pooling ``op`` (computing ``conv``), the
    elementwise ops fused into it and the ops that padded its input by the kernel
    ``emit`` writes."""
    out, space = conv.output()
    fusion = Fusion.match(op, out, space, op.operands[:-1], rewriter)
    emit(_Builder(op.parent_block(), op), conv, fusion, parallel)  # pyright: ignore
    fusion.erase(rewriter)
    rewriter.erase(op)
    conv.erase(rewriter)


@dataclass(frozen=True)
class LinalgToMicroKernelsPass(ModulePass):
    """Replace f32 ``linalg.matmul``, batched matrix product ``linalg.generic``
    ops and 2-D convolutions on memrefs, and the elementwise ops that initialize
    their output before them and that follow them, by register-blocked vector
    kernels (see the module docstring).

    Run after ``dagc-bufferize`` and before ``dagc-linalg-generalize``; ops that do
    not qualify are left unchanged. ``parallel``: emit an ``scf.parallel`` over
    the chunks of large kernels (false: one thread); ``winograd-group-bytes``: see
    :data:`WINOGRAD_GROUP_BYTES`.
    """

    name = "dagc-linalg-to-microkernels"

    parallel: bool = True

    winograd_group_bytes: int = WINOGRAD_GROUP_BYTES
    """The most bytes of a Winograd convolution's transformed input and GEMM
    products per group of images (:data:`WINOGRAD_GROUP_BYTES`)."""

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        from dagc.lowering.winograd_kernels import WinogradToMicroKernels

        PatternRewriteWalker(
            GreedyRewritePatternApplier([MatmulToMicroKernels(self.parallel),
                                         WinogradToMicroKernels(self.parallel,
                                                                self.winograd_group_bytes),
                                         ContractionToMicroKernels(self.parallel),
                                         ConvToMicroKernels(self.parallel),
                                         MaxPoolToMicroKernels(self.parallel)]),
            apply_recursively=False,
        ).rewrite_module(op)
