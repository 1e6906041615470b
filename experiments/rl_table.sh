#!/usr/bin/env bash
# The README's RL table: Com-DDPG and PPO, each trained with three seeds on the real trace sample's training
# split, then every agent and every heuristic evaluated on the held-out jobs (seeds 1-3 of the evaluation).
# Usage: experiments/rl_table.sh [STEPS] [OUT]     (defaults: 30720, runs/rl-seeds); pin it: taskset -c 1 ...
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${1:-30720}
OUT=${2:-runs/rl-seeds}
TRACE=../shared/data/alibaba/alibaba_v2018_batch_task_selected_DAGs.csv
BIN=${EDGESPLIT:-.venv/bin/edgesplit}
checkpoints=()
for algo in com-ddpg ppo; do
  for seed in 0 1 2; do
    dir="$OUT/$algo-s$seed"
    if [ ! -f "$dir/meta.json" ]; then
      "$BIN" train --algo "$algo" --scenario scenarios/alibaba_trace.yaml --steps "$STEPS" --seed "$seed" \
        --out "$dir" --set workload.trace.path=$TRACE
    fi
    checkpoints+=(--checkpoint "$dir")
  done
done
"$BIN" evaluate --scenario scenarios/alibaba_trace.yaml --set workload.trace.path=$TRACE --jobs 300 --seeds 3 \
  --heuristics all "${checkpoints[@]}" --out "$OUT/eval"
