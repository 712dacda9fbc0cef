#!/usr/bin/env bash
# One GPU session for GRAF (issue 14): train experiments/graf_shapes_gpu.toml for at most
# TRAIN_S seconds (the last checkpoint written counts), release it with the evaluation run on
# the GPU (genlab.release evaluates on the CPU), and copy the checkpoint, logs and sample grids
# to $OUT. The rendered data set may be carried in runs/graf-cache (GENLAB_CACHE); otherwise
# it is rendered on the GPU.
set -u
TRAIN_S=${TRAIN_S:-200}
OUT=${OUT:-/tmp/graf-out}
export GENLAB_CACHE=${GENLAB_CACHE:-$PWD/runs/graf-cache}
export PYTHONPATH=.
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.used --format=csv,noheader > "$OUT/gpu.txt" 2>&1
timeout "$TRAIN_S" python3 -m genlab train --config experiments/graf_shapes_gpu.toml --out /tmp/g --no-progress \
    --device cuda > "$OUT/train.log" 2>&1
echo "train exit $?" >> "$OUT/train.log"
cp /tmp/g/metrics.jsonl /tmp/g/recipe.toml /tmp/g/latest.pt "$OUT"/ 2>/dev/null
mkdir -p "$OUT/samples" && cp /tmp/g/samples/*.png "$OUT/samples/" 2>/dev/null
python3 - <<'PY' > "$OUT/release.log" 2>&1
import json, os, time
import torch
import genlab.release as rel
from genlab.registry import model_from_state as build

rel.model_from_state = lambda state: build(state).to("cuda")  # evaluate on the GPU
t = time.time()
out, metrics = rel.release("/tmp/g/latest.pt", "graf-shapes", n=1000, seed=0)
print(out, os.path.getsize(out), "bytes", round(time.time() - t, 1), "s")
print(json.dumps({k: v for k, v in metrics.items() if not isinstance(v, (list, dict))}, indent=1))
PY
cp checkpoints/graf-shapes.pt genlab/data/assets/shapes3d_features.pt "$OUT/" 2>/dev/null
tail -3 "$OUT/train.log"; cat "$OUT/release.log"
