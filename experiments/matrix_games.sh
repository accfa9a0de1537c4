#!/usr/bin/env bash
# The matrix-game experiments of docs/results.md ("Matrix games"), one after another, each into its own
# results dir under <results_root> (default results/matrix):
#
#   experiments/matrix_games.sh [<results_root>] [<experiment>...]
#
# experiments: value_factorisation (QMIX, VDN 20k steps; MAZero with the matrix override set 2k steps;
# 4 games x seeds 1-3), ablations (MAZero variants on matgame2), reanalysis (mazero_matrix with and
# without the reanalysis cache and worker), baselines (QPLEX, RODE, CDS with SMAC values; QPLEX and
# QMIX with the QPLEX repository's matrix values), mazero_matrix (4 games x seeds 1-3), matgame3_variants
# (the settings that lead to mazero_matrix on matgame3, and mazero_matrix with each taken back; seed 1).
# About 5.5 CPU-hours in all on the 2-core box (value_factorisation ~1 h, mazero_matrix ~2 h,
# matgame3_variants ~1.5 h).
# A run whose COMPLETED sacred record is already in its results dir is skipped, so the same command
# started again finishes what an interrupted one left (an interrupted run starts over).
# Then, per results dir (reanalysis and baselines have two each):
#   python -m tools.collect_records <results_root>/<experiment>[/<variant>] docs/runs/matrix/<experiment>[/<variant>]
set -euo pipefail
root=${1:-results/matrix}
shift || true
experiments=${*:-value_factorisation ablations reanalysis baselines mazero_matrix matgame3_variants}
cd "$(dirname "$0")/.."

GAMES="matgame1 matgame2 matgame3 matgame4"
SEEDS="1 2 3"
# Reanalysis without the cache and the Ray worker: every sampled position searched at every update, in
# the learner's process (on a 10-step game the worker costs more than it saves).
IN_PROCESS="reanalyse_cache=False reanalyse_workers=0"
# The override set that turns `mazero` into a matrix-game learner (support for returns up to 100).
MATRIX_SET="t_max=2000 num_simulations=20 batch_size=32 hidden_dim=64 communication_layers=1 updates_per_env_step=1.0 lr=0.001 support_size=10 test_interval=200 test_nepisode=8 batch_size_run=4 $IN_PROCESS"
# These runs use the paper's search and AWPO settings (MAZeroConfig's defaults), not the authors'
# SMAC-script values that `mazero` now takes: rho 0.75, and eq. 14 as printed (alpha 3, no
# standardisation, no clip). Each ablation keeps the key it switches (rho 0 or behaviour cloning).
PAPER_RHO="mcts_rho=0.75"
PAPER_AWPO="awpo_alpha=3.0 awpo_standardise=False awpo_clip=None"

train() {  # train <results_dir> <alg> <map> <seed> [overrides...]
    local results=$1 alg=$2 map=$3 seed=$4
    shift 4
    mkdir -p "$results/logs"
    if python -m tools.records --results-dir "$results" --completed "$alg" "$map" "$seed"; then
        echo "$alg $map seed $seed: completed, skipped"
        return
    fi
    echo "$(date -u +%FT%TZ) $alg $map seed $seed $*"
    python src/main.py --config="$alg" --env-config=matrix with env_args.map_name="$map" seed="$seed" \
        save_model=False torch_threads=1 results_dir="$results" "$@" > "$results/logs/${alg}_${map}_seed${seed}.log" 2>&1
}

variant() {  # variant <results_root> <name> <alg> <t_max> [overrides...]: matgame3 seed 1, its model tabulated
    local results=$1/$2 name=$2 alg=$3 t_max=$4
    shift 4
    # shellcheck disable=SC2086
    train "$results" "$alg" matgame3 1 "$@" t_max="$t_max" save_model=True label="$name" $IN_PROCESS
    if [[ ! -f "$results/eval/first_step_$name.csv" ]]; then
        python -m tools.matrix_model "$(ls -d "$results"/models/* | sort | tail -n 1)" --out "$results/eval/first_step_$name.csv" > /dev/null
    fi
}

for experiment in $experiments; do
    results="$root/$experiment"
    case $experiment in
    value_factorisation)
        for game in $GAMES; do for seed in $SEEDS; do
            train "$results" qmix "$game" "$seed" t_max=20000
            train "$results" vdn "$game" "$seed" t_max=20000
            # shellcheck disable=SC2086
            train "$results" mazero "$game" "$seed" $MATRIX_SET $PAPER_RHO $PAPER_AWPO
        done; done ;;
    ablations)
        # shellcheck disable=SC2086
        train "$results" mazero_no_oslambda matgame2 1 $MATRIX_SET $PAPER_AWPO
        # shellcheck disable=SC2086
        train "$results" mazero_bc matgame2 1 $MATRIX_SET $PAPER_RHO
        # shellcheck disable=SC2086
        train "$results" mazero_sampled_muzero matgame2 1 $MATRIX_SET ;;
    reanalysis)
        for seed in 1 2; do
            train "$results/cached" mazero_matrix matgame2 "$seed" t_max=2000
            # shellcheck disable=SC2086
            train "$results/uncached" mazero_matrix matgame2 "$seed" t_max=2000 $IN_PROCESS
        done ;;
    baselines)
        for alg in qmix qplex rode cds; do for game in matgame1 matgame4; do
            train "$results/smac_values" "$alg" "$game" 1
        done; done
        for seed in $SEEDS; do
            train "$results/matrix_values" qplex matgame1 "$seed" adv_hypernet_layers=3 num_kernel=10 epsilon_anneal_time=10000
            train "$results/matrix_values" qmix matgame1 "$seed" epsilon_anneal_time=10000
        done
        for game in matgame2 matgame3 matgame4; do
            train "$results/matrix_values" qplex "$game" 1 adv_hypernet_layers=3 num_kernel=10 epsilon_anneal_time=10000
        done ;;
    mazero_matrix)
        for seed in $SEEDS; do
            # shellcheck disable=SC2086
            {
            train "$results" mazero_matrix matgame3 "$seed" $IN_PROCESS
            for game in matgame1 matgame2 matgame4; do train "$results" mazero_matrix "$game" "$seed" t_max=4000 $IN_PROCESS; done
            }
        done ;;
    matgame3_variants)
        # The path to mazero_matrix on matgame3 (seed 1): the matrix override set with the paper's rho
        # and AWPO, then one change at a time; each run's model at t = 0 is tabulated by
        # tools.matrix_model (the nine joint actions' predicted reward, next value, Q and prior).
        NORMALISED="awpo_normalise=True awpo_alpha=1.0"
        WARMUP="$NORMALISED min_replay_transitions=1000"
        OFF_POLICY_50="off_policy_correction=True off_policy_age_steps=50"
        # shellcheck disable=SC2086
        {
        variant "$results" eq14_alpha0.25 mazero 2000 $MATRIX_SET $PAPER_RHO $PAPER_AWPO awpo_alpha=0.25
        variant "$results" eq14_alpha1 mazero 2000 $MATRIX_SET $PAPER_RHO $PAPER_AWPO awpo_alpha=1.0
        variant "$results" normalised_alpha1 mazero 2000 $MATRIX_SET $PAPER_RHO $PAPER_AWPO $NORMALISED
        variant "$results" normalised_alpha0.25 mazero 2000 $MATRIX_SET $PAPER_RHO $PAPER_AWPO awpo_normalise=True awpo_alpha=0.25
        variant "$results" normalised_lr3e-4 mazero 4000 $MATRIX_SET $PAPER_RHO $PAPER_AWPO $NORMALISED lr=0.0003
        variant "$results" normalised_off_policy100 mazero 2000 $MATRIX_SET $PAPER_RHO $PAPER_AWPO $NORMALISED off_policy_correction=True off_policy_age_steps=100
        variant "$results" warmup mazero 3000 $MATRIX_SET $PAPER_RHO $PAPER_AWPO $WARMUP
        variant "$results" warmup_off_policy50 mazero 3000 $MATRIX_SET $PAPER_RHO $PAPER_AWPO $WARMUP $OFF_POLICY_50
        variant "$results" warmup_off_policy50_td0 mazero 3000 $MATRIX_SET $PAPER_RHO $PAPER_AWPO $WARMUP $OFF_POLICY_50 off_policy_min_td_steps=0
        variant "$results" reference_awpo mazero 2000 $MATRIX_SET $PAPER_RHO
        variant "$results" reference_awpo_nsim50 mazero 2000 $MATRIX_SET $PAPER_RHO num_simulations=50
        variant "$results" sampling_temperature3 mazero 2000 $MATRIX_SET $PAPER_RHO $PAPER_AWPO sampling_temperature=3.0
        # mazero_matrix with one of its changes taken back (or its backup made the mean), 4,000 steps
        variant "$results" matrix_without_normalise mazero_matrix 4000 awpo_normalise=False awpo_alpha=3.0
        variant "$results" matrix_without_warmup mazero_matrix 4000 min_replay_transitions=300
        variant "$results" matrix_without_off_policy mazero_matrix 4000 off_policy_correction=False off_policy_age_steps=300000 off_policy_min_td_steps=1
        variant "$results" matrix_td1 mazero_matrix 4000 off_policy_min_td_steps=1
        variant "$results" matrix_paper_noise mazero_matrix 4000 exploration_fraction=0.25 dirichlet_alpha=0.3
        variant "$results" matrix_mean_backup mazero_matrix 4000 mcts_rho=0.0 mcts_lambda=1.0
        variant "$results" matrix mazero_matrix 4000
        } ;;
    *) echo "unknown experiment: $experiment" >&2; exit 2 ;;
    esac
done
