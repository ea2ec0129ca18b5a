"""Action units (GANimation): continuous, combinable displacements of the 68 landmarks, one per unit, in
talkface's normalised face frame.

Each unit's displacement at full intensity (1.0) comes from talkface/expression/data/action_units.json, written
by scripts/expression_units.py (its provenance is in the file): derived from RaFD's class-mean displacements on
the training people, each unit confined to the points its muscle moves, so that an expression's EMFACS units
sum to its mean displacement. Units the RaFD expressions do not pin down are geometric: AU25 (lips part) opens
the inner lips, AU43 (eyes closed) brings the upper lids down to the lower ones of the person's own neutral shape.
"""
from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np

from talkface.errors import TalkfaceError
from talkface.landmarks.normalize import MEAN_SHAPE

TABLE = Path(__file__).parent / "data" / "action_units.json"

ACTION_UNITS: tuple[int, ...] = (1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 16, 17, 20, 23, 25, 26, 43)
UNIT_NAMES: dict[int, str] = {
    1: "inner brow raiser", 2: "outer brow raiser", 4: "brow lowerer", 5: "upper lid raiser", 6: "cheek raiser",
    7: "lid tightener", 9: "nose wrinkler", 10: "upper lip raiser", 12: "lip corner puller", 14: "dimpler",
    15: "lip corner depressor", 16: "lower lip depressor", 17: "chin raiser", 20: "lip stretcher", 23: "lip tightener", 25: "lips part",
    26: "jaw drop", 43: "eyes closed"}

# Expressions as sets of units: EMFACS prototypes, in the variants RaFD's posed faces show (sad with the chin
# raiser 17, disgust with the lower lip depressor 16 as its mouth opens; contempt's unilateral R12A+R14A as a
# trace of 12 and 14: RaFD's contempt is one-sided to either side, so its mean is near symmetric). The weights
# are EMFACS's intensity letters made numbers: fitted to RaFD's class means on the training people, in [0.2, 1],
# by `scripts/expression_units.py --fit-weights` and rounded (e.g. fear opens the jaw a third as far as surprise).
EMFACS: dict[str, dict[int, float]] = {
    "happy": {6: 1.0, 12: 1.0},
    "sad": {1: 0.55, 4: 0.5, 15: 1.0, 17: 1.0},
    "surprised": {1: 1.0, 2: 1.0, 5: 0.65, 26: 1.0},
    "angry": {4: 1.0, 5: 0.2, 7: 1.0, 23: 1.0},
    "disgusted": {9: 1.0, 10: 1.0, 15: 0.55, 16: 1.0},
    "fearful": {1: 0.9, 2: 0.9, 4: 0.35, 5: 1.0, 7: 0.2, 20: 1.0, 26: 0.35},
    "contemptuous": {12: 0.2, 14: 1.0},
}

# AU43: upper lid points and the lower lid points facing them; the lids meet at CLOSE_AT of the way down.
UPPER_LIDS, LOWER_LIDS = (37, 38, 43, 44), (41, 40, 47, 46)
CLOSE_AT = 0.8
# AU25: how far the inner lips part at full intensity (normalised frame: interocular distance 1).
LIPS_PART_UP, LIPS_PART_DOWN = 0.03, 0.09
UPPER_INNER, LOWER_INNER, LOWER_OUTER = (61, 62, 63), (65, 66, 67), (56, 57, 58)


@functools.lru_cache(maxsize=1)
def unit_table() -> dict[int, np.ndarray]:
    """{unit: (68, 2) displacement at intensity 1} of the table units (not the geometric 25 and 43)."""
    data = json.loads(TABLE.read_text())
    return {int(k): np.asarray(v["displacement"], np.float32) for k, v in data["units"].items()}


def eyes_closed(neutral_norm: np.ndarray) -> np.ndarray:
    """AU43 at intensity 1: each upper lid point moves CLOSE_AT of the way to the lower lid point facing it,
    that lower point the rest of the way up, so the lids meet."""
    d = np.zeros((68, 2), np.float32)
    up, low = list(UPPER_LIDS), list(LOWER_LIDS)
    gap = neutral_norm[low] - neutral_norm[up]
    d[up] = CLOSE_AT * gap
    d[low] = -(1 - CLOSE_AT) * gap
    return d


def lips_part() -> np.ndarray:
    """AU25 at intensity 1: the upper inner lip up, the lower lip (inner and outer) down."""
    d = np.zeros((68, 2), np.float32)
    d[list(UPPER_INNER), 1] = -LIPS_PART_UP
    d[list(LOWER_INNER), 1] = LIPS_PART_DOWN
    d[list(LOWER_OUTER), 1] = LIPS_PART_DOWN
    return d


def check_units(units: dict[int, float]) -> dict[int, float]:
    """The units as {int: float}; one-line errors for an unknown unit or an intensity outside 0..1."""
    out = {}
    for unit, value in units.items():
        try:
            key = int(unit)
        except (TypeError, ValueError):
            key = None
        if key not in ACTION_UNITS:
            raise TalkfaceError(f"unknown action unit {unit!r} (allowed: {', '.join(map(str, ACTION_UNITS))})")
        value = float(value)
        if not 0.0 <= value <= 1.0:
            raise TalkfaceError(f"action unit {key}: intensity {value:g} is outside 0..1")
        out[key] = value
    return out


def unit_displacement(unit: int, neutral_norm: np.ndarray | None = None) -> np.ndarray:
    """(68, 2) displacement of one unit at intensity 1 (the neutral shape is used by AU43 only)."""
    unit = next(iter(check_units({unit: 1.0})))
    if unit == 43:
        return eyes_closed(MEAN_SHAPE if neutral_norm is None else np.asarray(neutral_norm, np.float32))
    if unit == 25:
        return lips_part()
    return unit_table()[unit].copy()


def units_displacement(units: dict[int, float], neutral_norm: np.ndarray | None = None) -> np.ndarray:
    """(68, 2) float32: the sum of the units' displacements times their intensities (0..1), normalised frame."""
    units = check_units(units)
    total = np.zeros((68, 2), np.float32)
    for unit, value in units.items():
        if value:
            total += value * unit_displacement(unit, neutral_norm)
    return total
