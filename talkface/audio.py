"""Speech as every model hears it, and the frame rate every model works at: defined here only.

SAMPLE_RATE: pocketsphinx's acoustic model, the log-mels, the prepared audio and every model input are
16 kHz mono float32 (`to_mono_16k`). FPS: GRID's video rate, the rate the models are trained at and the
rate talkface makes its videos at (another rate is resampled in time).
"""

from __future__ import annotations

from math import gcd

import numpy as np

from talkface.errors import MediaError

SAMPLE_RATE = 16000
FPS = 25.0


def as_mono(wave: np.ndarray) -> np.ndarray:
    """Float32 (N,) from a (N,) or (N, channels) / (channels, N) waveform."""
    wave = np.asarray(wave, dtype=np.float32)
    if wave.ndim == 2:
        # Channels may be either axis; the longer one is time.
        wave = wave.mean(axis=1 if wave.shape[0] >= wave.shape[1] else 0)
    if wave.ndim != 1:
        raise MediaError(f"audio: expected a mono or stereo waveform, got shape {wave.shape}")
    if not np.all(np.isfinite(wave)):
        raise MediaError("audio: waveform contains NaN or infinite samples")
    return wave


def to_mono_16k(wave: np.ndarray, sample_rate: int) -> np.ndarray:
    """Float32 mono at 16 kHz from mono or stereo input at any integer rate."""
    wave = as_mono(wave)
    if sample_rate <= 0:
        raise MediaError(f"audio: invalid sample rate {sample_rate}")
    sample_rate = int(round(sample_rate))
    if sample_rate != SAMPLE_RATE:
        from scipy.signal import resample_poly  # ~0.5 s to import: only when a resample is needed

        g = gcd(sample_rate, SAMPLE_RATE)
        wave = resample_poly(wave, SAMPLE_RATE // g, sample_rate // g).astype(np.float32)
    return wave
