#!/usr/bin/env bash
# The engine's GPU check, on a machine with a CUDA GPU:
#   1. every shipped checkpoint evaluated on the GPU at the n its stored figures used
#      (do the stored figures hold there?) -> OUT_DIR/evals.json, OUT_DIR/evals.log
#   2. a short bf16 DCGAN run through the trainer (experiments/dcgan_mnist_gpu.toml, 400 steps:
#      schedules, EMA) -> OUT_DIR/gpu_train.jsonl, OUT_DIR/gpu_train.log
#
# Usage: tools/gpu_check.sh OUT_DIR    (from any folder; OUT_DIR is created if missing)
set -uo pipefail
usage() { sed -n '2,8p' "$0" | cut -c3-; }
case "${1:-}" in
  -h|--help) usage; exit 0 ;;
  "") usage >&2; exit 2 ;;
esac
[ $# -eq 1 ] || { usage >&2; exit 2; }
mkdir -p "$1" && OUT_DIR=$(cd "$1" && pwd) || exit 2
cd "$(dirname "$0")/.." || exit 2
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
WORK=$(mktemp -d)

nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
python3 - "$OUT_DIR/evals.json" <<'PY' 2>&1 | tee "$OUT_DIR/evals.log"
import json, sys, time
from genlab.checkpoint import load_checkpoint
from genlab.metrics import evaluate
from genlab.registry import load, shipped_checkpoints
out = {}
for name, path in shipped_checkpoints().items():
    stored = load_checkpoint(path).get("metrics", {})
    t = time.perf_counter()
    model = load(name, device="cuda")
    figures = evaluate(model, n=int(stored.get("n", 5000)))
    keys = ("fid", "precision", "recall", "class_coverage", "nll_nats")
    out[name] = {"stored": {k: stored.get(k) for k in keys}, "now_gpu": {k: figures.get(k) for k in keys},
                 "seconds": round(time.perf_counter() - t, 1)}
    print(name, json.dumps(out[name]), flush=True)
    json.dump(out, open(sys.argv[1], "w"), indent=1)
PY
python3 -m genlab train --config experiments/dcgan_mnist_gpu.toml --steps 400 --set log_every=100 \
  --set checkpoint_every=400 --set sample_every=400 --out "$WORK/gpu-dcgan" --no-progress > "$OUT_DIR/gpu_train.log" 2>&1
tail -5 "$OUT_DIR/gpu_train.log"
cp "$WORK/gpu-dcgan/metrics.jsonl" "$OUT_DIR/gpu_train.jsonl"
