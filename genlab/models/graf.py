"""GRAF: Schwarz, Liao, Niemeyer & Geiger 2020, "Generative Radiance Fields for 3D-Aware
Image Synthesis", arXiv:2007.02442.

A generator that is a conditional radiance field: density from the positional
encoding gamma(x) and a shape code z_s; colour additionally from gamma(d) of the
view direction and an appearance code z_a (so z_a cannot change the geometry).
Images are volume-rendered with stratified samples along each ray, from cameras
the model draws itself from the data's `CameraSpec` (training images carry no
pose). Training renders only K x K ray patches: a regular grid scaled by
s ~ U(min_scale, 1) and shifted at random so it stays in the image; real
patches are read from the data with `grid_sample` at independently drawn
(s, shift) from the same distribution. min_scale is annealed from 0.9 down
(step-wise, as the paper's exp(-k * 0.0025), k = 3 * floor(iter / 1000)), so
early training sees whole, low-frequency views. One patch discriminator for all
scales (spectral norm + instance norm, LeakyReLU 0.2), non-saturating loss, R1
on real patches (gamma 10), RMSprop (lr_G 5e-4, lr_D 1e-4), G EMA, density noise
whose std decays to 0.

Deviations (all options): smaller field (width 128, 4 layers; the paper's 8 x 256),
32 samples per ray instead of 64, 16 x 16 patches for 32 x 32 images (the
paper's 32 x 32 patches for 64 x 64), codes 64 + 64 (paper 128 + 128), the
annealing compressed to the run length (`anneal_steps`), softplus instead of
ReLU on density (no dead rays at the start), and zero density outside a sphere
of radius `bound` around the origin (the procedural objects fit in it), so the
white background is never fogged. Codes enter the MLP by addition after a
linear map, which equals concatenation in the first layer. Hierarchical sampling
(`importance` > 0: NeRF's coarse-to-fine, one network, the coarse pass without
gradients) and sampling only each ray's chord through that sphere (`clip_rays`)
are options, off by default (hierarchical sampling is off in GRAF's released
configs too).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from genlab.model import Control, DataSpec, GenerativeModel, OptimizerSpec, Phase, option
from genlab.nn import rays as R
from genlab.nn import gan_losses
from genlab.registry import register


@dataclass
class GRAFConfig:
    shape_dim: int = 64  # z_s (paper 128)
    appearance_dim: int = 64  # z_a (paper 128)
    width: int = 128  # hidden units of the field (paper 256)
    depth: int = option(4, low=2)  # layers of the density trunk (paper 8)
    pos_freqs: int = option(10, low=0, high=16)  # L for gamma(x) (paper 10)
    dir_freqs: int = option(4, low=0, high=16)  # L for gamma(d) (paper 4)
    use_viewdirs: bool = True
    samples: int = option(32, low=4)  # stratified samples per ray (paper 64)
    importance: int = option(0, low=0)  # hierarchical sampling: this many more per ray from the coarse weights
    clip_rays: bool = False  # sample only the part of each ray inside the sphere of radius `bound`
    patch: int = option(16, low=4, shapes="discriminator")  # K: rays per patch side
    # The patch-scale and density-noise schedule shapes no tensor: a resume or a warm start may change
    # it (a warm start from a trained file sets scale_start = scale_final and noise_std = 0, so the
    # annealing does not begin again at step 0).
    scale_start: float = option(0.9, low=0.05, high=1.0, resumable=True)  # min_scale at step 0
    scale_final: float = option(0.5, low=0.05, high=1.0, resumable=True)  # floor of min_scale (paper 0.25 at 64 px)
    anneal_steps: int = option(4000, low=1, resumable=True)  # steps to go from scale_start to scale_final
    anneal_every: int = option(250, low=1, resumable=True)  # min_scale changes in steps of this many iterations
    # Rays of every patch through pixel centres (whole strides and offsets), so that a real patch
    # is the image's own pixels rather than a bilinear read that blurs it (R.sample_pixel_patch_params).
    pixel_patches: bool = option(False, resumable=True)
    noise_std: float = option(1.0, low=0.0, resumable=True)  # density noise at step 0 (paper raw_noise_std 1)
    noise_steps: int = option(2000, low=1, resumable=True)  # ... decaying linearly to 0 over this many steps
    bound: float = option(1.1, low=0.1)  # density is zero outside this radius
    d_width: int = option(64, low=1, shapes="discriminator")  # channels of D's first layer
    # Not in GRAF: 0 (GRAF's D) halves the patch down to 4 x 4 and reads one logit from all of it;
    # n > 0 stops after n stride-2 layers and averages a map of logits, each seeing only a
    # 5 x 2^n - 2 px window (18 px for n = 2), with no instance norm, whose statistics would let
    # every logit see the whole patch: a D that judges texture, not layout (PatchGAN, Isola et al.
    # 2017). Measured against the shipped generator in docs/models/graf.md, stop 39.
    d_local_layers: int = option(0, low=0, high=4, shapes="discriminator")
    d_steps: int = option(1, low=1, resumable=True)  # D steps per G step: G trains on every d_steps-th step
    r1: float = option(10.0, low=0.0, resumable=True)  # R1 penalty weight gamma on real patches (gamma/2 * |grad|^2)
    # Not in GRAF: Neural Volumes' Beta(1/2, 1/2) prior on each ray's opacity (Lombardi et al. 2019,
    # eq. 11), so that a ray is either empty or opaque. The scenes are solid objects on white and
    # each fake pixel is one ray, so a ray partly opaque is fur or fog, which D at chance never
    # removed (docs/models/graf.md, stop 35).
    opacity_prior: float = option(0.0, low=0.0, resumable=True,
                                  help="weight of the Beta(1/2, 1/2) prior on each fake ray's opacity in G's loss "
                                       "(Neural Volumes): 0 where every ray is empty or opaque, largest at 1/2")
    # Not in GRAF: the shapes3d renders are drawn with 2 x 2 rays per pixel, averaged (SUPERSAMPLE in
    # genlab.data.shapes3d), so their silhouettes are anti-aliased. With one ray per fake pixel only a
    # semi-transparent shell can draw that soft edge; with the same 2 x 2 rays a solid field can.
    supersample: int = option(1, low=1, high=4, resumable=True,
                              help="rays per pixel side, averaged, in training patches and renders (the shapes3d "
                                   "data: 2); it shapes no weight, so a warm start or resume may change it")


@dataclass
class GRAFOptim:
    """RMSprop as in GRAF (lr_G 5e-4, lr_D 1e-4)."""

    kind: str = "rmsprop"
    lr_g: float = 5e-4
    lr_d: float = 1e-4
    beta1: float = 0.0  # only used with kind = "adam"
    beta2: float = 0.99


class RadianceField(nn.Module):
    """(points, view directions, z_s, z_a) -> (density, rgb in [0, 1])."""

    def __init__(self, c: GRAFConfig):
        super().__init__()
        self.c = c
        w = c.width
        self.pos_in = nn.Linear(R.encoding_size(3, c.pos_freqs), w)
        self.shape_in = nn.Linear(c.shape_dim, w, bias=False)
        self.trunk = nn.ModuleList(nn.Linear(w, w) for _ in range(c.depth - 1))
        self.sigma = nn.Linear(w, 1)
        self.feature = nn.Linear(w, w)
        self.dir_in = nn.Linear(R.encoding_size(3, c.dir_freqs), w // 2) if c.use_viewdirs else None
        self.app_in = nn.Linear(c.appearance_dim, w // 2, bias=False)
        self.feat_in = nn.Linear(w, w // 2)
        self.rgb = nn.Linear(w // 2, 3)
        with torch.no_grad():
            self.sigma.bias.fill_(-1.0)  # a thin fog at the start, not a wall

    def forward(self, x: torch.Tensor, d: torch.Tensor, z_s: torch.Tensor, z_a: torch.Tensor,
                noise: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
        """x (N, R, S, 3), d (N, R, 3), z_s (N, Ds), z_a (N, Da) -> sigma (N, R, S), rgb (N, R, S, 3).

        The arithmetic of the layers as declared (sigma from the trunk; rgb from
        relu(feat_in(feature(h)) + app_in(z_a) + dir_in(gamma(d)))), arranged for speed: the
        codes enter as one bias per sample or ray, the ReLUs work in place, and the two linear
        maps feature -> feat_in (no nonlinearity between them) and the density head are one
        matrix product of h with [feat_in.W feature.W ; sigma.W] (tested against the plain form)."""
        n = x.shape[0]
        h = self.trunk_features(x, z_s)
        w_feat = self.feat_in.weight @ self.feature.weight  # (W/2, W): the two linear maps as one
        b_feat = self.feat_in.weight @ self.feature.bias + self.feat_in.bias
        both = F.linear(h, torch.cat([w_feat, self.sigma.weight]), torch.cat([b_feat, self.sigma.bias]))
        half = w_feat.shape[0]
        raw = both[..., half]
        if noise > 0:
            raw = raw + noise * torch.randn_like(raw)
        sigma = F.softplus(raw) * (x.norm(dim=-1) < self.c.bound)
        bias = self.app_in(z_a).view(n, 1, 1, -1)  # per sample; plus the view direction's, per ray
        if self.dir_in is not None:
            bias = bias + self.dir_in(R.positional_encoding(d, self.c.dir_freqs)).unsqueeze(2)
        g = (both[..., :half] + bias).relu_()
        rgb = torch.sigmoid(self.rgb(g))
        return sigma, rgb

    def trunk_features(self, x: torch.Tensor, z_s: torch.Tensor) -> torch.Tensor:
        h = self.pos_in(R.positional_encoding(x, self.c.pos_freqs)) + self.shape_in(z_s).view(len(x), 1, 1, -1)
        h = h.relu_()
        for layer in self.trunk:
            h = layer(h).relu_()
        return h

    def density(self, x: torch.Tensor, z_s: torch.Tensor, noise: float = 0.0) -> torch.Tensor:
        """sigma (N, R, S) alone (the coarse pass of hierarchical sampling)."""
        raw = self.sigma(self.trunk_features(x, z_s)).squeeze(-1)
        if noise > 0:
            raw = raw + noise * torch.randn_like(raw)
        return F.softplus(raw) * (x.norm(dim=-1) < self.c.bound)

    def forward_plain(self, x: torch.Tensor, d: torch.Tensor, z_s: torch.Tensor, z_a: torch.Tensor,
                      noise: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
        """`forward` written layer by layer (the reference it is tested against; slower)."""
        n = x.shape[0]
        h = F.relu(self.pos_in(R.positional_encoding(x, self.c.pos_freqs)) + self.shape_in(z_s).view(n, 1, 1, -1))
        for layer in self.trunk:
            h = F.relu(layer(h))
        raw = self.sigma(h).squeeze(-1)
        if noise > 0:
            raw = raw + noise * torch.randn_like(raw)
        sigma = F.softplus(raw) * (x.norm(dim=-1) < self.c.bound)
        g = self.feat_in(self.feature(h)) + self.app_in(z_a).view(n, 1, 1, -1)
        if self.dir_in is not None:
            g = g + self.dir_in(R.positional_encoding(d, self.c.dir_freqs)).unsqueeze(2)
        rgb = torch.sigmoid(self.rgb(F.relu(g)))
        return sigma, rgb


OPACITY_EPS = 0.01  # keeps the prior finite at 0 and 1 (its slope there: about 1 / OPACITY_EPS)


def opacity_prior(opacity: torch.Tensor, eps: float = OPACITY_EPS) -> torch.Tensor:
    """The mean over rays of log(a + eps) + log(1 - a + eps), Neural Volumes' Beta(1/2, 1/2) prior
    on opacity a (Lombardi et al. 2019, eq. 11), shifted so that it is 0 where a is 0 or 1 and
    largest (3.25) at a = 1/2: lowering it makes each ray empty or opaque."""
    a = opacity.float()
    floor = math.log(eps) + math.log(1 + eps)
    return (torch.log(a + eps) + torch.log(1 - a + eps) - floor).mean()


class PatchDiscriminator(nn.Module):
    """K x K patch -> one logit; spectral norm on every conv, instance norm after the first.
    `local_layers` = n > 0: only n stride-2 layers, then a 3 x 3 logit map, averaged."""

    def __init__(self, k: int, width: int, channels: int = 3, local_layers: int = 0):
        super().__init__()
        if local_layers and k >> local_layers < 2:
            raise ValueError(f"option d_local_layers = {local_layers} halves a {k} px patch below 2 px; "
                             f"use at most {max(1, (k // 2).bit_length() - 1)}")
        layers, ch, side = [spectral_norm(nn.Conv2d(channels, width, 4, 2, 1)), nn.LeakyReLU(0.2, True)], width, k // 2
        while len(layers) < 2 * local_layers if local_layers else side > 4:  # each pass adds conv, activation
            out = min(ch * 2, 8 * width)
            norm = [] if local_layers else [nn.InstanceNorm2d(out, affine=True)]
            layers += [spectral_norm(nn.Conv2d(ch, out, 4, 2, 1)), *norm, nn.LeakyReLU(0.2, True)]
            ch, side = out, side // 2
        layers += [spectral_norm(nn.Conv2d(ch, 1, 3, 1, 1) if local_layers else nn.Conv2d(ch, 1, side))]
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).flatten(1).mean(1)


@register
class GRAF(GenerativeModel):
    family = "graf"
    Config = GRAFConfig
    Optim = GRAFOptim
    paper = "Schwarz et al. 2020, arXiv:2007.02442"
    ema_modules = ("generator",)
    training_only_modules = ("discriminator",)  # rendering needs only the field
    any_image_size = True  # the field is queried along rays; the image size is only how many rays
    default_data = "shapes3d"

    def __init__(self, config: GRAFConfig, data_spec: DataSpec):
        super().__init__(config, data_spec)
        if config.scale_final > config.scale_start:
            raise ValueError(f"option scale_final ({config.scale_final}) must not exceed scale_start "
                             f"({config.scale_start})")
        if config.pixel_patches and config.patch > data_spec.height:
            raise ValueError(f"option pixel_patches needs patch ({config.patch}) <= the image side "
                             f"({data_spec.height}): a pixel-aligned patch reads whole pixels, at least one a ray")
        self.camera = data_spec.camera
        self.latent_dim = config.shape_dim + config.appearance_dim
        self.generator = RadianceField(config)
        self.discriminator = PatchDiscriminator(config.patch, config.d_width, data_spec.channels,
                                                config.d_local_layers)
        self.min_scale, self.noise = config.scale_start, config.noise_std

    @classmethod
    def supported_shapes(cls) -> str:
        return ("multi-view RGB data with a camera distribution (DataSpec.camera), square, side >= 8, "
                "e.g. data 'shapes3d' (32x32) or 'shapes3d-64'")

    @classmethod
    def check_data_spec(cls, spec: DataSpec) -> None:
        if spec.camera is None or spec.channels != 3 or spec.height != spec.width or spec.height < 8:
            raise ValueError(f"GRAF takes {cls.supported_shapes()}; got {spec.name} {spec.describe()}"
                             f"{'' if spec.camera else ' without a camera distribution'}")

    # ----- the annealing schedule ------------------------------------------------------------
    def schedule(self, step: int) -> tuple[float, float]:
        """(min_scale, density noise std) before training step `step` (0-based), a pure function
        of the step: min_scale falls geometrically from scale_start to scale_final over
        anneal_steps, changing every anneal_every steps (the paper's staircase); the noise
        falls linearly to 0 over noise_steps."""
        c = self.config
        k = (step // c.anneal_every) * c.anneal_every / c.anneal_steps
        scale = max(c.scale_final, c.scale_start * (c.scale_final / c.scale_start) ** min(k, 1.0))
        noise = c.noise_std * max(0.0, 1.0 - step / c.noise_steps)
        return scale, noise

    def advance(self, step: int) -> set[str]:
        self.min_scale, self.noise = self.schedule(step)
        return set()  # nothing structural changes; the optimisers keep their state

    def step_state(self) -> dict:
        return {"min_scale": self.min_scale, "noise": self.noise}

    def load_step_state(self, state: dict) -> None:
        self.min_scale = float(state.get("min_scale", self.config.scale_start))
        self.noise = float(state.get("noise", self.config.noise_std))

    # ----- cameras ----------------------------------------------------------------------------------
    @property
    def default_view(self) -> dict:
        cam = self.camera
        return {"azimuth": 45.0, "elevation": sum(cam.elevation) / 2, "radius": sum(cam.radius) / 2,
                "fov": cam.fov}

    @property
    def radius_range(self) -> tuple[float, float]:
        lo, hi = self.camera.radius
        return (round(max(self.config.bound * 1.5, 0.75 * lo), 2), round(1.5 * hi, 2))

    def check_camera(self, azimuth=None, elevation=None, radius=None, fov=None) -> None:
        """Refuse camera values the model cannot render meaningfully, naming the accepted range."""
        cam = self.camera
        for name, value in (("azimuth", azimuth), ("elevation", elevation), ("radius", radius), ("fov", fov)):
            if value is None:
                continue
            v = torch.as_tensor(value, dtype=torch.float32)
            if not torch.isfinite(v).all():
                raise ValueError(f"camera {name} must be a finite number, got {value!r}")
        if elevation is not None:
            v = torch.as_tensor(elevation, dtype=torch.float32)
            lo, hi = cam.elevation
            if (v < lo - 1e-4).any() or (v > hi + 1e-4).any():
                raise ValueError(f"elevation must lie in the trained range [{lo:g}, {hi:g}] degrees (the upper "
                                 f"hemisphere the data was seen from); got {elevation!r}")
        if radius is not None:
            v = torch.as_tensor(radius, dtype=torch.float32)
            lo, hi = self.radius_range
            if (v < lo - 1e-4).any() or (v > hi + 1e-4).any():
                raise ValueError(f"camera distance (radius) must lie in [{lo:g}, {hi:g}] (the object fills a "
                                 f"sphere of radius {self.config.bound:g}; trained at {cam.radius[0]:g}); "
                                 f"got {radius!r}")
        if fov is not None and not 5.0 <= float(fov) <= 90.0:
            raise ValueError(f"fov must lie in [5, 90] degrees (trained at {cam.fov:g}); got {fov!r}")

    def random_cameras(self, n: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, ...]:
        """(azimuth, elevation, radius) of n cameras drawn uniformly from the data's ranges."""
        u = self.rand(n, 3, generator=generator).cpu()
        cam = self.camera
        out = [lo + (hi - lo) * u[:, i] for i, (lo, hi) in enumerate((cam.azimuth, cam.elevation, cam.radius))]
        return tuple(out)

    # ----- rendering -----------------------------------------------------------------------------------
    def split(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A latent (N, shape_dim + appearance_dim) as (z_s, z_a)."""
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"graf latents have shape (N, {self.latent_dim}) = shape code "
                             f"({self.config.shape_dim}) then appearance code ({self.config.appearance_dim}); "
                             f"got {tuple(z.shape)}")
        return z[:, :self.config.shape_dim], z[:, self.config.shape_dim:]

    def render_rays(self, origins: torch.Tensor, dirs: torch.Tensor, z: torch.Tensor, radius: torch.Tensor,
                    perturb: bool = False, noise: float = 0.0, field: nn.Module | None = None) -> dict:
        """Volume-render rays (N, R, 3) of latents z (N, latent_dim); `radius` (N,) sets near/far
        to radius -+ bound (the object's sphere; with clip_rays each ray's own chord through
        it). With importance > 0, `samples` stratified depths are a coarse pass (density only,
        no gradient) whose weights draw `importance` more; the field is rendered at all of
        them, sorted (NeRF's hierarchical sampling with one network). colour is in [0, 1] over
        a white background; "distance", "sigma" and "rgb" are the samples along each ray."""
        c = self.config
        field = field or self.generator
        z_s, z_a = self.split(z)
        n, r = origins.shape[:2]
        radius = radius.to(origins.device).view(n, 1)
        near, far = (radius - c.bound).clamp_min(1e-3).expand(n, r), (radius + c.bound).expand(n, r)
        if c.clip_rays:
            near, far = R.sphere_interval(origins, dirs, c.bound, near, far)
        t = R.stratified_depths((n, r), near, far, c.samples, perturb=perturb, device=origins.device)
        if c.importance > 0:
            with torch.no_grad():
                coarse = field.density(origins[:, :, None] + t[..., None] * dirs[:, :, None], z_s, noise=noise)
                weights, _ = R.render_weights(coarse.float(), t, far)
                fine = R.importance_depths(t, weights, far, c.importance, perturb=perturb)
            t = torch.sort(torch.cat([t, fine], -1), -1).values
        points = origins[:, :, None] + t[..., None] * dirs[:, :, None]
        sigma, rgb = field(points, dirs, z_s, z_a, noise=noise)
        return {**R.volume_render(sigma, rgb, t, far=far, background=1.0), "distance": t, "sigma": sigma, "rgb": rgb}

    def cameras(self, n: int, azimuth=None, elevation=None, radius=None, fov=None) -> tuple[list, float]:
        """([azimuth, elevation, radius] as (n,) tensors, fov) of n views, checked (None: the default view)."""
        self.check_camera(azimuth, elevation, radius, fov)
        view = self.default_view
        cams = [torch.as_tensor(view[k] if v is None else v, dtype=torch.float32).expand(n).clone()
                for k, v in (("azimuth", azimuth), ("elevation", elevation), ("radius", radius))]
        return cams, float(view["fov"] if fov is None else fov)

    def render_pixels(self, uv: torch.Tensor, azimuth: torch.Tensor, elevation: torch.Tensor, radius: torch.Tensor,
                      fov: float, size: int, z: torch.Tensor, **render_options) -> dict:
        """Pixels at uv (N, ..., 2) of `size` x `size` views, each from `supersample`^2 rays spread over
        the pixel and averaged, as the shapes3d data are drawn: colour (N, P, 3) in [0, 1] and opacity
        (N, P) are the rays' means, depth (N, P) the nearest ray's (the renderer's convention), and
        ray_opacity (N, P * s^2) each ray's own (what the opacity prior asks to be 0 or 1)."""
        s = self.config.supersample
        n = len(z)
        o, d = R.camera_rays(azimuth, elevation, radius, fov, size, uv=R.subpixel_uv(uv, s, size), device=self.device)
        out = self.render_rays(o.reshape(n, -1, 3), d.reshape(n, -1, 3), z, radius, **render_options)
        per_pixel = lambda t: t.reshape(n, -1, s * s, *t.shape[2:])  # noqa: E731
        return {"colour": per_pixel(out["colour"]).mean(2), "opacity": per_pixel(out["opacity"]).mean(2),
                "depth": per_pixel(out["depth"]).amin(2), "ray_opacity": out["opacity"]}

    def render(self, z: torch.Tensor, azimuth=None, elevation=None, radius=None, fov=None,
               size: int | None = None, chunk: int = 8) -> dict:
        """Full images of latents z at the given cameras (numbers or (N,) tensors; None: the
        default view), `supersample`^2 rays a pixel. Returns ``colour`` (N, 3, S, S) in [-1, 1],
        ``depth`` (N, 1, S, S) the expected distance along each ray (far where empty) and
        ``opacity`` (N, 1, S, S)."""
        n = len(z)
        cams, fov = self.cameras(n, azimuth, elevation, radius, fov)
        size = size or self.data_spec.height
        z = z.to(self.device)
        grid = R.grid_uv(size, size, device=self.device)
        outs = []
        for i in range(0, n, chunk):
            sl = slice(i, i + chunk)
            m = len(z[sl])
            out = self.render_pixels(grid.expand(m, -1, -1, -1), cams[0][sl], cams[1][sl], cams[2][sl], fov, size, z[sl])
            outs.append({k: out[k].reshape(m, size, size, -1).permute(0, 3, 1, 2).float()
                         for k in ("colour", "depth", "opacity")})
        res = {k: torch.cat([o[k] for o in outs]) for k in ("colour", "depth", "opacity")}
        res["colour"] = (res["colour"] * 2 - 1).clamp(-1, 1)
        return res

    @torch.no_grad()
    def render_views(self, z: torch.Tensor, azimuth=None, elevation=None, radius=None, fov=None,
                     size: int | None = None) -> dict:
        """The ``views`` capability (genlab.model): `render` at any camera, without gradients."""
        return self.render(z, azimuth, elevation, radius, fov, size=size)

    @torch.no_grad()
    def ray_profile(self, z: torch.Tensor, row: int, col: int, azimuth=None, elevation=None, radius=None,
                    fov=None, size: int | None = None) -> dict:
        """The ``ray_profile`` capability (genlab.model): the samples of the ray through pixel
        (row, col) of `render`'s view, with the quadrature's weights (NeRF eq. 3: w_i = T_i
        (1 - exp(-sigma_i delta_i))), so a user sees where along the ray the pixel's colour comes from."""
        cam, fov = self.cameras(1, azimuth, elevation, radius, fov)
        size = size or self.data_spec.height
        if z.ndim != 2 or len(z) != 1:
            raise ValueError(f"ray_profile takes one latent, shape (1, {self.latent_dim}); got {tuple(z.shape)}")
        for name, v in (("row", row), ("column", col)):
            if not (isinstance(v, int) or (torch.is_tensor(v) and v.ndim == 0)) or not 0 <= int(v) < size:
                raise ValueError(f"pixel {name} must be a whole number in [0, {size - 1}] (the view is "
                                 f"{size} x {size}); got {v!r}")
        o, d = R.camera_rays(*cam, fov, size, device=self.device)
        i = int(row) * size + int(col)
        out = self.render_rays(o.reshape(1, -1, 3)[:, i:i + 1], d.reshape(1, -1, 3)[:, i:i + 1],
                               z.to(self.device), cam[2])
        return {"distance": out["distance"][0, 0].float(), "density": out["sigma"][0, 0].float(),
                "weight": out["weights"][0, 0].float(), "colour": out["rgb"][0, 0].float(),
                "pixel": out["colour"][0, 0].float(), "opacity": out["opacity"][0, 0].float(),
                "depth": out["depth"][0, 0].float()}

    @staticmethod
    def depth_image(out: dict, near: float | None = None, far: float | None = None) -> torch.Tensor:
        """A depth map as a 3-channel picture in [-1, 1]: near is bright, empty space black."""
        depth, opacity = out["depth"], out["opacity"]
        fg = opacity > 0.5
        lo = near if near is not None else (depth[fg].min().item() if fg.any() else 0.0)
        hi = far if far is not None else (depth[fg].max().item() if fg.any() else 1.0)
        x = 1 - ((depth - lo) / max(hi - lo, 1e-6)).clamp(0, 1)
        x = torch.where(fg, 0.15 + 0.85 * x, torch.zeros_like(x))
        return (x * 2 - 1).expand(-1, 3, -1, -1)

    # ----- training ------------------------------------------------------------------------------------
    def fake_patches(self, n: int, with_opacity: bool = False):
        """G's K x K patches at random cameras, codes, scales and shifts: (N, 3, K, K) in [-1, 1]
        (and, `with_opacity`, each ray's opacity (N, K * K * supersample^2))."""
        k = self.config.patch
        az, el, rad = self.random_cameras(n)
        uv = R.patch_uv(*self.patch_params(n, self.device), k)
        out = self.render_pixels(uv, az, el, rad, self.camera.fov, self.data_spec.height, self.prior(n),
                                 perturb=True, noise=self.noise)
        patches = (out["colour"] * 2 - 1).reshape(n, k, k, 3).permute(0, 3, 1, 2)
        return (patches, out["ray_opacity"]) if with_opacity else patches

    def real_patches(self, images: torch.Tensor) -> torch.Tensor:
        """The same sampler on real images: independent (scale, shift) draws, bilinear reads (with
        pixel_patches every read lands on a pixel centre, so the patch is the image's own pixels)."""
        return R.sample_image_patches(images, R.patch_uv(*self.patch_params(len(images), images.device),
                                                          self.config.patch))

    def patch_params(self, n: int, device) -> tuple[torch.Tensor, torch.Tensor]:
        """(scale, shift) of n patches at the current min_scale: continuous as in GRAF, or snapped
        to the pixel grid (option pixel_patches)."""
        if self.config.pixel_patches:
            return R.sample_pixel_patch_params(n, self.min_scale, self.data_spec.height, self.config.patch,
                                               device=device)
        return R.sample_patch_params(n, self.min_scale, 1.0, device=device)

    def discriminator_loss(self, batch: dict):
        real = self.real_patches(batch["image"])
        with torch.no_grad():
            fake = self.fake_patches(len(real))
        if self.config.r1 > 0:
            d_real, penalty = gan_losses.r1_penalty(self.discriminator, real)
        else:
            d_real = self.discriminator(real)
        d_fake = self.discriminator(fake.to(real.dtype))
        loss = gan_losses.discriminator_loss(d_real, d_fake)
        logs = {"D(x)": torch.sigmoid(d_real).mean().detach(), "D(G(z))": torch.sigmoid(d_fake).mean().detach(),
                "min_scale": torch.tensor(self.min_scale)}
        if self.config.r1 > 0:
            loss = loss + self.config.r1 / 2 * penalty
            logs["r1"] = penalty.detach()
        return loss, logs

    def generator_loss(self, batch: dict):
        weight = self.config.opacity_prior
        fake, opacity = self.fake_patches(len(batch["image"]), with_opacity=True)
        loss = gan_losses.generator_loss(self.discriminator(fake))
        if weight <= 0:
            return loss, {}
        prior = opacity_prior(opacity)
        return loss + weight * prior, {"opacity_prior": prior.detach()}

    def phases(self) -> list[Phase]:
        o = self.optim
        spec = lambda lr: OptimizerSpec(o.kind, lr=lr, betas=(o.beta1, o.beta2))  # noqa: E731
        return [Phase("discriminator", list(self.discriminator.parameters()), self.discriminator_loss, spec(o.lr_d)),
                Phase("generator", list(self.generator.parameters()), self.generator_loss, spec(o.lr_g),
                      every=self.config.d_steps)]  # WGAN's n_critic, for a D that learns too slowly (card, stop 21)

    # ----- latent space and sampling ---------------------------------------------------------------
    def prior(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.randn(n, self.latent_dim, generator=generator)

    def _codes(self, n, generator, shape_seed=None, appearance_seed=None, shape_truncation=1.0,
               appearance_truncation=1.0) -> torch.Tensor:
        z_s, z_a = self.split(self.prior(n, generator))
        if shape_seed is not None:  # one shape for all n (hold the shape, vary the appearance)
            z_s = self.randn(1, self.config.shape_dim, generator=torch.Generator().manual_seed(int(shape_seed))
                             ).expand(n, -1)
        if appearance_seed is not None:
            z_a = self.randn(1, self.config.appearance_dim,
                             generator=torch.Generator().manual_seed(int(appearance_seed) + 7_919)).expand(n, -1)
        return torch.cat([z_s * shape_truncation, z_a * appearance_truncation], 1)

    def decode(self, z: torch.Tensor, azimuth=None, elevation=None, radius=None, fov=None, **controls) -> torch.Tensor:
        """Images of chosen latents from one camera (default: azimuth 45, mid elevation)."""
        if controls:
            raise ValueError(f"graf's decode has no control {', '.join(sorted(controls))}; "
                             "it takes azimuth, elevation, radius, fov")
        self.split(z)
        return self.render(z, azimuth, elevation, radius, fov)["colour"]

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, azimuth=None, elevation=None, radius=None,
               fov=None, shape_seed=None, appearance_seed=None, shape_truncation=1.0, appearance_truncation=1.0,
               **controls) -> torch.Tensor:
        """n images at random cameras from the training distribution; a camera value given
        fixes that coordinate for all n; shape_seed / appearance_seed fix that code."""
        if controls:
            raise ValueError(f"graf has no control {', '.join(sorted(controls))}; it takes "
                             f"{', '.join(c.name for c in self.controls_for('sample'))}")
        self.check_camera(azimuth, elevation, radius, fov)
        z = self._codes(n, generator, shape_seed, appearance_seed, shape_truncation, appearance_truncation)
        az, el, rad = self.random_cameras(n, generator)
        return self.render(z, az if azimuth is None else azimuth, el if elevation is None else elevation,
                           rad if radius is None else radius, fov)["colour"]

    steps_caption = "the same objects seen from azimuths around them (an orbit)"

    @torch.no_grad()
    def sample_steps(self, n: int, generator: torch.Generator | None = None, elevation=None, radius=None, fov=None,
                     frames: int = 24, **controls) -> Iterator[torch.Tensor]:
        """An orbit: the same n codes seen from `frames` azimuths around the object."""
        if controls:
            raise ValueError(f"graf's orbit has no control {', '.join(sorted(controls))}; "
                             "it takes elevation, radius, fov")
        z = self.prior(n, generator)
        for i in range(frames):
            yield self.render(z, 360.0 * i / frames, elevation, radius, fov)["colour"]

    def controls(self) -> list[Control]:
        cam, view = self.camera, self.default_view
        lo, hi = self.radius_range
        both, all3 = ("sample", "decode"), ("sample", "decode", "steps")
        return [
            Control("azimuth", "slider", view["azimuth"], low=0.0, high=360.0, step=1.0, applies_to=both,
                    group="camera", help="turns the camera around the object, in degrees; when sampling "
                                         "without it, each image gets a random azimuth"),
            Control("elevation", "slider", view["elevation"], low=cam.elevation[0], high=cam.elevation[1], step=0.5,
                    applies_to=all3, group="camera", help="degrees above the horizon, within the trained range"),
            Control("radius", "slider", view["radius"], low=lo, high=hi, step=0.05, applies_to=all3, group="camera",
                    help=f"camera distance (trained at {cam.radius[0]:g})"),
            Control("fov", "slider", cam.fov, low=5.0, high=90.0, step=1.0, applies_to=all3, group="camera",
                    help="vertical field of view, degrees"),
            Control("shape_seed", "slider", 0, low=0, high=9999, step=1, applies_to=("sample",), group="shape code",
                    help="gives every sample the same shape code; without it, each sample draws its own"),
            Control("shape_truncation", "slider", 1.0, low=0.0, high=1.5, applies_to=("sample",), group="shape code",
                    help="scale of the shape code z_s"),
            Control("appearance_seed", "slider", 0, low=0, high=9999, step=1, applies_to=("sample",),
                    group="appearance code",
                    help="gives every sample the same appearance code; without it, each sample draws its own"),
            Control("appearance_truncation", "slider", 1.0, low=0.0, high=1.5, applies_to=("sample",),
                    group="appearance code", help="scale of the appearance code z_a"),
        ]

    # ----- the family's own figures --------------------------------------------------------------------
    def extra_metrics(self, n: int, seed: int = 0) -> dict:
        """Multi-view depth consistency after reprojection (beside the same figure for the
        ground-truth renderer) and how much the appearance code moves depth. (FID in the shapes3d
        FeatureNet space is every shapes3d sampler's, in `genlab.metrics.evaluate`.)"""
        from genlab.metrics.multiview import appearance_depth_change, multiview_consistency

        out = {"min_scale": round(self.min_scale, 4)}
        out.update(multiview_consistency(self, min(n, 64), seed))
        out.update(appearance_depth_change(self, min(n, 64), seed))
        return out

