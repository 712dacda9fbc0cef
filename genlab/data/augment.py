"""Training-data augmentation that keeps a digit a digit: small random warps of each batch.

The likelihood families (NADE, PixelCNN, PixelRNN, VAE) overfit the 9,000 embedded digits long
before their samples are clean; the classic cure on MNIST is to show the net slightly moved,
turned and bent copies of each digit:

- `shift`: a translation of up to `shift` pixels each way, sub-pixel (uniform in [-s, s]);
- `rotate`: a rotation about the centre of up to `rotate` degrees each way;
- `elastic`: Simard, Steinkraus & Platt 2003 (ICDAR, "Best practices for convolutional neural
  networks applied to visual document analysis", section 2): a displacement field of uniform
  [-1, 1] noise, smoothed by a Gaussian of sigma 4 px and scaled by alpha = `elastic` px.

All three make one sampling grid per image, resampled once (bilinear; nearest on data that is
binary already, so it stays binary), with the border pixel as padding (the background on digits).
The warp is applied to training batches only, before dynamic binarisation, so test likelihoods
stay comparable with runs without it. Its random numbers come from a generator of its own,
saved with the data order: a resumed run draws the same warps as an uninterrupted one.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

ELASTIC_SIGMA = 4.0  # px, Simard et al.'s smoothing width for MNIST


def gaussian_kernel(sigma: float) -> torch.Tensor:
    """A normalised 1-D Gaussian, truncated at 3 sigma."""
    radius = int(math.ceil(3 * sigma))
    x = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = torch.exp(-x ** 2 / (2 * sigma ** 2))
    return k / k.sum()


class RandomWarp:
    """Random shift/rotation/elastic warps of (N, C, H, W) batches; a no-op when all are 0."""

    def __init__(self, shift: float = 0.0, rotate: float = 0.0, elastic: float = 0.0, seed: int = 0,
                 mode: str = "bilinear"):
        for name, value in (("augment_shift", shift), ("augment_rotate", rotate), ("augment_elastic", elastic)):
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0 (0 = off), got {value}")
        self.shift, self.rotate, self.elastic, self.mode = float(shift), float(rotate), float(elastic), mode
        self.rng = torch.Generator().manual_seed(seed)
        self.kernel = gaussian_kernel(ELASTIC_SIGMA)

    @property
    def active(self) -> bool:
        return self.shift > 0 or self.rotate > 0 or self.elastic > 0

    def _smooth(self, field: torch.Tensor) -> torch.Tensor:
        """Separable Gaussian blur of (N, 2, H, W) noise (zero padding, as a field beyond the
        image is never sampled)."""
        k, r = self.kernel, len(self.kernel) // 2
        field = F.conv2d(field, k.view(1, 1, 1, -1).expand(2, 1, 1, -1), padding=(0, r), groups=2)
        return F.conv2d(field, k.view(1, 1, -1, 1).expand(2, 1, -1, 1), padding=(r, 0), groups=2)

    def grid(self, n: int, h: int, w: int) -> torch.Tensor:
        """(n, h, w, 2) sampling positions in grid_sample's [-1, 1] coordinates."""
        angle = (torch.rand(n, generator=self.rng) * 2 - 1) * math.radians(self.rotate)
        move = (torch.rand(n, 2, generator=self.rng) * 2 - 1) * self.shift
        cos, sin = angle.cos(), angle.sin()
        # output pixel -> input pixel: rotate about the centre, then move (pixels -> [-1, 1]: 2 / size)
        theta = torch.stack([torch.stack([cos, -sin * h / w, move[:, 0] * 2 / w], 1),
                             torch.stack([sin * w / h, cos, move[:, 1] * 2 / h], 1)], 1)
        grid = F.affine_grid(theta, [n, 1, h, w], align_corners=False)
        if self.elastic > 0:
            noise = torch.rand(n, 2, h, w, generator=self.rng) * 2 - 1
            disp = self._smooth(noise) * self.elastic  # pixels
            scale = torch.tensor([2 / w, 2 / h]).view(1, 2, 1, 1)
            grid = grid + (disp * scale).permute(0, 2, 3, 1)
        return grid

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        if not self.active:
            return images
        n, _, h, w = images.shape
        grid = self.grid(n, h, w).to(images.device, images.dtype)
        return F.grid_sample(images, grid, mode=self.mode, padding_mode="border", align_corners=False)

    def state_dict(self) -> dict:
        return {"rng": self.rng.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.rng.set_state(state["rng"])
