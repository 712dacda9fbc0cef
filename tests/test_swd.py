"""The multi-scale sliced Wasserstein distance (genlab/metrics/swd.py)."""
import pytest
import torch
import torch.nn.functional as F

from genlab.metrics.swd import laplacian_pyramid, sliced_wasserstein, swd


def blobs(n: int, seed: int, side: int = 32) -> torch.Tensor:
    """Random coloured discs with sharp edges on a light background, in [-1, 1]."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(side), torch.arange(side), indexing="ij")
    centre = torch.rand(n, 2, generator=g) * side * 0.5 + side * 0.25
    radius = torch.rand(n, generator=g) * side * 0.2 + side * 0.1
    inside = ((xx - centre[:, 0, None, None]) ** 2 + (yy - centre[:, 1, None, None]) ** 2) < radius[:, None, None] ** 2
    colour = torch.rand(n, 3, 1, 1, generator=g) * 2 - 1
    return torch.where(inside[:, None], colour, torch.full_like(colour, 0.9)).expand(n, 3, side, side).contiguous()


def test_the_pyramid_adds_back_up_to_the_image():
    x = torch.rand(4, 3, 32, 32)
    levels = laplacian_pyramid(x)
    assert [lv.shape[-1] for lv in levels] == [32, 16]
    # the finest level is what the coarser one cannot hold: adding its upsampled blur gives x back
    from genlab.metrics.swd import _blur
    up = torch.zeros_like(x)
    up[..., ::2, ::2] = levels[1]
    assert torch.allclose(levels[0] + 4 * _blur(up), x, atol=1e-6)
    assert levels[0].abs().mean() < x.abs().mean()


def test_sliced_wasserstein_is_zero_for_one_set_and_grows_with_a_shift():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(4000, 10, generator=g)
    assert sliced_wasserstein(a, a.clone(), 64, torch.Generator().manual_seed(1)) < 1e-6
    # W1 of a shift by t along a unit direction, averaged over random directions in 10-d: t E|u_1| ~ 0.25 t
    near = sliced_wasserstein(a, torch.randn(4000, 10, generator=g), 256, torch.Generator().manual_seed(1))
    far = sliced_wasserstein(a, torch.randn(4000, 10, generator=g) + torch.tensor([2.0] + [0.0] * 9), 256,
                             torch.Generator().manual_seed(1))
    assert near < 0.05 and 0.4 < far < 0.6


def test_swd_ranks_a_blurred_copy_of_the_data_below_a_fresh_draw_of_it():
    """Two draws of one distribution sit near each other; the same images shifted half a pixel by
    a bilinear read (a blur) are further at the finest level; noise is far at every level."""
    real, other = blobs(300, 0), blobs(300, 1)
    same = swd(real, other, directions=128)
    blurred = swd(real, F.avg_pool2d(F.pad(other, (0, 1, 0, 1), mode="replicate"), 2, stride=1), directions=128)
    noise = swd(real, torch.rand_like(other) * 2 - 1, directions=128)
    assert set(same) == {"swd_32", "swd_16", "swd_mean"}
    assert same["swd_32"] < blurred["swd_32"] < noise["swd_32"]
    assert noise["swd_16"] > 3 * same["swd_16"]
    assert swd(real[:50], other[:50], seed=3) == swd(real[:50], other[:50], seed=3)  # seeded


def test_swd_refuses_sets_it_cannot_compare():
    with pytest.raises(ValueError, match="one shape"):
        swd(torch.zeros(8, 3, 32, 32), torch.zeros(8, 1, 32, 32))
    with pytest.raises(ValueError, match="side >= 16"):
        swd(torch.zeros(8, 3, 8, 8), torch.zeros(8, 3, 8, 8))
