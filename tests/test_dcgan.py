"""DCGAN's optional fully connected hidden layers (the InfoGAN paper's MNIST nets)."""
import pytest
import torch
from torch import nn

from genlab.errors import GenlabError
from genlab.model import DataSpec
from genlab.models import infogan
from genlab.registry import build


def _linears(module: nn.Module) -> list[nn.Linear]:
    return [m for m in module.modules() if isinstance(m, nn.Linear)]


@pytest.mark.parametrize("side", [28, 32])
def test_hidden_layers_sit_between_latent_and_projection_and_before_the_logit(side):
    model = build("dcgan", {"width": 8, "latent_dim": 4, "hidden_g": 12, "hidden_d": 10},
                  DataSpec(channels=1, height=side, width=side))
    g, d = _linears(model.generator), _linears(model.discriminator)
    assert [(m.in_features, m.out_features) for m in g][0] == (4, 12)
    assert g[1].in_features == 12  # the projection to the first feature map reads the hidden layer
    assert [(m.in_features, m.out_features) for m in d][-2:] == [(d[0].in_features, 10), (10, 1)]
    model.eval()
    x = model.sample(3, torch.Generator().manual_seed(0))
    assert x.shape == (3, 1, side, side)
    assert model.discriminator(x).shape == (3,)


def test_without_hidden_layers_the_nets_are_the_papers_all_convolutional_ones():
    model = build("dcgan", {"width": 8, "latent_dim": 4})
    assert len(_linears(model.generator)) == 1  # the projection of z
    assert len(_linears(model.discriminator)) == 1  # the single logit
    assert not any(isinstance(m, nn.BatchNorm1d) for m in model.modules())


def test_infogan_generator_is_dcgans_with_a_hidden_layer():
    # One implementation: InfoGAN's G is DCGAN's hidden-layer generator (state-dict keys unchanged).
    assert infogan.Generator is type(build("dcgan", {"width": 8, "hidden_g": 16}).generator)


def test_negative_hidden_units_are_refused():
    with pytest.raises(GenlabError, match="hidden_d"):
        build("dcgan", {"width": 8, "hidden_d": -1})
