"""Equivariance (EQ-T, EQ-T_frac, EQ-R) and power spectra for generators whose input can be
transformed (Karras et al. 2021, arXiv:2106.12423, Appendix E; papers.md section 12).

The generator renders one latent twice: as it is (the reference), and with the *inverse*
transform handed to its input so that the output should come out translated or rotated. The
reference is then translated / rotated by an image operator and the two are compared by PSNR
over the pixels both define (a mask), images in [-1, 1], so the peak is 2:

    PSNR = 20 log10 2 - 10 log10 MSE      (summed over all samples before the log)

- EQ-T: integer translation, uniform in +-`translate_max` of the side, rounded to pixels; the
  reference is shifted by whole pixels (no resampling) and the uncovered border masked out.
- EQ-T_frac: the same at sub-pixel offsets; the reference is shifted with a separable
  Lanczos-3 (windowed sinc) kernel and a border of the kernel's reach masked out. Lanczos-3 is
  not an exact shift: it damps and bends frequencies near Nyquist, which a 32 px digit is full
  of, so even a perfectly equivariant generator scores a finite EQ-T_frac. Two more figures
  say how much of the score that is: ``eqt_frac_ceiling_db``, the PSNR between the Lanczos-3
  and the exact shift of the same reference images (what a perfect generator would score), and
  ``eqt_frac_exact_db``, the generator against the exact shift. The exact shift is a phase
  ramp on the image's DFT (`fourier_translation`): exact for a band-limited, periodic image,
  which a digit on a constant background is up to its masked border.
- EQ-R: a rotation uniform in +-pi; the reference is rotated with a band-limited filter (the
  convolution of two oriented windowed sincs, 4x upsampled, bilinear lookup), while the
  generated image gets the same frequency cut without being rotated (the "pseudo-rotation"),
  so that both carry the same band before comparison.

Conventions as the paper's code: the transform matrix maps output coordinates to input
coordinates (it is the inverse), translations are in image widths, positive x to the right and
y down. `render(z, transform)` is any callable drawing images for latents and an inverse
transform (3x3) or None.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from genlab.nn.alias_free import inverse_transform, upfirdn2d


# ----- small kernels -----------------------------------------------------------------------------
def sinc(x: torch.Tensor) -> torch.Tensor:
    """sin(pi x) / (pi x), 1 at 0."""
    y = (x * math.pi).abs()
    return torch.where(y < 1e-30, torch.ones_like(x), torch.sin(y) / y.clamp_min(1e-30))


def lanczos_window(x: torch.Tensor, a: int) -> torch.Tensor:
    x = x.abs() / a
    return torch.where(x < 1, sinc(x), torch.zeros_like(x))


def rotation_matrix(angle) -> torch.Tensor:
    """3x3 matrix of the image rotation by `angle` radians (the metric's convention)."""
    c, s = math.cos(float(angle)), math.sin(float(angle))
    return torch.tensor([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]])


def psnr(sq_err_sum: float, count: float, peak: float = 2.0) -> float:
    mse = sq_err_sum / max(count, 1e-30)
    return float(20 * math.log10(peak) - 10 * math.log10(max(mse, 1e-30)))


def masked_psnr(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor) -> float:
    """PSNR of a against b over the pixels where mask is 1 (images in [-1, 1])."""
    return psnr(float(((a - b).square() * mask).double().sum()), float(mask.double().sum()))


# ----- the image operators -------------------------------------------------------------------------
def integer_translation(x: torch.Tensor, tx: float, ty: float) -> tuple[torch.Tensor, torch.Tensor]:
    """x shifted by round(tx * W), round(ty * H) pixels (zeros shifted in) and the mask of the
    pixels that came from x."""
    _, _, h, w = x.shape
    ix, iy = int(round(float(tx) * w)), int(round(float(ty) * h))
    out, mask = torch.zeros_like(x), torch.zeros_like(x)
    if abs(ix) < w and abs(iy) < h:
        src = x[:, :, max(-iy, 0): h + min(-iy, 0), max(-ix, 0): w + min(-ix, 0)]
        out[:, :, max(iy, 0): h + min(iy, 0), max(ix, 0): w + min(ix, 0)] = src
        mask[:, :, max(iy, 0): h + min(iy, 0), max(ix, 0): w + min(ix, 0)] = 1
    return out, mask


def fractional_translation(x: torch.Tensor, tx: float, ty: float, a: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """x shifted by (tx W, ty H) pixels with a separable Lanczos-a kernel; the mask keeps only
    pixels whose whole kernel support lay inside x."""
    _, _, h, w = x.shape
    sx, sy = float(tx) * w, float(ty) * h
    ix, iy = math.floor(sx), math.floor(sy)
    fx, fy = sx - ix, sy - iy
    b = a - 1
    taps = torch.arange(2 * a, dtype=torch.float64) - b
    kx = sinc(taps - fx) * sinc((taps - fx) / a)
    ky = sinc(taps - fy) * sinc((taps - fy) / a)
    kx, ky = (kx / kx.sum()).to(x.dtype), (ky / ky.sum()).to(x.dtype)
    out = torch.zeros_like(x)
    zx0, zy0, zx1, zy1 = max(ix - b, 0), max(iy - b, 0), min(ix + a, 0) + w, min(iy + a, 0) + h
    if zx0 < zx1 and zy0 < zy1:
        # Filtering with the kernel reversed gives out[n] = sum_k x[n - ix - k + b] k[k]: a shift by ix + f.
        y = upfirdn2d(x, None, padding=[b + a, a + b] * 2)  # output W + b + a wide after the 2a-tap kernel
        c = x.shape[1]
        y = F.conv2d(y, kx.flip(0).view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
        y = F.conv2d(y, ky.flip(0).view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)
        y = y[:, :, max(b - iy, 0): h + b + a + min(-iy - a, 0), max(b - ix, 0): w + b + a + min(-ix - a, 0)]
        out[:, :, zy0:zy1, zx0:zx1] = y
    mask = torch.zeros_like(x)
    mx0, my0, mx1, my1 = max(ix + a, 0), max(iy + a, 0), min(ix - b, 0) + w, min(iy - b, 0) + h
    if mx0 < mx1 and my0 < my1:
        mask[:, :, my0:my1, mx0:mx1] = 1
    return out, mask


def fourier_translation(x: torch.Tensor, tx: float, ty: float) -> torch.Tensor:
    """x shifted by (tx W, ty H) pixels by a phase ramp on its 2-D DFT: the exact shift of the
    band-limited periodic image the samples define (what sinc interpolation with infinite support
    gives). The Nyquist bins are shifted as cosines (their real part), the usual convention."""
    h, w = x.shape[-2:]
    fy = torch.fft.fftfreq(h, dtype=torch.float64).view(-1, 1)
    fx = torch.fft.fftfreq(w, dtype=torch.float64).view(1, -1)
    ramp = torch.exp(-2j * math.pi * (fx * float(tx) * w + fy * float(ty) * h))
    return torch.fft.ifft2(torch.fft.fft2(x.double()) * ramp).real.to(x.dtype)


def bandlimit_filter(mat: torch.Tensor, a: int = 3, amax: int = 16, aflt: int = 64, up: int = 4) -> torch.Tensor:
    """A 2-D FIR filter at `up`x the pixel rate that keeps the band the image had before *and*
    after the affine map `mat` (2x2 part): the convolution of two oriented sincs (cutoff at the
    pixel Nyquist rate), windowed by the convolution of two oriented Lanczos-a windows, cut to
    +-amax pixels and normalised per polyphase component."""
    mat = torch.as_tensor(mat, dtype=torch.float64)
    n = aflt * up * 2 - 1
    pos = ((torch.arange(n, dtype=torch.float64) + 1) / up - aflt).roll(1 - aflt * up)
    yi, xi = torch.meshgrid(pos, pos, indexing="ij")
    xo, yo = (torch.stack([xi, yi], dim=2) @ mat[:2, :2].t()).unbind(2)
    conv = lambda p, q: torch.fft.ifftn(torch.fft.fftn(p) * torch.fft.fftn(q)).real  # noqa: E731
    f = conv(sinc(xi) * sinc(yi), sinc(xo) * sinc(yo))
    f = f * conv(lanczos_window(xi, a) * lanczos_window(yi, a), lanczos_window(xo, a) * lanczos_window(yo, a))
    c = (aflt - amax) * up
    f = f.roll([aflt * up - 1] * 2, dims=[0, 1])[c:-c, c:-c]
    f = F.pad(f, [0, 1, 0, 1]).reshape(amax * 2, up, amax * 2, up)
    f = f / f.sum([0, 2], keepdim=True) / up ** 2
    return f.reshape(amax * 2 * up, amax * 2 * up)[:-1, :-1].float()


def affine_transformation(x: torch.Tensor, mat: torch.Tensor, up: int = 4, a: int = 3, amax: int = 16):
    """x under the affine map `mat` (band-limited: upsample `up`x through `bandlimit_filter`,
    then bilinear lookup), and the mask of output pixels whose filter support lay inside x."""
    n, _, h, w = x.shape
    mat = torch.as_tensor(mat, dtype=torch.float32)
    f = bandlimit_filter(mat, a=a, amax=amax, up=up).to(x.dtype)
    p = f.shape[0] // 2
    theta = mat.inverse()
    theta[:2, 2] *= 2
    theta[0, 2] += 1 / up / w
    theta[1, 2] += 1 / up / h
    theta[0, :] *= w / (w + p / up * 2)
    theta[1, :] *= h / (h + p / up * 2)
    grid = F.affine_grid(theta[:2, :3].unsqueeze(0).repeat(n, 1, 1).to(x.dtype), list(x.shape), align_corners=False)
    k = f.shape[0]
    y = upfirdn2d(x, f, up=up, padding=[p + (k + up - 1) // 2, p + (k - up) // 2] * 2, gain=up ** 2)
    z = F.grid_sample(y, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    m = torch.zeros_like(y)
    c = p * 2 + 1
    m[:, :, c:-c, c:-c] = 1
    m = F.grid_sample(m, grid, mode="nearest", padding_mode="zeros", align_corners=False)
    return z, m


def fractional_rotation(x: torch.Tensor, angle: float, a: int = 3):
    return affine_transformation(x, rotation_matrix(angle), a=a, amax=a * 2)


def pseudo_rotation(x: torch.Tensor, angle: float, a: int = 3):
    """x with the frequency content a rotation by `angle` would leave it, not rotated."""
    f = bandlimit_filter(rotation_matrix(-angle), a=a, amax=a * 2, up=1).to(x.dtype)
    c = f.shape[0] // 2
    y = upfirdn2d(x, f, padding=c)  # same size (odd filter)
    m = torch.zeros_like(y)
    m[:, :, c:-c, c:-c] = 1
    return y, m


def undo_transform(images: torch.Tensor, shift_px=(0.0, 0.0), angle_deg: float = 0.0, with_mask: bool = False):
    """Images rendered with an output rotation of `angle_deg` and then a translation of
    `shift_px` pixels (x, y), as `inverse_transform` and the generators' shift_x / shift_y /
    rotate controls make them, brought back: the shift undone first (Lanczos-3), then the
    rotation (band-limited), so a perfectly equivariant generator gives back its untransformed
    image (what the app's "undo the transform" toggle shows). Uncovered borders are left at -1
    (background). with_mask: also the mask of the pixels whose filters saw only defined pixels."""
    x = images.float()
    fill = -1.0
    mask = torch.ones_like(x)
    h, w = x.shape[-2:]
    if shift_px[0] or shift_px[1]:
        z, mask = fractional_translation(x - fill, -shift_px[0] / w, -shift_px[1] / h)
        x = z + fill
    if angle_deg:
        n = len(x)
        both = torch.cat([x - fill, mask]) if with_mask else x - fill  # one filter for images and mask
        z, m = fractional_rotation(both, -math.radians(angle_deg))
        x = z[:n] * m[:n] + fill
        if with_mask:
            mask = m[:n] * ((z[n:] - 1).abs() < 1e-3)  # 1 where the filter saw only defined pixels
    x = x.clamp(-1, 1)
    return (x, mask) if with_mask else x


# ----- the metrics -------------------------------------------------------------------------------------
@torch.no_grad()
def equivariance(render, latents: torch.Tensor, resolution: int, translate_max: float = 0.125,
                 rotate_max: float = 1.0, seed: int = 0, batch_size: int = 50, kinds=("int", "frac", "rot")) -> dict:
    """EQ-T (integer), EQ-T_frac and EQ-R in dB for `render(z, transform)` over `latents`,
    one random transform per batch as in the paper's code (drawn from `seed`). With "frac" also
    ``eqt_frac_exact_db`` and ``eqt_frac_ceiling_db`` (see the module's docstring)."""
    gen = torch.Generator().manual_seed(seed)
    sums = {k: [0.0, 0.0] for k in kinds}
    if "frac" in kinds:  # the generator against the exact shift, and the Lanczos reference against it
        sums.update({"frac_exact": [0.0, 0.0], "frac_ceiling": [0.0, 0.0]})
    for start in range(0, len(latents), batch_size):
        z = latents[start:start + batch_size]
        orig = render(z, None).float()
        if "int" in kinds:
            t = (torch.rand(2, generator=gen, dtype=torch.float64) * 2 - 1) * translate_max
            t = (t * resolution).round() / resolution
            img = render(z, inverse_transform((float(t[0]), float(t[1])))).float()
            ref, mask = integer_translation(orig, float(t[0]), float(t[1]))
            sums["int"][0] += float(((ref - img).square() * mask).double().sum())
            sums["int"][1] += float(mask.double().sum())
        if "frac" in kinds:
            t = (torch.rand(2, generator=gen, dtype=torch.float64) * 2 - 1) * translate_max
            img = render(z, inverse_transform((float(t[0]), float(t[1])))).float()
            ref, mask = fractional_translation(orig, float(t[0]), float(t[1]))
            exact = fourier_translation(orig, float(t[0]), float(t[1]))
            for key, a, b in (("frac", ref, img), ("frac_exact", exact, img), ("frac_ceiling", ref, exact)):
                sums[key][0] += float(((a - b).square() * mask).double().sum())
                sums[key][1] += float(mask.double().sum())
        if "rot" in kinds:
            angle = float((torch.rand([], generator=gen, dtype=torch.float64) * 2 - 1) * (rotate_max * math.pi))
            img = render(z, inverse_transform(angle=angle)).float()
            ref, ref_mask = fractional_rotation(orig, angle)
            pseudo, pseudo_mask = pseudo_rotation(img, angle)
            mask = ref_mask * pseudo_mask
            sums["rot"][0] += float(((ref - pseudo).square() * mask).double().sum())
            sums["rot"][1] += float(mask.double().sum())
    names = {"int": "eqt_int_db", "frac": "eqt_frac_db", "rot": "eqr_db", "frac_exact": "eqt_frac_exact_db",
             "frac_ceiling": "eqt_frac_ceiling_db"}
    return {names[k]: round(psnr(*v), 2) for k, v in sums.items()}


def translation_ceiling(images: torch.Tensor, translate_max: float = 0.125, seed: int = 0, batch_size: int = 50) -> float:
    """EQ-T_frac's ceiling on `images` in dB: the score of a perfectly equivariant renderer whose
    unmoved output is `images` (it moves them by the exact shift), with `equivariance`'s draws;
    what a generator whose images looked like these could score at best (e.g. the real digits)."""
    def perfect(x, transform):  # the inverse transform holds minus the shift, in image widths
        return x if transform is None else fourier_translation(x, -float(transform[0, 2]), -float(transform[1, 2]))

    return equivariance(perfect, images.float(), images.shape[-1], translate_max, seed=seed, batch_size=batch_size,
                        kinds=("frac",))["eqt_frac_db"]


def power_spectrum(images: torch.Tensor, beta: float = 8.0) -> np.ndarray:
    """The mean over images (and channels) of |FFT2(w (x - mean x))|^2 / sum(w^2), zero frequency
    at the centre (fftshift): (H, W). w is a separable Kaiser window (beta 8, as the official
    spectrum tool), so an image whose borders do not match does not paint a cross of leakage."""
    x = images.double()
    x = x - x.mean(dim=(-2, -1), keepdim=True)
    h, w = x.shape[-2:]
    win = torch.outer(torch.kaiser_window(h, False, beta, dtype=torch.float64),
                      torch.kaiser_window(w, False, beta, dtype=torch.float64))
    p = torch.fft.fft2(x * win).abs().square() / win.square().sum()
    return torch.fft.fftshift(p.mean(dim=(0, 1)), dim=(-2, -1)).numpy()


def radial_profile(spectrum: np.ndarray) -> np.ndarray:
    """Mean power over rings of integer radius (cycles per image) around the centre."""
    h, w = spectrum.shape
    yy, xx = np.indices((h, w))
    r = np.rint(np.hypot(yy - h // 2, xx - w // 2)).astype(int)
    total = np.bincount(r.ravel(), spectrum.ravel())
    count = np.bincount(r.ravel())
    return total[: min(h, w) // 2 + 1] / np.maximum(count[: min(h, w) // 2 + 1], 1)


def spectrum_figures(generated: torch.Tensor, real: torch.Tensor) -> dict:
    """How the samples' average power spectrum compares with the real data's:
    ``spectrum_gap_db`` the mean |10 log10 P_gen - 10 log10 P_real| over all frequencies;
    ``spectrum_high_gap_db`` the same over the upper half of the band (|f| > Nyquist / 2);
    ``high_power_share`` / ``real_high_power_share`` the share of power in that upper band."""
    pg, pr = power_spectrum(generated), power_spectrum(real)
    h, w = pg.shape
    yy, xx = np.indices((h, w))
    high = np.hypot(yy - h // 2, xx - w // 2) > min(h, w) / 4
    gap = np.abs(10 * np.log10(pg + 1e-12) - 10 * np.log10(pr + 1e-12))
    return {"spectrum_gap_db": round(float(gap.mean()), 3), "spectrum_high_gap_db": round(float(gap[high].mean()), 3),
            "high_power_share": round(float(pg[high].sum() / pg.sum()), 5),
            "real_high_power_share": round(float(pr[high].sum() / pr.sum()), 5)}
