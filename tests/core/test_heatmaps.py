import numpy as np
import pytest
import torch

from talkface.landmarks.heatmaps import COMPACT_CHANNELS, render_compact, render_heatmaps
from talkface.landmarks.normalize import MEAN_SHAPE


def crop_landmarks(size=64):
    """Mean face placed in a size x size crop."""
    return (MEAN_SHAPE * size * 0.3 + [size * 0.5, size * 0.25]).astype(np.float32)


def test_heatmap_peaks_at_each_landmark():
    lmk = crop_landmarks()
    maps = render_heatmaps(lmk, 64)
    assert isinstance(maps, np.ndarray) and maps.dtype == np.float32  # numpy in, numpy out: inference has no torch
    assert maps.shape == (68, 64, 64)
    flat = maps.reshape(68, -1).argmax(1)
    peaks = np.stack([flat % 64, flat // 64], 1)
    np.testing.assert_array_equal(peaks, np.rint(lmk))
    assert float(maps.max()) <= 1.0 and float(maps.min()) >= 0.0


def test_heatmap_value_is_an_exact_gaussian():
    maps = render_heatmaps(np.array([[10.0, 20.0]]), 32, sigma=2.0)
    assert float(maps[0, 20, 10]) == pytest.approx(1.0)
    assert float(maps[0, 20, 13]) == pytest.approx(np.exp(-9 / 8), rel=1e-5)  # 3 px right
    assert float(maps[0, 24, 10]) == pytest.approx(np.exp(-16 / 8), rel=1e-5)  # 4 px down


@pytest.mark.parametrize("render", [render_heatmaps, render_compact])
def test_maps_batch_over_leading_dims_and_agree_between_numpy_and_torch(render):
    lmk = np.stack([crop_landmarks(), crop_landmarks() + 3.0])[None]  # (1, 2, 68, 2)
    from_numpy = render(lmk, 64)
    from_torch = render(torch.from_numpy(lmk), 64)
    assert isinstance(from_torch, torch.Tensor) and from_torch.dtype == torch.float32
    assert from_numpy.shape == (1, 2, render(lmk[0, 0], 64).shape[0], 64, 64)
    np.testing.assert_allclose(from_numpy, from_torch.numpy(), atol=1e-6)
    np.testing.assert_allclose(from_numpy[0, 0], render(lmk[0, 0], 64), atol=1e-6)


def test_compact_draws_contours_in_their_channels():
    lmk = crop_landmarks()
    maps = render_compact(lmk, 64)
    assert maps.shape == (COMPACT_CHANNELS, 64, 64) == (4, 64, 64)
    assert float(maps.min()) >= 0.0 and float(maps.max()) <= 1.0

    def at(channel, xy):
        x, y = np.rint(xy).astype(int)
        return float(maps[channel, y, x])

    assert at(0, (lmk[3] + lmk[4]) / 2) > 0.8  # on the jaw line, between two points
    assert at(1, (lmk[36] + lmk[37]) / 2) > 0.8  # eye contour
    assert at(2, (lmk[48] + lmk[59]) / 2) > 0.8  # outer lips, closing segment
    assert at(3, lmk[62]) > 0.9  # inner lips
    assert at(0, lmk[62]) < 0.01  # the mouth is not in the outline channel
    assert float(maps[:, 0, 0].max()) < 1e-3  # far from every contour


def test_compact_is_batched_and_differentiable():
    lmk = torch.tensor(np.stack([crop_landmarks()] * 3), requires_grad=True)
    maps = render_compact(lmk, 32)
    assert maps.shape == (3, COMPACT_CHANNELS, 32, 32)
    maps.sum().backward()
    assert lmk.grad is not None and torch.isfinite(lmk.grad).all() and lmk.grad.abs().sum() > 0
