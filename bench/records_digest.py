"""Digests of every shipped scenario's tasks.csv on both engines: run it before and after a refactor and diff.

    python bench/records_digest.py > before.txt     # on the old commit
    python bench/records_digest.py > after.txt      # on the new one
    diff before.txt after.txt                       # no output: every record is byte-identical

The DNN and cascade scenarios need trained models; the script makes tiny ones (a random split model for 8x8
digits, a cascade trained for a few epochs on digits) so that it runs on a fresh checkout in a few minutes.
alibaba_trace runs whole on sim and on its first `--ray-jobs` jobs on Ray (a queue-reading policy makes Ray runs
round-bound: the whole file takes minutes there).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def fixtures(tmp: Path) -> dict[str, list[str]]:
    """Overrides that make the scenarios needing trained models runnable on tiny ones."""
    from typer.testing import CliRunner

    from edgesplit.cli import cascade as cascade_cli
    from edgesplit.rpc.testing import make_model_dir

    models = tmp / "models"
    sub = make_model_dir(models, "tiny", image_shape=(1, 8, 8), bottleneck_channels=4, seed=3)
    (sub / "card.json").write_text(json.dumps({"head_flops": 2.0e5, "tail_flops": 3.0e6}))
    cascade = tmp / "cascade"
    args = ["train", "--dataset", "digits", "--out", str(cascade), "--epochs-small", "6", "--epochs-large", "2"]
    res = CliRunner().invoke(cascade_cli.app, [*args, "--grid", "300", "--threads", "1"])
    if res.exit_code != 0:
        raise SystemExit(f"cascade training failed:\n{res.output}")
    return {
        "split_mnist": [
            f"workload.dnn.models={models}",
            "workload.dnn.model_id=tiny",
            "workload.dnn.dataset=digits",
            "workload.dnn.requests=200",
        ],
        "cascade_mnist": [f"workload.cascade.checkpoint={cascade}", "workload.cascade.requests=400"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--engines", default="sim,ray", help="comma-separated engines (default: sim,ray)")
    ap.add_argument("--ray-jobs", type=int, default=150, help="alibaba_trace jobs on Ray (default 150)")
    ap.add_argument("--only", default="", help="comma-separated scenario names (default: all in scenarios/)")
    args = ap.parse_args()

    from edgesplit.run import run_scenario
    from edgesplit.scenario import load_scenario

    engines = args.engines.split(",")
    only = set(filter(None, args.only.split(",")))
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        extra = fixtures(tmp)
        for path in sorted((ROOT / "scenarios").glob("*.yaml")):
            name = path.stem
            if only and name not in only:
                continue
            for engine in engines:
                sets = [*extra.get(name, []), f"engine.kind={engine}", "outputs.plots=false"]
                if engine == "ray" and name == "alibaba_trace":
                    sets.append(f"workload.trace.max_jobs={args.ray_jobs}")
                result = run_scenario(load_scenario(path, sets))
                out = tmp / f"{name}-{engine}"
                result.write(out)
                digest = hashlib.sha256((out / "tasks.csv").read_bytes()).hexdigest()
                print(f"{name:16} {engine:4} {result.n_tasks:7} tasks  {digest}", flush=True)


if __name__ == "__main__":
    main()
