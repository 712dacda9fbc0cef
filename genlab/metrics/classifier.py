"""The MNIST classifier behind genlab's sample-quality metrics.

A small LeNet-style CNN (LeCun et al. 1998) trained on the embedded MNIST
*train* split only (9,000 digits). Its 128-d penultimate layer is the feature
space for FID/KID/precision-recall, its softmax gives the class predictions for
class coverage. This follows the advice of the FID authors for data far from
ImageNet: "train a different classifier on the original data and use the
statistics of one of the last layers" (TTUR issue #24). Figures measured with
it are comparable inside genlab only, never with Inception FIDs in papers.

Reproduce the shipped weights (deterministic under the seed, ~2 CPU minutes):

    python -m genlab.metrics.classifier --train

Training augmentation, both chosen so that generated digits look "in
distribution" to the classifier:
- random shifts of up to 2 pixels (digits from a model are not always centred);
- for half of the digits a fresh stochastic binarisation (Bernoulli(pixel)),
  because the Bernoulli families (NADE, PixelCNN, VAE on mnist-binary) sample
  {-1, 1} images and are compared with binarised test digits.
"""
from __future__ import annotations

import argparse
import functools
import hashlib
import sys
import time
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

ASSET = Path(__file__).parent / "assets" / "mnist_classifier.pt"
FORMAT = "genlab-mnist-classifier-v1"
FEATURE_DIM = 128
IMAGE_SHAPE = (1, 28, 28)
TRAIN_COMMAND = "python -m genlab.metrics.classifier --train"


class LeNet(nn.Module):
    """conv5-pool-conv5-pool-conv3-pool, then 128-d features and 10 logits.

    No batch norm: features must not depend on batch composition or on a
    train/eval switch, so the same image always maps to the same point.
    """

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 5, padding=2)   # 28x28 -> pool -> 14x14
        self.conv2 = nn.Conv2d(16, 32, 5, padding=2)  # 14x14 -> pool -> 7x7
        self.conv3 = nn.Conv2d(32, 64, 3, padding=1)  # 7x7   -> pool -> 3x3
        self.fc1 = nn.Linear(64 * 3 * 3, FEATURE_DIM)
        self.fc2 = nn.Linear(FEATURE_DIM, 10)
        self.dropout = nn.Dropout(0.3)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 1, 28, 28) in [-1, 1] -> (N, 128) post-ReLU penultimate activations."""
        if x.ndim != 4 or tuple(x.shape[1:]) != IMAGE_SHAPE:
            raise ValueError(f"the MNIST classifier takes (N, 1, 28, 28) images in [-1, 1]; got {tuple(x.shape)}")
        h = F.max_pool2d(F.relu(self.conv1(x)), 2)
        h = F.max_pool2d(F.relu(self.conv2(h)), 2)
        h = F.max_pool2d(F.relu(self.conv3(h)), 2)
        return F.relu(self.fc1(h.flatten(1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.dropout(self.features(x)))


# ----- loading the shipped weights -------------------------------------------------

@functools.lru_cache(maxsize=1)
def _load_cpu(path: str) -> tuple[LeNet, dict]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise FileNotFoundError(f"MNIST classifier {path} is missing; rebuild it with `{TRAIN_COMMAND}`") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ValueError(f"{path} is not a {FORMAT} file")
    net = LeNet()
    net.load_state_dict({k: v.float() for k, v in state["weights"].items()})
    net.eval().requires_grad_(False)
    meta = {k: v for k, v in state.items() if k != "weights"}
    meta["weights_sha256"] = weights_digest(state["weights"])
    return net, meta


def weights_digest(weights: dict[str, torch.Tensor]) -> str:
    """sha256 of the weights alone: names the feature space (the file also holds timings)."""
    h = hashlib.sha256()
    for name in sorted(weights):
        h.update(name.encode())
        h.update(weights[name].detach().float().contiguous().numpy().tobytes())
    return h.hexdigest()


def load_classifier(device: str | torch.device = "cpu", path: str | Path = ASSET) -> tuple[LeNet, dict]:
    """(network in eval mode on `device`, metadata: test accuracy, seed, command, weights_sha256)."""
    net, meta = _load_cpu(str(path))
    if torch.device(device).type != "cpu":
        import copy
        net = copy.deepcopy(net).to(device)
    return net, meta


def describe(meta: dict) -> str:
    return (f"genlab MNIST LeNet {meta['weights_sha256'][:12]}, {FEATURE_DIM}-d penultimate ReLU features "
            f"(test accuracy {meta['test_accuracy']:.4f})")


@torch.no_grad()
def classify(images: torch.Tensor, batch_size: int = 1000, device: str | torch.device | None = None
             ) -> tuple[torch.Tensor, torch.Tensor]:
    """(features (N, 128) float64 on CPU, softmax probabilities (N, 10) float64 on CPU)."""
    device = device or images.device
    net, _ = load_classifier(device)
    feats, probs = [], []
    for chunk in images.split(batch_size):
        h = net.features(chunk.to(device, torch.float32).clamp(-1, 1))
        feats.append(h.double().cpu())
        probs.append(F.softmax(net.fc2(h), dim=1).double().cpu())
    return torch.cat(feats), torch.cat(probs)


# ----- training --------------------------------------------------------------------

def _augment(x: torch.Tensor, gen: torch.Generator, max_shift: int = 2) -> torch.Tensor:
    """Random integer shifts (background -1 fills the border), then binarise half the batch."""
    n = len(x)
    padded = F.pad(x, (max_shift,) * 4, value=-1.0)
    dx = torch.randint(0, 2 * max_shift + 1, (n,), generator=gen)
    dy = torch.randint(0, 2 * max_shift + 1, (n,), generator=gen)
    rows = (dy[:, None] + torch.arange(28))[:, :, None]           # (N, 28, 1)
    cols = (dx[:, None] + torch.arange(28))[:, None, :]           # (N, 1, 28)
    out = padded[torch.arange(n)[:, None, None], 0, rows, cols].unsqueeze(1)
    binarise = torch.rand(n, generator=gen) < 0.5
    bits = (torch.rand(out.shape, generator=gen) < (out + 1) / 2).float() * 2 - 1
    return torch.where(binarise[:, None, None, None], bits, out)


@torch.no_grad()
def accuracy(net: LeNet, images: torch.Tensor, labels: torch.Tensor) -> float:
    net.eval()
    pred = torch.cat([net(c).argmax(1) for c in images.split(1000)])
    return int((pred == labels).sum()) / len(labels)


def train_classifier(seed: int = 0, epochs: int = 20, batch_size: int = 64, lr: float = 2e-3,
                     log=print) -> tuple[LeNet, dict]:
    """Train on the embedded train split; the test split is only measured, never used to choose."""
    from genlab.data import load_dataset

    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    train = load_dataset("mnist", "train")
    net = LeNet()
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    steps = epochs * (len(train) // batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    start = time.process_time()
    for epoch in range(epochs):
        net.train()
        order = torch.randperm(len(train), generator=gen)
        total = 0.0
        for i in range(len(train) // batch_size):
            idx = order[i * batch_size:(i + 1) * batch_size]
            loss = F.cross_entropy(net(_augment(train.images[idx], gen)), train.labels[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item()
        log(f"epoch {epoch + 1:2d}/{epochs}  loss {total / (i + 1):.4f}")
    net.eval()
    info = {"seed": seed, "epochs": epochs, "batch_size": batch_size, "lr": lr,
            "cpu_seconds": round(time.process_time() - start, 1)}
    return net, info


def save_classifier(net: LeNet, info: dict, path: str | Path = ASSET) -> dict:
    """Write the asset (fp32 weights + metadata) and measure the *saved* weights on the test split."""
    from genlab.data import load_dataset

    net = net.eval()
    test = load_dataset("mnist", "test")
    test_bin = load_dataset("mnist-binary", "test")
    train = load_dataset("mnist", "train")
    state = {
        "format": FORMAT,
        "weights": {k: v.detach().float().clone() for k, v in net.state_dict().items()},
        "feature_dim": FEATURE_DIM,
        "train_split": "embedded mnist train (9,000 digits)",
        "command": TRAIN_COMMAND,
        "test_accuracy": accuracy(net, test.images, test.labels),
        "test_accuracy_binarised": accuracy(net, test_bin.images, test_bin.labels),
        "train_accuracy": accuracy(net, train.images, train.labels),
        "torch_version": str(torch.__version__),
        **info,
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(path)
    _load_cpu.cache_clear()
    _, meta = load_classifier(path=path)  # proves the file loads with weights_only=True
    return meta


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m genlab.metrics.classifier",
                                description="train or inspect genlab's MNIST metric classifier")
    p.add_argument("--train", action="store_true", help=f"retrain and overwrite {ASSET.name}")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--threads", type=int, default=1, help="CPU threads (1 keeps it bit-for-bit reproducible)")
    p.add_argument("--out", default=str(ASSET))
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.train:
        net, info = train_classifier(seed=args.seed, epochs=args.epochs)
        meta = save_classifier(net, info, args.out)
    else:
        _, meta = load_classifier(path=args.out)
    for k, v in meta.items():
        print(f"{k:26s} {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
