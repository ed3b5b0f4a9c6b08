"""Standard architectures written in plain torch, with random weights and fixed seeds.

The model zoo that dagc's tests, examples and benchmarks import. Every architecture
is defined here from ``torch.nn`` alone (torchvision cannot be installed next to the
pinned CPU torch), following torchvision's module layout and attribute names, so the
op names that the fx frontend derives from module paths (``layer1.0.conv1``,
``features.3.conv.1.0``, ``fc``) are the familiar ones.

Models come out of the factories in ``MODELS`` as ``(model.eval(), example_inputs)``.
Weights are drawn from a fixed seed; batch-norm layers carry non-trivial running
statistics and affine parameters (see ``build_seeded``) so that batch-norm
folding and similar rewrites are exercised numerically, not just structurally.
Building a model does not disturb torch's global random state.

Sources of the architectures:

- ResNet: He, Zhang, Ren, Sun, "Deep Residual Learning for Image Recognition",
  CVPR 2016 (torchvision's variant: stride 2 in the 3x3 conv of a Bottleneck).
- MobileNetV2: Sandler, Howard, Zhu, Zhmoginov, Chen, "MobileNetV2: Inverted
  Residuals and Linear Bottlenecks", CVPR 2018.
- MobileNetV3: Howard et al., "Searching for MobileNetV3", ICCV 2019.
- EfficientNet: Tan & Le, "EfficientNet: Rethinking Model Scaling for Convolutional
  Neural Networks", ICML 2019.
- Vision Transformer: Dosovitskiy et al., "An Image is Worth 16x16 Words:
  Transformers for Image Recognition at Scale", ICLR 2021.
- UNet: Ronneberger, Fischer, Brox, "U-Net: Convolutional Networks for Biomedical
  Image Segmentation", MICCAI 2015.
- ``strange_activation_model``: the example of torch-dag's conversion guide ("How to
  convert torch.nn.Module instances to DagModule?", section 4; in dagc's seed
  documents), a model with one untraceable module.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "EFFICIENTNET_B0_STAGES",
    "MODELS",
    "Attention",
    "BasicBlock",
    "Bottleneck",
    "ConvNormActivation",
    "DoubleConv",
    "EfficientNet",
    "EncoderBlock",
    "InvertedResidual",
    "MBConv",
    "Mlp",
    "MobileNetV2",
    "MobileNetV3",
    "MobileNetV3Block",
    "ModelFactory",
    "MyStrangeActivation",
    "ResNet",
    "SDPAttention",
    "SqueezeExcitation",
    "StrangeActivationModel",
    "UNet",
    "VisionTransformer",
    "build_seeded",
    "calibrate_batchnorm",
    "efficientnet_b0",
    "efficientnet_small",
    "get_model",
    "mobilenet_v2",
    "mobilenet_v3_small_like",
    "perturb_running_stats",
    "randomize_norm_affine",
    "resnet18",
    "resnet50",
    "strange_activation_model",
    "unet_small",
    "vit_small",
    "vit_tiny_test",
]

#: A zero-argument factory returning ``(model in eval mode, example inputs)``.
ModelFactory = Callable[[], tuple[nn.Module, tuple[torch.Tensor, ...]]]


def _make_divisible(v: float, divisor: int, min_value: int | None = None) -> int:
    """Round a channel count to a multiple of ``divisor``, losing at most 10%.

    The rounding rule of the TensorFlow MobileNet reference code, as torchvision's
    ``torchvision.models._utils._make_divisible``.
    """
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


class ConvNormActivation(nn.Sequential):
    """Conv2d, then an optional norm layer, then an optional activation.

    torchvision's ``Conv2dNormActivation``: children ``0`` (conv), ``1`` (norm) and
    ``2`` (activation) when both are present. Padding is ``(kernel_size - 1) // 2``
    ("same" for odd kernels at stride 1); the conv has a bias only without a norm.
    Maps ``(N, in_channels, H, W)`` float32 to
    ``(N, out_channels, ceil(H / stride), ceil(W / stride))``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        groups: int = 1,
        norm_layer: Callable[[int], nn.Module] | None = nn.BatchNorm2d,
        activation_layer: Callable[..., nn.Module] | None = nn.ReLU,
        inplace: bool = True,
    ):
        padding = (kernel_size - 1) // 2
        layers: list[nn.Module] = [
            nn.Conv2d(
                in_channels,
                out_channels,
                kernel_size,
                stride,
                padding,
                groups=groups,
                bias=norm_layer is None,
            )
        ]
        if norm_layer is not None:
            layers.append(norm_layer(out_channels))
        if activation_layer is not None:
            layers.append(activation_layer(inplace=inplace))
        super().__init__(*layers)
        self.out_channels = out_channels


class SqueezeExcitation(nn.Module):
    """Squeeze-and-excitation: rescale channels by a gate computed from their means.

    ``scale = gate(fc2(act(fc1(adaptive_avg_pool2d(x, 1)))))``, output ``scale * x``,
    with 1x1 convs ``fc1`` (``input_channels -> squeeze_channels``) and ``fc2`` (back).
    Maps ``(N, C, H, W)`` float32 to the same shape. From Hu, Shen, Sun,
    "Squeeze-and-Excitation Networks", CVPR 2018; layout of torchvision's
    ``torchvision.ops.SqueezeExcitation``.
    """

    def __init__(
        self,
        input_channels: int,
        squeeze_channels: int,
        activation: Callable[..., nn.Module] = nn.ReLU,
        scale_activation: Callable[..., nn.Module] = nn.Sigmoid,
    ):
        super().__init__()
        self.fc1 = nn.Conv2d(input_channels, squeeze_channels, 1)
        self.fc2 = nn.Conv2d(squeeze_channels, input_channels, 1)
        self.activation = activation()
        self.scale_activation = scale_activation()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = F.adaptive_avg_pool2d(x, 1)
        scale = self.fc1(scale)
        scale = self.activation(scale)
        scale = self.fc2(scale)
        scale = self.scale_activation(scale)
        return scale * x


# --------------------------------------------------------------------------- ResNet


def _conv3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, 3, stride=stride, padding=1, bias=False)


def _conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, 1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """ResNet basic block: two 3x3 conv+bn, identity or projection shortcut, relu.

    Maps ``(N, inplanes, H, W)`` to ``(N, planes, H / stride, W / stride)``.
    He et al. 2016, figure 5 (left); torchvision's ``BasicBlock``.
    """

    expansion = 1

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
    ):
        super().__init__()
        self.conv1 = _conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x
        out = self.conv1(x)
        out = self.bn1(out)
        out = self.relu(out)
        out = self.conv2(out)
        out = self.bn2(out)
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        out = self.relu(out)
        return out


class Bottleneck(nn.Module):
    """ResNet bottleneck block: 1x1 reduce, 3x3 (strided), 1x1 expand by 4.

    Maps ``(N, inplanes, H, W)`` to ``(N, 4 * planes, H / stride, W / stride)``.
    He et al. 2016, figure 5 (right), with the stride on the 3x3 conv as in
    torchvision's ``Bottleneck`` ("ResNet v1.5").
    """

    expansion = 4

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
    ):
        super().__init__()
        width = planes
        self.conv1 = _conv1x1(inplanes, width)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = _conv3x3(width, width, stride)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = _conv1x1(width, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x
        out = self.conv1(x)
        out = self.bn1(out)
        out = self.relu(out)
        out = self.conv2(out)
        out = self.bn2(out)
        out = self.relu(out)
        out = self.conv3(out)
        out = self.bn3(out)
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        out = self.relu(out)
        return out


class ResNet(nn.Module):
    """ResNet for ImageNet classification (He et al. 2016), torchvision's layout.

    Stem ``conv1`` (7x7, stride 2) + ``bn1`` + ``relu`` + ``maxpool`` (3x3, stride
    2), four stages ``layer1..layer4`` of ``block`` with 64/128/256/512 planes
    (stride 2 from ``layer2`` on, ``downsample`` = conv1x1 + bn where the shape
    changes), ``avgpool`` (adaptive, 1x1), flatten, ``fc``.
    Maps ``(N, 3, H, W)`` float32 (H, W >= 32) to logits ``(N, num_classes)``.
    """

    def __init__(
        self,
        block: type[BasicBlock] | type[Bottleneck],
        layers: Sequence[int],
        num_classes: int = 1000,
    ):
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def _make_layer(
        self,
        block: type[BasicBlock] | type[Bottleneck],
        planes: int,
        blocks: int,
        stride: int = 1,
    ) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                _conv1x1(self.inplanes, planes * block.expansion, stride),
                nn.BatchNorm2d(planes * block.expansion),
            )
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        for _ in range(1, blocks):
            layers.append(block(self.inplanes, planes))
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)
        x = self.bn1(x)
        x = self.relu(x)
        x = self.maxpool(x)
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        x = self.layer4(x)
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        x = self.fc(x)
        return x


def resnet18(num_classes: int = 1000) -> ResNet:
    """ResNet-18 (He et al. 2016): BasicBlock stages [2, 2, 2, 2], 11.7M parameters.

    Untrained (kaiming-normal convs, default BatchNorm); use ``MODELS["resnet18"]``
    for the seeded model with randomised batch-norm statistics.
    Input ``(N, 3, 224, 224)`` float32, output ``(N, num_classes)``.
    """
    return ResNet(BasicBlock, [2, 2, 2, 2], num_classes)


def resnet50(num_classes: int = 1000) -> ResNet:
    """ResNet-50 (He et al. 2016): Bottleneck stages [3, 4, 6, 3], 25.6M parameters.

    Untrained; use ``MODELS["resnet50"]`` for the seeded model.
    Input ``(N, 3, 224, 224)`` float32, output ``(N, num_classes)``.
    """
    return ResNet(Bottleneck, [3, 4, 6, 3], num_classes)


# ---------------------------------------------------------------------- MobileNetV2


class InvertedResidual(nn.Module):
    """MobileNetV2 inverted residual block (Sandler et al. 2018), torchvision's layout.

    ``conv``: optional 1x1 expansion to ``round(inp * expand_ratio)`` channels with
    ReLU6, a 3x3 depthwise conv (``stride``) with ReLU6, a linear 1x1 projection
    to ``oup`` + BatchNorm. The input is added back when ``stride == 1`` and
    ``inp == oup``. Maps ``(N, inp, H, W)`` to ``(N, oup, H / stride, W / stride)``.
    """

    def __init__(self, inp: int, oup: int, stride: int, expand_ratio: int):
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"stride should be 1 or 2, got {stride}")
        hidden_dim = int(round(inp * expand_ratio))
        self.use_res_connect = stride == 1 and inp == oup
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(
                ConvNormActivation(inp, hidden_dim, 1, activation_layer=nn.ReLU6)
            )
        layers += [
            ConvNormActivation(
                hidden_dim,
                hidden_dim,
                stride=stride,
                groups=hidden_dim,
                activation_layer=nn.ReLU6,
            ),
            nn.Conv2d(hidden_dim, oup, 1, 1, 0, bias=False),
            nn.BatchNorm2d(oup),
        ]
        self.conv = nn.Sequential(*layers)
        self.out_channels = oup

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.use_res_connect:
            return x + self.conv(x)
        return self.conv(x)


class MobileNetV2(nn.Module):
    """MobileNetV2 (Sandler et al. 2018), torchvision's layout and initialisation.

    ``features.0``: 3x3/2 conv + BN + ReLU6; ``features.1..17``: InvertedResidual
    blocks with the paper's (t, c, n, s) table; ``features.18``: 1x1 conv to
    ``last_channel`` (1280, scaled up for ``width_mult > 1``); global average pool,
    flatten, ``classifier`` = Dropout(0.2) + Linear. Channel counts are
    ``width_mult`` times the paper's, rounded to multiples of 8.
    Maps ``(N, 3, H, W)`` float32 (H, W >= 32) to logits ``(N, num_classes)``.
    """

    def __init__(
        self, num_classes: int = 1000, width_mult: float = 1.0, dropout: float = 0.2
    ):
        super().__init__()
        inverted_residual_setting = [
            # t, c, n, s
            [1, 16, 1, 1],
            [6, 24, 2, 2],
            [6, 32, 3, 2],
            [6, 64, 4, 2],
            [6, 96, 3, 1],
            [6, 160, 3, 2],
            [6, 320, 1, 1],
        ]
        input_channel = _make_divisible(32 * width_mult, 8)
        self.last_channel = _make_divisible(1280 * max(1.0, width_mult), 8)
        features: list[nn.Module] = [
            ConvNormActivation(3, input_channel, stride=2, activation_layer=nn.ReLU6)
        ]
        for t, c, n, s in inverted_residual_setting:
            output_channel = _make_divisible(c * width_mult, 8)
            for i in range(n):
                stride = s if i == 0 else 1
                features.append(
                    InvertedResidual(input_channel, output_channel, stride, t)
                )
                input_channel = output_channel
        features.append(
            ConvNormActivation(
                input_channel, self.last_channel, 1, activation_layer=nn.ReLU6
            )
        )
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout), nn.Linear(self.last_channel, num_classes)
        )
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = F.adaptive_avg_pool2d(x, (1, 1))
        x = torch.flatten(x, 1)
        x = self.classifier(x)
        return x


def mobilenet_v2(num_classes: int = 1000, width_mult: float = 1.0) -> MobileNetV2:
    """MobileNetV2 (Sandler et al. 2018), 3.5M parameters at width 1.0. Untrained.

    Input ``(N, 3, 224, 224)`` float32, output ``(N, num_classes)``.
    """
    return MobileNetV2(num_classes, width_mult)


# ---------------------------------------------------------------- EfficientNet / MBv3


class MBConv(nn.Module):
    """EfficientNet mobile inverted bottleneck with squeeze-excitation (Tan & Le 2019).

    ``block``: 1x1 expansion by ``expand_ratio`` + BN + SiLU (skipped when the
    ratio is 1), ``kernel`` x ``kernel`` depthwise conv (``stride``) + BN + SiLU,
    SqueezeExcitation (squeeze to ``max(1, in_channels // 4)``, SiLU, sigmoid
    gate), 1x1 projection + BN. Residual add when ``stride == 1`` and channels
    match; stochastic depth is the identity in eval mode and is left out.
    Maps ``(N, in_channels, H, W)`` to ``(N, out_channels, H / stride, W / stride)``.
    Layout of torchvision's ``MBConv``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        expand_ratio: float,
        kernel: int,
        stride: int,
        norm_layer: Callable[[int], nn.Module] = nn.BatchNorm2d,
    ):
        super().__init__()
        self.use_res_connect = stride == 1 and in_channels == out_channels
        expanded = _make_divisible(in_channels * expand_ratio, 8)
        layers: list[nn.Module] = []
        if expanded != in_channels:
            layers.append(
                ConvNormActivation(
                    in_channels,
                    expanded,
                    1,
                    norm_layer=norm_layer,
                    activation_layer=nn.SiLU,
                )
            )
        layers.append(
            ConvNormActivation(
                expanded,
                expanded,
                kernel,
                stride,
                groups=expanded,
                norm_layer=norm_layer,
                activation_layer=nn.SiLU,
            )
        )
        squeeze = max(1, in_channels // 4)
        layers.append(
            SqueezeExcitation(
                expanded, squeeze, activation=partial(nn.SiLU, inplace=True)
            )
        )
        layers.append(
            ConvNormActivation(
                expanded, out_channels, 1, norm_layer=norm_layer, activation_layer=None
            )
        )
        self.block = nn.Sequential(*layers)
        self.out_channels = out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        result = self.block(x)
        if self.use_res_connect:
            result = result + x
        return result


#: EfficientNet-B0 stages (Tan & Le 2019, table 1):
#: (expand_ratio, kernel, stride, in_channels, out_channels, num_layers).
EFFICIENTNET_B0_STAGES: list[tuple[int, int, int, int, int, int]] = [
    (1, 3, 1, 32, 16, 1),
    (6, 3, 2, 16, 24, 2),
    (6, 5, 2, 24, 40, 2),
    (6, 3, 2, 40, 80, 3),
    (6, 5, 1, 80, 112, 3),
    (6, 5, 2, 112, 192, 4),
    (6, 3, 1, 192, 320, 1),
]


class EfficientNet(nn.Module):
    """EfficientNet (Tan & Le 2019), torchvision's layout, for a given stage table.

    ``features.0``: 3x3/2 conv + BN + SiLU to ``stages[0][3]`` channels;
    ``features.1..k``: one ``nn.Sequential`` of MBConv per stage (the first block
    of a stage has its stride); ``features.k+1``: 1x1 conv + BN + SiLU to
    ``last_channel``; ``avgpool`` (adaptive 1x1), flatten, ``classifier`` =
    Dropout + Linear. ``stages`` rows are
    ``(expand_ratio, kernel, stride, in_channels, out_channels, num_layers)``.
    Maps ``(N, 3, H, W)`` float32 to logits ``(N, num_classes)``.
    """

    def __init__(
        self,
        stages: Sequence[tuple[int, int, int, int, int, int]] = EFFICIENTNET_B0_STAGES,
        last_channel: int = 1280,
        num_classes: int = 1000,
        dropout: float = 0.2,
    ):
        super().__init__()
        features: list[nn.Module] = [
            ConvNormActivation(3, stages[0][3], stride=2, activation_layer=nn.SiLU)
        ]
        for expand_ratio, kernel, stride, cin, cout, num_layers in stages:
            blocks = [
                MBConv(
                    cin if i == 0 else cout,
                    cout,
                    expand_ratio,
                    kernel,
                    stride if i == 0 else 1,
                )
                for i in range(num_layers)
            ]
            features.append(nn.Sequential(*blocks))
        features.append(
            ConvNormActivation(stages[-1][4], last_channel, 1, activation_layer=nn.SiLU)
        )
        self.features = nn.Sequential(*features)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout, inplace=True), nn.Linear(last_channel, num_classes)
        )
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                init_range = 1.0 / math.sqrt(m.out_features)
                nn.init.uniform_(m.weight, -init_range, init_range)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        x = self.classifier(x)
        return x


def efficientnet_b0(num_classes: int = 1000) -> EfficientNet:
    """EfficientNet-B0 (Tan & Le 2019): 16 MBConv blocks, 5.3M parameters. Untrained.

    Input ``(N, 3, 224, 224)`` float32, output ``(N, num_classes)``.
    """
    return EfficientNet(EFFICIENTNET_B0_STAGES, 1280, num_classes)


def efficientnet_small(num_classes: int = 10) -> EfficientNet:
    """A 5-block EfficientNet for fast tests: B0's first stages, thinner. Untrained.

    Stages: MBConv1 k3 16->8, MBConv6 k3/2 8->16 (x2), MBConv6 k5/2 16->24,
    MBConv4 k3/2 24->32; head 1x1 conv to 128. Input ``(N, 3, 64, 64)`` float32,
    output ``(N, num_classes)``.
    """
    stages = [
        (1, 3, 1, 16, 8, 1),
        (6, 3, 2, 8, 16, 2),
        (6, 5, 2, 16, 24, 1),
        (4, 3, 2, 24, 32, 1),
    ]
    return EfficientNet(stages, 128, num_classes)


class MobileNetV3Block(nn.Module):
    """MobileNetV3 inverted residual block (Howard et al. 2019), torchvision's layout.

    ``block``: optional 1x1 expansion, depthwise conv, optional squeeze-excitation
    (ReLU, Hardsigmoid gate, squeeze to ``_make_divisible(expanded // 4, 8)``),
    linear 1x1 projection; activations are Hardswish (``use_hs``) or ReLU.
    Maps ``(N, cin, H, W)`` to ``(N, cout, H / stride, W / stride)``.
    """

    def __init__(
        self,
        cin: int,
        kernel: int,
        expanded: int,
        cout: int,
        use_se: bool,
        use_hs: bool,
        stride: int,
        norm_layer: Callable[[int], nn.Module],
    ):
        super().__init__()
        self.use_res_connect = stride == 1 and cin == cout
        act = nn.Hardswish if use_hs else nn.ReLU
        layers: list[nn.Module] = []
        if expanded != cin:
            layers.append(
                ConvNormActivation(
                    cin, expanded, 1, norm_layer=norm_layer, activation_layer=act
                )
            )
        layers.append(
            ConvNormActivation(
                expanded,
                expanded,
                kernel,
                stride,
                groups=expanded,
                norm_layer=norm_layer,
                activation_layer=act,
            )
        )
        if use_se:
            layers.append(
                SqueezeExcitation(
                    expanded,
                    _make_divisible(expanded // 4, 8),
                    scale_activation=nn.Hardsigmoid,
                )
            )
        layers.append(
            ConvNormActivation(
                expanded, cout, 1, norm_layer=norm_layer, activation_layer=None
            )
        )
        self.block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        result = self.block(x)
        if self.use_res_connect:
            result = result + x
        return result


class MobileNetV3(nn.Module):
    """MobileNetV3-Small (Howard et al. 2019), torchvision's configuration.

    Hardswish/Hardsigmoid activations, BatchNorm with eps 1e-3; classifier
    Linear(576, 1024) + Hardswish + Dropout(0.2) + Linear.
    Maps ``(N, 3, H, W)`` float32 to logits ``(N, num_classes)``.
    """

    # (cin, kernel, expanded, cout, use_se, use_hs, stride); Howard et al., table 2.
    SMALL_CONFIG = [
        (16, 3, 16, 16, True, False, 2),
        (16, 3, 72, 24, False, False, 2),
        (24, 3, 88, 24, False, False, 1),
        (24, 5, 96, 40, True, True, 2),
        (40, 5, 240, 40, True, True, 1),
        (40, 5, 240, 40, True, True, 1),
        (40, 5, 120, 48, True, True, 1),
        (48, 5, 144, 48, True, True, 1),
        (48, 5, 288, 96, True, True, 2),
        (96, 5, 576, 96, True, True, 1),
        (96, 5, 576, 96, True, True, 1),
    ]

    def __init__(self, num_classes: int = 1000, last_channel: int = 1024):
        super().__init__()
        norm_layer = partial(nn.BatchNorm2d, eps=0.001, momentum=0.01)
        features: list[nn.Module] = [
            ConvNormActivation(
                3, 16, stride=2, norm_layer=norm_layer, activation_layer=nn.Hardswish
            )
        ]
        for cfg in self.SMALL_CONFIG:
            features.append(MobileNetV3Block(*cfg, norm_layer=norm_layer))
        features.append(
            ConvNormActivation(
                96, 576, 1, norm_layer=norm_layer, activation_layer=nn.Hardswish
            )
        )
        self.features = nn.Sequential(*features)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(
            nn.Linear(576, last_channel),
            nn.Hardswish(inplace=True),
            nn.Dropout(p=0.2, inplace=True),
            nn.Linear(last_channel, num_classes),
        )
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        x = self.classifier(x)
        return x


def mobilenet_v3_small_like(num_classes: int = 1000) -> MobileNetV3:
    """MobileNetV3-Small (Howard et al. 2019), 2.5M parameters. Untrained.

    The zoo's model with Hardswish and Hardsigmoid. Input ``(N, 3, 224, 224)``
    float32, output ``(N, num_classes)``.
    """
    return MobileNetV3(num_classes)


# ------------------------------------------------------------------ Vision Transformer


class Attention(nn.Module):
    """Multi-head self-attention with explicit matmuls (Vaswani et al. 2017).

    ``qkv`` projects ``(B, N, D)`` to ``(B, N, 3, heads, D / heads)``, permuted to
    ``(3, B, heads, N, D / heads)``; ``softmax(q @ k^T * scale) @ v`` with
    ``scale = (D / heads) ** -0.5``; heads merged back to ``(B, N, D)`` and
    projected by ``proj``. Float32 in and out.

    Raises:
        ValueError: ``dim`` is not a multiple of ``num_heads``.
    """

    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim {dim} is not a multiple of num_heads {num_heads}")
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim**-0.5
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def _split_heads(self, x: torch.Tensor):
        b, n = x.shape[0], x.shape[1]
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, self.head_dim)
        qkv = qkv.permute(2, 0, 3, 1, 4)
        return qkv[0], qkv[1], qkv[2]

    def _merge_heads(self, x: torch.Tensor) -> torch.Tensor:
        b, n = x.shape[0], x.shape[2]
        x = x.transpose(1, 2).reshape(b, n, self.num_heads * self.head_dim)
        return self.proj(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self._split_heads(x)
        attn = (q @ k.transpose(-2, -1)) * self.scale
        attn = attn.softmax(dim=-1)
        return self._merge_heads(attn @ v)


class SDPAttention(Attention):
    """The same attention as ``Attention``, through ``F.scaled_dot_product_attention``.

    Same parameters, same result up to rounding; the fused op appears in the graph
    instead of matmul/softmax/matmul.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self._split_heads(x)
        return self._merge_heads(F.scaled_dot_product_attention(q, k, v))


class Mlp(nn.Module):
    """Transformer feed-forward: ``fc2(gelu(fc1(x)))``, ``(B, N, D) -> (B, N, D)``."""

    def __init__(self, dim: int, hidden_dim: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class EncoderBlock(nn.Module):
    """Pre-LayerNorm transformer encoder block (Dosovitskiy et al. 2021, eq. 2-3).

    ``x = x + attn(norm1(x)); x = x + mlp(norm2(x))`` on ``(B, N, dim)`` float32;
    ``use_sdpa`` selects ``SDPAttention`` instead of the explicit ``Attention``.
    """

    def __init__(self, dim: int, num_heads: int, mlp_dim: int, use_sdpa: bool = False):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = (SDPAttention if use_sdpa else Attention)(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, mlp_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        x = x + self.mlp(self.norm2(x))
        return x


class VisionTransformer(nn.Module):
    """Vision Transformer classifier (Dosovitskiy et al. 2021).

    ``conv_proj`` cuts the image into ``patch_size`` patches and embeds them
    (``(B, 3, S, S) -> (B, dim, S/p, S/p)``, flattened to ``(B, (S/p)^2, dim)``);
    ``class_token`` (a parameter, expanded to the batch) is concatenated in front,
    ``pos_embedding`` added; ``blocks`` are ``depth`` pre-norm encoder blocks, the
    last one using ``F.scaled_dot_product_attention`` when ``sdpa_last`` is set;
    final ``norm`` (LayerNorm) and ``head`` (Linear) on the class token ``x[:, 0]``.
    Maps ``(B, 3, image_size, image_size)`` float32 to ``(B, num_classes)``.

    Raises:
        ValueError: ``image_size`` is not a multiple of ``patch_size``.
    """

    def __init__(
        self,
        image_size: int = 224,
        patch_size: int = 16,
        dim: int = 192,
        depth: int = 4,
        num_heads: int = 3,
        mlp_ratio: int = 4,
        num_classes: int = 1000,
        sdpa_last: bool = True,
    ):
        super().__init__()
        if image_size % patch_size:
            raise ValueError(
                f"image_size {image_size} is not a multiple of patch_size {patch_size}"
            )
        self.image_size = image_size
        self.patch_size = patch_size
        num_patches = (image_size // patch_size) ** 2
        self.conv_proj = nn.Conv2d(3, dim, patch_size, stride=patch_size)
        self.class_token = nn.Parameter(torch.randn(1, 1, dim) * 0.02)
        self.pos_embedding = nn.Parameter(torch.randn(1, num_patches + 1, dim) * 0.02)
        self.blocks = nn.Sequential(
            *(
                EncoderBlock(
                    dim,
                    num_heads,
                    mlp_ratio * dim,
                    use_sdpa=sdpa_last and i == depth - 1,
                )
                for i in range(depth)
            )
        )
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv_proj(x)
        x = x.flatten(2).transpose(1, 2)
        cls = self.class_token.expand(x.shape[0], -1, -1)
        x = torch.cat([cls, x], dim=1)
        x = x + self.pos_embedding
        x = self.blocks(x)
        x = self.norm(x)
        return self.head(x[:, 0])


def vit_small(patch_size: int = 16, num_classes: int = 1000) -> VisionTransformer:
    """A small ViT (Dosovitskiy et al. 2021): dim 192, 3 heads, depth 4, 224x224.

    ``patch_size`` 16 gives 197 tokens; 32 gives the cheaper 50-token variant.
    The last block uses ``F.scaled_dot_product_attention``, the others explicit
    matmul/softmax. Untrained. Input ``(N, 3, 224, 224)``, output ``(N, num_classes)``.
    """
    return VisionTransformer(224, patch_size, 192, 4, 3, 4, num_classes)


def vit_tiny_test(image_size: int = 32, num_classes: int = 10) -> VisionTransformer:
    """A tiny ViT for fast tests: patch 8, dim 64, 2 heads, depth 2. Untrained.

    Block 0 uses explicit attention, block 1 ``F.scaled_dot_product_attention``.
    ``image_size`` 32 (17 tokens, the ``"vit_tiny"`` entry) or 64 (65 tokens).
    Input ``(N, 3, image_size, image_size)``, output ``(N, num_classes)``.
    """
    return VisionTransformer(image_size, 8, 64, 2, 2, 4, num_classes)


# -------------------------------------------------------------------------- UNet


class DoubleConv(nn.Module):
    """Two 3x3 convs ("same" padding), each followed by a norm and an activation.

    ``norm`` is ``"batch"`` (BatchNorm2d) or ``"group"`` (GroupNorm, 4 groups);
    ``act`` is ``"relu"`` or ``"leaky_relu"`` (slope 0.1).
    Maps ``(N, cin, H, W)`` to ``(N, cout, H, W)``.

    Raises:
        ValueError: unknown ``norm`` or ``act``.
    """

    def __init__(self, cin: int, cout: int, norm: str = "batch", act: str = "relu"):
        super().__init__()
        norms: dict[str, Callable[[int], nn.Module]] = {
            "batch": nn.BatchNorm2d,
            "group": partial(nn.GroupNorm, 4),
        }
        acts: dict[str, Callable[[], nn.Module]] = {
            "relu": partial(nn.ReLU, inplace=True),
            "leaky_relu": partial(nn.LeakyReLU, 0.1, inplace=True),
        }
        if norm not in norms or act not in acts:
            raise ValueError(f"unknown norm {norm!r} or activation {act!r}")
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        self.norm1 = norms[norm](cout)
        self.act1 = acts[act]()
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.norm2 = norms[norm](cout)
        self.act2 = acts[act]()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act1(self.norm1(self.conv1(x)))
        return self.act2(self.norm2(self.conv2(x)))


class UNet(nn.Module):
    """A small UNet (Ronneberger et al. 2015) for dense prediction.

    Encoder ``inc`` (16 ch), ``down1`` (32), ``down2`` (64, GroupNorm),
    ``bottleneck`` (128, LeakyReLU), each after a 2x2 ``max_pool2d``; decoder
    ``up1`` = ConvTranspose2d(k=2, s=2) then concat with ``down2``'s output,
    ``up2`` = bilinear ``F.interpolate(scale_factor=2, align_corners=False)`` +
    1x1 conv then concat with ``down1``'s output, ``up3`` = ConvTranspose2d then
    concat with ``inc``'s output; 1x1 ``outc`` to ``num_classes``.
    Maps ``(N, in_channels, H, W)`` float32 (H, W multiples of 8) to
    ``(N, num_classes, H, W)``.
    """

    def __init__(self, in_channels: int = 3, num_classes: int = 2):
        super().__init__()
        self.inc = DoubleConv(in_channels, 16)
        self.down1 = DoubleConv(16, 32)
        self.down2 = DoubleConv(32, 64, norm="group")
        self.bottleneck = DoubleConv(64, 128, act="leaky_relu")
        self.up1 = nn.ConvTranspose2d(128, 64, kernel_size=2, stride=2)
        self.dec1 = DoubleConv(128, 64)
        self.up2_conv = nn.Conv2d(64, 32, 1)
        self.dec2 = DoubleConv(64, 32)
        self.up3 = nn.ConvTranspose2d(32, 16, kernel_size=2, stride=2)
        self.dec3 = DoubleConv(32, 16)
        self.outc = nn.Conv2d(16, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.inc(x)
        x2 = self.down1(F.max_pool2d(x1, 2))
        x3 = self.down2(F.max_pool2d(x2, 2))
        x4 = self.bottleneck(F.max_pool2d(x3, 2))
        y = self.dec1(torch.cat([self.up1(x4), x3], dim=1))
        y = F.interpolate(y, scale_factor=2, mode="bilinear", align_corners=False)
        y = self.dec2(torch.cat([self.up2_conv(y), x2], dim=1))
        y = self.dec3(torch.cat([self.up3(y), x1], dim=1))
        return self.outc(y)


def unet_small(in_channels: int = 3, num_classes: int = 2) -> UNet:
    """A small UNet (Ronneberger et al. 2015), 0.5M parameters. Untrained.

    Input ``(N, 3, 64, 64)`` float32, output ``(N, num_classes, 64, 64)``.
    """
    return UNet(in_channels, num_classes)


# ------------------------------------------------- torch-dag's untraceable example


class MyStrangeActivation(torch.nn.Module):
    """GELU on square feature maps, ReLU6 otherwise: untraceable by ``torch.fx``.

    From torch-dag's conversion guide: the branch on ``H == W`` is Python control
    flow on the input's shape, so ``symbolic_trace`` raises ``TraceError`` unless
    this class is a leaf module. Maps ``(B, C, H, W)`` to the same shape.
    """

    # definitely non-traceable (dynamic control flow)

    def __init__(self):
        super().__init__()
        self.act0 = torch.nn.GELU()
        self.act1 = torch.nn.ReLU6()

    def forward(self, x):
        B, C, H, W = x.shape
        if H == W:
            return self.act0(x)
        else:
            return self.act1(x)


class StrangeActivationModel(torch.nn.Module):
    """The ``Model`` of torch-dag's conversion guide, verbatim.

    conv0 (3->16) + relu, conv1 + ``MyStrangeActivation``, conv2, adaptive average
    pool, mean over H and W, dense0 (16->8) + relu, dense1 (8->1).
    Maps ``(B, 3, H, W)`` float32 to ``(B, 1)``.
    """

    def __init__(self):
        super().__init__()
        self.conv0 = torch.nn.Conv2d(3, 16, 3, padding=1)
        self.relu = torch.nn.ReLU()
        self.conv1 = torch.nn.Conv2d(16, 16, 3, padding=1)
        self.strange_act = MyStrangeActivation()
        self.conv2 = torch.nn.Conv2d(16, 16, 3, padding=1)
        self.pool = torch.nn.AdaptiveAvgPool2d(output_size=(1, 1))
        self.dense0 = torch.nn.Linear(16, 8)
        self.dense1 = torch.nn.Linear(8, 1)

    def forward(self, x):
        x = self.relu(self.conv0(x))
        x = self.strange_act(self.conv1(x))
        x = self.conv2(x)
        x = self.pool(x).mean(dim=(2, 3))
        x = self.dense1(self.relu(self.dense0(x)))
        return x


def strange_activation_model() -> StrangeActivationModel:
    """torch-dag's example model with the untraceable ``MyStrangeActivation``."""
    return StrangeActivationModel()


# ------------------------------------------------------------------ seeded factories

_NORM_TYPES = (
    nn.BatchNorm1d,
    nn.BatchNorm2d,
    nn.BatchNorm3d,
    nn.GroupNorm,
    nn.LayerNorm,
)


@torch.no_grad()
def calibrate_batchnorm(model: nn.Module, inputs: Sequence[torch.Tensor]) -> None:
    """Set every BatchNorm's running statistics to the batch statistics of ``inputs``.

    One forward pass in training mode with cumulative averaging (``momentum=None``),
    so the running mean and variance become those of the activations the model
    actually produces; then the model is put back in eval mode and the momenta are
    restored. Keeps randomly initialised deep nets (ResNet-50, EfficientNet)
    well-scaled in eval mode instead of growing or shrinking with depth.
    """
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [bn.momentum for bn in bns]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None
    model.train()
    model(*inputs)
    for bn, momentum in zip(bns, momenta, strict=True):
        bn.momentum = momentum
    model.eval()


@torch.no_grad()
def randomize_norm_affine(model: nn.Module, generator: torch.Generator) -> None:
    """Draw the affine parameters of every norm layer from ``generator``.

    Weights of BatchNorm, GroupNorm and LayerNorm ~ U(0.5, 1.5), biases
    ~ N(0, 0.1^2), instead of torch's ones and zeros.
    """
    for m in model.modules():
        if isinstance(m, _NORM_TYPES) and getattr(m, "weight", None) is not None:
            m.weight.copy_(torch.rand(m.weight.shape, generator=generator) + 0.5)
            m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=generator))


@torch.no_grad()
def perturb_running_stats(model: nn.Module, generator: torch.Generator) -> None:
    """Move every BatchNorm's statistics, compensating in its affine parameters.

    Running means are shifted by N(0, (0.5 sigma)^2) and running variances scaled
    by U(0.5, 2); weight and bias are changed so that the eval-mode output
    ``(x - mean) / sqrt(var + eps) * weight + bias`` stays the same up to
    rounding. The model keeps the activation scale that ``calibrate_batchnorm``
    gave it, while no statistic is the one its input actually has: a batch-norm
    fold that drops or misplaces any of the four tensors shows up numerically.

    Raises:
        ValueError: a BatchNorm without affine parameters or running statistics.
    """
    for m in model.modules():
        if not isinstance(m, nn.modules.batchnorm._BatchNorm):
            continue
        if not (m.affine and m.track_running_stats):
            raise ValueError(f"{m} needs affine parameters and running statistics")
        shape = m.running_mean.shape
        old_std = (m.running_var + m.eps).sqrt()
        delta = 0.5 * m.running_var.sqrt() * torch.randn(shape, generator=generator)
        m.running_mean.add_(delta)
        m.running_var.mul_(0.5 + 1.5 * torch.rand(shape, generator=generator))
        new_std = (m.running_var + m.eps).sqrt()
        m.bias.add_(m.weight * delta / old_std)
        m.weight.mul_(new_std / old_std)


def build_seeded(
    build: Callable[[], nn.Module],
    input_shapes: Sequence[tuple[int, ...]],
    seed: int = 0,
) -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    """Build ``build()`` under ``seed``; return ``(model.eval(), example_inputs)``.

    In order: ``build()`` draws the weights from torch's RNG seeded with ``seed``;
    ``randomize_norm_affine`` draws norm weights and biases; if the model has
    BatchNorm, ``calibrate_batchnorm`` sets its statistics from a random batch of
    2 (a training-mode pass, dropout included) and ``perturb_running_stats``
    moves them; the example inputs are standard-normal float32 tensors of
    ``input_shapes``. All of it runs inside ``torch.random.fork_rng``, so the same
    arguments give the same model and inputs and the caller's global random
    state is left as it was.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build()
        generator = torch.Generator().manual_seed(seed + 1)
        randomize_norm_affine(model, generator)
        if any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()):
            calibration = tuple(
                torch.randn((2, *shape[1:]), generator=generator)
                for shape in input_shapes
            )
            calibrate_batchnorm(model, calibration)
            perturb_running_stats(model, generator)
        inputs = tuple(
            torch.randn(shape, generator=generator) for shape in input_shapes
        )
    return model.eval(), inputs


def _factory(
    build: Callable[[], nn.Module], *input_shapes: tuple[int, ...], doc: str
) -> ModelFactory:
    def factory() -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
        return build_seeded(build, input_shapes)

    factory.__doc__ = doc
    return factory


_IMAGENET = (1, 3, 224, 224)
_SMALL = (1, 3, 64, 64)

#: Seeded model factories: name -> () -> (model in eval mode, example inputs).
#: Every factory call rebuilds the same weights and inputs (seed 0).
MODELS: dict[str, ModelFactory] = {
    "resnet18": _factory(
        resnet18, _IMAGENET, doc="ResNet-18 on (1, 3, 224, 224) -> (1, 1000)."
    ),
    "resnet50": _factory(
        resnet50, _IMAGENET, doc="ResNet-50 on (1, 3, 224, 224) -> (1, 1000)."
    ),
    "mobilenet_v2": _factory(
        mobilenet_v2, _IMAGENET, doc="MobileNetV2 on (1, 3, 224, 224) -> (1, 1000)."
    ),
    "vit_small": _factory(
        vit_small,
        _IMAGENET,
        doc="ViT dim 192/3 heads/depth 4, (1, 3, 224, 224) -> (1, 1000).",
    ),
    "efficientnet_b0": _factory(
        efficientnet_b0,
        _IMAGENET,
        doc="EfficientNet-B0 on (1, 3, 224, 224) -> (1, 1000).",
    ),
    "mobilenet_v3_small_like": _factory(
        mobilenet_v3_small_like,
        _IMAGENET,
        doc="MobileNetV3-Small on (1, 3, 224, 224) -> (1, 1000).",
    ),
    "unet_small": _factory(
        unet_small, _SMALL, doc="Small UNet on (1, 3, 64, 64) -> (1, 2, 64, 64)."
    ),
    "strange_activation": _factory(
        strange_activation_model,
        (1, 3, 32, 32),
        doc="torch-dag's example with MyStrangeActivation, (1, 3, 32, 32) -> (1, 1).",
    ),
    "resnet18_small": _factory(
        resnet18, _SMALL, doc="ResNet-18 (unchanged) on (1, 3, 64, 64) -> (1, 1000)."
    ),
    "mobilenet_v2_small": _factory(
        partial(mobilenet_v2, num_classes=10, width_mult=0.5),
        _SMALL,
        doc="MobileNetV2 width 0.5, 10 classes, (1, 3, 64, 64) -> (1, 10).",
    ),
    "vit_tiny": _factory(
        vit_tiny_test,
        (1, 3, 32, 32),
        doc="ViT patch 8, dim 64, 2 heads, depth 2: (1, 3, 32, 32) -> (1, 10).",
    ),
    "efficientnet_small": _factory(
        efficientnet_small,
        _SMALL,
        doc="5 MBConv blocks, 10 classes, (1, 3, 64, 64) -> (1, 10).",
    ),
}


def get_model(name: str) -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    """Return ``MODELS[name]()``: a seeded model in eval mode and its example inputs.

    Raises:
        KeyError: ``name`` is not in ``MODELS``; the message lists the known names.
    """
    try:
        factory = MODELS[name]
    except KeyError:
        raise KeyError(
            f"unknown model {name!r}; known models: {', '.join(sorted(MODELS))}"
        ) from None
    return factory()
