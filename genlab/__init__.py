"""genlab: a playground of deep generative models on one training engine.

    import genlab
    model = genlab.load("dcgan")                      # a shipped checkpoint
    images = model.sample(16, generator=torch.Generator().manual_seed(0))
    model = genlab.train("dcgan", steps=500, out="runs/mine")
"""
from genlab import registry as _registry
from genlab.errors import CheckpointError, GenlabError, TrainingDiverged
from genlab.model import DataSpec, GenerativeModel
from genlab.registry import build, list_families, load, shipped_checkpoints
from genlab.version import __version__


def _import_families() -> None:
    import genlab.models  # noqa: F401  (each family registers itself on import)


# The registry sits below the families and cannot import them; this module is above everything
# and runs before any genlab module, so it tells the registry how (imported lazily: `genlab --help`
# and the other commands that need no model stay quick).
_registry.set_family_importer(_import_families)


def train(*args, **kwargs):
    from genlab.training import train as _train

    return _train(*args, **kwargs)


train.__doc__ = "Train a family; see genlab.training.train."

__all__ = ["train", "load", "build", "list_families", "shipped_checkpoints", "DataSpec", "GenerativeModel",
           "GenlabError", "CheckpointError", "TrainingDiverged"]
