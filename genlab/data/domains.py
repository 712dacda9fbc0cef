"""Procedural image domains with known ground truth, for image-to-image translation.

Every image is a deterministic function of one embedded MNIST digit, so each
rendering has a known counterpart in every other domain. The domains are
combinations of three binary attributes, rendered in RGB at 28x28:

- ``bold``    the stroke dilated by a 3x3 plus-shaped (cross) structuring element;
- ``orange``  the stroke orange (1.0, 0.55, 0.0) instead of white;
- ``blue_bg`` the background dark blue (0.05, 0.2, 0.6) instead of black.

A pixel is ``bg + s * (stroke - bg)`` where s in [0, 1] is the (possibly dilated)
digit intensity, so `grey_digit` can invert the colouring exactly for any domain.

Data sets (registered with `register_dataset`):

- ``mnist-styles2``  two domains for CycleGAN: ``plain`` (white on black) and
  ``bold+orange+blue_bg`` (a bold orange digit on blue);
- ``mnist-styles8``  all 8 combinations of the 3 attributes for StarGAN
  (``DataSpec.attributes``; domain index = sum of attribute bits, bit k for
  attribute k).
- ``pair:DIR_A,DIR_B`` (through `load_dataset`) the user's own two folders of
  pictures, RGB, ``image_size`` (default 64) square, centre-cropped. No ground truth.

Training never sees a pairing: each *train* digit is rendered in exactly one
domain (a seeded balanced assignment), so no two training images share a source;
CycleGAN's set is also drawn domain by domain (``unpaired_by="domain"``). The
*test* split renders every test digit in every domain, domain after domain, and
keeps the pairing in the ``source`` extra (evaluation only, never in a batch).
"""
from __future__ import annotations

import functools
from pathlib import Path

import torch
import torch.nn.functional as F

from genlab.data.dataset import ImageDataset, embedded_dataset, register_dataset
from genlab.errors import GenlabError
from genlab.model import DataSpec

ATTRIBUTES = ("bold", "orange", "blue_bg")
WHITE, ORANGE = (1.0, 1.0, 1.0), (1.0, 0.55, 0.0)
BLACK, BLUE = (0.0, 0.0, 0.0), (0.05, 0.2, 0.6)
SIZE = 28
ASSIGN_SEED = 20171103  # which domain each train digit is rendered in
PAIR_DEFAULT_SIZE = 64
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")


def domain_name(bits) -> str:
    on = [a for a, b in zip(ATTRIBUTES, bits) if b]
    return "+".join(on) if on else "plain"


def bits_of(index: int, k: int = len(ATTRIBUTES)) -> tuple[int, ...]:
    return tuple((index >> i) & 1 for i in range(k))


ALL_BITS = [bits_of(i) for i in range(2 ** len(ATTRIBUTES))]
SETS = {
    # name: the attribute combinations (bits) of its domains, in domain order
    "mnist-styles2": [(0, 0, 0), (1, 1, 1)],
    "mnist-styles8": ALL_BITS,
}


def spec_for(name: str) -> DataSpec:
    bits = SETS[name]
    attributes = ATTRIBUTES if len(bits) > 2 else ()
    return DataSpec(channels=3, height=SIZE, width=SIZE, num_classes=10, name=name,
                    domains=tuple(domain_name(b) for b in bits), attributes=attributes)


def colours(bits) -> tuple[torch.Tensor, torch.Tensor]:
    """(stroke, background) RGB in [0, 1] of a domain, each (3,)."""
    _, orange, blue = bits
    return torch.tensor(ORANGE if orange else WHITE), torch.tensor(BLUE if blue else BLACK)


def thicken(s: torch.Tensor) -> torch.Tensor:
    """Grey dilation of (N, 1, H, W) intensities in [0, 1] by a 3x3 cross."""
    up = F.pad(s, (0, 0, 1, 0))[:, :, :-1]
    down = F.pad(s, (0, 0, 0, 1))[:, :, 1:]
    left = F.pad(s, (1, 0))[..., :-1]
    right = F.pad(s, (0, 1))[..., 1:]
    return torch.stack([s, up, down, left, right]).amax(0)


def render(digits: torch.Tensor, bits) -> torch.Tensor:
    """(N, 1, H, W) digit intensities in [0, 1] -> (N, 3, H, W) in [-1, 1] in the domain `bits`."""
    s = thicken(digits) if bits[0] else digits
    stroke, bg = colours(bits)
    rgb = bg.view(1, 3, 1, 1) + s * (stroke - bg).view(1, 3, 1, 1)
    return rgb * 2 - 1


def grey_digit(images: torch.Tensor, bits) -> torch.Tensor:
    """Undo a domain's colouring: (N, 3, H, W) in [-1, 1] -> (N, 1, H, W) white-on-black digits
    in [-1, 1] (projection of each pixel on the background -> stroke line), for genlab's MNIST
    classifier. Thickness is left as it is."""
    stroke, bg = colours(bits)
    d = (stroke - bg).view(1, 3, 1, 1).to(images)
    x = (images.float().clamp(-1, 1) + 1) / 2 - bg.view(1, 3, 1, 1).to(images)
    s = (x * d).sum(1, keepdim=True) / d.pow(2).sum()
    return s.clamp(0, 1) * 2 - 1


def _digits(split: str) -> tuple[torch.Tensor, torch.Tensor]:
    ds = embedded_dataset("mnist", split)
    return (ds.images + 1) / 2, ds.labels


@functools.lru_cache(maxsize=4)
def _styled(name: str, split: str) -> ImageDataset:
    if split not in ("train", "test"):
        raise GenlabError(f"{name} has the splits train and test, not {split!r}")
    bits = SETS[name]
    digits, labels = _digits(split)
    k, n = len(bits), len(digits)
    if split == "train":
        # Each digit in exactly one domain: a seeded balanced assignment, stored domain by domain.
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(ASSIGN_SEED))
        groups = [perm[d::k].sort().values for d in range(k)]
    else:
        groups = [torch.arange(n)] * k  # every test digit in every domain: the pairs are known
    images = torch.cat([render(digits[g], bits[d]) for d, g in enumerate(groups)])
    source = torch.cat(groups)
    domain = torch.cat([torch.full((len(g),), d, dtype=torch.long) for d, g in enumerate(groups)])
    extras = {"domain": domain, "source": source}
    spec = spec_for(name)
    if spec.attributes:
        extras["attributes"] = torch.tensor(bits, dtype=torch.float32)[domain]
    return ImageDataset(spec, images, labels[source].clone(), extras=extras,
                        unpaired_by="domain" if k == 2 else None)


def styled(name: str):
    def loader(split: str = "train", root=None, image_size=None) -> ImageDataset:
        if image_size not in (None, SIZE):
            raise GenlabError(f"{name} is {SIZE}x{SIZE}; got image_size {image_size}")
        ds = _styled(name, split)  # cached; hand out a shallow copy so callers cannot swap tensors
        return ImageDataset(ds.spec, ds.images, ds.labels, extras=dict(ds.extras), unpaired_by=ds.unpaired_by)
    return loader


for _name in SETS:
    register_dataset(_name, styled(_name))


# ----- the user's own two folders ----------------------------------------------------------------
PAIR_PREFIX = "pair:"
PAIR_USAGE = "--data pair:DIR_A,DIR_B (two folders of pictures, one per domain)"


def _folder_images(path: Path, size: int) -> torch.Tensor:
    from PIL import Image, ImageOps, UnidentifiedImageError

    if not path.exists():
        raise GenlabError(f"folder {path} does not exist; {PAIR_USAGE}")
    if not path.is_dir():
        raise GenlabError(f"{path} is a file, not a folder; {PAIR_USAGE}")
    files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
    if not files:
        raise GenlabError(f"folder {path} is empty; put pictures ({', '.join(IMAGE_SUFFIXES)}) in it")
    pictures = [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES]
    if not pictures:
        raise GenlabError(f"folder {path} holds no images ({len(files)} files, none of them "
                          f"{', '.join(IMAGE_SUFFIXES)}); {PAIR_USAGE}")
    out = []
    for p in pictures:
        try:
            with Image.open(p) as img:
                img = ImageOps.fit(img.convert("RGB"), (size, size), Image.LANCZOS)
                out.append(torch.frombuffer(bytearray(img.tobytes()), dtype=torch.uint8).view(size, size, 3))
        except (UnidentifiedImageError, OSError) as e:
            raise GenlabError(f"{p} is not a readable image ({type(e).__name__}); remove it from {path}") from None
    return torch.stack(out).permute(0, 3, 1, 2).float() / 127.5 - 1.0


def pair_dataset(spec_text: str, split: str = "train", root=None, image_size=None) -> ImageDataset:
    """Two folders of the user's pictures as a 2-domain set (RGB, square, centre-cropped).

    No ground truth: there is no ``source`` extra. Both splits are the same pictures."""
    parts = [p.strip() for p in spec_text.split(",")]
    if len(parts) != 2 or not all(parts):
        raise GenlabError(f"pair data takes two folders separated by a comma, got {spec_text!r}; {PAIR_USAGE}")
    size = image_size or PAIR_DEFAULT_SIZE
    paths = [Path(p).expanduser() for p in parts]
    a, b = (_folder_images(p, size) for p in paths)
    names = tuple(p.name or str(p) for p in paths)
    if names[0] == names[1]:
        names = (f"A:{names[0]}", f"B:{names[1]}")
    spec = DataSpec(channels=3, height=size, width=size, num_classes=0,
                    name=PAIR_PREFIX + ",".join(parts), domains=names)
    domain = torch.cat([torch.zeros(len(a)), torch.ones(len(b))]).long()
    return ImageDataset(spec, torch.cat([a, b]), torch.zeros(len(domain), dtype=torch.long),
                        extras={"domain": domain}, unpaired_by="domain")


# ----- ground truth for evaluation and the app ---------------------------------------------------
def has_ground_truth(spec: DataSpec) -> bool:
    return spec.name in SETS


def domain_bits(spec: DataSpec) -> list[tuple[int, ...]]:
    """The attribute bits of each of `spec`'s domains (procedural sets only)."""
    if spec.name not in SETS:
        raise GenlabError(f"{spec.name} has no procedural domains (no ground truth)")
    return SETS[spec.name]


def test_pairs(spec: DataSpec) -> tuple[torch.Tensor, torch.Tensor]:
    """(images (D, N, C, H, W): test digit i in domain d at [d, i], labels (N,))."""
    domain_bits(spec)  # a procedural set, or a clear error
    ds = _styled(spec.name, "test")
    d = spec.num_domains
    return ds.images.view(d, -1, *spec.image_shape), ds.labels[: len(ds.labels) // d]


def all_combinations(k: int) -> list[tuple[int, ...]]:
    """Every combination of k binary attributes, in domain-index order (bit i = attribute i)."""
    return [bits_of(i, k) for i in range(2 ** k)]
