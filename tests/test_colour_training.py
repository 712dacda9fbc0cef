"""Every image family but NADE (binary, as its paper) trains on the user's own colour pictures at
32 and 64 px through the same loader as `--data folder:PATH` (the MLP GAN at 32 px): a few steps
each on a flat folder of RGB PNGs the test writes, with small networks, then samples come back
as RGB images of that size. The translation families (CycleGAN, StarGAN) and GRAF need paired,
labelled or multi-view data and are tested on their own sets in their own test files."""
import json

import numpy as np
import pytest
import torch
from PIL import Image

from genlab.training import make_recipe
from genlab.training.trainer import Trainer

SMALL = {  # per family: small networks so each run takes seconds on one CPU thread
    "dcgan": ["model.width=8", "model.latent_dim=16"],
    "gan": ["model.g_hidden=64", "model.d_units=16", "model.latent_dim=16"],
    "vae": ["model.net=conv", "model.width=8", "model.latent_dim=8", "model.hidden=[32]"],
    "aae": ["model.net=conv", "model.width=8", "model.hidden=[32]", "model.disc_hidden=[32]"],
    "infogan": ["model.width=8", "model.hidden=32", "model.noise_dim=8"],
    "progan": ["model.fmap_base=32", "model.fmap_max=16", "model.latent_dim=16"],
    "ddpm": ["model.width=8", "model.mults=[1,2]", "model.blocks=1", "model.timesteps=20",
             "model.default_steps=4"],
    "alias_free": ["model.channel_max=8", "model.channel_base=64", "model.num_layers=4", "model.d_width=8"],
    "alias_free_baseline": ["model.channel_max=8", "model.channel_base=64", "model.num_layers=4",
                            "model.d_width=8"],
    "pixelcnn": ["model.features=6", "model.layers=2", "model.head_features=6"],
    "row_lstm": ["model.hidden=3", "model.layers=1", "model.head_hidden=6"],
    "diagonal_bilstm": ["model.hidden=3", "model.layers=1", "model.head_hidden=6"],
}


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    """24 RGB 64x64 pictures in a flat folder: coloured discs on coloured grounds."""
    folder = tmp_path_factory.mktemp("pictures")
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:64, :64]
    for i in range(24):
        img = np.empty((64, 64, 3), np.uint8)
        img[:] = rng.integers(0, 256, 3)
        cy, cx, r = rng.integers(16, 48, 2).tolist() + [int(rng.integers(6, 16))]
        img[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = rng.integers(0, 256, 3)
        Image.fromarray(img).save(folder / f"{i:02d}.png")
    return folder


@pytest.mark.parametrize("size", [32, 64])
@pytest.mark.parametrize("family", sorted(SMALL))
def test_trains_on_a_folder_of_colour_pictures(family, size, pictures, tmp_path):
    if family == "gan" and size == 64:
        pytest.skip("the MLP GAN is tested at 32 px (3,072 values), as the issue sets")
    torch.manual_seed(0)
    recipe = make_recipe(family, data=f"folder:{pictures}", steps=2, image_size=size,
                         overrides=["batch_size=4", "sample_every=1000", "checkpoint_every=1000", "log_every=1",
                                    "grid_size=4", "num_workers=0", *SMALL[family]])
    trainer = Trainer(recipe, tmp_path, progress=False)
    assert trainer.data.spec.image_shape == (3, size, size)
    trainer.fit()
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    losses = [v for row in rows for k, v in row.items() if k.endswith("loss")]
    assert len(losses) >= 2 and all(np.isfinite(losses)), rows
    with torch.no_grad():
        images = trainer.model.eval().sample(2, generator=torch.Generator().manual_seed(0))
    assert images.shape == (2, 3, size, size)
    assert torch.isfinite(images).all() and images.min() >= -1 and images.max() <= 1
