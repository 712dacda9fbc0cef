"""Matplotlib figures of latent spaces (and of a radiance field's rays), for the CLI (`python -m genlab plots`) and the app.

Every function takes a model (and optionally data) and returns a
`matplotlib.figure.Figure`, built without pyplot so that concurrent callers (the
Gradio app) never share global figure state. `save_plots` writes every figure
the model's capabilities allow:

==================  ===========================  ======================================
figure              needs                        shows
==================  ===========================  ======================================
latent_map          encode                       test digits' posterior means, by class
posterior_vs_prior  encode + latent              q(z) codes over p(z) draws, MMD test
reconstructions     encode + latent              test images above their reconstructions
manifold            latent with latent_dim == 2  decoded images on a grid over z
rays                ray_profile                  one view, and what two of its pixels'
                                                 rays meet: density, weights, colours
==================  ===========================  ======================================

Latent spaces with more than two dimensions are drawn in the plane of their
first two principal components (of the test codes), and the axes say so.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from genlab.errors import GenlabError

PLOTS = ("latent_map", "posterior_vs_prior", "reconstructions", "manifold", "rays")


def available_plots(model) -> list[str]:
    caps = model.capabilities
    out = []
    if "encode" in caps:
        out.append("latent_map")
        if "latent" in caps:
            out += ["posterior_vs_prior", "reconstructions"]
    if "latent" in caps and model.latent_dim == 2:
        out.append("manifold")
    if "ray_profile" in caps:
        out.append("rays")
    return out


def test_data(model, n: int = 1000) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(images, labels) of the model's own data set's test split, first n."""
    from genlab.data import load_dataset

    name = model.data_spec.name
    try:
        data = load_dataset(name, "test")
    except GenlabError as e:
        raise GenlabError(f"cannot load the test split of {name!r} for plots ({e}); pass images yourself") from None
    if data.in_memory:
        images, labels = data.images[:n], data.labels[:n]
    else:
        pairs = [data.stream[i] for i in range(min(n, len(data.stream)))]
        images = torch.stack([p[0] for p in pairs])
        labels = torch.tensor([int(p[1]) for p in pairs]) if model.data_spec.num_classes else None
    return images, (labels if model.data_spec.num_classes else None)


# ----- helpers -----------------------------------------------------------------------------
def _encode_means(model, images: torch.Tensor, batch: int = 500) -> torch.Tensor:
    return torch.cat([model.encode(chunk)[0].float().cpu() for chunk in images.split(batch)])


class _Projection:
    """Identity for 2-D codes; otherwise onto the first two principal axes of `fit_on`."""

    def __init__(self, fit_on: torch.Tensor):
        self.dim = fit_on.shape[1]
        if self.dim > 2:
            self.centre = fit_on.mean(0)
            _, _, v = torch.linalg.svd(fit_on - self.centre, full_matrices=False)
            self.axes = v[:2].T  # (d, 2)

    def __call__(self, z: torch.Tensor) -> np.ndarray:
        if self.dim == 1:
            return torch.cat([z, torch.zeros_like(z)], 1).numpy()
        if self.dim == 2:
            return z.numpy()
        return ((z - self.centre) @ self.axes).numpy()

    def labels(self) -> tuple[str, str]:
        return ("z1", "z2") if self.dim <= 2 else (f"PC1 of {self.dim}-d z", f"PC2 of {self.dim}-d z")


# tab10 with its grey (C7) made black, so class 7 never looks like the grey prior draws
CLASS_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#000000",
                 "#bcbd22", "#17becf")
PRIOR_COLOUR = "0.7"


def _scatter_by_class(ax, xy: np.ndarray, labels: torch.Tensor | None, size: float = 6, alpha: float = 0.8) -> None:
    if labels is None:
        ax.scatter(xy[:, 0], xy[:, 1], s=size, alpha=alpha, c="tab:blue", linewidths=0, label="codes")
        return
    labels = labels.numpy()
    for k in np.unique(labels):
        pts = xy[labels == k]
        ax.scatter(pts[:, 0], pts[:, 1], s=size, alpha=alpha, color=CLASS_COLOURS[int(k) % 10], linewidths=0, label=str(k))


def _title(model, what: str) -> str:
    return f"{model.family} on {model.data_spec.name}: {what}"


# ----- the figures -----------------------------------------------------------------------------
def latent_map(model, images: torch.Tensor | None = None, labels: torch.Tensor | None = None,
               n: int = 1000) -> Figure:
    """Posterior means of test images, coloured by class (Kingma & Welling 2014, Fig. 4 style)."""
    if images is None:
        images, labels = test_data(model, n)
    codes = _encode_means(model, images)
    proj = _Projection(codes)
    fig = Figure(figsize=(6, 5.4), dpi=100)
    ax = fig.add_subplot()
    _scatter_by_class(ax, proj(codes), labels)
    ax.set_xlabel(proj.labels()[0])
    ax.set_ylabel(proj.labels()[1])
    ax.set_title(_title(model, f"latent map of {len(codes)} test images (posterior means)"), fontsize=9)
    if labels is not None:
        ax.legend(title="class", fontsize=7, markerscale=2, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    return fig


def posterior_vs_prior(model, images: torch.Tensor | None = None, labels: torch.Tensor | None = None,
                       n: int = 1000, seed: int = 0, match: dict | None = None) -> Figure:
    """Aggregated-posterior codes z ~ q(z|x) of test images over as many prior draws, with the
    MMD two-sample test (`genlab.nn.autoencoder.prior_match`) in the title."""
    from genlab.nn.autoencoder import aggregated_posterior, mmd_test

    if images is None:
        images, labels = test_data(model, n)
    g = torch.Generator().manual_seed(seed)
    codes = aggregated_posterior(model, images, generator=g)
    prior = model.prior(len(codes), generator=g).float().cpu()
    match = match or mmd_test(codes, prior, generator=g)
    proj = _Projection(codes)
    fig = Figure(figsize=(6, 5.4), dpi=100)
    ax = fig.add_subplot()
    pp = proj(prior)
    ax.scatter(pp[:, 0], pp[:, 1], s=5, c=PRIOR_COLOUR, alpha=0.6, linewidths=0, label="prior p(z)")
    _scatter_by_class(ax, proj(codes), labels, size=5, alpha=0.7)
    ax.set_xlabel(proj.labels()[0])
    ax.set_ylabel(proj.labels()[1])
    ax.set_title(_title(model, "q(z) of test images (colour) vs p(z) (grey)") + f"\n{describe_match(match)}",
                 fontsize=9)
    ax.legend(fontsize=7, markerscale=2, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    return fig


def describe_match(match: dict) -> str:
    """One line for an MMD test result; a p-value at the permutation floor is written as a bound."""
    floor = 1 / (match["permutations"] + 1)
    p = f"p <= {floor:.3f}" if match["p_value"] <= floor else f"p = {match['p_value']:.3f}"
    return f"MMD^2 = {match['mmd2']:.4f}, permutation {p} (n = {match['n']})"


def reconstructions(model, images: torch.Tensor | None = None, n: int = 16) -> Figure:
    """Test images (top rows) above their decoded posterior means (bottom rows)."""
    from genlab.grids import make_grid

    if images is None:
        images, _ = test_data(model, n)
    images = images[:n]
    recon = model.decode(model.encode(images)[0]).float().cpu().clamp(-1, 1)
    per_row = min(16, len(images))
    fig = Figure(figsize=(per_row * 0.5, 1.9), dpi=100)
    fig.subplots_adjust(left=0.01, right=0.99, top=0.8, bottom=0.02, hspace=0.3)
    for i, (pics, what) in enumerate([(images, "data"), (recon, "reconstruction")]):
        ax = fig.add_subplot(2, 1, i + 1)
        ax.imshow(make_grid(pics, nrow=per_row), cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        ax.set_axis_off()
        ax.set_title(what, fontsize=8)
    fig.suptitle(_title(model, "reconstructions"), fontsize=9)
    return fig


def manifold_grid(model, n: int = 20, seed: int = 0) -> tuple[torch.Tensor, np.ndarray]:
    """Decoded images on an n x n grid over a 2-D latent space: (n*n, C, H, W) images, row-major
    with z2 decreasing down the rows, and the (n,) axis values. A N(0, I) prior is walked through
    its inverse CDF (K&W 2014, Fig. 4), other priors over their 1st-99th percentiles."""
    from scipy.stats import norm

    if model.latent_dim != 2:
        raise ValueError(f"the manifold grid needs a 2-D latent space; this {model.family} has "
                         f"latent_dim {model.latent_dim}")
    if model.prior_name == "normal":  # declared by the family (genlab.model)
        axis = [norm.ppf(np.linspace(0.03, 0.97, n))] * 2
    else:
        draws = model.prior(5000, generator=torch.Generator().manual_seed(seed)).float().cpu().numpy()
        axis = [np.linspace(*np.percentile(draws[:, i], [1, 99]), n) for i in range(2)]
    zx, zy = np.meshgrid(axis[0], axis[1][::-1])  # top row = largest z2
    z = torch.tensor(np.stack([zx.ravel(), zy.ravel()], 1), dtype=torch.float32)  # (n*n, 2)
    return model.decode(z).float().cpu().clamp(-1, 1), np.stack(axis)


def manifold(model, n: int = 20) -> Figure:
    from genlab.grids import make_grid

    images, axis = manifold_grid(model, n)
    fig = Figure(figsize=(6.4, 6.4), dpi=100)
    ax = fig.add_subplot()
    ax.imshow(make_grid(images, nrow=n, pad=0), cmap="gray", vmin=0, vmax=255, interpolation="nearest",
              extent=(axis[0][0], axis[0][-1], axis[1][0], axis[1][-1]))
    ax.set_xlabel("z1")
    ax.set_ylabel("z2")
    ax.set_title(_title(model, "decoded manifold"), fontsize=9)
    fig.tight_layout()
    return fig


def ray_span(profile: dict) -> tuple[float, float]:
    """(near, far) of the stretch of a ray its samples cover (the last sample's interval included)."""
    t = profile["distance"]
    return float(t[0]), float(t[-1] + (t[-1] - t[-2] if len(t) > 1 else 0))


def draw_ray_profile(top, bottom, profile: dict) -> None:
    """One ray (a `ray_profile` result) on two axes: the density at each sample (top), and each
    sample's weight w_i = T_i (1 - exp(-sigma_i delta_i)) as a bar in the sample's own colour
    (bottom), over the distance from the camera; the dashed line is the pixel's depth."""
    near, far = ray_span(profile)
    t = profile["distance"].float().numpy()
    top.plot(t, profile["density"].float().numpy(), "o-", ms=3, lw=1.2, color="0.25")
    top.set_ylabel("density σ", fontsize=8)
    bottom.bar(t, profile["weight"].float().numpy(), width=np.maximum(np.diff(t, append=far), 1e-3), align="edge",
               color=profile["colour"].float().clamp(0, 1).numpy(), edgecolor="0.4", linewidth=0.4)
    bottom.set_ylim(0, max(1.05 * float(profile["weight"].max()), 0.05))
    bottom.set_ylabel("weight w", fontsize=8)
    missed = far - near < 1e-6  # a ray that misses the model's drawing volume: an axis of width 2
    for ax in (top, bottom):
        ax.set_xlim(near - missed, far + missed)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        if float(profile["opacity"]) > 0.5:
            ax.axvline(float(profile["depth"]), ls="--", lw=1, color="tab:red")


def ray_profile_figure(profile: dict) -> Figure:
    """One pixel's ray (the app's 3-D view draws this when a pixel is clicked)."""
    fig = Figure(figsize=(6.4, 3.2), dpi=100)
    top, bottom = fig.add_subplot(2, 1, 1), fig.add_subplot(2, 1, 2)
    draw_ray_profile(top, bottom, profile)
    bottom.set_xlabel("distance from the camera (each bar: one sample, in its colour)", fontsize=8)
    fig.tight_layout()
    return fig


def rays(model, seed: int = 0) -> Figure:
    """The prior draw for `seed` from the model's default camera, two pixels marked on it (the
    centre, and the first pixel of the centre row, from the left, that is neither empty nor
    solid: the object's soft edge), and what each one's ray meets."""
    from genlab.model import seeded

    z = model.prior(1, generator=seeded(seed)).float()
    size = model.data_spec.height
    with torch.no_grad():
        out = model.render_views(z)
        row = size // 2
        soft = ((out["opacity"][0, 0, row] > 0.05) & (out["opacity"][0, 0, row] < 0.95)).nonzero().flatten()
        pixels = [(row, size // 2), (row, int(soft[0]) if len(soft) else size // 4)]
        profiles = [model.ray_profile(z, r, c) for r, c in pixels]
    fig = Figure(figsize=(9.6, 5.6), dpi=100)
    grid = fig.add_gridspec(2 * len(pixels), 2, width_ratios=(1, 1.8))
    ax = fig.add_subplot(grid[:, 0])
    ax.imshow(((out["colour"][0].permute(1, 2, 0).float() + 1) / 2).clamp(0, 1).numpy(), interpolation="nearest")
    ax.set_xticks([]), ax.set_yticks([])
    ax.set_title(_title(model, f"seed {seed}, default camera"), fontsize=9)
    for i, ((r, c), p, colour) in enumerate(zip(pixels, profiles, ("tab:red", "tab:orange"))):
        ax.add_patch(Rectangle((c - 0.5, r - 0.5), 1, 1, fill=False, lw=2, edgecolor=colour))
        top, bottom = fig.add_subplot(grid[2 * i, 1]), fig.add_subplot(grid[2 * i + 1, 1])
        draw_ray_profile(top, bottom, p)
        top.set_title(f"pixel row {r}, column {c}: opacity {float(p['opacity']):.2f}", fontsize=8, color=colour)
    bottom.set_xlabel("distance from the camera (each bar: one sample, in its colour)", fontsize=8)
    fig.tight_layout()
    return fig


def make_plot(model, name: str, images=None, labels=None, n: int = 1000, seed: int = 0) -> Figure:
    if name not in PLOTS:
        raise ValueError(f"unknown plot {name!r}; choose one of {', '.join(PLOTS)}")
    if name not in available_plots(model):
        raise ValueError(f"{model.family} cannot draw {name!r}; it can draw {', '.join(available_plots(model)) or 'none'}")
    if name == "latent_map":
        return latent_map(model, images, labels, n)
    if name == "posterior_vs_prior":
        return posterior_vs_prior(model, images, labels, n, seed)
    if name == "reconstructions":
        return reconstructions(model, images)
    if name == "rays":
        return rays(model, seed)
    return manifold(model)


def save_plots(model, out_dir: str | Path, n: int = 1000, seed: int = 0) -> dict[str, Path]:
    """Write every plot the model allows as out_dir/<plot>.png; returns {plot: path}."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    names = available_plots(model)
    images = labels = None
    if any(p not in ("manifold", "rays") for p in names):
        images, labels = test_data(model, n)
    written = {}
    for name in names:
        fig = make_plot(model, name, images, labels, n, seed)
        path = out_dir / f"{name}.png"
        fig.savefig(path)
        written[name] = path
    return written
