import numpy as np
import pytest
import torch

from talkface.errors import TalkfaceError
from talkface.landmarks.indices import MOUTH, eye_centres, interocular, mouth_opening
from talkface.landmarks.normalize import (
    MEAN_SHAPE,
    STABLE_WEIGHTS,
    Similarity,
    fit_similarity,
    from_normalised,
    to_normalised,
)


def random_similarity(rng, batch=()):
    angle = rng.uniform(-np.pi, np.pi, batch)
    c, s = np.cos(angle), np.sin(angle)
    rot = np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)], -2)
    return Similarity(rng.uniform(0.2, 80.0, batch), rot, rng.uniform(-300, 300, batch + (2,)))


def test_fit_similarity_recovers_a_known_similarity_exactly():
    rng = np.random.default_rng(0)
    src = rng.normal(size=(30, 2))
    true = random_similarity(rng)
    fit = fit_similarity(src, true.apply(src))
    np.testing.assert_allclose(fit.scale, true.scale, rtol=1e-10)
    np.testing.assert_allclose(fit.rotation, true.rotation, atol=1e-10)
    np.testing.assert_allclose(fit.translation, true.translation, atol=1e-8)
    np.testing.assert_allclose(fit.angle, true.angle, atol=1e-10)


def test_fit_similarity_is_vectorised_and_weighted():
    rng = np.random.default_rng(1)
    true = random_similarity(rng, (7,))
    src = rng.normal(size=(7, 68, 2))
    dst = true.apply(src)
    dst[:, MOUTH] += rng.normal(scale=50.0, size=(7, 20, 2))  # outliers with zero weight
    fit = fit_similarity(src, dst, STABLE_WEIGHTS)
    assert fit.scale.shape == (7,) and fit.matrix.shape == (7, 2, 3)
    np.testing.assert_allclose(fit.matrix, true.matrix, atol=1e-8)
    with pytest.raises(TalkfaceError, match="weights"):
        fit_similarity(src, dst, np.zeros(68))


def test_fit_similarity_never_reflects():
    rng = np.random.default_rng(2)
    src = rng.normal(size=(20, 2))
    mirrored = src * [-1.0, 1.0]
    fit = fit_similarity(src, mirrored)
    assert np.linalg.det(fit.rotation) == pytest.approx(1.0)


def test_inverse_and_matrix_agree_with_apply():
    rng = np.random.default_rng(3)
    sim = random_similarity(rng, (4,))
    pts = rng.normal(size=(4, 10, 2))
    np.testing.assert_allclose(sim.inverse().apply(sim.apply(pts)), pts, atol=1e-9)
    m = sim.matrix
    np.testing.assert_allclose(sim.apply(pts), pts @ np.swapaxes(m[..., :2], -1, -2) + m[:, None, :, 2])


def test_mean_shape_is_the_normalised_frame():
    eyes = eye_centres(MEAN_SHAPE)
    np.testing.assert_allclose(eyes, [[-0.5, 0.0], [0.5, 0.0]], atol=2e-4)
    assert interocular(MEAN_SHAPE) == pytest.approx(1.0, abs=2e-4)
    assert MEAN_SHAPE.dtype == np.float32 and MEAN_SHAPE.shape == (68, 2)
    assert MEAN_SHAPE[8, 1] > 1.5  # chin below, y down
    norm, _ = to_normalised(MEAN_SHAPE)
    np.testing.assert_allclose(eye_centres(norm), [[-0.5, 0.0], [0.5, 0.0]], atol=2e-4)


def test_to_then_from_normalised_is_identity_for_a_track():
    rng = np.random.default_rng(4)
    sims = random_similarity(rng, (5,))
    track = sims.apply(np.broadcast_to(MEAN_SHAPE, (5, 68, 2)) + rng.normal(scale=0.02, size=(5, 68, 2)))
    track = track.astype(np.float32)
    norm, sim = to_normalised(track)
    assert norm.shape == (5, 68, 2) and norm.dtype == np.float32
    np.testing.assert_allclose(from_normalised(norm, sim), track, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(eye_centres(norm), np.broadcast_to([[-0.5, 0], [0.5, 0]], (5, 2, 2)), atol=0.05)


def test_speech_does_not_move_the_alignment():
    rng = np.random.default_rng(5)
    face = random_similarity(rng).apply(MEAN_SHAPE)
    talking = face.copy()
    talking[list(range(5, 12)) + list(MOUTH)] += [0.0, 15.0]  # jaw drops, lips part
    _, sim_still = to_normalised(face)
    _, sim_talk = to_normalised(talking)
    np.testing.assert_allclose(sim_talk.matrix, sim_still.matrix, atol=1e-9)


def test_mouth_opening_numpy_and_torch():
    closed = np.array(MEAN_SHAPE)
    opened = closed.copy()
    opened[[65, 66, 67], 1] += 0.2
    gap_closed = mouth_opening(closed)
    assert mouth_opening(opened) == pytest.approx(gap_closed + 0.2, abs=1e-4)
    batch = torch.tensor(np.stack([closed * 40, opened * 40]))  # scale invariant
    torch.testing.assert_close(mouth_opening(batch), torch.tensor([gap_closed, gap_closed + 0.2]), atol=1e-4, rtol=0)
    assert eye_centres(batch).shape == (2, 2, 2)
