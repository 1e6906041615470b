"""Shared-cell throughput against an independent flow-level model: SimGrid's (CM02, max-min fair sharing),
where Debian's python3-simgrid is installed."""

from __future__ import annotations

import json
import random
import subprocess
from pathlib import Path

import pytest

from edgesplit.engines.loop import EventLoop
from edgesplit.model.network import Link, LinkFigures

SYSTEM_PYTHON = "/usr/bin/python3"
SCRIPT = Path(__file__).with_name("simgrid_cell.py")


def _simgrid_available() -> bool:
    try:
        return subprocess.run([SYSTEM_PYTHON, "-c", "import simgrid"], capture_output=True).returncode == 0
    except OSError:
        return False


pytestmark = pytest.mark.skipif(not _simgrid_available(), reason="python3-simgrid is not installed")


def _transfers(seed: int, devices: int, n: int) -> list[tuple[int, float, int]]:
    """(device, queued at, bytes) of `n` transfers, in queue order."""
    rng = random.Random(seed)
    drawn = [
        (rng.randrange(devices), round(rng.uniform(0.0, 20.0), 3), rng.randrange(10_000, 3_000_000)) for _ in range(n)
    ]
    return sorted(drawn, key=lambda t: t[1])


def _edgesplit_ends(rate_bps: float, devices: int, transfers: list[tuple[int, float, int]]) -> list[float]:
    """The same transfers on edgesplit's shared fixed-rate link, driven by the engine's event loop."""
    loop = EventLoop()
    figures = LinkFigures(
        model="fixed", bandwidth_hz=1.0, noise_w_per_hz=1e-20, rate_bps=rate_bps, shared=True, latency_s=0.0,
        jitter_s=0.0, loss=0.0, max_retries=0, direction="up", noise_figure_db=0.0, cqi=None,
    )  # fmt: skip
    link = Link(0, figures, loop.schedule)
    for _ in range(devices):
        link.add_sender(1.0, 1.0, random.Random(0))
    ends = [0.0] * len(transfers)

    def done(now: float, tr: object) -> None:
        ends[tr.arg] = now  # type: ignore[attr-defined]

    for k, (dev, at, size) in enumerate(transfers):
        loop.schedule(at, lambda now, a: link.send(now, a[0], a[1] * 8.0, done, a[2]), (dev, size, k))
    loop.advance()
    return ends


@pytest.mark.parametrize("seed", [1, 2])
def test_shared_cell_matches_simgrid(seed: int) -> None:
    """Eight devices, 80 transfers queued at random times on a shared 20 Mbit/s cell: every end time agrees
    with SimGrid's to within 1e-6 relative (its solver's precision)."""
    rate_bps = 20e6
    transfers = _transfers(seed, 8, 80)
    spec = json.dumps({"rate_Bps": rate_bps / 8.0, "transfers": transfers})
    out = subprocess.run(
        ["taskset", "-c", "0", SYSTEM_PYTHON, str(SCRIPT)], input=spec, capture_output=True, text=True, check=True
    )
    reference = json.loads(out.stdout.strip().splitlines()[-1])
    ours = _edgesplit_ends(rate_bps, 8, transfers)
    errors = [abs(a - b) / b for a, b in zip(ours, reference, strict=True)]
    assert max(errors) < 1e-6, max(errors)
    assert len({round(e, 6) for e in reference}) > 40  # the transfers really overlapped in many ways
