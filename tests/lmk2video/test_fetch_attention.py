"""The learned fetch blend (lmk2video.fetch_attention): shapes, weights summing to 1, the untrained net is the
shape blend, padded candidates get nothing, training moves weight to the candidate that matches, and the
shipped net picks a candidate whose mouth is exactly the target's."""

import numpy as np
import pytest
import torch

from lmk2video.fetch_attention import SHIPPED, FetchJob, load_fetch_attention, mouth_box, pixel_weights
from lmk2video.fetch_attention_net import FetchAttention, TorchFetchAttention
from lmk2video.train_fetch_attention import composite, loss_of
from talkface.errors import TalkfaceError
from talkface.landmarks.normalize import MEAN_SHAPE
from talkface.mouth_bank import lip_masks, match_colour

SIZE = 64


def crop_landmarks(opening: float = 0.1) -> np.ndarray:
    """The mean face in a SIZE crop, the lower lip and jaw lowered by `opening` (in face widths)."""
    pts = MEAN_SHAPE.copy()
    pts[[*range(56, 59), *range(65, 68)], 1] += opening
    return (pts - pts.min(0)) / np.ptp(pts, 0).max() * SIZE * 0.8 + SIZE * 0.1


def job(candidates: np.ndarray, distances, weights, opening: float = 0.1) -> FetchJob:
    lmk = crop_landmarks(opening)
    lips, _ = lip_masks(lmk, SIZE)
    return FetchJob(candidates.astype(np.float32), np.asarray(distances, np.float32),
                    np.asarray(weights, np.float32), lmk, lips)


def test_mouth_box_is_a_square_inside_the_crop_around_the_lip_mask():
    lips, _ = lip_masks(crop_landmarks(), SIZE)
    x0, y0, side = mouth_box(lips)
    assert 0 <= x0 and 0 <= y0 and x0 + side <= SIZE and y0 + side <= SIZE
    inside = np.zeros_like(lips)
    inside[y0:y0 + side, x0:x0 + side] = 1
    assert lips[inside == 0].max() <= 0.01 < lips.max()
    assert mouth_box(np.zeros((SIZE, SIZE))) is None


def test_match_colour_shifts_bank_frames_to_the_frames_colour_around_the_lips():
    band = np.zeros((4, 4), bool)
    band[0] = True
    warped = np.stack([np.full((4, 4, 3), 100.0), np.full((4, 4, 3), 130.0), np.full((4, 4, 3), 90.0)])
    matched = match_colour(warped, band)
    np.testing.assert_allclose(matched[:, band].mean(1), 100.0)
    np.testing.assert_array_equal(match_colour(warped[:1], band), warped[:1])


def test_untrained_net_is_the_shape_blend_and_weights_sum_to_one():
    rng = np.random.default_rng(0)
    model = TorchFetchAttention(FetchAttention(width=8, work_size=16))
    jobs = [job(rng.uniform(0, 255, (3, SIZE, SIZE, 3)), [0.01, 0.02, 0.05], [0.6, 0.3, 0.1]),
            job(rng.uniform(0, 255, (2, SIZE, SIZE, 3)), [0.03, 0.0], [0.2, 0.8], opening=0.2),
            job(rng.uniform(0, 255, (1, SIZE, SIZE, 3)), [0.0], [1.0])]
    weights = pixel_weights(model, jobs)
    assert [w.shape for w in weights] == [(3, SIZE, SIZE), (2, SIZE, SIZE), (1, SIZE, SIZE)]
    for w, j in zip(weights, jobs):
        np.testing.assert_allclose(w.sum(0), 1.0, atol=1e-5)
        np.testing.assert_allclose(w, np.broadcast_to(j.weights[:, None, None], w.shape), atol=1e-5)


def test_padded_candidates_get_no_weight():
    torch.manual_seed(0)
    model = FetchAttention(width=8, work_size=16).eval()
    torch.nn.init.normal_(model.score[-1].weight, std=1.0)  # a net that does not just echo the shape weights
    pixels = torch.rand(2, 4, 3, 16, 16)
    valid = torch.tensor([[True, True, True, False], [True, False, False, False]])
    weights = torch.tensor([[0.5, 0.3, 0.2, 0.0], [1.0, 0.0, 0.0, 0.0]])
    with torch.no_grad():
        out = model(pixels, torch.zeros(2, 4), weights, torch.rand(2, 2, 16, 16), valid)
    assert out.shape == (2, 4, 16, 16)
    torch.testing.assert_close(out.sum(1), torch.ones(2, 16, 16))
    assert float(out[0, 3].max()) == 0.0 and float(out[1, 1:].max()) == 0.0
    assert float(out[0, :3].std(0).max()) > 0.01  # per-pixel weights, not one per candidate


def test_training_moves_the_weight_to_the_candidate_that_matches():
    """Two candidates with the same shape weight; one is the real mouth, the other has its pixels shuffled:
    a few steps of the trainer's loss teach the net to prefer the one whose pixels agree with the others."""
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    model = FetchAttention(width=8, work_size=16)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)

    def batch(n=16):
        smooth = torch.nn.functional.avg_pool2d(torch.rand(n, 3, 20, 20, generator=gen), 5, 1)  # 16 x 16 texture
        noise = torch.rand(n, 3, 16, 16, generator=gen)
        # candidate 0 (the frame itself) and 1 show the real mouth, 2 is noise
        pixels = torch.stack([smooth, smooth, noise], 1)
        weights = torch.full((n, 3), 1 / 3)
        return pixels, weights, smooth

    lips = torch.ones(16, 16, 16)
    masks, valid = torch.zeros(16, 2, 16, 16), torch.ones(16, 3, dtype=torch.bool)
    for _ in range(60):
        pixels, weights, real = batch()
        out = model(pixels, torch.zeros(16, 3), weights, masks, valid)
        loss = loss_of(composite(out, pixels, lips), real, 0.5)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    pixels, weights, real = batch()
    with torch.no_grad():
        out = model(pixels, torch.zeros(16, 3), weights, masks, valid)
    assert float(out[:, 2].mean()) < 0.1, float(out[:, 2].mean())


@pytest.mark.skipif(not SHIPPED.is_file(), reason="no shipped fetch-attention checkpoint")
def test_shipped_net_takes_the_candidate_whose_mouth_is_the_target():
    """The frame itself with another mouth, one bank frame with exactly the target mouth, one far off, all three
    given the same shape weight: the net reads the distances and gives the exact one nearly all the weight."""
    rng = np.random.default_rng(2)
    base = rng.uniform(60, 200, (1, SIZE, SIZE, 3)) * np.ones((3, 1, 1, 1))
    candidates = base + rng.normal(0, 8, (3, SIZE, SIZE, 3))
    j = job(candidates, [0.06, 0.0, 0.12], np.full(3, 1 / 3))
    (weights,) = pixel_weights(load_fetch_attention("learned"), [j])  # the default backend: its ONNX export
    np.testing.assert_allclose(weights.sum(0), 1.0, atol=1e-5)
    inside = j.lips > 0.5
    assert float(weights[1][inside].mean()) > 0.9
    (on_torch,) = pixel_weights(load_fetch_attention("learned", backend="torch"), [j])
    np.testing.assert_allclose(weights, on_torch, atol=1e-5)


def test_bad_blend_is_one_line():
    assert load_fetch_attention("shape") is None
    with pytest.raises(TalkfaceError, match="blend must be"):
        load_fetch_attention("sharpest")
