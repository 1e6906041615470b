"""Heuristic placement policies: local, edge, random, greedy-latency, greedy-energy, weighted cost."""

from __future__ import annotations

import random

from edgesplit.policies.base import LOCAL, Policy, SystemView
from edgesplit.workload.dag import Task


class LocalPolicy(Policy):
    """Every task runs on its own device."""

    name = "local"

    def place(self, task: Task, view: SystemView) -> int:
        return LOCAL

    def reads_server_state(self, n_edge_servers: int) -> bool:
        return False


class EdgePolicy(Policy):
    """Every task goes to the edge server with the smallest backlog as its device sees it (lowest index on ties);
    the cloud if none."""

    name = "edge"

    def place(self, task: Task, view: SystemView) -> int:
        edges = view.edge_servers or range(view.n_servers)
        return edges[0] if len(edges) == 1 else min(edges, key=lambda s: view.server_backlog_s(s, task))

    def reads_server_state(self, n_edge_servers: int) -> bool:
        return n_edge_servers != 1


class RandomPolicy(Policy):
    """Local or any server, uniformly at random; each device draws from its own seeded stream, so the choices
    do not depend on the order in which an engine interleaves devices."""

    name = "random"

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.rngs: dict[int, random.Random] = {}

    def place(self, task: Task, view: SystemView) -> int:
        d = view.device_index(task)
        rng = self.rngs.get(d)
        if rng is None:
            rng = self.rngs[d] = random.Random(f"{self.seed}:policy:{d}")
        return rng.randrange(-1, view.n_servers)

    def reads_server_state(self, n_edge_servers: int) -> bool:
        return False


class GreedyLatencyPolicy(Policy):
    """The target with the earliest estimated finish time."""

    name = "greedy-latency"

    def place(self, task: Task, view: SystemView) -> int:
        best, best_t = LOCAL, view.estimate(task, LOCAL)[0]
        for s in range(view.n_servers):
            t = view.estimate(task, s)[0]
            if t < best_t:
                best, best_t = s, t
        return best


class GreedyEnergyPolicy(Policy):
    """The target with the lowest estimated device energy (earliest finish on ties)."""

    name = "greedy-energy"

    def place(self, task: Task, view: SystemView) -> int:
        return min(range(-1, view.n_servers), key=lambda s: view.estimate(task, s)[::-1])


class WeightedPolicy(Policy):
    """Minimises w_l x latency / local latency + w_e x energy / local energy (both relative to running locally)."""

    name = "weighted"

    def __init__(self, latency_weight: float, energy_weight: float) -> None:
        self.wl = latency_weight
        self.we = energy_weight

    def place(self, task: Task, view: SystemView) -> int:
        now = view.now
        t_loc, e_loc = view.estimate(task, LOCAL)
        lat_ref = max(t_loc - now, 1e-12)
        e_ref = max(e_loc, 1e-12)
        best, best_cost = LOCAL, self.wl + self.we
        for s in range(view.n_servers):
            t, e = view.estimate(task, s)
            cost = self.wl * (t - now) / lat_ref + self.we * e / e_ref
            if cost < best_cost:
                best, best_cost = s, cost
        return best
