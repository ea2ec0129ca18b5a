"""Widening a track's jaw and lip motion about a rest face (talkface.landmarks.articulation)."""

import numpy as np
import pytest

from talkface.landmarks.articulation import SPEECH_POINTS, most_closed, widen
from talkface.landmarks.indices import STABLE_POINTS, mouth_opening
from talkface.landmarks.normalize import MEAN_SHAPE, Similarity


def _moving_head_track(n: int = 40) -> np.ndarray:
    """A face that opens its mouth (lower lip and chin down) while its head turns, scales and drifts."""
    rng = np.random.default_rng(0)
    open_by = np.abs(rng.normal(0.0, 0.08, n))
    open_by[0] = 0.0  # frame 0: closed
    faces = np.repeat(MEAN_SHAPE[None].astype(np.float64), n, axis=0)
    faces[:, [*range(5, 12), *range(55, 60), *range(65, 68)], 1] += open_by[:, None]
    angle = np.linspace(0.0, 0.3, n)
    rotation = np.stack([np.stack([np.cos(angle), -np.sin(angle)], -1), np.stack([np.sin(angle), np.cos(angle)], -1)], -2)
    head = Similarity(np.linspace(80.0, 120.0, n), rotation, np.stack([np.linspace(200, 260, n), np.full(n, 240.0)], -1))
    return head.apply(faces)


def test_widen_scales_the_speech_motion_and_keeps_head_and_stable_points():
    track = _moving_head_track()
    rest = most_closed(track)
    np.testing.assert_array_equal(rest, track[0])
    wide = widen(track, rest, 2.0)
    np.testing.assert_array_equal(wide[:, list(STABLE_POINTS)], track[:, list(STABLE_POINTS)])
    # the opening, measured in interoculars (pose-free), moves twice as far from the closed mouth's
    np.testing.assert_allclose(mouth_opening(wide) - mouth_opening(rest), 2 * (mouth_opening(track) - mouth_opening(rest)),
                               rtol=1e-3, atol=1e-6)  # the gaps are not quite vertical: nearly linear
    np.testing.assert_allclose(wide[0], track[0], atol=1e-9)  # the rest frame itself stays where it is
    assert np.abs(wide[:, SPEECH_POINTS] - track[:, SPEECH_POINTS]).max() > 1.0  # pixels: it did move
    assert widen(track, rest, 1.0) is track


@pytest.mark.parametrize("gain", [0.5, 1.5])
def test_widen_is_linear_in_the_gain(gain):
    track = _moving_head_track()
    rest = most_closed(track)
    half_way = (widen(track, rest, gain) + widen(track, rest, 2 - gain)) / 2  # gains gain and 2 - gain average to 1
    np.testing.assert_allclose(half_way, track, atol=1e-9)
