"""CNN specifications for the cascade (a pool of small CNNs and a large reference), with FLOP counts."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # torch is imported lazily so that specs and FLOP counts stay cheap to import
    from torch import nn

POOL = "M"


@dataclass(frozen=True)
class CNNSpec:
    """A plain CNN: conv blocks (conv k x k, 'same' padding, [BN], ReLU) and 2x2 max-pools, then a head.

    `layers` lists conv output channels (ints) and max-pools ("M") in order, like VGG configs; the head
    is flatten -> [Linear(hidden) -> ReLU -> Dropout] -> Linear(num_classes). `seed` fixes the initial
    weights and the training order.
    """

    name: str
    layers: tuple[int | str, ...]
    kernel: int = 3
    hidden: int = 0
    batchnorm: bool = False
    dropout: float = 0.0
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (the checkpoint's architecture record)."""
        d = asdict(self)
        d["layers"] = list(self.layers)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CNNSpec:
        """Inverse of `to_dict`."""
        return cls(**{**d, "layers": tuple(d["layers"])})


def _walk(spec: CNNSpec, image_shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """(conv MACs, channels, height, width) after the conv part, for a (C, H, W) input."""
    c, h, w = image_shape
    macs = 0
    for layer in spec.layers:
        if layer == POOL:
            h, w = h // 2, w // 2
            if h < 1 or w < 1:
                raise ValueError(f"{spec.name}: too many pools for a {image_shape} input")
        else:
            out = int(layer)
            macs += h * w * out * c * spec.kernel * spec.kernel
            c = out
    return macs, c, h, w


def count_flops(spec: CNNSpec, image_shape: tuple[int, ...], num_classes: int = 10) -> int:
    """FLOPs of one inference: 2 x (conv + linear multiply-accumulates).

    Biases, ReLU, pooling and batch-norm (foldable into the conv) are not counted; they add well under
    1% for these networks.
    """
    macs, c, h, w = _walk(spec, image_shape)
    features = c * h * w
    if spec.hidden:
        macs += features * spec.hidden + spec.hidden * num_classes
    else:
        macs += features * num_classes
    return 2 * macs


def build_cnn(spec: CNNSpec, image_shape: tuple[int, ...], num_classes: int = 10) -> nn.Module:
    """The torch module for `spec`, initialised from `spec.seed`."""
    import torch
    from torch import nn

    _walk(spec, image_shape)  # validates the pools against the input size
    torch.manual_seed(spec.seed)
    mods: list[nn.Module] = []
    c, h, w = image_shape
    for layer in spec.layers:
        if layer == POOL:
            mods.append(nn.MaxPool2d(2))
            h, w = h // 2, w // 2
            continue
        out = int(layer)
        mods.append(nn.Conv2d(c, out, spec.kernel, padding=spec.kernel // 2, bias=not spec.batchnorm))
        if spec.batchnorm:
            mods.append(nn.BatchNorm2d(out))
        mods.append(nn.ReLU(inplace=True))
        c = out
    mods.append(nn.Flatten())
    features = c * h * w
    if spec.hidden:
        mods += [nn.Linear(features, spec.hidden), nn.ReLU(inplace=True)]
        if spec.dropout:
            mods.append(nn.Dropout(spec.dropout))
        features = spec.hidden
    mods.append(nn.Linear(features, num_classes))
    return nn.Sequential(*mods)


def fold_batchnorm(module: nn.Sequential) -> nn.Sequential:
    """An inference copy of a `build_cnn` network: each BatchNorm2d folded into the conv before it, and
    Dropout dropped. Same outputs (up to rounding), fewer layers to call."""
    import torch
    from torch import nn

    layers: list[nn.Module] = []
    for layer in module:
        if isinstance(layer, nn.BatchNorm2d) and layers and isinstance(layers[-1], nn.Conv2d):
            conv = layers[-1]
            scale = layer.weight / torch.sqrt(layer.running_var + layer.eps)
            fused = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, padding=conv.padding)
            with torch.no_grad():
                fused.weight.copy_(conv.weight * scale.reshape(-1, 1, 1, 1))
                bias = conv.bias if conv.bias is not None else torch.zeros_like(layer.running_mean)
                fused.bias.copy_((bias - layer.running_mean) * scale + layer.bias)
            layers[-1] = fused
        elif not isinstance(layer, nn.Dropout):
            layers.append(layer)
    return nn.Sequential(*layers).eval()


def small_pool(image_size: int) -> list[CNNSpec]:
    """The default pool of small CNNs (any input size): different widths, kernels, depths and seeds."""
    return [
        CNNSpec("s3-8-16-32-h64", (8, POOL, 16, POOL, 32, POOL), kernel=3, hidden=64, batchnorm=True, seed=11),
        CNNSpec("s3-8-16-32-h64b", (8, POOL, 16, POOL, 32, POOL), kernel=3, hidden=64, batchnorm=True, seed=12),
        CNNSpec("s5-12-24", (12, POOL, 24, POOL), kernel=5, batchnorm=True, seed=13),
        CNNSpec("s3-16-32-h64", (16, POOL, 32, POOL), kernel=3, hidden=64, batchnorm=True, seed=14),
        CNNSpec("s5-8-16-h64", (8, POOL, 16, POOL), kernel=5, hidden=64, batchnorm=True, seed=15),
    ]


def large_spec(image_size: int) -> CNNSpec:
    """The large reference CNN: two wide batch-norm conv blocks and a 256-unit dropout head."""
    if image_size <= 8:  # sklearn digits: a lighter head is plenty
        return CNNSpec("large", (32, POOL, 64, POOL), kernel=3, hidden=128, batchnorm=True, dropout=0.25, seed=1)
    return CNNSpec("large", (32, POOL, 64, POOL), kernel=5, hidden=256, batchnorm=True, dropout=0.25, seed=1)
