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


# -- radio ----------------------------------------------------------------------------------------------


def power_energy_j(power_w: float, seconds: float) -> float:
    """Energy of drawing `power_w` for `seconds`: a radio on the air, a core busy for a measured time."""
    return power_w * seconds


def transfer_energy_j(power_w: float, bits: float, rate_bps: float) -> float:
    """Energy of sending or receiving `bits` at `rate_bps` with the radio drawing `power_w`."""
    return power_w * bits / rate_bps


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
