"""Log-mel features aligned to video frames (hop 10 ms -> 4 mel frames per 25 fps video frame).

Plain numpy (matching librosa's melspectrogram with a periodic Hann window and Slaney mels):
importing librosa and JIT-compiling its feature path costs seconds per process, which dominated
data preparation with worker processes.
"""

from __future__ import annotations

import functools

import numpy as np

from talkface.audio import FPS, SAMPLE_RATE

N_MELS = 80
HOP_SECONDS = 0.010
WIN_SECONDS = 0.025
LOG_FLOOR = 1e-5
# uint8 storage of log-mels (prepared data): this range covers LOG_FLOOR up to loud speech
QUANT_MIN, QUANT_MAX = float(np.log(LOG_FLOOR)), 5.0


@functools.lru_cache(maxsize=8)
def _analysis(sample_rate: int) -> tuple[int, int, np.ndarray, np.ndarray]:
    hop = int(round(HOP_SECONDS * sample_rate))
    win = int(round(WIN_SECONDS * sample_rate))
    n_fft = 1 << (win - 1).bit_length()
    window = np.zeros(n_fft, np.float32)
    offset = (n_fft - win) // 2
    window[offset:offset + win] = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(win) / win)  # periodic Hann
    return hop, n_fft, window, _slaney_filterbank(sample_rate, n_fft, 55.0, sample_rate / 2)


def _hz_to_mel(f):
    f = np.asarray(f, dtype=np.float64)
    linear = f / (200.0 / 3)
    return np.where(f >= 1000.0, 15.0 + np.log(np.maximum(f, 1e-9) / 1000.0) / (np.log(6.4) / 27.0), linear)


def _mel_to_hz(m):
    m = np.asarray(m, dtype=np.float64)
    return np.where(m >= 15.0, 1000.0 * np.exp((np.log(6.4) / 27.0) * (m - 15.0)), m * (200.0 / 3))


def _slaney_filterbank(sample_rate: int, n_fft: int, fmin: float, fmax: float) -> np.ndarray:
    """(N_MELS, n_fft//2+1) triangular filters, area-normalised (librosa's default mel basis)."""
    fft_freqs = np.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    mel_freqs = _mel_to_hz(np.linspace(_hz_to_mel(fmin), _hz_to_mel(fmax), N_MELS + 2))
    widths = np.diff(mel_freqs)
    ramps = mel_freqs[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_freqs[2:] - mel_freqs[:-2]))[:, None]
    return weights.astype(np.float32)


def log_mel(wave: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """(N, 80) float32 natural-log mel energies, one row per 10 ms (frames centred on k * hop)."""
    hop, n_fft, window, filters = _analysis(sample_rate)
    wave = np.asarray(wave, dtype=np.float32)
    padded = np.pad(wave, n_fft // 2)
    n = 1 + (len(padded) - n_fft) // hop
    frames = np.lib.stride_tricks.as_strided(
        padded, (n, n_fft), (padded.strides[0] * hop, padded.strides[0]), writeable=False)
    power = np.abs(np.fft.rfft(frames * window, axis=1)) ** 2
    return np.log(np.maximum(power @ filters.T, LOG_FLOOR)).astype(np.float32)


def mel_per_video_frame(wave: np.ndarray, sample_rate: int, n_frames: int, fps: float = FPS) -> np.ndarray:
    """(n_frames, k, 80) with k = mel frames per video frame (4 at 25 fps); padded at the end by edge values."""
    per_frame = int(round(1.0 / (fps * HOP_SECONDS)))
    mel = log_mel(wave, sample_rate)
    need = n_frames * per_frame
    if len(mel) < need:
        mel = np.concatenate([mel, np.repeat(mel[-1:], need - len(mel), axis=0)])
    return mel[:need].reshape(n_frames, per_frame, N_MELS)


def quantise_mel(mel: np.ndarray) -> np.ndarray:
    """uint8 log-mel (steps of ~0.07 nats, ~0.3 dB) for compact storage."""
    scaled = (np.asarray(mel) - QUANT_MIN) / (QUANT_MAX - QUANT_MIN) * 255.0
    return np.clip(np.round(scaled), 0, 255).astype(np.uint8)


def dequantise_mel(mel_u8: np.ndarray) -> np.ndarray:
    return (mel_u8.astype(np.float32) / 255.0 * (QUANT_MAX - QUANT_MIN) + QUANT_MIN).astype(np.float32)
