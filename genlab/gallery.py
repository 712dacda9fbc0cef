"""Pictures of samples: grids, strips, GIFs, and a static HTML gallery of checkpoints.

`build_gallery(names, out)` (`python -m genlab gallery --out DIR`) writes out/index.html, a card
per checkpoint (thumbnail, family, key figures, link), and out/<name>.html with the pictures in
out/<name>/. Each page has every section the model's capabilities allow, chosen by capability
(genlab.model), never by family name:

==============  ===========================================  ===========================================
section         needs                                        shows
==============  ===========================================  ===========================================
samples         ``sample`` (else ``preview`` of test images)  a grid of samples (translations for a
                                                             family that only translates)
interpolation   ``latent``                                   slerp walks between prior draws, PNG + GIF
steps           ``sample_steps``                             the chain as a GIF and a strip: denoising,
                                                             pixel by pixel, resolution stages, ...
views           ``views``                                    an orbit GIF and strip; colour, depth and
                                                             opacity at the default camera
translation     ``translate``                                test digits, their translations, the truth
codes           ``decode`` controls in the group "codes"     one slider code swept per panel, a row per
                                                             categorical code, one fixed noise vector
equivariance    ``transform``                                outputs moved by the model's own transform
                                                             controls, and the same brought back by
                                                             `undo_transform`, with the PSNR
training        a ``metrics.jsonl`` beside the checkpoint    loss curves (matplotlib); shipped
                                                             checkpoints hold no log, and the page says so
model card      ``<checkpoint>.md`` beside the checkpoint    the card as HTML
==============  ===========================================  ===========================================

Pages reference only files beside them (no scripts, fonts or styles from the web), so the
folder opens from disk. Cost per checkpoint stays bounded by `n`, `frames` and the controls
given (e.g. a sampler's `steps`).
"""
from __future__ import annotations

import html
import json
import math
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from genlab.data import unit_to_uint8


def make_grid(images: torch.Tensor, nrow: int | None = None, pad: int = 2, pad_value: int = 0) -> np.ndarray:
    """images (N, C, H, W) in [-1, 1] -> one uint8 picture (H', W') or (H', W', C)."""
    arr = unit_to_uint8(images)
    if arr.ndim == 3:
        arr = arr[..., None]
    n, h, w, c = arr.shape
    nrow = nrow or max(1, int(math.ceil(math.sqrt(n))))
    ncol = int(math.ceil(n / nrow))
    grid = np.full((ncol * (h + pad) + pad, nrow * (w + pad) + pad, c), pad_value, dtype=np.uint8)
    for i in range(n):
        r, q = divmod(i, nrow)
        y, x = pad + r * (h + pad), pad + q * (w + pad)
        grid[y:y + h, x:x + w] = arr[i]
    return grid[..., 0] if c == 1 else grid


def to_pil(picture: np.ndarray, scale: int = 1) -> Image.Image:
    img = Image.fromarray(picture)
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    return img


def save_grid(images: torch.Tensor, path: str | Path, nrow: int | None = None, scale: int = 1) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    to_pil(make_grid(images, nrow), scale).save(path)
    return path


def save_strip(images: torch.Tensor, path: str | Path, scale: int = 2) -> Path:
    """One row, e.g. an interpolation walk."""
    return save_grid(images, path, nrow=len(images), scale=scale)


def save_gif(frames: list[torch.Tensor], path: str | Path, scale: int = 2, ms_per_frame: int = 80,
             bounce: bool = True, nrow: int | None = None) -> Path:
    """frames: a list of (N, C, H, W) batches; each becomes one grid frame."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pics = [to_pil(make_grid(f, nrow), scale).convert("P") for f in frames]
    if bounce and len(pics) > 2:
        pics = pics + pics[-2:0:-1]
    pics[0].save(path, save_all=True, append_images=pics[1:], duration=ms_per_frame, loop=0)
    return path


def write_html(entries: list[dict], path: str | Path, title: str = "genlab gallery") -> Path:
    """entries: {"title", "image" (path relative to the HTML file), "caption"}: one flat page."""
    path = Path(path)
    cards = "\n".join(
        f'<figure><img src="{html.escape(e["image"])}" alt="{html.escape(e["title"])}">'
        f'<figcaption><b>{html.escape(e["title"])}</b><br>{html.escape(e.get("caption", ""))}</figcaption></figure>'
        for e in entries)
    path.write_text(f"<!doctype html><meta charset='utf-8'><title>{html.escape(title)}</title><style>{CSS}</style>"
                    f"<h1>{html.escape(title)}</h1>\n{cards}\n")
    return path


# ----- figures shared with experiments/ ----------------------------------------------------------------
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


# ----- the gallery ----------------------------------------------------------------------------------------
GIF_FRAMES = 25  # frames of a step-by-step GIF, evenly spaced over the whole chain, the last included
KEY_FIGURES = (("fid", "FID"), ("fid_floor", "FID floor"), ("kid", "KID"), ("precision", "precision"),
               ("recall", "recall"), ("nll_nats", "NLL nats"), ("nll_bits_per_dim", "NLL bits/dim"))
CSS = ("body{font-family:sans-serif;margin:1.5em;max-width:1200px;color:#222}"
       "img{image-rendering:pixelated;max-width:100%}figure{display:inline-block;margin:.6em;vertical-align:top}"
       "figcaption{font-size:.85em;max-width:520px;color:#444}section{border-top:1px solid #ccc;margin-top:1em}"
       "table{border-collapse:collapse;font-size:.9em}td,th{border:1px solid #ddd;padding:2px 6px;text-align:left}"
       "pre{background:#f4f4f4;padding:.6em;overflow-x:auto;font-size:.85em}.note{color:#855}"
       ".cards{display:flex;flex-wrap:wrap;gap:1em}.card{border:1px solid #ccc;border-radius:6px;padding:.6em;"
       "width:260px}.card img{width:100%}.caps{font-size:.8em;color:#666}")


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


class _Page:
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


def _samples(p: _Page) -> Section:
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


def _interpolation(p: _Page) -> Section:
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


def _steps(p: _Page) -> Section:
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


def _views(p: _Page) -> Section:
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


def _translation(p: _Page) -> Section:
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


def _codes(p: _Page) -> Section:
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


def _equivariance(p: _Page) -> Section:
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


def training_log(model) -> tuple[list[dict], str]:
    """(rows, where from): the run folder's metrics.jsonl beside the checkpoint; ([], why not) otherwise.
    Checkpoints themselves hold no training log (their `metrics` are evaluation figures)."""
    path = Path(model.checkpoint.get("path", ""))
    log = path.parent / "metrics.jsonl"
    if not path.name or not log.is_file():
        return [], (f"no training log: the checkpoint holds its weights, recipe and evaluation figures but "
                    f"not its training log, and no metrics.jsonl lies beside {path.name or 'it'}")
    rows = []
    for line in log.read_text().splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict) and "step" in row:
            rows.append(row)
    return rows, str(log)


def loss_figure(rows: list[dict], title: str = ""):
    """A matplotlib Figure of a training log: one panel per phase ("discriminator/loss" goes to
    "discriminator"), every numeric series over the step; rates and timings left out."""
    from matplotlib.figure import Figure

    groups: dict[str, list[str]] = {}
    for row in rows:
        for k, v in row.items():
            if k in ("step", "kind") or "per_s" in k or "seconds" in k or isinstance(v, bool):
                continue
            if isinstance(v, (int, float)):
                g = k.split("/", 1)[0] if "/" in k else "training"
                if k not in groups.setdefault(g, []):
                    groups[g].append(k)
    n = max(1, len(groups))
    fig = Figure(figsize=(5 * min(n, 3), 3.2 * math.ceil(n / 3)), dpi=80)
    for i, (g, keys) in enumerate(groups.items()):
        ax = fig.add_subplot(math.ceil(n / 3), min(n, 3), i + 1)
        for k in keys:
            pts = [(r["step"], r[k]) for r in rows if isinstance(r.get(k), (int, float))]
            ax.plot([s for s, _ in pts], [v for _, v in pts], label=k.split("/", 1)[-1],
                    marker="." if len(pts) < 30 else None)
        ax.set_title(g)
        ax.set_xlabel("step")
        ax.legend(fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def _training(p: _Page) -> Section:
    rows, source = training_log(p.model)
    if not any(len(r) > 1 for r in rows):
        return Section("training", "Training curves",
                       note=source if not rows else f"{source} holds no figures to plot")
    file, src = p.path("training.png")
    loss_figure(rows, title=p.prefix).savefig(file)
    return Section("training", "Training curves", [Picture(src, f"from {Path(source).name} beside the checkpoint, "
                                                                f"{len(rows)} rows, steps {rows[0]['step']} to "
                                                                f"{rows[-1]['step']}")])


def _card(p: _Page) -> Section:
    path = Path(p.model.checkpoint.get("path", ""))
    card = path.with_suffix(".md") if path.name else None
    if card is None or not card.is_file():
        return Section("card", "Model card", note=f"no model card beside {path.name or 'the checkpoint'} "
                                                  "(shipped checkpoints have checkpoints/<name>.md)")
    return Section("card", "Model card", body=markdown_to_html(card.read_text()))


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


def page_name(name: str | Path) -> str:
    """A file-safe page name: a shipped name as is; a path by its stem, or its folder for a run's latest.pt."""
    path = Path(name)
    if not path.suffix:
        stem = str(name)
    else:
        stem = path.parent.name if path.stem == "latest" and path.parent.name else path.stem
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", stem).strip(".") or "checkpoint"


def build_gallery(names: list[str] | None, out: str | Path, n: int = 36, seed: int = 0, progress=None,
                  frames: int = GIF_FRAMES, controls: dict | None = None, log=None,
                  problems: list | None = None) -> Path:
    """For each checkpoint (default: every shipped one) a page out/<name>.html with its pictures in
    out/<name>/, and out/index.html linking them. `n` bounds the samples drawn per checkpoint,
    `frames` the frames of a step-by-step GIF; `controls` {name: value} go to every call whose
    model declares them (e.g. {"steps": 10} for a sampler's step count). `progress(i, total, name)`
    before each checkpoint, `log(line)` after each section. A section that fails is noted on its
    page and appended to `problems` (name, section, message); the rest goes on. Returns the index."""
    from genlab.registry import load, shipped_checkpoints

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    names = list(names or shipped_checkpoints())
    problems = problems if problems is not None else []
    log = log or (lambda line: None)
    cards, taken = [], set()
    for i, name in enumerate(names, 1):
        if progress is not None:
            progress(i, len(names), str(name))
        stem = page_name(name)
        while stem in taken:
            stem += "_"
        taken.add(stem)
        start = time.perf_counter()
        try:
            model = load(name)
        except Exception as e:  # noqa: BLE001 - a checkpoint that does not load gets a card saying so
            problems.append((str(name), "load", str(e)))
            log(f"  could not load: {e}")
            cards.append({"stem": stem, "name": str(name), "error": str(e)})
            continue
        page = _Page(model, out / stem, stem, n, seed, frames, dict(controls or {}))
        page.folder.mkdir(parents=True, exist_ok=True)
        sections = []
        for make, needs in SECTIONS:
            t0 = time.perf_counter()
            try:
                if not needs(model):
                    continue
                with torch.no_grad():
                    section = make(page)
            except Exception as e:  # noqa: BLE001 - one broken section must not lose the gallery
                key = make.__name__.strip("_")
                section = Section(key, key.capitalize(), note=f"could not be drawn: {type(e).__name__}: {e}")
                problems.append((str(name), key, f"{type(e).__name__}: {e}"))
            sections.append(section)
            note = f"  ({section.note})" if section.note else ""
            log(f"  {section.key:13s} {time.perf_counter() - t0:6.1f} s{note}")
        _write_page(out / f"{stem}.html", model, str(name), sections)
        cards.append({"stem": stem, "name": str(name), "model": model,
                      "thumb": f"{stem}/thumb.png" if (page.folder / "thumb.png").is_file() else None,
                      "sections": [s.title for s in sections if s.pictures or s.body],
                      "seconds": time.perf_counter() - start})
    return _write_index(out / "index.html", cards)


# ----- HTML -------------------------------------------------------------------------------------------------
def _first_sentence(doc: str | None) -> str:
    text = " ".join((doc or "").split())
    return text.split(". ")[0].rstrip(".") + "." if text else ""


def _controls_text(controls: dict) -> str:
    return f" ({', '.join(f'{k}={v}' for k, v in controls.items())})" if controls else ""


def key_figures(model, limit: int | None = None, family_limit: int = 6) -> list[tuple[str, str]]:
    """(label, value) of the evaluation figures stored in the checkpoint: the common ones, then up
    to `family_limit` of the family's own numbers (its `family_metrics`; the card has them all)."""
    metrics = model.checkpoint.get("metrics") or {}
    out = [(label, f"{metrics[k]:.4g}") for k, label in KEY_FIGURES
           if isinstance(metrics.get(k), (int, float)) and not isinstance(metrics.get(k), bool)]
    own = [(k, metrics.get(k)) for k in metrics.get("family_metrics") or []]
    out += [(k, f"{v:.4g}") for k, v in own if isinstance(v, (int, float)) and not isinstance(v, bool)][:family_limit]
    return out[:limit] if limit else out


def _head(title: str) -> str:
    return f"<!doctype html>\n<html lang='en'><meta charset='utf-8'><title>{html.escape(title)}</title>" \
           f"<style>{CSS}</style>\n<body>\n"


def _facts(model, name: str) -> str:
    ck = model.checkpoint
    minutes = ck.get("train_seconds")
    paper = type(model).paper
    rows = [("checkpoint", name), ("family", f"{model.family}: {paper}" if paper else model.family),
            ("data", f"{model.data_spec.name} ({model.data_spec.describe()})"), ("step", ck.get("step")),
            ("training", f"{minutes / 60:.1f} minutes" + (f" on {ck['device']}" if ck.get("device") else "")
             if minutes else None),
            ("capabilities", ", ".join(sorted(model.capabilities)))]
    rows += key_figures(model)
    return "<table>" + "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
                               for k, v in rows if v is not None) + "</table>"


def _write_page(path: Path, model, name: str, sections: list[Section]) -> Path:
    parts = [_head(f"{path.stem}: genlab gallery"), "<p><a href='index.html'>&larr; all checkpoints</a></p>",
             f"<h1>{html.escape(path.stem)}</h1>", _facts(model, name),
             "<p>Sections: " + " &middot; ".join(f"<a href='#{s.key}'>{html.escape(s.title)}</a>" for s in sections)
             + "</p>"]
    for s in sections:
        parts.append(f"<section id='{s.key}'><h2>{html.escape(s.title)}</h2>")
        for pic in s.pictures:
            parts.append(f"<figure><img src='{html.escape(pic.src)}' alt='{html.escape(s.title)}'>"
                         f"<figcaption>{html.escape(pic.caption)}</figcaption></figure>")
        if s.note:
            parts.append(f"<p class='note'>{html.escape(s.note)}</p>")
        parts.append(s.body)
        parts.append("</section>")
    path.write_text("\n".join(parts) + "\n</body></html>\n")
    return path


def _write_index(path: Path, cards: list[dict]) -> Path:
    parts = [_head("genlab gallery"), "<h1>genlab gallery</h1>",
             f"<p>{len(cards)} checkpoint(s). Each page shows what its model can do, chosen by its capabilities."
             "</p><div class='cards'>"]
    for c in cards:
        link = f"{c['stem']}.html"
        if "error" in c:
            parts.append(f"<div class='card'><h3>{html.escape(c['stem'])}</h3>"
                         f"<p class='note'>could not be loaded: {html.escape(c['error'])}</p></div>")
            continue
        m = c["model"]
        figs = "".join(f"<br>{html.escape(k)} {html.escape(v)}" for k, v in key_figures(m, limit=3))
        thumb = (f"<a href='{html.escape(link)}'><img src='{html.escape(c['thumb'])}' "
                 f"alt='{html.escape(c['stem'])}'></a>"
                 if c["thumb"] else "")
        parts.append(f"<div class='card'>{thumb}<h3><a href='{html.escape(link)}'>{html.escape(c['stem'])}</a></h3>"
                     f"{html.escape(m.family)}, {html.escape(m.data_spec.name)}, step {m.checkpoint.get('step')}{figs}"
                     f"<div class='caps'>{html.escape(' · '.join(c['sections']))}</div></div>")
    path.write_text("\n".join(parts) + "\n</div></body></html>\n")
    return path


def _inline(text: str) -> str:
    """Markdown inline code, bold and links (links as their text and target: pages stay self-contained)."""
    out = []
    for i, chunk in enumerate(re.split(r"`([^`]*)`", text)):
        if i % 2:
            out.append(f"<code>{html.escape(chunk)}</code>")
            continue
        chunk = html.escape(chunk, quote=False)
        chunk = re.sub(r"\[([^\]]+)\]\(([^)]+)\)", r"\1 (\2)", chunk)
        chunk = re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", chunk)
        out.append(chunk)
    return "".join(out)


def markdown_to_html(text: str) -> str:
    """A small Markdown subset, as the model cards use it: headings, pipe tables, fenced code,
    bullet lists and paragraphs with inline code, bold and links. Anything else reads as text."""
    lines, out, i = text.splitlines(), [], 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("```"):
            j = i + 1
            while j < len(lines) and not lines[j].startswith("```"):
                j += 1
            out.append("<pre><code>" + html.escape("\n".join(lines[i + 1:j])) + "</code></pre>")
            i = j + 1
        elif re.match(r"#{1,6} ", line):
            level = min(len(line) - len(line.lstrip("#")) + 2, 6)  # below the page's h1 and the section's h2
            out.append(f"<h{level}>{_inline(line.lstrip('#').strip())}</h{level}>")
            i += 1
        elif line.startswith("|"):
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                cells = [c.strip() for c in lines[i].strip().strip("|").split("|")]
                if not all(re.fullmatch(r":?-+:?", c) for c in cells if c):
                    rows.append(cells)
                i += 1
            out.append("<table>" + "".join("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in r) + "</tr>"
                                           for r in rows) + "</table>")
        elif re.match(r"\s*[-*] ", line):
            items = []
            while i < len(lines) and re.match(r"\s*[-*] ", lines[i]):
                items.append(re.sub(r"^\s*[-*] ", "", lines[i]))
                i += 1
            out.append("<ul>" + "".join(f"<li>{_inline(t)}</li>" for t in items) + "</ul>")
        elif not line.strip():
            i += 1
        else:
            para = []
            while i < len(lines) and lines[i].strip() and not re.match(r"(#{1,6} |```|\||\s*[-*] )", lines[i]):
                para.append(lines[i].strip())
                i += 1
            out.append(f"<p>{_inline(' '.join(para))}</p>")
    return "\n".join(out)
