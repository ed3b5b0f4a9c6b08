"""Register-blocked, vectorized kernels for the hot linalg ops (pass
`dagc-linalg-to-microkernels`).

Runs on linalg on memrefs (after `dagc-bufferize`, before
`dagc-linalg-generalize`) and replaces, when their operands are f32 with unit
innermost strides,

- `linalg.matmul` (`C += A @ B`, A `M x K`, B `K x N`, C `M x N`);
- `linalg.conv_2d_nchw_fchw` (groups = 1) and `linalg.conv_2d_ngchw_gfchw`
  (grouped and depthwise convolution): per image (and group), an im2col copy of the
  input windows into a `C*KH*KW x OH*OW` buffer (none for a 1x1, stride 1 window
  over a contiguous input), then the same GEMM with the weight `F x C*KH*KW` as A
  and the output `F x OH*OW` as C;

by the loop nest of a GotoBLAS / BLIS GEMM (Goto and van de Geijn, "Anatomy of
high-performance matrix multiplication", TOMS 2008; Van Zee and van de Geijn,
"BLIS", TOMS 2015): `K` is split into blocks of `KC = 256`, `M` into balanced
blocks of at most `MC = 120` rows (the `MC x KC` block of A is read once per column
panel and stays in L2), then `N` into panels of `NR = 2 x 16` columns, then the
rows into micro-tiles of `MR = 6`. Each `KC x NR` panel of B is
first copied to a contiguous 32 KiB buffer (when more than one row block reuses
it), so that it stays in L1 whatever B's leading dimension (power-of-two strides
would otherwise map its rows to a few cache sets); A is read in place. The
micro-kernel keeps the `MR x NR` block of C in 12 vector registers
(`vector<16xf32>`, one AVX-512 register each) carried through the `k` loop as
`scf.for` iteration arguments, and per `k` loads two vectors of B, broadcasts six
scalars of A and issues 12 fused multiply-adds. Edges use the same micro-kernel
with fewer rows, one vector of columns, and for the last `N mod 16` columns one
vector with masked loads and stores (`llvm.masked.load` / `llvm.masked.store`),
so every shape is exact and nothing is read or written out of bounds. C is
accumulated in
place (it holds the bias), and each element sums over `k` in increasing order, as
the loop lowering does; results differ only by FMA rounding.

The loops are `scf.for` over `index`; the memory accesses and arithmetic of the
micro-kernel are emitted directly in the llvm dialect with vector types (MLIR's
`vector` dialect would be lowered to exactly these ops, and dagc has no
vector -> llvm edge): the aligned base pointer of each memref
(`memref.extract_aligned_pointer_as_index`, `llvm.inttoptr`), `llvm.getelementptr`,
`llvm.load` / `llvm.store` with 4-byte alignment, `llvm.call_intrinsic`
(`llvm.masked.load`), `llvm.intr.masked.store`, `llvm.insertelement` +
`llvm.shufflevector` (broadcast) and `llvm.intr.fma`. `convert-to-llvm` leaves
them as they are and lowers the loops and index arithmetic around them; LLVM's
backend then selects AVX-512 (or, on narrower hosts, splits each vector).

Ops whose operands do not qualify (other element types, a non-unit innermost
stride, an output whose spatial dims are not contiguous) are left for the loop
lowering. Place: in the CPU pipeline right after `dagc-bufferize`. The kernels are
single-threaded.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from dagc.lowering.llvm_types import strided_layout
from xdsl.context import Context
from xdsl.dialects import arith, llvm, memref, scf
from xdsl.dialects.builtin import (
    DenseArrayBase,
    DenseIntOrFPElementsAttr,
    Float32Type,
    IndexType,
    IntegerAttr,
    MemRefType,
    ModuleOp,
    VectorType,
    f32,
    i1,
    i32,
    i64,
)
from xdsl.dialects.linalg.ops import Conv2DNchwFchwOp, Conv2DNgchwGfchwOp, MatmulOp
from xdsl.ir import Attribute, Block, Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    GreedyRewritePatternApplier,
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
    op_type_rewrite_pattern,
)
from xdsl.utils.exceptions import DiagnosticException

LANES = 16
"""f32 lanes of one vector register (AVX-512)."""

MR = 6
"""Rows of C per micro-kernel."""

NV = 2
"""Vectors of C per row of the micro-kernel (NR = NV * LANES columns)."""

KC = 256
"""Depth of a block of K."""

MC = 120
"""Most rows of A in a block (``MC x KC`` floats, 120 KiB, stay in L2)."""


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

    def loop(
        self,
        lo: SSAValue | int,
        trips: int,
        step: int,
        body: Callable[[_Builder, SSAValue | int, Sequence[SSAValue]], Sequence[SSAValue]],
        inits: Sequence[SSAValue] = (),
    ) -> Sequence[SSAValue]:
        """``for i in range(lo, lo + trips * step, step)``: an ``scf.for`` carrying
        ``inits``, or the body inlined with ``i = lo`` for a single trip."""
        if trips <= 0:
            return list(inits)
        if trips == 1:
            return list(body(self, lo, list(inits)))
        block = Block(arg_types=[IndexType(), *(v.type for v in inits)])
        inner = _Builder(block)
        results = body(inner, block.args[0], list(block.args[1:]))
        inner.add(scf.YieldOp(*results))
        start, end = self.value(lo), self.value(self.linear([(lo, 1)], trips * step))
        return self.add(scf.ForOp(start, end, self.const(step), inits, block)).results

    def loop_to(
        self,
        lo: SSAValue | int,
        hi: SSAValue,
        body: Callable[[_Builder, SSAValue, Sequence[SSAValue]], Sequence[SSAValue]],
        inits: Sequence[SSAValue] = (),
    ) -> Sequence[SSAValue]:
        """``for i in range(lo, hi)`` with a dynamic end: an ``scf.for``."""
        block = Block(arg_types=[IndexType(), *(v.type for v in inits)])
        inner = _Builder(block)
        results = body(inner, block.args[0], list(block.args[1:]))
        inner.add(scf.YieldOp(*results))
        start = self.const(lo) if isinstance(lo, int) else lo
        return self.add(scf.ForOp(start, hi, self.const(1), inits, block)).results


@dataclass
class _Matrix:
    """A row-major f32 matrix view: element ``(r, c)`` is at
    ``pointer + offset + r * ld + c`` (elements)."""

    pointer: SSAValue
    offset: SSAValue | int
    ld: int


def _pointer(b: _Builder, value: SSAValue) -> SSAValue:
    """The aligned base pointer of a memref, as ``!llvm.ptr``."""
    address = b.add(memref.ExtractAlignedPointerAsIndexOp.get(value)).results[0]
    as_int = b.add(arith.IndexCastOp(address, i64)).results[0]
    return b.add(llvm.IntToPtrOp(as_int)).results[0]


def _address(b: _Builder, m: _Matrix, row: SSAValue | int, col: SSAValue | int) -> SSAValue:
    index = b.linear([(m.offset, 1), (row, m.ld), (col, 1)])
    if isinstance(index, int):
        if index == 0:
            return m.pointer
        as_int = b.add(llvm.ConstantOp(IntegerAttr(index, i64), i64)).results[0]
    else:
        as_int = b.add(arith.IndexCastOp(index, i64)).results[0]
    return b.add(
        llvm.GEPOp(m.pointer, [llvm.GEP_USE_SSA_VAL], f32, ssa_indices=[as_int], inbounds=True)
    ).results[0]


def _lane_type(lanes: int) -> Attribute:
    return f32 if lanes == 1 else VectorType(f32, [lanes])


def _mask(b: _Builder, count: int) -> SSAValue:
    """``vector<16xi1>`` with the first ``count`` lanes set."""
    mask_type = VectorType(i1, [LANES])
    value = DenseIntOrFPElementsAttr.from_list(mask_type, [1] * count + [0] * (LANES - count))
    return b.add(llvm.ConstantOp(value, mask_type)).results[0]


def _load(
    b: _Builder, m: _Matrix, row, col, lanes: int, mask: SSAValue | None = None
) -> SSAValue:
    """Load ``lanes`` floats at ``(row, col)`` (only the ``mask`` lanes, others 0)."""
    address = _address(b, m, row, col)
    if mask is None:
        return b.add(llvm.LoadOp(address, _lane_type(lanes), alignment=4)).results[0]
    vtype = _lane_type(lanes)
    zero = b.add(llvm.ConstantOp(
        DenseIntOrFPElementsAttr.from_list(vtype, [0.0] * lanes), vtype)).results[0]
    align = b.add(llvm.ConstantOp(IntegerAttr(4, i32), i32)).results[0]
    call = llvm.CallIntrinsicOp(
        f"llvm.masked.load.v{lanes}f32.p0", [address, align, mask, zero], [vtype])
    return b.add(call).results[0]


def _store(b: _Builder, value: SSAValue, m: _Matrix, row, col,
           mask: SSAValue | None = None) -> None:
    address = _address(b, m, row, col)
    if mask is None:
        b.add(llvm.StoreOp(value, address, alignment=4))
    else:
        b.add(llvm.MaskedStoreOp(value, address, mask, alignment=4))


def _splat(b: _Builder, scalar: SSAValue, lanes: int) -> SSAValue:
    if lanes == 1:
        return scalar
    vtype = VectorType(f32, [lanes])
    undef = b.add(llvm.UndefOp(vtype)).results[0]
    zero = b.add(llvm.ConstantOp(IntegerAttr(0, i32), i32)).results[0]
    one = b.add(llvm.InsertElementOp(undef, scalar, zero)).results[0]
    mask = DenseArrayBase.from_list(i32, [0] * lanes)
    shuffle = llvm.ShuffleVectorOp.build(
        operands=[one, one], properties={"mask": mask}, result_types=[vtype]
    )
    return b.add(shuffle).results[0]


def _micro_kernel(
    b: _Builder, a: _Matrix, bm: _Matrix, c: _Matrix,
    i0: SSAValue | int, j0: SSAValue | int, k0: SSAValue | int, k1: SSAValue,
    rows: int, vectors: int, lanes: int, bj0: SSAValue | int | None = None,
    columns: int | None = None,
) -> None:
    """``C[i0:i0+rows, j0:j0+vectors*lanes] += A[i0:, k0:k1] @ B[k0:k1, bj0:]``
    with the block of C in registers (``bj0`` defaults to ``j0``). ``columns``:
    only that many columns of a single vector (masked loads and stores)."""
    bj0 = j0 if bj0 is None else bj0
    mask = None if columns is None else _mask(b, columns)
    acc = [
        _load(b, c, b.linear([(i0, 1)], r), b.linear([(j0, 1)], v * lanes), lanes, mask)
        for r in range(rows) for v in range(vectors)
    ]

    def step(inner: _Builder, k, acc):
        bv = [_load(inner, bm, k, inner.linear([(bj0, 1)], v * lanes), lanes, mask)
              for v in range(vectors)]
        out = []
        for r in range(rows):
            av = _splat(inner, _load(inner, a, inner.linear([(i0, 1)], r), k, 1), lanes)
            for v in range(vectors):
                out.append(inner.add(llvm.FMAOp(av, bv[v], acc[r * vectors + v])).results[0])
        return out

    acc = b.loop_to(k0, k1, step, acc)
    for r in range(rows):
        for v in range(vectors):
            row = b.linear([(i0, 1)], r)
            _store(b, acc[r * vectors + v], c, row, b.linear([(j0, 1)], v * lanes), mask)


def emit_gemm(b: _Builder, a: _Matrix, bm: _Matrix, c: _Matrix, m: int, n: int, k: int) -> None:
    """Emit ``C += A @ B`` for f32 A ``m x k``, B ``k x n``, C ``m x n`` (static
    sizes, row-major views with unit column stride; see the module docstring for
    the blocking). The ops are appended through ``b``."""
    nr = NV * LANES
    n_full = n - n % nr
    n_vec = n_full + (n - n_full) // LANES * LANES
    blocks = -(-m // MC)
    mc = -(-m // blocks // MR) * MR  # balanced row blocks, multiples of MR

    pack = None
    if min(m, mc) > MR and n_full:
        pack = b.add(memref.AllocOp.get(f32, 64, [KC, nr])).results[0]
        packed = _Matrix(_pointer(b, pack), 0, nr)

    def panel_rows(b: _Builder, k0, k1, m0, rows: int, j0, src, col, vectors, columns):
        """Rows ``m0 .. m0 + rows`` of one column panel: micro-kernels of MR rows,
        then one of the remaining rows."""
        full = rows - rows % MR

        def tile(b: _Builder, i0, _):
            _micro_kernel(b, a, src, c, i0, j0, k0, k1, MR, vectors, LANES, col, columns)
            return []

        b.loop(m0, full // MR, MR, tile)
        if rows > full:
            _micro_kernel(b, a, src, c, b.linear([(m0, 1)], full), j0, k0, k1, rows - full,
                          vectors, LANES, col, columns)

    def row_block(b: _Builder, k0, k1, m0, rows: int) -> None:
        for lo, hi, vectors, columns in (
            (0, n_full, NV, None), (n_full, n_vec, 1, None), (n_vec, n, 1, n - n_vec)
        ):
            width = vectors * LANES if columns is None else hi - lo

            def panel(b: _Builder, j0, _, vectors=vectors, columns=columns):
                src, col = bm, j0
                if pack is not None and vectors == NV and rows > MR:
                    # Copy the depth x NR panel of B to a contiguous buffer: no
                    # cache-set conflicts for power-of-two ld, one stream.
                    def copy(b: _Builder, k, _):
                        row = b.linear([(k, 1), (k0, -1)])
                        for v in range(NV):
                            value = _load(b, bm, k, b.linear([(j0, 1)], v * LANES), LANES)
                            _store(b, value, packed, row, v * LANES)
                        return []

                    b.loop_to(k0, k1, copy)
                    src, col = _Matrix(packed.pointer, b.linear([(k0, -nr)]), nr), 0
                panel_rows(b, k0, k1, m0, rows, j0, src, col, vectors, columns)
                return []

            if hi > lo:
                b.loop(lo, (hi - lo) // width, width, panel)

    def k_block(b: _Builder, k0, _):
        # k1 = min(k0 + KC, k): one body for full blocks and the last one.
        if isinstance(k0, int):
            k1 = b.const(min(k0 + KC, k))
        else:
            k1 = b.value(b.linear([(k0, 1)], KC))
            if k % KC:
                k1 = b.add(arith.MinSIOp(k1, b.const(k))).results[0]

        def full_rows(b: _Builder, m0, _):
            row_block(b, k0, k1, m0, mc)
            return []

        b.loop(0, m // mc, mc, full_rows)
        if m % mc:
            row_block(b, k0, k1, m - m % mc, m % mc)
        return []

    b.loop(0, -(-k // KC), KC, k_block)
    if pack is not None:
        b.add(memref.DeallocOp.get(pack))


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


class MatmulToMicroKernels(RewritePattern):
    """``linalg.matmul`` on f32 memrefs (unit column strides of B and C) -> GEMM."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: MatmulOp, rewriter: PatternRewriter, /):
        if len(op.inputs) != 2 or len(op.outputs) != 1 or op.results:
            return
        maps = [m.data for m in op.indexing_maps.data]
        if [str(x) for x in maps] != [
            "(d0, d1, d2) -> (d0, d2)", "(d0, d1, d2) -> (d2, d1)", "(d0, d1, d2) -> (d0, d1)"
        ]:
            return
        layouts = [_layout(v) for v in (*op.inputs, *op.outputs)]
        if any(x is None for x in layouts):
            return
        (sa, ta, oa), (sb, tb, ob), (_, tc, oc) = layouts  # pyright: ignore
        if ta[1] != 1 or tb[1] != 1 or tc[1] != 1:
            return
        b = _Builder(op.parent_block(), op)  # pyright: ignore
        pa, pb, pc = (_pointer(b, v) for v in (*op.inputs, *op.outputs))
        emit_gemm(b, _Matrix(pa, oa, ta[0]), _Matrix(pb, ob, tb[0]), _Matrix(pc, oc, tc[0]),
                  sa[0], sb[1], sa[1])
        rewriter.erase(op)


def _conv_gemm(
    b: _Builder,
    x: SSAValue,
    w: SSAValue,
    out: SSAValue,
    groups: int,
    stride: tuple[int, int],
    dilation: tuple[int, int],
) -> bool:
    """Emit the convolution ``out += conv(x, w)`` as im2col + GEMM per image and
    group, on grouped views: x ``N x G x C x H x W``, w ``G x F x C x KH x KW``,
    out ``N x G x F x OH x OW`` (G = 1 for plain convolution). Returns False, having
    emitted nothing, when a layout does not qualify."""
    layouts = [_layout(v) for v in (x, w, out)]
    if any(t is None for t in layouts):
        return False
    (sx, tx, ox), (sw, tw, ow_), (so, to, oo) = layouts  # pyright: ignore
    if len(sx) == 4:  # no group dim: add a unit one
        sx, tx = (sx[0], 1, *sx[1:]), (tx[0], 0, *tx[1:])
        sw, tw = (1, *sw), (0, *tw)
        so, to = (so[0], 1, *so[1:]), (to[0], 0, *to[1:])
    n, g, c, _, wd = sx
    _, f, _, kh, kw = sw
    _, _, _, oh, owd = so
    kdim = c * kh * kw
    # A = w[g] as F x C*KH*KW; C = out[n, g] as F x OH*OW.
    if tw[2:] != (kh * kw, kw, 1) or to[3:] != (owd, 1):
        return False
    direct = (kh, kw) == (1, 1) and stride == (1, 1) and tx[3:] == (wd, 1)
    px, pw, po = _pointer(b, x), _pointer(b, w), _pointer(b, out)
    col = None
    if not direct:
        col = b.add(memref.AllocOp.get(f32, 64, [kdim, oh * owd])).results[0]
        pcol = _pointer(b, col)

    def image(b: _Builder, ni, _):
        def group(b: _Builder, gi, _):
            if direct:
                bm = _Matrix(px, b.linear([(ni, tx[0]), (gi, tx[1])], ox), tx[2])
            else:
                grouped = len(x.type.get_shape()) == 5  # pyright: ignore
                _im2col(b, x, col, ni, gi if grouped else None, (c, kh, kw, oh, owd),
                        stride, dilation)
                bm = _Matrix(pcol, 0, oh * owd)
            am = _Matrix(pw, b.linear([(gi, tw[0])], ow_), tw[1])
            cm = _Matrix(po, b.linear([(ni, to[0]), (gi, to[1])], oo), to[2])
            emit_gemm(b, am, bm, cm, f, oh * owd, kdim)
            return []

        b.loop(0, g, 1, group)
        return []

    b.loop(0, n, 1, image)
    if col is not None:
        b.add(memref.DeallocOp.get(col))
    return True


def _im2col(
    b: _Builder, x: SSAValue, col: SSAValue, ni, gi,
    sizes: tuple[int, int, int, int, int], stride: tuple[int, int],
    dilation: tuple[int, int],
) -> None:
    """``col[(ci*KH + i)*KW + j, y*OW + z] = x[ni, (gi,) ci, y*sh + i*dh, z*sw + j*dw]``."""
    c, kh, kw, oh, owd = sizes

    def as_value(b: _Builder, v) -> SSAValue:
        return b.const(v) if isinstance(v, int) else v

    def ci_loop(b: _Builder, ci, _):
        def i_loop(b: _Builder, i, _):
            def j_loop(b: _Builder, j, _):
                def y_loop(b: _Builder, y, _):
                    def z_loop(b: _Builder, z, _):
                        row = b.value(b.linear([(ci, kh * kw), (i, kw), (j, 1)]))
                        colm = b.value(b.linear([(y, owd), (z, 1)]))
                        hy = b.value(b.linear([(y, stride[0]), (i, dilation[0])]))
                        wz = b.value(b.linear([(z, stride[1]), (j, dilation[1])]))
                        index = [as_value(b, ni)]
                        if gi is not None:
                            index.append(as_value(b, gi))
                        index += [as_value(b, ci), hy, wz]
                        v = b.add(memref.LoadOp.get(x, index)).results[0]
                        b.add(memref.StoreOp.get(v, col, [row, colm]))
                        return []

                    b.loop(0, owd, 1, z_loop)
                    return []

                b.loop(0, oh, 1, y_loop)
                return []

            b.loop(0, kw, 1, j_loop)
            return []

        b.loop(0, kh, 1, i_loop)
        return []

    b.loop(0, c, 1, ci_loop)


class ConvToMicroKernels(RewritePattern):
    """``linalg.conv_2d_nchw_fchw`` / ``conv_2d_ngchw_gfchw`` on f32 memrefs ->
    im2col + GEMM (see the module docstring)."""

    @op_type_rewrite_pattern
    def match_and_rewrite(
        self, op: Conv2DNchwFchwOp | Conv2DNgchwGfchwOp, rewriter: PatternRewriter, /
    ):
        if op.results:
            return
        (x, w), (out,) = op.inputs, op.outputs
        stride = tuple(op.strides.get_values())
        dilation = tuple(op.dilations.get_values())
        groups = 1 if isinstance(op, Conv2DNchwFchwOp) else x.type.get_shape()[1]  # pyright: ignore
        b = _Builder(op.parent_block(), op)  # pyright: ignore
        if _conv_gemm(b, x, w, out, groups, stride, dilation):  # pyright: ignore
            rewriter.erase(op)


@dataclass(frozen=True)
class LinalgToMicroKernelsPass(ModulePass):
    """Replace f32 ``linalg.matmul`` and 2-D convolutions on memrefs by
    register-blocked vector kernels (see the module docstring).

    Run after ``dagc-bufferize`` and before ``dagc-linalg-generalize``; ops that do
    not qualify are left unchanged.
    """

    name = "dagc-linalg-to-microkernels"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        PatternRewriteWalker(
            GreedyRewritePatternApplier([MatmulToMicroKernels(), ConvToMicroKernels()]),
            apply_recursively=False,
        ).rewrite_module(op)
