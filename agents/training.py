"""Training driver shared by `edgesplit train` and the tests: train/evaluation split, envs, checkpoints, meta.json."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from edgesplit.errors import UserError
from edgesplit.policies.features import CostWeights
from edgesplit.scenario import Scenario, load_scenario

ALGOS = ("com-ddpg", "ppo", "dqn", "sac")
SPLIT_S = 500_000.0
"""Default split of the Alibaba v2018 sample (trace seconds of job arrival): train before, evaluate from here on."""
EVAL_SEED_OFFSET = 1000
"""With the calibrated generator (no real trace) the evaluation jobs come from seed + this offset."""


def uses_real_trace(sc: Scenario) -> bool:
    """Whether the scenario's workload is a real trace file (else the calibrated generator or a synthetic one)."""
    from edgesplit.workload.build import fetched_trace

    w = sc.workload
    return w.source == "trace" and (w.trace.path is not None or fetched_trace() is not None)


def split_scenario(
    path: str | Path, overrides: list[str], part: str, split_s: float = SPLIT_S, eval_jobs: int | None = None
) -> tuple[Scenario, list[str]]:
    """The scenario restricted to the training part (jobs arriving before `split_s`) or the evaluation part (jobs
    from `split_s` on, at most `eval_jobs`); returns it and the overrides that made it."""
    base = load_scenario(path, overrides)
    extra: list[str] = []
    if uses_real_trace(base):
        if part == "train":
            extra = [f"workload.trace.end_s={split_s}", "workload.trace.max_jobs=null"]
        else:
            extra = [f"workload.trace.start_s={split_s}"]
    elif part == "eval":
        extra = [f"seed={base.seed + EVAL_SEED_OFFSET}"]
    if part == "eval" and eval_jobs is not None:
        extra.append(f"workload.trace.max_jobs={eval_jobs}")
        if not uses_real_trace(base):
            extra.append(f"workload.synthetic.jobs={eval_jobs}")
    full = [*overrides, *extra]
    return load_scenario(path, full), full


def train_agent(
    algo: str,
    scenario: str | Path,
    out: str | Path,
    steps: int,
    overrides: list[str] | None = None,
    window_jobs: int = 20,
    seed: int = 0,
    split_s: float = SPLIT_S,
    weights: CostWeights | None = None,
    resume: bool = False,
    progress: Callable[[int, dict[str, float]], None] | None = None,
    config: dict[str, Any] | None = None,
    tensorboard: bool = True,
    hints: bool = False,
) -> Path:
    """Train `algo` for `steps` env steps (decisions) on the training part of `scenario`; writes the model, its
    inference artefact (policy.npz, what `LearnedPolicy` runs), meta.json and TensorBoard logs under `out` and
    returns the model path. `config` overrides hyperparameters."""
    if algo not in ALGOS:
        raise UserError(f"--algo must be one of {', '.join(ALGOS)}, got {algo!r}")
    if steps <= 0:
        raise UserError(f"--steps must be positive, got {steps}")
    overrides = list(overrides or [])
    weights = weights or CostWeights()
    out = Path(out)
    sc, used = split_scenario(scenario, overrides, "train", split_s)
    meta_path = out / "meta.json"
    if resume:
        if not meta_path.is_file():
            raise UserError(f"--resume: {out} has no meta.json to resume from")
        previous = json.loads(meta_path.read_text())
        if previous["algo"] != algo:
            raise UserError(f"--resume: {out} holds a {previous['algo']} model, not {algo}")
        weights, hints = CostWeights(**previous["weights"]), bool(previous.get("hints", False))
        window_jobs = int(previous.get("window_jobs", window_jobs))
    out.mkdir(parents=True, exist_ok=True)
    log_dir = out / "tb" if tensorboard else None
    wall0 = time.perf_counter()
    if algo == "com-ddpg":
        from agents.com_ddpg import ComDDPG, ComDDPGConfig
        from agents.export import com_ddpg_artefact, write_artefact
        from edgesplit.envs.parallel import OffloadParallelEnv

        env = OffloadParallelEnv(sc, window_jobs=window_jobs, weights=weights, hints=hints)
        model_path = out / "model.pt"
        if resume:
            model = ComDDPG.load(model_path, env)
        else:
            model = ComDDPG(env, ComDDPGConfig(**{"seed": seed, **(config or {})}))
        env_meta = {"obs_dim": env.featurizer.agent_dim, "weights": weights.as_dict()}
        every = max(steps // 10, 1000)
        model.learn(steps, log_dir=log_dir, progress=progress, checkpoint=model_path, checkpoint_every=every)
        model.save(model_path, env_meta)
        meta = {"obs_dim": env.featurizer.agent_dim, "n_agents": env.n_agents, "config": model.cfg.to_dict()}
        meta["inference"] = write_artefact(out, *com_ddpg_artefact(model))
        total = model.steps
        n_jobs = env.source.n_jobs
    else:
        import torch

        from agents.export import sb3_artefact, write_artefact
        from agents.sb3 import load_model, make_model, progress_callback
        from edgesplit.envs.offload import OffloadEnv

        torch.set_num_threads(1)
        env = OffloadEnv(sc, window_jobs=window_jobs, continuous=algo == "sac", weights=weights, hints=hints)
        env.reset(seed=seed)
        model_path = out / "model.zip"
        if resume:
            model = load_model(algo, model_path)
            model.set_env(env)
        else:
            model = make_model(algo, env, seed=seed, log_dir=log_dir, **(config or {}))
        callback = progress_callback(progress) if progress is not None else None
        model.learn(steps, callback=callback, reset_num_timesteps=not resume, tb_log_name=algo)
        model.save(str(model_path))
        meta = {"obs_dim": env.featurizer.task_dim, "hyperparameters": _jsonable(model_hparams(algo, config))}
        meta["inference"] = write_artefact(out, *sb3_artefact(algo, model))
        total = int(model.num_timesteps)
        n_jobs = env.source.n_jobs
    meta.update(
        {
            "algo": algo,
            "model": model_path.name,
            "steps": total,
            "window_jobs": window_jobs,
            "train_jobs": n_jobs,
            "weights": weights.as_dict(),
            "continuous": algo == "sac",
            "hints": hints,
            "scenario": str(scenario),
            "overrides": used,
            "split_s": split_s,
            "seed": seed,
            "wall_s": round(time.perf_counter() - wall0, 1) + (_old_wall(meta_path) if resume else 0.0),
        }
    )
    meta_path.write_text(json.dumps(meta, indent=2))
    return model_path


def model_hparams(algo: str, config: dict[str, Any] | None) -> dict[str, Any]:
    from agents.sb3 import HYPERPARAMS

    return {**HYPERPARAMS[algo], **(config or {})}


def _old_wall(meta_path: Path) -> float:
    try:
        return float(json.loads(meta_path.read_text()).get("wall_s", 0.0))
    except (OSError, ValueError):
        return 0.0


def _jsonable(d: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(d, default=lambda o: asdict(o) if hasattr(o, "__dataclass_fields__") else str(o)))
