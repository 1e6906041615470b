"""A complete custom placement policy, used as `policy: {kind: custom, class: "examples/my_policy.py:ThriftyPolicy"}`.

ThriftyPolicy offloads a task only when it pays: to the target with the earliest estimated finish, if that
finishes at least `min_gain_s` sooner than running locally and costs the device no more than `max_energy_ratio`
times the local energy. Everything it looks at comes from the `SystemView` the engine passes in (docs/api.md).
"""

from __future__ import annotations

from edgesplit import LOCAL, Policy, SystemView
from edgesplit.workload.dag import Task


class ThriftyPolicy(Policy):
    name = "thrifty"

    def __init__(self, min_gain_s: float = 0.05, max_energy_ratio: float = 1.5) -> None:
        if min_gain_s < 0 or max_energy_ratio <= 0:
            raise ValueError("min_gain_s must be >= 0 and max_energy_ratio > 0")
        self.min_gain_s = min_gain_s
        self.max_energy_ratio = max_energy_ratio

    def place(self, task: Task, view: SystemView) -> int:
        local_finish, local_energy = view.estimate(task, LOCAL)
        best, best_finish, best_energy = LOCAL, local_finish, local_energy
        for target in range(view.n_servers):
            finish, energy = view.estimate(task, target)
            if finish < best_finish:
                best, best_finish, best_energy = target, finish, energy
        if best == LOCAL:
            return LOCAL
        gains_time = best_finish <= local_finish - self.min_gain_s
        affordable = best_energy <= self.max_energy_ratio * local_energy
        return best if gains_time and affordable else LOCAL
