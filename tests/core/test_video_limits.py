import pytest

from talkface.video_limits import MAX_FRAME_MACROBLOCKS, MAX_SIDE, fit_frame, fits_level, macroblocks


def test_sizes_within_level_5_1_are_kept():
    assert fit_frame(512, 512, 25.0) == (512, 512)
    assert fit_frame(2304, 4096, 25.0) == (2304, 4096)  # exactly the level's frame limit
    assert fits_level(2048, 2048, 25.0)


@pytest.mark.parametrize("h, w, fps", [(6000, 8000, 25.0), (4096, 4096, 25.0), (2160, 4096, 60.0), (500, 9000, 25.0)])
def test_larger_frames_shrink_to_an_even_size_of_the_same_aspect_that_fits(h, w, fps):
    fh, fw = fit_frame(h, w, fps)
    assert fits_level(fh, fw, fps) and fh % 2 == 0 and fw % 2 == 0
    assert fw / fh == pytest.approx(w / h, rel=0.02)
    # no more shrinking than needed: up to the frame (or macroblock-rate) limit, or to the longest side allowed
    assert macroblocks(fh, fw) > 0.9 * min(MAX_FRAME_MACROBLOCKS, 983040 / fps) or max(fh, fw) > 0.98 * MAX_SIDE
    assert not fits_level(h, w, fps)
