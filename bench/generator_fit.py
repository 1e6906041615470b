"""How close the calibrated generator comes to the real v2018 sample: prints the table of docs/trace.md.

    python bench/generator_fit.py                  # 20,000 generated jobs, seed 1, vs the sample
    python bench/generator_fit.py --jobs 3000 --seed 7
    python bench/generator_fit.py --derive         # the [S] tables of edgesplit/workload/calibrated.py

The sample is `alibaba_v2018_batch_task_selected_DAGs.csv` in shared/data/alibaba beside the repository
(`--sample` points elsewhere); it is never copied into the repository. Exit code 1 when a row is out of
tolerance (25% relative; shares also pass within 1 percentage point).
"""

from __future__ import annotations

import argparse
import pprint
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edgesplit.workload import calibrated  # noqa: E402
from edgesplit.workload.alibaba import read_v2018  # noqa: E402
from edgesplit.workload.shape_stats import compare, derive_tables, markdown_table, shape_stats  # noqa: E402

SAMPLE = ROOT.parent / "shared" / "data" / "alibaba" / "alibaba_v2018_batch_task_selected_DAGs.csv"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sample", type=Path, default=SAMPLE, help="the real v2018 sample rows (CSV)")
    ap.add_argument("--jobs", type=int, default=20_000, help="generated jobs")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--derive", action="store_true", help="print the generator's tables derived from the sample")
    args = ap.parse_args()
    if not args.sample.is_file():
        print(f"no sample at {args.sample} (use --sample)", file=sys.stderr)
        return 2
    sample = read_v2018(args.sample)
    if args.derive:
        classes = [c for c, *_ in calibrated.SHAPES]
        tables = derive_tables(sample, calibrated.SIZE_BINS, classes, calibrated.DURATION_Q)
        for name, value in tables.items():
            print(f"{name} = {pprint.pformat(value, width=110, compact=True)}")
        return 0
    rows = compare(shape_stats(calibrated.generate_jobs(args.jobs, seed=args.seed)), shape_stats(sample))
    print(f"Generator: {args.jobs:,} jobs, seed {args.seed}; sample: {len(sample):,} jobs ({args.sample.name}).\n")
    print(markdown_table(rows))
    return 0 if all(r.ok for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
