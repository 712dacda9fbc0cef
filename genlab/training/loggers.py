"""Where training figures go: a JSONL file always, TensorBoard when installed."""
from __future__ import annotations

import json
import math
from pathlib import Path


class MetricsLog:
    """`resume_step`: None starts a new log; a step keeps the rows up to it and drops later
    ones (logged after the checkpoint the run resumes from), so each step appears once."""

    def __init__(self, folder: Path, resume_step: int | None = None):
        self.path = folder / "metrics.jsonl"
        if resume_step is None or not self.path.exists():
            self.path.write_text("")
        else:
            kept = [line for line in self.path.read_text().splitlines()
                    if line.strip() and _step_of(line) <= resume_step]
            self.path.write_text("".join(line + "\n" for line in kept))
        self._tb = None
        try:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(str(folder / "tensorboard"))
        except Exception:  # tensorboard not installed: JSONL alone
            self._tb = None

    def write(self, step: int, values: dict) -> None:
        clean = {k: (v if math.isfinite(v) else str(v)) if isinstance(v, float) else v for k, v in values.items()}
        with self.path.open("a") as f:  # opened per write: a few lines per minute, never left open
            f.write(json.dumps({"step": step, **clean}) + "\n")
        if self._tb is not None:
            for k, v in values.items():
                if isinstance(v, (int, float)):
                    self._tb.add_scalar(k, v, step)

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()


def _step_of(line: str) -> int:
    try:
        return int(json.loads(line).get("step", 0))
    except (ValueError, AttributeError):
        return 1 << 62  # a torn line (killed mid-write): dropped
