"""Network links: bounded-Shannon or fixed-rate cell links (uplink or downlink) shared by the devices using them
at once, with latency, jitter and loss."""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from edgesplit.model.activity import Activity
from edgesplit.model.faults import stall_through
from edgesplit.model.radio import CqiSteps, db_to_linear

Schedule = Callable[[float, Callable[[float, object], None], object], None]


def path_gain(
    distance_m: float, intercept_db: float = 128.1, slope_db: float = 37.6, min_distance_m: float = 0.0
) -> float:
    """Linear channel gain from log-distance path loss in dB: intercept + slope x log10(distance in km), with the
    distance taken as at least `min_distance_m` (the model's range starts there; nearer, the loss stays put)."""
    loss_db = intercept_db + slope_db * math.log10(max(distance_m, min_distance_m) / 1000.0)
    return 10.0 ** (-loss_db / 10.0)


def dbm_to_w(dbm: float) -> float:
    return 10.0 ** ((dbm - 30.0) / 10.0)


def shannon_rate_bps(bandwidth_hz: float, snr_per_hz: float) -> float:
    """Shannon capacity B log2(1 + S/(N0 B)), with snr_per_hz = received power / N0 (in Hz): the unreachable
    bound; links run at `link_rate_bps`."""
    return bandwidth_hz * math.log2(1.0 + snr_per_hz / bandwidth_hz)


@dataclass(frozen=True, slots=True)
class LinkFigures:
    """A cell's figures the engine needs (units: Hz, bit/s, s)."""

    model: str  # "shannon" | "fixed"
    bandwidth_hz: float
    noise_w_per_hz: float
    rate_bps: float | None
    shared: bool
    latency_s: float
    jitter_s: float
    loss: float
    max_retries: int
    direction: str  # "up" | "down"
    noise_figure_db: float  # of the receiver: the base station on the uplink, the device on the downlink
    cqi: CqiSteps | None  # Shannon cells: the CQI table's efficiency steps


def received_snr_per_hz(f: LinkFigures, power_w: float, gain: float, interference_w_per_hz: float = 0.0) -> float:
    """Received power over the receiver's noise-plus-interference density (Hz): P g / (N0 F + I)."""
    return power_w * gain / (f.noise_w_per_hz * db_to_linear(f.noise_figure_db) + interference_w_per_hz)


def link_rate_bps(f: LinkFigures, snr_per_hz: float, sharers: int = 1) -> float:
    """Rate of one device while `sharers` devices (itself included) use this direction of the cell at once.

    Shannon cells give it B/k of the band (OFDMA-style; all of B when unshared) at the CQI efficiency its SINR
    reaches there. Uplink: a sender puts its whole power into its share, SINR = P g / ((N0 F + I) B/k).
    Downlink: the base station spreads its power evenly over the band, so a share gets power in proportion and
    SINR = P g / ((N0 F + I) B) whatever k is: each of k receivers gets exactly 1/k of the solo rate.
    Fixed cells: `rate_bps`, divided by k when `shared`."""
    if f.model == "fixed":
        return f.rate_bps / sharers if f.shared else f.rate_bps  # type: ignore[operator]
    share = f.bandwidth_hz / sharers if f.shared else f.bandwidth_hz
    return share * f.cqi(snr_per_hz / (share if f.direction == "up" else f.bandwidth_hz))  # type: ignore[misc]


class Transfer:
    """One payload crossing a link (`sender`: the device's slot, sending or receiving); `remaining_bits` falls as
    the fluid model advances."""

    __slots__ = (
        "sender",
        "bits",
        "remaining_bits",
        "rate_bps",
        "queued_s",
        "started_s",
        "air_s",
        "ok",
        "on_done",
        "arg",
    )

    def __init__(self, sender: int, bits: float, ok: bool, on_done: Callable, arg: object) -> None:
        self.sender = sender
        self.bits = bits
        self.remaining_bits = bits
        self.rate_bps = 0.0
        self.queued_s = 0.0
        self.started_s = 0.0
        self.air_s = 0.0  # seconds on the air so far (outage pauses excluded)
        self.ok = ok
        self.on_done = on_done
        self.arg = arg


class Link:
    """One direction of one cell: its uplink (devices send) or its downlink (the base station sends to devices).

    Each device has one radio: its transfers in a direction cross one after another (FIFO); a device's slot
    (`sender`) is the same in its cell's uplink and downlink. The devices using a direction at a moment share it:
    Shannon cells split their bandwidth equally among them (OFDMA-style) at the rates of `link_rate_bps`;
    fixed-rate cells give each `rate_bps`, divided by k when `shared`. Rates change whenever a transfer starts or
    stops; the cell then advances every active transfer's remaining bits and wakes itself for the next
    completion (one pending wake-up, older ones are ignored).

    Loss: each attempt is lost with probability `loss` and resent whole; the number of attempts is drawn when
    the transfer is queued (at most 1 + max_retries), so the channel carries attempts x size. If every attempt
    is lost, the transfer ends with ok=False after spending that time and energy.

    Random draws (loss, jitter) come from each sender's own stream, so a device's draws do not depend on what
    other devices do: the Ray engine, which hosts a cell's devices on different actors, draws the same numbers.

    The time the link carries a transfer (stalled by outages included) is marked on `activities` (the cell's
    base station: awake, sending), for its energy: each reserved span on unshared cells, each stretch with a
    transfer on the air on shared ones.
    """

    def __init__(self, index: int, figures: LinkFigures, schedule: Schedule) -> None:
        self.index = index
        self.figures = figures
        self._schedule = schedule
        self.rngs: list[random.Random] = []  # by sender
        self.snr_per_hz: list[float] = []  # by sender slot (device's position in this cell)
        self.queues: list[deque[Transfer]] = []  # by sender; the head is on the air
        self.radio_free_s: list[float] = []  # by sender, for unshared cells (no fluid model needed)
        self.solo_rate_bps: list[float] = []  # by sender: its rate with the cell to itself
        self.active: list[Transfer] = []
        self.outages: list[tuple[float, float]] = []  # sorted [start, end) windows in which the cell sends nothing
        self.paused = False
        self._last_s = 0.0
        self._version = 0
        self.bits_sent = 0.0
        self.activities: tuple[Activity, ...] = ()

    def add_sender(self, tx_power_w: float, gain: float, rng: random.Random, interference_w_per_hz: float = 0.0) -> int:
        """Register a device with its random stream; returns its slot. `tx_power_w`: the transmitter's power (the
        device's on the uplink, the base station's on the downlink); `interference_w_per_hz`: the mean density
        other cells add at the receiver."""
        self.rngs.append(rng)
        self.snr_per_hz.append(received_snr_per_hz(self.figures, tx_power_w, gain, interference_w_per_hz))
        self.queues.append(deque())
        self.radio_free_s.append(0.0)
        self.solo_rate_bps.append(self.rate_bps(len(self.snr_per_hz) - 1, 1))
        return len(self.snr_per_hz) - 1

    def rate_bps(self, sender: int, sharers: int) -> float:
        """Rate of `sender` while `sharers` devices (itself included) are on the air in this direction."""
        return link_rate_bps(self.figures, self.snr_per_hz[sender], sharers)

    def estimate_s(self, sender: int, bits: float, now: float, start: float | None = None) -> float:
        """Seconds from `start` (default: now) until `bits` queued then would have left, if the cell's load
        stayed as it is now (what is queued now drains meanwhile at today's rates)."""
        t0 = now if start is None or start < now else start
        if not self.figures.shared:
            wait = max(self.radio_free_s[sender] - t0, 0.0)
            return wait + bits / self.solo_rate_bps[sender]
        queue = self.queues[sender]
        k = len(self.active) + (0 if queue else 1)
        backlog = sum(tr.remaining_bits for tr in queue)
        if queue and not self.paused and t0 > self._last_s:  # the head has been sending since the last update
            backlog = max(backlog - queue[0].rate_bps * (t0 - self._last_s), 0.0)
        return (backlog + bits) / self.rate_bps(sender, k)

    def draw_attempts(self, sender: int) -> tuple[int, bool]:
        """Attempts the sender's next transfer takes and whether the last one gets through."""
        f = self.figures
        if f.loss <= 0.0:
            return 1, True
        rng = self.rngs[sender]
        for attempt in range(1, f.max_retries + 2):
            if rng.random() >= f.loss:
                return attempt, True
        return f.max_retries + 1, False

    def draw_delay_s(self, sender: int) -> float:
        """Propagation latency plus a uniform jitter in [0, jitter_s] (the sender's stream)."""
        f = self.figures
        return f.latency_s + (self.rngs[sender].random() * f.jitter_s if f.jitter_s > 0.0 else 0.0)

    def reserve(self, now: float, sender: int, bits: float) -> tuple[float, float, float, float, bool]:
        """Unshared cells: queue `bits` on the sender's radio; returns (start, end, seconds on the air, bits sent
        over the air (every attempt), delivered). An outage stalls the transfer: end - start is then longer than
        the time on the air."""
        attempts, ok = self.draw_attempts(sender) if self.figures.loss > 0.0 else (1, True)
        bits *= attempts
        self.bits_sent += bits
        free = self.radio_free_s[sender]
        start = free if free > now else now
        air = bits / self.solo_rate_bps[sender]
        end = stall_through(self.outages, start, air) if self.outages else start + air
        self.radio_free_s[sender] = end
        for activity in self.activities:
            activity.add(start, end, now)
        return start, end, air, bits, ok

    def send(self, now: float, sender: int, bits: float, on_done: Callable, arg: object) -> None:
        """Shared cells: queue a transfer on the sender's radio; `on_done(now, transfer)` runs when its last
        attempt has left. (Unshared cells know each end in advance: use `reserve`.)"""
        if not self.figures.shared:
            raise ValueError("send() is for shared cells; use reserve() on an unshared cell")
        attempts, ok = self.draw_attempts(sender)
        tr = Transfer(sender, bits * attempts, ok, on_done, arg)
        tr.queued_s = now
        self.bits_sent += tr.bits
        queue = self.queues[sender]
        queue.append(tr)
        if len(queue) == 1:
            self._advance(now)
            tr.started_s = now
            if not self.active:
                for activity in self.activities:
                    activity.begin(self, now)
            self.active.append(tr)
            self._reallocate(now)

    def _advance(self, now: float) -> None:
        dt = now - self._last_s
        if dt > 0.0 and not self.paused:
            for tr in self.active:
                tr.remaining_bits -= tr.rate_bps * dt
                tr.air_s += dt
        self._last_s = now

    def pause(self, now: float) -> None:
        """Shared cells: an outage begins; transfers on the air keep their progress and wait."""
        self._advance(now)
        for tr in self.active:
            tr.rate_bps = 0.0
        self.paused = True
        self._version += 1  # the pending wake-up is void

    def resume(self, now: float) -> None:
        """Shared cells: the outage is over; transfers go on from where they stopped."""
        self._last_s = now
        self.paused = False
        self._reallocate(now)

    def on_air(self, now: float, sender: int | None = None) -> list[Transfer]:
        """Shared cells: the transfers on the air at `now` (of `sender`, or all), their progress brought up to
        `now` (what a stop or a departure cuts short). Unshared cells: none (their ends are known in advance)."""
        if not self.figures.shared:
            return []
        self._advance(now)
        return [tr for tr in self.active if sender is None or tr.sender == sender]

    def cancel_sender(self, now: float, sender: int) -> None:
        """The sender's device has left: its transfers stop (their callbacks never run)."""
        if not self.figures.shared:
            return
        self._advance(now)
        self.queues[sender].clear()
        had = bool(self.active)
        self.active = [tr for tr in self.active if tr.sender != sender]
        if had and not self.active:
            for activity in self.activities:
                activity.end(self, now)
        self._reallocate(now)

    def _reallocate(self, now: float) -> None:
        k = len(self.active)
        if not k or self.paused:
            return
        soonest = math.inf
        for tr in self.active:
            tr.rate_bps = self.rate_bps(tr.sender, k)
            soonest = min(soonest, tr.remaining_bits / tr.rate_bps)
        self._version += 1
        self._schedule(now + max(soonest, 0.0), self._wake, self._version)

    def _wake(self, now: float, version: object) -> None:
        if version != self._version:
            return
        self._advance(now)
        # Done = less than a nanosecond of sending left: float rounding must never schedule a wake-up at a time
        # that `now + remaining / rate` cannot represent as later than now.
        done = [tr for tr in self.active if tr.remaining_bits <= tr.rate_bps * 1e-9]
        still = [tr for tr in self.active if tr.remaining_bits > tr.rate_bps * 1e-9]
        for tr in done:
            queue = self.queues[tr.sender]
            queue.popleft()
            if queue:
                nxt = queue[0]
                nxt.started_s = now
                still.append(nxt)
        if not still:
            for activity in self.activities:
                activity.end(self, now)
        self.active = still
        self._reallocate(now)
        for tr in done:
            tr.on_done(now, tr)

    @property
    def current_rate_bps(self) -> float:
        """Sum of the rates of the transfers on the air (shared cells)."""
        return sum(tr.rate_bps for tr in self.active)
