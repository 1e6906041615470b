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
from edgesplit.model.faults import bring_up, deliver_at, merge_windows, take_down
from edgesplit.policies.base import LOCAL, Policy
from edgesplit.results import COMPLETED, DROPPED, FAILED, PENDING, RunResult, TaskTable
from edgesplit.scenario import LinkOutage, Scenario, ServerDown
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

    Events are (time, key, handler, argument) tuples on one heap. The key is a sequence number, so simultaneous
    events run in the order they were scheduled in and a run is a pure function of scenario and seed; arrivals
    at servers, whose order the Ray engine must reproduce across actors, come first, by task uid.
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
        # A Ray device shard holds None for the tasks of other shards' devices.
        self.device_of_task: list[Device] = [
            self.devices[self.jobs[t.job_uid].device] if t is not None else None  # type: ignore[misc]
            for t in self.tasks
        ]
        self._pending_parents = [len(t.parents) if t is not None else 0 for t in self.tasks]
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
        n = self._n_tasks = len(self.tasks)
        self._back_s = [0.0] * n  # a remote task's way back, known when its input leaves the device
        self._due = [math.nan] * n  # when the pending result of a remote task is due (nan: none, or cancelled)
        self.faults = scenario.faults
        downs = any(isinstance(f, ServerDown) for f in self.faults)
        # What each server holds (uid -> start, end, energy): what it loses when it goes down.
        self._reservations = [{} for _ in self.servers] if downs else None
        self._down_fault = [-1] * len(self.servers)  # index in `faults` of the server's current downtime
        self.redispatches: dict[int, int] = {}  # uid -> times a lost task was placed again

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
            if job is not None:
                self.schedule(job.arrival_s, self._job_arrives, job)
        self._schedule_faults()
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
        if not self.devices[job.device].alive:
            for task in job.tasks:
                self._drop_unreleased(now, task.uid, "its device was away when the job arrived")
            return
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
        if self.table.outcome[uid] != PENDING:
            return
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
        if self.table.outcome[uid] != PENDING:
            return
        self._end(now, uid, FAILED, "upload lost: every retransmission failed")

    def _travel_to_server(self, now: float, uid: int, dev: Device) -> None:
        """The input has left the device at `now`: it reaches the server after latency, jitter and backhaul.
        Both legs' radio delays are drawn now, so that every draw of a device happens on the device's side, and
        the result's whole way back (backhaul, downlink airtime, radio latency) is known from here on."""
        target = self.table.target[uid]
        fig = self.world.uplinks[dev.cell].figures
        if fig.jitter_s:
            link = self.world.uplinks[dev.cell]
            delay = link.draw_delay_s(dev.sender)
            ret = link.draw_delay_s(dev.sender)
        else:
            delay = ret = fig.latency_s
        task = self.tasks[uid]
        hop_latency, hop_s_per_byte = self._hop_latency_s[target], self._hop_s_per_byte[target]
        out = task.output_bytes
        self._back_s[uid] = hop_latency + out * hop_s_per_byte + out * 8.0 / fig.downlink_rate_bps + ret
        delay += hop_latency + task.input_bytes * hop_s_per_byte
        self.table.network_s[uid] += delay
        self._send_to_server(now + delay, uid)

    def _send_to_server(self, at: float, uid: int) -> None:
        # Arrivals carry a negative key (uid - number of tasks) instead of a sequence number: at equal times
        # they come before other events and in uid order, an order the Ray engine's server actors can keep.
        heapq.heappush(self._heap, (at, uid - self._n_tasks, self._arrives_at_server, uid))

    def _arrives_at_server(self, now: float, uid: int) -> None:
        """Server side: queue the task's work (the server does not know whether its device is still there)."""
        target = self.table.target[uid]
        server = self.servers[target]
        if not server.alive:
            self._lost(uid, now + self._notice_s(uid), 0.0, self._down_fault[target])
            return
        task = self.tasks[uid]
        start, end, energy = server.reserve(now, task.flops * server.cycles_per_flop if task.flops else task.cycles)
        if self._reservations is not None:
            self._reservations[target][uid] = (start, end, energy)
        self._server_done(uid, now, start, end, energy)

    def _server_done(self, uid: int, arrived: float, start: float, end: float, energy: float) -> None:
        """Device side: the server queued the task at `arrived` and computes it in [start, end); its result
        returns over backhaul, downlink and radio latency."""
        tab = self.table
        tab.start_s[uid] = start
        tab.queue_s[uid] = start - arrived
        tab.compute_s[uid] = end - start
        tab.server_j[uid] += energy
        back = self._back_s[uid]
        tab.network_s[uid] += back
        at = end + back
        link = self.world.uplinks[self.device_of_task[uid].cell]
        if link.outages:
            at = deliver_at(link.outages, at)
        self._due[uid] = at
        heapq.heappush(self._heap, (at, self._seq, self._returns, uid))
        self._seq += 1

    def _returns(self, now: float, uid: int) -> None:
        """The result reaches the device (unless the task was lost on a server that went down, or failed)."""
        if self._due[uid] != now or self.table.outcome[uid] != PENDING:
            return
        dev = self.device_of_task[uid]
        energy = (
            dev.profile.rx_power_w
            * self.tasks[uid].output_bytes
            * 8.0
            / self.world.uplinks[dev.cell].figures.downlink_rate_bps
        )
        dev.rx_j += energy
        self.table.radio_j[uid] += energy
        self._completes(now, uid)

    def _completes(self, now: float, uid: int) -> None:
        tab = self.table
        if tab.outcome[uid] != PENDING:  # its device left meanwhile
            return
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
            self._drop_unreleased(now, uid, reason)
            stack.extend(self.tasks[uid].children)

    def _drop_unreleased(self, now: float, uid: int, reason: str) -> None:
        """Drop a task that never started (no idle share: it was never in flight)."""
        tab = self.table
        tab.outcome[uid] = DROPPED
        tab.reason[uid] = reason
        tab.finish_s[uid] = now
        self.finished += 1
        self.ended.append(uid)
        for hook in self._task_end_hooks:
            hook(self, uid)

    # -- faults (scenario `faults:`) -------------------------------------------------------------------

    def _schedule_faults(self) -> None:
        servers = {s.name: i for i, s in enumerate(self.servers)}
        cells = {c.name: i for i, c in enumerate(self.scenario.network.cells)}
        devices = {d.name: i for i, d in enumerate(self.devices)}
        outages: dict[int, list[tuple[float, float]]] = {}
        for fi, f in enumerate(self.faults):
            if isinstance(f, ServerDown):
                s = servers[f.server]
                self.schedule(f.at_s, self._server_goes_down, (s, fi))
                if f.downtime_s is not None:
                    self.schedule(f.at_s + f.downtime_s, self._server_comes_back, s)
            elif isinstance(f, LinkOutage):
                outages.setdefault(cells[f.cell], []).append((f.at_s, f.at_s + f.duration_s))
            elif self._hosts_device(devices[f.device]):
                self.schedule(f.at_s, self._device_leaves, (devices[f.device], fi))
                if f.rejoin_s is not None:
                    self.schedule(f.rejoin_s, self._device_rejoins, devices[f.device])
        for c, windows in outages.items():
            link = self.world.uplinks[c]
            link.outages = merge_windows(windows)
            if link.figures.shared:
                for a, b in link.outages:
                    self.schedule(a, lambda now, lk: lk.pause(now), link)
                    self.schedule(b, lambda now, lk: lk.resume(now), link)

    def _hosts_device(self, index: int) -> bool:
        """Whether this engine drives device `index` (all of them here; a Ray shard drives some)."""
        return True

    def _notice_s(self, uid: int) -> float:
        """How long a device takes to notice that its task's server is gone: one return-path latency."""
        cell = self.world.uplinks[self.device_of_task[uid].cell]
        return self._hop_latency_s[self.table.target[uid]] + cell.figures.latency_s

    def _server_goes_down(self, now: float, arg: tuple[int, int]) -> None:
        s, fault = arg
        self._down_fault[s] = fault
        for uid, refund in take_down(self.servers[s], now, self._reservations[s]):  # type: ignore[index]
            self._lost(uid, now + self._notice_s(uid), refund, fault)

    def _server_comes_back(self, now: float, s: int) -> None:
        bring_up(self.servers[s], now)

    def _lost(self, uid: int, notice_at: float, refund_j: float, fault: int) -> None:
        """Device side: the task's server lost it (`refund_j` of its energy was never spent); its device will
        notice at `notice_at`, and its pending result, if any, will not come."""
        self.table.server_j[uid] -= refund_j
        self._due[uid] = math.nan
        self.schedule(notice_at, self._notices_loss, (uid, fault))

    def _notices_loss(self, now: float, arg: tuple[int, int]) -> None:
        uid, fault = arg
        if self.table.outcome[uid] != PENDING:
            return
        f = self.faults[fault]
        name = self.servers[self.table.target[uid]].name
        tries = self.redispatches.get(uid, 0)
        if f.on_loss == "fail":
            self._end(now, uid, FAILED, f"lost when {name} went down")
        elif tries >= f.redispatch_limit:
            self._end(now, uid, FAILED, f"lost when {name} went down, after {tries} re-dispatch(es)")
        else:
            self.redispatches[uid] = tries + 1
            task = self.tasks[uid]
            self._dispatch(now, task, LOCAL if task.pin == "local" else self.policy.place(task, self))  # type: ignore[union-attr]

    def _device_leaves(self, now: float, arg: tuple[int, int]) -> None:
        d, fi = arg
        dev = self.devices[d]
        dev.alive = False
        fault = self.faults[fi]
        back_at = fault.rejoin_s if fault.rejoin_s is not None else math.inf
        dev.core_free = [back_at] * len(dev.core_free)
        dev.starts.clear()
        link = self.world.uplinks[dev.cell]
        link.cancel_sender(now, dev.sender)
        link.radio_free_s[dev.sender] = now
        tab = self.table
        for uid, owner in enumerate(self.device_of_task):
            if owner is dev and tab.outcome[uid] == PENDING and not math.isnan(tab.release_s[uid]):
                self._end(now, uid, FAILED, "its device left the network")

    def _device_rejoins(self, now: float, d: int) -> None:
        self.devices[d].alive = True

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

    def device_index(self, task: Task) -> int:
        return self.jobs[task.job_uid].device

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
