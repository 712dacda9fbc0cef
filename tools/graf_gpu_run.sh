#!/usr/bin/env bash
# One GPU session for GRAF (issue 14): train experiments/graf_shapes_gpu.toml for at most
# TRAIN_SECONDS (default 200; the last checkpoint written counts), release it with the evaluation
# run on the GPU (genlab.release evaluates on the CPU), and copy the run's checkpoint, recipe,
# logs and sample grids, the released checkpoint and the shapes3d feature net to OUT_DIR. The
# rendered data set may be carried in runs/graf-cache (GENLAB_CACHE); otherwise it is rendered
# on the GPU.
#
# Usage: tools/graf_gpu_run.sh OUT_DIR [TRAIN_SECONDS]    (from any folder; OUT_DIR is created)
set -u
usage() { sed -n '2,9p' "$0" | cut -c3-; }
case "${1:-}" in
  -h|--help) usage; exit 0 ;;
  "") usage >&2; exit 2 ;;
esac
[ $# -le 2 ] || { usage >&2; exit 2; }
TRAIN_S=${2:-200}
mkdir -p "$1" && OUT_DIR=$(cd "$1" && pwd) || exit 2
cd "$(dirname "$0")/.." || exit 2
export GENLAB_CACHE=${GENLAB_CACHE:-$PWD/runs/graf-cache}
export PYTHONPATH=$PWD
RUN=$(mktemp -d)/graf

nvidia-smi --query-gpu=name,memory.used --format=csv,noheader > "$OUT_DIR/gpu.txt" 2>&1
timeout "$TRAIN_S" python3 -m genlab train --config experiments/graf_shapes_gpu.toml --out "$RUN" --no-progress \
    --device cuda > "$OUT_DIR/train.log" 2>&1
echo "train exit $?" >> "$OUT_DIR/train.log"
cp "$RUN/metrics.jsonl" "$RUN/recipe.toml" "$RUN/latest.pt" "$OUT_DIR"/ 2>/dev/null
mkdir -p "$OUT_DIR/samples" && cp "$RUN"/samples/*.png "$OUT_DIR/samples/" 2>/dev/null
python3 - "$RUN/latest.pt" <<'PY' > "$OUT_DIR/release.log" 2>&1
import json, os, sys, time
import genlab.release as rel
from genlab.registry import model_from_state as build

rel.model_from_state = lambda state: build(state).to("cuda")  # evaluate on the GPU
t = time.time()
out, metrics = rel.release(sys.argv[1], "graf-shapes", n=1000, seed=0)
print(out, os.path.getsize(out), "bytes", round(time.time() - t, 1), "s")
print(json.dumps({k: v for k, v in metrics.items() if not isinstance(v, (list, dict))}, indent=1))
PY
cp checkpoints/graf-shapes.pt genlab/data/assets/shapes3d_features.pt "$OUT_DIR/" 2>/dev/null
tail -3 "$OUT_DIR/train.log"; cat "$OUT_DIR/release.log"
