"""Amplitude calibration of the learned nets' mouth motion: real amplitude, not the average mouth.

A net trained with a regression loss predicts the expected mouth, which opens less than any real
one, and less still on a voice it is unsure about. Two corrections, in this order. First the net's
regression to the mean measured on its own held-out clips (`fit_shrink`: the real opening's spread
over the predicted one on clips it was not trained on, sidecar `motion_gain`): one scale for every
utterance, so a voice the net opens wider stays wider. Then, per utterance, the predicted inner-lip
opening's spread over the frames with speech is brought up to the spread of real speakers' openings
measured on the training clips (`opening_std`, stored in the checkpoint's sidecar under "calibration"). The
motion is only ever scaled up, by at most MAX_GAIN, and never where there is too little speech to
measure (a cough, a pause): silence stays closed and still whatever the scale.

The same regression also smooths the motion in time, and the lipreader reads the fast detail (docs/results.md):
`sharpen` (sidecar `sharpen`) puts some of it back with an unsharp mask in time.
"""

from __future__ import annotations

import numpy as np

from audio2lmk.inputs import envelope
from audio2lmk.pca import inner_gap

ACTIVE_LEVEL = 0.5  # envelope (audio2lmk.inputs) above which a frame counts as speech: ~20 dB under loud speech
MIN_ACTIVE_FRAMES = 12  # about half a second of speech before the spread is trusted
MAX_GAIN = 2.0
SHARPEN_SIGMA = 1.0  # frames: the unsharp mask's blur


def active_frames(mel: np.ndarray, gate: np.ndarray | None = None) -> np.ndarray:
    """(T,) bool: frames with speech, from a (T, 4, 80) log-mel and an optional silence gate."""
    active = envelope(mel).mean(axis=(1, 2)) > ACTIVE_LEVEL
    return active if gate is None else active & (np.asarray(gate) > 0.5)


def opening_spread(motion: np.ndarray, active: np.ndarray) -> float | None:
    """Std of the inner-lip gap over the active frames; None with too few of them."""
    if int(np.sum(active)) < MIN_ACTIVE_FRAMES:
        return None
    return float(inner_gap(motion)[np.asarray(active, bool)].std())


def amplitude_gain(motion: np.ndarray, active: np.ndarray, target: float | None) -> float:
    """The scale in [1, MAX_GAIN] bringing the predicted spread to `target` (1 without a target)."""
    spread = opening_spread(motion, active)
    if not target or spread is None:
        return 1.0
    return float(np.clip(target / max(spread, 1e-6), 1.0, MAX_GAIN))


def fit_target(clips: list[tuple[np.ndarray, np.ndarray]]) -> float:
    """Mean over (log-mel, real motion) training clips of the real opening's spread over speech frames."""
    spreads = [s for mel, motion in clips if (s := opening_spread(motion, active_frames(mel))) is not None]
    if not spreads:
        raise ValueError("no clip has enough speech to measure the opening's spread")
    return float(np.mean(spreads))


def fit_shrink(clips: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> float:
    """Held-out (predicted motion, real motion, active frames) clips -> mean real spread / mean predicted spread
    over the clips where both can be measured: how much the net shrinks speech it was not trained on (1: not at
    all). The net's motion is the uncalibrated one (no motion_gain, no opening_std)."""
    pairs = [(p, r) for pred, real, active in clips
             if (p := opening_spread(pred, active)) is not None and (r := opening_spread(real, active)) is not None]
    if not pairs:
        raise ValueError("no held-out clip has enough speech to measure the opening's spread")
    predicted, real = np.mean(pairs, axis=0)
    return float(real / max(predicted, 1e-6))


def sharpen(motion: np.ndarray, amount: float, sigma: float = SHARPEN_SIGMA) -> np.ndarray:
    """(T, ...) motion + amount * (motion - its Gaussian blur in time): the fast detail scaled by 1 + amount."""
    if not amount:
        return motion
    from scipy.ndimage import gaussian_filter1d  # ~0.3 s to import: only for nets calibrated with a sharpen

    blurred = gaussian_filter1d(motion, sigma, axis=0, mode="nearest")
    return (motion + amount * (motion - blurred)).astype(motion.dtype)
