#!/usr/bin/env bash
# The SMAX sample-efficiency study (docs/results.md): train <alg> on <map> for <t_max> env steps with
# checkpoints every <interval> steps, then re-evaluate every checkpoint with 1,024 test episodes
# (evaluation seed 0: the same scenarios for every algorithm and checkpoint).
#
#   experiments/smax_study.sh <results_dir> <map> <t_max> <interval> <alg> <seed> [overrides...]
#
# Only the checkpoints nearest to multiples of 25,000 steps are evaluated (set STUDY_EVAL_STEPS to
# change them); STUDY_EVAL_OVERRIDES are passed to the evaluations (e.g. `batch_size_run=32`: MAZero's
# test searches then run 32 episodes at once, for about the cost of 8). Writes <results_dir>/sacred/<n>/ (the run's sacred record), <results_dir>/models/<run>/ (checkpoints)
# and <results_dir>/eval/<alg>_<map>_seed<seed>.csv (the 1,024-episode evaluations).
set -euo pipefail
results=$1 map=$2 t_max=$3 interval=$4 alg=$5 seed=$6
shift 6
cd "$(dirname "$0")/.."
mkdir -p "$results/eval" "$results/logs"
log="$results/logs/${alg}_${map}_seed${seed}.log"
python src/main.py --config="$alg" --env-config=sc2 with env_args.map_name="$map" seed="$seed" \
    t_max="$t_max" save_model=True save_model_interval="$interval" torch_threads=1 \
    results_dir="$results" "$@" > "$log" 2>&1
run_dir=$(ls -d "$results/models/${alg}__"*"${map}"*"__seed${seed}__"* | tail -n 1)
python -m tools.evaluate_checkpoints "$run_dir" --episodes 1024 --seed 0 \
    --steps ${STUDY_EVAL_STEPS:-$(seq -s ' ' 25000 25000 "$t_max")} \
    --out "$results/eval/${alg}_${map}_seed${seed}.csv" -- ${STUDY_EVAL_OVERRIDES:-} >> "$log" 2>&1
