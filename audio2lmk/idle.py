"""Motion a talking face makes besides speech: eye blinks and gentle head movement (seeded)."""

from __future__ import annotations

import numpy as np

from talkface.landmarks.indices import eye_centres

# Upper-lid point -> the lower-lid point below it (iBUG-68: right eye 36..41, left eye 42..47).
EYELID_PAIRS = ((37, 41), (38, 40), (43, 47), (44, 46))
UPPER_LID_SHARE = 0.8  # in a blink the upper lid does most of the travel


def blink_curve(n_frames: int, fps: float, rng: np.random.Generator,
                interval_s: tuple[float, float] = (2.0, 6.0),
                duration_s: tuple[float, float] = (0.15, 0.25)) -> np.ndarray:
    """(T,) eyelid closure in [0, 1]: blinks every 2-6 s, 150-250 ms each, closing faster
    than they reopen."""
    closure = np.zeros(n_frames)
    times = np.arange(n_frames) / fps
    t = rng.uniform(0.5, interval_s[1] / 2)  # first blink comes early, not after a full interval
    while t < n_frames / fps:
        duration = rng.uniform(*duration_s)
        close = 0.4 * duration  # closing phase; reopening takes the rest
        phase = times - t
        up = (phase >= 0) & (phase < close)
        down = (phase >= close) & (phase < duration)
        closure[up] = np.maximum(closure[up], 0.5 - 0.5 * np.cos(np.pi * phase[up] / close))
        closure[down] = np.maximum(
            closure[down], 0.5 + 0.5 * np.cos(np.pi * (phase[down] - close) / (duration - close)))
        t += duration + rng.uniform(*interval_s)
    return closure


def apply_blinks(track: np.ndarray, closure: np.ndarray) -> np.ndarray:
    """Close the eyelids of a (T, 68, 2) track by `closure` (T,) in place; returns the track."""
    for upper, lower in EYELID_PAIRS:
        gap = track[:, lower] - track[:, upper]
        track[:, upper] += (UPPER_LID_SHARE * closure)[:, None] * gap
        track[:, lower] -= ((1.0 - UPPER_LID_SHARE) * closure)[:, None] * gap
    return track


def _smooth_noise(n_frames: int, fps: float, rng: np.random.Generator,
                  freq_hz: tuple[float, float] = (0.08, 0.5), n_waves: int = 3) -> np.ndarray:
    """(T,) low-frequency wandering in [-1, 1]: a few sinusoids with random rates and phases."""
    times = np.arange(n_frames) / fps
    freqs = rng.uniform(*freq_hz, n_waves)
    phases = rng.uniform(0, 2 * np.pi, n_waves)
    amps = rng.uniform(0.5, 1.0, n_waves)
    return (amps[:, None] * np.sin(2 * np.pi * freqs[:, None] * times + phases[:, None])).sum(0) / amps.sum()


def apply_head_motion(track: np.ndarray, fps: float, rng: np.random.Generator,
                      roll_deg: float = 1.5, shift: float = 0.03, zoom: float = 0.01) -> np.ndarray:
    """Rotate/shift/scale each frame of a (T, 68, 2) track about the eye midpoint by a smooth,
    small amount (roll in degrees, shift as a fraction of the interocular distance, zoom as a
    relative scale change). Returns a new array."""
    n = len(track)
    eyes = eye_centres(track[0])
    centre = eyes.mean(axis=0)
    iod = float(np.linalg.norm(eyes[1] - eyes[0]))
    angle = np.deg2rad(roll_deg) * _smooth_noise(n, fps, rng)
    scale = 1.0 + zoom * _smooth_noise(n, fps, rng)
    offset = shift * iod * np.stack([_smooth_noise(n, fps, rng), _smooth_noise(n, fps, rng)], axis=1)
    cos, sin = scale * np.cos(angle), scale * np.sin(angle)
    rel = track - centre
    x = cos[:, None] * rel[..., 0] - sin[:, None] * rel[..., 1]
    y = sin[:, None] * rel[..., 0] + cos[:, None] * rel[..., 1]
    return np.stack([x, y], axis=-1) + centre + offset[:, None, :]
