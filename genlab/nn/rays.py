"""Cameras, rays, positional encoding, stratified sampling and volume rendering (NeRF/GRAF).

Conventions (shared by the procedural renderer in genlab/data/shapes3d.py and GRAF):

- world: z is up; the object sits near the origin;
- a camera on a sphere of `radius` at (azimuth, elevation) in degrees,
  position r (cos el cos az, cos el sin az, sin el), looks at the origin with
  world-z up (OpenGL axes: x right, y up, looking along -z);
- image points are normalised coordinates (u, v) in [-1, 1] with
  `align_corners=True` meaning: u = -1 and u = 1 are the *centres* of the
  first and last pixel columns (v = -1 the top row), exactly what
  `F.grid_sample(..., align_corners=True)` reads, so a ray patch and the real
  image patch it is compared with sample the same points;
- the vertical field of view `fov` spans the full image height (pixel edges),
  so the focal length in pixels is (H / 2) / tan(fov / 2).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def camera_position(azimuth, elevation, radius) -> torch.Tensor:
    """(N, 3) camera centres for angles in degrees (tensors or numbers, broadcast)."""
    az, el, r = (torch.as_tensor(v, dtype=torch.float32) for v in (azimuth, elevation, radius))
    az, el, r = torch.broadcast_tensors(torch.deg2rad(az), torch.deg2rad(el), r)
    return torch.stack([r * torch.cos(el) * torch.cos(az), r * torch.cos(el) * torch.sin(az),
                        r * torch.sin(el)], -1).reshape(-1, 3)


def look_at(origin: torch.Tensor) -> torch.Tensor:
    """(N, 3, 3) camera-to-world rotations (columns: right, up, backward) for cameras at `origin`
    looking at the world origin with z up. Elevation +-90 degrees (straight down) is refused."""
    back = F.normalize(origin, dim=-1)  # the camera looks along -back
    up_world = torch.tensor([0.0, 0.0, 1.0], device=origin.device).expand_as(back)
    right = torch.linalg.cross(up_world, back, dim=-1)
    if (right.norm(dim=-1) < 1e-6).any():
        raise ValueError("a camera straight above or below the object (elevation +-90 degrees) has no "
                         "defined orientation; use an elevation strictly inside (-90, 90)")
    right = F.normalize(right, dim=-1)
    up = torch.linalg.cross(back, right, dim=-1)
    return torch.stack([right, up, back], -1)


def focal_factor(fov: float, size: int) -> float:
    """tan(fov/2) scaled so that normalised coordinate u maps to the image plane at distance 1:
    a pixel centre at u sits at x = u * (size - 1) / 2 pixels from the centre, and the
    focal length is (size / 2) / tan(fov / 2) pixels."""
    return (size - 1) / size * math.tan(math.radians(fov) / 2)


def grid_uv(height: int, width: int, device=None) -> torch.Tensor:
    """(H, W, 2) normalised (u, v) of every pixel centre, align_corners=True."""
    v, u = torch.meshgrid(torch.linspace(-1, 1, height, device=device), torch.linspace(-1, 1, width, device=device),
                          indexing="ij")
    return torch.stack([u, v], -1)


def subpixel_uv(uv: torch.Tensor, s: int, height: int, width: int | None = None) -> torch.Tensor:
    """Each ray position uv (..., 2) as s x s positions spread evenly over its pixel, (..., s * s, 2):
    offsets of (j + 0.5) / s - 0.5 pixels on each axis, as the shapes3d renderer supersamples
    (align_corners=True units, a pixel 2 / (side - 1) wide). s = 1 gives uv itself."""
    width = width or height
    offsets = (torch.arange(s, device=uv.device, dtype=uv.dtype) + 0.5) / s - 0.5  # pixels
    if s > 1:
        pairs = torch.cartesian_prod(offsets * 2 / (width - 1), offsets * 2 / (height - 1))  # (s * s, 2) as (u, v)
    else:
        pairs = torch.zeros(1, 2, device=uv.device, dtype=uv.dtype)
    return uv[..., None, :] + pairs


def rays_from_uv(uv: torch.Tensor, origin: torch.Tensor, rotation: torch.Tensor, fov: float,
                 height: int, width: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Rays through normalised image points.

    uv: (N, ..., 2); origin (N, 3); rotation (N, 3, 3) from `look_at`; fov in degrees (vertical).
    Returns origins (N, ..., 3) and unit directions (N, ..., 3)."""
    width = width or height
    ty = focal_factor(fov, height)
    tx = ty * (width - 1) / (height - 1) if height > 1 else ty
    n = uv.shape[0]
    flat = uv.reshape(n, -1, 2)
    cam = torch.stack([flat[..., 0] * tx, -flat[..., 1] * ty, -torch.ones_like(flat[..., 0])], -1)
    dirs = F.normalize(torch.einsum("nij,nkj->nki", rotation, cam), dim=-1)
    dirs = dirs.reshape(*uv.shape[:-1], 3)
    origins = origin.reshape(n, *([1] * (uv.ndim - 2)), 3).expand_as(dirs)
    return origins, dirs


def camera_rays(azimuth, elevation, radius, fov: float, height: int, width: int | None = None,
                uv: torch.Tensor | None = None, device=None):
    """Rays of whole images (uv None: (N, H, W, 3)) or of given points uv (N, ..., 2)."""
    origin = camera_position(azimuth, elevation, radius).to(device)
    rot = look_at(origin)
    if uv is None:
        uv = grid_uv(height, width or height, device=device).expand(len(origin), -1, -1, -1)
    return rays_from_uv(uv.to(origin.device), origin, rot, fov, height, width)


def project(points: torch.Tensor, azimuth, elevation, radius, fov: float, height: int, width: int | None = None):
    """World points (N, P, 3) -> normalised image coordinates (N, P, 2) and the distance from
    the camera centre (N, P). Inverse of `rays_from_uv` (tested)."""
    width = width or height
    origin = camera_position(azimuth, elevation, radius).to(points.device)
    rot = look_at(origin)
    local = torch.einsum("nji,npj->npi", rot, points - origin[:, None])  # world -> camera axes
    ty = focal_factor(fov, height)
    tx = ty * (width - 1) / (height - 1) if height > 1 else ty
    z = -local[..., 2]
    uv = torch.stack([local[..., 0] / z / tx, -local[..., 1] / z / ty], -1)
    return uv, (points - origin[:, None]).norm(dim=-1)


def uv_to_pixels(uv: torch.Tensor, height: int, width: int | None = None) -> torch.Tensor:
    """Normalised (u, v) -> (column, row) pixel indices (centres at integers), align_corners=True."""
    width = width or height
    return torch.stack([(uv[..., 0] + 1) * (width - 1) / 2, (uv[..., 1] + 1) * (height - 1) / 2], -1)


# ----- positional encoding ---------------------------------------------------------------------
def positional_encoding(x: torch.Tensor, num_freqs: int, include_input: bool = True) -> torch.Tensor:
    """NeRF's gamma: [x, sin(2^k pi x), cos(2^k pi x) for k = 0 .. num_freqs-1] along the last axis.
    Output size d * (2 * num_freqs + include_input)."""
    freqs = (2.0 ** torch.arange(num_freqs, device=x.device, dtype=x.dtype)) * math.pi
    angles = x[..., None, :] * freqs[:, None]  # (..., L, d)
    parts = [torch.sin(angles).flatten(-2), torch.cos(angles).flatten(-2)]
    return torch.cat(([x] if include_input else []) + parts, -1)


def encoding_size(dim: int, num_freqs: int, include_input: bool = True) -> int:
    return dim * (2 * num_freqs + int(include_input))


# ----- sampling along rays -----------------------------------------------------------------------
def stratified_depths(shape: tuple, near, far, num: int, perturb: bool = True,
                      generator: torch.Generator | None = None, device=None) -> torch.Tensor:
    """(*shape, num) depths: one per equal bin of [near, far], uniformly jittered inside its
    bin when `perturb` (NeRF's stratified sampling), else the bin centres.
    near/far: numbers or tensors broadcastable to `shape`."""
    edges = torch.linspace(0, 1, num + 1, device=device)
    lo, width = edges[:-1], edges[1] - edges[0]
    if perturb:
        u = torch.rand(*shape, num, generator=generator) if generator is not None else \
            torch.rand(*shape, num, device=device)
        u = u.to(device) if device is not None else u
    else:
        u = torch.full((*shape, num), 0.5, device=device)
    s = lo + width * u
    near = torch.as_tensor(near, dtype=s.dtype, device=s.device)
    far = torch.as_tensor(far, dtype=s.dtype, device=s.device)
    if near.ndim:
        near, far = near[..., None], far[..., None]
    return near + (far - near) * s


def render_weights(sigma: torch.Tensor, depths: torch.Tensor, far=None) -> tuple[torch.Tensor, torch.Tensor]:
    """(weights (..., S), deltas (..., S)) of the emission-absorption quadrature (see
    `volume_render`): w_i = alpha_i T_i for the intervals [t_i, t_{i+1}), the last up to `far`."""
    gaps = depths[..., 1:] - depths[..., :-1]
    if far is None:
        last = gaps[..., -1:]
    else:
        last = (torch.as_tensor(far, dtype=depths.dtype, device=depths.device).expand_as(depths[..., :1])
                if not torch.is_tensor(far) or far.ndim == 0 else far[..., None]) - depths[..., -1:]
    deltas = torch.cat([gaps, last.clamp_min(0)], -1)
    alpha = 1.0 - torch.exp(-sigma * deltas)
    trans = torch.cumprod(torch.cat([torch.ones_like(alpha[..., :1]), 1.0 - alpha[..., :-1] + 1e-10], -1), -1)
    return alpha * trans, deltas


def volume_render(sigma: torch.Tensor, rgb: torch.Tensor, depths: torch.Tensor, far=None,
                  background: torch.Tensor | float | None = 1.0) -> dict:
    """Emission-absorption quadrature along rays.

    sigma (..., S) densities >= 0; rgb (..., S, C); depths (..., S) increasing. Sample i
    stands for the interval [t_i, t_{i+1}) (the last one up to `far`, default: the last
    gap repeated), alpha_i = 1 - exp(-sigma_i delta_i), T_i = prod_{j<i} (1 - alpha_j).

    Returns colour (..., C) composited over `background` (None: black/none), depth (the
    expected depth of the surface, sum w_i t_i / opacity; `far` where nothing was hit),
    opacity (sum of weights) and the weights. Computed in float32 whatever autocast says."""
    sigma, rgb, depths = sigma.float(), rgb.float(), depths.float()
    weights, deltas = render_weights(sigma, depths, far)
    # the weights telescope to 1 - T_N <= 1; a float sum of many near-1 terms can pass 1 by an ulp
    opacity = weights.sum(-1).clamp(max=1.0)
    colour = (weights[..., None] * rgb).sum(-2)
    if background is not None:
        colour = colour + (1.0 - opacity[..., None]) * background
    far_t = depths[..., -1] + deltas[..., -1]
    depth = (weights * depths).sum(-1) + (1.0 - opacity) * far_t  # empty space reads as "far"
    return {"colour": colour, "depth": depth, "opacity": opacity, "weights": weights}


def sphere_interval(origins: torch.Tensor, dirs: torch.Tensor, bound: float, near, far
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """Per ray the part of [near, far] inside the ball of radius `bound` at the origin.

    origins, dirs (..., 3) with unit dirs; near, far broadcastable to (...). A ray that misses
    the ball gets near = far = `far` (no length: nothing is rendered on it, the background shows).
    Where the density is zero outside the ball (GRAF's `bound`), the rendering integral is the
    same; the samples are only spent where something can be."""
    b = (origins * dirs).sum(-1)
    disc = b * b - ((origins * origins).sum(-1) - bound * bound)
    root = disc.clamp_min(0).sqrt()
    near, far = torch.broadcast_tensors(torch.as_tensor(near, dtype=b.dtype, device=b.device),
                                        torch.as_tensor(far, dtype=b.dtype, device=b.device))
    near, far = near.expand_as(b), far.expand_as(b)
    hit = disc > 0
    lo = torch.where(hit, torch.maximum(near, -b - root), far)
    hi = torch.where(hit, torch.minimum(far, -b + root), far)
    return lo, torch.maximum(lo, hi)


def importance_depths(depths: torch.Tensor, weights: torch.Tensor, far: torch.Tensor, num: int,
                      perturb: bool = True) -> torch.Tensor:
    """NeRF's hierarchical sampling: `num` depths (..., num) drawn from a piecewise-constant
    density on the coarse intervals [t_i, t_{i+1}) (the last up to `far` (...)), by inverting
    its CDF at stratified u (perturb) or at the strata's centres.

    Interval i gets the mean of the coarse weights of its two ends, (w_i + w_{i+1}) / 2: in
    this quadrature a surface that sample i sees first lies between samples i - 1 and i, so a
    weight is spread over the intervals on both sides of its sample. Where a ray has (almost)
    no weight, the draw is uniform over its intervals."""
    edges = torch.cat([depths, far[..., None].to(depths.dtype)], -1)  # (..., S + 1)
    w = weights.detach()
    w = 0.5 * (w + torch.cat([w[..., 1:], torch.zeros_like(w[..., :1])], -1))
    w = w + 1e-5 * (edges[..., 1:] - edges[..., :-1] > 0)  # uniform where empty
    cdf = torch.cumsum(w, -1)
    cdf = torch.cat([torch.zeros_like(cdf[..., :1]), cdf / cdf[..., -1:].clamp_min(1e-12)], -1)
    steps = torch.arange(num, device=depths.device, dtype=depths.dtype).expand(*depths.shape[:-1], num)
    u = (steps + (torch.rand(*depths.shape[:-1], num, device=depths.device) if perturb else 0.5)) / num
    idx = torch.searchsorted(cdf.contiguous(), u.contiguous(), right=True).clamp(1, cdf.shape[-1] - 1)
    c0, c1 = cdf.gather(-1, idx - 1), cdf.gather(-1, idx)
    e0, e1 = edges.gather(-1, idx - 1), edges.gather(-1, idx)
    frac = ((u - c0) / (c1 - c0).clamp_min(1e-12)).clamp(0, 1)
    return e0 + frac * (e1 - e0)


# ----- patches (GRAF's FlexGridRaySampler) -----------------------------------------------------------
def sample_patch_params(n: int, min_scale: float, max_scale: float = 1.0,
                        generator: torch.Generator | None = None, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Per patch a scale s ~ U(min_scale, max_scale) and a shift (du, dv) ~ U(-(1-s), 1-s)^2,
    so that the patch s * [-1, 1]^2 + shift stays inside the image."""
    if not 0 < min_scale <= max_scale <= 1:
        raise ValueError(f"patch scales must satisfy 0 < min_scale <= max_scale <= 1; got {min_scale}, {max_scale}")
    r = torch.rand(n, 3, generator=generator) if generator is not None else torch.rand(n, 3, device=device)
    r = r.to(device) if device is not None else r
    scale = min_scale + (max_scale - min_scale) * r[:, 0]
    shift = (r[:, 1:] * 2 - 1) * (1 - scale[:, None])
    return scale, shift


def sample_pixel_patch_params(n: int, min_scale: float, size: int, k: int,
                              generator: torch.Generator | None = None, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """GRAF's patch draw snapped to the pixel grid of a `size` x `size` image: a scale drawn as in
    `sample_patch_params` is rounded to the nearest whole stride t (rays t pixels apart, 1 <= t
    <= (size - 1) // (k - 1)), and the patch's first row and column to a whole pixel, so every
    ray of the patch passes through a pixel centre. A real patch is then the image's own pixels
    (every t-th of them), not a bilinear read between pixels: such reads blur the real patches
    by up to a half-pixel box filter, D learns that blur as "real" and G copies it (stop 26 in
    docs/models/graf.md: on the 32 px renders a random sub-pixel bilinear shift alone costs
    the real images 50 FID points). Returns (scale, shift) for `patch_uv`, as the continuous draw."""
    if k < 2 or size < k:
        raise ValueError(f"pixel-aligned patches need 2 <= patch ({k}) <= image side ({size})")
    scale, _ = sample_patch_params(n, min_scale, 1.0, generator=generator, device=device)
    r = torch.rand(n, 2, generator=generator) if generator is not None else torch.rand(n, 2, device=device)
    r = r.to(scale.device)
    stride = (scale * (size - 1) / (k - 1)).round().clamp(1, (size - 1) // (k - 1))
    span = stride * (k - 1)  # pixels between the patch's first and last ray
    first = (r * (size - span[:, None])).floor()  # a whole pixel in 0 .. size - 1 - span
    centre = first + span[:, None] / 2
    return span / (size - 1), centre * 2 / (size - 1) - 1  # align_corners=True: pixel p sits at -1 + 2p / (size - 1)


def patch_uv(scale: torch.Tensor, shift: torch.Tensor, k: int) -> torch.Tensor:
    """(N, K, K, 2) normalised (u, v) of a K x K patch of ray positions: a regular grid over
    [-1, 1]^2 scaled by `scale` and moved by `shift` (always inside [-1, 1]^2 for shifts
    from `sample_patch_params`)."""
    base = grid_uv(k, k, device=scale.device)
    return base[None] * scale[:, None, None, None] + shift[:, None, None, :]


def sample_image_patches(images: torch.Tensor, uv: torch.Tensor) -> torch.Tensor:
    """Real patches: images (N, C, H, W) read bilinearly at uv (N, K, K, 2), align_corners=True
    (the same convention as the rays), -> (N, C, K, K)."""
    return F.grid_sample(images, uv.to(images.dtype), mode="bilinear", padding_mode="border", align_corners=True)
