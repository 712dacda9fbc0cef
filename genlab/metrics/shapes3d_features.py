"""Sample quality on shapes3d: FID in the feature space of a small CNN trained on the train
split (`FeatureNet`; genlab's MNIST classifier does not fit RGB objects and Inception is not
available offline), against the held-out test renders, beside its real-vs-real floor.

Reproduce the shipped weights (deterministic under the seed): `train_feature_net()`.
"""
from __future__ import annotations

from pathlib import Path

import torch

from genlab.data.shapes3d import CLASSES, VERSION, load_split
from genlab.model import iterate_in_chunks

FEATURES_ASSET = Path(__file__).resolve().parent / "assets" / "shapes3d_features.pt"
FID_MAX_N = 1000  # the held-out split has 1,000 renders; more samples would only cost time
HUE_BINS = 8


class FeatureNet(torch.nn.Module):
    """A small CNN trained on the train split to tell the 6 shape classes and the hue of the
    (first) part's colour in 8 bins. Its 128-d penultimate layer is the feature space of
    GRAF's FID (genlab's MNIST classifier does not fit RGB objects, and Inception is not
    available offline). Images of other sizes are resized to 32x32 first."""

    def __init__(self):
        super().__init__()
        c = torch.nn
        self.body = c.Sequential(
            c.Conv2d(3, 32, 3, 1, 1), c.ReLU(), c.MaxPool2d(2),
            c.Conv2d(32, 64, 3, 1, 1), c.ReLU(), c.MaxPool2d(2),
            c.Conv2d(64, 128, 3, 1, 1), c.ReLU(), c.MaxPool2d(2),
            c.Flatten(), c.Linear(128 * 16, 128), c.ReLU())
        self.shape_head = c.Linear(128, len(CLASSES))
        self.hue_head = c.Linear(128, HUE_BINS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != 32:
            x = torch.nn.functional.interpolate(x, size=(32, 32), mode="bilinear", align_corners=False,
                                                antialias=True)
        return self.body(x)


def hue_bins(shape_params: torch.Tensor) -> torch.Tensor:
    import colorsys

    rgb = shape_params[:, 0, 8:11].tolist()
    return torch.tensor([int(colorsys.rgb_to_hsv(*c)[0] * HUE_BINS) % HUE_BINS for c in rgb])


def train_feature_net(epochs: int = 4, seed: int = 0, path: Path = FEATURES_ASSET) -> dict:
    """Train FeatureNet on the train split (seeded) and save it with its test accuracies."""
    torch.manual_seed(seed)
    train, test = load_split("train", 32), load_split("test", 32)
    x = train["images"].float() / 127.5 - 1
    y, h = train["labels"], hue_bins(train["shape_params"])
    net = FeatureNet()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for idx in torch.randperm(len(x), generator=gen).split(128):
            xb = x[idx]
            xb = torch.where(torch.rand(len(xb), 1, 1, 1, generator=gen) < 0.5, xb, xb.flip(-1))
            f = net(xb)
            loss = torch.nn.functional.cross_entropy(net.shape_head(f), y[idx]) + \
                torch.nn.functional.cross_entropy(net.hue_head(f), h[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    net.eval()
    xt = test["images"].float() / 127.5 - 1
    with torch.no_grad():
        f = net(xt)
        acc_shape = (net.shape_head(f).argmax(1) == test["labels"]).float().mean().item()
        acc_hue = (net.hue_head(f).argmax(1) == hue_bins(test["shape_params"])).float().mean().item()
    meta = {"shape_accuracy": round(acc_shape, 4), "hue_accuracy": round(acc_hue, 4), "epochs": epochs,
            "version": VERSION}
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state": net.state_dict(), "meta": meta}, path)
    return meta


_NET: dict = {}


def feature_net() -> tuple[FeatureNet, dict]:
    if "net" not in _NET:
        if not FEATURES_ASSET.exists():
            train_feature_net()
        saved = torch.load(FEATURES_ASSET, weights_only=True)
        net = FeatureNet()
        net.load_state_dict(saved["state"])
        _NET["net"], _NET["meta"] = net.eval(), saved["meta"]
    return _NET["net"], _NET["meta"]


@torch.no_grad()
def features(images: torch.Tensor, batch: int = 500) -> torch.Tensor:
    """(N, 128) FeatureNet features of images (N, 3, H, W) in [-1, 1], on the CPU."""
    net, _ = feature_net()
    return torch.cat([net(images[i:i + batch].float().cpu()) for i in range(0, len(images), batch)])


def describe_features() -> str:
    _, meta = feature_net()
    return (f"shapes3d FeatureNet (small CNN trained on the train split's 6 shape classes + 8 hue bins; "
            f"test accuracy shape {meta['shape_accuracy']:.3f}, hue {meta['hue_accuracy']:.3f}), 128-d")


def shapes_fid(model, n: int, seed: int = 0) -> dict:
    """FID of min(n, 1000) samples of a shapes3d model against the 1,000 held-out test renders,
    in FeatureNet space, and their multi-scale SWD (`genlab.metrics.swd`) against the same renders; each
    floor is the same figure for as many train renders (seeded)."""
    from genlab.data import load_dataset
    from genlab.metrics.distances import fid
    from genlab.metrics.swd import swd

    m = min(n, FID_MAX_N)
    size = model.data_spec.height
    test = load_dataset(model.data_spec.name, "test", image_size=size)
    train = load_dataset(model.data_spec.name, "train", image_size=size)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        fake = torch.cat([model.sample(b, generator=gen).cpu() for b in iterate_in_chunks(m, 100)])
    idx = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))[:m]
    ref = features(test.images)
    f_fake = features(fake)
    # the same samples in a second feature space that no network learnt: ProGAN's multi-scale SWD
    swd_model, swd_floor = swd(test.images, fake, seed=seed), swd(test.images, train.images[idx], seed=seed)
    return {"fid": round(fid(ref, f_fake), 3), "fid_floor": round(fid(ref, features(train.images[idx])), 3),
            **swd_model, **{f"{k}_floor": v for k, v in swd_floor.items()},
            "fid_n": m, "fid_reference": f"{len(test)} held-out renders ({model.data_spec.name} test split)",
            "feature_extractor": describe_features(),
            # the held-out renders' shares, read by the same head, say which shapes a model over- or under-draws
            "class_shares": shape_shares(f_fake), "class_shares_real": shape_shares(ref)}


@torch.no_grad()
def shape_shares(feats: torch.Tensor) -> str:
    """The share of each shape class the FeatureNet's shape head reads in (N, 128) features, as text."""
    net, _ = feature_net()
    shares = torch.bincount(net.shape_head(feats).argmax(1), minlength=len(CLASSES)).float() / len(feats)
    return " ".join(f"{c}:{v:.2f}" for c, v in zip(CLASSES, shares.tolist()))
