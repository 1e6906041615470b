"""HEFT-style list scheduling: when a job arrives, plan all its tasks by upward rank and earliest finish time."""

from __future__ import annotations

import heapq

from edgesplit.policies.base import LOCAL, Policy, SystemView
from edgesplit.workload.dag import Job, Task, upward_ranks


class HeftPolicy(Policy):
    """Heterogeneous Earliest Finish Time (Topcuoglu et al., 2002) over the job's device and the servers.

    On arrival, tasks are ordered by upward rank (mean compute time over targets plus mean data-transfer time),
    then each goes to the target whose cores (as planned so far) give it the earliest finish, counting the time to
    move its input from the device and its result back. Placing a task later returns the planned target; the
    engine's real queues may differ from the plan, which is HEFT's static nature.
    """

    name = "heft"

    def __init__(self) -> None:
        self.plan: dict[int, int] = {}

    def on_job(self, job: Job, view: SystemView) -> None:
        targets = [LOCAL, *range(view.n_servers)]
        exec_s = {t.uid: [view.compute_s(t, g) for g in targets] for t in job.tasks}
        comm_s = {t.uid: [view.transfer_s(t, g) for g in targets] for t in job.tasks}
        ranks = upward_ranks(
            job.tasks,
            cost=lambda t: sum(exec_s[t.uid]) / len(targets),
            comm=lambda t: sum(comm_s[t.uid]) / len(targets),
        )
        first = job.tasks[0]
        cores = {g: list(view.core_free(first, g)) for g in targets}
        finish: dict[int, float] = {}
        for task in sorted(job.tasks, key=lambda t: (-ranks[t.uid], t.uid)):
            ready = max((finish[p] for p in task.parents), default=view.now)
            best = None
            for i, g in enumerate(targets):
                start = max(ready + comm_s[task.uid][i] / 2, cores[g][0])
                eft = start + exec_s[task.uid][i] + comm_s[task.uid][i] / 2
                if best is None or eft < best[0]:
                    best = (eft, g, start + exec_s[task.uid][i])
            eft, g, core_end = best  # type: ignore[misc]
            heapq.heapreplace(cores[g], core_end)
            finish[task.uid] = eft
            self.plan[task.uid] = g

    def place(self, task: Task, view: SystemView) -> int:
        return self.plan.pop(task.uid, LOCAL)
