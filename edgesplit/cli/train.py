"""`edgesplit train` and `edgesplit evaluate`: train offloading agents on a scenario's jobs, compare them on others."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from edgesplit.errors import UserError

console = Console()

ALGOS = ("com-ddpg", "ppo", "dqn", "sac")
DEFAULT_SPLIT_S = 500_000.0

SetOption = typer.Option(
    None, "--set", help="Override a scenario field, e.g. --set workload.trace.path=PATH (repeatable)."
)


def train(
    algo: str = typer.Option(..., "--algo", help="com-ddpg, ppo, dqn or sac (sac: continuous placement scores)."),
    scenario: Path = typer.Option(..., "--scenario", help="Scenario YAML whose world and jobs to train on."),
    steps: int = typer.Option(..., "--steps", help="Environment steps (placement decisions) to train for."),
    out: Path = typer.Option(..., "--out", help="Output directory: model, meta.json, TensorBoard logs (tb/)."),
    overrides: list[str] = SetOption,
    window_jobs: int = typer.Option(20, "--window-jobs", help="Jobs per episode (a window of consecutive jobs)."),
    split_s: float = typer.Option(
        DEFAULT_SPLIT_S,
        "--split-s",
        help="Train on trace jobs arriving before this trace second; `evaluate` uses those from it on.",
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the agent and the episode windows."),
    latency_weight: float = typer.Option(1.0, "--latency-weight", help="Cost per second of task latency."),
    energy_weight: float = typer.Option(1.0, "--energy-weight", help="Cost per joule of the task's device energy."),
    miss_penalty: float = typer.Option(2.0, "--miss-penalty", help="Cost of a task that misses its job deadline."),
    resume: bool = typer.Option(False, "--resume", help="Continue training the model in --out for --steps more."),
    hints: bool = typer.Option(
        False, "--hints", help="Add HEFT's planned target to the observation (the agent learns when to deviate)."
    ),
) -> None:
    """Train an offloading agent on the scenario's training jobs (see docs/rl.md)."""
    from edgesplit.policies.features import CostWeights

    if algo not in ALGOS:
        raise UserError(f"--algo must be one of {', '.join(ALGOS)}, got {algo!r}")
    if steps <= 0:
        raise UserError(f"--steps must be a positive number of environment steps, got {steps}")
    if window_jobs <= 0:
        raise UserError(f"--window-jobs must be positive, got {window_jobs}")
    if min(latency_weight, energy_weight, miss_penalty) < 0:
        raise UserError("cost weights must be >= 0")
    if not scenario.is_file():
        raise UserError(f"scenario file {str(scenario)!r} does not exist")
    from agents.training import train_agent

    progress = Progress(
        TextColumn(f"[bold]training {algo}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("steps  cost/step {task.fields[cost]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
    )
    with progress:
        bar = progress.add_task("train", total=steps, cost="-")
        first: list[int] = []

        def report(n: int, stats: dict[str, float]) -> None:
            if not first:
                first.append(n - 1)
            if n % 100 == 0 or n - first[0] >= steps:
                cost = stats.get("cost_per_step")
                progress.update(bar, completed=n - first[0], cost=f"{cost:.3f}" if cost is not None else "-")

        path = train_agent(
            algo,
            scenario,
            out,
            steps,
            overrides=list(overrides or []),
            window_jobs=window_jobs,
            seed=seed,
            split_s=split_s,
            weights=CostWeights(latency_weight, energy_weight, miss_penalty),
            resume=resume,
            progress=report,
            hints=hints,
        )
    console.print(f"wrote {path} and {path.parent / 'meta.json'}; TensorBoard logs in {path.parent / 'tb'}")


def evaluate(
    scenario: Path = typer.Option(..., "--scenario", help="Scenario YAML (the same world the agents trained on)."),
    checkpoints: list[Path] = typer.Option(
        None, "--checkpoint", help="A training output directory (repeatable); heuristics are always included."
    ),
    out: Path = typer.Option(Path("runs/evaluate"), "--out", help="Where results.json/.md and evaluation.png go."),
    overrides: list[str] = SetOption,
    jobs: int = typer.Option(300, "--jobs", help="Evaluation jobs (from --split-s on, never seen in training)."),
    seeds: int = typer.Option(1, "--seeds", help="Runs per policy with seeds seed, seed+1, ... (averaged)."),
    split_s: float = typer.Option(DEFAULT_SPLIT_S, "--split-s", help="First trace second of the evaluation jobs."),
    heuristics: str = typer.Option(
        "all", "--heuristics", help="Comma-separated heuristics to include, 'all' or 'none'."
    ),
) -> None:
    """Compare every heuristic and the given agents on held-out jobs: a table and a plot of mean cost, latency,
    device energy and deadline-miss rate."""
    from agents.evaluate import evaluate_policies, write_results
    from edgesplit.policies import HEURISTICS

    if jobs <= 0 or seeds <= 0:
        raise UserError("--jobs and --seeds must be positive")
    if not scenario.is_file():
        raise UserError(f"scenario file {str(scenario)!r} does not exist")
    chosen = HEURISTICS if heuristics == "all" else tuple(h for h in heuristics.split(",") if h and h != "none")
    bad = [h for h in chosen if h not in HEURISTICS]
    if bad:
        raise UserError(f"unknown heuristic(s) {', '.join(bad)}; choose from {', '.join(HEURISTICS)}")
    with console.status("evaluating") as status:
        rows = evaluate_policies(
            scenario,
            list(checkpoints or []),
            overrides=list(overrides or []),
            heuristics=chosen,
            eval_jobs=jobs,
            seeds=seeds,
            split_s=split_s,
            on_row=lambda r: status.update(f"evaluated {r.policy}"),
        )
    table = Table(title=f"{scenario} — held-out jobs ({rows[0].tasks if rows else 0} tasks x {seeds} seed(s))")
    for col in ("policy", "mean cost", "latency s", "device J/task", "job miss rate", "offloaded"):
        table.add_column(col, justify="left" if col == "policy" else "right")
    for r in sorted(rows, key=lambda r: r.cost):
        table.add_row(
            r.policy, f"{r.cost:.4f}", f"{r.latency_s:.4f}", f"{r.device_j:.4f}", f"{r.miss_rate:.3f}",
            f"{r.offload_ratio:.2f}",
        )  # fmt: skip
    console.print(table)
    written = write_results(rows, out)
    console.print(f"wrote {', '.join(str(p) for p in written)}")
