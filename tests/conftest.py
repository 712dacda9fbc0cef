import os
import sys
from pathlib import Path

# Nothing in the test run may reach for the internet (gradio analytics, HF telemetry).
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# One scratch folder per pytest-xdist worker (PYTEST_XDIST_WORKER: gw0, gw1, ...), so that two
# workers' apps never clean up each other's uploads.
os.environ.setdefault("GRADIO_TEMP_DIR", str(Path(__file__).resolve().parent.parent
                                              / ".gradio_tmp" / os.environ.get("PYTEST_XDIST_WORKER", "main")))
for var in ("NO_PROXY", "no_proxy"):
    os.environ[var] = ",".join(filter(None, [os.environ.get(var, ""), "127.0.0.1,localhost"]))

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402

# Small models on small batches run fastest single-threaded (and CI machines are small).
torch.set_num_threads(1)


def pytest_xdist_auto_num_workers(config):
    """`-n auto` (pyproject's addopts): one worker per core, at most 8. Each worker loads torch and
    gradio, and a browser file's worker also runs an app and a browser, so a many-core machine
    would pay that memory dozens of times for little gain: a file stays on one worker, and a few
    files dominate. PYTEST_XDIST_AUTO_NUM_WORKERS still overrides."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None  # xdist's own hook reads it
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(cores, 8))
