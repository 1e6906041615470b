"""RL environment benchmark: steps per second of `OffloadEnv` and of `OffloadParallelEnv` with 10 and 100 agents.

Runs on one core (torch is not involved). Each measurement plays whole episodes (resets included) of
`scenarios/alibaba_trace.yaml` (calibrated generator, or the real trace with --trace), 20-job windows, with
seeded random actions drawn in advance; it reports steps (placement decisions) per second of wall time. The
parallel env is measured through the PettingZoo dict API and through its array interface (what Com-DDPG uses).

    python bench/env.py [--steps 30000] [--trace PATH]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edgesplit.envs import OffloadEnv, OffloadParallelEnv  # noqa: E402
from edgesplit.gcpause import gc_paused  # noqa: E402

GOAL = 10_000


def fleet(agents: int) -> list[str]:
    """Overrides giving the Alibaba scenario's three device groups `agents` devices in all (60/20/20 %)."""
    a, b = round(agents * 0.6), round(agents * 0.2)
    return [f"fleet.devices.0.count={a}", f"fleet.devices.1.count={b}", f"fleet.devices.2.count={agents - a - b}"]


def bench_single(overrides: list[str], steps: int) -> float:
    env = OffloadEnv(ROOT / "scenarios" / "alibaba_trace.yaml", overrides, window_jobs=20)
    rng = random.Random(0)
    actions = [rng.randrange(env.action_space.n) for _ in range(steps)]
    env.reset(seed=0)
    t0 = time.perf_counter()
    with gc_paused():
        ep = 0
        for a in actions:
            if env.step(a)[2]:
                ep += 1
                env.reset(seed=ep)
    return steps / (time.perf_counter() - t0)


def bench_parallel(overrides: list[str], agents: int, steps: int, dicts: bool) -> float:
    env = OffloadParallelEnv(ROOT / "scenarios" / "alibaba_trace.yaml", [*overrides, *fleet(agents)], window_jobs=20)
    rng = random.Random(0)
    actions = [rng.randrange(1 + env.n_servers) for _ in range(steps)]
    ep = 0
    t0 = time.perf_counter()
    with gc_paused():
        if dicts:
            env.reset(seed=0)
            for a in actions:
                _, _, terms, _, _ = env.step({name: a for name in env.agents})
                if not env.agents:
                    ep += 1
                    env.reset(seed=ep)
        else:
            env.reset_arrays(seed=0)
            for a in actions:
                if env.step_index(a)[3]:
                    ep += 1
                    env.reset_arrays(seed=ep)
    return steps / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30_000, help="steps per measurement (single agent)")
    parser.add_argument("--trace", type=Path, default=None, help="the real v2018 trace sample (default: generator)")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core
    overrides = [f"workload.trace.path={args.trace}"] if args.trace else ["workload.source=synthetic"]
    single = bench_single(overrides, args.steps)
    verdict = "meets" if single >= GOAL else "below"
    print(f"OffloadEnv (1 agent, 40 devices):          {single:10,.0f} steps/s  ({verdict} the {GOAL:,} goal)")
    for agents in (10, 100):
        n = max(args.steps // (2 if agents == 10 else 6), 1000)
        arr = bench_parallel(overrides, agents, n, dicts=False)
        pz = bench_parallel(overrides, agents, n, dicts=True)
        print(f"OffloadParallelEnv ({agents:3d} agents), arrays:   {arr:10,.0f} steps/s")
        print(f"OffloadParallelEnv ({agents:3d} agents), PettingZoo: {pz:8,.0f} steps/s")


if __name__ == "__main__":
    main()
