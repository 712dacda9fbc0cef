"""Multi-view figures of models with the ``views`` capability (GRAF): is the geometry one
object seen from two cameras (depth reprojected between them, beside the same figure on the
procedural renderer's exact depth for shapes3d data), and does the appearance code leave the
geometry alone. Written against the capability (`prior`, `render_views`, `split` and the
data's `CameraSpec`), never against a family.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from genlab.nn import rays as R


def random_cameras(model, n: int, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
    """(azimuth, elevation, radius), each (n,), drawn uniformly from the data's camera ranges on the
    CPU (the draws GRAF's own `random_cameras` makes from the same generator)."""
    u = torch.rand(n, 3, generator=generator)
    cam = model.data_spec.camera
    return tuple(lo + (hi - lo) * u[:, i] for i, (lo, hi) in enumerate((cam.azimuth, cam.elevation, cam.radius)))


def reprojection_errors(depth_a, opacity_a, depth_b, opacity_b, cam_a, cam_b, fov, size, threshold=0.5):
    """Depth maps (N, 1, S, S) of the same objects from cameras a and b ((azimuth, elevation,
    radius) tuples of (N,) tensors). Each foreground pixel of a is lifted to 3-D with its depth,
    projected into b, lifted again with b's depth there (bilinear), and projected back into a.
    Returns per-point (pixel error in a, |depth disagreement| / the object's depth range in a)."""
    n = len(depth_a)
    o, d = R.camera_rays(*cam_a, fov, size)
    pts = o + depth_a[:, 0, :, :, None] * d  # (N, S, S, 3)
    fg_a = opacity_a[:, 0] > threshold
    uv_b, dist_b = R.project(pts.reshape(n, -1, 3), *cam_b, fov, size)
    grid = uv_b.view(n, 1, -1, 2)
    t_b = F.grid_sample(depth_b, grid, align_corners=True).view(n, -1)
    op_b = F.grid_sample(opacity_b, grid, align_corners=True).view(n, -1)
    ob, db = R.camera_rays(*cam_b, fov, size, uv=uv_b)
    back = ob + t_b[..., None] * db
    uv_back, _ = R.project(back, *cam_a, fov, size)
    uv_a = R.grid_uv(size, size).reshape(1, -1, 2)
    pix = (R.uv_to_pixels(uv_back, size) - R.uv_to_pixels(uv_a, size)).norm(dim=-1)
    fg = depth_a[:, 0].masked_fill(~fg_a, float("nan")).flatten(1)
    span = (torch.nan_to_num(fg, nan=-1e9).amax(1) - torch.nan_to_num(fg, nan=1e9).amin(1)).clamp_min(1e-3)
    rel = (t_b - dist_b).abs() / span[:, None]
    keep = fg_a.view(n, -1) & (op_b > threshold) & (uv_b.abs() <= 1).all(-1)
    return pix[keep], rel[keep]


def _summary(prefix: str, pix: torch.Tensor, rel: torch.Tensor) -> dict:
    if len(pix) == 0:
        return {f"{prefix}_points": 0}
    return {f"{prefix}_px_median": round(pix.median().item(), 4), f"{prefix}_px_mean": round(pix.mean().item(), 4),
            f"{prefix}_depth_share_median": round(rel.median().item(), 4),
            f"{prefix}_depth_share_mean": round(rel.mean().item(), 4), f"{prefix}_points": int(len(pix))}


def multiview_consistency(model, n: int, seed: int = 0, turn: float = 30.0) -> dict:
    """Depth of one code from two cameras `turn` degrees of azimuth apart, reprojected (see
    `reprojection_errors`); ``mv_*`` for the model, ``mv_gt_*`` for the procedural renderer's
    exact depth at the same cameras (the floor: pixel grids and occlusions, not the model)."""
    gen = torch.Generator().manual_seed(seed + 1)
    size, fov = model.data_spec.height, model.data_spec.camera.fov
    z = model.prior(n, gen)
    az, el, rad = random_cameras(model, n, gen)
    cam_a, cam_b = (az, el, rad), (az + turn, el, rad)
    a = model.render_views(z, *cam_a)
    b = model.render_views(z, *cam_b)
    out = _summary("mv", *reprojection_errors(a["depth"].cpu(), a["opacity"].cpu(), b["depth"].cpu(),
                                              b["opacity"].cpu(), cam_a, cam_b, fov, size))
    if model.data_spec.name.startswith("shapes3d"):
        from genlab.data import shapes3d as S

        _, params, _ = S.random_scenes(n, 10_000 + seed)
        p = torch.from_numpy(params)
        ga = S.render_scenes(p, torch.stack(cam_a, 1), size, supersample=1, fov=fov)
        gb = S.render_scenes(p, torch.stack(cam_b, 1), size, supersample=1, fov=fov)
        prep = lambda g: (torch.nan_to_num(g["depth"], posinf=0.0)[:, None], g["mask"][:, None])  # noqa: E731
        out.update(_summary("mv_gt", *reprojection_errors(*prep(ga), *prep(gb), cam_a, cam_b, fov, size)))
    out["mv_turn_degrees"] = turn
    return out


def appearance_depth_change(model, n: int, seed: int = 0) -> dict:
    """Mean |depth change| over the foreground, as a share of the object's depth range, when
    the appearance code alone is redrawn (z_s and camera fixed), beside the same for a new
    shape code; and the mean opacity change of each. The architecture gives density no access
    to z_a, so the first is zero up to float rounding: measured to check that it holds."""
    gen = torch.Generator().manual_seed(seed + 2)
    (z_s, z_a), (other_s, other_a) = model.split(model.prior(n, gen)), model.split(model.prior(n, gen))
    z = torch.cat([z_s, z_a], 1)
    z_app = torch.cat([z_s, other_a], 1)
    z_shape = torch.cat([other_s, z_a], 1)
    az, el, rad = random_cameras(model, n, gen)
    base, app, shp = (model.render_views(x, az, el, rad) for x in (z, z_app, z_shape))
    fg = base["opacity"] > 0.5
    depth = base["depth"].masked_fill(~fg, float("nan")).flatten(1)
    span = (torch.nan_to_num(depth, nan=-1e9).amax(1) - torch.nan_to_num(depth, nan=1e9).amin(1)).clamp_min(1e-3)

    def change(other_out):
        rel = ((other_out["depth"] - base["depth"]).abs().flatten(1) / span[:, None])[fg.flatten(1)]
        return (rel.mean().item() if len(rel) else 0.0,
                (other_out["opacity"] - base["opacity"]).abs().mean().item())

    (app_d, app_o), (shp_d, shp_o) = change(app), change(shp)
    return {"appearance_depth_change": round(app_d, 6), "appearance_opacity_change": round(app_o, 6),
            "shape_depth_change": round(shp_d, 4), "shape_opacity_change": round(shp_o, 4)}
