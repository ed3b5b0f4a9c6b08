"""The reference executor: a dag module run by PyTorch, as a trainable nn.Module.

``to_torch(m)`` returns a :class:`DagModule` whose ``forward`` interprets the IR
op by op with torch. Weights (``dag.constant`` with a resource) are
``nn.Parameter``s (floating point) or buffers, so the module trains, e.g. for
fine-tuning after pruning. It is the semantics every pass and backend is checked
against, and the runtime of opaque (HOST) ops.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from xdsl.dialects.builtin import DenseIntOrFPElementsAttr, DenseResourceAttr
from xdsl.dialects.func import CallOp, FuncOp, ReturnOp
from xdsl.ir import Block, Operation, SSAValue

from dagc.dialects import dag, device
from dagc.ir import Module


class MissingOpaqueClass(LookupError):
    """A module has opaque ops whose classes/functions were not provided."""


def _pair(a) -> tuple[int, ...]:
    return tuple(int(v) for v in a.get_values())


def _f(attr) -> float | None:
    return None if attr is None else attr.value.data


def _i(attr) -> int:
    return attr.value.data


def _interpolate(op: dag.InterpolateOp, x: torch.Tensor) -> torch.Tensor:
    size = op.result.type.get_shape()[2:]
    if op.mode.data == "nearest":
        return F.interpolate(x, size=size, mode="nearest")
    return F.interpolate(x, size=size, mode="bilinear",
                         align_corners=op.align_corners is not None)


def _sdpa(op: dag.ScaledDotProductAttentionOp, q, k, v, mask=None):
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask,
                                          is_causal=op.is_causal is not None,
                                          scale=_f(op.scale))


def _winograd_conv2d(op: dag.WinogradConv2dOp, x, u, b=None):
    """F(2x2, 3x3) from its definition (see :class:`~dagc.dialects.dag.WinogradConv2dOp`):
    4x4 input tiles at stride 2, ``B^T d B``, the sum over channels with ``U``, ``A^T
    m A``; the tiles past the output are cut off."""
    n, _, h, w = x.shape
    ph, pw = _pair(op.padding)
    oh, ow = op.result.type.get_shape()[2:]
    th, tw = -(-oh // 2), -(-ow // 2)
    xp = F.pad(x, (pw, 2 * tw + 2 - w - pw, ph, 2 * th + 2 - h - ph))
    d = xp.unfold(2, 4, 2).unfold(3, 4, 2)  # N x C x TH x TW x 4 x 4
    bt = torch.tensor(dag.WINOGRAD_BT, dtype=x.dtype)
    at = torch.tensor(dag.WINOGRAD_AT, dtype=x.dtype)
    v = torch.einsum("ar,ncyxrs,bs->abncyx", bt, d, bt)
    m = torch.einsum("abfc,abncyx->nfyxab", u, v)
    y = torch.einsum("ia,nfyxab,jb->nfyixj", at, m, at).reshape(n, -1, 2 * th, 2 * tw)
    y = y[:, :, :oh, :ow]
    return y if b is None else y + b.reshape(1, -1, 1, 1)


# Each entry: op class -> fn(op, *operand tensors) -> tensor.
KERNELS: dict[type[dag.DagOp], Callable[..., torch.Tensor]] = {
    dag.AddOp: lambda op, a, b: a + b,
    dag.SubOp: lambda op, a, b: a - b,
    dag.MulOp: lambda op, a, b: a * b,
    dag.DivOp: lambda op, a, b: a / b,
    dag.PowOp: lambda op, a, b: torch.pow(a, b),
    dag.MaximumOp: lambda op, a, b: torch.maximum(a, b),
    dag.MinimumOp: lambda op, a, b: torch.minimum(a, b),
    dag.NegOp: lambda op, x: -x,
    dag.SqrtOp: lambda op, x: torch.sqrt(x),
    dag.RsqrtOp: lambda op, x: torch.rsqrt(x),
    dag.ExpOp: lambda op, x: torch.exp(x),
    dag.LogOp: lambda op, x: torch.log(x),
    dag.AbsOp: lambda op, x: torch.abs(x),
    dag.ErfOp: lambda op, x: torch.erf(x),
    dag.TanhOp: lambda op, x: torch.tanh(x),
    dag.SigmoidOp: lambda op, x: torch.sigmoid(x),
    dag.ReluOp: lambda op, x: F.relu(x),
    dag.Relu6Op: lambda op, x: F.relu6(x),
    dag.SiluOp: lambda op, x: F.silu(x),
    dag.HardswishOp: lambda op, x: F.hardswish(x),
    dag.HardsigmoidOp: lambda op, x: F.hardsigmoid(x),
    dag.GeluOp: lambda op, x: F.gelu(x, approximate=op.approximate.data),
    dag.LeakyReluOp: lambda op, x: F.leaky_relu(x, _f(op.negative_slope)),
    dag.ClampOp: lambda op, x: torch.clamp(x, _f(op.min), _f(op.max)),
    dag.SoftmaxOp: lambda op, x: torch.softmax(x, _i(op.dim)),
    dag.LogSoftmaxOp: lambda op, x: torch.log_softmax(x, _i(op.dim)),
    dag.Conv2dOp: lambda op, x, w, b=None: F.conv2d(
        x, w, b, _pair(op.stride), _pair(op.padding), _pair(op.dilation), _i(op.groups)),
    dag.WinogradConv2dOp: _winograd_conv2d,
    dag.ConvTranspose2dOp: lambda op, x, w, b=None: F.conv_transpose2d(
        x, w, b, _pair(op.stride), _pair(op.padding), _pair(op.output_padding),
        _i(op.groups), _pair(op.dilation)),
    dag.LinearOp: lambda op, x, w, b=None: F.linear(x, w, b),
    dag.MatmulOp: lambda op, a, b: torch.matmul(a, b),
    dag.ScaledDotProductAttentionOp: _sdpa,
    # Running statistics are not trained: detach them (torch refuses grads there).
    dag.BatchNormOp: lambda op, x, m, v, w, b: F.batch_norm(
        x, m.detach(), v.detach(), w, b, False, 0.0, _f(op.eps)),
    dag.LayerNormOp: lambda op, x, w, b: F.layer_norm(x, tuple(w.shape), w, b, _f(op.eps)),
    dag.GroupNormOp: lambda op, x, w, b: F.group_norm(x, _i(op.num_groups), w, b, _f(op.eps)),
    dag.MaxPool2dOp: lambda op, x: F.max_pool2d(
        x, _pair(op.kernel), _pair(op.stride), _pair(op.padding), _pair(op.dilation),
        op.ceil_mode is not None),
    dag.AvgPool2dOp: lambda op, x: F.avg_pool2d(
        x, _pair(op.kernel), _pair(op.stride), _pair(op.padding), op.ceil_mode is not None,
        op.count_include_pad is not None),
    dag.AdaptiveAvgPool2dOp: lambda op, x: F.adaptive_avg_pool2d(x, _pair(op.output_size)),
    dag.MeanOp: lambda op, x: torch.mean(x, _pair(op.dims), op.keepdim is not None),
    dag.SumOp: lambda op, x: torch.sum(x, _pair(op.dims), op.keepdim is not None),
    dag.ReshapeOp: lambda op, x: torch.reshape(x, op.result.type.get_shape()),
    dag.ExpandOp: lambda op, x: x.expand(op.result.type.get_shape()),
    dag.InterpolateOp: _interpolate,
    dag.PermuteOp: lambda op, x: x.permute(_pair(op.perm)),
    dag.ConcatOp: lambda op, *xs: torch.cat(xs, _i(op.dim)),
    dag.SliceOp: lambda op, x: x[(slice(None),) * _i(op.dim)
                                 + (slice(_i(op.start), _i(op.end), _i(op.step)),)],
    dag.SelectOp: lambda op, x: x.select(_i(op.dim), _i(op.index)),
    dag.PadOp: lambda op, x: F.pad(x, _pair(op.pads), op.mode.data,
                                   _f(op.value) if op.mode.data == "constant" else None),
}


def _resolve(qualname: str, provided: Mapping[str, Any]) -> Any:
    if qualname in provided:
        return provided[qualname]
    raise MissingOpaqueClass(qualname)


def _instantiate(entry: Any) -> Callable:
    """A provided class is constructed with no arguments; a module instance or
    function is used as is."""
    if isinstance(entry, type) and issubclass(entry, nn.Module):
        return entry()
    return entry


class DagModule(nn.Module):
    """A dag module executed by torch (see module docstring).

    Args:
        module: the IR; its entry is ``module.forward``.
        opaque: classes / module instances / functions for ``dag.opaque`` ops, keyed
            by qualified name (``"pkg.mod.Class"``) or given as a list of classes.

    Raises:
        MissingOpaqueClass: lists every opaque class the IR needs and was not given.
    """

    def __init__(self, module: Module, opaque: Mapping[str, Any] | list | tuple = ()):
        super().__init__()
        self.ir = module
        if not isinstance(opaque, Mapping):
            opaque = {f"{c.__module__}.{c.__qualname__}": c for c in opaque}
        self.params = nn.ParameterDict()
        self._constant_key: dict[Operation, str] = {}
        self._handle_key: dict[str, str] = {}
        self._opaque: dict[Operation, Callable] = {}
        self.opaque_modules = nn.ModuleDict()
        missing: set[str] = set()
        for op in module.walk():
            if isinstance(op, dag.ConstantOp):
                self._add_constant(module, op)
            elif isinstance(op, dag.OpaqueOp):
                try:
                    self._add_opaque(op, opaque)
                except MissingOpaqueClass as e:
                    missing.add(str(e.args[0]))
        if missing:
            raise MissingOpaqueClass(
                "the model has opaque ops whose classes were not provided: "
                + ", ".join(sorted(missing))
                + "; pass them (e.g. dagc.to_torch(m, opaque=[MyModule]))"
            )

    def _add_constant(self, module: Module, op: dag.ConstantOp) -> None:
        # Copies of one weight (partition-devices gives each subgraph its own
        # constant op) share one parameter.
        handle = op.handle
        if handle in self._handle_key:
            self._constant_key[op] = self._handle_key[handle]
            return
        if isinstance(op.value, DenseResourceAttr):
            arr = np.array(module.constant(op.value))
        else:
            assert isinstance(op.value, DenseIntOrFPElementsAttr)
            shape = op.result.type.get_shape()
            arr = np.array(op.value.get_values(), dtype=_np_dtype(op)).reshape(shape)
        key = f"c{len(set(self._constant_key.values()))}"
        t = torch.from_numpy(arr)
        if t.is_floating_point():
            self.params[key] = nn.Parameter(t)
        else:
            self.register_buffer(key, t)
        self._constant_key[op] = key
        if handle is not None:
            self._handle_key[handle] = key

    def _add_opaque(self, op: dag.OpaqueOp, provided) -> None:
        fn = _instantiate(_resolve(op.cls_name.data, provided))
        if isinstance(fn, nn.Module):
            self.opaque_modules[f"m{len(self.opaque_modules)}"] = fn
        self._opaque[op] = fn

    def constant_tensor(self, op: dag.ConstantOp) -> torch.Tensor:
        """The live tensor (parameter or buffer) behind a ``dag.constant``."""
        key = self._constant_key[op]
        return self.params[key] if key in self.params else getattr(self, key)

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        outs = self._run(self.ir.forward, list(inputs))
        return outs[0] if len(outs) == 1 else tuple(outs)

    def _run(self, func: FuncOp, inputs: list[torch.Tensor]) -> list[torch.Tensor]:
        return self._run_block(func.body.block, inputs, func.sym_name.data)

    def _run_block(self, block: Block, inputs: list[torch.Tensor], where: str
                   ) -> list[torch.Tensor]:
        """Run a function body, a ``device.subgraph`` body or a ``dag.fused`` body
        (``where`` names it in errors) on ``inputs`` bound to its arguments; returns
        the terminator's operands."""
        args = block.args
        if len(inputs) != len(args):
            raise TypeError(f"{where} takes {len(args)} inputs, got {len(inputs)}")
        env: dict[SSAValue, torch.Tensor] = dict(zip(args, inputs))
        for op in block.ops:
            if isinstance(op, ReturnOp | device.YieldOp | dag.YieldOp):
                return [env[v] for v in op.operands]
            operands = [env[v] for v in op.operands]
            if isinstance(op, device.SubgraphOp):
                results = self._run_block(op.body.block, operands, f"subgraph {op.label}")
            elif isinstance(op, dag.FusedOp):
                results = self._run_block(op.body.block, operands, f"fused {op.label}")
            elif isinstance(op, device.TransferOp):
                results = operands  # one address space here: a transfer is a no-op
            elif isinstance(op, dag.ConstantOp):
                results = [self.constant_tensor(op)]
            elif isinstance(op, dag.OpaqueOp):
                results = self._run_opaque(op, operands)
            elif isinstance(op, CallOp):
                results = self._run(_lookup_func(self.ir, op.callee.string_value()), operands)
            else:
                kernel = KERNELS.get(type(op))
                if kernel is None:
                    raise NotImplementedError(f"no reference kernel for {op.name}")
                results = [kernel(op, *operands)]
            env.update(zip(op.results, results))
        raise ValueError(f"{where} has no terminator")

    def _run_opaque(self, op: dag.OpaqueOp, operands: list[torch.Tensor]) -> list[torch.Tensor]:
        fn = self._opaque[op]
        args = operands[: op.num_args]
        if isinstance(fn, nn.Module) and op.state.data:
            state = dict(zip((s.data for s in op.state.data), operands[op.num_args:]))
            out = torch.func.functional_call(fn, state, tuple(args))
        else:
            out = fn(*args)
        return list(out) if isinstance(out, (tuple, list)) else [out]


def _lookup_func(module: Module, name: str) -> FuncOp:
    for f in module.op.body.ops:
        if isinstance(f, FuncOp) and f.sym_name.data == name:
            return f
    raise KeyError(f"no function @{name}")


def _np_dtype(op: dag.ConstantOp):
    from dagc.ir import numpy_dtype

    return numpy_dtype(op.result.type.element_type)


def to_torch(module: Module, opaque: Mapping[str, Any] | list | tuple = ()) -> DagModule:
    """An nn.Module (weights as Parameters, trainable) that runs ``module`` with torch.

    Raises:
        MissingOpaqueClass: the IR has opaque ops whose classes are not in ``opaque``.
    """
    return DagModule(module, opaque)
