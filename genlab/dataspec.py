"""What a model knows about its data: `DataSpec` (image shape, classes, domains, padding) and,
for multi-view data, the `CameraSpec` its cameras are drawn from. Stored in every checkpoint."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass(frozen=True)
class CameraSpec:
    """The camera distribution of multi-view data (degrees; a look-at camera on a sphere).

    Training images come without poses; the model knows this distribution and draws
    its own cameras from it (GRAF). Angles are drawn uniformly in the given ranges.
    """

    azimuth: tuple[float, float] = (0.0, 360.0)
    elevation: tuple[float, float] = (0.0, 90.0)  # the upper hemisphere
    radius: tuple[float, float] = (4.0, 4.0)
    fov: float = 30.0  # vertical field of view

    def __post_init__(self):
        for name in ("azimuth", "elevation", "radius"):
            lo, hi = getattr(self, name)
            if lo > hi:
                raise ValueError(f"camera {name} range ({lo}, {hi}) is empty")
        if not 0 < self.fov < 180:
            raise ValueError(f"camera fov must be in (0, 180) degrees, got {self.fov}")


@dataclass(frozen=True)
class DataSpec:
    """What a model needs to know about its data."""

    channels: int = 1
    height: int = 28
    width: int = 28
    num_classes: int = 0  # 0 = unlabelled
    binary: bool = False  # pixels are exactly -1 or 1 (binarised MNIST)
    name: str = "mnist"
    # Image-to-image data: the domains' names (CycleGAN: two; StarGAN: one per attribute
    # combination) and, where domains are combinations of binary attributes, their names.
    domains: tuple[str, ...] = ()
    attributes: tuple[str, ...] = ()
    camera: CameraSpec | None = None  # multi-view (3-D) data
    pad: int = 0  # pixels of padding added around the source images (evaluation crops them off)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return (self.channels, self.height, self.width)

    @property
    def num_domains(self) -> int:
        return len(self.domains)

    def describe(self) -> str:
        extra = f", {self.num_domains} domains" if self.domains else ""
        return f"{self.channels}x{self.height}x{self.width}{extra}"

    def to_dict(self) -> dict:
        """Plain Python values (checkpoints are read with weights_only)."""
        d = dataclasses.asdict(self)
        d["domains"], d["attributes"] = list(self.domains), list(self.attributes)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "DataSpec":
        """Inverse of to_dict; also reads checkpoints written before domains and cameras existed."""
        d = dict(d)
        d["domains"], d["attributes"] = tuple(d.get("domains", ())), tuple(d.get("attributes", ()))
        if d.get("camera") is not None:
            d["camera"] = CameraSpec(**{k: tuple(v) if isinstance(v, list) else v for k, v in d["camera"].items()})
        return cls(**d)

