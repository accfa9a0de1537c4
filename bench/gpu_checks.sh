#!/usr/bin/env bash
# The GPU checks, as one script for a machine with one CUDA GPU (writes to $OUT if set).
#   1. the GPU-only unit tests (model + losses on CUDA, search on CUDA);
#   2. the search benchmark with CUDA graphs (issue 3 targets: B=1536 <= 150 ms, memory);
#   3. MAZero's wall-clock per 1,000 env steps with the paper's settings;
#   4. a real training run through src/main.py with use_cuda=True (matrix game, no JAX needed).
# Python packages the GPU image lacks travel as wheels in .whl/ (see docs/benchmarks.md).
set -u
OUT=${OUT:-/tmp/gpu_checks}; mkdir -p "$OUT"
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site
fi
export PYTHONUNBUFFERED=1 JAX_PLATFORMS=cpu
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())" | tee -a "$OUT/gpu.txt"

echo "== 1. GPU unit tests"
timeout 150 python3 -m pytest -q -p no:cacheprovider tests/test_mazero_model.py tests/test_mazero_losses.py \
  tests/test_search_structure.py tests/test_search_os_lambda.py 2>&1 | tail -n 5 | tee "$OUT/gpu_tests.txt"

echo "== 2. search benchmark (CUDA graphs)"
timeout 240 python3 bench/search_bench.py --device cuda --cuda-graph --batch-sizes 1,64,256,1536 2>&1 | tee "$OUT/search_bench_cuda.txt"

echo "== 3. MAZero step benchmark (paper settings)"
timeout 150 python3 bench/mazero_step_bench.py --config mazero_paper --device cuda --cuda-graph 2>&1 | tee "$OUT/mazero_step_cuda.txt"
timeout 100 python3 bench/mazero_step_bench.py --config mazero_paper --device cuda 2>&1 | tail -n 4 | tee -a "$OUT/mazero_step_cuda.txt"

echo "== 4. training run with use_cuda=True"
timeout 150 python3 src/main.py --config=mazero --env-config=matrix with use_cuda=True t_max=400 \
  env_args.map_name=matgame4 results_dir=/tmp/gpu_results test_nepisode=4 test_interval=200 \
  runner_log_interval=200 learner_log_interval=200 log_interval=200 capture_mode=sys 2>&1 | tail -n 25 | tee "$OUT/mazero_cuda_run.txt"
