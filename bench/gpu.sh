#!/usr/bin/env bash
# Every CUDA check and GPU benchmark in one bounded run, for a machine with a GPU for a short time.
#
#   bash bench/gpu.sh [LOG_DIR]          # default LOG_DIR: gpu-logs; PYTHON=python3 by default
#
# Each part runs under its own time limit (so one slow part cannot starve the rest), writes its whole
# output to LOG_DIR/<part>.txt and prints its exit status and last lines. About 6 minutes on an H200
# (docs/benchmarks.md, "CUDA checks"). Run from the repository root with auricle importable
# (installed, or PYTHONPATH=$PWD); the tests need pytest and transformers, as `make test` does.
set -u
cd "$(dirname "$0")/.."
LOG=${1:-gpu-logs}
PY=${PYTHON:-python3}
mkdir -p "$LOG"
T0=$(date +%s)

part() {  # part NAME SECONDS LINES COMMAND...
    local name=$1 limit=$2 lines=$3 start
    shift 3
    start=$(date +%s)
    (cd "${DIR:-.}" && timeout "$limit" "$@") > "$LOG/$name.txt" 2>&1
    echo "== $name: exit $? after $(($(date +%s) - start)) s"
    tail -n "$lines" "$LOG/$name.txt"
}

{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  $PY -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)"
} 2>&1 | tee "$LOG/machine.txt"
part tests-gpu 200 3 $PY -m pytest -q -rfE -m gpu tests/test_model_parity.py tests/test_generate.py \
    tests/test_features.py tests/test_cuda.py
part shipped-model-on-cuda 90 3 env AURICLE_TEST_DEVICE=cuda $PY -m pytest -q -rfE tests/test_shipped_model.py
DIR=bench part generate 150 12 $PY generate.py --batch-sizes 1 8 --new-tokens 64
DIR=bench part train-step 90 6 $PY train_step.py
DIR=bench part features 40 4 $PY features.py --device cuda --batch 32 --repeats 4
DIR=bench part encoder-cache 40 10 $PY encoder_cache.py --device cuda --batch 64 --repeats 5
DIR=bench part train-step-compiled 120 6 $PY train_step.py --compile
DIR=bench part generate-compiled 200 8 $PY generate.py --compile --batch-sizes 1 --new-tokens 64
echo "== all parts: $(($(date +%s) - T0)) s; logs in $LOG/"
