"""Alias-free generator layers (Karras et al. 2021, "Alias-Free Generative Adversarial Networks",
arXiv:2106.12423), in pure PyTorch: no custom CUDA op, the same code on a CPU and a GPU.

The idea: treat every feature map as samples of a continuous, band-limited signal. Each layer
knows its sampling rate s, its cutoff f_c and its stopband f_t; resampling goes through
Kaiser-windowed FIR low-pass filters, and the pointwise nonlinearity (which creates new high
frequencies) runs at twice the sampling rate and is low-passed back to the output band before
it is sampled down. Then a sub-pixel translation (config T) or a rotation (config R, 1x1 convs
and radially symmetric filters) of the Fourier-feature input moves the output image with it.

Pieces (papers.md section 12):

- `lowpass_filter`: Kaiser-windowed sinc via `scipy.signal.firwin` (separable, 1-D taps) or the
  radially symmetric jinc filter with a 2-D Kaiser window (config R);
- `upfirdn2d`: zero-insertion upsampling, padding/cropping, FIR filtering, decimation; separable
  filters run as two 1-D passes (conv2d on (N*C, 1, H, W)). `upfirdn2d_reference` is the plain
  full-2-D path the fast one is tested against;
- `filtered_lrelu`: bias -> upsample (low-pass at the *input* cutoff) -> leaky ReLU (slope 0.2,
  gain sqrt 2) -> clamp -> low-pass at the *output* cutoff and downsample;
- `FourierInput`: sinusoids with frequencies uniform in a disc of radius f_c,0 and random phases,
  on a grid of s + 2 * margin samples; a per-call inverse transform (3x3) rotates and translates
  them, frequencies pushed out of band are faded out; a learned 1x1 mixing; a w-driven affine
  rotation/translation initialised to the identity;
- `modulated_conv2d`: StyleGAN2 weight modulation/demodulation (activation-scaled form: the
  same arithmetic as the grouped-conv form, one shared conv, fast on a CPU), with the
  magnitude-EMA input gain;
- `SynthesisLayer`: modulated conv (3x3 for T, 1x1 for R, full padding) + filtered nonlinearity,
  a magnitude EMA of its input (updated only when asked: the training forward of G);
- `layer_schedule`: the per-layer cutoff / stopband / sampling rate / half-width / size /
  channel schedule, the last `num_critical` layers critically sampled (f_c = s/2), the last two
  layers at exactly the image size (the margin cropped away).

`BaselineLayer` is the ordinary counterpart for the comparison generator: the same modulated
conv at the native rate, leaky ReLU without any filtering, StyleGAN2's [1, 3, 3, 1] filter when
the rate doubles, and a centre crop where the size shrinks.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import scipy.signal
import scipy.special
import torch
import torch.nn.functional as F
from torch import nn

SQRT2 = math.sqrt(2.0)


# ----- filter design ---------------------------------------------------------------------------
def lowpass_filter(numtaps: int, cutoff: float, width: float, fs: float, radial: bool = False):
    """A Kaiser-windowed low-pass FIR filter, or None for the identity (numtaps == 1).

    Separable (radial=False): 1-D taps from `scipy.signal.firwin(numtaps, cutoff, width=width, fs=fs)`;
    the Kaiser beta comes from the transition width, so the stop band sits at cutoff + width/2.
    Radial (config R): the jinc J1(2 pi f_c r) / (pi r) on a numtaps x numtaps grid, times the
    outer product of the 1-D Kaiser window of the same design, normalised to unit DC gain.
    """
    if numtaps < 1:
        raise ValueError(f"numtaps must be >= 1, got {numtaps}")
    if numtaps == 1:
        return None
    if not radial:
        taps = scipy.signal.firwin(numtaps=numtaps, cutoff=cutoff, width=width, fs=fs)
        return torch.as_tensor(taps, dtype=torch.float32)
    pos = (np.arange(numtaps) - (numtaps - 1) / 2) / fs
    r = np.hypot(*np.meshgrid(pos, pos))  # never 0 for an even numtaps; guarded anyway
    r = np.where(r == 0, 1e-12, r)
    f = scipy.special.j1(2 * np.pi * cutoff * r) / (np.pi * r)
    beta = scipy.signal.kaiser_beta(scipy.signal.kaiser_atten(numtaps, width / (fs / 2)))
    window = np.kaiser(numtaps, beta)
    f = f * np.outer(window, window)
    return torch.as_tensor(f / f.sum(), dtype=torch.float32)


def frequency_response(taps: torch.Tensor, fs: float, n: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """(frequencies, |H|) of 1-D taps on [0, fs/2] (scipy.signal.freqz)."""
    w, h = scipy.signal.freqz(np.asarray(taps, dtype=np.float64), worN=n, fs=fs)
    return w, np.abs(h)


def band_limit(x: torch.Tensor, taps: torch.Tensor) -> torch.Tensor:
    """`x` through the separable zero-phase FIR `taps` (odd length) at its own rate, the border
    repeated so that a flat background stays flat (zeros would draw a frame round every image)."""
    if taps.numel() % 2 == 0:
        raise ValueError(f"band_limit needs an odd number of taps (zero phase), got {taps.numel()}")
    half = taps.numel() // 2
    return upfirdn2d(F.pad(x, [half] * 4, mode="replicate"), taps)


# ----- up/FIR/down ------------------------------------------------------------------------------
def _zero_insert_and_pad(x: torch.Tensor, up: int, padding) -> torch.Tensor:
    px0, px1, py0, py1 = padding
    n, c, h, w = x.shape
    if up > 1:
        x = x.reshape(n, c, h, 1, w, 1)
        x = F.pad(x, [0, up - 1, 0, 0, 0, up - 1])
        x = x.reshape(n, c, h * up, w * up)
    x = F.pad(x, [max(px0, 0), max(px1, 0), max(py0, 0), max(py1, 0)])
    return x[:, :, max(-py0, 0): x.shape[2] - max(-py1, 0), max(-px0, 0): x.shape[3] - max(-px1, 0)]


def _as_padding(padding) -> list[int]:
    if isinstance(padding, int):
        return [padding] * 4
    padding = [int(p) for p in padding]
    return padding * 2 if len(padding) == 2 else padding


def upfirdn2d(x: torch.Tensor, f: torch.Tensor | None, up: int = 1, down: int = 1, padding=0,
              gain: float = 1.0) -> torch.Tensor:
    """Upsample by zero insertion (`up`), pad (x0, x1, y0, y1; negative crops), convolve with
    the FIR filter `f` (1-D: separable, applied along x then y; 2-D: as it is; None: identity)
    and keep every `down`-th sample. `gain` scales the overall DC gain (up**2 for upsampling).

    Fast path (what the layers use): a separable upsampling filter runs as two depthwise
    transposed convolutions of stride `up` (no multiplications by inserted zeros), then the
    padding is applied to the result; filtering and decimation run as depthwise convolutions
    of stride `down`. The result equals `upfirdn2d_reference` (tested)."""
    px0, px1, py0, py1 = _as_padding(padding)
    c = x.shape[1]
    if f is not None and f.ndim == 1 and up > 1:
        k = f.numel()
        taps = (f * (gain ** 0.5)).to(x.dtype)
        x = F.conv_transpose2d(x, taps.view(1, 1, 1, k).repeat(c, 1, 1, 1), stride=(1, up), groups=c)
        x = F.conv_transpose2d(x, taps.view(1, 1, k, 1).repeat(c, 1, 1, 1), stride=(up, 1), groups=c)
        # x now holds the full convolution of the zero-inserted signal; cut out the padded window.
        x = F.pad(x, [px0 - k + 1, px1 + up - k, py0 - k + 1, py1 + up - k])
        return x[:, :, ::down, ::down] if down > 1 else x
    x = _zero_insert_and_pad(x, up, [px0, px1, py0, py1])
    if f is None:
        x = x[:, :, ::down, ::down]
        return x * gain if gain != 1 else x
    f = f.to(x.dtype)
    if f.ndim == 1:
        k = f.flip(0) * (gain ** 0.5)
        x = F.conv2d(x, k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), stride=(1, down), groups=c)
        return F.conv2d(x, k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), stride=(down, 1), groups=c)
    return F.conv2d(x, (f.flip([0, 1]) * gain)[None, None].repeat(c, 1, 1, 1), stride=down, groups=c)


def upfirdn2d_reference(x: torch.Tensor, f: torch.Tensor | None, up: int = 1, down: int = 1, padding=0,
                        gain: float = 1.0) -> torch.Tensor:
    """The same operation written plainly: a separable filter expanded to its full 2-D outer
    product, one full-resolution convolution, then decimation by slicing (for tests)."""
    x = _zero_insert_and_pad(x, up, _as_padding(padding))
    if f is not None:
        f2 = torch.outer(f, f) if f.ndim == 1 else f
        c = x.shape[1]
        x = F.conv2d(x, (f2.flip([0, 1]) * gain).to(x.dtype)[None, None].repeat(c, 1, 1, 1), groups=c)
    elif gain != 1:
        x = x * gain
    return x[:, :, ::down, ::down]


def resample_matrix(n: int, f, up: int = 1, down: int = 1, pad=(0, 0), gain: float = 1.0) -> torch.Tensor:
    """The 1-D upfirdn (zero insertion `up`, padding, FIR `f`, decimation `down`) of a length-n
    signal as an (n_out, n) matrix, so that a separable 2-D resampling is M_y @ x @ M_x^T: two
    BLAS matrix products instead of depthwise convolutions (faster on a CPU, exact)."""
    taps = np.ones(1) if f is None else np.asarray(f, dtype=np.float64)
    p0, p1 = pad
    cols = []
    for i in range(n):
        x = np.zeros(n * up)
        x[i * up] = 1.0
        x = np.pad(x, (max(p0, 0), max(p1, 0)))
        x = x[max(-p0, 0): len(x) - max(-p1, 0)]
        cols.append(np.convolve(x, taps * gain, mode="valid")[::down])
    return torch.as_tensor(np.stack(cols, 1), dtype=torch.float32)


def _separable(x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """m @ x @ m^T on the last two axes, as two flat matrix products (no broadcast copies of m)."""
    y = x @ m.t()
    return (y.transpose(-1, -2) @ m.t()).transpose(-1, -2)


def filtered_lrelu(x: torch.Tensor, fu, fd, bias: torch.Tensor | None, up: int, down: int, padding,
                   gain: float = SQRT2, slope: float = 0.2, clamp: float | None = 256.0) -> torch.Tensor:
    """bias -> upsample `up`x with `fu` (the input cutoff) -> leaky ReLU x gain -> clamp ->
    low-pass with `fd` (the output cutoff) and keep every `down`-th sample."""
    if bias is not None:
        x = x + bias.to(x.dtype).view(1, -1, 1, 1)
    x = upfirdn2d(x, fu, up=up, padding=padding, gain=up ** 2)
    if slope != 1:
        x = F.leaky_relu(x, slope)
    if gain != 1:
        x = x * gain
    if clamp is not None:
        x = x.clamp(-clamp, clamp)
    return upfirdn2d(x, fd, down=down)


# ----- per-layer schedule -----------------------------------------------------------------------
@dataclass(frozen=True)
class LayerSpec:
    cutoff: float  # f_c
    stopband: float  # f_t
    sampling_rate: int  # s
    half_width: float  # f_h
    size: int  # samples per side (s + 2 margin; image side for the last two)
    channels: int
    critical: bool


def layer_schedule(resolution: int, channels_out: int, num_layers: int = 6, num_critical: int = 2,
                   first_cutoff: float = 2.0, first_stopband: float = 2 ** 2.1, last_stopband_rel: float = 2 ** 0.3,
                   margin: int = 10, channel_base: int = 512, channel_max: int = 32,
                   final_cutoff: float = 0.0) -> list[LayerSpec]:
    """The schedule of the input (index 0) and the `num_layers` synthesis layers and ToRGB
    (indices 1..num_layers+1 are the layers' outputs; index 0 is also layer 0's input):

    f_c[i] = f_c,0 (f_c,N / f_c,0)^e_i and f_t[i] likewise, e_i = min(i / (N - num_critical), 1),
    f_c,N = res/2, f_t,N = f_c,N 2^0.3; s[i] = 2^ceil(log2 min(2 f_t[i], res));
    f_h[i] = max(f_t[i], s[i]/2) - f_c[i]; size = s + 2 margin, the last two exactly res;
    channels = min(round(channel_base / 2 / f_c), channel_max), the last = image channels.

    `final_cutoff` (0: the paper's f_c,N = res/2): the last `num_critical` layers' cutoff instead,
    with their stopband at res/2. The paper's critical layers put the stopband above Nyquist
    (f_t,N = res/2 2^0.3), so the nonlinearity's harmonics between res/2 and f_t,N fold back:
    the sharpest image, at the cost of sub-pixel equivariance. Below res/2 nothing folds back
    (docs/models/alias_free.md, "Stop 29"). Channel counts stay the paper's."""
    if num_layers <= num_critical:
        raise ValueError(f"num_layers ({num_layers}) must exceed num_critical ({num_critical})")
    if final_cutoff and not 0 < final_cutoff < resolution / 2:
        raise ValueError(f"final_cutoff ({final_cutoff}) must lie between 0 and half the resolution "
                         f"({resolution / 2:g} cycles per image), or be 0 for the paper's critical sampling")
    last_cutoff = resolution / 2
    last_stopband = last_cutoff * last_stopband_rel
    e = np.minimum(np.arange(num_layers + 1) / (num_layers - num_critical), 1.0)
    cutoffs = first_cutoff * (last_cutoff / first_cutoff) ** e
    stopbands = first_stopband * (last_stopband / first_stopband) ** e
    rates = np.exp2(np.ceil(np.log2(np.minimum(stopbands * 2, resolution))))
    channels = np.rint(np.minimum((channel_base / 2) / cutoffs, channel_max))
    channels[-1] = channels_out
    if final_cutoff:
        cutoffs[e >= 1], stopbands[e >= 1] = final_cutoff, resolution / 2
    half_widths = np.maximum(stopbands, rates / 2) - cutoffs
    sizes = rates + margin * 2
    sizes[-2:] = resolution
    return [LayerSpec(float(cutoffs[i]), float(stopbands[i]), int(rates[i]), float(half_widths[i]), int(sizes[i]),
                      int(channels[i]), bool(i >= num_layers - num_critical)) for i in range(num_layers + 1)]


# ----- fully connected, mapping network -----------------------------------------------------------
class FullyConnected(nn.Module):
    """A linear layer with a runtime weight scale (equalised learning rate) and an optional
    learning-rate multiplier, optional leaky ReLU (gain sqrt 2)."""

    def __init__(self, fin: int, fout: int, activation: bool = False, lr_mul: float = 1.0, weight_init: float = 1.0,
                 bias_init=0.0):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(fout, fin) * (weight_init / lr_mul))
        bias = torch.as_tensor(np.broadcast_to(np.asarray(bias_init, dtype=np.float32), [fout]).copy())
        self.bias = nn.Parameter(bias / lr_mul)
        self.weight_gain, self.lr_mul, self.activation = lr_mul / math.sqrt(fin), lr_mul, activation

    def forward(self, x):
        x = torch.addmm(self.bias * self.lr_mul, x, (self.weight * self.weight_gain).t())
        return F.leaky_relu(x, 0.2) * SQRT2 if self.activation else x


class MappingNetwork(nn.Module):
    """z -> w: pixel-normalised z through `layers` FC layers (lr multiplier 0.01); keeps an EMA
    of w (updated only on request: training) for the truncation trick."""

    def __init__(self, z_dim: int, w_dim: int, layers: int = 2, lr_mul: float = 0.01, w_avg_beta: float = 0.998):
        super().__init__()
        dims = [z_dim] + [w_dim] * layers
        self.net = nn.Sequential(*[FullyConnected(a, b, activation=True, lr_mul=lr_mul) for a, b in zip(dims, dims[1:])])
        self.register_buffer("w_avg", torch.zeros(w_dim))
        self.w_avg_beta = w_avg_beta

    def forward(self, z, truncation: float = 1.0, update_emas: bool = False):
        x = z * (z.square().mean(1, keepdim=True) + 1e-8).rsqrt()
        w = self.net(x)
        if update_emas:  # the average stays fp32 when autocast runs the layers in bf16/fp16
            self.w_avg.copy_(w.detach().to(self.w_avg.dtype).mean(0).lerp(self.w_avg, self.w_avg_beta))
        if truncation != 1:
            w = self.w_avg.to(w.dtype).lerp(w, truncation)
        return w


# ----- transforms ----------------------------------------------------------------------------------
def inverse_transform(translate=(0.0, 0.0), angle: float = 0.0, batch: int | None = None) -> torch.Tensor:
    """The 3x3 matrix to hand the input layer so that the *output image* is rotated by `angle`
    (radians, counter-clockwise as the metric's rotation_matrix) and then translated by
    `translate` (image widths, x then y): the input is sampled at M @ [x, y, 1], the inverse map."""
    c, s = math.cos(angle), math.sin(angle)
    rot_inv = torch.tensor([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])  # rotation_matrix(-angle)
    shift_inv = torch.eye(3)
    shift_inv[0, 2], shift_inv[1, 2] = -float(translate[0]), -float(translate[1])
    m = rot_inv @ shift_inv
    return m if batch is None else m.unsqueeze(0).repeat(batch, 1, 1)


# ----- the input layers --------------------------------------------------------------------------------
class FourierInput(nn.Module):
    """Fourier features (config T and R): `channels` sinusoids sin(2 pi (<f, x> + phi)), f uniform
    in the disc of radius `bandwidth`, phi uniform; sampled on `size` x `size` points at rate
    `sampling_rate` (image units: the final image spans [-1/2, 1/2]). A w-driven rotation and
    translation (affine initialised to [1, 0, 0, 0]) and a per-call inverse `transform` act on
    the frequencies and phases, never on a resampled grid, so the features stay exact."""

    def __init__(self, w_dim: int, channels: int, size: int, sampling_rate: float, bandwidth: float,
                 learned_pose: bool = True, features: int = 0, pose_lr_mul: float = 1.0):
        super().__init__()
        self.channels, self.size, self.sampling_rate, self.bandwidth = channels, size, sampling_rate, bandwidth
        self.learned_pose = learned_pose
        self.features = features = features or channels  # sinusoids, mixed down to `channels` maps
        freqs = torch.randn(features, 2)
        radii = freqs.square().sum(1, keepdim=True).sqrt()
        freqs = freqs / (radii * radii.square().exp().pow(0.25)) * bandwidth  # uniform in the disc
        self.register_buffer("freqs", freqs)
        self.register_buffer("phases", torch.rand(features) - 0.5)
        self.weight = nn.Parameter(torch.randn(channels, features))
        self.affine = FullyConnected(w_dim, 4, weight_init=0.0, bias_init=[1.0, 0.0, 0.0, 0.0], lr_mul=pose_lr_mul)

    def learned_transform(self, w: torch.Tensor) -> torch.Tensor:
        t = self.affine(w)
        t = t / t[:, :2].norm(dim=1, keepdim=True)
        n = len(w)
        m_r = torch.eye(3, device=w.device).repeat(n, 1, 1)
        m_r[:, 0, 0], m_r[:, 0, 1], m_r[:, 1, 0], m_r[:, 1, 1] = t[:, 0], -t[:, 1], t[:, 1], t[:, 0]
        m_t = torch.eye(3, device=w.device).repeat(n, 1, 1)
        m_t[:, 0, 2], m_t[:, 1, 2] = -t[:, 2], -t[:, 3]
        return m_r @ m_t

    def grid(self, device) -> torch.Tensor:
        """(size, size, 2) sample positions (x, y) in image units, pixel centres."""
        pos = (torch.arange(self.size, device=device, dtype=torch.float32) + 0.5 - self.size / 2) / self.sampling_rate
        yy, xx = torch.meshgrid(pos, pos, indexing="ij")
        return torch.stack([xx, yy], dim=-1)

    def forward(self, w: torch.Tensor, transform: torch.Tensor | None = None) -> torch.Tensor:
        # With a fixed pose and one transform for the batch every sample gets the same maps:
        # they are computed once and shared (with 1,024 sinusoids that was most of G's step).
        m = self.learned_transform(w) if self.learned_pose else torch.eye(3, device=w.device)[None]
        if transform is not None:
            transform = transform.to(w.device, torch.float32)
            m = m @ (transform if transform.ndim == 3 else transform[None])
        freqs = self.freqs.unsqueeze(0) @ m[:, :2, :2]  # f^T A
        phases = self.phases.unsqueeze(0) + (self.freqs.unsqueeze(0) @ m[:, :2, 2:]).squeeze(2)  # + f^T b
        amplitude = (1 - (freqs.norm(dim=2) - self.bandwidth) / (self.sampling_rate / 2 - self.bandwidth)).clamp(0, 1)
        g = self.grid(w.device)  # (S, S, 2)
        x = torch.einsum("hwk,nck->nhwc", g, freqs) + phases[:, None, None, :]
        x = torch.sin(x * (2 * math.pi)) * amplitude[:, None, None, :]
        x = x @ (self.weight / math.sqrt(self.features)).t()
        x = x.permute(0, 3, 1, 2).contiguous()
        return x.expand(len(w), -1, -1, -1) if len(x) != len(w) else x


class ConstantInput(nn.Module):
    """The baseline's learned constant (StyleGAN2) on the same grid as the Fourier input. A
    transform resamples it bilinearly at M @ [x, y, 1] (zeros outside): the ordinary way to move
    a conv generator's content, with no band limit."""

    def __init__(self, channels: int, size: int, sampling_rate: float):
        super().__init__()
        self.size, self.sampling_rate = size, sampling_rate
        self.const = nn.Parameter(torch.randn(channels, size, size))

    def forward(self, w: torch.Tensor, transform: torch.Tensor | None = None) -> torch.Tensor:
        x = self.const.unsqueeze(0).expand(len(w), -1, -1, -1)
        if transform is None:
            return x
        m = transform.to(w.device, torch.float32).expand(len(w), 3, 3)
        theta = m[:, :2, :].clone()
        theta[:, :, 2] = theta[:, :, 2] * (2 * self.sampling_rate / self.size)  # image units -> [-1, 1]
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


# ----- modulated convolution -----------------------------------------------------------------------
def modulated_conv2d(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, demodulate: bool = True,
                     padding: int = 0, input_gain: torch.Tensor | None = None) -> torch.Tensor:
    """StyleGAN2/3 modulated convolution: w'_oi = w_oi s_i (pre-normalised), demodulated by
    1/sqrt(sum_i,k w'^2) per sample and output channel, the input scaled by `input_gain`.
    Written as scale-activations / shared conv / scale-outputs (the same arithmetic as the
    per-sample grouped convolution, and far faster on a CPU)."""
    if demodulate:
        weight = weight * weight.square().mean([1, 2, 3], keepdim=True).rsqrt()
        styles = styles * styles.square().mean().rsqrt()
    scale = styles
    if input_gain is not None:
        scale = scale * input_gain
    y = F.conv2d(x * scale[:, :, None, None].to(x.dtype), weight.to(x.dtype), padding=padding)
    if demodulate:
        d = ((weight.square().sum([2, 3])[None] * styles.square()[:, None, :]).sum(2) + 1e-8).rsqrt()  # (N, O)
        y = y * d[:, :, None, None].to(y.dtype)
    return y


class ModulatedLayer(nn.Module):
    """What an alias-free layer and its baseline share: the style affine (bias 1, so styles start
    at 1), the conv weight and bias, and the magnitude-EMA input gain; `modulated_conv` applies
    them (StyleGAN2's modulation/demodulation, Karras et al. 2020 eqs. 1-3). ToRGB (`torgb`) is a
    1 x 1 layer without demodulation, its styles scaled by 1/sqrt(fan-in) instead."""

    def __init__(self, w_dim: int, cin: int, cout: int, spec_in: LayerSpec, spec_out: LayerSpec, kernel: int,
                 torgb: bool, clamp: float | None, magnitude_ema_beta: float, magnitude_warmup: bool):
        super().__init__()
        self.torgb, self.clamp, self.magnitude_ema_beta = torgb, clamp, magnitude_ema_beta
        self.cin, self.cout = cin, cout
        self.kernel = 1 if torgb else kernel
        self.in_size, self.out_size = spec_in.size, spec_out.size
        self.affine = FullyConnected(w_dim, cin, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(cout, cin, self.kernel, self.kernel))
        self.bias = nn.Parameter(torch.zeros(cout))
        self.register_buffer("magnitude_ema", torch.ones([]))
        self.register_buffer("weight_lr_gain", None, persistent=False)  # see `set_new_channel_rate`
        self.magnitude_warmup = magnitude_warmup
        if magnitude_warmup:
            self.register_buffer("magnitude_ema_updates", torch.zeros([], dtype=torch.long))

    def set_new_channel_rate(self, narrow_cin: int, narrow_cout: int, lr_mul: float) -> None:
        """Every weight outside the first narrow_cout x narrow_cin block (the channels a widening
        added, genlab.models.alias_free.widened) is used as `lr_mul` times its stored value, the
        equalised learning rate's trick (Karras et al. 2018, sec. 4.1): Adam moves each stored
        weight about lr a step, so these move lr_mul times as far. Derived from the config, so
        not stored in a checkpoint."""
        self.narrow_cin, self.narrow_cout = narrow_cin, narrow_cout
        gain = torch.full_like(self.weight, lr_mul)
        gain[:narrow_cout, :narrow_cin] = 1.0
        self.weight_lr_gain = gain

    def track_magnitude(self, x: torch.Tensor) -> None:
        """Move `magnitude_ema`, the running mean square of the input (StyleGAN3's magnitude EMA),
        towards this batch's. With a `magnitude_ema_updates` buffer (the warm-up option) the decay
        starts low and rises to beta as the trainer's weight EMA does, so the first batches replace
        the initial 1: a filtered layer's input starts near 0.1-0.5 (the low-pass removes the
        harmonics the leaky ReLU made), and at beta 0.999 the gain would stay wrong for a thousand steps."""
        current = x.detach().float().square().mean()
        beta = self.magnitude_ema_beta
        if self.magnitude_warmup:  # the decay as a tensor: no device sync in G's training forward
            n = self.magnitude_ema_updates.float()
            beta = ((1 + n) / (10 + n)).clamp(max=beta)
            self.magnitude_ema_updates += 1
        self.magnitude_ema.copy_(current.lerp(self.magnitude_ema, beta))

    def modulated_conv(self, x: torch.Tensor, w: torch.Tensor, update_emas: bool, padding: int) -> torch.Tensor:
        if update_emas:
            self.track_magnitude(x)
        styles = self.affine(w)
        if self.torgb:
            styles = styles / math.sqrt(self.cin * self.kernel ** 2)
        weight = self.weight if self.weight_lr_gain is None else self.weight * self.weight_lr_gain
        return modulated_conv2d(x, weight, styles, demodulate=not self.torgb, padding=padding,
                                input_gain=self.magnitude_ema.rsqrt())


class SynthesisLayer(ModulatedLayer):
    """One alias-free layer: magnitude-EMA input gain, modulated conv (`kernel` x `kernel`, full
    padding: the map grows by kernel - 1), then the filtered nonlinearity at twice
    max(s_in, s_out) with filters designed from the schedule. The ToRGB layer is a 1x1
    unmodulated-demodulation linear layer with no filtering."""

    def __init__(self, w_dim: int, cin: int, cout: int, spec_in: LayerSpec, spec_out: LayerSpec, kernel: int = 3,
                 torgb: bool = False, radial: bool = False, filter_size: int = 6, lrelu_upsampling: int = 2,
                 clamp: float | None = 256.0, magnitude_ema_beta: float = 0.999, magnitude_warmup: bool = False):
        super().__init__(w_dim, cin, cout, spec_in, spec_out, kernel, torgb, clamp, magnitude_ema_beta,
                         magnitude_warmup)

        tmp_rate = max(spec_in.sampling_rate, spec_out.sampling_rate) * (1 if torgb else lrelu_upsampling)
        self.up = int(round(tmp_rate / spec_in.sampling_rate))
        self.down = int(round(tmp_rate / spec_out.sampling_rate))
        up_taps = filter_size * self.up if self.up > 1 and not torgb else 1
        down_taps = filter_size * self.down if self.down > 1 and not torgb else 1
        self.radial = radial and not spec_out.critical
        self.cutoffs = (spec_in.cutoff, spec_out.cutoff)
        self.tmp_rate = tmp_rate
        # Derived from the schedule, so not stored: a checkpoint's copy must never override the
        # config's (a warm start may change the schedule, e.g. final_cutoff).
        self.register_buffer("up_filter", lowpass_filter(up_taps, spec_in.cutoff, spec_in.half_width * 2, tmp_rate),
                             persistent=False)
        self.register_buffer("down_filter", lowpass_filter(down_taps, spec_out.cutoff, spec_out.half_width * 2,
                                                           tmp_rate, radial=self.radial), persistent=False)
        # Padding so that the output has out_size samples, centred (the symmetric interpretation
        # of the sample grid: pixel centres at half-integers, official code's Appendix C.3 shift).
        total = (self.out_size - 1) * self.down + 1
        total -= (self.in_size + self.kernel - 1) * self.up
        total += up_taps + down_taps - 2
        lo = (total + self.up) // 2
        self.padding = [lo, total - lo, lo, total - lo]
        # The separable resampling as matrices (fast path; the radial 2-D filter keeps upfirdn2d).
        self.matrices = self.up_filter is not None and not self.radial and self.down_filter is not None
        if self.matrices:
            # Derived constants, kept out of the state dict (and so out of checkpoints and the EMA).
            self._up_matrix = resample_matrix(self.in_size + self.kernel - 1, self.up_filter.numpy(), self.up, 1,
                                              (lo, total - lo), gain=self.up)
            self._down_matrix = resample_matrix(self._up_matrix.shape[0], self.down_filter.numpy(), 1, self.down,
                                                gain=SQRT2 ** 0.5)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # Checkpoints of the first runs carried the resampling matrices (then non-persistent
        # buffers that the trainer's EMA copied), and those before stop 29 the filters; all are
        # rebuilt from the schedule, so drop them.
        for name in ("up_matrix", "down_matrix", "up_filter", "down_filter"):
            state_dict.pop(prefix + name, None)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def _matrices(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self._up_matrix.device != like.device or self._up_matrix.dtype != like.dtype:
            self._up_matrix, self._down_matrix = self._up_matrix.to(like), self._down_matrix.to(like)
        return self._up_matrix, self._down_matrix

    def forward(self, x: torch.Tensor, w: torch.Tensor, update_emas: bool = False,
                reference: bool = False) -> torch.Tensor:
        """`reference`: take the upfirdn2d path even where the matrix path exists (tests)."""
        x = self.modulated_conv(x, w, update_emas, padding=self.kernel - 1)  # full padding: the map grows
        if self.matrices and not reference:  # the same arithmetic as filtered_lrelu below, resampling as matrix products
            x = x + self.bias.to(x.dtype).view(1, -1, 1, 1)
            # The gain sqrt 2 rides in the (linear) down matrix: clamp(lrelu(x) sqrt 2, c) = sqrt 2 clamp(lrelu(x), c / sqrt 2).
            m_up, m_down = self._matrices(x)
            x = F.leaky_relu(_separable(x, m_up), 0.2)
            if self.clamp is not None:
                x = F.hardtanh(x, -self.clamp / SQRT2, self.clamp / SQRT2)  # one fused backward, unlike clamp
            return _separable(x, m_down)
        return filtered_lrelu(x, self.up_filter, self.down_filter, self.bias, self.up, self.down, self.padding,
                              gain=1.0 if self.torgb else SQRT2, slope=1.0 if self.torgb else 0.2, clamp=self.clamp)

    def extra_repr(self):
        return (f"{self.cin}->{self.cout}, {self.in_size}->{self.out_size} px, k={self.kernel}, up={self.up}, "
                f"down={self.down}, cutoff {self.cutoffs[0]:.2f}->{self.cutoffs[1]:.2f} at {self.tmp_rate}, "
                f"radial={self.radial}, torgb={self.torgb}")


BINOMIAL = torch.tensor([1.0, 3.0, 3.0, 1.0]) / 8.0  # StyleGAN2's resampling filter (unit DC gain)


class BaselineLayer(ModulatedLayer):
    """The ordinary counterpart: the same modulated conv (same-size padding), bias, leaky ReLU
    at the native rate with no low-pass, StyleGAN2's [1, 3, 3, 1] filter when the rate doubles,
    a centre crop where the map shrinks (the margin)."""

    def __init__(self, w_dim: int, cin: int, cout: int, spec_in: LayerSpec, spec_out: LayerSpec, kernel: int = 3,
                 torgb: bool = False, clamp: float | None = 256.0, magnitude_ema_beta: float = 0.999,
                 magnitude_warmup: bool = False):
        super().__init__(w_dim, cin, cout, spec_in, spec_out, kernel, torgb, clamp, magnitude_ema_beta,
                         magnitude_warmup)
        self.up = int(round(spec_out.sampling_rate / spec_in.sampling_rate))

    def forward(self, x: torch.Tensor, w: torch.Tensor, update_emas: bool = False) -> torch.Tensor:
        x = self.modulated_conv(x, w, update_emas, padding=self.kernel // 2)  # same-size padding
        x = x + self.bias.view(1, -1, 1, 1)
        if not self.torgb:
            x = F.leaky_relu(x, 0.2) * SQRT2
        if self.clamp is not None:
            x = x.clamp(-self.clamp, self.clamp)
        if self.up > 1:
            x = upfirdn2d(x, BINOMIAL.to(x.device), up=self.up, padding=[2, 1, 2, 1], gain=self.up ** 2)
        crop = (x.shape[-1] - self.out_size) // 2
        if crop > 0:
            x = x[:, :, crop:crop + self.out_size, crop:crop + self.out_size]
        return x


class SynthesisNetwork(nn.Module):
    """Input (Fourier features, or the baseline's constant) then `num_layers` layers and ToRGB,
    one w per layer (all the same w here: no style mixing), output x `output_scale`."""

    def __init__(self, w_dim: int, resolution: int, channels: int, num_layers: int = 6, num_critical: int = 2,
                 margin: int = 10, channel_base: int = 512, channel_max: int = 32, kernel: int = 3,
                 radial: bool = False, filtered: bool = True, output_scale: float = 0.25,
                 magnitude_ema_beta: float = 0.999, first_cutoff: float = 2.0, learned_pose: bool = True,
                 fourier_features: int = 0, fourier_input: bool = False, magnitude_warmup: bool = False,
                 pose_lr_mul: float = 1.0, final_cutoff: float = 0.0, narrow_channels: tuple[int, int] | None = None,
                 new_channel_lr_mul: float = 1.0):
        """`narrow_channels`: (channel_base, channel_max) of the narrower net this one was widened
        from, whose added channels' weights learn at `new_channel_lr_mul` times the rate."""
        super().__init__()
        schedule = functools.partial(layer_schedule, resolution, channels, num_layers, num_critical,
                                     first_cutoff=first_cutoff,
                                     first_stopband=first_cutoff * 2 ** 1.1,  # the paper's 2^2.1 at f_c,0 = 2
                                     margin=margin, final_cutoff=final_cutoff)
        self.specs = schedule(channel_base=channel_base, channel_max=channel_max)
        self.filtered, self.output_scale, self.resolution = filtered, output_scale, resolution
        first = self.specs[0]
        if filtered or fourier_input:  # the baseline's layers may take it too: a rung of the card's ladder
            self.input = FourierInput(w_dim, first.channels, first.size, first.sampling_rate, first.cutoff,
                                      learned_pose=learned_pose, features=fourier_features, pose_lr_mul=pose_lr_mul)
        else:
            self.input = ConstantInput(first.channels, first.size, first.sampling_rate)
        layers = []
        for i in range(num_layers + 1):
            prev, spec = self.specs[max(i - 1, 0)], self.specs[i]
            torgb = i == num_layers
            if filtered:
                layers.append(SynthesisLayer(w_dim, prev.channels, spec.channels, prev, spec, kernel=kernel, torgb=torgb,
                                             radial=radial, magnitude_ema_beta=magnitude_ema_beta,
                                             magnitude_warmup=magnitude_warmup))
            else:
                layers.append(BaselineLayer(w_dim, prev.channels, spec.channels, prev, spec, kernel=kernel, torgb=torgb,
                                            magnitude_ema_beta=magnitude_ema_beta, magnitude_warmup=magnitude_warmup))
        self.layers = nn.ModuleList(layers)
        if narrow_channels is not None:
            narrow = schedule(channel_base=narrow_channels[0], channel_max=narrow_channels[1])
            for i, layer in enumerate(self.layers):
                layer.set_new_channel_rate(narrow[max(i - 1, 0)].channels, narrow[i].channels, new_channel_lr_mul)

    def forward(self, w: torch.Tensor, transform: torch.Tensor | None = None, update_emas: bool = False) -> torch.Tensor:
        x = self.input(w, transform)
        for layer in self.layers:
            x = layer(x, w, update_emas=update_emas)
        return x * self.output_scale
