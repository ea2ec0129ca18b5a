"""Timed phones -> per-frame mouth displacement, blending visemes by dominance.

In the spirit of Cohen & Massaro (1993): every phone pulls the mouth towards its viseme's
shape with a dominance function that is flat over the core of the phone and decays smoothly
into its neighbours; the shape at time t is the dominance-weighted mean of the targets.
Strong, narrow dominance for bilabials and labiodentals (the lips must close or touch the
teeth whatever surrounds them); weak, wide dominance for velars and alveolars, whose lip shape
is mostly borrowed from the neighbouring vowels.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from audio2lmk.phonemes import Phone
from audio2lmk.visemes import SILENCE, VisemeTable

# viseme -> (dominance strength, decay time constant in seconds)
DOMINANCE: dict[str, tuple[float, float]] = {
    SILENCE: (1.0, 0.06),
    "bilabial": (6.0, 0.035),
    "labiodental": (4.0, 0.04),
    "dental": (1.0, 0.05),
    "alveolar": (0.5, 0.05),
    "postalveolar": (2.0, 0.06),
    "velar": (0.4, 0.05),
    "open": (1.5, 0.07),
    "mid": (1.2, 0.07),
    "rounded": (2.0, 0.08),
    "spread": (1.2, 0.07),
    "r": (1.5, 0.06),
}
CORE_FRACTION = 0.5  # dominance is flat over this central fraction of a phone's duration
REST_DOMINANCE = 1e-3  # a weak pull to rest where no phone reaches (before/after audio)


def dominance(times: np.ndarray, phone: Phone, strength: float, tau: float) -> np.ndarray:
    centre = 0.5 * (phone.start + phone.end)
    core = 0.5 * CORE_FRACTION * (phone.end - phone.start)
    distance = np.maximum(np.abs(times - centre) - core, 0.0)
    return strength * np.exp(-((distance / tau) ** 2))


def viseme_weights(phones: Sequence[Phone], times: np.ndarray, table: VisemeTable) -> np.ndarray:
    """(T, V) normalised blending weights of the table's visemes at the given times (seconds).
    Rows sum to 1 - a tiny rest share where no phone is near."""
    weights = np.zeros((len(times), len(table.visemes)), np.float64)
    for p in phones:
        name = table.phone_to_viseme.get(p.phone, SILENCE)
        strength, tau = DOMINANCE[name]
        weights[:, table.index(name)] += dominance(times, p, strength, tau)
    return weights / (weights.sum(axis=1, keepdims=True) + REST_DOMINANCE)


def mouth_displacement(phones: Sequence[Phone], times: np.ndarray, table: VisemeTable) -> np.ndarray:
    """(T, 27, 2) displacement of the motion points from the rest mouth, normalised frame."""
    weights = viseme_weights(phones, times, table)
    return np.einsum("tv,vpc->tpc", weights, table.displacement.astype(np.float64))
