"""The Ray engine's coordinator: starts the actors, advances them in conservative windows, merges the records.

Every round, each actor gets the messages the others sent it last round and a horizon, processes its events
before the horizon, and answers with its messages and bounds (all actors of a round run in parallel, one call
each). A shard's horizon is the earliest time any server message could still take effect (results and losses
travel at least one return-path latency); a server's is the earliest time any shard could still send it an
arrival (at least one lookahead: the smallest radio plus wired latency). When the policy reads server queues,
a shard also stops where the arrivals it must replay on its mirrors are all known. Nothing an actor does can
then depend on something it has not yet been told, so the records equal the event engine's.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from edgesplit.engines.observer import RunObserver
from edgesplit.engines.ray.hosts import DeviceShard, ServerHost, lookahead_s, pack_workload
from edgesplit.engines.sim import SimEngine
from edgesplit.errors import UserError
from edgesplit.results import RunResult
from edgesplit.scenario import Scenario


def partition(engine: SimEngine, shards: int) -> list[list[int]]:
    """Devices per shard. A shared cell's devices stay together (the shard arbitrates its medium); devices of
    unshared cells are placed one by one. Units go, largest first, to the shard with the fewest tasks."""
    tasks_of = [0] * len(engine.devices)
    for job in engine.jobs:
        tasks_of[job.device] += len(job.tasks)
    units: dict[Any, list[int]] = {}
    for d in engine.devices:
        key = ("cell", d.cell) if engine.world.uplinks[d.cell].figures.shared else ("device", d.index)
        units.setdefault(key, []).append(d.index)
    ordered = sorted(units.values(), key=lambda u: (-sum(tasks_of[d] for d in u), u[0]))
    load = [0] * shards
    out: list[list[int]] = [[] for _ in range(shards)]
    for unit in ordered:
        i = min(range(shards), key=lambda k: (load[k], k))
        out[i].extend(unit)
        load[i] += sum(tasks_of[d] for d in unit) or 1
    return [sorted(u) for u in out if u]


class RayEngine:
    """Runs a scenario on Ray actors: device shards and one actor per server. Same face as `SimEngine.run`."""

    progress_every_s = 0.25

    def __init__(self, scenario: Scenario, local: SimEngine) -> None:
        self.scenario = scenario
        self.local = local  # an unrun event engine: the records and meters are merged into it
        self.workload = local.workload
        self.tasks = local.tasks
        self.observers: list[RunObserver] = local.observers
        self.pace: float | None = scenario.engine.time_scale if scenario.engine.clock == "realtime" else None
        self.rounds = 0
        self.placement: dict[str, list[str]] = {}
        if local.policy is not None and local.policy.name == "learned":
            raise UserError("policy kind 'learned' runs on the sim engine (engine.kind: sim)")
        self.lookahead_s = lookahead_s(scenario)
        if self.lookahead_s <= 0.0:
            raise UserError(
                "engine.kind ray needs a positive lookahead: some cell latency plus the backhaul latency is 0;"
                " give network.cells[*].latency_s or network.backhaul.latency_s a value above 0"
            )

    # The RunObserver face of the engine while it runs (progress bars, metrics).
    def __getattr__(self, name: str) -> Any:
        return getattr(self.local, name)

    def run(self) -> RunResult:
        from edgesplit.engines.ray.session import ensure_ray

        ray = ensure_ray(self.scenario.engine.address)
        sc, local = self.scenario, self.local
        wall0 = time.perf_counter()
        n_shards = sc.engine.shards or max(1, int(ray.available_resources().get("CPU", os.cpu_count() or 1)))
        groups = partition(local, min(n_shards, len(local.devices)))
        n_edge = sum(1 for kind in local.world.server_kind if kind == "edge")
        _check_resources(ray, sc.engine.edge_resources, n_edge, "engine.edge_resources")
        _check_resources(ray, sc.engine.shard_resources, len(groups), "engine.shard_resources")
        shard_cls = ray.remote(DeviceShard).options(num_cpus=0, resources=sc.engine.shard_resources or None)
        code = None
        if sc.policy.ref is not None:  # your own policy's code travels to the shards' workers
            from edgesplit.policies.custom import pack_code

            code = pack_code(sc.policy.ref)
        mirror = local.policy is not None and local.policy.reads_server_state(len(local._edge_servers))
        shards = [
            shard_cls.remote(i, sc, pack_workload(local.workload, set(g)), g, mirror, code)
            for i, g in enumerate(groups)
        ]
        servers = [
            ray.remote(ServerHost)
            .options(num_cpus=0, resources=(sc.engine.edge_resources if kind == "edge" else None) or None)
            .remote(sc, s)
            for s, kind in enumerate(local.world.server_kind)
        ]
        infos = ray.get([a.info.remote() for a in (*shards, *servers)])
        self.placement = {
            "shards": [i["node"] for i in infos[: len(shards)]],
            "servers": [i["node"] for i in infos[len(shards) :]],
        }
        lookahead = [i["lookahead_s"] for i in infos[: len(shards)]]
        self.back_min_s = [i["back_min_s"] for i in infos[len(shards) :]]
        if sc.engine.clock == "realtime" and sc.workload.source == "dnn":  # real tensors over gRPC
            addresses = [i["rpc"] for i in infos[len(shards) :]]
            ray.get([s.connect.remote(addresses) for s in shards])
        if self.pace:
            start_at = time.time() + 0.2
            ray.get([s.set_clock.remote(start_at, self.pace) for s in shards])
        for ob in self.observers:
            ob.on_start(self)
        end_s = self._loop(ray, shards, servers, lookahead, mirror)
        results = ray.get([s.finish.remote(end_s) for s in shards])
        nodes = ray.get([s.finish.remote(end_s) for s in servers])
        for actor in (*shards, *servers):
            ray.kill(actor)
        self._merge(results, nodes, end_s)
        result = RunResult.build(local.run_data(), wall_s=time.perf_counter() - wall0)
        for ob in self.observers:
            ob.on_progress(self)
            ob.on_end(self, result)
        return result

    def _loop(self, ray: Any, shards: list[Any], servers: list[Any], lookahead: list[float], mirror: bool) -> float:
        """Rounds until nothing is left before the stop time; returns the run's end time."""
        stop_s = self.local.stop_s
        inf = math.inf
        back_min = self.back_min_s
        n_sh, n_sv = len(shards), len(servers)
        to_shard: list[list[bytes]] = [[] for _ in range(n_sh)]
        to_server: list[list[bytes]] = [[] for _ in range(n_sv)]
        replay: list[bytes] = []
        h_shard = [0.0] * n_sh
        h_server = [0.0] * n_sv
        next_shard = [0.0] * n_sh
        next_server = [inf] * n_sv
        last_report = time.perf_counter()
        answers: list[Any] = [({}, inf, 0.0, 0)] * n_sh + [({}, ({}, inf, -inf), inf)] * n_sv
        while True:
            # Only actors with messages or events before their horizon are called; the others' state is as
            # they last reported it. In mirror mode every shard gets every batch of arrivals and skips its own.
            called = [i for i in range(n_sh) if to_shard[i] or replay or next_shard[i] < h_shard[i]]
            called += [n_sh + s for s in range(n_sv) if to_server[s] or next_server[s] < h_server[s]]
            calls = [
                shards[k].step.remote(h_shard[k], to_shard[k], replay)
                if k < n_sh
                else servers[k - n_sh].step.remote(h_server[k - n_sh], to_server[k - n_sh])
                for k in called
            ]
            for k, answer in zip(called, ray.get(calls), strict=True):
                answers[k] = answer
            for i in range(n_sh):  # what a shard sent is delivered once
                if i not in called:
                    answers[i] = ({}, inf, next_shard[i], answers[i][3])
            for s in range(n_sv):
                if n_sh + s not in called:
                    answers[n_sh + s] = ({}, answers[n_sh + s][1], next_server[s])
            self.rounds += 1
            to_shard = [[] for _ in range(n_sh)]
            to_server = [[] for _ in range(n_sv)]
            finished = 0
            pending_arrival = inflight_due = inf
            first_sent = [inf] * n_sh
            for i in range(n_sh):
                sent, first_sent[i], next_shard[i], done = answers[i]
                finished += done
                pending_arrival = min(pending_arrival, first_sent[i])
                for s, batch in sent.items():
                    to_server[s].append(batch)
            replay = [b for batches in to_server for b in batches] if mirror else []
            # The earliest time a server message could take effect at each shard: messages on their way, the
            # shard's tasks waiting at servers or just sent, a fault's notice, or the results of what the shard
            # sends next (which cannot start before a server's first free core).
            free_from = [answers[n_sh + s][1][2] for s in range(n_sv)]
            bound_msg = [
                min(
                    max(min(next_shard[i] + lookahead[i], first_sent[i]), free_from[s]) + back_min[s]
                    for s in range(n_sv)
                )
                for i in range(n_sh)
            ]
            for s in range(n_sv):
                msgs, (waiting, fault_due, _), next_server[s] = answers[n_sh + s]
                for i, (batch, due) in msgs.items():
                    to_shard[i].append(batch)
                    bound_msg[i] = min(bound_msg[i], due)
                    inflight_due = min(inflight_due, due)
                for i, due in waiting.items():
                    bound_msg[i] = min(bound_msg[i], due)
                bound_msg = [min(b, fault_due) for b in bound_msg]
            # The earliest arrival each shard could still send: from its next event or next message, on.
            bound_send = [min(next_shard[i], bound_msg[i]) + lookahead[i] for i in range(n_sh)]
            h_server = [min(bound_send, default=inf)] * n_sv
            h_shard = list(bound_msg)
            if mirror:  # a shard's mirrors need every other shard's arrivals before its horizon
                for i in range(n_sh):
                    others = [b for j, b in enumerate(bound_send) if j != i]
                    h_shard[i] = min(h_shard[i], *others) if others else h_shard[i]
            if self.pace:  # real time: keep windows short, so that messages cross in time
                first_h = min(h_shard)
                h_shard = [min(h, first_h + self.lookahead_s) for h in h_shard]
                h_server = [min(h, first_h + 2 * self.lookahead_s) for h in h_server]
            self.local.finished = finished
            work_left = min(*next_shard, *next_server, inflight_due, pending_arrival)
            if work_left > stop_s or work_left == inf:
                ended = work_left < inf
                return stop_s if ended else self._last_event_time(ray, shards, servers)
            now = time.perf_counter()
            if self.observers and now - last_report >= self.progress_every_s:
                last_report = now
                self.local.now = min(min(h_shard), stop_s)
                self._pull_meters(ray, shards)
                for ob in self.observers:
                    ob.on_progress(self)

    def _last_event_time(self, ray: Any, shards: list[Any], servers: list[Any]) -> float:
        """The time of the run's last event over all actors (the event engine's end time)."""
        times = ray.get([s.now.remote() for s in shards])
        times += ray.get([s.last.remote() for s in servers])
        return max(times, default=0.0)

    def _pull_meters(self, ray: Any, shards: list[Any]) -> None:
        for part in ray.get([s.meters.remote() for s in shards]):
            for d, values in part.items():
                _set_meters(self.local.devices[d], values)
        for part in ray.get([s.activity.remote() for s in shards]):
            self._merge_activity(part)

    def _merge_activity(self, part: list[tuple[list[tuple[float, float]], list[tuple[float, float]]]]) -> None:
        world = self.local.world
        for c, (awake, sending) in enumerate(part):
            world.awake[c].merge(awake)
            world.sending[c].merge(sending)

    def _merge(self, results: Sequence[dict[str, Any]], nodes: Sequence[Any], end_s: float) -> None:
        local = self.local
        tab = local.table
        # Each column is scattered from the shards' parts in C (numpy), then turned back into a list.
        n = len(tab.outcome)
        for name in results[0]["columns"] if results else ():
            first = results[0]["columns"][name]
            merged = np.empty(n, dtype=first.dtype)
            for part in results:
                merged[part["uids"]] = part["columns"][name]
            setattr(tab, name, merged.tolist())
        for part in results:
            for d, dev in part["devices"].items():
                _set_meters(local.devices[d], dev)
            local.decisions = [a + b for a, b in zip(local.decisions, part["decisions"], strict=True)]
            local.events += part["events"]
            local.redispatches.update(part["redispatches"])
            for j, meta in part["metas"].items():
                local.jobs[j].meta = meta
            for link, bits in zip((*local.world.uplinks, *local.world.downlinks), part["bits_sent"], strict=True):
                link.bits_sent += bits
            self._merge_activity(part["activity"])
        for s, node in enumerate(nodes):
            _set_meters(local.servers[s], node)
        local.finished = sum(1 for o in tab.outcome if o)
        # Observers that fold ended tasks (metrics) see them all at the end, in the order they ended.
        local.ended = sorted(range(len(tab.outcome)), key=lambda uid: (tab.finish_s[uid], uid))
        local.now = end_s
        local._close(end_s)


def _check_resources(ray: Any, each: dict[str, float], actors: int, field: str) -> None:
    """Fail clearly, instead of waiting forever, when the cluster cannot host `actors` actors asking `each`."""
    total = ray.cluster_resources()
    for name, amount in each.items():
        if amount * actors > total.get(name, 0.0) + 1e-9:
            raise UserError(
                f"{field}: {actors} actor(s) x {name}={amount:g} need {amount * actors:g}, but the Ray cluster"
                f" offers {total.get(name, 0.0):g} (start nodes with --resources='{{\"{name}\": N}}',"
                " or ask for a fraction per actor)"
            )


def _set_meters(node: Any, meters: dict[str, Any]) -> None:
    """Copy an actor's meters (`hosts.node_meters`) into the driver's node, which the records point at."""
    for name, value in meters.items():
        setattr(node, name, value)
