import numpy as np
import pytest

from talkface.blend import multiband_blend, pyramid_levels


def test_alpha_zero_and_one_give_base_and_top():
    rng = np.random.default_rng(0)
    base = rng.uniform(0, 255, (64, 80, 3)).astype(np.float32)
    top = rng.uniform(0, 255, (64, 80, 3)).astype(np.float32)
    np.testing.assert_allclose(multiband_blend(base, top, np.zeros((64, 80), np.float32)), base, atol=1e-3)
    np.testing.assert_allclose(multiband_blend(base, top, np.ones((64, 80), np.float32)), top, atol=1e-3)


def test_a_hard_mask_blends_colour_over_a_wide_zone_and_grain_over_a_narrow_one():
    h, w = 64, 128
    rng = np.random.default_rng(1)
    base = np.full((h, w, 3), 100.0, np.float32)
    top = (150.0 + rng.normal(0, 20, (h, w, 3))).astype(np.float32)  # brighter and grainy
    alpha = np.zeros((h, w), np.float32)
    alpha[:, w // 2:] = 1.0
    out = multiband_blend(base, top, alpha)
    row_mean = out.mean(axis=(0, 2))
    # no step in colour: neighbouring columns never jump by more than a fraction of the 50-level step
    assert np.abs(np.diff(row_mean)).max() < 15
    assert row_mean[2] == pytest.approx(100, abs=3) and row_mean[-3] == pytest.approx(150, abs=5)
    # the grain stays on its own side: far left is flat, right side keeps its texture
    assert out[:, :w // 2 - 12].std(axis=0).mean() < 2.0
    assert out[:, w // 2 + 8:].std(axis=0).mean() > 15


def test_levels_and_shape_checks():
    assert pyramid_levels((7, 7)) == 1 and pyramid_levels((512, 512)) == 5 and pyramid_levels((40, 400)) == 3
    with pytest.raises(ValueError):
        multiband_blend(np.zeros((8, 8, 3), np.float32), np.zeros((8, 8, 3), np.float32), np.zeros((4, 4), np.float32))
