"""DCGAN: Radford, Metz & Chintala 2016, arXiv:1511.06434.

The paper's "architecture guidelines for stable deep convolutional GANs":
strided convolutions instead of pooling (D) and fractional-strided ones (G);
batch norm in both nets except the G output and the D input layer; no fully
connected hidden layers (G projects and reshapes z, D flattens to one logit);
ReLU in G with Tanh out; LeakyReLU(0.2) in D; weights N(0, 0.02); Adam with
lr 2e-4 and beta1 0.5.

Deviations: z is N(0, I) rather than the paper's U(-1, 1) (set prior =
"uniform" for the paper's), so interpolation and truncation act on a
Gaussian; the smallest feature map is 7x7 for 28x28 MNIST (4x4 otherwise).

The nets are in genlab/nn/dcgan.py, where InfoGAN builds on them too.
"""
from __future__ import annotations

from dataclasses import dataclass

from genlab.model import DataSpec, option
from genlab.models.adversarial import GENERATOR_LOSSES, PRIORS, AdversarialModel
from genlab.nn.dcgan import Discriminator, Generator, HiddenFCGenerator
from genlab.nn.diffaugment import HELP as AUGMENT_HELP
from genlab.nn.resolution import CONV_SIZES, check_square, conv_plan, square_sides
from genlab.nn.weight_init import normal_init
from genlab.registry import register


@dataclass
class DCGANConfig:
    latent_dim: int = 100
    width: int = 64  # channels of G's last hidden layer / D's first; doubled per stage
    prior: str = option("normal", choices=PRIORS)
    generator_loss: str = option("non_saturating", choices=GENERATOR_LOSSES)
    augment: str = option("", help=AUGMENT_HELP)
    # A fully connected hidden layer (BN + ReLU / LeakyReLU) in front of G's projection and
    # after D's convolutions: 0 keeps the paper's all-convolutional nets. The InfoGAN paper's
    # MNIST nets are DCGAN's with these layers (1,024 units); with them, and nothing else
    # changed, 3,000 steps reach a FID ten times lower (docs/models/dcgan.md).
    hidden_g: int = option(0, low=0, help="units of an FC hidden layer in front of G's projection (0: none)")
    hidden_d: int = option(0, low=0, help="units of an FC hidden layer after D's convolutions (0: none)")


@register
class DCGAN(AdversarialModel):
    family = "dcgan"
    Config = DCGANConfig
    paper = "Radford et al. 2016, arXiv:1511.06434"

    def __init__(self, config: DCGANConfig, data_spec: DataSpec):
        super().__init__(config, data_spec, augment=config.augment)
        base, stages = conv_plan(data_spec.height)
        self.latent_dim = config.latent_dim
        if config.hidden_g:
            self.generator = HiddenFCGenerator(config.latent_dim, config.hidden_g, config.width, data_spec.channels,
                                               base, stages)
        else:
            self.generator = Generator(config.latent_dim, config.width, data_spec.channels, base, stages)
        self.discriminator = Discriminator(config.width, data_spec.channels, base, stages, config.hidden_d)
        normal_init(self)  # N(0, 0.02) weights, BN scales N(1, 0.02) (paper, section 4)

    @classmethod
    def supported_shapes(cls) -> str:
        return square_sides(CONV_SIZES)

    @classmethod
    def check_data_spec(cls, spec: DataSpec) -> None:
        check_square("DCGAN", spec, CONV_SIZES, cls.supported_shapes())
