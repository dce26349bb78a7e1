"""Signal transforms for vibration windows: spectrum, STFT image, CWT image, noise.

They are torch functions/modules so that a model computes its frequency and
time-frequency views on the fly (on the training device, from the same augmented
window the time branch sees) instead of storing three copies of the data set.
The CWT is PyWavelets' algorithm (``pywt.cwt``: integrated wavelet, resampled per
scale, convolved, differentiated) rewritten as one ``conv1d`` with fixed kernels,
so it runs batched on CPU or GPU and matches ``pywt.cwt`` numerically.
"""

from __future__ import annotations

import math

import numpy as np
import pywt
import torch
import torch.nn.functional as F
from torch import nn


def standardize(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Zero mean, unit variance per window (last axis): removes gain differences."""
    mean = x.mean(dim=-1, keepdim=True)
    std = x.std(dim=-1, keepdim=True)
    return (x - mean) / (std + eps)


def add_noise_snr(x: torch.Tensor, snr_db: torch.Tensor | float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Add white Gaussian noise at ``snr_db`` relative to each window's own power.

    ``snr_db`` is a scalar or one value per window; this is the usual definition of
    test noise in the CWRU literature (SNR = 10 log10(P_signal / P_noise)).
    """
    power = x.pow(2).mean(dim=-1, keepdim=True)
    snr = torch.as_tensor(snr_db, dtype=x.dtype, device=x.device)
    if snr.dim() == 1:
        snr = snr[:, None]
    noise_power = power / torch.pow(10.0, snr / 10.0)
    noise = torch.randn(x.shape, generator=generator, dtype=x.dtype, device="cpu" if generator else x.device)
    return x + noise.to(x.device) * noise_power.sqrt()


def fft_spectrum(x: torch.Tensor) -> torch.Tensor:
    """Log-magnitude one-sided spectrum of (B, L) windows -> (B, L // 2 + 1).

    The log compresses the few dominant resonance peaks so that the weaker fault
    harmonics still reach the network; a Hann window limits leakage.
    """
    window = torch.hann_window(x.shape[-1], device=x.device, dtype=x.dtype)
    mag = torch.fft.rfft(x * window, dim=-1).abs() / math.sqrt(x.shape[-1])
    return torch.log1p(mag)


def stft_image(x: torch.Tensor, n_fft: int = 126, hop: int = 8, size: tuple[int, int] = (64, 64)) -> torch.Tensor:
    """Log-magnitude STFT of (B, L) windows, resized to (B, 1, H, W)."""
    window = torch.hann_window(n_fft, device=x.device, dtype=x.dtype)
    spec = torch.stft(x, n_fft=n_fft, hop_length=hop, window=window, center=True, return_complex=True).abs()
    image = torch.log1p(spec)[:, None]
    if tuple(image.shape[-2:]) != tuple(size):
        image = F.interpolate(image, size=size, mode="bilinear", align_corners=False)
    return image


def cwt_kernels(scales: np.ndarray, wavelet: str = "morl", precision: int = 12) -> tuple[np.ndarray, np.ndarray]:
    """Per-scale kernels reproducing ``pywt.cwt`` (method 'conv') as full convolutions.

    pywt computes ``-sqrt(a) * diff(convolve(x, int_psi_a))`` with ``int_psi_a`` the
    integrated wavelet resampled at scale ``a``; the difference of a convolution is
    the convolution with the differenced kernel, which is what is returned here,
    zero-padded to a common length. Returns (kernels (S, K), start offsets (S,)).
    """
    wav = pywt.ContinuousWavelet(wavelet) if wavelet in pywt.wavelist(kind="continuous") else pywt.Wavelet(wavelet)
    int_psi, grid = pywt.integrate_wavelet(wav, precision=precision)
    int_psi = np.real(int_psi)
    step = grid[1] - grid[0]
    kernels, trims = [], []
    for scale in scales:
        j = np.arange(scale * (grid[-1] - grid[0]) + 1) / (scale * step)
        j = j.astype(int)
        j = j[j < int_psi.size]
        k = int_psi[j][::-1]
        diffed = np.concatenate([k, [0.0]]) - np.concatenate([[0.0], k])
        kernels.append(-np.sqrt(scale) * diffed)
        # pywt keeps diff(conv)[floor(d) : -ceil(d)] with d = (len(k) - 1 - 1) / 2 over
        # a full convolution of length n + len(k) - 1; diff drops the first sample.
        trims.append(1 + int(np.floor((k.size - 2) / 2)))
    width = max(len(k) for k in kernels)
    out = np.zeros((len(kernels), width))
    for i, k in enumerate(kernels):
        out[i, : len(k)] = k
    return out, np.asarray(trims)


class CWT(nn.Module):
    """Continuous wavelet transform magnitude image of (B, L) windows -> (B, 1, H, W).

    ``scales`` default to a geometric ladder over 2..32 samples: with the Morlet
    centre frequency 0.81 that is ~300 Hz - 4.9 kHz at 12 kHz, the band of the
    bearing resonances that fault impacts excite. Kernels grow with the scale
    (16 x scale taps), so the ladder stops where the cost still suits a CPU.
    """

    def __init__(self, n_scales: int = 32, min_scale: float = 2.0, max_scale: float = 32.0,
                 wavelet: str = "morl", size: tuple[int, int] = (64, 64)) -> None:
        super().__init__()
        self.scales = np.geomspace(min_scale, max_scale, n_scales)
        kernels, trims = cwt_kernels(self.scales, wavelet)
        # conv1d is a correlation: flip the kernels to get a convolution.
        self.register_buffer("kernels", torch.from_numpy(kernels[:, ::-1].copy()).float()[:, None], persistent=False)
        self.trims = [int(t) for t in trims]
        self.size = size

    def coefficients(self, x: torch.Tensor) -> torch.Tensor:
        """(B, L) -> (B, S, L) CWT coefficients equal to ``pywt.cwt(x, scales)``."""
        width = self.kernels.shape[-1]
        full = F.conv1d(F.pad(x[:, None], (width - 1, width - 1)), self.kernels.to(x.dtype))  # (B, S, L + W - 1)
        n = x.shape[-1]
        rows = [full[:, i, t: t + n] for i, t in enumerate(self.trims)]
        return torch.stack(rows, dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        image = torch.log1p(self.coefficients(x).abs())[:, None]
        return F.interpolate(image, size=self.size, mode="bilinear", align_corners=False)
