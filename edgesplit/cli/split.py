"""`edgesplit split`: train split CNNs with learned bottlenecks (BottleFit), evaluate, export and plan the split."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from edgesplit.errors import UserError

app = typer.Typer(
    help="Split computing: a CNN cut after a stage, a learned 8-bit bottleneck (BottleFit), and a split planner.",
    no_args_is_help=True,
)
console = Console(width=None if sys.stdout.isatty() else 150)  # tables stay whole when piped


def _stages(text: str) -> tuple[tuple[int, ...], ...] | None:
    """'32,64' -> ((32,), (64,)); '32-32,64' -> ((32, 32), (64,)); '' -> None (the default)."""
    if not text.strip():
        return None
    try:
        stages = tuple(tuple(int(c) for c in part.split("-")) for part in text.split(","))
    except ValueError:
        raise UserError(f"expected channels like 32,64 or 32-32,64-64, got {text!r}", where="--stages") from None
    if any(c < 1 for s in stages for c in s):
        raise UserError("channels must be >= 1", where="--stages")
    return stages


@app.command()
def train(
    dataset: str = typer.Option("mnist", help="mnist, digits (sklearn, fast), cifar10:DIR or imagefolder:DIR."),
    out: Path = typer.Option(Path("runs/split"), help="Checkpoint directory to write."),
    bottleneck_channels: int = typer.Option(4, help="Channels of the bottleneck (what goes on the wire)."),
    split_after: int = typer.Option(1, help="Stage after which the network is split (1-based)."),
    bottleneck_stride: int = typer.Option(2, help="Stride of the encoder's conv (2 halves height and width)."),
    decoder_hidden: int = typer.Option(32, help="Channels of the decoder's first conv (0: a single conv)."),
    stages: str = typer.Option("", help="Conv channels per stage, e.g. 32,64 or 32-32,64-64 (default: by size)."),
    epochs: int = typer.Option(0, help="Epochs of every stage (0: 4/3/3 on 28 px images, 40 on 8 px)."),
    epochs_teacher: int = typer.Option(0, help="Epochs of the teacher (0: --epochs or the default)."),
    epochs_head: int = typer.Option(0, help="Epochs of stage 1, head distillation (0: --epochs or the default)."),
    epochs_kd: int = typer.Option(0, help="Epochs of stage 2, KD fine-tuning (0: --epochs or the default)."),
    batch_size: int = typer.Option(128, help="Mini-batch size."),
    limit_train: int = typer.Option(0, help="Train on this many samples only (0: all)."),
    seed: int = typer.Option(0, help="Seed of the weights and the batch order."),
    resume: bool = typer.Option(
        False, "--resume", help="Reuse stage checkpoints in OUT written with the same settings."
    ),
    export: bool = typer.Option(True, "--export/--no-export", help="Write ONNX head/tail models to OUT/models."),
    threads: int = typer.Option(2, help="torch threads."),
) -> None:
    """Train the teacher, then the bottleneck model (stage 1: head distillation, stage 2: KD), report and export."""
    from edgesplit.cli.progress import stage_bars
    from edgesplit.split.config import SplitTrainConfig
    from edgesplit.split.train import train_split

    for name, value in (("--epochs", epochs), ("--epochs-teacher", epochs_teacher), ("--epochs-head", epochs_head)):
        if value < 0:
            raise UserError("must be >= 0", where=name)
    if epochs_kd < 0 or limit_train < 0:
        raise UserError("must be >= 0", where="--epochs-kd/--limit-train")
    if bottleneck_channels < 1 or bottleneck_stride < 1:
        raise UserError("must be at least 1", where="--bottleneck-channels/--bottleneck-stride")
    if decoder_hidden < 0:
        raise UserError("must be >= 0", where="--decoder-hidden")
    cfg = SplitTrainConfig(
        dataset=dataset,
        out=out,
        stages=_stages(stages),
        split_after=split_after,
        bottleneck_channels=bottleneck_channels,
        bottleneck_stride=bottleneck_stride,
        decoder_hidden=decoder_hidden,
        epochs_teacher=epochs_teacher or epochs or None,
        epochs_head=epochs_head or epochs or None,
        epochs_kd=epochs_kd or epochs or None,
        batch_size=batch_size,
        threads=threads,
        seed=seed,
        limit_train=limit_train or None,
        resume=resume,
        export=export,
    )
    with stage_bars(console, 8, every=10) as (progress, bar_console):
        report = train_split(cfg, progress, log=lambda msg: bar_console.print(msg))
    _print_report(report, out)


def _print_report(r: dict, out: Path) -> None:
    s, t, b = r["settings"], r["test"], r["bytes"]
    k, c = s["split_after"], s["bottleneck"]["channels"]
    table = Table(title=f"Split after stage {k}, {r['dataset']} test split ({t['samples']:,} images)")
    for col in ("model", "wire bytes", "% raw input", "accuracy", "vs teacher"):
        table.add_column(col, justify="left" if col == "model" else "right")
    raw = b["raw_input"]
    split = r["flops"]["splits"][str(k)]
    rows = [
        ("teacher (whole input, 8-bit)", raw, t["teacher"]),
        (f"teacher split s{k}, float32 features", split["f32_bytes"], t["teacher"]),
        (f"teacher split s{k}, 8-bit features", split["u8_wire_bytes"], t["teacher_split_u8"][str(k)]),
        (f"bottleneck c{c}, float32", 4 * b["bottleneck_payload"], t["student_float"]),
        (f"bottleneck c{c}, 8-bit", b["bottleneck_wire"], t["student_u8"]),
    ]
    for name, nbytes, acc in rows:
        table.add_row(name, f"{nbytes:,}", f"{nbytes / raw:.1%}", f"{acc:.2%}", f"{(acc - t['teacher']) * 100:+.2f} pt")
    console.print(table)
    tr = r["training"]
    mse = tr["stage1_mse_val"]
    console.print(
        f"bottleneck {'x'.join(map(str, b['bottleneck_shape']))} = {b['bottleneck_payload']} B + "
        f"{b['quant_header']} B scale/zero point ({b['quantization']}); raw input {raw} B, PNG mean "
        + (f"{b['png_mean']:.0f} B" if b["png_mean"] is not None else "-")
    )
    console.print(
        f"stage 1 feature MSE (val) {mse['before']:.4f} -> {mse['after']:.4f}; val accuracy before KD "
        f"{tr['val_student_float_before_kd']:.2%}; FLOPs head {r['flops']['student_head']:,} / tail "
        f"{r['flops']['student_tail']:,} (teacher {r['flops']['teacher']:,})"
    )
    sec = r["seconds"]
    console.print(
        f"time: teacher {sec['teacher']:.0f} s, stage 1 {sec['stage1']:.0f} s, stage 2 {sec['stage2']:.0f} s, "
        f"evaluation {sec['evaluate']:.0f} s" + (f" (reused: {', '.join(tr['resumed'])})" if tr["resumed"] else "")
    )
    for d in r.get("exported", []):
        console.print(f"exported {d}")
    console.print(f"saved to {out}")


@app.command()
def evaluate(
    checkpoint: Path = typer.Option(Path("runs/split"), help="Checkpoint directory from `split train`."),
    dataset: str = typer.Option("", help="Evaluate on another dataset of the same image shape (default: its own)."),
    limit: int = typer.Option(0, help="Use the first N test images only (0: all)."),
    threads: int = typer.Option(2, help="torch threads."),
    as_json: bool = typer.Option(False, "--json", help="Print the figures as JSON instead of a table."),
) -> None:
    """Test accuracy of the teacher and the bottleneck model, with float32 and 8-bit tensors on the wire."""
    import torch

    from edgesplit.split.checkpoint import evaluate_checkpoint, load_split_checkpoint

    if threads < 1:
        raise UserError("must be at least 1", where="--threads")
    if limit < 0:
        raise UserError("must be >= 0", where="--limit")
    torch.set_num_threads(threads)
    ckpt = load_split_checkpoint(checkpoint)
    res = evaluate_checkpoint(ckpt, dataset or None, limit or None)
    if as_json:
        typer.echo(json.dumps(res, indent=2))
        return
    k, c = ckpt.split_after, ckpt.bottleneck.channels
    table = Table(title=f"{checkpoint}: test accuracy ({res['samples']:,} images)")
    for col in ("model", "float32", "8-bit"):
        table.add_column(col, justify="left" if col == "model" else "right")
    table.add_row("teacher (unsplit)", f"{res['teacher']:.2%}", "-")
    for i, acc in res["teacher_split_u8"].items():
        table.add_row(f"teacher split s{i}", f"{res['teacher']:.2%}", f"{acc:.2%}")
    table.add_row(f"bottleneck s{k} c{c}", f"{res['student_float']:.2%}", f"{res['student_u8']:.2%}")
    console.print(table)


@app.command(name="export")
def export_cmd(
    checkpoint: Path = typer.Option(Path("runs/split"), help="Checkpoint directory from `split train`."),
    out: Path = typer.Option(None, help="Model directory the server loads (default: CHECKPOINT/models)."),
) -> None:
    """Write the ONNX head/tail pairs and meta.json for serving (also done at the end of `split train`)."""
    from edgesplit.split.checkpoint import load_split_checkpoint
    from edgesplit.split.export import export_models

    ckpt = load_split_checkpoint(checkpoint)
    for d in export_models(ckpt, out or checkpoint / "models"):
        console.print(f"exported {d}")


@app.command()
def plan(
    device: str = typer.Option("rpi4", help="Device profile: rpi4, jetson-nano, phone-midrange, ..."),
    bandwidth: str = typer.Option("10Mbps", help="Link rate, up and down (e.g. 10Mbps, 1.5 MB/s)."),
    rtt: str = typer.Option("20ms", help="Round-trip time to the edge server."),
    checkpoint: Path = typer.Option(None, help="A `split train` checkpoint (default: the untrained default net)."),
    dataset: str = typer.Option("mnist", help="Without --checkpoint: the dataset whose images set sizes and PNG."),
    bottleneck_channels: int = typer.Option(4, help="Without --checkpoint: bottleneck channels at every split."),
    edge: str = typer.Option("edge-server", help="Profile of the edge server."),
    timing: str = typer.Option("measured", help="measured (host time scaled by FLOP rates) or flops (FLOPs only)."),
    as_json: bool = typer.Option(False, "--json", help="Print the plan as JSON instead of tables."),
) -> None:
    """Latency and device energy of local inference, full offload (raw, PNG) and each split, best marked."""
    from edgesplit.split.costs import costs_from_checkpoint, default_costs, layer_rows
    from edgesplit.split.planner import TIMINGS, parse_link, profile
    from edgesplit.split.planner import plan as make_plan

    dev = profile(device, "--device")
    srv = profile(edge, "--edge")
    bw, rtt_s = parse_link(bandwidth, rtt)
    if timing not in TIMINGS:
        raise UserError(f"must be one of {', '.join(TIMINGS)}", where="--timing")
    if bottleneck_channels < 1:
        raise UserError("must be at least 1", where="--bottleneck-channels")
    costs = costs_from_checkpoint(checkpoint) if checkpoint else default_costs(dataset, bottleneck_channels)
    result = make_plan(costs, dev, srv, bw, rtt_s, timing)  # type: ignore[arg-type]
    layers = layer_rows(costs.spec, costs.bottlenecks)
    if as_json:
        doc = result.to_dict()
        doc["layers"] = [
            {"name": x.name, "block": x.block, "flops": x.flops, "out_shape": list(x.out_shape),
             "f32_bytes": x.f32_bytes, "u8_bytes": x.u8_bytes}
            for x in layers
        ]  # fmt: skip
        doc["costs"] = costs.to_dict()
        typer.echo(json.dumps(doc, indent=2))
        return
    _print_layers(costs, layers, dev, result.timing)
    _print_plan(result)


def _print_layers(costs, layers, dev, timing: str) -> None:
    from edgesplit.split.planner import work_seconds

    table = Table(title=f"Layers (batch 1; device time on one {dev.name} core, {timing})")
    for col in ("layer", "FLOPs", "output", "f32 bytes", "u8 bytes", "block host us", "block device ms"):
        table.add_column(col, justify="left" if col == "layer" else "right")
    for i, x in enumerate(layers):
        last = i + 1 == len(layers) or layers[i + 1].block != x.block
        w = costs.work.get(x.block)
        host = f"{w.host_s * 1e6:.0f}" if last and w is not None and w.host_s is not None else ""
        device_ms = f"{work_seconds(w, dev, costs.host_flop_rate, timing) * 1e3:.3f}" if last and w else ""
        shape = "x".join(map(str, x.out_shape))
        table.add_row(x.name, f"{x.flops:,}", shape, f"{x.f32_bytes:,}", f"{x.u8_bytes:,}", host, device_ms)
    console.print(table)


def _print_plan(p) -> None:
    title = f"Options on {p.device} -> {p.edge}, {p.bandwidth_bps / 1e6:g} Mbit/s, RTT {p.rtt_s * 1e3:g} ms"
    table = Table(title=title)
    cols = ("option", "wire B", "accuracy", "device ms", "network ms", "edge ms", "total ms", "device mJ", "")
    for col in cols:
        table.add_column(col, justify="left" if col in ("option", "") else "right")
    for r in p.rows:
        marks = [m for m, name in (("fastest", p.fastest), ("least energy", p.least_energy)) if r.name == name]
        style = "bold green" if marks else None
        table.add_row(
            r.name,
            f"{r.wire_bytes:,.0f}",
            "-" if r.accuracy is None else f"{r.accuracy:.2%}",
            f"{r.device_s * 1e3:.3f}",
            f"{r.network_s * 1e3:.3f}",
            f"{r.edge_s * 1e3:.3f}",
            f"{r.total_s * 1e3:.3f}",
            f"{r.energy_j * 1e3:.4f}",
            "◀ " + ", ".join(marks) if marks else "",
            style=style,
        )
    console.print(table)
    for key in ("timing", "energy", "source"):
        console.print(f"{key}: {p.notes[key]}")
