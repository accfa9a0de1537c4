#!/usr/bin/env bash
# Training runs through src/main.py on one GPU machine for a fixed wall-clock (writes to $OUT if set):
# the paper's MAZero settings (`mazero_paper`) on SMAX 3m, seeds 1-3 side by side on the one GPU, and
# MAMBA (seed 1) beside them. Each run is stopped by SIGINT after RUN_SECONDS, which ends it cleanly
# (sacred status INTERRUPTED, metrics kept); the sacred records and the logs come back as one tarball,
# from which docs/benchmarks.md reads the wall-clock per 1,000 env steps of each run.
#   RUN_SECONDS=360 bash bench/gpu_training_runs.sh
# Python packages the GPU image lacks travel as wheels in .whl/ (bench/gpu_prelude.sh). Ray is not
# among them, hence reanalyse_workers=0: on a GPU the learner's process searches the reanalysis
# batches itself.
set -u
OUT=${OUT:-/tmp/gpu_training_runs}; mkdir -p "$OUT"
. bench/gpu_prelude.sh
RUN_SECONDS=${RUN_SECONDS:-360}
results=/tmp/gpu_training_runs_results; mkdir -p "$results/logs"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
python3 -c "import torch, sacred, pydantic, jaxmarl; print('torch', torch.__version__, torch.cuda.get_device_name(), 'cores', __import__('os').cpu_count())" \
  2>&1 | tee -a "$OUT/gpu.txt" | grep -q "^torch" || { echo "imports failed"; exit 1; }
common="env_args.map_name=3m use_cuda=True results_dir=$results save_model=False torch_threads=2"
for seed in 1 2 3; do
  timeout -s INT "$RUN_SECONDS" python3 src/main.py --config=mazero_paper --env-config=sc2 with $common seed=$seed \
    search_cuda_graph=True reanalyse_workers=0 > "$results/logs/mazero_paper_seed$seed.log" 2>&1 &
done
timeout -s INT "$RUN_SECONDS" python3 src/main.py --config=mamba --env-config=sc2 with $common seed=1 \
  > "$results/logs/mamba_seed1.log" 2>&1 &
sleep $((RUN_SECONDS / 2)); nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv | tee -a "$OUT/gpu.txt"
uptime | tee -a "$OUT/gpu.txt"
wait
for log in "$results"/logs/*.log; do echo "== $log"; grep -E "t_env .*steps/s|Error|error|Result|interrupted" "$log" | tail -n 4; done
tar czf "$OUT/records.tar.gz" -C "$results" .
