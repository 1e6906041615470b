"""Fault arithmetic shared by the engines: outage windows on a link, and what a server loses when it goes down."""

from __future__ import annotations

import bisect
import math

from edgesplit.model.energy import unrun_share
from edgesplit.model.entities import Node

Windows = list[tuple[float, float]]
"""Sorted, non-overlapping [start, end) intervals."""


def merge_windows(windows: list[tuple[float, float]]) -> Windows:
    """Sort intervals and merge the ones that overlap or touch."""
    out: Windows = []
    for a, b in sorted(windows):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def stall_through(windows: Windows, start: float, seconds: float) -> float:
    """End of `seconds` of sending begun at `start` on a link that sends nothing inside `windows`."""
    i = bisect.bisect_right(windows, (start, math.inf)) - 1
    t = start
    if i >= 0 and windows[i][1] > t:  # begun inside an outage: wait for its end
        t = windows[i][1]
    i += 1
    left = seconds
    while i < len(windows) and windows[i][0] < t + left:
        left -= windows[i][0] - t
        t = windows[i][1]
        i += 1
    return t + left


def deliver_at(windows: Windows, at: float) -> float:
    """When something due at `at` reaches a device whose cell may be out then: the outage's end, else `at`."""
    i = bisect.bisect_right(windows, (at, math.inf)) - 1
    return windows[i][1] if i >= 0 and windows[i][1] > at else at


def refund_unrun(node: Node, at: float, reservations: dict[int, tuple[float, float, float]]) -> list[tuple[int, float]]:
    """Work reserved on `node` (uid -> start, end, energy) and not finished by `at` stops there (a stop time, a
    crash): takes the unexecuted part of its energy and busy time off the node's meters and returns [(task uid,
    refunded J)] in reservation order. Devices and servers follow this same rule."""
    cut: list[tuple[int, float]] = []
    for uid, (start, end, energy) in reservations.items():
        if end <= at:
            continue
        refund = energy * unrun_share(start, end, at)
        node.compute_j -= refund
        node.busy_s -= end - max(start, at)
        cut.append((uid, refund))
    return cut


def take_down(node: Node, now: float, reservations: dict[int, tuple[float, float, float]]) -> list[tuple[int, float]]:
    """`node` goes down at `now`. Work reserved there and not finished by `now` is lost: returns [(task uid,
    refunded energy J)] in arrival order (`refund_unrun`). `reservations` is then emptied. While down, its cores
    are never free, so every estimate of running there is infinite and policies look elsewhere."""
    lost = refund_unrun(node, now, reservations)
    reservations.clear()
    node.alive = False
    node.core_free = [math.inf] * len(node.core_free)
    node.starts.clear()
    return lost


def on_air_s(windows: Windows, start: float, end: float) -> float:
    """Seconds of [start, end) outside the outage `windows`: the time a transfer spanning it was on the air."""
    left = end - start
    i = max(bisect.bisect_right(windows, (start, math.inf)) - 1, 0)
    while i < len(windows) and windows[i][0] < end:
        a, b = windows[i]
        left -= max(0.0, min(b, end) - max(a, start))
        i += 1
    return left


def bring_up(node: Node, now: float) -> None:
    """`node` is back at `now`, empty."""
    node.alive = True
    node.core_free = [now] * len(node.core_free)
