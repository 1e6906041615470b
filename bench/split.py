"""Split computing benchmark: bytes on the wire, accuracy, latency and device energy of every option per link.

For the RPi 4 and Jetson Nano profiles (edge: `edge-server`) at 1, 5, 10 and 20 Mbit/s and a 20 ms RTT, every
option of `edgesplit split plan`: local inference, offload of the raw or PNG-compressed image, and the splits
after each stage (float32 features, 8-bit features, the learned 8-bit bottleneck). Uses the checkpoint in
runs/split when there is one (`edgesplit split train --dataset mnist ...`), else trains a tiny model on sklearn
digits first and says so. Block times are measured once on this host (one thread) and scaled to each profile
by FLOP rate (see docs/split.md).

    python bench/split.py [--checkpoint runs/split] [--rtt 20ms] [--timing measured|flops] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edgesplit.model.profiles import get_profile  # noqa: E402
from edgesplit.split.checkpoint import REPORT_FILE  # noqa: E402
from edgesplit.split.config import SplitTrainConfig  # noqa: E402
from edgesplit.split.costs import costs_from_checkpoint  # noqa: E402
from edgesplit.split.planner import parse_link, plan  # noqa: E402
from edgesplit.split.train import train_split  # noqa: E402

DEVICES = ("rpi4", "jetson-nano")
RATES_MBPS = (1, 5, 10, 20)


def checkpoint(path: Path, scratch: Path) -> Path:
    """`path` when it holds a trained split model, else a tiny digits model trained into `scratch`."""
    if (path / REPORT_FILE).is_file():
        return path
    print(f"no checkpoint in {path}: training a tiny model on sklearn digits (figures are for 8x8 digits)")
    cfg = SplitTrainConfig(dataset="digits", out=scratch, epochs_teacher=20, epochs_head=20, epochs_kd=10, threads=2)
    train_split(cfg)
    return scratch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, default=ROOT / "runs" / "split")
    parser.add_argument("--rtt", default="20ms")
    parser.add_argument("--timing", choices=["measured", "flops"], default="measured")
    parser.add_argument("--json", type=Path, help="also write every row here")
    args = parser.parse_args()
    _, rtt_s = parse_link("1bps", args.rtt)
    with tempfile.TemporaryDirectory() as scratch:
        ckpt = checkpoint(args.checkpoint, Path(scratch))
        costs = costs_from_checkpoint(ckpt)
    edge = get_profile("edge-server")
    print(
        f"model: {costs.source}; host 1-thread matmul {costs.host_flop_rate / 1e9:.1f} GFLOP/s; RTT {rtt_s * 1e3:g} ms"
    )
    print("per rate: total latency ms and device energy mJ per request; * fastest, + least energy")
    rows = []
    for name in DEVICES:
        plans = {mbps: plan(costs, get_profile(name), edge, mbps * 1e6, rtt_s, args.timing) for mbps in RATES_MBPS}
        header = f"{name:<30}{'wire B':>8}{'acc':>8}{'device ms':>10}" + "".join(
            f"{f'{mbps} Mbit/s ms':>16}{'mJ':>9}" for mbps in RATES_MBPS
        )
        print()
        print(header)
        print("-" * len(header))
        for i, first in enumerate(plans[RATES_MBPS[0]].rows):
            acc = "-" if first.accuracy is None else f"{first.accuracy:.2%}"
            line = f"{first.name:<30}{first.wire_bytes:>8,.0f}{acc:>8}{first.device_s * 1e3:>10.2f}"
            for mbps, p in plans.items():
                r = p.rows[i]
                fast = "*" if r.name == p.fastest else " "
                frugal = "+" if r.name == p.least_energy else " "
                line += f"{r.total_s * 1e3:>15.2f}{fast}{r.energy_j * 1e3:>8.2f}{frugal}"
                rows.append(
                    {"device": name, "mbps": mbps, **r.__dict__, "fastest": fast == "*", "least_energy": frugal == "+"}
                )
            print(line.rstrip())
    print()
    print(f"timing: {p.notes['timing']}")
    print(f"energy: {p.notes['energy']}")
    if args.json:
        args.json.write_text(json.dumps({"costs": costs.to_dict(), "rows": rows}, indent=2) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
