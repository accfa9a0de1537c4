#!/usr/bin/env bash
# The GPU checks, as one script for a machine with one CUDA GPU (writes to $OUT if set), in order
# of importance so that a time limit cuts the least important part:
#   1. the GPU-only unit tests (search on CUDA: brute-force OS(lambda), CUDA graph and compiled tree
#      against eager; model + losses on CUDA);
#   2. the search benchmark with CUDA graphs, fp32, with mctx on JAX's GPU back-end (issue 3 table);
#   3. the same with the tree steps and the model call compiled (torch.compile), then also bf16;
#   4. MAZero's wall-clock per 1,000 env steps with the paper's settings, compiled tree.
# Python packages the GPU image lacks travel as wheels in .whl/ (bench/gpu_prelude.sh).
set -u
OUT=${OUT:-/tmp/gpu_checks}; mkdir -p "$OUT"
. bench/gpu_prelude.sh
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__, torch.cuda.get_device_name())" | tee -a "$OUT/gpu.txt"

echo "== 1. GPU unit tests"
timeout 100 python3 -m pytest -q -p no:cacheprovider tests/test_search_devices.py tests/test_mazero_model.py \
  tests/test_mazero_losses.py -k "cuda or compiled" -rs 2>&1 | tail -n 15 | tee "$OUT/gpu_tests.txt"

echo "== 2. search benchmark (CUDA graphs, fp32; mctx on the GPU)"
JAX_PLATFORMS=cuda XLA_PYTHON_CLIENT_PREALLOCATE=false timeout 100 python3 bench/search_bench.py --device cuda \
  --cuda-graph --batch-sizes 1,64,256,1536 2>&1 | grep -v Warning | tee "$OUT/search_bench_cuda.txt"

echo "== 3. search benchmark (CUDA graphs + torch.compile), fp32 then bf16"
timeout 140 python3 bench/search_bench.py --device cuda --cuda-graph --compile --batch-sizes 1536,256 --no-memory \
  2>&1 | grep -v Warning | tee "$OUT/search_bench_cuda_compile.txt"
timeout 80 python3 bench/search_bench.py --device cuda --cuda-graph --compile --bf16 --batch-sizes 1536 --no-memory \
  2>&1 | grep -v Warning | tee "$OUT/search_bench_cuda_compile_bf16.txt"

echo "== 4. MAZero step benchmark (paper settings, CUDA graphs + compiled tree)"
timeout 80 python3 bench/mazero_step_bench.py --config mazero_paper --device cuda --cuda-graph --compile --repeats 3 \
  2>&1 | grep -v Warning | tail -n 8 | tee "$OUT/mazero_step_cuda_compile.txt"
