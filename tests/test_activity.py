"""The busy-span union behind base-station energy, against a brute-force union (seeded random spans)."""

from __future__ import annotations

import random

import pytest

from edgesplit.model.activity import Activity


def _brute_union(spans: list[tuple[float, float]], until: float) -> float:
    """Length of the union of `spans` within [0, until), by sorting and sweeping."""
    total, cur_a, cur_b = 0.0, None, None
    for a, b in sorted((a, min(b, until)) for a, b in spans if a < until and b > a):
        if cur_b is None or a > cur_b:
            if cur_b is not None:
                total += cur_b - cur_a
            cur_a, cur_b = a, b
        else:
            cur_b = max(cur_b, b)
    return total + (cur_b - cur_a if cur_b is not None else 0.0)


def _spans(rng: random.Random, n: int) -> list[tuple[float, float, float]]:
    """(made at, start, end): each span made at a time no later than its start, times made in order."""
    out, now = [], 0.0
    for _ in range(n):
        now += rng.expovariate(2.0)
        start = now + rng.choice([0.0, rng.uniform(0, 1.5)])
        out.append((now, start, start + rng.expovariate(1.0)))
    return out


@pytest.mark.parametrize("seed", range(5))
def test_union_matches_brute_force_as_spans_arrive(seed: int) -> None:
    rng = random.Random(seed)
    spans = _spans(rng, 300)
    act = Activity(compact_at=16)  # compact often, so that compaction is checked too
    for made, start, end in spans:
        act.add(start, end, made)
        seen = [(a, b) for m, a, b in spans if m <= made]
        # what is known by `made` is exact up to `made` (no later span can start before it)
        assert act.busy_s(made) == pytest.approx(_brute_union(seen, made), abs=1e-9)
    until = spans[-1][2] + 1.0
    assert act.busy_s(until) == pytest.approx(_brute_union([(a, b) for _, a, b in spans], until), abs=1e-9)


def test_shards_reports_merge_into_the_union() -> None:
    """Two sources of overlapping spans, reported piecemeal (`take_closed`) then at the end (`take_rest`),
    add up at a third to the union of all, not the sum."""
    rng = random.Random(7)
    a_spans, b_spans = _spans(rng, 200), _spans(rng, 200)
    a, b, merged = Activity(compact_at=16), Activity(compact_at=16), Activity()
    for i in range(200):
        a.add(*a_spans[i][1:], a_spans[i][0])
        b.add(*b_spans[i][1:], b_spans[i][0])
        if i % 37 == 0:
            merged.merge(a.take_closed())
            merged.merge(b.take_closed())
    until = 150.0
    merged.merge(a.take_rest(until))
    merged.merge(b.take_rest(until))
    every = [(s, e) for _, s, e in a_spans + b_spans]
    assert merged.busy_s(until) == pytest.approx(_brute_union(every, until), abs=1e-9)
    assert merged.busy_s(until) < a.busy_s(until) + b.busy_s(until)  # overlaps are counted once


def test_open_spans_count_up_to_the_end_and_hold_compaction_back() -> None:
    """A span begun and not ended (a shared link still on the air) counts up to `until`; while it is open, no
    interval after its start is final, however many spans come."""
    act = Activity(compact_at=8)
    act.begin("uplink", 1.0)
    for k in range(28):  # spans inside the open one
        act.add(2.0 + k, 2.5 + k, 2.0 + k)
    assert act.busy_s(29.9) == pytest.approx(28.9)  # [1, 29.9): the open span covers them all
    act.end("uplink", 30.0)
    for j in range(12):  # then twelve half-seconds after it
        act.add(32.0 + j, 32.5 + j, 32.0 + j)
    assert act.busy_s(60.0) == pytest.approx(29.0 + 12 * 0.5)
    assert act.take_rest(60.0)[0] == (1.0, 30.0)
