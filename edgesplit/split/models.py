"""Generic CNNs for split computing: conv stages, a bottleneck encoder/decoder, per-layer FLOPs and activation bytes."""

from __future__ import annotations

import copy
from collections import OrderedDict
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # torch is imported lazily so that specs, FLOPs and byte counts stay cheap to import
    from torch import nn

Shape = tuple[int, int, int]


@dataclass(frozen=True)
class SplitCNNSpec:
    """A CNN made of stages, then a classifier; the natural split points are the stage boundaries.

    Each stage is `len(channels)` blocks of (conv k x k 'same', batch-norm, ReLU) followed by a 2x2 max-pool;
    the classifier is flatten -> [Linear(hidden) -> ReLU -> Dropout] -> Linear(num_classes). `seed` fixes the
    initial weights and the training order.
    """

    input_shape: Shape = (1, 28, 28)
    stages: tuple[tuple[int, ...], ...] = ((32,), (64,))
    kernel: int = 3
    hidden: int = 128
    dropout: float = 0.25
    num_classes: int = 10
    seed: int = 0

    def __post_init__(self) -> None:
        if len(self.input_shape) != 3 or min(self.input_shape) < 1:
            raise ValueError(f"input_shape must be (C, H, W) with positive sizes, got {self.input_shape}")
        if not self.stages or any(not s or min(s) < 1 for s in self.stages):
            raise ValueError(f"every stage needs at least one conv with >= 1 channel, got {self.stages}")
        if self.kernel < 1 or self.kernel % 2 == 0:
            raise ValueError(f"kernel must be odd and positive, got {self.kernel}")
        if self.num_classes < 2:
            raise ValueError(f"num_classes must be >= 2, got {self.num_classes}")
        _, h, w = self.input_shape
        if h >> len(self.stages) < 1 or w >> len(self.stages) < 1:
            raise ValueError(f"{len(self.stages)} stages (one 2x2 pool each) are too many for a {h}x{w} input")

    @property
    def n_stages(self) -> int:
        """Number of stages, i.e. of split points (a split after stage k, 1 <= k <= n_stages)."""
        return len(self.stages)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (the checkpoint's architecture record)."""
        d = asdict(self)
        d["input_shape"] = list(self.input_shape)
        d["stages"] = [list(s) for s in self.stages]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SplitCNNSpec:
        """Inverse of `to_dict`."""
        return cls(**{**d, "input_shape": tuple(d["input_shape"]), "stages": tuple(tuple(s) for s in d["stages"])})


@dataclass(frozen=True)
class BottleneckSpec:
    """A learned bottleneck inserted after a stage.

    Encoder (runs on the device, last layer of the head): conv k x k with `stride` to `channels` channels, no
    activation (its output is quantized to 8 bits for the wire). Decoder (first layer of the tail, on the edge):
    [conv k x k to `decoder_hidden` channels, batch-norm, ReLU], nearest upsampling back to the stage's output
    size, conv k x k to the stage's channels, batch-norm, ReLU: it reproduces the removed stage's output shape.
    """

    channels: int
    stride: int = 2
    kernel: int = 3
    decoder_hidden: int = 32

    def __post_init__(self) -> None:
        if self.channels < 1 or self.stride < 1 or self.decoder_hidden < 0:
            raise ValueError(f"bad bottleneck {self}")
        if self.kernel < 1 or self.kernel % 2 == 0:
            raise ValueError(f"kernel must be odd and positive, got {self.kernel}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BottleneckSpec:
        """Inverse of `to_dict`."""
        return cls(**d)


@dataclass(frozen=True)
class Layer:
    """One layer of a network in execution order: its FLOPs and its output (activation) shape for one sample."""

    name: str  # e.g. "stage1.conv1", "encoder.conv", "classifier.fc2"
    block: str  # "stage1".."stageN", "encoder", "decoder", "classifier"
    flops: int
    out_shape: tuple[int, ...]

    @property
    def elements(self) -> int:
        """Values in one sample's output."""
        n = 1
        for d in self.out_shape:
            n *= d
        return n

    @property
    def f32_bytes(self) -> int:
        """Output bytes as float32."""
        return 4 * self.elements

    @property
    def u8_bytes(self) -> int:
        """Output bytes quantized to 8 bits (payload only, without the scale and zero point)."""
        return self.elements


def stage_shapes(spec: SplitCNNSpec) -> list[Shape]:
    """Activation shape at each stage boundary: index 0 is the input, index k the output of stage k."""
    c, h, w = spec.input_shape
    shapes: list[Shape] = [(c, h, w)]
    for stage in spec.stages:
        h, w = h // 2, w // 2
        shapes.append((stage[-1], h, w))
    return shapes


def _check_split(spec: SplitCNNSpec, split_after: int) -> None:
    if not 1 <= split_after <= spec.n_stages:
        raise ValueError(f"split_after must be within 1..{spec.n_stages}, got {split_after}")


def bottleneck_shape(spec: SplitCNNSpec, split_after: int, bottleneck: BottleneckSpec) -> Shape:
    """Shape of one sample's bottleneck (the encoder output, what goes on the wire)."""
    _check_split(spec, split_after)
    _, h, w = stage_shapes(spec)[split_after]
    k, s = bottleneck.kernel, bottleneck.stride
    return bottleneck.channels, (h + 2 * (k // 2) - k) // s + 1, (w + 2 * (k // 2) - k) // s + 1


def _conv(name: str, block: str, c_in: int, c_out: int, h: int, w: int, k: int) -> Layer:
    return Layer(name, block, 2 * h * w * c_out * c_in * k * k, (c_out, h, w))


def stage_layers(spec: SplitCNNSpec, index: int) -> list[Layer]:
    """Layers of stage `index` (1-based)."""
    c, h, w = stage_shapes(spec)[index - 1]
    out: list[Layer] = []
    for j, ch in enumerate(spec.stages[index - 1], start=1):
        out.append(_conv(f"stage{index}.conv{j}", f"stage{index}", c, ch, h, w, spec.kernel))
        c = ch
    out.append(Layer(f"stage{index}.pool", f"stage{index}", 0, (c, h // 2, w // 2)))
    return out


def classifier_layers(spec: SplitCNNSpec) -> list[Layer]:
    """Layers of the classifier (flatten is free)."""
    c, h, w = stage_shapes(spec)[-1]
    features = c * h * w
    out: list[Layer] = []
    if spec.hidden:
        out.append(Layer("classifier.fc1", "classifier", 2 * features * spec.hidden, (spec.hidden,)))
        features = spec.hidden
    out.append(
        Layer(f"classifier.fc{len(out) + 1}", "classifier", 2 * features * spec.num_classes, (spec.num_classes,))
    )
    return out


def encoder_layers(spec: SplitCNNSpec, split_after: int, bottleneck: BottleneckSpec) -> list[Layer]:
    """The encoder's layer (strided conv to the bottleneck channels)."""
    c_in = stage_shapes(spec)[split_after][0]
    c, h, w = bottleneck_shape(spec, split_after, bottleneck)
    k = bottleneck.kernel
    # A strided conv costs its output positions x c_out x c_in x k x k, like `_conv` at the output size.
    return [Layer("encoder.conv", "encoder", 2 * h * w * c * c_in * k * k, (c, h, w))]


def decoder_layers(spec: SplitCNNSpec, split_after: int, bottleneck: BottleneckSpec) -> list[Layer]:
    """The decoder's layers, ending at the shape of stage `split_after`'s output."""
    c_out, h_out, w_out = stage_shapes(spec)[split_after]
    c, h, w = bottleneck_shape(spec, split_after, bottleneck)
    k = bottleneck.kernel
    out: list[Layer] = []
    if bottleneck.decoder_hidden:
        out.append(_conv("decoder.conv1", "decoder", c, bottleneck.decoder_hidden, h, w, k))
        c = bottleneck.decoder_hidden
    if (h, w) != (h_out, w_out):
        out.append(Layer("decoder.upsample", "decoder", 0, (c, h_out, w_out)))
    out.append(_conv(f"decoder.conv{len([x for x in out if x.flops]) + 1}", "decoder", c, c_out, h_out, w_out, k))
    return out


def layer_table(
    spec: SplitCNNSpec, split_after: int | None = None, bottleneck: BottleneckSpec | None = None
) -> list[Layer]:
    """Every layer in execution order: the plain network, or with `bottleneck` inserted after `split_after`.

    FLOPs are 2 x multiply-accumulates of the convs and linear layers; biases, batch-norm (foldable), ReLU,
    pooling and upsampling are not counted (well under 1% here).
    """
    if bottleneck is not None:
        if split_after is None:
            raise ValueError("a bottleneck needs split_after")
        _check_split(spec, split_after)
    out: list[Layer] = []
    for i in range(1, spec.n_stages + 1):
        out += stage_layers(spec, i)
        if bottleneck is not None and i == split_after:
            out += encoder_layers(spec, i, bottleneck) + decoder_layers(spec, i, bottleneck)
    return out + classifier_layers(spec)


@dataclass(frozen=True)
class Block:
    """A group of layers that runs as one unit (a stage, the encoder, the decoder, the classifier)."""

    name: str
    flops: int
    out_shape: tuple[int, ...]
    layers: tuple[Layer, ...]


def block_table(layers: list[Layer]) -> list[Block]:
    """Layers grouped by block, in order; a block's output is its last layer's."""
    blocks: list[Block] = []
    group: list[Layer] = []
    for layer in [*layers, None]:
        if group and (layer is None or layer.block != group[0].block):
            blocks.append(Block(group[0].block, sum(x.flops for x in group), group[-1].out_shape, tuple(group)))
            group = []
        if layer is not None:
            group.append(layer)
    return blocks


def head_tail_flops(spec: SplitCNNSpec, split_after: int, bottleneck: BottleneckSpec | None = None) -> tuple[int, int]:
    """(head FLOPs, tail FLOPs): head = stages 1..split_after [+ encoder], tail = [decoder +] the rest."""
    _check_split(spec, split_after)
    head_blocks = {f"stage{i}" for i in range(1, split_after + 1)} | {"encoder"}
    layers = layer_table(spec, split_after, bottleneck)
    head = sum(x.flops for x in layers if x.block in head_blocks)
    return head, sum(x.flops for x in layers) - head


def count_flops(spec: SplitCNNSpec) -> int:
    """FLOPs of one inference of the plain network."""
    return sum(x.flops for x in layer_table(spec))


# --- torch modules ----------------------------------------------------------------------------------------------


def build_teacher(spec: SplitCNNSpec) -> nn.Sequential:
    """The plain network as `Sequential(stage1, ..., stageN, classifier)`, initialised from `spec.seed`.

    Slicing keeps the names: `net[:k]` is the head of a split after stage k and `net[k:]` its tail (sharing
    the parameters).
    """
    import torch
    from torch import nn

    torch.manual_seed(spec.seed)
    parts: OrderedDict[str, nn.Module] = OrderedDict()
    c = spec.input_shape[0]
    for i, stage in enumerate(spec.stages, start=1):
        mods: list[nn.Module] = []
        for ch in stage:
            mods += [nn.Conv2d(c, ch, spec.kernel, padding=spec.kernel // 2, bias=False), nn.BatchNorm2d(ch)]
            mods.append(nn.ReLU(inplace=True))
            c = ch
        mods.append(nn.MaxPool2d(2))
        parts[f"stage{i}"] = nn.Sequential(*mods)
    c, h, w = stage_shapes(spec)[-1]
    features = c * h * w
    head: list[nn.Module] = [nn.Flatten()]
    if spec.hidden:
        head += [nn.Linear(features, spec.hidden), nn.ReLU(inplace=True)]
        if spec.dropout:
            head.append(nn.Dropout(spec.dropout))
        features = spec.hidden
    head.append(nn.Linear(features, spec.num_classes))
    parts["classifier"] = nn.Sequential(*head)
    return nn.Sequential(parts)


def build_encoder(spec: SplitCNNSpec, split_after: int, bottleneck: BottleneckSpec) -> nn.Sequential:
    """The encoder (see `BottleneckSpec`)."""
    from torch import nn

    c_in = stage_shapes(spec)[split_after][0]
    k = bottleneck.kernel
    return nn.Sequential(nn.Conv2d(c_in, bottleneck.channels, k, stride=bottleneck.stride, padding=k // 2))


def build_decoder(spec: SplitCNNSpec, split_after: int, bottleneck: BottleneckSpec) -> nn.Sequential:
    """The decoder (see `BottleneckSpec`); its output has the shape of stage `split_after`'s output."""
    from torch import nn

    c_out, h_out, w_out = stage_shapes(spec)[split_after]
    _, h, w = bottleneck_shape(spec, split_after, bottleneck)
    k = bottleneck.kernel
    c = bottleneck.channels
    mods: list[nn.Module] = []
    if bottleneck.decoder_hidden:
        mods += [nn.Conv2d(c, bottleneck.decoder_hidden, k, padding=k // 2, bias=False)]
        mods += [nn.BatchNorm2d(bottleneck.decoder_hidden), nn.ReLU(inplace=True)]
        c = bottleneck.decoder_hidden
    if (h, w) != (h_out, w_out):
        mods.append(nn.Upsample(size=(h_out, w_out), mode="nearest"))  # exact size: odd sizes round-trip too
    # ReLU last: the stage output it stands in for is a max-pool of ReLUs, so non-negative.
    mods += [nn.Conv2d(c, c_out, k, padding=k // 2, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]
    return nn.Sequential(*mods)


def build_student(
    teacher: nn.Sequential, spec: SplitCNNSpec, split_after: int, bottleneck: BottleneckSpec, seed: int = 0
) -> nn.Sequential:
    """`Sequential(head, encoder, decoder, tail)`: copies of the teacher's stages 1..split_after (head) and of
    the rest (tail), with a fresh encoder and decoder (initialised from `seed`) between them."""
    import torch
    from torch import nn

    _check_split(spec, split_after)
    torch.manual_seed(seed)
    return nn.Sequential(
        OrderedDict(
            head=copy.deepcopy(teacher[:split_after]),
            encoder=build_encoder(spec, split_after, bottleneck),
            decoder=build_decoder(spec, split_after, bottleneck),
            tail=copy.deepcopy(teacher[split_after:]),
        )
    )


def student_head(student: nn.Sequential) -> nn.Sequential:
    """Device side of a student: images -> bottleneck (shares the student's parameters)."""
    return student[:2]


def student_tail(student: nn.Sequential) -> nn.Sequential:
    """Edge side of a student: bottleneck -> logits (shares the student's parameters)."""
    return student[2:]
