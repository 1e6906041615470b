"""Radio transfers of the event engine: a task's input on its cell's uplink and its result on the downlink, on
shared or dedicated links, charged at the radio's consumed power. A mixin of `SimEngine`."""

from __future__ import annotations

from typing import Any

from edgesplit.engines.world import World
from edgesplit.model.energy import power_energy_j, radio_energy_j
from edgesplit.model.entities import Device
from edgesplit.model.network import Link
from edgesplit.results import FAILED, PENDING, TaskTable


class Transfers:
    """Uses the engine's state below and its life-cycle methods (`schedule`, `_travel_to_server`, `_returns`,
    `_completes`, `_end`)."""

    world: World
    table: TaskTable
    device_of_task: list[Device]
    _air: dict[int, tuple[float, float, float, float, bool]]
    _track_air: bool
    _radio_spans: list[list[tuple[float, float, int]]]
    _radio_until: list[float]

    def _transfer(self, now: float, uid: int, dev: Device, link: Link, bits: float) -> None:
        """Put `bits` of task `uid` on `link` (its device's uplink or downlink) at `now`; the record's uplink or
        downlink time counts from here (queueing behind the device's earlier transfers included)."""
        up = link.figures.direction == "up"
        if link.figures.shared:
            link.send(now, dev.sender, bits, self._uploaded if up else self._downloaded, uid)
            return
        # a dedicated link: the transfer's end is known now, so no event is needed for its progress
        start, end, air_s, air_bits, ok = link.reserve(now, dev.sender, bits)
        air_j = self._charge_air(uid, dev, link, start, end, air_s, air_bits)
        if self._track_air:
            self._air[uid] = (start, end, air_s, air_j, up)
        if up:
            self.table.uplink_s[uid] = end - now
            if ok:
                self._travel_to_server(end, uid, dev)
            else:
                self.schedule(end, self._upload_failed, uid)
        else:
            self.table.downlink_s[uid] = end - now
            self.schedule(end, self._returns if ok else self._download_failed, uid)

    def _charge_air(
        self, uid: int, dev: Device, link: Link, start: float, end: float, air_s: float, air_bits: float
    ) -> float:
        """Charge a transfer on `link` that spanned [start, end) with `air_s` seconds on the air: the radio's
        consumed power while sending or receiving, its tail power while stalled by an outage. Returns the on-air
        part."""
        p = dev.profile
        up = link.figures.direction == "up"
        air_j = radio_energy_j(p.radio_base_w, p.radio_up_w_per_bps if up else p.radio_down_w_per_bps, air_s, air_bits)
        energy = air_j + power_energy_j(p.radio_tail_w, end - start - air_s)
        if up:
            dev.tx_j += energy
        else:
            dev.rx_j += energy
        self.table.radio_j[uid] += energy
        self._radio_spans[dev.index].append((start, end, uid))
        if end > self._radio_until[dev.index]:
            self._radio_until[dev.index] = end
        return air_j

    def _uploaded(self, now: float, transfer: Any) -> None:
        """A shared cell finished sending a task's input."""
        uid = transfer.arg
        if self.table.outcome[uid] != PENDING:
            return
        dev = self.device_of_task[uid]
        self._charge_air(uid, dev, self.world.uplinks[dev.cell], transfer.started_s, now, transfer.air_s, transfer.bits)
        self.table.uplink_s[uid] = now - transfer.queued_s
        if transfer.ok:
            self._travel_to_server(now, uid, dev)
        else:
            self._upload_failed(now, uid)

    def _downloaded(self, now: float, transfer: Any) -> None:
        """A shared cell finished sending a task's result to its device."""
        uid = transfer.arg
        if self.table.outcome[uid] != PENDING:
            return
        dev = self.device_of_task[uid]
        link = self.world.downlinks[dev.cell]
        self._charge_air(uid, dev, link, transfer.started_s, now, transfer.air_s, transfer.bits)
        self.table.downlink_s[uid] = now - transfer.queued_s
        if transfer.ok:
            self._completes(now, uid)
        else:
            self._download_failed(now, uid)

    def _upload_failed(self, now: float, uid: int) -> None:
        if self.table.outcome[uid] != PENDING:
            return
        self._end(now, uid, FAILED, "upload lost: every retransmission failed")

    def _download_failed(self, now: float, uid: int) -> None:
        if self.table.outcome[uid] != PENDING:
            return
        self._end(now, uid, FAILED, "result lost on the downlink: every retransmission failed")
