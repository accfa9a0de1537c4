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
# and <results_dir>/eval/<label>_<map>_seed<seed>.csv (the 1,024-episode evaluations; STUDY_EVAL_EPISODES
# sets another count; the label is <alg> unless STUDY_LABEL names it, e.g. a sweep variant's
# `mazero+updates1_comm1`, which is the name tools.study shows).
#
# Run again with the same arguments, it resumes: from the newest checkpoint of this (alg, map, seed)
# under <results_dir>/models (its replay too when the run saves it), unless that checkpoint is
# already at t_max; each start writes its own model directory, and the evaluation takes every
# step from the directory that saved it. So a run stopped before t_max is continued by the
# same command, repeated until it has trained to t_max. Each requested step is evaluated from its first
# checkpoint at or after it (at most <interval> later), once: the CSV keeps its rows, and a call
# evaluates only the steps it does not hold yet. STUDY_EVAL_ONLY=1 trains nothing and evaluates the
# steps the run has reached so far (a run stopped before t_max).
set -euo pipefail
results=$1 map=$2 t_max=$3 interval=$4 alg=$5 seed=$6
shift 6
cd "$(dirname "$0")/.."
label=${STUDY_LABEL:-$alg}
mkdir -p "$results/eval" "$results/logs"
log="$results/logs/${alg}_${map}_seed${seed}.log"

run_dirs() {  # this (alg, map, seed)'s model directories that hold a checkpoint, oldest first
    local dir
    for dir in $(ls -d "$results/models/${alg}__"*"${map}__seed${seed}__"* 2>/dev/null | sort); do
        if ls "$dir"/*/checkpoint.pt > /dev/null 2>&1; then echo "$dir"; fi
    done
}
newest_step() {  # the newest saved step of a model directory
    ls "$1" | grep -E '^[0-9]+$' | sort -n | tail -n 1
}

resume=()
last_dir=$(run_dirs | tail -n 1)
if [[ -n "${STUDY_EVAL_ONLY:-}" ]]; then
    if [[ -z "$last_dir" ]]; then echo "$alg $map seed $seed: no checkpoint to evaluate" >&2; exit 1; fi
    echo "$alg $map seed $seed: evaluating the steps reached (STUDY_EVAL_ONLY)" >> "$log"
elif [[ -n "$last_dir" ]]; then
    step=$(newest_step "$last_dir")
    if (( step >= t_max )); then
        echo "$alg $map seed $seed: trained to $step (>= $t_max), evaluating" >> "$log"
    else
        echo "$alg $map seed $seed: resuming from $last_dir at $step" >> "$log"
        resume=("checkpoint_path=$last_dir")
    fi
fi
if [[ -z "${STUDY_EVAL_ONLY:-}" && ( -z "$last_dir" || ${#resume[@]} -gt 0 ) ]]; then
    python src/main.py --config="$alg" --env-config=sc2 with env_args.map_name="$map" seed="$seed" \
        t_max="$t_max" save_model=True save_model_interval="$interval" torch_threads=1 \
        results_dir="$results" "${resume[@]}" "$@" >> "$log" 2>&1
fi
mapfile -t dirs < <(run_dirs)
python -m tools.evaluate_checkpoints "${dirs[@]}" --episodes "${STUDY_EVAL_EPISODES:-1024}" --seed 0 \
    --steps ${STUDY_EVAL_STEPS:-$(seq -s ' ' 25000 25000 "$t_max")} --reach "$interval" --append \
    --out "$results/eval/${label}_${map}_seed${seed}.csv" -- ${STUDY_EVAL_OVERRIDES:-} >> "$log" 2>&1
