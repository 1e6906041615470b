"""The RL environments: Gymnasium and PettingZoo API checks, rewards that add up to the run's cost, trace windows."""

from __future__ import annotations

import random
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from hand_world import hand_device, hand_network

pytest.importorskip("pettingzoo")

from gymnasium.utils.env_checker import check_env  # noqa: E402
from pettingzoo.test import parallel_api_test  # noqa: E402

from edgesplit.envs import ENV_ID, CostWeights, OffloadEnv, OffloadParallelEnv  # noqa: E402
from edgesplit.envs.observation import EpisodeSource, costs_from_columns  # noqa: E402
from edgesplit.policies import make_policy  # noqa: E402
from edgesplit.scenario import load_scenario  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "scenarios" / "smoke.yaml"
ALIBABA = ROOT / "scenarios" / "alibaba_trace.yaml"
TRACE = ROOT.parent / "shared" / "data" / "alibaba" / "alibaba_v2018_batch_task_selected_DAGs.csv"


def test_offload_env_passes_gymnasium_check_env() -> None:
    check_env(OffloadEnv(SMOKE, window_jobs=5), skip_render_check=True)
    check_env(OffloadEnv(SMOKE, window_jobs=5, continuous=True), skip_render_check=True)


def test_registered_id_makes_the_env() -> None:
    env = gym.make(ENV_ID, scenario=SMOKE, window_jobs=3)
    obs, _ = env.reset(seed=3)
    assert env.observation_space.contains(obs)
    assert env.action_space.n == 2  # local or the smoke scenario's one edge server


def test_parallel_env_passes_pettingzoo_parallel_api_test() -> None:
    parallel_api_test(OffloadParallelEnv(SMOKE, window_jobs=4), num_cycles=300)


def test_episode_return_is_minus_the_total_task_cost() -> None:
    env = OffloadEnv(SMOKE, window_jobs=6)
    env.reset(seed=11)
    rng = random.Random(0)
    ret, done, info = 0.0, False, {}
    while not done:
        _, r, done, _, info = env.step(rng.randrange(env.action_space.n))
        ret += r
    costs = costs_from_columns(env.result.columns, env.weights)
    assert ret == pytest.approx(-costs.sum(), rel=1e-9)
    assert info["episode_cost"] == pytest.approx(costs.sum(), rel=1e-9)


def test_whole_scenario_env_replays_the_policy_run() -> None:
    """window_jobs=None is the scenario's own workload: greedy-latency's choices give greedy-latency's run."""
    sc = load_scenario(SMOKE, ["policy.kind=greedy-latency"])
    from edgesplit.run import run_scenario

    reference = run_scenario(sc).columns["placement"]
    env = OffloadEnv(sc, window_jobs=None)
    env.reset(seed=0)
    policy = make_policy("greedy-latency")
    done = False
    while not done:
        target = policy.place(env.task, env.engine)
        _, _, done, _, _ = env.step(target + 1)
    assert env.result.columns["placement"] == reference


def test_reset_with_a_seed_is_reproducible_and_windows_differ() -> None:
    env = OffloadEnv(SMOKE, window_jobs=5)
    a, _ = env.reset(seed=5)
    b, _ = env.reset(seed=5)
    np.testing.assert_array_equal(a, b)
    lengths = set()
    for s in range(6):
        env.reset(seed=s)
        lengths.add(len(env.engine.tasks))
    assert len(lengths) > 1


def test_parallel_env_active_agent_owns_the_task() -> None:
    env = OffloadParallelEnv(SMOKE, window_jobs=5)
    obs, infos = env.reset(seed=1)
    steps = 0
    while env.agents:
        active = env.active
        assert active >= 0
        name = env.possible_agents[active]
        assert obs[name][0] == 1.0 and sum(o[0] for o in obs.values()) == 1.0
        assert env.engine.device_of_task[infos[name]["task"]].index == active
        obs, rewards, terms, _, infos = env.step({a: 1 for a in env.agents})
        assert len(set(rewards.values())) == 1  # shared reward
        steps += 1
    assert steps > 0 and all(terms.values())


# One device at 1 GHz drawing 1 W while it computes (kappa f^2 = 1e-9 J a cycle), a 10 GHz edge server behind a
# dedicated 1 Mbit/s link both ways with no latency, a radio drawing 0.2 W on the air and no tail. One job: a
# 0-cycle local task, then the decision: 1e9 cycles, 250 kB in, 125 B out; deadline 1.5 x the local path = 1.5 s.
HAND = {
    "name": "hand",
    "seed": 1,
    "fleet": {
        "devices": [
            hand_device(kappa=1e-27, energy_model="kappa")
        ],
        "edge_servers": [{"name": "edge", "profile": "edge-server", "cpu_hz": 1e10, "cores": 1}],
    },
    "network": hand_network(),
    "workload": {
        "source": "synthetic",
        "synthetic": {"kind": "chain", "iterations": 1, "local_cycles": 0, "offload_cycles": 1e9,
                      "input_bytes": 250e3, "output_bytes": 125},
        "deadline": {"factor": 1.5},
    },
    "policy": {"kind": "local"},
    "outputs": {"plots": False},
}  # fmt: skip
# By hand. Local: 1e9 / 1e9 = 1 s, 1 J of compute, done before 1.5 s. Edge: 2 Mbit up = 2 s, backhaul
# (2e6 + 1e3) bit / 1e15 bit/s = 2.001e-9 s, 1e9 / 1e10 = 0.1 s, 1,000 bit down = 1 ms: 2.101000002001 s, past the
# deadline; radio 0.2 W x (2 s + 1 ms) = 0.4002 J. (The 0-cycle task costs nothing.)
LOCAL_S, LOCAL_J = 1.0, 1.0
EDGE_S, EDGE_J = 2.0 + 2.001e-9 + 0.1 + 0.001, 0.2 * 2.001


@pytest.mark.parametrize(
    ("weights", "local", "edge"),
    [
        (CostWeights(1.0, 1.0, 2.0), LOCAL_S + LOCAL_J, EDGE_S + EDGE_J + 2.0),
        (CostWeights(1.0, 0.0, 0.0), LOCAL_S, EDGE_S),
        (CostWeights(0.0, 1.0, 0.0), LOCAL_J, EDGE_J),
        (CostWeights(0.0, 0.0, 1.0), 0.0, 1.0),
        (CostWeights(0.5, 3.0, 10.0), 0.5 * LOCAL_S + 3 * LOCAL_J, 0.5 * EDGE_S + 3 * EDGE_J + 10.0),
    ],
)
def test_episode_cost_is_the_weighted_sum_of_hand_figures(
    weights: CostWeights, local: float, edge: float, tmp_path: Path
) -> None:
    import yaml

    path = tmp_path / "hand.yaml"
    path.write_text(yaml.safe_dump(HAND))
    for action, expected in ((0, local), (1, edge)):
        env = OffloadEnv(load_scenario(path), window_jobs=None, weights=weights)
        env.reset(seed=0)
        _, reward, done, _, info = env.step(action)
        assert done  # one decision
        assert info["episode_cost"] == pytest.approx(expected, rel=1e-12, abs=1e-15), action
        assert reward == pytest.approx(-expected, rel=1e-12, abs=1e-15)


@pytest.mark.skipif(not TRACE.is_file(), reason=f"real trace sample not present at {TRACE}")
def test_training_windows_come_only_from_jobs_before_the_split() -> None:
    from agents.training import split_scenario

    train_sc, _ = split_scenario(ALIBABA, [f"workload.trace.path={TRACE}"], "train", 500_000.0)
    eval_sc, _ = split_scenario(ALIBABA, [f"workload.trace.path={TRACE}"], "eval", 500_000.0, 50)
    train = EpisodeSource(train_sc, window_jobs=20)
    evaluation = EpisodeSource(eval_sc, window_jobs=50)
    assert train.real_trace and train.n_jobs > 100
    assert max(j.arrival_s for j in train._trace) < 500_000.0 <= min(j.arrival_s for j in evaluation._trace)
    assert not {j.name for j in train._trace} & {j.name for j in evaluation._trace}


def test_following_the_heft_hint_replays_heft() -> None:
    from edgesplit.run import run_scenario

    sc = load_scenario(SMOKE, ["policy.kind=heft"])
    reference = run_scenario(sc).columns["placement"]
    env = OffloadEnv(sc, window_jobs=None, hints=True)
    obs, _ = env.reset(seed=0)
    n = 1 + env.n_servers
    done = False
    while not done:
        obs, _, done, _, _ = env.step(int(np.argmax(obs[-n:])))
    assert env.result.columns["placement"] == reference
