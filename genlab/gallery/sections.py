"""The gallery's sections: what each capability of a model draws for its page, written to disk.

A section is a function of a `Page` (the model, the folder, the seed, the controls) that saves
its pictures in the page's folder and returns a `Section` to show them. `SECTIONS` pairs each
with what the model needs for it, chosen by capability (genlab.model), never by family name.
"""
from __future__ import annotations

import math
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from genlab.gallery.markdown import render_markdown
from genlab.grids import make_grid, save_gif, save_grid, to_pil
from genlab.loss_curves import LOG_NAME, loss_figure, read_log


@dataclass
class Picture:
    src: str  # relative to the page
    caption: str = ""


@dataclass
class Section:
    key: str
    title: str
    pictures: list[Picture] = field(default_factory=list)
    body: str = ""  # HTML
    note: str = ""  # plain text, shown in place of pictures that could not be made


class Page:
    """What one checkpoint's sections need: the model, the folder, the seed, the controls."""

    def __init__(self, model, folder: Path, prefix: str, n: int, seed: int, frames: int, controls: dict):
        self.model, self.folder, self.prefix = model, folder, prefix
        self.n, self.seed, self.frames, self.controls = n, seed, frames, controls
        self.scale = max(1, min(3, 96 // max(model.data_spec.height, 1)))

    def gen(self, offset: int = 0) -> torch.Generator:
        return torch.Generator().manual_seed(self.seed + offset)

    def ctl(self, use: str) -> dict:
        """The given controls the model declares for `use` (others are for other models)."""
        names = {c.name for c in self.model.controls_for(use)}
        return self.model.check_controls(use, {k: v for k, v in self.controls.items() if k in names})

    def path(self, name: str) -> tuple[Path, str]:
        return self.folder / name, f"{self.prefix}/{name}"


def _first_sentence(doc: str | None) -> str:
    text = " ".join((doc or "").split())
    return text.split(". ")[0].rstrip(".") + "." if text else ""


def _controls_text(controls: dict) -> str:
    return f" ({', '.join(f'{k}={v}' for k, v in controls.items())})" if controls else ""


# ----- figures shared with tools/ ----------------------------------------------------------------------
def translation_rows(model, digits: int) -> tuple[torch.Tensor, int]:
    """The translation grid of a `translate` model on its test pairs: (images to tile, images per row).

    Two domains (CycleGAN): rows of test digits in A, G(A), the true B; then B, F(B), the true A.
    More domains (StarGAN): for each digit (taken from domain 0), its translation into every
    domain, and below it the true renderings, so a column compares translation and truth."""
    from genlab.data.domains import domain_bits, test_pairs

    pairs, _ = test_pairs(model.data_spec)  # (D, N, C, H, W)
    pairs = pairs[:, :digits]
    d = pairs.shape[0]
    if d == 2:
        rows = []
        for src, dst in ((0, 1), (1, 0)):
            rows += [pairs[src], model.translate(pairs[src], dst), pairs[dst]]
        return torch.cat(rows), digits
    targets = torch.tensor(domain_bits(model.data_spec), dtype=torch.float32)  # one attribute vector per domain
    rows = []
    for i in range(digits):
        source = pairs[0, i:i + 1].expand(d, -1, -1, -1)
        rows += [model.translate(source, targets), pairs[:, i]]
    return torch.cat(rows), d


def depth_picture(depth: torch.Tensor, opacity: torch.Tensor) -> torch.Tensor:
    """A `views` depth map (N, 1, S, S) as a grey picture in [-1, 1]: near bright, empty space black."""
    fg = opacity > 0.5
    lo = depth[fg].min().item() if fg.any() else 0.0
    hi = depth[fg].max().item() if fg.any() else 1.0
    x = 1 - ((depth - lo) / max(hi - lo, 1e-6)).clamp(0, 1)
    x = torch.where(fg, 0.15 + 0.85 * x, torch.zeros_like(x))
    return x * 2 - 1


def _as_rgb(x: torch.Tensor, channels: int) -> torch.Tensor:
    return x.expand(-1, channels, -1, -1) if x.shape[1] == 1 and channels != 1 else x


def code_controls(model) -> tuple[list, list]:
    """(choice controls, slider controls) of `decode` in the group "codes" (InfoGAN's latent codes)."""
    codes = [c for c in model.controls_for("decode") if c.group == "codes"]
    return [c for c in codes if c.kind == "choice"], [c for c in codes if c.kind == "slider"]


def numeric_choices(control) -> list:
    """A choice control's numeric values (a categorical code's; not 'random' or other words)."""
    return [v for v in control.choices if isinstance(v, (int, float)) and not isinstance(v, bool)]


def code_grid(model, steps: int = 7, seed: int = 0, rows: list | None = None) -> tuple[np.ndarray, list[str]]:
    """One panel per slider code (columns: its range, the other sliders at their defaults), a row
    per numeric value of the first categorical code (or `rows`), one fixed noise vector for all;
    panels side by side with grey bars. Returns (picture, panel names)."""
    choices, sliders = code_controls(model)
    choice = choices[0] if choices else None
    values = rows if rows is not None else (numeric_choices(choice) if choice else [])
    k = max(1, len(values))
    z = model.prior(1, generator=torch.Generator().manual_seed(seed)).repeat(k * steps, 1)
    panels, names = [], []
    for s in sliders or [None]:
        controls = {}
        if choice is not None and values:
            controls[choice.name] = torch.as_tensor(values).repeat_interleave(steps)
        if s is not None:
            controls[s.name] = torch.linspace(s.low, s.high, steps).repeat(k)
            controls.update({o.name: o.default for o in sliders if o is not s})
            names.append(s.name)
        panels.append(make_grid(model.decode(z, **controls).float().clamp(-1, 1).cpu(), nrow=steps))
    gap = np.full((panels[0].shape[0], 12, *panels[0].shape[2:]), 128, dtype=np.uint8)
    picture = np.concatenate([q for panel in panels for q in (panel, gap)][:-1], axis=1)
    return picture, names


# ----- the sections ------------------------------------------------------------------------------------
def _samples(p: Page) -> Section:
    m = p.model
    if "sample" in m.capabilities:
        images = m.sample(p.n, generator=p.gen(), **p.ctl("sample")).float()
        caption = f"{p.n} samples, seed {p.seed}" + _controls_text(p.ctl("sample"))
    else:  # a family that only translates: fixed test images and their translations
        from genlab.data import load_dataset

        images = m.preview(load_dataset(m.data_spec.name, "test").images[:p.n], generator=p.gen()).float()
        caption = f"this model has no `sample`: its training preview of the first {p.n} test images"
    file, src = p.path("samples.png")
    save_grid(images, file, scale=2)
    side = max(1, int(math.ceil(math.sqrt(min(16, len(images))))))
    save_grid(images[:side * side], p.folder / "thumb.png", nrow=side, scale=2)
    return Section("samples", "Samples", [Picture(src, caption)])


def _interpolation(p: Page) -> Section:
    from genlab.explore import walk

    m = p.model
    rows, steps = max(1, min(4, p.n)), 8
    a, b = m.prior(rows, p.gen(1)), m.prior(rows, p.gen(2))
    paths = torch.stack([walk(a[i], b[i], steps) for i in range(rows)])  # (rows, steps, D)
    frames = [m.decode(paths[:, t], **p.ctl("decode")).float() for t in range(steps)]
    strip = torch.stack(frames, 1).flatten(0, 1)  # (rows * steps, C, H, W), row-major
    png, png_src = p.path("interpolation.png")
    gif, gif_src = p.path("interpolation.gif")
    save_grid(strip, png, nrow=steps, scale=2)
    save_gif(frames, gif, scale=p.scale, nrow=rows)
    return Section("interpolation", "Latent interpolation", [
        Picture(png_src, f"each row walks (slerp, {steps} steps) between two prior draws"),
        Picture(gif_src, "the same walks as a GIF, there and back")])


def _steps(p: Page) -> Section:
    from genlab.explore import even_frames

    m = p.model
    k = max(1, min(4, p.n))  # a chain costs its full length whatever the frames kept: few images
    frames = even_frames(m.sample_steps(k, generator=p.gen(), **p.ctl("steps")), p.frames)
    frames = [f.float().cpu() for f in frames]
    gif, gif_src = p.path("steps.gif")
    save_gif(frames, gif, scale=p.scale, bounce=False, ms_per_frame=120)
    picks = even_frames(iter(frames), min(8, len(frames))) if len(frames) > 1 else frames
    strip = torch.stack([f[0] for f in picks])  # the first image's frames, in order
    png, png_src = p.path("steps.png")
    save_grid(strip, png, nrow=len(picks), scale=2)
    what = _first_sentence(type(m).sample_steps.__doc__) or "intermediate images of generation"
    return Section("steps", "Step by step", [
        Picture(gif_src, f"{k} samples, {len(frames)} frames evenly spaced over the chain, the last "
                         f"included{_controls_text(p.ctl('steps'))}. {what}"),
        Picture(png_src, f"the first sample's chain in {len(picks)} frames, left to right")])


def _views(p: Page) -> Section:
    m = p.model
    k = max(1, min(4, p.n))
    z = m.prior(k, p.gen(1))
    turns = max(4, min(p.frames, 24))
    frames = [m.render_views(z, azimuth=360.0 * i / turns)["colour"].float() for i in range(turns)]
    gif, gif_src = p.path("orbit.gif")
    save_gif(frames, gif, scale=p.scale, bounce=False, nrow=k)
    eight = [frames[round(i * turns / 8) % turns] for i in range(8)]
    png, png_src = p.path("orbit.png")
    save_grid(torch.stack(eight, 1).flatten(0, 1), png, nrow=8, scale=2)
    out = m.render_views(z)
    c = out["colour"].shape[1]
    rows = torch.cat([out["colour"].float(), _as_rgb(depth_picture(out["depth"].float(), out["opacity"].float()), c),
                      _as_rgb(out["opacity"].float() * 2 - 1, c)])
    cdo, cdo_src = p.path("colour_depth_opacity.png")
    save_grid(rows, cdo, nrow=k, scale=2)
    return Section("views", "3-D views", [
        Picture(gif_src, f"{k} codes seen from {turns} azimuths around the object (render_views)"),
        Picture(png_src, "the same orbit: a row per code, eight azimuths 45 degrees apart"),
        Picture(cdo_src, "at the default camera: colour, depth (near bright), opacity; a column per code")])


def _translation(p: Page) -> Section:
    m = p.model
    d = m.data_spec.num_domains
    digits = max(1, min(p.n, 10 if d == 2 else 4))
    images, per_row = translation_rows(m, digits)
    file, src = p.path("translation.png")
    save_grid(images.float(), file, nrow=per_row, scale=2)
    names = list(m.data_spec.domains) or [str(i) for i in range(d)]
    if d == 2:
        caption = (f"rows: test digits in {names[0]}, their translation, the truth in {names[1]}; "
                   f"then {names[1]}, its translation, the truth in {names[0]}")
    else:
        caption = (f"per test digit (from {names[0]}): its translation into each of the {d} domains "
                   f"({', '.join(names)}), and below it the true renderings")
    return Section("translation", "Translation", [Picture(src, caption)])


def _codes(p: Page) -> Section:
    m = p.model
    choices, sliders = code_controls(m)
    picture, names = code_grid(m, steps=7, seed=p.seed)
    file, src = p.path("codes.png")
    to_pil(picture, scale=2).save(file)
    rows = f"a row per value of {choices[0].name}" if choices else "one row"
    if choices and choices[0].choice_labels:  # InfoGAN: the digit each code draws, as measured and stored
        c = choices[0]
        rows += " (top to bottom: " + ", ".join(f"{v}: {c.choice_label(v)}" for v in numeric_choices(c)) + ")"
    cols = (f"panels: {', '.join(f'{s.name} from {s.low:g} to {s.high:g}' for s in sliders)}"
            if sliders else "no slider code")
    return Section("codes", "Latent codes", [Picture(src, f"{rows}; {cols}; one fixed noise vector, "
                                                          "so only the codes change")])


def _equivariance(p: Page) -> Section:
    from genlab.metrics.equivariance import psnr, undo_transform

    m = p.model
    tc = m.transform_controls()
    k = max(1, min(2, p.n))
    z = m.prior(k, p.gen(1))
    side = m.data_spec.height
    steps = 7
    pictures = []
    base = m.decode(z).float()
    for name, c in tc.items():
        span = min(c.high, side / 4) if name != "rotate" else min(c.high, 90.0)
        lo = max(c.low, -span)
        vals = [float(v) for v in torch.linspace(lo, span, steps)]
        moved, back, err, count = [], [], 0.0, 0.0
        for v in vals:
            img = m.decode(z, **{name: v}).float()
            shift = (v if name == "shift_x" else 0.0, v if name == "shift_y" else 0.0)
            undone, mask = undo_transform(img, shift, v if name == "rotate" else 0.0, with_mask=True)
            moved.append(img)
            back.append(undone)
            err += float(((undone - base).square() * mask).sum())
            count += float(mask.sum()) * 1.0
        rows = []
        for i in range(k):  # per latent: the untransformed output, then the moved ones; below, brought back
            rows += [torch.stack([base[i]] + [x[i] for x in moved]), torch.stack([base[i]] + [x[i] for x in back])]
        file, src = p.path(f"equivariance_{name}.png")
        save_grid(torch.cat(rows), file, nrow=steps + 1, scale=2)
        unit = "degrees" if name == "rotate" else "px"
        pictures.append(Picture(src, f"{name} from {lo:g} to {span:g} {unit} ({c.help or name}); per latent: the "
                                     f"untransformed output, then the moved outputs; below them undo_transform "
                                     f"of each; brought back vs. untransformed "
                                     f"{psnr(err, count):.1f} dB PSNR (higher: more equivariant)"))
    return Section("equivariance", "Equivariance", pictures)


def _training(p: Page) -> Section:
    """The run folder's training log beside the checkpoint, drawn. Checkpoints themselves hold no
    training log (their `metrics` are evaluation figures)."""
    path = Path(p.model.checkpoint.get("path", ""))
    log = path.parent / LOG_NAME
    if not path.name or not log.is_file():
        return Section("training", "Training curves", note=(
            f"no training log: the checkpoint holds its weights, recipe and evaluation figures but not its "
            f"training log, and no {LOG_NAME} lies beside {path.name or 'it'}"))
    rows = read_log(log)
    if not any(len(r) > 1 for r in rows):
        return Section("training", "Training curves", note=f"{log} holds no figures to plot")
    file, src = p.path("training.png")
    loss_figure(rows, title=p.prefix).savefig(file)
    return Section("training", "Training curves", [Picture(src, f"from {LOG_NAME} beside the checkpoint, "
                                                                f"{len(rows)} rows, steps {rows[0]['step']} to "
                                                                f"{rows[-1]['step']}")])


def _card(p: Page) -> Section:
    path = Path(p.model.checkpoint.get("path", ""))
    card = path.with_suffix(".md") if path.name else None
    if card is None or not card.is_file():
        return Section("card", "Model card", note=f"no model card beside {path.name or 'the checkpoint'} "
                                                  "(shipped checkpoints have checkpoints/<name>.md)")

    def beside_page(src: str) -> str | None:
        """A picture the card shows, copied into the page's folder: pages use only files beside them."""
        file = card.parent / src
        if "://" in src or src.startswith("/") or not file.is_file():
            return None
        dest, rel = p.path("card-" + re.sub(r"[^A-Za-z0-9_.-]+", "_", src))
        shutil.copyfile(file, dest)
        return rel

    return Section("card", "Model card", body=render_markdown(card.read_text(), image=beside_page))


# (section, needs): chosen by capability, never by family name
SECTIONS = (
    (_samples, lambda m: True),
    (_interpolation, lambda m: "latent" in m.capabilities),
    (_steps, lambda m: "sample_steps" in m.capabilities),
    (_views, lambda m: "views" in m.capabilities),
    (_translation, lambda m: "translate" in m.capabilities),
    (_codes, lambda m: "latent" in m.capabilities and bool(code_controls(m)[1] or code_controls(m)[0])),
    (_equivariance, lambda m: "transform" in m.capabilities),
    (_training, lambda m: True),
    (_card, lambda m: True),
)
