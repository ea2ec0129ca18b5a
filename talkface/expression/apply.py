"""Expression displacements put on a face: on one photo's landmarks, or on a talking track so that the expression
and the speech combine.

A smiling person who talks keeps the lip corners up while jaw and lips articulate; an open-mouthed surprise yields
to the speech. So an expression's displacement is split in two: its *opening* (how far it drops the lower lip and
the chin below the upper lip) and the rest (brows, lids, cheeks, lip corners, the lips' shape). The rest is added
to every frame; the opening only where the speech is not moving the mouth (`speaking`), so the speech alone opens
and closes the mouth while someone talks, and the expression's own opening returns in the pauses.
"""

from __future__ import annotations

import numpy as np

from talkface.landmarks.indices import mouth_opening
from talkface.landmarks.normalize import from_normalised, to_normalised

UPPER_INNER_LIP = [61, 62, 63]
# Points that move down with the lower lip and the jaw: lower jaw, lower outer lip, lower inner lip.
LOWER_FACE = [*range(4, 13), *range(55, 60), 65, 66, 67]
SPEAKING_OPENING = 0.03  # inner-lip gap (interoculars) above the track's rest that counts as the speech moving
SPEAKING_HOLD_S = 1.0  # a mouth movement keeps the expression's opening away this long: pauses inside speech stay the speech's


def opening_part(shift: np.ndarray) -> np.ndarray:
    """(..., 68, 2): the part of a displacement that opens the mouth: the lower face's downward move beyond the
    upper lip's (vertical only; the lip corners and the width are not part of it)."""
    shift = np.asarray(shift, np.float64)
    out = np.zeros_like(shift)
    upper = shift[..., UPPER_INNER_LIP, 1].mean(-1, keepdims=True)
    out[..., LOWER_FACE, 1] = shift[..., LOWER_FACE, 1] - upper
    return out


def speaking(track_norm: np.ndarray, fps: float = 25.0) -> np.ndarray:
    """(T,) in [0, 1]: where a talking track's mouth is moving with speech (opened beyond its rest), held across
    the closures and pauses inside speech (SPEAKING_HOLD_S) and eased in and out."""
    opening = np.asarray(mouth_opening(np.asarray(track_norm, np.float64)))
    rest = np.percentile(opening, 5)
    moving = np.clip((opening - rest) / SPEAKING_OPENING, 0.0, 1.0)
    hold = 2 * max(1, int(round(SPEAKING_HOLD_S * fps / 2))) + 1  # odd, so the window is centred
    pad = hold // 2
    padded = np.pad(moving, pad, mode="edge")
    held = np.max(np.lib.stride_tricks.sliding_window_view(padded, hold), axis=-1)
    kernel = np.hanning(hold + 2)[1:-1]
    smooth = np.convolve(np.pad(held, pad, mode="edge"), kernel / kernel.sum(), mode="valid")
    return np.clip(smooth, 0.0, 1.0)


def express_normalised(norm: np.ndarray, shifts: np.ndarray, with_speech: bool = True, fps: float = 25.0
                       ) -> np.ndarray:
    """(T, 68, 2) track in the normalised face frame (at fps) plus displacements (T, 68, 2) or (68, 2) in that
    frame. with_speech: the expression's opening yields where the track's mouth moves."""
    norm = np.asarray(norm, np.float64)
    shifts = np.broadcast_to(np.asarray(shifts, np.float64), norm.shape)
    if with_speech:
        shifts = shifts - speaking(norm, fps)[:, None, None] * opening_part(shifts)
    return norm + shifts


def express_track(track: np.ndarray, shifts: np.ndarray, with_speech: bool = True, fps: float = 25.0
                  ) -> np.ndarray:
    """(T, 68, 2) track (pixel coordinates, at fps) with per-frame displacements shifts (T, 68, 2) or (68, 2) in
    the normalised face frame added (see express_normalised)."""
    norm, sims = to_normalised(np.asarray(track, np.float64))
    return from_normalised(express_normalised(norm, shifts, with_speech, fps), sims).astype(np.float32)


def express_face(landmarks: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """(68, 2) landmarks of one face (pixels) with a (68, 2) normalised-frame displacement added."""
    norm, sim = to_normalised(np.asarray(landmarks, np.float64))
    return from_normalised(norm + np.asarray(shift, np.float64), sim).astype(np.float32)
