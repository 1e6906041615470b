"""Every energy formula of the world model: compute, radio, idle (shared by the tasks in flight), in joules."""

from __future__ import annotations

# -- compute --------------------------------------------------------------------------------------------


def kappa_core_power_w(kappa: float, cpu_hz: float) -> float:
    """Dynamic power of one busy core in the MEC literature's model: kappa f^3 (energy kappa f^2 per cycle)."""
    return kappa * cpu_hz**3


def kappa_energy_j(kappa: float, cpu_hz: float, cycles: float) -> float:
    """Dynamic energy of `cycles` at `cpu_hz` in the kappa model: kappa f^2 per cycle."""
    return kappa * cpu_hz**2 * cycles


def busy_energy_j(core_power_w: float, cycles: float, cpu_hz: float) -> float:
    """Dynamic energy of `cycles` on one core that draws `core_power_w` above idle while it computes."""
    return core_power_w * cycles / cpu_hz


def em_core_power_w(coefficient_uw_per_mhz_v2: float, volts: float, cpu_hz: float) -> float:
    """Dynamic power of one busy core in the Linux energy model: C V^2 f, with the device tree's
    `dynamic-power-coefficient` C in uW/MHz/V^2, V in volts and f in MHz."""
    return coefficient_uw_per_mhz_v2 * 1e-6 * volts**2 * (cpu_hz / 1e6)


def kappa_for_core_power(core_power_w: float, cpu_hz: float) -> float:
    """The kappa for which the kappa model's core power kappa f^3 equals `core_power_w` at `cpu_hz`."""
    return core_power_w / cpu_hz**3


# -- radio ----------------------------------------------------------------------------------------------


def power_energy_j(power_w: float, seconds: float) -> float:
    """Energy of drawing `power_w` for `seconds`: a radio on the air, a core busy for a measured time."""
    return power_w * seconds


def radio_energy_j(base_w: float, w_per_bps: float, airtime_s: float, bits: float) -> float:
    """Consumed radio energy of a transfer (Huang et al., MobiSys 2012: P = alpha x throughput + beta while the
    radio transfers): beta x airtime + alpha x bits, since throughput x airtime = the bits that went over the air."""
    return base_w * airtime_s + w_per_bps * bits


def tail_energy_j(tail_w: float, tail_s: float, gap_s: float) -> float:
    """Energy of the radio's tail after a transfer: it stays at `tail_w` until the next transfer or `tail_s`."""
    return tail_w * min(gap_s, tail_s) if gap_s > 0.0 else 0.0


def tail_added_j(
    tail_w: float, tail_s: float, until: float, now: float, up: tuple[float, float], down_start: float
) -> float:
    """Tail energy that an offload adds to a radio whose last known activity ends at `until`, seen at `now`: its
    upload on the air over `up` = (start, end) and its result's download from `down_start`. The radio idles in
    its tail between transfers (up to `tail_s`) and after the last; the extra is that timeline's tail minus the
    tail it had anyway."""
    if tail_w <= 0.0 or tail_s <= 0.0:
        return 0.0
    start, end = up
    if until <= now:  # idle or in its tail now: the tail left would have run to until + tail_s
        before = max(0.0, min(start, until + tail_s) - now)
        anyway = max(0.0, until + tail_s - now)
    else:  # busy later still: its tail would run after `until`
        before = min(max(start - until, 0.0), tail_s)
        anyway = tail_s
    between = min(max(down_start - end, 0.0), tail_s)
    return tail_w * (before + between + tail_s - anyway)


# -- work cut short -------------------------------------------------------------------------------------


def unrun_share(start: float, end: float, at: float) -> float:
    """Share of work planned over [start, end) that has not run by `at` (a stop, a departure, a crash): the part
    of its energy to take back, so that only work that happened is charged. Devices and servers alike."""
    if at <= start:
        return 1.0
    if at >= end:
        return 0.0
    return (end - at) / (end - start)


# -- idle -----------------------------------------------------------------------------------------------


class IdleMeter:
    """Integrates a node's idle (baseline) power and shares it among the tasks in flight on it.

    Each in-flight task receives power x dt / n over every interval with n tasks in flight; intervals with
    none go to `unattributed_j`. A task's share is the difference of `per_task_j` between its end and its start,
    so every update is O(1) and the shares plus the unattributed part add up to power x elapsed time exactly.
    """

    __slots__ = ("power_w", "inflight", "per_task_j", "unattributed_j", "last_s")

    def __init__(self, power_w: float) -> None:
        self.power_w = power_w
        self.inflight = 0
        self.per_task_j = 0.0
        self.unattributed_j = 0.0
        self.last_s = 0.0

    def advance(self, now: float) -> None:
        dt = now - self.last_s
        if dt > 0.0:
            if self.inflight:
                self.per_task_j += self.power_w * dt / self.inflight
            else:
                self.unattributed_j += self.power_w * dt
            self.last_s = now

    def begin(self, now: float) -> float:
        """A task starts to count; returns the mark to pass to `end`."""
        if now > self.last_s:  # advance(now), inlined: this runs twice per task
            if self.inflight:
                self.per_task_j += self.power_w * (now - self.last_s) / self.inflight
            else:
                self.unattributed_j += self.power_w * (now - self.last_s)
            self.last_s = now
        self.inflight += 1
        return self.per_task_j

    def end(self, now: float, mark: float) -> float:
        """A task stops counting; returns its idle-energy share in joules."""
        if now > self.last_s:  # advance(now), inlined; a task in flight means inflight > 0
            self.per_task_j += self.power_w * (now - self.last_s) / self.inflight
            self.last_s = now
        self.inflight -= 1
        return self.per_task_j - mark

    @property
    def total_j(self) -> float:
        """Idle energy integrated so far (shares handed out or still accruing, plus unattributed)."""
        return self.power_w * self.last_s


# -- per-inference costs (cascade benchmark, split planner) ---------------------------------------------


def flop_energy_j(flops: float, joules_per_flop: float) -> float:
    """Dynamic energy of `flops` floating-point operations at `joules_per_flop` (a FLOP-counted DNN)."""
    return flops * joules_per_flop


def per_request_energy_j(parts: list[tuple[float, float]], requests: int) -> float:
    """Mean energy per request of a stream: sum of (joules per call x calls) over its parts, / requests."""
    return sum(joules * calls for joules, calls in parts) / requests
