"""Split planner: latency and device energy of local inference, full offload (raw or PNG) and every split point."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from edgesplit.errors import UserError
from edgesplit.model.profiles import Profile, get_profile
from edgesplit.split.models import (
    BottleneckSpec,
    Layer,
    SplitCNNSpec,
    block_table,
    bottleneck_shape,
    decoder_layers,
    encoder_layers,
    layer_table,
    stage_shapes,
)
from edgesplit.split.wire import u8_wire_bytes
from edgesplit.units import parse_quantity

Timing = Literal["measured", "flops"]
TIMINGS = ("measured", "flops")


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


@dataclass
class Row:
    """An option's figures for one request. Energies are the device's: compute plus radio (idle power excluded)."""

    name: str
    kind: str
    split_after: int | None
    wire_bytes: float
    accuracy: float | None
    device_flops: int
    edge_flops: int
    device_s: float
    network_s: float
    edge_s: float
    total_s: float
    compute_j: float
    radio_j: float
    energy_j: float


@dataclass
class Plan:
    """Every option for one device, edge server and link, with the fastest and the least-energy one."""

    device: str
    edge: str
    bandwidth_bps: float
    rtt_s: float
    timing: str
    rows: list[Row]
    fastest: str
    least_energy: str
    notes: dict[str, str] = field(default_factory=dict)

    def row(self, name: str) -> Row:
        """The row of the named option."""
        return next(r for r in self.rows if r.name == name)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {**asdict(self), "rows": [asdict(r) for r in self.rows]}


def flop_rate(profile: Profile) -> float:
    """Sustained FLOP/s of one core of the profile (batch-1 inference runs on one core)."""
    return profile.cpu_hz * profile.flops_per_cycle


def work_seconds(work: Work, profile: Profile, host_flop_rate: float | None, timing: Timing) -> float:
    """Seconds of `work` on one core of `profile`.

    "measured": this host's batch-1 time scaled by (host matmul FLOP/s) / (profile FLOP/s), so that overheads
    and inefficient layers (a 1-channel conv) count as they do here. "flops": FLOPs / profile FLOP/s for DNN
    blocks; codecs (no FLOPs) still use their scaled measured time when there is one.
    """
    scaled = None
    if work.host_s is not None and host_flop_rate:
        scaled = work.host_s * host_flop_rate / flop_rate(profile)
    if timing == "measured" and scaled is not None:
        return scaled
    if work.flops:
        return work.flops / flop_rate(profile)
    return scaled or 0.0


def plan(
    costs: ModelCosts,
    device: Profile,
    edge: Profile,
    bandwidth_bps: float,
    rtt_s: float = 0.02,
    timing: Timing = "measured",
    result_bytes: int | None = None,
) -> Plan:
    """Latency and device energy of every option on `device` with `edge` behind a `bandwidth_bps` link.

    Network time = RTT + upload (wire bytes) + download of the result (float32 logits, `result_bytes`), both
    at `bandwidth_bps`; device energy = compute (the profile's model on device time) + tx power x upload airtime
    + rx power x download airtime. The device's idle power is drawn whatever it does and is left out.
    """
    if bandwidth_bps <= 0 or not math.isfinite(bandwidth_bps):
        raise UserError(f"must be a positive rate, got {bandwidth_bps} bit/s", where="--bandwidth")
    if rtt_s < 0:
        raise UserError("must be >= 0", where="--rtt")
    if timing == "measured" and not costs.host_flop_rate:
        timing = "flops"
    result_bytes = 4 * costs.spec.num_classes if result_bytes is None else result_bytes
    rows: list[Row] = []
    for opt in costs.options():
        dev_s = sum(work_seconds(costs.work[w], device, costs.host_flop_rate, timing) for w in opt.device)
        edge_s = sum(work_seconds(costs.work[w], edge, costs.host_flop_rate, timing) for w in opt.edge)
        up_s = opt.wire_bytes * 8 / bandwidth_bps
        down_s = result_bytes * 8 / bandwidth_bps if opt.edge else 0.0
        net_s = rtt_s + up_s + down_s if opt.edge else 0.0
        compute_j = device.compute_energy_j(dev_s * device.cpu_hz)
        radio_j = device.tx_power_w * up_s + device.rx_power_w * down_s
        rows.append(
            Row(
                name=opt.name,
                kind=opt.kind,
                split_after=opt.split_after,
                wire_bytes=opt.wire_bytes,
                accuracy=opt.accuracy,
                device_flops=sum(costs.work[w].flops for w in opt.device),
                edge_flops=sum(costs.work[w].flops for w in opt.edge),
                device_s=dev_s,
                network_s=net_s,
                edge_s=edge_s,
                total_s=dev_s + net_s + edge_s,
                compute_j=compute_j,
                radio_j=radio_j,
                energy_j=compute_j + radio_j,
            )
        )
    notes = {
        "timing": (
            f"measured: batch-1 time on this host x {costs.host_flop_rate:.3g} FLOP/s (host 1-thread matmul) / "
            "profile FLOP/s (cpu_hz x flops_per_cycle, one core)"
            if timing == "measured"
            else "flops: FLOPs / profile FLOP/s (cpu_hz x flops_per_cycle, one core); codecs by scaled measured time"
        ),
        "energy": "device compute (profile energy model) + tx power x upload + rx power x download; idle excluded",
        "network": f"RTT + wire bytes and {result_bytes} B of logits at the link rate",
        "source": costs.source,
    }
    return Plan(
        device=device.name,
        edge=edge.name,
        bandwidth_bps=bandwidth_bps,
        rtt_s=rtt_s,
        timing=timing,
        rows=rows,
        fastest=min(rows, key=lambda r: r.total_s).name,
        least_energy=min(rows, key=lambda r: r.energy_j).name,
        notes=notes,
    )


# --- building the costs -----------------------------------------------------------------------------------------


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
    import torch

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
    import torch

    from edgesplit.cascade.energy import measure_seconds
    from edgesplit.rpc.codec import quantize_u8
    from edgesplit.split.models import build_decoder, build_encoder, build_teacher
    from edgesplit.split.wire import png_decode, png_encode

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
    from edgesplit.datasets import open_dataset
    from edgesplit.split.train import load_split_checkpoint
    from edgesplit.split.wire import to_uint8

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
    from edgesplit.datasets import open_dataset
    from edgesplit.split.train import SplitTrainConfig, resolve
    from edgesplit.split.wire import png_sizes, to_uint8

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


def parse_link(bandwidth: str | float, rtt: str | float) -> tuple[float, float]:
    """(bit/s, seconds) from strings such as "10Mbps" and "20ms" (edgesplit.units); UserError when unreadable."""
    try:
        bw = parse_quantity(bandwidth, "rate")
    except ValueError as err:
        raise UserError(str(err), where="--bandwidth") from None
    try:
        rtt_s = parse_quantity(rtt, "time")
    except ValueError as err:
        raise UserError(str(err), where="--rtt") from None
    if not bw > 0 or not math.isfinite(bw):
        raise UserError(f"must be a positive rate, got {bandwidth!r}", where="--bandwidth")
    if not rtt_s >= 0 or not math.isfinite(rtt_s):
        raise UserError(f"must be >= 0, got {rtt!r}", where="--rtt")
    return bw, rtt_s


def profile(name: str, where: str) -> Profile:
    """A built-in profile by name, as a UserError naming the option when unknown."""
    try:
        return get_profile(name)
    except KeyError as err:
        raise UserError(str(err.args[0]), where=where) from None
