"""Evaluation of heuristics and trained agents on held-out jobs: mean cost, latency, device energy, miss rate."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from agents.training import SPLIT_S, split_scenario
from edgesplit.envs.observation import costs_from_columns
from edgesplit.policies import HEURISTICS
from edgesplit.policies.features import CostWeights
from edgesplit.policies.learned import read_meta
from edgesplit.scenario import load_scenario


@dataclass
class EvalRow:
    """One policy's figures, averaged over the evaluation seeds (per task unless said otherwise)."""

    policy: str
    cost: float
    latency_s: float
    device_j: float
    miss_rate: float
    task_miss_rate: float
    offload_ratio: float
    tasks: int
    runs: int


def evaluate_policies(
    scenario: str | Path,
    checkpoints: list[str | Path] | None = None,
    overrides: list[str] | None = None,
    heuristics: tuple[str, ...] = HEURISTICS,
    eval_jobs: int | None = 300,
    seeds: int = 1,
    split_s: float = SPLIT_S,
    weights: CostWeights | None = None,
    on_row: object = None,
) -> list[EvalRow]:
    """Run every heuristic and every checkpoint on the evaluation part of `scenario` (disjoint from training) under
    `seeds` seeds; cost uses `weights` (default: the first checkpoint's, else `CostWeights()`)."""
    from edgesplit.run import run_scenario

    checkpoints = list(checkpoints or [])
    metas = [read_meta(c)[0] for c in checkpoints]
    if weights is None:
        weights = CostWeights(**metas[0]["weights"]) if metas else CostWeights()
    base, used = split_scenario(scenario, list(overrides or []), "eval", split_s, eval_jobs)
    policies: list[tuple[str, list[str]]] = [(h, [f"policy.kind={h}"]) for h in heuristics]
    for c, meta in zip(checkpoints, metas, strict=True):
        name = meta["algo"] if sum(m["algo"] == meta["algo"] for m in metas) == 1 else f"{meta['algo']}:{Path(c).name}"
        policies.append((name, ["policy.kind=learned", f"policy.checkpoint={c}"]))
    rows = []
    for name, extra in policies:
        acc: dict[str, list[float]] = {k: [] for k in ("cost", "lat", "dev", "miss", "tmiss", "off")}
        n_tasks = 0
        for k in range(seeds):
            sc = load_scenario(scenario, [*used, *extra, f"seed={base.seed + k}"])
            result = run_scenario(sc)
            cols, s = result.columns, result.summary
            costs = costs_from_columns(cols, weights)
            acc["cost"].append(float(costs.mean()))
            acc["lat"].append(float(s["latency_s"]["mean"]))
            dev = np.asarray(cols["device_compute_j"], dtype=float) + np.asarray(cols["device_radio_j"], dtype=float)
            acc["dev"].append(float(dev.mean()))
            acc["miss"].append(float(s["deadline_miss_rate"]))
            acc["tmiss"].append(float(s["task_deadline_miss_rate"]))
            acc["off"].append(float(s["offload_ratio"]))
            n_tasks = len(costs)
        row = EvalRow(
            name,
            *(float(np.mean(acc[k])) for k in ("cost", "lat", "dev", "miss", "tmiss", "off")),
            tasks=n_tasks,
            runs=seeds,
        )
        rows.append(row)
        if callable(on_row):
            on_row(row)
    return rows


def write_results(rows: list[EvalRow], out: str | Path) -> list[Path]:
    """results.json, results.md (a Markdown table) and evaluation.png (four bar charts) under `out`."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps([asdict(r) for r in rows], indent=2))
    (out / "results.md").write_text(markdown_table(rows))
    return [out / "results.json", out / "results.md", plot(rows, out / "evaluation.png")]


def markdown_table(rows: list[EvalRow]) -> str:
    lines = [
        "| policy | mean cost | mean latency (s) | device energy (J/task) | job deadline-miss rate | offloaded |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in sorted(rows, key=lambda r: r.cost):
        lines.append(
            f"| {r.policy} | {r.cost:.4f} | {r.latency_s:.4f} | {r.device_j:.4f} | {r.miss_rate:.3f} | "
            f"{r.offload_ratio:.2f} |"
        )
    return "\n".join(lines) + "\n"


def plot(rows: list[EvalRow], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [r.policy for r in rows]
    learned = {"com-ddpg", "ppo", "dqn", "sac"}
    colors = ["tab:orange" if n.split(":")[0] in learned else "tab:blue" for n in names]
    fig, axes = plt.subplots(1, 4, figsize=(16, 4))
    for ax, (title, key) in zip(
        axes,
        [
            ("mean cost per task", "cost"),
            ("mean latency (s)", "latency_s"),
            ("device energy (J/task)", "device_j"),
            ("job deadline-miss rate", "miss_rate"),
        ],
        strict=True,
    ):
        ax.bar(names, [getattr(r, key) for r in rows], color=colors)
        ax.set_title(title)
        ax.tick_params(axis="x", rotation=60)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
