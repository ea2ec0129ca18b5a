"""How wide a landmark track articulates: its jaw and lip motion scaled about a rest face, head pose aside.

Used by `talkface dub` (the speech's motion matched to the person in the video) and `talkface synth
--motion-gain` (the user's choice).
"""

from __future__ import annotations

import numpy as np

from talkface.landmarks.indices import STABLE_POINTS, mouth_opening
from talkface.landmarks.normalize import from_normalised, to_normalised

SPEECH_POINTS = [i for i in range(68) if i not in STABLE_POINTS]  # jaw 4-12 and lips: what speech moves
_STABLE = list(STABLE_POINTS)


def widen_normalised(norm: np.ndarray, rest_norm: np.ndarray, gain: float) -> np.ndarray:
    """widen for a track already in the normalised face frame (T, 68, 2), about the rest face's (68, 2)."""
    out = np.array(norm, np.float64)
    out[:, SPEECH_POINTS] = rest_norm[SPEECH_POINTS] + gain * (out[:, SPEECH_POINTS] - rest_norm[SPEECH_POINTS])
    return out


def widen(track: np.ndarray, rest: np.ndarray, gain: float) -> np.ndarray:
    """(T, 68, 2) track whose jaw and lips move `gain` times as far from the rest face (68, 2): in the normalised
    face frame, so each frame's head pose (the similarity of its stable points) and the stable points are kept."""
    if gain == 1.0:
        return track
    norm, sims = to_normalised(np.asarray(track, np.float64))
    rest_norm, _ = to_normalised(np.asarray(rest, np.float64))
    out = from_normalised(widen_normalised(norm, rest_norm, gain), sims).astype(np.asarray(track).dtype)
    out[:, _STABLE] = np.asarray(track)[:, _STABLE]  # exactly, not through the round trip
    return out


def most_closed(track: np.ndarray) -> np.ndarray:
    """The (68, 2) frame of a track whose lips are closest together: its rest face."""
    return np.asarray(track)[int(np.argmin(mouth_opening(np.asarray(track, np.float64))))]
