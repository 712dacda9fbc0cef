"""Learning-rate schedules, one per training phase, set in the recipe.

    [schedule]               # every phase
    kind = "linear_decay"    # constant | warmup | linear_decay | cosine
    decay_steps = 5000       # linear_decay: fall to zero over the run's last 5000 steps (CycleGAN)
    [schedule.generator]     # one phase only (its keys override the table above)
    warmup_steps = 200

A schedule is a factor on the phase's base learning rate, a pure function of
the step and the run's length, so a resumed run sets the same rates an
uninterrupted one would.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from genlab.errors import GenlabError

KINDS = ("constant", "warmup", "linear_decay", "cosine")


@dataclass
class Schedule:
    kind: str = "constant"
    warmup_steps: int = 0  # linear warm-up from ~0 to the base rate (any kind; "warmup" needs it)
    decay_steps: int = 0  # linear_decay: steps of decay at the end of the run (0 = all after warm-up)
    min_factor: float = 0.0  # cosine / linear_decay end at min_factor * base rate

    def validate(self, where: str = "schedule") -> None:
        if self.kind not in KINDS:
            raise GenlabError(f"{where} kind {self.kind!r} is not one of {', '.join(KINDS)}")
        if self.warmup_steps < 0 or self.decay_steps < 0:
            raise GenlabError(f"{where}: warmup_steps and decay_steps must be >= 0, "
                              f"got {self.warmup_steps} and {self.decay_steps}")
        if self.kind == "warmup" and self.warmup_steps < 1:
            raise GenlabError(f"{where}: kind 'warmup' needs warmup_steps >= 1")
        if not 0.0 <= self.min_factor <= 1.0:
            raise GenlabError(f"{where}: min_factor must be in [0, 1], got {self.min_factor}")

    def decay_length(self, total_steps: int) -> int:
        """Steps of linear decay: decay_steps, but never more than the steps after warm-up, so that a
        run shortened with --steps (a pilot of a long recipe) decays over all of it instead of
        starting part-way down the ramp."""
        after_warmup = max(1, total_steps - self.warmup_steps)
        return min(self.decay_steps, after_warmup) if self.decay_steps else after_warmup

    def factor(self, step: int, total_steps: int) -> float:
        """Multiplier of the base learning rate for 0-based training step `step`."""
        warm = min(1.0, (step + 1) / self.warmup_steps) if self.warmup_steps else 1.0
        if self.kind in ("constant", "warmup"):
            return warm
        if self.kind == "linear_decay":
            length = self.decay_length(total_steps)
            start = total_steps - length
            if step < start:
                return warm
            done = (step - start) / length  # 0 at the first decayed step, -> 1 at the end
            return warm * (1.0 - (1.0 - self.min_factor) * done)
        # cosine (Loshchilov & Hutter 2017, no restarts) over the steps after warm-up
        length = max(1, total_steps - self.warmup_steps)
        done = min(1.0, max(0.0, (step - self.warmup_steps) / length))
        return warm * (self.min_factor + (1.0 - self.min_factor) * 0.5 * (1.0 + math.cos(math.pi * done)))


def phase_schedules(table: dict, phase_names) -> dict[str, Schedule]:
    """{phase: Schedule} from a recipe's [schedule] table (defaults plus per-phase sub-tables)."""
    fields = {f.name for f in dataclasses.fields(Schedule)}
    common = {k: v for k, v in table.items() if not isinstance(v, dict)}
    per_phase = {k: v for k, v in table.items() if isinstance(v, dict)}
    for key in common:
        if key not in fields:
            raise GenlabError(f"[schedule]: unknown option {key!r}; options are {', '.join(sorted(fields))}, "
                              f"or a [schedule.PHASE] table")
    unknown = sorted(set(per_phase) - set(phase_names))
    if unknown:
        raise GenlabError(f"[schedule.{unknown[0]}]: no such training phase; phases are {', '.join(phase_names)}")
    out = {}
    for name in phase_names:
        values = {**common, **per_phase.get(name, {})}
        bad = sorted(set(values) - fields)
        if bad:
            raise GenlabError(f"[schedule.{name}]: unknown option {bad[0]!r}; options are {', '.join(sorted(fields))}")
        try:
            sched = Schedule(**values)
        except TypeError as e:
            raise GenlabError(f"[schedule.{name}]: {e}") from None
        sched.validate(f"[schedule.{name}]" if name in per_phase else "[schedule]")
        out[name] = sched
    return out
