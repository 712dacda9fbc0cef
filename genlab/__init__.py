"""genlab: a playground of deep generative models on one training engine.

    import genlab
    model = genlab.load("dcgan")                      # a shipped checkpoint
    images = model.sample(16, generator=torch.Generator().manual_seed(0))
    model = genlab.train("dcgan", steps=500, out="runs/mine")
"""
__version__ = "0.1.0"

from genlab.errors import CheckpointError, GenlabError, TrainingDiverged  # noqa: E402
from genlab.model import DataSpec, GenerativeModel  # noqa: E402
from genlab.registry import build, list_families, load, shipped_checkpoints  # noqa: E402


def train(*args, **kwargs):
    from genlab.training import train as _train

    return _train(*args, **kwargs)


train.__doc__ = "Train a family; see genlab.training.train."

__all__ = ["train", "load", "build", "list_families", "shipped_checkpoints", "DataSpec", "GenerativeModel",
           "GenlabError", "CheckpointError", "TrainingDiverged"]
