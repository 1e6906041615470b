"""The event engine: the life of every task (arrive, release, place, compute or upload, return, complete), as
handlers on the event loop; radio transfers, faults, cut work and the policies' view are the mixins around it."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any

from edgesplit.engines.cuts import CutWork
from edgesplit.engines.faults import FaultHandlers
from edgesplit.engines.loop import EventLoop
from edgesplit.engines.observer import RunObserver
from edgesplit.engines.transfers import Transfers
from edgesplit.engines.view import EngineView
from edgesplit.engines.world import World, build_world
from edgesplit.model.entities import Device, Node
from edgesplit.model.faults import deliver_at, refund_unrun
from edgesplit.policies.base import LOCAL, Policy
from edgesplit.results import COMPLETED, DROPPED, FAILED, PENDING, CellMeters, NodeMeters, RunData, RunResult, TaskTable
from edgesplit.scenario import DeviceLeave, Scenario, ServerDown
from edgesplit.workload.build import BuiltWorkload
from edgesplit.workload.dag import Job, Task


class SimEngine(FaultHandlers, CutWork, Transfers, EngineView, EventLoop):
    """Runs one scenario's workload on its world.

    Life of a task: its job arrives -> it is released when all its parents have finished -> the policy picks
    LOCAL or a server -> LOCAL: it queues on its device's cores; remote: its input crosses the cell uplink
    (shared with the cell's other transfers), then the backhaul, queues on the server's cores, and its result
    comes back over backhaul and downlink -> it completes and releases its children. A lost upload fails the
    task; a task released after its job's deadline is dropped when `drop_expired` is set; whatever has not
    finished when the stop time comes is dropped. A failed or dropped task drops all its descendants.

    Arrivals at servers, whose order the Ray engine must reproduce across actors, come before other events of
    their time, by task uid (`schedule_keyed` with key uid - number of tasks).
    """

    def __init__(
        self,
        scenario: Scenario,
        workload: BuiltWorkload,
        policy: Policy | None,
        observers: Sequence[RunObserver] = (),
    ) -> None:
        stop = scenario.stop.max_time_s
        super().__init__(observers, stop if stop is not None else math.inf)
        self.scenario = scenario
        self.workload = workload
        self.jobs: list[Job] = workload.jobs
        self.tasks: list[Task] = workload.tasks
        self.policy = policy
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
        self.finished = 0
        self._edge_servers = [i for i, kind in enumerate(self.world.server_kind) if kind == "edge"]
        self._hop_latency_s = [h.latency_s for h in self.world.hops]
        self._hop_s_per_byte = [8.0 / h.rate_bps for h in self.world.hops]
        self.ended: list[int] = []  # uids in the order they completed, failed or were dropped
        self._task_end_hooks: list[Callable[[SimEngine, int], None]] = []
        n = self._n_tasks = len(self.tasks)
        self._back_s = [0.0] * n  # a remote task's way back, known when its input leaves the device
        self._due = [math.nan] * n  # when the pending result of a remote task is due (nan: none, or cancelled)
        self.faults = scenario.faults
        downs = any(isinstance(f, ServerDown) for f in self.faults)
        # What each server holds (uid -> start, end, energy): what it loses when it goes down, or what the stop
        # time cuts short.
        self._reservations = [{} for _ in self.servers] if downs or self.stop_s < math.inf else None
        # Each task's latest dedicated-link transfer (uid -> start, end, seconds on the air, energy on the air,
        # upload): what a departure or the stop time cuts short.
        self._air: dict[int, tuple[float, float, float, float, bool]] = {}
        self._track_air = self.stop_s < math.inf or any(isinstance(f, DeviceLeave) for f in self.faults)
        # Per device: the work it has sent to servers that has not reached them (uid, server, arrival, seconds of
        # compute there, arrival known). A device knows what it sent; estimates count it (engines/view.py).
        self._outstanding: list[list[list[Any]]] = [[] for _ in self.devices]
        n_edge = sum(1 for kind in self.world.server_kind if kind == "edge")
        self._track_outstanding = policy is None or policy.reads_server_state(n_edge)
        # Per device: its radio's busy spans (start, end, uid), for the tail energy after each burst.
        self._radio_spans: list[list[tuple[float, float, int]]] = [[] for _ in self.devices]
        self._radio_until = [0.0] * len(self.devices)  # the end of the latest radio activity known per device
        # What the servers reported computing (uid -> start, end, energy), when a stop time may cut it short.
        self._served: dict[int, tuple[float, float, float]] = {}
        self._track_served = self.stop_s < math.inf
        self._down_fault = [-1] * len(self.servers)  # index in `faults` of the server's current downtime
        self.redispatches: dict[int, int] = {}  # uid -> times a lost task was placed again

    # -- driving a run ---------------------------------------------------------------------------------

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
        return super().advance()

    def decide(self, target: int) -> None:
        """Place the task that `advance` returned: LOCAL or a server index. A bad target is refused and the task
        keeps waiting for a decision."""
        if not self.awaiting:
            raise RuntimeError("no task awaits a decision: call advance() first")
        if not LOCAL <= target < len(self.servers):
            raise ValueError(f"target {target} is neither LOCAL (-1) nor a server index below {len(self.servers)}")
        self._dispatch(self.now, self.awaiting.popleft(), target)

    def finish(self) -> RunResult:
        """Close the run at its end time (dropping what is unfinished) and build the accounted result."""
        if self.awaiting:
            raise RuntimeError(f"{len(self.awaiting)} task(s) still await a decision")
        self.start()
        end_s = self.end_s
        self.now = end_s
        self._close(end_s)
        result = RunResult.build(self.run_data(), wall_s=time.perf_counter() - self._wall0)  # type: ignore[operator]
        for ob in self.observers:
            ob.on_progress(self)
            ob.on_end(self, result)
        return result

    def run_data(self) -> RunData:
        """What the run's result is built from: the task table, the jobs and every node's and cell's meters."""
        cells = self.scenario.network.cells
        return RunData(
            scenario=self.scenario,
            workload=self.workload,
            table=self.table,
            task_device=[d.index for d in self.device_of_task],
            devices=[_meters(d) for d in self.devices],
            servers=[_meters(s) for s in self.servers],
            end_s=self.now,
            events=self.events,
            redispatches=self.redispatches,
            cells=[
                CellMeters(c.name, awake.busy_s(self.now), sending.busy_s(self.now))
                for c, awake, sending in zip(cells, self.world.awake, self.world.sending, strict=True)
            ],
        )

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
            self.schedule(end, self._completes, uid)
            return
        dev.offloaded += 1
        if self._track_outstanding:
            server = self.servers[target]
            seconds = server.cycles_of(task) * server.seconds_per_cycle
            self._outstanding[dev.index].append([uid, target, self._arrival_estimate(task, target), seconds, False])
        bits = task.input_bytes * 8.0
        if bits <= 0.0:
            self._travel_to_server(now, uid, dev)
        else:
            self._transfer(now, uid, dev, self.world.uplinks[dev.cell], bits)

    def _travel_to_server(self, now: float, uid: int, dev: Device) -> None:
        """The input has left the device at `now`: it reaches the server after latency, jitter and backhaul.
        Both legs' radio delays are drawn now, so that every draw of a device happens on the device's side, and
        the result's wired way back (backhaul, radio latency) is known from here on."""
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
        self._back_s[uid] = hop_latency + task.output_bytes * hop_s_per_byte + ret
        delay += hop_latency + task.input_bytes * hop_s_per_byte
        self.table.network_s[uid] += delay
        if self._track_outstanding:
            for entry in self._outstanding[dev.index]:
                if entry[0] == uid:  # its arrival is known from now on
                    entry[2], entry[4] = now + delay, True
                    break
        self._send_to_server(now + delay, uid)

    def _send_to_server(self, at: float, uid: int) -> None:
        # Arrivals carry a negative key (uid - number of tasks) instead of a sequence number: at equal times
        # they come before other events and in uid order, an order the Ray engine's server actors can keep.
        self.schedule_keyed(at, uid - self._n_tasks, self._arrives_at_server, uid)

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
        crosses the backhaul and the radio latency, then the cell's downlink (`_download`)."""
        tab = self.table
        tab.start_s[uid] = start
        tab.queue_s[uid] = start - arrived
        tab.compute_s[uid] = end - start
        tab.server_j[uid] += energy
        if self._track_served:
            self._served[uid] = (start, end, energy)
        back = self._back_s[uid]
        tab.network_s[uid] += back
        at = end + back
        self._due[uid] = at
        self.schedule(at, self._download, uid)

    def _download(self, now: float, uid: int) -> None:
        """The result reaches the base station (unless the task was lost on a server that went down, or ended):
        it goes on the downlink to the device."""
        if self._due[uid] != now or self.table.outcome[uid] != PENDING:
            return
        dev = self.device_of_task[uid]
        link = self.world.downlinks[dev.cell]
        bits = self.tasks[uid].output_bytes * 8.0
        if bits > 0.0:
            self._transfer(now, uid, dev, link, bits)
        elif link.outages and deliver_at(link.outages, now) > now:  # an empty result still waits for the cell
            self.schedule(deliver_at(link.outages, now), self._returns, uid)
        else:
            self._returns(now, uid)

    def _returns(self, now: float, uid: int) -> None:
        """The result has reached the device."""
        if self.table.outcome[uid] == PENDING:
            self._completes(now, uid)

    def _completes(self, now: float, uid: int) -> None:
        tab = self.table
        if tab.outcome[uid] != PENDING:  # its device left meanwhile
            return
        tab.outcome[uid] = COMPLETED
        tab.finish_s[uid] = now
        tab.idle_j[uid] = self.device_of_task[uid].idle.end(now, self._idle_mark[uid])
        self.finished += 1  # _ended(uid), inlined: every task that completes passes here
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

    def _ended(self, uid: int) -> None:
        self.finished += 1
        self.ended.append(uid)
        for hook in self._task_end_hooks:
            hook(self, uid)

    def _end(self, now: float, uid: int, outcome: int, reason: str, propagate: bool = True) -> None:
        """Task `uid`, released and in flight, ends with `outcome`; its descendants are dropped unless it
        completed or `propagate` is off."""
        tab = self.table
        tab.outcome[uid] = outcome
        tab.reason[uid] = reason
        tab.finish_s[uid] = now
        tab.idle_j[uid] = self.device_of_task[uid].idle.end(now, self._idle_mark[uid])
        self._ended(uid)
        if outcome != COMPLETED and propagate:
            reason = "an ancestor failed" if outcome == FAILED else "an ancestor was dropped"
            self._drop_descendants(now, self.tasks[uid], reason)

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
        self._ended(uid)

    def _close(self, end_s: float) -> None:
        """Stop time: what is unfinished is dropped, charged only for the work that happened by `end_s`; then idle
        power and the radios' tails are integrated up to `end_s` everywhere."""
        for link in (*self.world.uplinks, *self.world.downlinks):
            for tr in link.on_air(end_s):
                self._cut_transfer(end_s, link, tr)
        tab = self.table
        for uid, outcome in enumerate(tab.outcome):
            if outcome != PENDING:
                continue
            if math.isnan(tab.release_s[uid]):
                self._drop_unreleased(end_s, uid, "stop time reached before the task was released")
            else:
                self._cut(end_s, uid)
                self._end(end_s, uid, DROPPED, "stop time reached before the task finished", propagate=False)
        if self._reservations is not None:  # the servers' meters (their tasks' shares were taken in _cut)
            for server, held in zip(self.servers, self._reservations, strict=True):
                refund_unrun(server, end_s, held)
        for dev in self.devices:
            self._charge_tails(dev, end_s)
        for node in (*self.devices, *self.servers):
            node.idle.advance(end_s)


def _meters(node: Node) -> NodeMeters:
    radio = node.tx_j + node.rx_j if isinstance(node, Device) else 0.0
    battery = node.battery_left_j() if isinstance(node, Device) else None
    return NodeMeters(node.name, node.group, node.compute_j, radio, node.idle.total_j, battery)
