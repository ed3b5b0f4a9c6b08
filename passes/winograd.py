"""``dag-winograd``: 3x3 convolutions by Winograd's F(2x2, 3x3).

A ``dag.conv2d`` with a 3x3 constant filter, stride 1, dilation 1 and one group
becomes a ``dag.winograd_conv2d`` whose weight is the transformed filter ``U =
G g G^T`` (``4 x 4 x F x C``, computed here in float64 and stored in the weight's
dtype as a new resource blob; the old constant goes when unused). The product per
2x2 output tile and input channel then takes 16 multiplications instead of 36:
2.25x fewer in the channel contraction, which is where a convolution spends its
time, for a transform of the input and of the output (Lavin and Gray, "Fast
Algorithms for Convolutional Neural Networks", CVPR 2016). The transforms' entries
are 0, +-1 and +-1/2; on the tests' convolutions (outputs of magnitude 1 to 3) the
float32 results differ from torch's by about 1e-6, as the direct sum's do.

It pays where the contraction is large against the transforms and there are
enough tiles to fill the GEMMs' columns: at least ``min_channels`` input and output
channels and ``min_tiles`` 2x2 output tiles, the batch's images side by side (at
batch 1, ResNet's 56x56, 28x28 and 14x14 stages qualify; its 7x7 one does not: 16
tiles, a quarter of them padding, and a filter 16/9 times as large to read; rewritten,
its layers measured 1.09-1.45 ms each on one thread against 1.33-1.37 ms direct).

The transformed input and the GEMMs' products are 16 tiles per 4 outputs and
channel. An image whose tiles take more than ``max_mib`` of them
(:func:`transformed_bytes`) stays direct: past the last-level cache the transforms
and GEMMs would stream them from memory. A larger batch is not split here: one
``dag.winograd_conv2d`` covers it, and its kernel runs the transforms and the GEMMs
a group of images at a time (``WINOGRAD_GROUP_BYTES`` of
``dagc-linalg-to-microkernels``). Until 2026-11 this pass split such batches into
``dag.slice``s, one op per group and a ``dag.concat``; against that, ResNet-18 at
batch 8 on two threads, both artifacts loaded in one process and called
alternately: 62.7-76.4 ms against 73.2-88.3 ms (medians of 40 calls, three
runs), with 19 kernels instead of 40; ResNet-50 at batch 8: 169.6-189.3 ms against
178.0-199.7 ms (two runs). At batch 1 no ResNet convolution exceeds 8 MiB (the largest,
56x56 with 64 channels, takes 6.1 MiB).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp, StringAttr
from xdsl.passes import ModulePass
from xdsl.ir import BlockArgument, Operation, SSAValue
from xdsl.pattern_rewriter import (
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
    op_type_rewrite_pattern,
)
from xdsl.rewriter import InsertPoint

from dagc.dialects import dag
from dagc.ir import ResourceStore, resources
from dagc.passes.utils import constant_array, erase_dead_constants, make_constant


def winograd_filter(w: np.ndarray) -> np.ndarray:
    """``U[a, b, f, c] = (G w[f, c] G^T)[a, b]`` of F(2x2, 3x3), float64.

    Args:
        w: ``F x C x 3 x 3`` filter (any float dtype).

    Returns:
        ``4 x 4 x F x C`` float64 array.

    Raises:
        ValueError: ``w`` is not ``F x C x 3 x 3``.
    """
    if w.ndim != 4 or w.shape[2:] != (3, 3):
        raise ValueError(f"expected an F x C x 3 x 3 filter, got {list(w.shape)}")
    g = np.asarray(dag.WINOGRAD_G, dtype=np.float64)
    # w[f, c] G^T, then G (w G^T): two tensordots (BLAS). np.einsum of the three
    # operands took 15 ms against 8 on a 256 x 256 filter.
    wg = np.tensordot(np.asarray(w, dtype=np.float64), g, axes=([3], [1]))  # f c r b
    return np.ascontiguousarray(np.tensordot(g, wg, axes=([1], [2])).transpose(0, 3, 1, 2))


def transformed_bytes(op: dag.Conv2dOp) -> int:
    """Bytes of the transformed input and of the 16 GEMMs' products of ``op`` as
    a Winograd convolution: ``16 x (C + F) x N*TH*TW`` floats (f32)."""
    f, c, _, _ = op.weight.type.get_shape()  # pyright: ignore
    n, _, oh, ow = op.result.type.get_shape()  # pyright: ignore
    return 16 * (c + f) * n * -(-oh // 2) * -(-ow // 2) * 4


def qualifies(op: dag.Conv2dOp, min_channels: int, min_tiles: int,
              max_bytes: int | None = None) -> bool:
    """Whether ``op`` is a 3x3 f32 convolution ``dag-winograd`` rewrites: stride
    1, dilation 1, one group, at least ``min_channels`` input and output channels,
    ``min_tiles`` 2x2 output tiles in all (the images side by side) and, when
    ``max_bytes`` is given, at most that many :func:`transformed_bytes` per image."""
    w, out = op.weight.type, op.result.type
    f, c, kh, kw = w.get_shape()  # pyright: ignore
    n, _, oh, ow = out.get_shape()  # pyright: ignore
    same = all(tuple(a.get_values()) == (1, 1) for a in (op.stride, op.dilation))
    return ((kh, kw) == (3, 3) and same and op.groups.value.data == 1
            and str(w.element_type) == "f32"  # pyright: ignore
            and min(f, c) >= min_channels and n * -(-oh // 2) * -(-ow // 2) >= min_tiles
            and (max_bytes is None or transformed_bytes(op) <= max_bytes * n))


class ConvToWinograd(RewritePattern):
    """``conv2d(x, w, b)`` -> ``winograd_conv2d(x, U, b)`` (see the module docstring).

    The filter is a ``dag.constant``, or, for a conv inside a ``dag.fused`` body
    (``dag-fuse``'s), the block argument bound to one: ``U`` then becomes a new
    operand of the fused op, and ``w``'s operand goes when nothing else reads it."""

    def __init__(self, store: ResourceStore, min_channels: int, min_tiles: int,
                 max_bytes: int | None):
        self.store, self.min_channels, self.min_tiles = store, min_channels, min_tiles
        self.max_bytes = max_bytes
        self.filters: dict[dag.ConstantOp, dag.ConstantOp] = {}
        """The transformed filter made for each filter constant: convs that share
        a weight share its ``U``."""

    def _filter(self, owner: dag.ConstantOp, w: np.ndarray, at: Operation,
                rewriter: PatternRewriter) -> dag.ConstantOp:
        """The ``U`` constant of the filter ``owner`` (holding ``w``), made and
        inserted before ``at`` the first time."""
        made = self.filters.get(owner)
        if made is None or made.parent is None:
            made = make_constant(self.store, f"{owner.label}.winograd", winograd_filter(w),
                                 owner.result.type.element_type)  # pyright: ignore
            made.result.name_hint = f"{owner.result.name_hint or 'w'}_winograd"
            rewriter.insert(made, InsertPoint.before(at))
            self.filters[owner] = made
        return made

    @staticmethod
    def _winograd(op: dag.Conv2dOp, x: SSAValue, filt: SSAValue,
                  bias: SSAValue | None) -> dag.WinogradConv2dOp:
        """The ``dag.winograd_conv2d`` computing ``op`` from ``x``, ``U`` and ``bias``."""
        return dag.WinogradConv2dOp.create(
            operands=[x, filt, *([bias] if bias is not None else [])],
            result_types=[op.result.type],
            properties={"padding": op.padding, "name": StringAttr(op.label)},
            attributes=dict(op.attributes))

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: dag.Conv2dOp, rewriter: PatternRewriter) -> None:
        if not qualifies(op, self.min_channels, self.min_tiles, self.max_bytes):
            return
        parent = op.parent_op()
        fused = parent if isinstance(parent, dag.FusedOp) else None

        def outside(v: SSAValue | None) -> SSAValue | None:
            """``v`` as the fused op's operand it is bound to (else itself)."""
            if fused is not None and isinstance(v, BlockArgument) and v.block is fused.body.block:
                return fused.inputs[v.index]
            return v

        weight = outside(op.weight)
        owner = weight.owner  # pyright: ignore
        w = constant_array(weight, self.store)  # pyright: ignore
        if w is None or not isinstance(owner, dag.ConstantOp):
            return
        u = self._filter(owner, w, owner, rewriter)
        filt = u.result if fused is None else _bind(fused, u.result)
        rewriter.replace(op, self._winograd(op, op.input, filt, op.bias))
        if fused is not None:
            _drop_unused_arguments(fused)
        erase_dead_constants([owner.result], rewriter)


def _bind(fused: dag.FusedOp, value: SSAValue) -> BlockArgument:
    """A new argument of ``fused``'s body, bound to the new operand ``value``."""
    block = fused.body.block
    arg = block.insert_arg(value.type, len(block.args))
    fused.operands = (*fused.operands, value)
    return arg


def _drop_unused_arguments(fused: dag.FusedOp) -> None:
    """Remove the block arguments of ``fused``'s body that nothing reads, and the
    operands bound to them."""
    block = fused.body.block
    for arg in reversed(block.args):
        if not arg.uses:
            index = arg.index
            block.erase_arg(arg)
            fused.operands = (*fused.operands[:index], *fused.operands[index + 1:])


@dataclass(frozen=True)
class WinogradPass(ModulePass):
    """Rewrite the qualifying 3x3 convolutions as ``dag.winograd_conv2d``."""

    name = "dag-winograd"

    min_channels: int = 16
    """The fewest input and output channels."""

    min_tiles: int = 36
    """The fewest 2x2 output tiles, all images together (the GEMMs' columns)."""

    max_mib: int = 8
    """The most MiB of transformed input and GEMM products (:func:`transformed_bytes`)
    per image: a convolution whose images take more stays direct; 0: no limit."""

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        pattern = ConvToWinograd(resources(ctx), self.min_channels, self.min_tiles,
                                 self.max_mib << 20 if self.max_mib else None)
        PatternRewriteWalker(pattern, apply_recursively=False).rewrite_module(op)
