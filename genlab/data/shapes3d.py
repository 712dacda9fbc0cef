"""``shapes3d``: a procedural multi-view set that genlab renders itself (no download).

One object per image, centred at the origin: a sphere, box, cylinder, torus or
cone, or a small combination of two of them (stacked or side by side), each
with random size parameters, a random turn about the vertical axis and a random
colour. Lit by a fixed directional light in the world plus a weak headlight
(Lambertian, so the radiance does not depend on the view), on a white
background, seen from cameras drawn uniformly on the upper hemisphere:
azimuth 0-360 degrees, elevation 5-80 degrees, radius 4.0, vertical field of
view 30 degrees (the `CameraSpec` GRAF reads). The renderer sphere-traces exact
signed distance functions in torch with 2x2 supersampling, through the same
camera model as the GRAF renderer (genlab/nn/rays.py).

Names: ``shapes3d`` (32x32) and ``shapes3d-64`` (64x64; ``image_size=64``).
Splits: train 6,000 images, test 1,000 (other seeds: the held-out renders FID
is measured against). Labels are the 6 shape classes (sphere, box, cylinder,
torus, cone, combination). Kept for evaluation only (``eval_only``, never in
a training batch): ``pose`` (N, 3) = azimuth, elevation, radius in degrees /
world units, and ``shape_params`` (N, 2, 11) = per part [type, centre xyz,
turn (radians), three size parameters, rgb] with type -1 for an empty part.

Rendering takes about a minute on two CPU cores, so each split is cached under
~/.cache/genlab/shapes3d/ (or $GENLAB_CACHE/shapes3d/) as a .pt file keyed by
the renderer version, size and seed.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch

from genlab.data.dataset import ImageDataset, register_dataset
from genlab.model import CameraSpec, DataSpec
from genlab.nn.rays import camera_rays

VERSION = 1
CLASSES = ("sphere", "box", "cylinder", "torus", "cone", "combination")
PRIMITIVES = CLASSES[:5]
CAMERA = CameraSpec(azimuth=(0.0, 360.0), elevation=(5.0, 80.0), radius=(4.0, 4.0), fov=30.0)
SPLITS = {"train": (6000, 1), "test": (1000, 2)}  # count, seed
BOUND = 1.05  # every object fits in this sphere
LIGHT = (0.5, 0.3, 1.0)
SUPERSAMPLE = 2


def cache_dir() -> Path:
    root = os.environ.get("GENLAB_CACHE")
    return Path(root) / "shapes3d" if root else Path.home() / ".cache" / "genlab" / "shapes3d"


# ----- random scenes -------------------------------------------------------------------------------
def _primitive(rng: np.random.Generator, kind: int, scale: float) -> list[float]:
    u = lambda lo, hi: float(rng.uniform(lo, hi)) * scale  # noqa: E731
    if kind == 0:
        size = [u(0.5, 0.8), 0.0, 0.0]
    elif kind == 1:
        size = [u(0.3, 0.55), u(0.3, 0.55), u(0.3, 0.55)]
    elif kind == 2:
        size = [u(0.3, 0.6), u(0.3, 0.6), 0.0]  # radius, half height
    elif kind == 3:
        size = [u(0.45, 0.65), u(0.12, 0.25), 0.0]  # ring radius, tube radius
    else:
        size = [u(0.4, 0.7), u(0.4, 0.7), 0.0]  # base radius, half height
    return size


def _colour(rng: np.random.Generator) -> list[float]:
    import colorsys

    return list(colorsys.hsv_to_rgb(rng.uniform(0, 1), rng.uniform(0.45, 0.9), rng.uniform(0.55, 0.95)))


def random_scenes(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(labels (n,), shape_params (n, 2, 11), poses (n, 3)) from one seed."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, len(CLASSES), n)
    params = np.zeros((n, 2, 11), np.float32)
    params[:, :, 0] = -1
    for i, c in enumerate(labels):
        if c < 5:
            params[i, 0] = [c, 0, 0, 0, rng.uniform(0, 2 * math.pi), *_primitive(rng, c, 1.0), *_colour(rng)]
            continue
        a, b = rng.integers(0, 5, 2)
        stacked = rng.uniform() < 0.5
        off = 0.42
        for slot, (kind, sign) in enumerate(((a, -1), (b, 1))):
            centre = [0, 0, sign * off] if stacked else [sign * off, 0, 0]
            params[i, slot] = [kind, *centre, rng.uniform(0, 2 * math.pi), *_primitive(rng, kind, 0.55),
                               *_colour(rng)]
        if not stacked:  # turn the pair as a whole
            turn = rng.uniform(0, 2 * math.pi)
            c_, s_ = math.cos(turn), math.sin(turn)
            for slot in range(2):
                x = params[i, slot, 1]
                params[i, slot, 1:3] = [c_ * x, s_ * x]
    lo, hi = CAMERA.elevation
    poses = np.stack([rng.uniform(*CAMERA.azimuth, n), rng.uniform(lo, hi, n),
                      rng.uniform(*CAMERA.radius, n)], 1).astype(np.float32)
    return labels.astype(np.int64), params, poses


# ----- signed distances --------------------------------------------------------------------------
def _sdf_kind(kind: int, p: torch.Tensor, size: torch.Tensor) -> torch.Tensor:
    """Exact SDFs in the part's own frame (vertical axis z). p (M, 3), size (M, 3)."""
    if kind == 0:
        return p.norm(dim=-1) - size[:, 0]
    if kind == 1:
        q = p.abs() - size
        return q.clamp_min(0).norm(dim=-1) + q.max(-1).values.clamp_max(0)
    radial = p[:, :2].norm(dim=-1)
    if kind == 2:
        d = torch.stack([radial - size[:, 0], p[:, 2].abs() - size[:, 1]], -1)
        return d.max(-1).values.clamp_max(0) + d.clamp_min(0).norm(dim=-1)
    if kind == 3:
        return torch.stack([radial - size[:, 0], p[:, 2]], -1).norm(dim=-1) - size[:, 1]
    # capped cone, base radius r1 at z = -h, apex (r2 = 0) at z = +h (Quilez's exact form)
    r1, h = size[:, 0], size[:, 1]
    qx, qy = radial, p[:, 2]
    k1x, k1y = torch.zeros_like(h), h  # (r2, h)
    k2x, k2y = -r1, 2 * h  # (r2 - r1, 2h)
    cax = qx - torch.minimum(qx, torch.where(qy < 0, r1, torch.zeros_like(r1)))
    cay = qy.abs() - h
    t = (((k1x - qx) * k2x + (k1y - qy) * k2y) / (k2x ** 2 + k2y ** 2)).clamp(0, 1)
    cbx, cby = qx - k1x + k2x * t, qy - k1y + k2y * t
    inside = (cbx < 0) & (cay < 0)
    d = torch.minimum(cax ** 2 + cay ** 2, cbx ** 2 + cby ** 2).sqrt()
    return torch.where(inside, -d, d)


def part_radius(part: torch.Tensor) -> torch.Tensor:
    """Radius of a sphere around each part's centre that holds the part (with a small margin)."""
    kind, a, b, c = part[:, 0].round(), part[:, 5], part[:, 6], part[:, 7]
    r = torch.where(kind == 0, a, torch.zeros_like(a))
    r = torch.where(kind == 1, (a * a + b * b + c * c).sqrt(), r)
    r = torch.where((kind == 2) | (kind == 4), (a * a + b * b).sqrt(), r)
    r = torch.where(kind == 3, a + b, r)
    return r + 0.01


def _to_local(x: torch.Tensor, part: torch.Tensor, direction: bool = False) -> torch.Tensor:
    """World points (or directions) (M, 3) into the frames of parts (M, 11)."""
    if not direction:
        x = x - part[:, 1:4]
    c, s = torch.cos(part[:, 4]), torch.sin(part[:, 4])
    return torch.stack([c * x[:, 0] + s * x[:, 1], -s * x[:, 0] + c * x[:, 1], x[:, 2]], -1)


def scene_sdf(p: torch.Tensor, params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Distance to the union of an image's parts and the index of the nearest part.
    p (M, 3) world points, params (M, 2, 11) the scene of each point's image (any kinds)."""
    best = torch.full(p.shape[:1], float("inf"), device=p.device)
    part = torch.zeros(p.shape[:1], dtype=torch.long, device=p.device)
    for slot in range(params.shape[1]):
        sp = params[:, slot]
        local = _to_local(p, sp)
        d = torch.full_like(best, float("inf"))
        kinds = sp[:, 0].round().long()
        for kind in range(len(PRIMITIVES)):
            m = kinds == kind
            if m.any():
                d[m] = _sdf_kind(kind, local[m], sp[m, 5:8])
        closer = d < best
        best = torch.where(closer, d, best)
        part = torch.where(closer, torch.full_like(part, slot), part)
    return best, part


def _group_sdf(p: torch.Tensor, parts: torch.Tensor, kinds: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """scene_sdf for points whose scenes all have the part kinds `kinds` (no per-point branching)."""
    best, part = None, None
    for slot, kind in enumerate(kinds):
        d = _sdf_kind(kind, _to_local(p, parts[:, slot]), parts[:, slot, 5:8])
        if best is None:
            best, part = d, torch.zeros_like(d, dtype=torch.long)
        else:
            part = torch.where(d < best, torch.full_like(part, slot), part)
            best = torch.minimum(best, d)
    return best, part


def _shade(p: torch.Tensor, d: torch.Tensor, parts: torch.Tensor, kinds: tuple[int, ...]) -> torch.Tensor:
    """Lambertian colour (M, 3) in [0, 1] of surface points p seen along directions d."""
    _, part = _group_sdf(p, parts, kinds)
    h, grads = 1e-3, []
    for axis in range(3):
        e = torch.zeros(3, device=p.device)
        e[axis] = h
        grads.append(_group_sdf(p + e, parts, kinds)[0] - _group_sdf(p - e, parts, kinds)[0])
    normal = torch.nn.functional.normalize(torch.stack(grads, -1), dim=-1)
    light = torch.nn.functional.normalize(torch.tensor(LIGHT, device=p.device), dim=0)
    shade = 0.3 + 0.6 * (normal @ light).clamp_min(0) + 0.15 * (-(normal * d).sum(-1)).clamp_min(0)
    albedo = parts[torch.arange(len(p), device=p.device), part, 8:11]
    return (albedo * shade[:, None]).clamp(0, 1)


def _trace(o: torch.Tensor, d: torch.Tensor, parts: torch.Tensor, kinds: tuple[int, ...], t: torch.Tensor,
           t_end: torch.Tensor, steps: int, eps: float) -> torch.Tensor:
    """Sphere tracing of rays whose scenes all have the part kinds `kinds` (so no per-ray
    branching): returns a hit mask; `t` is advanced in place to the surface."""
    local = [(_to_local(o, parts[:, k]), _to_local(d, parts[:, k], direction=True), parts[:, k, 5:8])
             for k in range(len(kinds))]
    hit = torch.zeros(len(o), dtype=torch.bool, device=o.device)
    active = torch.nonzero(t < t_end).squeeze(1)
    for block in range(0, steps, 8):  # dense steps on the live rays, compacted every 8 steps
        if len(active) == 0:
            break
        rays = [(lo[active], ld[active], size[active]) for lo, ld, size in local]
        ta, te = t[active], t_end[active]
        live = torch.ones(len(active), dtype=torch.bool, device=o.device)
        for _ in range(min(8, steps - block)):
            dist = None
            for kind, (lo, ld, size) in zip(kinds, rays):
                dk = _sdf_kind(kind, lo + ta[:, None] * ld, size)
                dist = dk if dist is None else torch.minimum(dist, dk)
            ta = torch.where(live, ta + dist, ta)
            live = live & (dist >= eps) & (ta < te)
        t[active] = ta
        hit[active] = (~live) & (ta < te)
        active = active[live]
    return hit


def render_scenes(params: torch.Tensor, poses: torch.Tensor, size: int = 32, supersample: int = SUPERSAMPLE,
                  steps: int = 48, eps: float = 2e-3, fov: float = CAMERA.fov) -> dict:
    """Sphere-trace scenes: params (N, 2, 11), poses (N, 3). Returns ``image`` (N, 3, size, size)
    in [-1, 1] (white background), ``depth`` (N, size, size) ray distance to the nearest surface
    seen in the pixel (inf where every ray misses) and ``mask`` (N, size, size) coverage."""
    n, side = len(params), size * supersample
    dev = params.device
    uv = None
    if supersample > 1:  # sub-pixel ray positions, averaged back to pixel size afterwards
        xs = (torch.arange(side, dtype=torch.float32, device=dev) + 0.5) / supersample - 0.5  # pixel units
        pix = -1 + 2 * xs / (size - 1)  # align_corners=True normalised coordinates
        v, u = torch.meshgrid(pix, pix, indexing="ij")
        uv = torch.stack([u, v], -1).expand(n, -1, -1, -1)
    origins, dirs = camera_rays(poses[:, 0].cpu(), poses[:, 1].cpu(), poses[:, 2].cpu(), fov, size, uv=uv, device=dev)
    o, d = origins.reshape(-1, 3), dirs.reshape(-1, 3)
    owner = torch.arange(n, device=dev).repeat_interleave(side * side)
    # each part's bounding sphere: marching starts where the ray enters the first one and
    # stops where it leaves the last; rays that miss them all are background at once
    t = torch.full((len(o),), float("inf"), device=dev)
    t_end = torch.full((len(o),), -float("inf"), device=dev)
    for slot in range(params.shape[1]):
        part = params[owner, slot]
        oc = o - part[:, 1:4]
        b = (oc * d).sum(-1)
        disc = b ** 2 - ((oc * oc).sum(-1) - part_radius(part) ** 2)
        root = disc.clamp_min(0).sqrt()
        ok = (disc > 0) & (part[:, 0] >= 0)
        t = torch.where(ok, torch.minimum(t, (-b - root).clamp_min(0)), t)
        t_end = torch.where(ok, torch.maximum(t_end, -b + root), t_end)
    t = torch.where(torch.isfinite(t), t, torch.zeros_like(t))
    hit = torch.zeros(len(o), dtype=torch.bool, device=dev)
    colour = torch.ones(len(o), 3, device=dev)  # white background
    signature = [tuple(int(k) for k in row if k >= 0) for row in params[:, :, 0].round().long().tolist()]
    for kinds in sorted(set(signature)):
        images = torch.tensor([i for i, s in enumerate(signature) if s == kinds], device=dev)
        rays = (images[:, None] * side * side + torch.arange(side * side, device=dev)).flatten()
        tt = t[rays].clone()
        parts = params[owner[rays]]
        h = _trace(o[rays], d[rays], parts, kinds, tt, t_end[rays], steps, eps)
        hit[rays], t[rays] = h, tt
        at = torch.nonzero(h).squeeze(1)
        if len(at):
            colour[rays[at]] = _shade(o[rays[at]] + tt[at, None] * d[rays[at]], d[rays[at]], parts[at], kinds)
    img = colour.reshape(n, side, side, 3).permute(0, 3, 1, 2)
    mask = hit.float().reshape(n, 1, side, side)
    depth = torch.where(hit, t, torch.full_like(t, float("inf"))).reshape(n, side, side)
    if supersample > 1:
        img = torch.nn.functional.avg_pool2d(img, supersample)
        mask = torch.nn.functional.avg_pool2d(mask, supersample)
        depth = -torch.nn.functional.max_pool2d(-depth[:, None], supersample)[:, 0]  # nearest surface
    return {"image": img * 2 - 1, "depth": depth, "mask": mask[:, 0]}


# ----- the data set --------------------------------------------------------------------------------
def build_split(split: str, size: int, chunk: int = 250, device: str | None = None) -> dict:
    """Render a split (on the GPU when there is one: seconds instead of minutes)."""
    n, seed = SPLITS[split]
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    labels, params, poses = random_scenes(n, seed)
    params_t, poses_t = torch.from_numpy(params), torch.from_numpy(poses)
    images = []
    with torch.no_grad():
        for i in range(0, n, chunk):
            out = render_scenes(params_t[i:i + chunk].to(device), poses_t[i:i + chunk].to(device), size)
            images.append(((out["image"].cpu() + 1) * 127.5).round().clamp(0, 255).to(torch.uint8))
    return {"images": torch.cat(images), "labels": torch.from_numpy(labels), "shape_params": params_t,
            "pose": poses_t, "version": VERSION}


def load_split(split: str, size: int) -> dict:
    if split not in SPLITS:
        raise ValueError(f"shapes3d has splits {', '.join(SPLITS)}; got {split!r}")
    path = cache_dir() / f"v{VERSION}_{split}_{size}.pt"
    if path.exists():
        try:
            data = torch.load(path, weights_only=True)
            if data.get("version") == VERSION:
                return data
        except Exception:  # a broken cache file is rendered again
            pass
    data = build_split(split, size)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        torch.save(data, tmp)
        os.replace(tmp, path)
    except OSError:  # an unwritable cache only costs the rendering next time
        pass
    return data


def shapes3d(split: str = "train", root=None, image_size=None) -> ImageDataset:
    size = image_size or 32
    if size not in (32, 64):
        raise ValueError(f"shapes3d renders 32x32 or 64x64 images; got image_size {image_size}")
    data = load_split(split, size)
    spec = DataSpec(channels=3, height=size, width=size, num_classes=len(CLASSES),
                    name="shapes3d" if size == 32 else "shapes3d-64", camera=CAMERA)
    images = data["images"].float() / 127.5 - 1.0
    return ImageDataset(spec, images, data["labels"],
                        extras={"pose": data["pose"], "shape_params": data["shape_params"]},
                        eval_only=("pose", "shape_params"))


register_dataset("shapes3d", shapes3d)
register_dataset("shapes3d-64", lambda split="train", root=None, image_size=None:
                 shapes3d(split, root, image_size or 64))

