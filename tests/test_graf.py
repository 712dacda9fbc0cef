"""GRAF (issue 14): ray geometry, volume rendering against analytic transmittance, positional
encoding, patches, the depth of a known sphere, camera refusals, and the model's contract."""
import math

import pytest
import torch

from genlab.model import CameraSpec, DataSpec
from genlab.nn import rays as R

CAMERA = CameraSpec(azimuth=(0.0, 360.0), elevation=(5.0, 80.0), radius=(4.0, 4.0), fov=30.0)
SPEC = DataSpec(channels=3, height=16, width=16, num_classes=6, name="toy3d", camera=CAMERA)


def tiny_graf(**kw):
    from genlab.models.graf import GRAF, GRAFConfig

    cfg = dict(shape_dim=4, appearance_dim=4, width=16, depth=2, pos_freqs=2, dir_freqs=1, samples=8, patch=8,
               d_width=8, anneal_steps=100, anneal_every=10, noise_steps=50)
    cfg.update(kw)
    torch.manual_seed(0)
    return GRAF(GRAFConfig(**cfg), SPEC)


# ----- rays --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("az,el", [(0, 10), (77, 45), (200, 80), (359, 5)])
def test_centre_ray_points_at_origin_and_directions_are_unit(az, el):
    o, d = R.camera_rays(torch.tensor([az]), torch.tensor([el]), torch.tensor([4.0]), 30.0, 17)
    assert torch.allclose(d.norm(dim=-1), torch.ones(1, 17, 17), atol=1e-6)
    centre_o, centre_d = o[0, 8, 8], d[0, 8, 8]
    assert torch.allclose(centre_d, -centre_o / centre_o.norm(), atol=1e-6)  # straight at the origin
    assert math.isclose(centre_o.norm().item(), 4.0, rel_tol=1e-6)
    assert math.isclose(math.degrees(math.asin(centre_o[2].item() / 4.0)), el, abs_tol=1e-3)


def test_image_axes_and_field_of_view():
    o, d = R.camera_rays(torch.tensor([0.0]), torch.tensor([30.0]), torch.tensor([4.0]), 40.0, 9)
    fwd = d[0, 4, 4]
    # the top row points higher (world z) than the bottom row; the vertical edge rays span the fov
    assert d[0, 0, 4, 2] > d[0, 8, 4, 2]
    top, bottom = d[0, 0, 4], d[0, 8, 4]
    span = math.degrees(math.acos((top @ bottom).item()))
    assert math.isclose(span, 2 * math.degrees(math.atan(8 / 9 * math.tan(math.radians(20)))), rel_tol=1e-4)
    assert abs((fwd @ torch.tensor([0.0, 0.0, 1.0])).item()) < 1  # sanity


def test_project_inverts_rays():
    az, el, r = torch.tensor([10.0, 250.0]), torch.tensor([20.0, 70.0]), torch.tensor([4.0, 5.0])
    uv = torch.rand(2, 30, 2) * 2 - 1
    o, d = R.camera_rays(az, el, r, 30.0, 32, uv=uv)
    t = torch.rand(2, 30) * 3 + 1
    back, dist = R.project(o + t[..., None] * d, az, el, r, 30.0, 32)
    assert torch.allclose(back, uv, atol=1e-4) and torch.allclose(dist, t, atol=1e-4)


def test_straight_down_camera_is_refused():
    with pytest.raises(ValueError, match="elevation"):
        R.camera_rays(torch.tensor([0.0]), torch.tensor([90.0]), torch.tensor([4.0]), 30.0, 8)


# ----- positional encoding -------------------------------------------------------------------------------
def test_positional_encoding_frequencies():
    x = torch.tensor([[0.25, -0.5, 0.1]])
    g = R.positional_encoding(x, 4)
    assert g.shape == (1, R.encoding_size(3, 4)) == (1, 27)
    assert torch.equal(g[:, :3], x)
    sines, cosines = g[:, 3:15].view(4, 3), g[:, 15:].view(4, 3)
    for k in range(4):
        assert torch.allclose(sines[k], torch.sin(2 ** k * math.pi * x[0]), atol=1e-6)
        assert torch.allclose(cosines[k], torch.cos(2 ** k * math.pi * x[0]), atol=1e-6)
    # the highest frequency has period 2 / 2^(L-1): shifting x by it changes nothing
    assert torch.allclose(R.positional_encoding(x + 2 / 2 ** 3, 4)[:, 3 + 9:15], sines[3:].flatten()[None], atol=1e-5)


# ----- volume rendering -------------------------------------------------------------------------------------
def test_slab_matches_analytic_transmittance():
    t = R.stratified_depths((1,), 0.0, 4.0, 4000, perturb=False)
    for sigma0, (a, b) in [(0.7, (1.0, 2.5)), (3.0, (0.5, 0.9))]:
        sigma = sigma0 * ((t >= a) & (t < b)).float()
        out = R.volume_render(sigma, torch.zeros(*t.shape, 3), t, far=4.0, background=1.0)
        expected = 1 - math.exp(-sigma0 * (b - a))
        assert math.isclose(out["opacity"].item(), expected, abs_tol=2e-3)
        assert math.isclose(out["colour"][0, 0].item(), 1 - expected, abs_tol=2e-3)  # black slab over white


def test_sphere_chord_matches_analytic_transmittance():
    # rays at distance h from the centre of a unit ball of constant density: T = exp(-sigma * 2 sqrt(1 - h^2))
    sigma0, h = 1.3, torch.tensor([0.0, 0.3, 0.6, 0.9, 1.2])
    o = torch.stack([h, torch.zeros_like(h), torch.full_like(h, -3.0)], -1)
    d = torch.tensor([0.0, 0.0, 1.0]).expand_as(o)
    t = R.stratified_depths((5,), 1.0, 5.0, 4000, perturb=False)
    pts = o[:, None] + t[..., None] * d[:, None]
    sigma = sigma0 * (pts.norm(dim=-1) < 1).float()
    out = R.volume_render(sigma, torch.ones(*t.shape, 3), t, far=5.0)
    chord = 2 * (1 - h ** 2).clamp_min(0).sqrt()
    assert torch.allclose(out["opacity"], 1 - torch.exp(-sigma0 * chord), atol=3e-3)


def test_depth_of_a_known_sphere():
    # a nearly opaque ball of radius 0.8 at the origin, seen from a camera at distance 4
    o, d = R.camera_rays(torch.tensor([30.0]), torch.tensor([40.0]), torch.tensor([4.0]), 30.0, 24)
    o, d = o.reshape(1, -1, 3), d.reshape(1, -1, 3)
    t = R.stratified_depths((1, o.shape[1]), 2.5, 5.5, 3000, perturb=False)
    pts = o[..., None, :] + t[..., None] * d[..., None, :]
    out = R.volume_render(1e4 * (pts.norm(dim=-1) < 0.8).float(), torch.zeros(*t.shape, 3), t, far=5.5)
    b = (o * d).sum(-1)
    disc = b ** 2 - ((o * o).sum(-1) - 0.8 ** 2)
    hit = disc > 0.02  # away from the silhouette, where a pixel is partly covered
    analytic = -b - disc.clamp_min(0).sqrt()
    assert hit.sum() > 50
    assert torch.allclose(out["depth"][hit], analytic[hit], atol=3e-3)
    assert (out["opacity"][hit] > 0.999).all() and (out["opacity"][disc < 0] < 1e-3).all()


def test_procedural_renderer_sphere_depth():
    from genlab.data.shapes3d import render_scenes

    params = torch.zeros(1, 2, 11)
    params[:, :, 0] = -1
    params[0, 0, :] = torch.tensor([0, 0, 0, 0, 0.0, 0.7, 0, 0, 0.2, 0.4, 0.6])
    pose = torch.tensor([[60.0, 30.0, 4.0]])
    out = render_scenes(params, pose, size=16, supersample=1)
    o, d = R.camera_rays(pose[:, 0], pose[:, 1], pose[:, 2], 30.0, 16)
    b = (o * d).sum(-1)
    disc = b ** 2 - ((o * o).sum(-1) - 0.49)
    hit = disc > 0
    assert torch.equal(out["mask"] > 0.5, hit)
    # sphere tracing stops within eps = 2e-3 of the surface (further along grazing rays)
    assert torch.allclose(out["depth"][hit], (-b - disc.sqrt())[hit], atol=1e-2)
    assert (out["depth"][hit] - (-b - disc.sqrt())[hit]).abs().median() < 3e-3


# ----- patches --------------------------------------------------------------------------------------------
def test_patches_stay_inside_the_image_and_match_grid_sample():
    g = torch.Generator().manual_seed(0)
    for min_scale in (0.25, 0.5, 0.9, 1.0):
        scale, shift = R.sample_patch_params(2000, min_scale, 1.0, generator=g)
        assert (scale >= min_scale - 1e-6).all() and (scale <= 1 + 1e-6).all()
        uv = R.patch_uv(scale, shift, 8)
        assert uv.abs().max() <= 1 + 1e-5
    # a full-scale patch with K = image side reads the image exactly (align_corners=True)
    img = torch.rand(1, 3, 8, 8)
    patch = R.sample_image_patches(img, R.patch_uv(torch.ones(1), torch.zeros(1, 2), 8))
    assert torch.allclose(patch, img, atol=1e-6)
    with pytest.raises(ValueError):
        R.sample_patch_params(4, 0.0, 1.0)


def test_pixel_aligned_patches_read_the_images_own_pixels_and_their_rays_hit_pixel_centres():
    """With pixel_patches a real patch is a strided crop of the image, exactly (no bilinear blur),
    and a fake patch's rays are a subset of the full render's rays; the continuous draw blurs."""
    g = torch.Generator().manual_seed(0)
    size, k = 32, 16
    img = torch.rand(400, 3, size, size)
    pixel_centres = R.grid_uv(size, size)
    for min_scale in (0.5, 0.9):
        scale, shift = R.sample_pixel_patch_params(400, min_scale, size, k, generator=g)
        uv = R.patch_uv(scale, shift, k)
        assert uv.abs().max() <= 1 + 1e-5
        pix = (uv + 1) * (size - 1) / 2  # pixel coordinates of every ray
        assert torch.allclose(pix, pix.round(), atol=1e-4)
        stride = (pix[:, 0, 1, 0] - pix[:, 0, 0, 0]).round().long()
        first = pix[:, 0, 0].round().long()  # (x, y) of the top-left ray
        crops = torch.stack([img[i, :, y:y + k * t:t, x:x + k * t:t]
                             for i, ((x, y), t) in enumerate(zip(first.tolist(), stride.tolist()))])
        assert torch.allclose(R.sample_image_patches(img, uv), crops, atol=1e-5)
        # the rays are pixel centres of the full render, the one G draws at sampling time
        gap = (uv.reshape(-1, 1, 2) - pixel_centres.reshape(1, -1, 2)).abs().amax(-1).amin(1)
        assert gap.max() < 1e-5
        strides = set(stride.tolist())
        # the scale's draw decides the stride: rays 2 px apart cover the whole image (scale 0.97),
        # 1 px apart a 16 px crop; min_scale 0.9 leaves only the whole image, 0.5 both
        assert strides == ({1, 2} if min_scale == 0.5 else {2})
    # the continuous draw reads between pixels: its patches are not the image's own values
    scale, shift = R.sample_patch_params(400, 0.5, 1.0, generator=g)
    uv = R.patch_uv(scale, shift, k)
    pix = (uv + 1) * (size - 1) / 2
    assert (pix - pix.round()).abs().max() > 0.4
    with pytest.raises(ValueError, match="patch"):
        R.sample_pixel_patch_params(4, 0.5, 8, 16)
    m = tiny_graf(pixel_patches=True)  # 16 px data, K = 8: strides 1 and 2
    m.min_scale = 0.5
    small = img[:50, :, :16, :16]
    torch.manual_seed(3)
    uv = R.patch_uv(*m.patch_params(50, "cpu"), 8)
    torch.manual_seed(3)
    real = m.real_patches(small)
    assert real.shape == (50, 3, 8, 8)  # the model's patches are its pixels: a nearest read gives the same
    nearest = torch.nn.functional.grid_sample(small, uv, mode="nearest", align_corners=True)
    assert torch.allclose(real, nearest, atol=1e-5)
    assert m.fake_patches(2).shape == (2, 3, 8, 8)
    with pytest.raises(ValueError, match=r"pixel_patches needs patch \(32\) <= the image side \(16\)"):
        tiny_graf(pixel_patches=True, patch=32)  # refused when the model is built, not at its first step


def test_real_and_fake_patches_share_the_annealed_sampler():
    m = tiny_graf()
    m.advance(0)
    assert m.min_scale == pytest.approx(0.9)
    m.advance(10_000)
    assert m.min_scale == pytest.approx(m.config.scale_final) and m.noise == 0
    steps = [m.schedule(s)[0] for s in range(0, 120, 5)]
    assert all(a >= b for a, b in zip(steps, steps[1:]))  # monotone staircase
    assert m.real_patches(torch.rand(3, 3, 16, 16) * 2 - 1).shape == (3, 3, 8, 8)
    assert m.fake_patches(3).shape == (3, 3, 8, 8)


# ----- the model ------------------------------------------------------------------------------------------
def test_contract_sampling_is_seeded_and_in_range():
    m = tiny_graf().eval()
    a = m.sample(3, generator=torch.Generator().manual_seed(5))
    b = m.sample(3, generator=torch.Generator().manual_seed(5))
    assert a.shape == (3, 3, 16, 16) and torch.equal(a, b) and a.min() >= -1 and a.max() <= 1
    assert {"sample", "latent", "sample_steps"} <= set(m.capabilities)
    frames = list(m.sample_steps(2, generator=torch.Generator().manual_seed(1), frames=4))
    assert len(frames) == 4 and frames[0].shape == (2, 3, 16, 16)
    groups = {c.group for c in m.controls()}
    assert groups == {"camera", "shape code", "appearance code"}
    out = m.render(m.prior(2), azimuth=10.0, elevation=20.0)
    assert out["depth"].shape == out["opacity"].shape == (2, 1, 16, 16)


def _shipped_graf():
    from genlab.paths import CHECKPOINT_DIR
    from genlab.registry import load

    if not (CHECKPOINT_DIR / "graf-shapes.pt").exists():
        pytest.skip("checkpoints/graf-shapes.pt is missing")
    return load("graf-shapes").eval()


@pytest.mark.parametrize("which", ["tiny", "shipped"])
def test_views_contract(which):
    """genlab.model's ``views``: render_views from any camera -> colour, depth, opacity; split
    into shape and appearance codes; the camera's ranges as decode controls; bad cameras refused."""
    m = tiny_graf().eval() if which == "tiny" else _shipped_graf()
    assert {"views", "latent"} <= set(m.capabilities)
    side = m.data_spec.height
    z = m.prior(2, torch.Generator().manual_seed(0))
    out = m.render_views(z, azimuth=torch.tensor([10.0, 200.0]), elevation=30.0, radius=None)
    assert set(out) == {"colour", "depth", "opacity"}
    assert out["colour"].shape == (2, 3, side, side) and out["colour"].abs().max() <= 1
    assert out["depth"].shape == out["opacity"].shape == (2, 1, side, side)
    assert 0 <= out["opacity"].min() and out["opacity"].max() <= 1 and not out["colour"].requires_grad
    assert m.render_views(z[:1], size=8)["colour"].shape == (1, 3, 8, 8)
    s, a = m.split(z)
    assert torch.equal(torch.cat([s, a], 1), z) and s.shape[1] > 0 and a.shape[1] > 0
    other = torch.cat([s, m.split(m.prior(2, torch.Generator().manual_seed(1)))[1]], 1)
    swapped = m.render_views(other, azimuth=torch.tensor([10.0, 200.0]), elevation=30.0)
    assert torch.equal(swapped["depth"], out["depth"]) and not torch.equal(swapped["colour"], out["colour"])
    camera = {c.name: c for c in m.controls_for("decode")}
    assert {"azimuth", "elevation", "radius", "fov"} <= set(camera)
    lo, hi = camera["elevation"].low, camera["elevation"].high
    with pytest.raises(ValueError, match=rf"elevation must lie in the trained range \[{lo:g}, {hi:g}\]"):
        m.render_views(z, elevation=hi + 5)
    with pytest.raises(ValueError, match=rf"radius\) must lie in \[{camera['radius'].low:g}, "):
        m.render_views(z, radius=0.0)


@pytest.mark.parametrize("which", ["tiny", "shipped"])
def test_a_ray_profile_is_the_pixel_it_renders(which):
    """genlab.model's ``ray_profile``: the samples along one pixel's ray, whose weights composite
    to that pixel of `render_views` (colour over the white background, opacity and depth); a
    pixel outside the view is refused with the accepted range."""
    m = tiny_graf(importance=4, clip_rays=True).eval() if which == "tiny" else _shipped_graf()
    assert "ray_profile" in m.capabilities
    side = m.data_spec.height
    z = m.prior(1, torch.Generator().manual_seed(3))
    out = m.render_views(z, azimuth=120.0, elevation=35.0, radius=None)
    for row, col in ((side // 2, side // 2), (1, side - 2), (side - 1, 0)):
        p = m.ray_profile(z, row, col, azimuth=120.0, elevation=35.0)
        n = len(p["distance"])
        assert p["density"].shape == p["weight"].shape == (n,) and p["colour"].shape == (n, 3)
        assert (p["distance"].diff() >= 0).all() and (p["density"] >= 0).all() and (p["weight"] >= 0).all()
        assert torch.allclose(p["weight"].sum(), p["opacity"], atol=1e-5)
        composited = (p["weight"][:, None] * p["colour"]).sum(0) + (1 - p["opacity"])
        assert torch.allclose(composited, p["pixel"], atol=1e-5)
        assert torch.allclose(p["pixel"] * 2 - 1, out["colour"][0, :, row, col], atol=1e-4)
        assert torch.allclose(p["opacity"], out["opacity"][0, 0, row, col], atol=1e-5)
        assert torch.allclose(p["depth"], out["depth"][0, 0, row, col], atol=1e-4)
    for bad in (-1, side, 2.5):
        with pytest.raises(ValueError, match=rf"pixel row must be a whole number in \[0, {side - 1}\]"):
            m.ray_profile(z, bad, 0)
    with pytest.raises(ValueError, match="elevation must lie in the trained range"):
        m.ray_profile(z, 0, 0, elevation=89.0)


def test_the_rays_plot_marks_two_pixels_and_draws_their_rays(tmp_path):
    """`genlab plots` on a model with ray_profile: one view and two rays (density over weights)."""
    from genlab.plots import available_plots, save_plots

    m = tiny_graf(importance=4, clip_rays=True).eval()
    assert available_plots(m) == ["rays"]
    path = save_plots(m, tmp_path)["rays"]
    assert path.exists() and path.stat().st_size > 10_000
    from genlab.plots import rays
    fig = rays(m, seed=1)
    assert len(fig.axes) == 5 and len(fig.axes[0].patches) == 2  # the view with two marks, two rays x 2 axes


def test_appearance_code_cannot_move_depth():
    from genlab.metrics.multiview import appearance_depth_change

    m = tiny_graf().eval()
    figures = appearance_depth_change(m, 3)
    assert figures["appearance_depth_change"] == 0 and figures["appearance_opacity_change"] == 0


@pytest.mark.parametrize("bad,match", [(dict(elevation=95.0), "trained range"), (dict(elevation=-20.0), "trained range"),
                                       (dict(radius=0.0), "radius"), (dict(radius=float("nan")), "finite"),
                                       (dict(fov=0.0), "fov")])
def test_bad_camera_values_are_refused_with_the_range(bad, match):
    m = tiny_graf().eval()
    with pytest.raises(ValueError, match=match):
        m.decode(m.prior(1), **bad)
    with pytest.raises(ValueError, match=match):
        m.sample(1, **bad)
    name = next(iter(bad))
    with pytest.raises(ValueError):
        m.check_controls("sample", bad) if bad[name] == bad[name] else (_ for _ in ()).throw(ValueError())


def test_multiview_reprojection_of_exact_depth_is_tight():
    from genlab.data.shapes3d import random_scenes, render_scenes
    from genlab.metrics.multiview import reprojection_errors

    _, params, _ = random_scenes(4, 3)
    p = torch.from_numpy(params)
    cam_a = (torch.tensor([0.0, 90, 180, 270]), torch.full((4,), 30.0), torch.full((4,), 4.0))
    cam_b = (cam_a[0] + 30, cam_a[1], cam_a[2])
    ga = render_scenes(p, torch.stack(cam_a, 1), 24, supersample=1)
    gb = render_scenes(p, torch.stack(cam_b, 1), 24, supersample=1)
    prep = lambda g: (torch.nan_to_num(g["depth"], posinf=0.0)[:, None], g["mask"][:, None])  # noqa: E731
    pix, rel = reprojection_errors(*prep(ga), *prep(gb), cam_a, cam_b, 30.0, 24)
    assert len(pix) > 100 and pix.median() < 0.1 and rel.median() < 0.02


# ----- issue 27: the faster field, ray clipping, hierarchical sampling ---------------------------------------
def test_fused_field_matches_the_plain_layers():
    """RadianceField.forward (one product for feature -> feat_in and the density head, codes as
    biases, in-place ReLUs) equals the layer-by-layer form, values and gradients."""
    m = tiny_graf(width=32, depth=3)
    f = m.generator
    with torch.no_grad():  # move the density head off its init so that every path matters
        for p in f.parameters():
            p.add_(0.1 * torch.randn_like(p))
    x, d = torch.randn(2, 5, 7, 3), torch.nn.functional.normalize(torch.randn(2, 5, 3), dim=-1)
    zs, za = torch.randn(2, 4), torch.randn(2, 4)
    outs, grads = [], []
    for fn in (f.forward, f.forward_plain):
        f.zero_grad()
        sigma, rgb = fn(x, d, zs, za)
        ((sigma * torch.linspace(0, 1, 7)).sum() + (rgb ** 2).sum()).backward()
        outs.append((sigma.detach(), rgb.detach()))
        grads.append([p.grad.clone() for p in f.parameters()])
    assert torch.allclose(outs[0][0], outs[1][0], atol=1e-5) and torch.allclose(outs[0][1], outs[1][1], atol=1e-5)
    for a, b in zip(*grads):
        assert torch.allclose(a, b, atol=1e-4, rtol=1e-4)
    assert torch.allclose(f.density(x, zs), outs[0][0], atol=1e-5)


def test_sphere_interval_is_the_chord():
    o = torch.tensor([[0.0, 0.0, -4.0], [0.5, 0.0, -4.0], [2.0, 0.0, -4.0]])
    d = torch.tensor([0.0, 0.0, 1.0]).expand_as(o)
    near, far = R.sphere_interval(o, d, 1.0, torch.full((3,), 2.9), torch.full((3,), 5.1))
    half = math.sqrt(1 - 0.25)
    assert torch.allclose(near, torch.tensor([3.0, 4 - half, 5.1]), atol=1e-5)
    assert torch.allclose(far, torch.tensor([5.0, 4 + half, 5.1]), atol=1e-5)  # a miss has no length
    # clipped to the ray's own [near, far]
    near, far = R.sphere_interval(o[:1], d[:1], 1.0, torch.tensor([3.5]), torch.tensor([4.5]))
    assert torch.allclose(near, torch.tensor([3.5])) and torch.allclose(far, torch.tensor([4.5]))


def test_hierarchical_samples_find_a_thin_surface():
    """Importance depths follow the coarse weights (all of them inside the two intervals next
    to the one sample that holds all the weight), and coarse + fine samples put a nearly opaque ball's depth much
    closer to the analytic depth than as many stratified samples alone."""
    t = R.stratified_depths((1,), 0.0, 8.0, 8, perturb=False)
    w = torch.zeros(1, 8)
    w[0, 3] = 1.0
    fine = R.importance_depths(t, w, torch.tensor([8.0]), 16, perturb=True)
    assert (fine >= t[0, 2] - 1e-5).all() and (fine <= t[0, 4] + 1e-5).all()
    assert ((fine < t[0, 3]).sum() - (fine >= t[0, 3]).sum()).abs() <= 1  # half on each side
    assert (fine[..., 1:] >= fine[..., :-1]).all()
    assert torch.equal(R.importance_depths(t, w, torch.tensor([8.0]), 16, perturb=False),
                       R.importance_depths(t, w, torch.tensor([8.0]), 16, perturb=False))

    o, d = R.camera_rays(torch.tensor([30.0]), torch.tensor([40.0]), torch.tensor([4.0]), 30.0, 16)
    o, d = o.reshape(1, -1, 3), d.reshape(1, -1, 3)
    near, far = torch.full((1, o.shape[1]), 2.9), torch.full((1, o.shape[1]), 5.1)
    ball = lambda t: 1e3 * ((o[..., None, :] + t[..., None] * d[..., None, :]).norm(dim=-1) < 0.8).float()  # noqa: E731
    b = (o * d).sum(-1)
    disc = b ** 2 - ((o * o).sum(-1) - 0.8 ** 2)
    hit = disc > 0.05
    analytic = -b - disc.clamp_min(0).sqrt()
    coarse = R.stratified_depths((1, o.shape[1]), near, far, 16, perturb=False)
    weights, _ = R.render_weights(ball(coarse), coarse, far)
    both = torch.sort(torch.cat([coarse, R.importance_depths(coarse, weights, far, 16, perturb=False)], -1), -1).values
    uniform = R.stratified_depths((1, o.shape[1]), near, far, 32, perturb=False)
    err = {k: (R.volume_render(ball(t), torch.zeros(*t.shape, 3), t, far=far)["depth"] - analytic)[hit].abs().mean()
           for k, t in (("hierarchical", both), ("uniform", uniform))}
    assert err["hierarchical"] < 0.5 * err["uniform"]


@pytest.mark.parametrize("kw", [dict(clip_rays=True), dict(importance=4), dict(clip_rays=True, importance=4)])
def test_clip_rays_and_importance_options_train_and_render(kw):
    m = tiny_graf(**kw)
    m.advance(0)
    fake = m.fake_patches(2)
    assert fake.shape == (2, 3, 8, 8) and torch.isfinite(fake).all()
    m.generator_loss({"image": torch.zeros(2, 3, 16, 16)})[0].backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in m.generator.parameters())
    m.eval()
    a = m.sample(2, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, m.sample(2, generator=torch.Generator().manual_seed(3))) and a.abs().max() <= 1
    out = m.render(m.prior(2), azimuth=10.0, elevation=20.0)
    assert out["opacity"].shape == (2, 1, 16, 16) and torch.isfinite(out["depth"]).all()
    # the corners of the image miss the sphere: pure background there when rays are clipped
    if kw.get("clip_rays"):
        assert torch.equal(out["colour"][:, :, 0, 0], torch.ones(2, 3))


def test_old_configs_load_with_the_plain_sampler():
    """Checkpoints written before the options keep their sampler: both default to off."""
    from genlab.models.graf import GRAFConfig

    c = GRAFConfig()
    assert c.importance == 0 and c.clip_rays is False


def test_control_help_reads_as_written_text():
    """The 3-D view shows these under its sliders (issue 27: it read "(left out in sample: random)")."""
    for c in tiny_graf().controls():
        assert c.help and "left out" not in c.help and "(" not in c.help.replace("(trained", "")


def test_a_shipped_file_leaves_out_the_discriminator_and_renders_the_same(tmp_path):
    """Only training uses D (`training_only_modules`): a released file drops its weights (GRAF's
    D at GRAF's width is 9x the field), loads without them and renders exactly what the full
    state renders; a file missing the field's weights is still refused."""
    from genlab.checkpoint import load_checkpoint, save_checkpoint, slim_for_release
    from genlab.errors import CheckpointError
    from genlab.registry import get_family, model_from_state

    model = tiny_graf()
    state = {"family": "graf", "config": model.config_dict(), "data_spec": SPEC.to_dict(), "step_state": {}, "step": 0,
             "model": model.state_dict(), "ema": {}}
    slim = slim_for_release(state, half=False, drop=get_family("graf").training_only_modules)
    assert slim["dropped_modules"] == ["discriminator"]
    assert not any(k.startswith("discriminator.") for k in slim["model"])
    assert any(k.startswith("generator.") for k in slim["model"])
    save_checkpoint(slim, tmp_path / "slim.pt")
    shipped = model_from_state(load_checkpoint(tmp_path / "slim.pt")).eval()
    full = model_from_state(state).eval()
    with torch.no_grad():
        a = shipped.sample(2, generator=torch.Generator().manual_seed(3))
        b = full.sample(2, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    broken = {**slim, "model": {k: v for k, v in slim["model"].items() if not k.startswith("generator.rgb")}}
    with pytest.raises(CheckpointError, match="generator.rgb"):
        model_from_state(broken)


# ----- the opacity prior (option opacity_prior; Neural Volumes' Beta(1/2, 1/2)) ------------------------------
def test_the_opacity_prior_is_zero_for_empty_or_opaque_rays_and_largest_at_one_half():
    from genlab.models.graf import opacity_prior

    assert abs(opacity_prior(torch.tensor([0.0, 1.0, 0.0]))) < 1e-6
    grid = torch.linspace(0, 1, 101)
    values = torch.stack([opacity_prior(a[None]) for a in grid])
    assert values.argmax() == 50 and torch.allclose(values, values.flip(0), atol=1e-5)
    assert (values[1:51] > values[:50]).all(), "not rising from 0 to 1/2"


def test_the_opacity_prior_enters_gs_loss_and_training_on_it_makes_rays_empty_or_opaque():
    from genlab.models.graf import opacity_prior

    def partial_share(m):
        torch.manual_seed(5)
        with torch.no_grad():
            _, a = m.fake_patches(16, with_opacity=True)
        return float(((a > 0.05) & (a < 0.95)).float().mean())

    m = tiny_graf(noise_std=0.0, opacity_prior=1.0)
    m.advance(0)
    torch.manual_seed(1)
    with_prior, logs = m.generator_loss({"image": torch.zeros(4, 3, 16, 16)})
    torch.manual_seed(1)
    m.config.opacity_prior = 0.0
    without, none = m.generator_loss({"image": torch.zeros(4, 3, 16, 16)})
    assert none == {} and torch.allclose(with_prior - without, logs["opacity_prior"])
    # The prior alone, for a few steps: fewer rays stay partly opaque.
    m.config.opacity_prior = 1.0
    before = partial_share(m)
    optimiser = torch.optim.Adam(m.generator.parameters(), lr=1e-2)
    for _ in range(30):
        _, a = m.fake_patches(8, with_opacity=True)
        optimiser.zero_grad()
        opacity_prior(a).backward()
        optimiser.step()
    after = partial_share(m)
    assert before > 0.1 and after < 0.5 * before, f"share of partly opaque rays {before:.2f} -> {after:.2f}"


# ----- supersampling (option supersample; docs/models/graf.md, stop 36) ------------------------------------
def test_subpixel_rays_sit_where_the_shapes3d_renderer_puts_them():
    centres = R.grid_uv(16, 16)
    assert torch.equal(R.subpixel_uv(centres, 1, 16)[..., 0, :], centres)
    pixels = R.uv_to_pixels(R.subpixel_uv(centres, 2, 16), 16)  # (16, 16, 4, 2) as (column, row)
    offsets = pixels - R.uv_to_pixels(centres, 16)[..., None, :]
    expected = torch.tensor([[-0.25, -0.25], [-0.25, 0.25], [0.25, -0.25], [0.25, 0.25]])
    assert torch.allclose(offsets, expected.expand_as(offsets), atol=1e-5)


class _SolidBall(torch.nn.Module):
    """A field that is an opaque black ball of radius 0.7 at the origin: every ray empty or opaque."""

    def forward(self, points, dirs, z_s, z_a, noise=0.0):
        sigma = 1e4 * (points.norm(dim=-1) < 0.7).float()
        return sigma, torch.zeros(*sigma.shape, 3)


def test_a_supersampled_render_anti_aliases_a_solid_edge_as_the_data_renderer_does():
    from genlab.data.shapes3d import render_scenes

    params = torch.zeros(1, 2, 11)
    params[:, :, 0] = -1
    params[0, 0, :] = torch.tensor([0, 0, 0, 0, 0.0, 0.7, 0, 0, 0.2, 0.4, 0.6])  # the same ball
    pose = torch.tensor([[60.0, 30.0, 4.0]])
    data = render_scenes(params, pose, size=16, supersample=2)["mask"][0]
    edge = (data > 0.05) & (data < 0.95)
    assert edge.sum() >= 8
    errors = {}
    for s in (1, 2):
        m = tiny_graf(samples=256, supersample=s)
        m.generator = _SolidBall()
        a = m.render(m.prior(1), azimuth=60.0, elevation=30.0, radius=4.0)["opacity"][0, 0]
        errors[s] = (a - data).abs()
    assert ((errors[1] < 0.02) | (errors[1] > 0.2))[edge].all(), "one ray a pixel should be all or nothing"
    assert errors[1][edge].mean() > 0.2
    assert errors[2].max() < 0.05, "2 x 2 rays a pixel should cover each edge pixel as the data's 2 x 2 samples do"


def test_supersampled_fake_patches_keep_their_shape_and_give_the_prior_every_ray():
    m = tiny_graf(noise_std=0.0, supersample=2)
    m.advance(0)
    patches, opacity = m.fake_patches(3, with_opacity=True)
    assert patches.shape == (3, 3, 8, 8) and opacity.shape == (3, 8 * 8 * 4)
    loss, _ = m.generator_loss({"image": torch.zeros(3, 3, 16, 16)})
    loss.backward()
    assert all(p.grad is not None for p in m.generator.parameters())


@pytest.mark.parametrize("layers, window", [(1, 8), (2, 18)])
def test_a_local_discriminator_judges_each_window_alone(layers, window):
    """d_local_layers = n: each logit of D's map sees a 5 * 2^n - 2 px window of the patch and no
    pixel outside it (no instance norm to mix the whole patch in); 0 keeps GRAF's one-logit D."""
    from genlab.models.graf import PatchDiscriminator

    torch.manual_seed(0)
    d = PatchDiscriminator(32, 8, 3, local_layers=layers)
    x = torch.randn(1, 3, 32, 32, requires_grad=True)
    logits = d.body(x)
    assert logits.shape[-1] == 32 >> layers and d(x).shape == (1,)
    i = logits.shape[-1] // 2
    logits[0, 0, i, i].backward()
    rows, cols = (x.grad.abs().sum(1)[0] > 0).nonzero().unbind(1)
    assert rows.max() - rows.min() + 1 == window and cols.max() - cols.min() + 1 == window
    whole = PatchDiscriminator(32, 8, 3).body(x)
    assert whole.shape[-2:] == (1, 1)
    with pytest.raises(ValueError, match="d_local_layers = 5 halves a 32 px patch below 2 px; use at most 4"):
        PatchDiscriminator(32, 8, 3, local_layers=5)
