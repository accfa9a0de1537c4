#!/usr/bin/env bash
# Short CUDA training runs through src/main.py (writes to $OUT if set): RODE past its clustering
# (role masks, soft epsilon-greedy and the target sync on the GPU) and MAZero on SMAX 3m.
set -u
OUT=${OUT:-/tmp/gpu_smoke}; mkdir -p "$OUT"
. bench/gpu_prelude.sh
COMMON="env_args.backend=smax env_args.map_name=3m use_cuda=True results_dir=$OUT/results save_model=False test_nepisode=8"
echo "== RODE (cuda)"
timeout 150 python3 src/main.py --config=rode_tuned --env-config=sc2 with $COMMON t_max=3000 \
  role_action_spaces_update_start=1000 batch_size=8 test_interval=1000 learner_log_interval=500 2>&1 | grep -E -o "device cuda|n_clustered_roles: *[0-9.]*|Result.*|[A-Za-z]*Error.*" | tail -n 8 | tee "$OUT/rode_cuda.txt"
echo "== MAZero (cuda)"
timeout 200 python3 src/main.py --config=mazero --env-config=sc2 with $COMMON t_max=400 test_interval=200 \
  min_replay_transitions=64 2>&1 | grep -E "device|test win|Result|Error|error" | tail -n 8 | tee "$OUT/mazero_cuda.txt"
