"""Landmark metrics: LMD, CED curve / AUC / failure rate, and mouth-opening correlation.

Errors are normalised by the *real* frame's interocular distance (eye-centre to eye-centre), per
frame, so they are comparable across crop sizes and head sizes.
Frames whose predicted landmarks are NaN (the detector found no face in a generated frame) are
left out of LMD and the correlation, and count as failures in the CED, its AUC and the failure rate.
"""

from __future__ import annotations

import numpy as np

from talkface.landmarks.indices import MOUTH, interocular, mouth_opening

FAILURE_THRESHOLD = 0.1  # normalised error at which a frame counts as a failure (seed paper)


def _pair(pred: np.ndarray, real: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pred = np.asarray(pred, dtype=np.float64)
    real = np.asarray(real, dtype=np.float64)
    if pred.shape != real.shape or pred.shape[-2:] != (68, 2):
        raise ValueError(f"expected matching (T, 68, 2) landmarks, got {pred.shape} and {real.shape}")
    return pred.reshape(-1, 68, 2), real.reshape(-1, 68, 2)


def normalised_errors(pred: np.ndarray, real: np.ndarray, points=None) -> np.ndarray:
    """Per-frame mean point-to-point distance over ``points`` (default all 68) / real interocular -> (T,)."""
    pred, real = _pair(pred, real)
    idx = list(range(68)) if points is None else list(points)
    dist = np.linalg.norm(pred[:, idx] - real[:, idx], axis=-1).mean(axis=1)
    return dist / interocular(real)


def lmd(pred: np.ndarray, real: np.ndarray, points=None) -> float:
    """Landmark distance: mean over frames of normalised_errors (NaN frames left out; NaN if none left)."""
    errors = normalised_errors(pred, real, points)
    return float(np.nanmean(errors)) if np.isfinite(errors).any() else float("nan")


def ced(errors: np.ndarray, max_error: float = FAILURE_THRESHOLD, n: int = 101) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative error distribution: n thresholds in [0, max_error] and the fraction of errors <= each."""
    errors = np.asarray(errors, dtype=np.float64).ravel()
    thresholds = np.linspace(0.0, max_error, n)
    return thresholds, (errors[:, None] <= thresholds).mean(axis=0)  # NaN <= t is False: a failure


def ced_auc(errors: np.ndarray, threshold: float = FAILURE_THRESHOLD) -> float:
    """Area under the CED curve on [0, threshold], divided by threshold so it lies in [0, 1].

    Computed exactly rather than by sampling the curve: frame i adds 1[e_i <= t] for every t, so
    its share of the integral is max(0, threshold - e_i), i.e. AUC = mean(clip(1 - e/threshold, 0, 1)).
    """
    errors = np.nan_to_num(np.asarray(errors, dtype=np.float64).ravel(), nan=np.inf)
    return float(np.clip(1.0 - errors / threshold, 0.0, 1.0).mean())


def failure_rate(errors: np.ndarray, threshold: float = FAILURE_THRESHOLD) -> float:
    """Fraction of frames whose normalised error exceeds threshold (NaN counts as a failure)."""
    errors = np.asarray(errors, dtype=np.float64).ravel()
    return float(np.mean(~(errors <= threshold)))


def mouth_opening_correlation(pred: np.ndarray, real: np.ndarray) -> float:
    """Pearson correlation over time of the mouth opening (inner-lip gap / interocular).

    Returns 0.0 when either series is constant (or fewer than 2 usable frames): correlation is
    undefined there, and a mouth that never moves has no temporal agreement to reward.
    """
    pred, real = _pair(pred, real)
    a, b = mouth_opening(pred), mouth_opening(real)
    keep = np.isfinite(a) & np.isfinite(b)
    a, b = a[keep], b[keep]
    if len(a) < 2 or np.ptp(a) < 1e-9 or np.ptp(b) < 1e-9:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


def landmark_scores(pred: np.ndarray, real: np.ndarray) -> dict[str, float]:
    """All landmark numbers of the evaluation protocol for one clip."""
    errors = normalised_errors(pred, real)
    return {
        "lmd": lmd(pred, real),
        "mouth_lmd": lmd(pred, real, MOUTH),
        "ced_auc": ced_auc(errors),
        "failure_rate": failure_rate(errors),
        "mouth_opening_corr": mouth_opening_correlation(pred, real),
    }
