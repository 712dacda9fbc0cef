"""Run under torchrun by tests/test_distributed.py: what each rank does, written to JSON/checkpoints.

    probe.py noise OUT.json           each rank's training noise, and the averaged gradient
                                      against one process's gradient on the combined batch
    probe.py train OUT_DIR STEPS [--resume]   the toy on a data set that 3 ranks cannot split evenly
"""
import json
import sys
from pathlib import Path

import torch
import torch.distributed as dist

sys.path.insert(0, str(Path(__file__).resolve().parent))
import toy_models  # noqa: E402,F401  (registers 'toy')
from genlab.data import ImageDataset, register_dataset  # noqa: E402
from genlab.model import DataSpec  # noqa: E402
from genlab.training import make_recipe  # noqa: E402
from genlab.training.distributed import DistInfo, shutdown_and_exit  # noqa: E402
from genlab.training.trainer import Trainer  # noqa: E402

ODD = 100  # examples: 34 + 33 + 33 over 3 ranks


def odd_toy(split, root=None, image_size=None):
    g = torch.Generator().manual_seed(5)
    return ImageDataset(DataSpec(channels=1, height=4, width=4, name="odd-toy"),
                        torch.rand(ODD, 1, 4, 4, generator=g) * 2 - 1, torch.zeros(ODD, dtype=torch.long))


register_dataset("odd-toy", odd_toy)
BASE = ["batch_size=4", "log_every=1", "sample_every=1000", "grid_size=4", "threads=1", "device='cpu'"]


def noise(out: str) -> None:
    trainer = Trainer(make_recipe("toy", None, "odd-toy", 1, BASE + ["checkpoint_every=1000"]),
                      Path(out).parent / "noise-run", progress=False)
    rank, world = dist.get_rank(), dist.get_world_size()
    drawn = trainer.model.randn(4, 1)  # the noise a training step would draw on this rank
    everyone = [torch.zeros_like(drawn) for _ in range(world)]
    dist.all_gather(everyone, drawn)
    # Noise fixed: rank r gets rows r*4..r*4+3 of one global draw; the critic phase then runs.
    fixed = torch.randn(4 * world, 1, generator=torch.Generator().manual_seed(11))
    model = trainer.model
    model.randn = lambda n, *shape, generator=None: fixed[rank * 4:(rank + 1) * 4]
    batch = next(trainer.batches)
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    trainer._run_phase(trainer.phases[0], batch)  # critic: backward, all-reduce, step
    averaged = [p.grad.clone() for p in trainer.phases[0].params]
    images = [torch.zeros_like(batch["image"]) for _ in range(world)]
    dist.all_gather(images, batch["image"])
    if rank == 0:  # one process, the combined batch, the same initial weights and noise
        model.load_state_dict(initial)
        model.randn = lambda n, *shape, generator=None: fixed
        for p in model.parameters():
            p.grad = None
        loss, _ = model.critic_loss({"image": torch.cat(images)})
        loss.backward()
        combined = [p.grad for p in trainer.phases[0].params]
        Path(out).write_text(json.dumps({
            "noise_differs": not torch.equal(everyone[0], everyone[1]),
            "max_grad_diff": max((a - b).abs().max().item() for a, b in zip(averaged, combined)),
            "grad_scale": max(b.abs().max().item() for b in combined)}))


def train(out: str, steps: int, resume: bool) -> None:
    recipe = make_recipe("toy", None, "odd-toy", steps, BASE + ["checkpoint_every=2"])
    Trainer(recipe, out, resume=resume, progress=False).fit()


if __name__ == "__main__":
    if sys.argv[1] == "noise":
        noise(sys.argv[2])
    else:
        train(sys.argv[2], int(sys.argv[3]), "--resume" in sys.argv)
    shutdown_and_exit(DistInfo(dist.get_rank(), dist.get_world_size()))
