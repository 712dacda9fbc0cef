#!/usr/bin/env bash
# The engine's GPU check, run on a lent GPU machine (device tool) with $OUT set:
#   1. every shipped checkpoint evaluated on the GPU, at the n its stored figures used
#      (do the figures survive the engine's second edition?) -> $OUT/evals.json
#   2. the EMA/BatchNorm question on the shipped GANs -> $OUT/ema_batchnorm.txt
#   3. a short bf16 DCGAN run through the new trainer (schedules, EMA) -> $OUT/gpu_train.jsonl
set -uo pipefail
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
python3 - <<'PY' 2>&1 | tee $OUT/evals.log
import json, os, time
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
    json.dump(out, open(os.environ["OUT"] + "/evals.json", "w"), indent=1)
PY
python3 experiments/ema_batchnorm.py dcgan-mnist infogan-mnist --device cuda --write $OUT/dcgan-mnist-bn.pt 2>&1 | tee $OUT/ema_batchnorm.txt
python3 -m genlab train --config experiments/dcgan_mnist_gpu.toml --steps 400 --set log_every=100 \
  --set checkpoint_every=400 --set sample_every=400 --out /tmp/gpu-dcgan --no-progress 2>&1 | tail -5
cp /tmp/gpu-dcgan/metrics.jsonl $OUT/gpu_train.jsonl
