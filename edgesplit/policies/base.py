"""The placement-policy interface: an engine asks `place(task, view)` for every ready task."""

from __future__ import annotations

from typing import Protocol

from edgesplit.workload.dag import Job, Task

LOCAL = -1
"""Target of a task that runs on its own device; targets >= 0 index the engine's servers (edge, then cloud)."""


class SystemView(Protocol):
    """What a policy may look at: the clock, the targets, and estimates from the world model."""

    now: float

    @property
    def n_servers(self) -> int: ...

    @property
    def edge_servers(self) -> list[int]:
        """Targets that are edge servers (not the cloud)."""
        ...

    def server_name(self, target: int) -> str: ...

    def device_index(self, task: Task) -> int:
        """Index of the device whose job `task` belongs to."""
        ...

    def estimate(self, task: Task, target: int) -> tuple[float, float]:
        """(estimated finish time in s, estimated device energy in J) of running `task` on `target` now."""
        ...

    def server_backlog_s(self, target: int, task: Task | None = None) -> float:
        """Seconds until server `target` has a free core; with `task`, counting the work its device has sent
        there that is still on its way."""
        ...

    def compute_s(self, task: Task, target: int) -> float:
        """Seconds of computing `task` on `target`, queueing aside."""
        ...

    def transfer_s(self, task: Task, target: int) -> float:
        """Seconds to move `task`'s input to `target` and its result back (0 for LOCAL)."""
        ...

    def core_free(self, task: Task, target: int) -> list[float]:
        """When each core of `target` (LOCAL: `task`'s device) is free, as a heap (a server's counts the work
        `task`'s device has sent there that is still on its way)."""
        ...


class Policy:
    """Base class of placement policies. Subclasses override `place`; `on_job` sees each job on arrival."""

    name = "policy"

    def on_job(self, job: Job, view: SystemView) -> None:
        """Called once per job when it arrives (before its first task is placed)."""

    def place(self, task: Task, view: SystemView) -> int:
        """Return LOCAL or a server index for a task whose parents have all finished."""
        raise NotImplementedError

    def reads_server_state(self, n_edge_servers: int) -> bool:
        """Whether decisions look at servers' queues. The Ray engine then keeps every device shard's copy of the
        servers' queues up to date, which bounds how far shards may run ahead of each other."""
        return True
