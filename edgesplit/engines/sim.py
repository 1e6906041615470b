"""The deterministic discrete-event engine: one heap, every step an event, ties broken by insertion order."""

from __future__ import annotations

import heapq
import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from edgesplit.engines.world import World, build_world
from edgesplit.model.entities import Device
from edgesplit.policies.base import LOCAL, Policy
from edgesplit.results import COMPLETED, DROPPED, FAILED, PENDING, RunResult, TaskTable
from edgesplit.scenario import Scenario
from edgesplit.workload.build import BuiltWorkload
from edgesplit.workload.dag import Job, Task


class RunObserver:
    """Hooks an engine calls while it runs (progress bars, metrics exporters). All are optional."""

    def on_start(self, engine: SimEngine) -> None: ...

    def on_progress(self, engine: SimEngine) -> None:
        """Called every `progress_every` events and once at the end."""

    def on_task_end(self, engine: SimEngine, uid: int) -> None:
        """Called when task `uid` completes, fails or is dropped; `engine.table` holds its record. Only observers
        that override it are called (per task, so keep it cheap); batch readers can use `engine.ended` instead."""

    def on_end(self, engine: SimEngine, result: RunResult) -> None: ...


class SimEngine:
    """Runs one scenario's workload on its world.

    Life of a task: its job arrives -> it is released when all its parents have finished -> the policy picks
    LOCAL or a server -> LOCAL: it queues on its device's cores; remote: its input crosses the cell uplink
    (shared with the cell's other transfers), then the backhaul, queues on the server's cores, and its result
    comes back over backhaul and downlink -> it completes and releases its children. A lost upload fails the
    task; a task released after its job's deadline is dropped when `drop_expired` is set; whatever has not
    finished when the stop time comes is dropped. A failed or dropped task drops all its descendants.

    Events are (time, sequence, handler, argument) tuples on one heap; the sequence number makes the order of
    simultaneous events the order they were scheduled in, so a run is a pure function of scenario and seed.
    """

    progress_every = 4096

    def __init__(
        self,
        scenario: Scenario,
        workload: BuiltWorkload,
        policy: Policy | None,
        observers: Sequence[RunObserver] = (),
    ) -> None:
        self.scenario = scenario
        self.workload = workload
        self.jobs: list[Job] = workload.jobs
        self.tasks: list[Task] = workload.tasks
        self.policy = policy
        self.observers = list(observers)
        self.now = 0.0
        self.events = 0
        self._heap: list[tuple[float, int, Callable[[float, Any], None], Any]] = []
        self._seq = 0
        self.world: World = build_world(scenario, self.schedule)
        self.devices: list[Device] = self.world.devices
        self.servers = self.world.servers
        self.table = TaskTable(len(self.tasks))
        self.device_of_task: list[Device] = [self.devices[self.jobs[t.job_uid].device] for t in self.tasks]
        self._pending_parents = [len(t.parents) for t in self.tasks]
        self._idle_mark = [0.0] * len(self.tasks)
        self.decisions = [0] * (len(self.servers) + 1)  # index 0 = local, s + 1 = server s
        self.drop_expired = scenario.workload.deadline.drop_expired
        self.stop_s = scenario.stop.max_time_s if scenario.stop.max_time_s is not None else math.inf
        self.finished = 0
        self._edge_servers = [i for i, kind in enumerate(self.world.server_kind) if kind == "edge"]
        self._hop_latency_s = [h.latency_s for h in self.world.hops]
        self._hop_s_per_byte = [8.0 / h.rate_bps for h in self.world.hops]
        self.pace: float | None = None  # virtual seconds per wall second; None = as fast as possible
        self.awaiting: deque[Task] = deque()  # released tasks waiting for an external decision (policy None)
        self.ended: list[int] = []  # uids in the order they completed, failed or were dropped
        self._task_end_hooks: list[Callable[[SimEngine, int], None]] = []
        self._wall0: float | None = None

    # -- the event queue -------------------------------------------------------------------------------

    def schedule(self, at: float, handler: Callable[[float, Any], None], arg: Any = None) -> None:
        """Run `handler(at, arg)` at virtual time `at`."""
        heapq.heappush(self._heap, (at, self._seq, handler, arg))
        self._seq += 1

    def run(self) -> RunResult:
        """Process events until none are left or the stop time passes; returns the accounted result."""
        if self.policy is None:
            raise RuntimeError("an engine without a policy is driven with start()/advance()/decide()/finish()")
        self.start()
        self.advance()
        return self.finish()

    def start(self) -> None:
        """Schedule the job arrivals (once) and tell the observers."""
        if self._wall0 is not None:
            return
        self._wall0 = time.perf_counter()
        base = RunObserver.on_task_end
        self._task_end_hooks = [ob.on_task_end for ob in self.observers if type(ob).on_task_end is not base]
        for job in self.jobs:
            self.schedule(job.arrival_s, self._job_arrives, job)
        for ob in self.observers:
            ob.on_start(self)

    def advance(self) -> Task | None:
        """Process events until a released task awaits a decision (an engine built without a policy: the task is
        returned, answer with `decide`) or the run is over (None). With a policy it runs to the end."""
        awaiting = self.awaiting
        if awaiting:
            return awaiting[0]
        heap, pop, stop_s = self._heap, heapq.heappop, self.stop_s
        observers = self.observers
        every = self.progress_every if observers else 1 << 62
        events = self.events
        next_report = (events // every + 1) * every
        pace, wall0 = self.pace, self._wall0
        while heap:
            event = pop(heap)
            at = event[0]
            if at > stop_s:
                heapq.heappush(heap, event)
                break
            if pace:
                self._wait_until(wall0 + at / pace)
            self.now = at
            event[2](at, event[3])
            events += 1
            if events >= next_report:
                self.events = events
                next_report += every
                for ob in observers:
                    ob.on_progress(self)
            if awaiting:
                self.events = events
                return awaiting[0]
        self.events = events
        return None

    def decide(self, target: int) -> None:
        """Place the task that `advance` returned: LOCAL or a server index."""
        task = self.awaiting.popleft()
        if not LOCAL <= target < len(self.servers):
            raise ValueError(f"target {target} is neither LOCAL (-1) nor a server index below {len(self.servers)}")
        self._dispatch(self.now, task, target)

    def finish(self) -> RunResult:
        """Close the run at its end time (dropping what is unfinished) and build the accounted result."""
        if self.awaiting:
            raise RuntimeError(f"{len(self.awaiting)} task(s) still await a decision")
        self.start()
        end_s = self.now if not self._heap else self.stop_s
        self.now = end_s
        self._close(end_s)
        result = RunResult.build(self, wall_s=time.perf_counter() - self._wall0)
        for ob in self.observers:
            ob.on_progress(self)
            ob.on_end(self, result)
        return result

    def _wait_until(self, wall: float) -> None:
        """Paced runs: sleep until `wall`, reporting progress a few times a second meanwhile."""
        while True:
            left = wall - time.perf_counter()
            if left <= 0.0:
                return
            time.sleep(min(left, 0.25))
            for ob in self.observers:
                ob.on_progress(self)

    # -- task life cycle -------------------------------------------------------------------------------

    def _job_arrives(self, now: float, job: Job) -> None:
        if self.policy is not None:
            self.policy.on_job(job, self)
        for task in job.tasks:
            if not task.parents:
                self._release(now, task)

    def _release(self, now: float, task: Task) -> None:
        uid = task.uid
        tab = self.table
        if tab.outcome[uid] != PENDING:  # dropped with an ancestor
            return
        dev = self.device_of_task[uid]
        tab.release_s[uid] = now
        self._idle_mark[uid] = dev.idle.begin(now)
        if self.drop_expired and now > self.jobs[task.job_uid].deadline_s:
            self._end(now, uid, DROPPED, "deadline passed before the task was released")
            return
        if task.pin == "local":
            self._dispatch(now, task, LOCAL)
        elif self.policy is None:
            self.awaiting.append(task)
        else:
            self._dispatch(now, task, self.policy.place(task, self))

    # The handlers below are the hot path: they push onto the heap directly and inline small look-ups.

    def _dispatch(self, now: float, task: Task, target: int) -> None:
        uid = task.uid
        tab = self.table
        dev = self.device_of_task[uid]
        tab.target[uid] = target
        self.decisions[target + 1] += 1
        if target == LOCAL:
            start, end, energy = dev.reserve(now, task.flops * dev.cycles_per_flop if task.flops else task.cycles)
            tab.start_s[uid] = start
            tab.queue_s[uid] = start - now
            tab.compute_s[uid] = end - start
            tab.compute_j[uid] = energy
            heapq.heappush(self._heap, (end, self._seq, self._completes, uid))
            self._seq += 1
            return
        dev.offloaded += 1
        link = self.world.uplinks[dev.cell]
        bits = task.input_bytes * 8.0
        if bits <= 0.0:
            self._travel_to_server(now, uid, dev)
        elif link.figures.shared:
            link.send(now, dev.sender, bits, self._uploaded, uid)
        else:  # a dedicated link: the upload's end is known now, so no event is needed for it
            start, end, ok = link.reserve(now, dev.sender, bits)
            energy = dev.profile.tx_power_w * (end - start)
            dev.tx_j += energy
            tab.uplink_s[uid] = end - now
            tab.radio_j[uid] += energy
            if ok:
                self._travel_to_server(end, uid, dev)
            else:
                self.schedule(end, self._upload_failed, uid)

    def _uploaded(self, now: float, transfer: Any) -> None:
        """A shared cell finished sending a transfer."""
        uid = transfer.arg
        dev = self.device_of_task[uid]
        energy = dev.profile.tx_power_w * (now - transfer.started_s)
        dev.tx_j += energy
        self.table.uplink_s[uid] = now - transfer.queued_s
        self.table.radio_j[uid] += energy
        if transfer.ok:
            self._travel_to_server(now, uid, dev)
        else:
            self._upload_failed(now, uid)

    def _upload_failed(self, now: float, uid: int) -> None:
        self._end(now, uid, FAILED, "upload lost: every retransmission failed")

    def _travel_to_server(self, now: float, uid: int, dev: Device) -> None:
        """The input has left the device at `now`: it reaches the server after latency, jitter and backhaul."""
        target = self.table.target[uid]
        link = self.world.uplinks[dev.cell]
        fig = link.figures
        delay = (link.draw_delay_s() if fig.jitter_s else fig.latency_s) + self._hop_latency_s[target]
        delay += self.tasks[uid].input_bytes * self._hop_s_per_byte[target]
        self.table.network_s[uid] += delay
        heapq.heappush(self._heap, (now + delay, self._seq, self._arrives_at_server, uid))
        self._seq += 1

    def _arrives_at_server(self, now: float, uid: int) -> None:
        tab = self.table
        task = self.tasks[uid]
        target = tab.target[uid]
        server = self.servers[target]
        start, end, energy = server.reserve(now, task.flops * server.cycles_per_flop if task.flops else task.cycles)
        tab.start_s[uid] = start
        tab.queue_s[uid] = start - now
        tab.compute_s[uid] = end - start
        tab.server_j[uid] = energy
        dev = self.device_of_task[uid]
        link = self.world.uplinks[dev.cell]
        fig = link.figures
        down_s = task.output_bytes * 8.0 / fig.downlink_rate_bps
        back = self._hop_latency_s[target] + task.output_bytes * self._hop_s_per_byte[target] + down_s
        back += link.draw_delay_s() if fig.jitter_s else fig.latency_s
        energy_rx = dev.profile.rx_power_w * down_s
        dev.rx_j += energy_rx
        tab.radio_j[uid] += energy_rx
        tab.network_s[uid] += back
        heapq.heappush(self._heap, (end + back, self._seq, self._completes, uid))
        self._seq += 1

    def _completes(self, now: float, uid: int) -> None:
        tab = self.table
        tab.outcome[uid] = COMPLETED
        tab.finish_s[uid] = now
        tab.idle_j[uid] = self.device_of_task[uid].idle.end(now, self._idle_mark[uid])
        self.finished += 1
        self.ended.append(uid)
        if self._task_end_hooks:
            for hook in self._task_end_hooks:
                hook(self, uid)
        pending = self._pending_parents
        tasks = self.tasks
        for child in tasks[uid].children:
            pending[child] -= 1
            if pending[child] == 0:
                self._release(now, tasks[child])

    def _end(self, now: float, uid: int, outcome: int, reason: str, propagate: bool = True) -> None:
        tab = self.table
        tab.outcome[uid] = outcome
        tab.reason[uid] = reason
        tab.finish_s[uid] = now
        task = self.tasks[uid]
        tab.idle_j[uid] = self.device_of_task[uid].idle.end(now, self._idle_mark[uid])
        self.finished += 1
        self.ended.append(uid)
        for hook in self._task_end_hooks:
            hook(self, uid)
        if outcome != COMPLETED and propagate:
            self._drop_descendants(now, task, "an ancestor failed" if outcome == FAILED else "an ancestor was dropped")

    def _drop_descendants(self, now: float, task: Task, reason: str) -> None:
        tab = self.table
        stack = list(task.children)
        while stack:
            uid = stack.pop()
            if tab.outcome[uid] != PENDING:
                continue
            tab.outcome[uid] = DROPPED
            tab.reason[uid] = reason
            tab.finish_s[uid] = now
            self.finished += 1
            self.ended.append(uid)
            for hook in self._task_end_hooks:
                hook(self, uid)
            stack.extend(self.tasks[uid].children)

    def _close(self, end_s: float) -> None:
        """Stop time: drop what is unfinished, then integrate idle power up to `end_s` everywhere."""
        tab = self.table
        for uid, outcome in enumerate(tab.outcome):
            if outcome != PENDING:
                continue
            if math.isnan(tab.release_s[uid]):
                tab.outcome[uid] = DROPPED
                tab.reason[uid] = "stop time reached before the task was released"
                tab.finish_s[uid] = end_s
                self.finished += 1
                self.ended.append(uid)
                for hook in self._task_end_hooks:
                    hook(self, uid)
            else:
                self._end(end_s, uid, DROPPED, "stop time reached before the task finished", propagate=False)
        for node in (*self.devices, *self.servers):
            node.idle.advance(end_s)

    # -- what policies see (SystemView) ----------------------------------------------------------------

    @property
    def n_servers(self) -> int:
        return len(self.servers)

    @property
    def edge_servers(self) -> list[int]:
        return self._edge_servers

    def server_name(self, target: int) -> str:
        return "local" if target == LOCAL else self.servers[target].name

    def server_backlog_s(self, target: int) -> float:
        return max(self.servers[target].core_free[0] - self.now, 0.0)

    def _device_of(self, task: Task) -> Device:
        return self.device_of_task[task.uid]

    def compute_s(self, task: Task, target: int) -> float:
        node = self._device_of(task) if target == LOCAL else self.servers[target]
        return node.cycles_of(task) * node.seconds_per_cycle

    def transfer_s(self, task: Task, target: int) -> float:
        if target == LOCAL:
            return 0.0
        dev = self._device_of(task)
        link = self.world.uplinks[dev.cell]
        hop = self.world.hops[target]
        up = link.estimate_s(dev.sender, task.input_bytes * 8.0, self.now) if task.input_bytes else 0.0
        down = task.output_bytes * 8.0 / link.figures.downlink_rate_bps
        return up + down + 2 * link.figures.latency_s + hop.seconds(task.input_bytes) + hop.seconds(task.output_bytes)

    def core_free(self, task: Task, target: int) -> list[float]:
        return (self._device_of(task) if target == LOCAL else self.servers[target]).core_free

    def estimate(self, task: Task, target: int) -> tuple[float, float]:
        now = self.now
        dev = self._device_of(task)
        if target == LOCAL:
            start = dev.earliest_start(now)
            cycles = dev.cycles_of(task)
            return start + cycles * dev.seconds_per_cycle, cycles * dev.joules_per_cycle
        server = self.servers[target]
        link = self.world.uplinks[dev.cell]
        fig = link.figures
        hop = self.world.hops[target]
        up = link.estimate_s(dev.sender, task.input_bytes * 8.0, now) if task.input_bytes else 0.0
        arrive = now + up + fig.latency_s + hop.latency_s + task.input_bytes * 8.0 / hop.rate_bps
        free = server.core_free[0]
        start = free if free > arrive else arrive
        down = task.output_bytes * 8.0 / fig.downlink_rate_bps
        compute = server.cycles_of(task) * server.seconds_per_cycle
        finish = start + compute + hop.seconds(task.output_bytes) + fig.latency_s + down
        return finish, dev.profile.tx_power_w * up + dev.profile.rx_power_w * down
