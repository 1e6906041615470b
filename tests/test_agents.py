"""Agents: Com-DDPG and PPO learn to pick the one fast server of a tiny task, checkpoints reload to the trained
models' own actions, the numpy inference artefacts give the trained models' actions, the learned policy in a scenario
makes the environment's decisions, and the CLI rejects bad arguments."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("stable_baselines3")

from agents.com_ddpg import ComDDPG, ComDDPGConfig  # noqa: E402
from agents.sb3 import load_model, make_model  # noqa: E402
from agents.training import train_agent  # noqa: E402
from edgesplit.envs import OffloadEnv, OffloadParallelEnv  # noqa: E402
from edgesplit.errors import UserError  # noqa: E402
from edgesplit.run import run_scenario  # noqa: E402
from edgesplit.scenario import Scenario, load_scenario  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "scenarios" / "smoke.yaml"
TINY = {"hidden": 16, "message_dim": 4, "comm_hidden": 8, "history": 3, "batch_size": 16, "buffer_size": 2000}


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny Com-DDPG and a tiny PPO trained on the smoke scenario (shared by the tests below)."""
    base = tmp_path_factory.mktemp("agents")
    cd = train_agent(
        "com-ddpg", SMOKE, base / "cd", 300, window_jobs=5,
        config={**TINY, "learning_starts": 100, "train_freq": 4}, tensorboard=False, hints=True,
    )  # fmt: skip
    ppo = train_agent(
        "ppo", SMOKE, base / "ppo", 256, window_jobs=5,
        config={"n_steps": 128, "batch_size": 64, "n_epochs": 2}, tensorboard=False,
    )  # fmt: skip
    return {"com-ddpg": cd.parent, "ppo": ppo.parent}


# A task whose best action is known: two slow devices (0.1 GHz) run 16 rounds each of one 2e7-cycle task with
# 1 kB in and 100 B out, on a 100 Mbit/s link with no radio tail. Per task, locally 0.2 s; on "slow" (0.1 GHz,
# one core, shared by both devices) at least 0.2 s; on "fast" (1 THz) about 1.1 ms and 4 mJ of radio. "fast" is
# the second server, action 2, so neither "always local" (0) nor "always the first server" (1) looks learned.
TOY = {
    "name": "toy",
    "seed": 1,
    "fleet": {
        "devices": [
            {"name": "dev", "profile": "phone-midrange", "count": 2, "cpu_hz": 1e8, "cores": 1, "radio_tail_s": 0.0}
        ],
        "edge_servers": [
            {"name": "slow", "profile": "edge-server", "cpu_hz": 1e8, "cores": 1},
            {"name": "fast", "profile": "edge-server", "cpu_hz": 1e12, "cores": 4},
        ],
    },
    "network": {
        "cells": [{"name": "c", "model": "fixed", "rate_bps": 1e8, "shared": False, "latency_s": 0.001}],
        "backhaul": {"latency_s": 0.0, "rate_bps": 1e12},
    },
    "workload": {
        "source": "synthetic",
        "synthetic": {"kind": "chain", "iterations": 16, "local_cycles": 0, "offload_cycles": 2e7,
                      "input_bytes": 1000, "output_bytes": 100},
        "deadline": {"factor": None},
    },
    "policy": {"kind": "local"},
    "outputs": {"plots": False},
}  # fmt: skip
FAST = 2  # the action that sends a task to "fast"
TOY_PPO = {"n_steps": 64, "batch_size": 32, "n_epochs": 4, "learning_rate": 3e-3}
TOY_CD = {**TINY, "learning_starts": 100, "train_freq": 2, "actor_lr": 3e-3}


@pytest.fixture(scope="module")
def toy_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import yaml

    path = tmp_path_factory.mktemp("toy") / "toy.yaml"
    path.write_text(yaml.safe_dump(TOY))
    return path


@pytest.fixture(scope="module")
def toy(toy_path: Path) -> Scenario:
    return load_scenario(toy_path)


def episode_cost(env: OffloadEnv, act: object) -> float:
    """The cost of one whole-scenario episode of `env` with `act(obs) -> action`."""
    obs, _ = env.reset(seed=0)
    done, info = False, {}
    while not done:
        obs, _, done, _, info = env.step(act(obs))
    return info["episode_cost"]


def toy_states(toy: Scenario) -> np.ndarray:
    """OffloadEnv observations of the toy's decisions while the targets are drawn at random."""
    env, rng, rows = OffloadEnv(toy, window_jobs=None), np.random.default_rng(0), []
    for seed in (100, 101):
        obs, _ = env.reset(seed=seed)
        done = False
        while not done:
            rows.append(obs)
            obs, _, done, _, _ = env.step(int(rng.integers(3)))
    return np.array(rows)


def toy_histories(toy: Scenario, history: int) -> list[tuple[np.ndarray, int]]:
    """(every agent's observation history, active agent) at the toy's decisions, targets drawn at random."""
    env, rng, out = OffloadParallelEnv(toy, window_jobs=None), np.random.default_rng(0), []
    obs, active = env.reset_arrays(seed=0)
    rows, done = [obs], False
    while not done:
        window = np.zeros((history, *obs.shape), dtype=np.float32)
        last = np.stack(rows[-history:])
        window[history - len(last) :] = last
        out.append((window.transpose(1, 0, 2), active))
        obs, active, _, done, _ = env.step_index(int(rng.integers(3)))
        rows.append(obs)
    return out


def ppo_pick_rate(model: object, states: np.ndarray) -> float:
    """How often PPO's policy (sampling, as it acts while training) picks "fast" in `states`: its mean probability."""
    with torch.no_grad():
        probs = model.policy.get_distribution(torch.as_tensor(states)).distribution.probs
    return float(probs[:, FAST].mean())


def cd_pick_rate(model: ComDDPG, histories: list[tuple[np.ndarray, int]]) -> float:
    """How often Com-DDPG's Gumbel-softmax sampling picks "fast": the mean softmax probability of its logits."""
    p = [torch.softmax(torch.as_tensor(model.logits(h, a)), 0)[FAST].item() for h, a in histories]
    return float(np.mean(p))


@pytest.fixture(scope="module")
def toy_ppo(toy: Scenario) -> tuple[object, float]:
    """A PPO trained 640 steps (about a second) on the toy, and its pick rate of "fast" before training."""
    model = make_model("ppo", OffloadEnv(toy, window_jobs=None), seed=0, **TOY_PPO)
    before = ppo_pick_rate(model, toy_states(toy))
    model.learn(640)
    return model, before


@pytest.fixture(scope="module")
def toy_com_ddpg(toy: Scenario) -> tuple[ComDDPG, float]:
    """A Com-DDPG trained 500 steps (a few seconds) on the toy, and its pick rate of "fast" before training."""
    model = ComDDPG(OffloadParallelEnv(toy, window_jobs=None), ComDDPGConfig(**TOY_CD))
    before = cd_pick_rate(model, toy_histories(toy, model.cfg.history))
    model.learn(500)
    return model, before


def test_ppo_learns_to_pick_the_fast_server(toy: Scenario, toy_ppo: tuple[object, float]) -> None:
    model, before = toy_ppo
    after = ppo_pick_rate(model, toy_states(toy))
    assert before < 0.45 and after > 0.9, (before, after)  # about 1/3 (uniform) -> about 0.99
    # Acting greedily it now makes the best run there is, "fast" for every task, at a tenth of random's cost.
    env = OffloadEnv(toy, window_jobs=None)
    best = episode_cost(env, lambda _: FAST)
    assert episode_cost(env, lambda o: int(model.predict(o, deterministic=True)[0])) == pytest.approx(best)
    assert best < 0.1 * episode_cost(env, lambda _: 1) and best < 0.1 * episode_cost(env, lambda _: 0)


def test_com_ddpg_learns_to_pick_the_fast_server(toy: Scenario, toy_com_ddpg: tuple[ComDDPG, float]) -> None:
    model, before = toy_com_ddpg
    assert model.steps == 500 and model.updates == 201  # one update at steps 100, 102, ..., 500
    after = cd_pick_rate(model, toy_histories(toy, model.cfg.history))
    assert before < 0.45 and after > 0.85, (before, after)  # about 1/3 -> about 0.94


def test_com_ddpg_checkpoint_reloads_to_the_trained_models_actions(
    toy: Scenario, toy_com_ddpg: tuple[ComDDPG, float], tmp_path: Path
) -> None:
    model, _ = toy_com_ddpg
    again = ComDDPG.load(model.save(tmp_path / "copy.pt"))
    states = toy_histories(toy, model.cfg.history)
    rng = np.random.default_rng(0)
    for _ in range(20):  # off the toy's states too
        hist = rng.normal(size=(model.n_agents, model.cfg.history, model.obs_dim)).astype(np.float32)
        states.append((hist, int(rng.integers(model.n_agents))))
    for hist, active in states:
        np.testing.assert_array_equal(again.logits(hist, active), model.logits(hist, active))
        assert again.predict(hist, active) == model.predict(hist, active)
    assert (again.steps, again.updates) == (model.steps, model.updates)
    # The comparison tells trained weights from fresh ones: an untrained model answers differently.
    fresh = ComDDPG(None, ComDDPGConfig(**TOY_CD), **_dims(model))
    assert not np.allclose(fresh.logits(*states[0]), model.logits(*states[0]), atol=1e-3)


def _dims(model: ComDDPG) -> dict[str, int]:
    return {"obs_dim": model.obs_dim, "n_actions": model.n_actions, "n_agents": model.n_agents,
            "local_dim": model.local_dim, "hints": int(model.hints)}  # fmt: skip


def test_ppo_checkpoint_reloads_to_the_trained_models_actions(
    toy: Scenario, toy_ppo: tuple[object, float], tmp_path: Path
) -> None:
    model, _ = toy_ppo
    model.save(str(tmp_path / "model.zip"))
    again = load_model("ppo", tmp_path / "model.zip")
    rng = np.random.default_rng(1)
    obs = np.concatenate([toy_states(toy), rng.uniform(-2, 2, size=(50, model.observation_space.shape[0]))])
    obs = obs.astype(np.float32)
    np.testing.assert_array_equal(again.predict(obs, deterministic=True)[0], model.predict(obs, deterministic=True)[0])
    with torch.no_grad():
        probs = {m: m.policy.get_distribution(torch.as_tensor(obs)).distribution.probs for m in (model, again)}
    np.testing.assert_array_equal(probs[again].numpy(), probs[model].numpy())
    fresh = make_model("ppo", OffloadEnv(toy, window_jobs=None), seed=0, **TOY_PPO)  # the trained one's start
    with torch.no_grad():
        start = fresh.policy.get_distribution(torch.as_tensor(obs)).distribution.probs
    assert not np.allclose(start.numpy(), probs[model].numpy(), atol=1e-2)


@pytest.mark.slow
@pytest.mark.parametrize("algo", ["ppo", "com-ddpg"])
def test_documented_hyperparameters_learn_the_toy(algo: str, toy: Scenario, toy_path: Path, tmp_path: Path) -> None:
    """The documented training settings (HYPERPARAMS, ComDDPGConfig defaults: smaller steps, an entropy bonus) on
    the toy: 8,192 steps (about a minute for both) take the pick rate of "fast" from about 1/3 to over 3/4
    (measured: PPO 0.92, Com-DDPG 0.83), and acting greedily they pick it for every task, the best run there is."""
    out = train_agent(algo, toy_path, tmp_path / algo, 8192, window_jobs=None, tensorboard=False)
    env = OffloadEnv(toy, window_jobs=None)
    best = episode_cost(env, lambda _: FAST)
    if algo == "ppo":
        model = load_model("ppo", out)
        assert ppo_pick_rate(model, toy_states(toy)) > 0.75
        assert episode_cost(env, lambda o: int(model.predict(o, deterministic=True)[0])) == pytest.approx(best)
    else:
        model = ComDDPG.load(out)
        assert cd_pick_rate(model, toy_histories(toy, model.cfg.history)) > 0.75
        choices = [model.predict(h, a) for h, a in toy_histories(toy, model.cfg.history)]
        assert choices.count(FAST) == len(choices)


def test_com_ddpg_resume_continues_from_the_checkpoint(trained: dict[str, Path], tmp_path: Path) -> None:
    import shutil

    out = tmp_path / "cd"
    shutil.copytree(trained["com-ddpg"], out)
    train_agent(
        "com-ddpg", SMOKE, out, 50, window_jobs=5, resume=True, config=TINY, tensorboard=False
    )  # fmt: skip
    assert json.loads((out / "meta.json").read_text())["steps"] == 350


def _actor(folder: Path) -> object:
    """The inference artefact of a training output, as `LearnedPolicy` loads it."""
    from edgesplit.policies.inference import load_actor

    return load_actor(folder, json.loads((folder / "meta.json").read_text())["inference"])


def test_com_ddpg_artefact_gives_the_models_own_actions(trained: dict[str, Path]) -> None:
    model = ComDDPG.load(trained["com-ddpg"] / "model.pt")
    actor = _actor(trained["com-ddpg"])
    rng = np.random.default_rng(2)
    for _ in range(50):
        hist = rng.normal(size=(model.n_agents, model.cfg.history, model.obs_dim)).astype(np.float32)
        active = int(rng.integers(model.n_agents))
        np.testing.assert_allclose(actor.logits(hist, active), model.logits(hist, active), rtol=1e-5, atol=1e-6)
        assert actor.act(hist, active) == model.predict(hist, active)


@pytest.mark.parametrize("algo", ["ppo", "dqn", "sac"])
def test_sb3_artefact_gives_the_models_own_actions(algo: str, trained: dict[str, Path], tmp_path: Path) -> None:
    """PPO as trained above; DQN and SAC freshly initialised (the forward pass is what is checked)."""
    from agents.export import sb3_artefact, write_artefact
    from agents.sb3 import load_model, make_model
    from edgesplit.policies.features import action_to_target
    from edgesplit.policies.inference import load_actor

    if algo == "ppo":
        model, actor = load_model("ppo", trained["ppo"] / "model.zip"), _actor(trained["ppo"])
    else:
        model = make_model(algo, OffloadEnv(SMOKE, window_jobs=5, continuous=algo == "sac"), seed=3)
        actor = load_actor(tmp_path, write_artefact(tmp_path, *sb3_artefact(algo, model)))
    obs = np.random.default_rng(4).uniform(-3, 3, size=(200, model.observation_space.shape[0])).astype(np.float32)
    expected = model.predict(obs, deterministic=True)[0]
    got = [actor.act(o) for o in obs]
    if algo == "sac":
        np.testing.assert_allclose(np.stack(got), expected, rtol=1e-5, atol=1e-6)
        assert [action_to_target(a, True) for a in got] == [action_to_target(a, True) for a in expected]
    else:
        assert got == [int(a) for a in expected]


def test_export_writes_the_artefact_of_an_older_training_output(trained: dict[str, Path], tmp_path: Path) -> None:
    import shutil

    from agents.export import export_training_output
    from edgesplit.policies.learned import LearnedPolicy

    out = tmp_path / "ppo"
    shutil.copytree(trained["ppo"], out)
    (out / "policy.npz").unlink()
    meta = json.loads((out / "meta.json").read_text())
    spec = meta.pop("inference")
    (out / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(UserError, match="agents.export"):
        LearnedPolicy(out)
    export_training_output(out)
    assert json.loads((out / "meta.json").read_text())["inference"] == spec
    LearnedPolicy(out)


def _env_decisions(algo: str, ckpt: Path, sc: object) -> list[int]:
    """Drive the whole-scenario environment with the trained model's own deterministic actions (torch / SB3);
    returns the placements."""
    meta = json.loads((ckpt / "meta.json").read_text())
    hints = bool(meta["hints"])
    if algo == "com-ddpg":
        model = ComDDPG.load(ckpt / meta["model"])
        env = OffloadParallelEnv(sc, window_jobs=None, hints=hints)
        obs, active = env.reset_arrays(seed=0)
        rows, done = [obs], False
        h = model.cfg.history
        while not done:
            window = np.zeros((h, *obs.shape), dtype=np.float32)
            last = np.stack(rows[-h:])
            window[h - len(last) :] = last
            action = model.predict(window.transpose(1, 0, 2), active)
            obs, active, _, done, _ = env.step_index(action)
            rows.append(obs)
    else:
        from agents.sb3 import load_model

        model = load_model(algo, ckpt / meta["model"])
        env = OffloadEnv(sc, window_jobs=None, hints=hints)
        obs, _ = env.reset(seed=0)
        done = False
        while not done:
            action, _ = model.predict(obs, deterministic=True)
            obs, _, done, _, _ = env.step(action)
    return list(env.engine.table.target)


@pytest.mark.parametrize("algo", ["com-ddpg", "ppo"])
def test_learned_policy_in_a_scenario_makes_the_env_decisions(
    algo: str, trained: dict[str, Path], tmp_path: Path
) -> None:
    ckpt = trained[algo]
    overrides = ["policy.kind=learned", f"policy.checkpoint={ckpt}", "engine.kind=sim", "workload.synthetic.jobs=12"]
    sc = load_scenario(SMOKE, overrides)
    from edgesplit.engines.factory import prepare

    engine = prepare(sc)
    result = engine.run()
    assert result.summary["tasks"]["accounted"] and result.summary["policy"] == "learned"
    assert list(engine.table.target) == _env_decisions(algo, ckpt, sc)


def test_scenario_run_cli_with_a_learned_policy(trained: dict[str, Path], tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from edgesplit.cli import _register, app

    _register()
    ckpt = trained["ppo"]
    res = CliRunner().invoke(
        app,
        ["scenario", "run", str(SMOKE), "--quiet", "--out", str(tmp_path / "run"), "--set", "outputs.plots=false",
         "--set", "policy.kind=learned", "--set", f"policy.checkpoint={ckpt}", "--set", "workload.synthetic.jobs=12"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["policy"] == "learned"


def test_train_rejects_bad_arguments(tmp_path: Path) -> None:
    from edgesplit.cli.train import train

    common = {"scenario": SMOKE, "out": tmp_path, "overrides": [], "window_jobs": 5, "split_s": 5e5, "seed": 0}
    weights = {"latency_weight": 1.0, "energy_weight": 1.0, "miss_penalty": 2.0, "resume": False}
    with pytest.raises(UserError, match="--algo"):
        train(algo="a2c", steps=10, **common, **weights)
    with pytest.raises(UserError, match="--steps"):
        train(algo="ppo", steps=0, **common, **weights)
    with pytest.raises(UserError, match="meta.json"):
        train_agent("ppo", SMOKE, tmp_path / "nothing", 10, resume=True)


def test_learned_policy_rejects_a_missing_checkpoint(tmp_path: Path) -> None:
    sc = load_scenario(SMOKE, ["policy.kind=learned", f"policy.checkpoint={tmp_path}"])
    with pytest.raises(UserError, match="meta.json"):
        run_scenario(sc)
