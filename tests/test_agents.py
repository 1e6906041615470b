"""Agents: tiny Com-DDPG and PPO runs learn, checkpoints reload to the same actions, the numpy inference artefacts
give the trained models' actions, the learned policy in a scenario makes the environment's decisions, and the CLI
rejects bad arguments."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("stable_baselines3")

from agents.com_ddpg import ComDDPG, ComDDPGConfig  # noqa: E402
from agents.training import train_agent  # noqa: E402
from edgesplit.envs import OffloadEnv, OffloadParallelEnv  # noqa: E402
from edgesplit.errors import UserError  # noqa: E402
from edgesplit.run import run_scenario  # noqa: E402
from edgesplit.scenario import load_scenario  # noqa: E402

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


def test_tiny_com_ddpg_trains_and_its_losses_change() -> None:
    env = OffloadParallelEnv(SMOKE, window_jobs=5)
    model = ComDDPG(env, ComDDPGConfig(**TINY, learning_starts=100, train_freq=4))
    before = [p.detach().clone() for p in model.actor.parameters()]
    model.learn(300)
    assert model.steps == 300 and model.updates >= 40
    critic = [c for c, _ in model.losses]
    assert np.mean(critic[:10]) != pytest.approx(np.mean(critic[-10:]), rel=1e-3)
    assert any(not torch.equal(a, b) for a, b in zip(before, model.actor.parameters(), strict=True))


def test_tiny_ppo_trains_and_its_loss_changes() -> None:
    from agents.sb3 import make_model

    env = OffloadEnv(SMOKE, window_jobs=5)
    model = make_model("ppo", env, seed=0, n_steps=128, batch_size=64, n_epochs=2)
    before = [p.detach().clone() for p in model.policy.parameters()]
    losses = []
    for _ in range(3):
        model.learn(128, reset_num_timesteps=False)
        losses.append(model.logger.name_to_value.get("train/loss"))
    assert all(v is not None for v in losses) and len(set(losses)) > 1
    assert any(not torch.equal(a, b) for a, b in zip(before, model.policy.parameters(), strict=True))


def test_com_ddpg_checkpoint_reloads_to_identical_actions(trained: dict[str, Path], tmp_path: Path) -> None:
    model = ComDDPG.load(trained["com-ddpg"] / "model.pt")
    again = ComDDPG.load(model.save(tmp_path / "copy.pt"))
    rng = np.random.default_rng(0)
    for _ in range(20):
        hist = rng.normal(size=(model.n_agents, model.cfg.history, model.obs_dim)).astype(np.float32)
        active = int(rng.integers(model.n_agents))
        np.testing.assert_array_equal(model.logits(hist, active), again.logits(hist, active))
        assert model.predict(hist, active) == again.predict(hist, active)
    assert again.steps == 300


def test_ppo_checkpoint_reloads_to_identical_actions(trained: dict[str, Path]) -> None:
    from agents.sb3 import load_model

    a, b = load_model("ppo", trained["ppo"] / "model.zip"), load_model("ppo", trained["ppo"] / "model.zip")
    obs = np.random.default_rng(1).uniform(-2, 2, size=(50, a.observation_space.shape[0])).astype(np.float32)
    np.testing.assert_array_equal(a.predict(obs, deterministic=True)[0], b.predict(obs, deterministic=True)[0])


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
