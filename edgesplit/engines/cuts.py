"""Work cut short (a stop time, a device leaving): the energy of what did not happen is taken back, and the radio
tails are charged when a run closes. A mixin of `SimEngine`."""

from __future__ import annotations

from typing import Any

from edgesplit.engines.world import World
from edgesplit.model.energy import power_energy_j, tail_energy_j, unrun_share
from edgesplit.model.entities import Device
from edgesplit.model.faults import on_air_s
from edgesplit.model.network import Link
from edgesplit.policies.base import LOCAL
from edgesplit.results import PENDING, TaskTable


class CutWork:
    """Uses the engine's state below and its `_charge_air`."""

    world: World
    table: TaskTable
    device_of_task: list[Device]
    _air: dict[int, tuple[float, float, float, float, bool]]
    _served: dict[int, tuple[float, float, float]]
    _radio_spans: list[list[tuple[float, float, int]]]

    def _cut(self, at: float, uid: int) -> None:
        """Task `uid` stops at `at` (stop time, its device left): take back the energy of the work it had
        reserved and not done by then: local compute, a dedicated-link upload or download, server compute."""
        tab = self.table
        target = tab.target[uid]
        dev = self.device_of_task[uid]
        if target == LOCAL:
            start = tab.start_s[uid]
            end = start + tab.compute_s[uid]
            if end > at:
                refund = tab.compute_j[uid] * unrun_share(start, end, at)
                tab.compute_j[uid] -= refund
                dev.compute_j -= refund
                dev.busy_s -= end - max(start, at)
            return
        if target < 0:  # not placed yet
            return
        transfer = self._air.get(uid)
        if transfer is not None and transfer[1] > at:
            start, end, air_s, air_j, up = transfer
            outages = self.world.uplinks[dev.cell].outages  # a cell's outages silence both directions
            from_s = max(start, at)
            left_air = on_air_s(outages, from_s, end) if outages else end - from_s
            refund = (air_j * left_air / air_s if air_s > 0.0 else 0.0) + power_energy_j(
                dev.profile.radio_tail_w, end - from_s - left_air
            )
            if up:
                dev.tx_j -= refund
            else:
                dev.rx_j -= refund
            tab.radio_j[uid] -= refund
        served = self._served.get(uid)
        if served is not None and served[1] > at:
            tab.server_j[uid] -= served[2] * unrun_share(served[0], served[1], at)

    def _cut_transfer(self, at: float, link: Link, tr: Any) -> None:
        """A shared-cell transfer on `link`'s air is cut at `at`: charge what went over the air until then."""
        uid = tr.arg
        if self.table.outcome[uid] == PENDING:
            dev = self.device_of_task[uid]
            self._charge_air(uid, dev, link, tr.started_s, at, tr.air_s, tr.bits - tr.remaining_bits)

    def _charge_tails(self, dev: Device, end_s: float) -> None:
        """After each burst of radio activity the radio stays in its tail state, drawing `radio_tail_w`, until the
        next burst or `radio_tail_s` (Huang et al., MobiSys 2012); the tail is charged to the task whose transfer
        ended the burst. A span with uid -1 marks the device leaving: no tail runs past it."""
        p = dev.profile
        spans = self._radio_spans[dev.index]
        if not spans or p.radio_tail_w <= 0.0 or p.radio_tail_s <= 0.0:
            return
        spans.sort()
        tab = self.table
        burst_end, owner = spans[0][1], spans[0][2]
        for start, end, uid in spans[1:]:
            if start > burst_end:
                if owner >= 0:
                    energy = tail_energy_j(p.radio_tail_w, p.radio_tail_s, start - burst_end)
                    dev.tx_j += energy
                    tab.radio_j[owner] += energy
                burst_end, owner = end, uid
            elif end >= burst_end:
                burst_end, owner = end, uid
        if owner >= 0 and end_s > burst_end:
            energy = tail_energy_j(p.radio_tail_w, p.radio_tail_s, end_s - burst_end)
            dev.tx_j += energy
            tab.radio_j[owner] += energy
        spans.clear()
