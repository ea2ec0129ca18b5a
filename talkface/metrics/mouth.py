"""Mouth-motion measures against a real video or a speech signal (DESIGN.md, "Mouth motion against a
real video"): the inner-lip opening per frame (talkface.landmarks.indices.mouth_opening, interocular
units), its Pearson correlation and amplitude ratio std(generated) / std(real), how far the lips are
parted in silence, and an energy envelope / voice-activity mask of the speech at video frame rate.

The envelope here is deliberately simple (RMS in dB per frame) and independent of any audio2lmk
model's input features, so no model is scored against its own front end.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import binary_erosion

from talkface.landmarks.indices import mouth_opening

CLOSED_PERCENTILE = 5.0  # a clip's "closed" level: this percentile of its opening
VAD_RANGE_DB = 30.0  # speech: within this many dB of loud speech ...
VAD_FLOOR_FRACTION = 0.35  # ... and this far from the noise floor up to loud speech


def opening(landmarks: np.ndarray) -> np.ndarray:
    """(T, 68, 2) -> (T,) inner-lip opening / interocular (NaN where the landmarks are NaN)."""
    return np.asarray(mouth_opening(np.asarray(landmarks, np.float64)), np.float64)


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation over frames where both are finite; 0.0 when either is constant (a still
    mouth has no temporal agreement to reward) or fewer than 3 frames are usable."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    keep = np.isfinite(a) & np.isfinite(b)
    a, b = a[keep], b[keep]
    if len(a) < 3 or np.ptp(a) < 1e-9 or np.ptp(b) < 1e-9:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


def amplitude_ratio(generated: np.ndarray, real: np.ndarray) -> float:
    """std(generated) / std(real) over frames where both are finite (NaN if the real one is constant)."""
    g, r = np.asarray(generated, np.float64), np.asarray(real, np.float64)
    keep = np.isfinite(g) & np.isfinite(r)
    real_std = float(np.std(r[keep])) if keep.sum() > 1 else 0.0
    return float(np.std(g[keep]) / real_std) if real_std > 1e-9 else float("nan")


def excess_opening(series: np.ndarray, mask: np.ndarray) -> float:
    """Mean opening over the frames of `mask` above the series' own closed level (its 5th
    percentile): ~0 when the lips rest closed there. NaN when the mask is empty."""
    series = np.asarray(series, np.float64)
    mask = np.asarray(mask, bool) & np.isfinite(series)
    if not mask.any():
        return float("nan")
    closed = np.nanpercentile(series, CLOSED_PERCENTILE)
    return float(np.mean(series[mask] - closed))


def resample_series(series: np.ndarray, src_fps: float, dst_fps: float, n_out: int) -> np.ndarray:
    """(T,) sampled at src_fps -> (n_out,) at dst_fps, linear in time, held at the ends; NaNs are
    bridged from their finite neighbours (all NaN -> all NaN)."""
    series = np.asarray(series, np.float64)
    t_src = np.arange(len(series)) / src_fps
    keep = np.isfinite(series)
    if not keep.any():
        return np.full(n_out, np.nan)
    return np.interp(np.arange(n_out) / dst_fps, t_src[keep], series[keep])


def frame_level_db(wave: np.ndarray, sample_rate: int, n_frames: int, fps: float) -> np.ndarray:
    """(n_frames,) RMS level in dBFS of the audio within each video frame's period."""
    wave = np.asarray(wave, np.float64)
    edges = np.round(np.arange(n_frames + 1) * sample_rate / fps).astype(int)
    c = np.concatenate([[0.0], np.cumsum(wave ** 2)])
    lo, hi = np.clip(edges[:-1], 0, len(wave)), np.clip(edges[1:], 0, len(wave))
    energy = np.where(hi > lo, (c[hi] - c[lo]) / np.maximum(hi - lo, 1), 0.0)
    return 10.0 * np.log10(energy + 1e-12)


def speech_envelope(wave: np.ndarray, sample_rate: int, n_frames: int, fps: float) -> np.ndarray:
    """(n_frames,) loudness in dB above the recording's noise floor (10th percentile), clipped at 0."""
    level = frame_level_db(wave, sample_rate, n_frames, fps)
    return np.maximum(level - np.percentile(level, 10), 0.0)


def voice_activity(wave: np.ndarray, sample_rate: int, n_frames: int, fps: float) -> np.ndarray:
    """(n_frames,) bool, energy-based: frames loud relative to this recording's noise floor and to its
    loud speech (95th percentile). Digital silence is never speech."""
    level = frame_level_db(wave, sample_rate, n_frames, fps)
    if level.max() < -70.0:
        return np.zeros(n_frames, bool)
    ref, floor = np.percentile(level, 95), np.percentile(level, 10)
    threshold = max(floor + VAD_FLOOR_FRACTION * (ref - floor), ref - VAD_RANGE_DB)
    return level > threshold


def silence_mask(speech: np.ndarray, fps: float, margin_s: float = 0.2) -> np.ndarray:
    """Frames at least `margin_s` away from any speech frame (lips may part just before and after a word)."""
    silent = ~np.asarray(speech, bool)
    margin = int(round(margin_s * fps))
    if margin == 0 or not silent.any():
        return silent
    padded = np.pad(silent, margin, constant_values=True)  # the clip's ends count as silence
    return binary_erosion(padded, np.ones(2 * margin + 1, bool))[margin:-margin]
