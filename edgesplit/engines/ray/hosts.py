"""What the Ray engine's actors host: a shard of devices (the event engine, restricted) and one server.

Both are plain classes (Ray wraps them with `ray.remote`), so they also run in-process. They talk in messages:

- shard -> server, an arrival: `(at, uid, cycles, notice_s, back_s, shard, server)`: the task's input reaches
  server `server` at `at`; `notice_s` is how long its device takes to notice the server is gone, `back_s` the
  result's wired way back to the cell (backhaul and radio latency).
- server -> shard, done: `("d", due, uid, arrived, start, end, energy)`; the result reaches the cell's base
  station at `due` and the shard sends it over the downlink.
- server -> shard, lost: `("l", due, uid, refund_j, fault)`: the server went down (or was down) with the task;
  its device notices at `due`.

`due` is each message's effect time; the coordinator uses it to bound how far every actor may advance.
"""

from __future__ import annotations

import gc
import heapq
import math
import operator
import pickle
import time
from typing import Any

import numpy as np

from edgesplit.engines.sim import SimEngine
from edgesplit.engines.world import build_world
from edgesplit.model.faults import bring_up, refund_unrun, take_down
from edgesplit.policies import LOCAL, policy_from_spec
from edgesplit.results import TaskTable
from edgesplit.scenario import Scenario, ServerDown
from edgesplit.workload.build import BuiltWorkload
from edgesplit.workload.dag import Job, Task

ELSEWHERE = -9
"""Outcome of a task that another shard owns: never PENDING, so no loop of this shard touches it."""

Arrival = tuple[float, int, float, float, float, int, int]
ServerMessage = tuple[Any, ...]


def lookahead_s(sc: Scenario, cells: set[int] | None = None) -> float:
    """The least time between a device deciding to send and its input reaching any server: the smallest cell
    latency (of `cells`, default all) plus the smallest wired hop latency. Zero means no lookahead."""
    cell_latency = min(c.latency_s for i, c in enumerate(sc.network.cells) if cells is None or i in cells)
    hops = [sc.network.backhaul.latency_s] if sc.fleet.edge_servers else []
    if sc.fleet.cloud is not None:
        hops.append(sc.network.backhaul.latency_s + sc.fleet.cloud.latency_s)
    return cell_latency + min(hops)


class ShardEngine(SimEngine):
    """The event engine for the devices of one shard. Inputs that leave for a server become messages (the
    server's actor queues them); results and losses come back as messages. Its `servers` are mirrors: when the
    policy reads server queues, every arrival (from every shard) is replayed on them at its time."""

    def __init__(
        self, scenario: Scenario, workload: BuiltWorkload, devices: set[int], policy_code: bytes | None = None
    ) -> None:
        if policy_code is not None:  # a custom policy whose code came with the scenario (`custom.pack_code`)
            from edgesplit.policies.custom import build, unpack_code

            policy = build(unpack_code(scenario.policy.ref, policy_code), dict(scenario.policy.params))  # type: ignore[arg-type]
        else:
            policy = policy_from_spec(scenario.policy, scenario.seed)
        super().__init__(scenario, workload, policy)
        self.owned = devices
        outcome = self.table.outcome
        for uid, task in enumerate(self.tasks):
            if task is None:
                outcome[uid] = ELSEWHERE
        self.outbox: list[Arrival] = []
        self.shard = -1
        self.mirrored = False
        self.inference: Any = None  # real time with split models: a realtime.DeviceInference
        self.mirror_heap: list[tuple[float, int, Any, Any]] = []

    def _hosts_device(self, index: int) -> bool:
        return index in self.owned

    def _send_to_server(self, at: float, uid: int) -> None:
        target = self.table.target[uid]
        task = self.tasks[uid]
        server = self.servers[target]
        cycles = task.flops * server.cycles_per_flop if task.flops else task.cycles
        self.outbox.append((at, uid, cycles, self._notice_s(uid), self._back_s[uid], self.shard, target))
        if self.inference is not None and task.name == "tail":  # real time: the real tensor leaves now
            meta = self.jobs[task.job_uid].meta
            request_id = f"{self.scenario.seed}-{uid}-{self.redispatches.get(uid, 0)}"
            self.inference.remote(meta, target, request_id, self.device_of_task[uid].name)
        if self.mirrored:  # its own arrivals reach its mirrors at once; other shards' come with the next round
            self.mirror_arrival(at, uid, target, cycles)

    def mirror_arrival(self, at: float, uid: int, server: int, cycles: float) -> None:
        """Replay an arrival on the server's mirror at its time, ordered as the event engine orders arrivals.
        Mirror events have a heap of their own: they never make a shard send, so they do not bound it."""
        heapq.heappush(self.mirror_heap, (at, uid - self._n_tasks, self._mirror_arrival, (server, cycles)))

    def _dispatch(self, now: float, task: Any, target: int) -> None:
        if self.inference is not None and target == LOCAL and task.name == "tail":
            self.inference.local(self.jobs[task.job_uid].meta)
        super()._dispatch(now, task, target)

    def _server_goes_down(self, now: float, arg: tuple[int, int]) -> None:
        """The mirror only: the server's actor reports what was lost."""
        take_down(self.servers[arg[0]], now, {})

    def _mirror_arrival(self, now: float, arg: tuple[int, float]) -> None:
        server = self.servers[arg[0]]
        if server.alive:
            server.reserve(now, arg[1])


class DeviceShard:
    """A Ray actor's worth of devices: runs their events window by window."""

    def __init__(
        self,
        index: int,
        scenario: Scenario,
        workload: bytes,
        devices: list[int],
        mirrored: bool,
        policy_code: bytes | None = None,
    ) -> None:
        """`workload` comes from `pack_workload`, `policy_code` from `policies.custom.pack_code`."""
        # The actor's objects form no cycles; the collector's passes would dominate (see gcpause.gc_paused).
        gc.disable()
        self.engine = ShardEngine(scenario, unpack_workload(workload), set(devices), policy_code)
        self.engine.shard = index
        self.engine.mirrored = mirrored
        self.engine.start()
        cells = {self.engine.devices[d].cell for d in devices}
        self.lookahead_s = lookahead_s(scenario, cells)
        self.wall0: float | None = None
        self.pace: float | None = None

    def info(self) -> dict[str, Any]:
        """Lookahead and where the actor runs (node id), for the coordinator and the cluster test."""
        import ray

        return {"lookahead_s": self.lookahead_s, "node": ray.get_runtime_context().get_node_id()}

    def connect(self, addresses: list[str | None]) -> None:
        """Real time with split models: talk to the servers' inference servers (by server index)."""
        from edgesplit.engines.ray.realtime import DeviceInference

        self.engine.inference = DeviceInference(self.engine.scenario.workload.dnn, addresses)

    def set_clock(self, wall0: float, pace: float | None) -> None:
        """Real-time mode: virtual time t happens at wall-clock `wall0 + t / pace` (time.time() seconds)."""
        self.wall0, self.pace = wall0, pace

    def step(self, until: float, inbox: list[bytes], replay: list[bytes]) -> tuple[dict[int, bytes], float, float, int]:
        """Apply the servers' messages (`inbox`: pickled batches), replay other shards' arrivals (`replay`) on
        the mirrors, then process the events before `until` (and not after the stop time). Returns (pickled
        arrivals by server, the earliest of them, the next event time, tasks finished so far)."""
        eng = self.engine
        for batch in inbox:
            for msg in pickle.loads(batch):
                if msg[0] == "d":
                    eng._server_done(msg[2], msg[3], msg[4], msg[5], msg[6])
                else:
                    eng._lost(msg[2], msg[1], msg[3], msg[4])
        for batch in replay:
            for a in pickle.loads(batch):
                if a[5] != eng.shard:
                    eng.mirror_arrival(a[0], a[1], a[6], a[2])
        heap, mirror, pop, stop_s = eng._heap, eng.mirror_heap, heapq.heappop, eng.stop_s
        events = eng.events
        pace, wall0 = self.pace, self.wall0
        limit = min(until, math.nextafter(stop_s, math.inf))
        while True:
            if mirror and (not heap or mirror[0] < heap[0]):
                if mirror[0][0] >= limit:
                    break
                at, _, handler, arg = pop(mirror)
            elif heap and heap[0][0] < limit:
                at, _, handler, arg = pop(heap)
            else:
                break
            if pace:
                left = wall0 + at / pace - time.time()  # type: ignore[operator]
                if left > 0:
                    time.sleep(left)
            eng.now = at
            handler(at, arg)
            events += 1
        eng.events = events
        by_server: dict[int, list[Arrival]] = {}
        for a in eng.outbox:
            by_server.setdefault(a[6], []).append(a)
        first = min((a[0] for a in eng.outbox), default=math.inf)
        eng.outbox = []
        packed = {s: pickle.dumps(batch, protocol=pickle.HIGHEST_PROTOCOL) for s, batch in by_server.items()}
        return packed, first, heap[0][0] if heap else math.inf, eng.finished

    def finish(self, end_s: float) -> dict[str, Any]:
        """Close at the run's end time and hand back this shard's records and device meters."""
        eng = self.engine
        eng.now = end_s
        eng._close(end_s)
        if eng.inference is not None:
            eng.inference.close()
        tab = eng.table
        own = np.flatnonzero(np.asarray(tab.outcome) != ELSEWHERE)
        # numpy gathers each column in C; reasons are strings, the rest numbers
        columns = {
            name: np.asarray(getattr(tab, name), dtype=object if name == "reason" else None)[own]
            for name in vars(TaskTable(0))
        }
        return {
            "uids": own,
            "columns": columns,
            "devices": self.meters(),
            "decisions": eng.decisions,
            "events": eng.events,
            "bits_sent": [link.bits_sent for link in (*eng.world.uplinks, *eng.world.downlinks)],
            "activity": [(a.take_rest(end_s), s.take_rest(end_s)) for a, s in zip(*self._activities(), strict=True)],
            "redispatches": eng.redispatches,
            "metas": {j.uid: j.meta for j in eng.jobs if j is not None and j.meta is not None},
        }

    def now(self) -> float:
        """Time of the last event processed."""
        return self.engine.now

    def meters(self) -> dict[int, dict[str, Any]]:
        """Live energy and load figures of this shard's devices (for progress and metrics while running)."""
        eng = self.engine
        return {d: node_meters(eng.devices[d]) for d in eng.owned}

    def activity(self) -> list[tuple[list[tuple[float, float]], list[tuple[float, float]]]]:
        """Per cell, the base station's busy intervals (awake, sending) closed since the last call: the
        coordinator unions every shard's (a cell's devices may be on several shards)."""
        return [(a.take_closed(), s.take_closed()) for a, s in zip(*self._activities(), strict=True)]

    def _activities(self) -> tuple[list[Any], list[Any]]:
        world = self.engine.world
        return world.awake, world.sending


METER_FIELDS = ("compute_j", "busy_s", "tasks", "idle", "core_free", "alive", "tx_j", "rx_j", "offloaded")
"""What a node's actor hands back of it: its energy and load meters and its state (devices have radio ones)."""


def node_meters(node: Any) -> dict[str, Any]:
    return {f: getattr(node, f) for f in METER_FIELDS if hasattr(node, f)}


class ServerHost:
    """One server's actor: queues arrivals in time order on the core's `Node`, reports each task's times and
    energy to its device's shard, and goes down and comes back as the scenario's faults say. In real-time
    mode it can also own a gRPC inference server (`serve`)."""

    def __init__(self, scenario: Scenario, index: int) -> None:
        world = build_world(scenario, lambda *a: None)
        self.node = world.servers[index]
        self.index = index
        self.stop_s = scenario.stop.max_time_s if scenario.stop.max_time_s is not None else math.inf
        cells = scenario.network.cells
        # Smallest way back to any device: the wired hop plus the smallest radio latency.
        self.back_min_s = world.hops[index].latency_s + min(c.latency_s for c in cells)
        self.faults = scenario.faults
        self.events: list[tuple[float, int, int]] = []  # (at, 0 = down / 1 = back, fault index)
        for fi, f in enumerate(scenario.faults):
            if isinstance(f, ServerDown) and f.server == self.node.name:
                self.events.append((f.at_s, 0, fi))
                if f.downtime_s is not None:
                    self.events.append((f.at_s + f.downtime_s, 1, fi))
        self.events.sort()
        self.reservations: dict[int, tuple[float, float, float]] = {}
        self._where: dict[int, tuple[int, float]] = {}  # uid -> (shard, notice_s) of what it holds, with faults
        self.track = bool(self.events)  # what it holds: what it loses when it goes down
        self.cut_at_stop = self.stop_s < math.inf  # and what the stop time cuts short
        self.down_fault = -1
        self.pending: list[tuple[float, int, Arrival]] = []
        self.now = 0.0
        self.rpc: Any = None
        if scenario.engine.clock == "realtime" and scenario.workload.source == "dnn":
            from edgesplit.engines.ray.realtime import serve_models

            self.dnn = scenario.workload.dnn
            self.rpc = serve_models(self.dnn, self.node.name)

    def info(self) -> dict[str, Any]:
        import ray

        node_id = ray.get_runtime_context().get_node_id()
        rpc = self.rpc.address if self.rpc is not None else None
        return {"name": self.node.name, "node": node_id, "back_min_s": self.back_min_s, "rpc": rpc}

    def step(
        self, until: float, arrivals: list[bytes]
    ) -> tuple[dict[int, tuple[bytes, float]], tuple[dict[int, float], float, float], float]:
        """Queue `arrivals` (pickled batches from the shards), then process arrivals and faults before `until`.
        Returns ({shard: (pickled messages, earliest due)}, `_bounds()`, the time of its next arrival or fault)."""
        for batch in arrivals:
            for a in pickle.loads(batch):
                heapq.heappush(self.pending, (a[0], a[1], a))  # (time, uid): the event engine's order
        out: dict[int, list[ServerMessage]] = {}
        node, pending, events = self.node, self.pending, self.events
        while True:
            ta = pending[0][0] if pending else math.inf
            tf = events[0][0] if events else math.inf
            t = ta if ta < tf else tf
            if t >= until or t > self.stop_s:
                break
            self.now = t
            if tf < ta:  # at equal times arrivals come first, as in the event engine
                _, kind, fi = events.pop(0)
                if kind == 0:
                    self.down_fault = fi
                    if self.rpc is not None:  # real time: its inference server goes down with it
                        self.rpc.stop(0)
                    for uid, refund in take_down(node, t, self.reservations):
                        shard, notice = self._where[uid]
                        out.setdefault(shard, []).append(("l", t + notice, uid, refund, fi))
                else:
                    bring_up(node, t)
                    if self.rpc is not None:
                        from edgesplit.engines.ray.realtime import serve_models

                        self.rpc = serve_models(self.dnn, node.name, self.rpc.port)  # same address as before
                continue
            at, _, (_, uid, cycles, notice_s, back_s, shard, _) = heapq.heappop(pending)
            if not node.alive:
                out.setdefault(shard, []).append(("l", at + notice_s, uid, 0.0, self.down_fault))
                continue
            start, end, energy = node.reserve(at, cycles)
            if self.track or self.cut_at_stop:
                self.reservations[uid] = (start, end, energy)
            if self.track:
                self._where[uid] = (shard, notice_s)
            out.setdefault(shard, []).append(("d", end + back_s, uid, at, start, end, energy))
        packed = {
            shard: (pickle.dumps(msgs, protocol=pickle.HIGHEST_PROTOCOL), min(m[1] for m in msgs))
            for shard, msgs in out.items()
        }
        next_at = min(pending[0][0] if pending else math.inf, events[0][0] if events else math.inf)
        return packed, self._bounds(), next_at

    def _bounds(self) -> tuple[dict[int, float], float]:
        """Lower bounds on the due times of later messages: per shard, for the arrivals of it that wait here
        (a result leaves no earlier than the first free core; with a fault ahead, a loss may come first); for
        everything, the next fault's notice; and when new work could start at the earliest (its first free core,
        or -inf with a fault ahead)."""
        node = self.node
        next_down = next((t for t, kind, _ in self.events if kind == 0), math.inf)
        steady = node.alive and next_down == math.inf
        free = node.core_free[0]
        per_shard: dict[int, float] = {}
        for at, _, a in self.pending:
            due = (at if at > free else free) + a[4] if steady else at + min(a[3], a[4])
            if due < per_shard.get(a[5], math.inf):
                per_shard[a[5]] = due
        # New work cannot start before the first free core, unless a fault (down, then up empty) comes first.
        free_from = free if steady and not self.events else -math.inf
        return per_shard, next_down + self.back_min_s, free_from

    def last(self) -> float:
        """Time of the last arrival or fault processed."""
        return self.now

    def finish(self, end_s: float) -> dict[str, Any]:
        """The server's meters at the run's end `end_s` (work it had not finished by then is taken off them, as
        the event engine does); stops its gRPC server if it has one."""
        if self.rpc is not None:
            self.rpc.stop(0.5)
        refund_unrun(self.node, end_s, self.reservations)
        return node_meters(self.node)


_TASK_FIELDS = tuple(f for f in Task.__slots__)
_JOB_FIELDS = ("uid", "name", "arrival_s", "device", "deadline_s", "meta")


def pack_workload(workload: BuiltWorkload, devices: set[int]) -> bytes:
    """The jobs of `devices` as plain tuples, pickled (slotted dataclasses pickle ten times slower)."""
    from edgesplit.gcpause import gc_paused

    task_row = operator.attrgetter(*_TASK_FIELDS)
    job_row = operator.attrgetter(*_JOB_FIELDS)
    with gc_paused():
        jobs = [(job_row(j), [task_row(t) for t in j.tasks]) for j in workload.jobs if j.device in devices]
        head = (len(workload.jobs), len(workload.tasks), workload.source, workload.real_trace, workload.repair)
        return pickle.dumps((head, jobs), protocol=pickle.HIGHEST_PROTOCOL)


def unpack_workload(data: bytes) -> BuiltWorkload:
    """A shard's workload: its own jobs and tasks at their uids, None elsewhere."""
    (n_jobs, n_tasks, source, real_trace, repair), rows = pickle.loads(data)
    jobs: list[Job | None] = [None] * n_jobs
    tasks: list[Task | None] = [None] * n_tasks
    for job_row, task_rows in rows:
        own = [Task(*row) for row in task_rows]
        for t in own:
            tasks[t.uid] = t
        job = Job(*job_row[:4], own, *job_row[4:])
        jobs[job.uid] = job
    return BuiltWorkload(jobs, tasks, source, real_trace, repair)  # type: ignore[arg-type]
