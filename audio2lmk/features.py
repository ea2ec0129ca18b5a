"""Audio input of the learned audio2lmk models: 16 kHz mono log-mels per 25 fps video frame,
an utterance loudness level, and a per-frame silence gate.

Loudness: the models see log-mels shifted by the utterance's speech level (a high percentile
of per-10 ms energy) relative to the training median, so a quiet or loud recording of the same
speech looks the same. The shift is clamped: a silent recording is not amplified into speech.
"""

from __future__ import annotations

import numpy as np

from talkface.audio import FPS, SAMPLE_RATE
from talkface.audio_features import LOG_FLOOR, mel_per_video_frame

MELS_PER_FRAME = 4
LEVEL_PERCENTILE = 95.0
SILENCE_DBFS = -60.0  # 40 ms RMS below this is silence whatever the model says
SILENCE_RAMP_DB = 10.0  # the gate opens linearly over this range above SILENCE_DBFS


def frames_for(wave16k: np.ndarray) -> int:
    """Number of 25 fps frames the models predict for a 16 kHz waveform (at least 1)."""
    return max(1, int(round(len(wave16k) / SAMPLE_RATE * FPS)))


def model_mel(wave16k: np.ndarray, n_frames: int) -> np.ndarray:
    """(n_frames, 4, 80) float32 log-mel, the features the models were trained on."""
    if len(wave16k) == 0:
        return np.full((n_frames, MELS_PER_FRAME, 80), np.log(LOG_FLOOR), np.float32)
    return mel_per_video_frame(wave16k, SAMPLE_RATE, n_frames, FPS)


def mel_energy(mel: np.ndarray) -> np.ndarray:
    """(..., 80) log-mel -> (...) log of the mean mel power of each 10 ms frame."""
    mel = np.asarray(mel, np.float64)
    top = mel.max(axis=-1, keepdims=True)
    return (top[..., 0] + np.log(np.exp(mel - top).mean(axis=-1))).astype(np.float32)


def utterance_level(mel: np.ndarray) -> float:
    """Speech level of a (T, 4, 80) log-mel: a high percentile of its 10 ms energies."""
    return float(np.percentile(mel_energy(mel).ravel(), LEVEL_PERCENTILE))


def silence_gate(wave16k: np.ndarray, n_frames: int) -> np.ndarray:
    """(n_frames,) in [0, 1]: 0 where the 40 ms around a frame is digitally quiet (< SILENCE_DBFS).

    Smoothed over 3 frames so that a gate edge never makes the mouth jump.
    """
    hop = int(SAMPLE_RATE / FPS)
    padded = np.zeros(n_frames * hop, np.float64)
    n = min(len(wave16k), len(padded))
    padded[:n] = wave16k[:n]
    rms_db = 10 * np.log10((padded.reshape(n_frames, hop) ** 2).mean(axis=1) + 1e-12)
    gate = np.clip((rms_db - SILENCE_DBFS) / SILENCE_RAMP_DB, 0.0, 1.0)
    return moving_average(gate, 3).astype(np.float32)


def moving_average(x: np.ndarray, size: int) -> np.ndarray:
    """(T,) float64: the mean of the `size` (odd) values centred on each, the ends held (scipy.ndimage's
    uniform_filter1d in mode "nearest", without importing scipy.ndimage: ~0.3 s of CPU at every synth's start)."""
    if size % 2 == 0:
        raise ValueError(f"moving_average: size must be odd, got {size}")
    x = np.asarray(x, np.float64)
    padded = np.pad(x, size // 2, mode="edge") if len(x) else x
    sums = np.concatenate([[0.0], np.cumsum(padded)])
    return (sums[size:] - sums[:-size]) / size
