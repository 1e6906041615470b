"""What the split planner knows about a model: the work of every block and codec (FLOPs, host time) and the options."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgesplit.datasets import open_dataset
from edgesplit.errors import UserError
from edgesplit.nn.timing import measure_seconds
from edgesplit.rpc.codec import quantize_u8
from edgesplit.split.checkpoint import load_split_checkpoint
from edgesplit.split.config import SplitTrainConfig, resolve
from edgesplit.split.models import (
    BottleneckSpec,
    Layer,
    SplitCNNSpec,
    block_table,
    bottleneck_shape,
    build_decoder,
    build_encoder,
    build_teacher,
    decoder_layers,
    encoder_layers,
    layer_table,
    stage_shapes,
)
from edgesplit.split.wire import png_decode, png_encode, png_sizes, to_uint8, u8_wire_bytes


@dataclass(frozen=True)
class Work:
    """One piece of work in a pipeline: FLOPs (DNN blocks; 0 for codecs) and batch-1 seconds on this host."""

    flops: int
    host_s: float | None = None


@dataclass(frozen=True)
class Option:
    """One way to serve a request: which work runs on the device, which on the edge, and the bytes between."""

    name: str
    kind: str  # local | offload | split | bottleneck
    device: tuple[str, ...]
    edge: tuple[str, ...]
    wire_bytes: float
    accuracy: float | None = None
    split_after: int | None = None


@dataclass
class ModelCosts:
    """Everything the planner knows about a model, measured once and reused for every device and link."""

    spec: SplitCNNSpec
    bottlenecks: dict[int, BottleneckSpec]
    work: dict[str, Work]
    host_flop_rate: float | None  # 1-thread 256 x 256 matmul FLOP/s of this host; None: not measured
    raw_bytes: int
    png_bytes: float | None
    accuracy: dict[str, float | None] = field(default_factory=dict)
    source: str = ""

    def options(self) -> list[Option]:
        """Local, raw and PNG offload, and after each stage: float32 features, 8-bit features, bottleneck."""
        spec = self.spec
        stages = [f"stage{i}" for i in range(1, spec.n_stages + 1)]
        full = (*stages, "classifier")
        teacher = self.accuracy.get("teacher")
        opts = [
            Option("local", "local", full, (), 0, teacher),
            Option("offload raw", "offload", (), full, self.raw_bytes, teacher),
        ]
        if self.png_bytes is not None:
            opts.append(
                Option("offload PNG", "offload", ("png_encode",), ("png_decode", *full), self.png_bytes, teacher)
            )
        for k, shape in enumerate(stage_shapes(spec)[1:], start=1):
            head, tail = full[:k], full[k:]
            opts.append(Option(f"split s{k} f32", "split", head, tail, 4 * int(np.prod(shape)), teacher, k))
            opts.append(
                Option(
                    f"split s{k} u8",
                    "split",
                    (*head, f"quantize s{k}"),
                    tail,
                    u8_wire_bytes(shape),
                    self.accuracy.get(f"split_u8 s{k}"),
                    k,
                )
            )
            bn = self.bottlenecks.get(k)
            if bn is not None:
                z = bottleneck_shape(spec, k, bn)
                opts.append(
                    Option(
                        f"split s{k} + bottleneck c{bn.channels} u8",
                        "bottleneck",
                        (*head, f"encoder s{k}", f"quantize bottleneck s{k}"),
                        (f"decoder s{k}", *tail),
                        u8_wire_bytes(z),
                        self.accuracy.get(f"bottleneck_u8 s{k}"),
                        k,
                    )
                )
        return opts

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {
            "spec": self.spec.to_dict(),
            "bottlenecks": {str(k): b.to_dict() for k, b in self.bottlenecks.items()},
            "work": {k: asdict(w) for k, w in self.work.items()},
            "host_flop_rate": self.host_flop_rate,
            "raw_bytes": self.raw_bytes,
            "png_bytes": self.png_bytes,
            "accuracy": self.accuracy,
            "source": self.source,
        }


def analytic_costs(
    spec: SplitCNNSpec,
    bottlenecks: dict[int, BottleneckSpec],
    png_bytes: float | None = None,
    accuracy: dict[str, float | None] | None = None,
) -> ModelCosts:
    """Costs from FLOPs alone (no timing): what `plan(..., timing="flops")` needs."""
    return ModelCosts(
        spec=spec,
        bottlenecks=dict(bottlenecks),
        work={name: Work(flops) for name, flops in _work_flops(spec, bottlenecks).items()},
        host_flop_rate=None,
        raw_bytes=int(np.prod(spec.input_shape)),
        png_bytes=png_bytes,
        accuracy=dict(accuracy or {}),
        source="FLOPs only",
    )


def _work_flops(spec: SplitCNNSpec, bottlenecks: dict[int, BottleneckSpec]) -> dict[str, int]:
    work = {b.name: b.flops for b in block_table(layer_table(spec))}
    for k in range(1, spec.n_stages + 1):
        work[f"quantize s{k}"] = 0
    for k, bn in bottlenecks.items():
        work[f"encoder s{k}"] = sum(x.flops for x in encoder_layers(spec, k, bn))
        work[f"decoder s{k}"] = sum(x.flops for x in decoder_layers(spec, k, bn))
        work[f"quantize bottleneck s{k}"] = 0
    work["png_encode"] = work["png_decode"] = 0
    return work


def layer_rows(spec: SplitCNNSpec, bottlenecks: dict[int, BottleneckSpec]) -> list[Layer]:
    """Per-layer table of the plain network, then the encoder and decoder of each bottleneck."""
    rows = layer_table(spec)
    for k, bn in sorted(bottlenecks.items()):
        rows += [Layer(f"{x.name} s{k}", f"{x.block} s{k}", x.flops, x.out_shape) for x in encoder_layers(spec, k, bn)]
        rows += [Layer(f"{x.name} s{k}", f"{x.block} s{k}", x.flops, x.out_shape) for x in decoder_layers(spec, k, bn)]
    return rows


MATMUL_SIZE = 256  # the host's FLOP rate is that of a float32 256 x 256 matmul on one thread


def _matmul() -> tuple[Any, int]:
    """(a call of a MATMUL_SIZE square float32 matmul, its FLOPs)."""
    import torch  # lazy: the split package imports without torch

    a, b = torch.rand(MATMUL_SIZE, MATMUL_SIZE), torch.rand(MATMUL_SIZE, MATMUL_SIZE)
    return (lambda: a @ b), 2 * MATMUL_SIZE**3


def measure_costs(
    spec: SplitCNNSpec,
    bottlenecks: dict[int, BottleneckSpec],
    image: np.ndarray,
    png_bytes: float | None,
    teacher: Any = None,
    accuracy: dict[str, float | None] | None = None,
    source: str = "",
    repeats: int = 20,
    rounds: int = 5,
) -> ModelCosts:
    """Costs with every block, codec and quantizer timed at batch 1 on one thread of this host.

    `image` is one uint8 (C, H, W) image (the PNG codec runs on it); `teacher` the module to time (an untrained
    one of `spec` when None: the time does not depend on the weights). Encoders and decoders are timed on fresh
    modules of their specs.
    """
    import torch  # lazy: the split package imports without torch

    flops = _work_flops(spec, bottlenecks)
    net = (teacher if teacher is not None else build_teacher(spec)).eval()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.inference_mode():
            x = torch.from_numpy(np.asarray(image, dtype=np.float32)[None] / 255.0)
            inputs = {}
            fns: dict[str, Any] = {}
            for name, module in net.named_children():  # stage1..stageN, classifier
                inputs[name] = x
                fns[name] = lambda m=module, v=x: m(v)
                x = module(x)
            for k in range(1, spec.n_stages + 1):
                feat = net[:k](inputs["stage1"]).numpy()
                fns[f"quantize s{k}"] = lambda v=feat: quantize_u8(v)
            for k, bn in bottlenecks.items():
                enc, dec = build_encoder(spec, k, bn).eval(), build_decoder(spec, k, bn).eval()
                feat = net[:k](inputs["stage1"])
                z = enc(feat)
                fns[f"encoder s{k}"] = lambda m=enc, v=feat: m(v)
                fns[f"decoder s{k}"] = lambda m=dec, v=z: m(v)
                fns[f"quantize bottleneck s{k}"] = lambda v=z.numpy(): quantize_u8(v)
            if png_bytes is not None:
                png = png_encode(image)
                fns["png_encode"] = lambda: png_encode(image)
                fns["png_decode"] = lambda: png_decode(png)
            # The matmul takes its turns with the blocks, so that a load on the shared host slows both alike
            # and their ratio (what the scaling uses) stays fair.
            fns["matmul"], mm_flops = _matmul()
            seconds = measure_seconds(fns, repeats=repeats, rounds=rounds, warmup=5)
            rate = mm_flops / seconds.pop("matmul")
    finally:
        torch.set_num_threads(threads)
    return ModelCosts(
        spec=spec,
        bottlenecks=dict(bottlenecks),
        work={name: Work(f, seconds.get(name)) for name, f in flops.items()},
        host_flop_rate=rate,
        raw_bytes=int(np.prod(spec.input_shape)),
        png_bytes=png_bytes,
        accuracy=dict(accuracy or {}),
        source=source,
    )


def costs_from_checkpoint(path: str | Path, repeats: int = 20, rounds: int = 5) -> ModelCosts:
    """Measured costs of a trained split model, with its test accuracies and its test images' PNG size."""
    ckpt = load_split_checkpoint(path)
    r = ckpt.report
    k = ckpt.split_after
    test = r["test"]
    accuracy: dict[str, float | None] = {"teacher": test["teacher"], f"bottleneck_u8 s{k}": test["student_u8"]}
    accuracy |= {f"split_u8 s{i}": a for i, a in test["teacher_split_u8"].items()}
    image = _sample_image(to_uint8(open_dataset(ckpt.dataset).x_test[:1])[0], ckpt.spec)
    return measure_costs(
        ckpt.spec,
        {k: ckpt.bottleneck},
        image,
        r["bytes"]["png_mean"],
        teacher=ckpt.teacher(),
        accuracy=accuracy,
        source=f"checkpoint {path} (accuracies: test split)",
        repeats=repeats,
        rounds=rounds,
    )


def default_costs(
    dataset: str = "mnist", bottleneck_channels: int = 4, png_samples: int = 2000, repeats: int = 20, rounds: int = 5
) -> ModelCosts:
    """Measured costs of the default (untrained) network for `dataset`, with a bottleneck after every stage."""
    data = open_dataset(dataset)
    spec = resolve(SplitTrainConfig(dataset=dataset), data).spec
    try:
        bns = {k: BottleneckSpec(bottleneck_channels) for k in range(1, spec.n_stages + 1)}
    except ValueError as err:
        raise UserError(str(err), where="--bottleneck-channels") from None
    images = to_uint8(data.x_test[:png_samples])
    png = float(png_sizes(images).mean()) if spec.input_shape[0] in (1, 3) else None
    return measure_costs(
        spec,
        bns,
        _sample_image(images[0], spec),
        png,
        source=f"untrained default network for {dataset} (no checkpoint: no accuracies)",
        repeats=repeats,
        rounds=rounds,
    )


def _sample_image(image: np.ndarray, spec: SplitCNNSpec) -> np.ndarray:
    if tuple(image.shape) != tuple(spec.input_shape):
        raise UserError(f"dataset images are {image.shape}, the model takes {spec.input_shape}")
    return image
