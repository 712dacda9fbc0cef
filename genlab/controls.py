"""The controls a model declares for the UI and CLI (`Control`: a choice or a slider), which
calls each applies to (`CONTROL_USES`) and the group of controls that move what a model draws
(`TRANSFORM_GROUP`, `TRANSFORM_CONTROLS`)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

# What a control can apply to: drawing from scratch (`sample`), decoding a chosen
# latent (`decode`), the step-by-step view (`sample_steps`), completion (`complete`), denoising
# a given x_t (`denoise`, the `noise` capability).
CONTROL_USES = ("sample", "decode", "steps", "complete", "denoise")

# A model that can move what it draws (translate or rotate its output through its own layers,
# as an alias-free generator does) says so with `decode` slider controls in this group, named
# from TRANSFORM_CONTROLS with these meanings; genlab.metrics.equivariance.undo_transform(images,
# (shift_x, shift_y), rotate) undoes them. The app's Equivariance tab lists models by this.
TRANSFORM_GROUP = "transform"
TRANSFORM_CONTROLS = {
    "shift_x": "move the output right by this many pixels (sub-pixel values allowed)",
    "shift_y": "move the output down by this many pixels",
    "rotate": "rotate the output by this many degrees, counter-clockwise about its centre (before the shift)",
}


@dataclass
class Control:
    """A named control the UI and CLI can show (a choice or a slider).

    `applies_to` says which calls take it (see CONTROL_USES): a truncation scales the
    prior draw, so it applies to `sample` but not to `decode` of a chosen z; an
    InfoGAN code applies to both. `group` gathers related controls (GRAF: "shape
    code", "appearance code", "camera") so the app lays them out together.
    `choice_labels` ({value: text}) is what the app shows for a choice's values
    (InfoGAN: "3 → draws 7 (94%)"); the value passed to the model stays the choice.
    """

    name: str
    kind: str  # "choice" | "slider"
    default: Any
    choices: Sequence[Any] = ()
    low: float = -1.0
    high: float = 1.0
    help: str = ""
    applies_to: tuple[str, ...] = ("sample",)
    group: str = ""
    step: float | None = None  # slider resolution; None: (high - low) / 100; 1 for integer sliders
    choice_labels: dict[Any, str] = field(default_factory=dict)  # display text of some choices

    def __post_init__(self):
        if self.kind not in ("choice", "slider"):
            raise ValueError(f"control {self.name}: kind must be 'choice' or 'slider', got {self.kind!r}")
        unknown = set(self.applies_to) - set(CONTROL_USES)
        if unknown:
            raise ValueError(f"control {self.name}: applies_to {sorted(unknown)} not among {CONTROL_USES}")
        stray = [v for v in self.choice_labels if v not in self.choices]
        if stray:
            raise ValueError(f"control {self.name}: choice_labels name {stray}, which are not among its choices")
        if self.group == TRANSFORM_GROUP and (self.name not in TRANSFORM_CONTROLS or self.kind != "slider"):
            raise ValueError(f"control {self.name}: the {TRANSFORM_GROUP!r} group holds sliders named "
                             f"{', '.join(TRANSFORM_CONTROLS)}")

    def choice_label(self, value) -> str:
        """What the app shows for one of the choices: its label, else the value itself."""
        return self.choice_labels.get(value, str(value))

    def check(self, value) -> Any:
        """The value as the model takes it; ValueError naming the accepted values otherwise."""
        if self.kind == "slider":
            try:
                v = float(value)
            except (TypeError, ValueError):
                raise ValueError(f"{self.name} must be a number in [{self.low}, {self.high}], got {value!r}") from None
            if not self.low <= v <= self.high:
                raise ValueError(f"{self.name} must lie in [{self.low}, {self.high}], got {value}")
            return int(round(v)) if self.step == 1 else v
        by_text = {str(x): x for x in self.choices}
        if value in self.choices:
            return value
        if str(value) in by_text:
            return by_text[str(value)]
        raise ValueError(f"{self.name} must be one of {', '.join(by_text)}, got {value!r}")

