"""Small models that ``torch.fx.symbolic_trace`` cannot trace, each in its own way.

Each model is ordinary convs or linears around one named submodule whose
``forward`` does something symbolic tracing cannot follow: Python control flow on a
shape or on data, tensor constructors from shape values, loops and comprehensions
over proxies, numpy, ``len``, ``.item()``, ``.tolist()``, an assert, a dict lookup
keyed by a shape. Declaring that submodule's class a leaf module (a
``torch.fx.Tracer`` whose ``is_leaf_module`` returns True for it, or
``dagc.import_torch(..., leaf_modules=(cls,))``) makes the rest traceable; the
submodule then becomes one opaque call that runs in torch.

``UNTRACEABLE`` maps a case name to a factory returning ``(model.eval(),
example_inputs)`` with fixed seeds; ``UNTRACEABLE_LEAVES`` maps the same name to
the class to declare a leaf. The failure modes follow the "Limitations of Symbolic
Tracing" section of the torch.fx documentation
(https://pytorch.org/docs/stable/fx.html#limitations-of-symbolic-tracing).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dagc.examples.models import ModelFactory, build_seeded

__all__ = [
    "UNTRACEABLE",
    "UNTRACEABLE_LEAVES",
    "AdaptiveDownsample",
    "CheckedLinear",
    "ConvModel",
    "DataDependentRepeat",
    "LenNormalize",
    "MLPModel",
    "NumpyTanh",
    "PerChannelScale",
    "PerSampleNormalize",
    "ResolutionHeads",
    "ShapeDependentPool",
    "ShiftByMin",
    "SignFlip",
    "UnbindActivation",
    "ZeroChannelPad",
]


class ConvModel(nn.Module):
    """Conv stem, the named submodule ``body``, conv, global pool, linear head.

    ``stem``: 3x3 conv ``3 -> channels`` + ReLU; then ``getattr(self, body_name)``;
    ``conv``: 3x3 conv ``body_channels -> channels`` + ReLU; mean over H and W;
    ``fc``: ``channels -> num_classes``. ``body`` maps ``(N, channels, H, W)`` to
    ``(N, body_channels, H', W')``. Maps ``(N, 3, H, W)`` float32 to
    ``(N, num_classes)``.
    """

    def __init__(
        self,
        body_name: str,
        body: nn.Module,
        channels: int = 8,
        body_channels: int | None = None,
        num_classes: int = 4,
    ):
        super().__init__()
        self.body_name = body_name
        self.stem = nn.Conv2d(3, channels, 3, padding=1)
        self.relu = nn.ReLU()
        self.add_module(body_name, body)
        self.conv = nn.Conv2d(body_channels or channels, channels, 3, padding=1)
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.stem(x))
        x = getattr(self, self.body_name)(x)
        x = self.relu(self.conv(x))
        x = x.mean(dim=(2, 3))
        return self.fc(x)


class MLPModel(nn.Module):
    """Linear + ReLU, the named submodule ``body``, linear head.

    ``fc1``: ``in_features -> hidden``; ``body`` maps ``(N, hidden)`` to
    ``(N, hidden)``; ``fc2``: ``hidden -> num_classes``.
    Maps ``(N, in_features)`` float32 to ``(N, num_classes)``.
    """

    def __init__(
        self,
        body_name: str,
        body: nn.Module,
        in_features: int = 16,
        hidden: int = 8,
        num_classes: int = 4,
    ):
        super().__init__()
        self.body_name = body_name
        self.fc1 = nn.Linear(in_features, hidden)
        self.relu = nn.ReLU()
        self.add_module(body_name, body)
        self.fc2 = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.fc1(x))
        x = getattr(self, self.body_name)(x)
        return self.fc2(x)


# ----------------------------------------------------------------- offending modules


class ShapeDependentPool(nn.Module):
    """2x2 max-pool maps wider than ``max_width``, pass others through.

    Untraceable: ``if x.shape[-1] > ...`` is Python control flow on a proxy
    (``TraceError``). ``(N, C, H, W) -> (N, C, H/2, W/2)`` when ``W > max_width``.
    """

    def __init__(self, max_width: int = 8):
        super().__init__()
        self.max_width = max_width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] > self.max_width:
            return F.max_pool2d(x, 2)
        return x


class ZeroChannelPad(nn.Module):
    """Append ``pad`` all-zero channels: ``(N, C, H, W) -> (N, C + pad, H, W)``.

    Untraceable: ``torch.zeros(x.shape[0], pad, x.shape[2], x.shape[3])`` passes
    proxies as sizes to a tensor constructor (``TypeError``).
    """

    def __init__(self, pad: int = 4):
        super().__init__()
        self.pad = pad

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        zeros = torch.zeros(x.shape[0], self.pad, x.shape[2], x.shape[3], dtype=x.dtype)
        return torch.cat([x, zeros], dim=1)


class PerChannelScale(nn.Module):
    """Scale channel ``c`` by the learned ``scale[c]``, one slice at a time.

    Untraceable: ``for c in range(x.size(1))`` needs an int, gets a proxy
    (``TypeError``). ``(N, C, H, W) -> (N, C, H, W)``.
    """

    def __init__(self, channels: int = 8):
        super().__init__()
        self.scale = nn.Parameter(torch.linspace(0.5, 1.5, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        slices = []
        for c in range(x.size(1)):
            slices.append(x[:, c : c + 1] * self.scale[c])
        return torch.cat(slices, dim=1)


class PerSampleNormalize(nn.Module):
    """Divide each sample by its L2 norm: ``(N, C, H, W) -> (N, C, H, W)``.

    Untraceable: ``for sample in x`` iterates over a proxy (``TraceError``).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        samples = []
        for sample in x:
            samples.append(sample / (sample.norm() + 1e-6))
        return torch.stack(samples)


class SignFlip(nn.Module):
    """Return ``x`` if its sum is positive, ``-x`` otherwise; shape unchanged.

    Untraceable: ``if x.sum() > 0`` branches on data (``TraceError``).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.sum() > 0:
            return x
        return -x


class NumpyTanh(nn.Module):
    """``tanh`` computed by numpy on the tensor's buffer; shape and dtype unchanged.

    Untraceable: ``np.tanh`` gets a proxy, not an array (``ValueError``).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(np.tanh(x.detach().cpu().numpy()))


class LenNormalize(nn.Module):
    """Divide by the batch size ``len(x)``: ``(N, ...) -> (N, ...)``.

    Untraceable: ``len`` of a proxy is refused unless wrapped (``RuntimeError``).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x / len(x)


class DataDependentRepeat(nn.Module):
    """Apply ``tanh(lin(x))`` ``1 + int(2 * mean(|x|))`` times (at most ``max_steps``).

    Untraceable: ``int(x.abs().mean().item())`` turns a proxy into a Python int
    (``TypeError``). ``(N, F) -> (N, F)``.
    """

    def __init__(self, features: int = 8, max_steps: int = 4):
        super().__init__()
        self.lin = nn.Linear(features, features)
        self.max_steps = max_steps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        steps = min(1 + int(2 * x.abs().mean().item()), self.max_steps)
        for _ in range(steps):
            x = torch.tanh(self.lin(x))
        return x


class UnbindActivation(nn.Module):
    """Apply a different activation to each channel slice, via ``torch.unbind``.

    Channel ``c`` gets ReLU when ``c`` is even, tanh when odd.
    Untraceable: the list comprehension iterates over the proxy that
    ``torch.unbind`` returns (``TraceError``). ``(N, C, H, W) -> (N, C, H, W)``.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = [
            torch.relu(t) if c % 2 == 0 else torch.tanh(t)
            for c, t in enumerate(torch.unbind(x, dim=1))
        ]
        return torch.stack(parts, dim=1)


class ShiftByMin(nn.Module):
    """Subtract the smallest element: ``x - min(x)``, computed in Python floats.

    Untraceable: ``min(x.flatten().tolist())`` iterates over a proxy
    (``TraceError``). Shape unchanged.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x - min(x.flatten().tolist())


class CheckedLinear(nn.Module):
    """A linear layer that asserts its input width first: ``(N, F) -> (N, F)``.

    Untraceable: ``assert x.shape[-1] == ...`` calls ``bool`` on a proxy
    (``TraceError``).

    Raises:
        AssertionError: the last dimension of the input is not ``features``.
    """

    def __init__(self, features: int = 8):
        super().__init__()
        self.fc = nn.Linear(features, features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.shape[-1] == self.fc.in_features, (
            f"expected width {self.fc.in_features}"
        )
        return self.fc(x)


class ResolutionHeads(nn.Module):
    """Pick a 3x3 conv by the input's width from an ``nn.ModuleDict``.

    ``heads`` has one conv ``channels -> channels`` per width in ``widths``.
    Untraceable: ``heads[str(x.shape[-1])]`` spells the proxy's name, not the
    width, and the lookup fails (``KeyError``). ``(N, C, H, W) -> (N, C, H, W)``.

    Raises:
        KeyError: the input width is not one of ``widths``.
    """

    def __init__(self, channels: int = 8, widths: tuple[int, ...] = (8, 16, 32)):
        super().__init__()
        self.heads = nn.ModuleDict(
            {str(w): nn.Conv2d(channels, channels, 3, padding=1) for w in widths}
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.heads[str(x.shape[-1])](x)


class AdaptiveDownsample(nn.Module):
    """Average-pool by 2 until the map is at most ``target`` wide.

    Untraceable: the ``while`` condition reads a proxy's shape (``TraceError``).
    ``(N, C, H, W) -> (N, C, H / 2^k, W / 2^k)`` with the smallest such ``k``.
    """

    def __init__(self, target: int = 4):
        super().__init__()
        self.target = target

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        while x.shape[-1] > self.target:
            x = F.avg_pool2d(x, 2)
        return x


# ------------------------------------------------------------------------ registry

_IMAGE = (2, 3, 16, 16)
_VECTOR = (2, 16)


def _case(build: Callable[[], nn.Module], input_shape: tuple[int, ...]) -> ModelFactory:
    def factory() -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
        return build_seeded(build, [input_shape])

    return factory


#: name -> factory returning ``(model.eval(), example_inputs)``; every model fails
#: ``torch.fx.symbolic_trace`` and traces once ``UNTRACEABLE_LEAVES[name]`` is a leaf.
UNTRACEABLE: dict[str, ModelFactory] = {
    "shape_branch": _case(
        lambda: ConvModel("shape_pool", ShapeDependentPool()), _IMAGE
    ),
    "zeros_from_shape": _case(
        lambda: ConvModel("zero_pad", ZeroChannelPad(4), body_channels=12), _IMAGE
    ),
    "loop_over_size": _case(
        lambda: ConvModel("channel_scale", PerChannelScale(8)), _IMAGE
    ),
    "loop_over_tensor": _case(
        lambda: ConvModel("sample_norm", PerSampleNormalize()), _IMAGE
    ),
    "data_branch": _case(lambda: ConvModel("sign_flip", SignFlip()), _IMAGE),
    "numpy_call": _case(lambda: ConvModel("np_tanh", NumpyTanh()), _IMAGE),
    "len_call": _case(lambda: MLPModel("len_norm", LenNormalize()), _VECTOR),
    "item_data_dependent": _case(
        lambda: MLPModel("repeat", DataDependentRepeat(8)), _VECTOR
    ),
    "unbind_comprehension": _case(
        lambda: ConvModel("unbind_act", UnbindActivation()), _IMAGE
    ),
    "tolist": _case(lambda: MLPModel("shift", ShiftByMin()), _VECTOR),
    "shape_assert": _case(lambda: MLPModel("checked", CheckedLinear(8)), _VECTOR),
    "shape_keyed_moduledict": _case(
        lambda: ConvModel("res_heads", ResolutionHeads(8)), _IMAGE
    ),
    "while_on_shape": _case(
        lambda: ConvModel("downsample", AdaptiveDownsample(4)), _IMAGE
    ),
}

#: name -> the submodule class that must be a leaf for ``UNTRACEABLE[name]`` to trace.
UNTRACEABLE_LEAVES: dict[str, type[nn.Module]] = {
    "shape_branch": ShapeDependentPool,
    "zeros_from_shape": ZeroChannelPad,
    "loop_over_size": PerChannelScale,
    "loop_over_tensor": PerSampleNormalize,
    "data_branch": SignFlip,
    "numpy_call": NumpyTanh,
    "len_call": LenNormalize,
    "item_data_dependent": DataDependentRepeat,
    "unbind_comprehension": UnbindActivation,
    "tolist": ShiftByMin,
    "shape_assert": CheckedLinear,
    "shape_keyed_moduledict": ResolutionHeads,
    "while_on_shape": AdaptiveDownsample,
}
