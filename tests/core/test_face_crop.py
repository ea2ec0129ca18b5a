import cv2
import numpy as np
import pytest

from talkface.errors import TalkfaceError
from talkface.face_crop import (
    CROP_LEFT,
    CROP_SPAN,
    CROP_TOP,
    FacePaster,
    crop_face,
    crop_transform,
)
from talkface.landmarks.indices import eye_centres
from talkface.landmarks.normalize import MEAN_SHAPE


def face_in_frame(scale=60.0, angle=0.2, centre=(180.0, 120.0)):
    """Mean-shape landmarks placed in a frame by a known similarity."""
    c, s = np.cos(angle), np.sin(angle)
    return (scale * MEAN_SHAPE @ np.array([[c, s], [-s, c]]) + centre).astype(np.float32)


def smooth_frame(h=288, w=360, seed=0):
    """Textured but band-limited image, so resampling errors stay small."""
    rng = np.random.default_rng(seed)
    noise = rng.uniform(0, 255, (h // 8, w // 8, 3)).astype(np.float32)
    return np.clip(cv2.resize(noise, (w, h), interpolation=cv2.INTER_CUBIC), 0, 255).astype(np.uint8)


def expected_eyes(size):
    k = size / CROP_SPAN
    return np.array([[(-0.5 - CROP_LEFT) * k - 0.5, -CROP_TOP * k - 0.5], [(0.5 - CROP_LEFT) * k - 0.5, -CROP_TOP * k - 0.5]])


@pytest.mark.parametrize("size", [128, 256])
def test_crop_puts_eyes_at_the_template_and_the_whole_face_inside(size):
    lmk = face_in_frame()
    t = crop_transform(lmk, size)
    assert t.matrix.shape == (2, 3) and t.matrix.dtype == np.float64 and t.size == size
    crop_lmk = t.to_crop(lmk)
    np.testing.assert_allclose(eye_centres(crop_lmk), expected_eyes(size), atol=0.01 * size)
    margin = 0.04 * size
    assert crop_lmk.min() > margin and crop_lmk.max() < size - 1 - margin  # chin, ears and brows inside


def test_to_crop_and_to_frame_roundtrip():
    t = crop_transform(face_in_frame(scale=45.0, angle=-0.4), 128)
    pts = np.random.default_rng(1).uniform(0, 300, (5, 68, 2))
    np.testing.assert_allclose(t.to_frame(t.to_crop(pts)), pts, atol=1e-9)
    np.testing.assert_allclose(t.to_crop(t.to_frame(pts)), pts, atol=1e-9)


def test_crop_samples_the_frame_at_the_mapped_pixels():
    frame = smooth_frame()
    t = crop_transform(face_in_frame(), 128)
    crop = crop_face(frame, t)
    assert crop.shape == (128, 128, 3) and crop.dtype == np.uint8
    for cx, cy in [(64, 64), (20, 100), (100, 30)]:
        x, y = np.rint(t.to_frame(np.array([cx, cy], float))).astype(int)
        near = frame[y - 1:y + 2, x - 1:x + 2].reshape(-1, 3).astype(int)
        assert np.all(crop[cy, cx] >= near.min(0) - 2) and np.all(crop[cy, cx] <= near.max(0) + 2)


def test_large_photo_is_shrunk_by_area_without_moving_the_face():
    # A 2000 px photo with dark eye blobs: the crop needs a > 2x reduction (the anti-aliased path).
    lmk = face_in_frame(scale=500.0, angle=0.1, centre=(1000.0, 800.0))
    frame = np.full((2000, 2000, 3), 220, np.uint8)
    for x, y in eye_centres(lmk):
        cv2.circle(frame, (round(x), round(y)), 60, (0, 0, 0), -1)
    t = crop_transform(lmk, 128)
    assert t.scale < 0.5
    dark = crop_face(frame, t)[..., 0] < 110
    found = []
    for half in (dark[:, :64], dark[:, 64:]):
        ys, xs = np.nonzero(half)
        found.append([xs.mean(), ys.mean()])
    found = np.array(found) + [[0, 0], [64, 0]]
    np.testing.assert_allclose(found, expected_eyes(128), atol=1.0)


def test_face_paster_blends_without_a_seam():
    frame = np.full((288, 360, 3), 100, np.uint8)
    t = crop_transform(face_in_frame(), 128)
    paster = FacePaster(frame, t, crop_face(frame, t))
    out = paster.paste(np.full((128, 128, 3), 200, np.uint8)).astype(int)
    assert out.max() == 200 and out.min() == 100  # centre replaced, border untouched
    # Feathered: neighbouring pixels never jump by more than half the 100-level step (paste_mask fades
    # over a few crop pixels only, so the photo's own pixels reach close to the crop's edge).
    assert np.abs(np.diff(out, axis=0)).max() <= 50 and np.abs(np.diff(out, axis=1)).max() <= 50
    with pytest.raises(TalkfaceError, match="crop must be"):
        paster.paste(np.zeros((64, 64, 3), np.uint8))


def test_crop_transform_rejects_a_track():
    with pytest.raises(TalkfaceError, match="one frame"):
        crop_transform(np.zeros((3, 68, 2)), 128)


def _detailed_frame(h=900, w=900, seed=3):
    """Fine texture: a 128 crop of a face this large loses it."""
    rng = np.random.default_rng(seed)
    return rng.integers(60, 200, (h, w, 3)).astype(np.uint8)


def test_face_paster_keeps_full_resolution_detail_where_nothing_changed():
    frame = _detailed_frame()
    t = crop_transform(face_in_frame(scale=300.0, angle=0.0, centre=(450.0, 350.0)), 128)
    source_crop = crop_face(frame, t)
    paster = FacePaster(frame, t, source_crop)
    np.testing.assert_allclose(paster.paste(source_crop).astype(int), frame.astype(int), atol=1)
    # the crop itself lost that texture: resampled back into the photo it differs a lot
    back = cv2.warpAffine(source_crop, t.inverse_matrix, frame.shape[1::-1], flags=cv2.INTER_CUBIC)
    inside = cv2.warpAffine(np.ones((128, 128), np.float32), t.inverse_matrix, frame.shape[1::-1]) > 0.999
    assert inside.mean() > 0.05 and np.abs(back[inside].astype(int) - frame[inside]).mean() > 10


def test_face_paster_shows_the_generated_change():
    frame = _detailed_frame()
    t = crop_transform(face_in_frame(scale=300.0, angle=0.0, centre=(450.0, 350.0)), 128)
    source_crop = crop_face(frame, t)
    changed = source_crop.copy()
    changed[70:90, 50:80] = 0  # a dark "open mouth" painted by a generator
    out = FacePaster(frame, t, source_crop).paste(changed)
    centre = t.to_frame(np.array([[65.0, 80.0]]))[0].round().astype(int)
    assert out[centre[1] - 5:centre[1] + 5, centre[0] - 5:centre[0] + 5].max() < 30
    far = t.to_frame(np.array([[64.0, 20.0]]))[0].round().astype(int)  # forehead: untouched detail
    np.testing.assert_allclose(out[far[1], far[0]].astype(int), frame[far[1], far[0]].astype(int), atol=1)


def test_auto_crop_size_follows_the_face_within_bounds():
    from talkface.face_crop import MAX_CROP_SIZE, MIN_AUTO_SIZE, auto_crop_size

    sizes = [auto_crop_size(face_in_frame(scale=s, centre=(2000.0, 2000.0))) for s in (20.0, 80.0, 160.0, 1000.0)]
    assert sizes[0] == MIN_AUTO_SIZE and sizes[-1] == MAX_CROP_SIZE
    assert all(s % 8 == 0 for s in sizes)
    # one crop pixel per photo pixel (or a little more) for a face in range
    assert 0.999 <= crop_transform(face_in_frame(scale=80.0), sizes[1]).scale < 1.05
    assert sizes[2] == pytest.approx(2 * sizes[1], abs=8)


def test_paste_mask_covers_the_crop_and_is_zero_at_its_border():
    from talkface.face_crop import paste_mask

    mask = paste_mask(200)
    assert mask.shape == (200, 200) and mask.dtype == np.float32
    assert mask[100, 100] == pytest.approx(1.0) and mask[30, 30] == pytest.approx(1.0)
    assert mask[0].max() < 0.1 and mask[:, -1].max() < 0.1 and mask[8, 100] == pytest.approx(1.0)


def _identity_coords(size):
    return np.stack(np.meshgrid(np.arange(size, dtype=np.float32), np.arange(size, dtype=np.float32)), -1)


def test_paste_moved_without_motion_or_paint_returns_the_photo_exactly():
    frame = _detailed_frame()
    t = crop_transform(face_in_frame(scale=300.0, angle=0.1, centre=(450.0, 350.0)), 128)
    paster = FacePaster(frame, t, crop_face(frame, t))
    out = paster.paste_moved(np.zeros((128, 128, 3), np.float32), _identity_coords(128))
    np.testing.assert_array_equal(out, frame)
    with pytest.raises(TalkfaceError, match="paste_moved"):
        paster.paste_moved(np.zeros((64, 64, 3), np.float32), _identity_coords(64))


def test_paste_moved_moves_the_photo_at_its_own_resolution_and_adds_the_paint():
    """A crop at a seventh of the face's resolution: a shift of 2 crop pixels moves the photo by 14 of its
    own pixels with its pixel-level grain intact (no resampling blur), and paint shows where painted."""
    frame = _detailed_frame()
    lmk = face_in_frame(scale=300.0, angle=0.0, centre=(450.0, 350.0))
    t = crop_transform(lmk, 128)
    step = 1.0 / t.scale  # photo pixels per crop pixel
    coords = _identity_coords(128)
    shift = 14
    coords[..., 0] -= shift / step  # every pixel reads from 2 crop pixels to its left: the face moves right
    painted = np.zeros((128, 128, 3), np.float32)
    painted[80:90, 60:70] = 100.0
    out = FacePaster(frame, t, crop_face(frame, t)).paste_moved(painted, coords).astype(int)
    cx, cy = np.rint(t.to_frame(np.array([[64.0, 40.0]]))[0]).astype(int)
    window = np.s_[cy - 20:cy + 20, cx - 20:cx + 20]
    moved = frame[cy - 20:cy + 20, cx - 20 - shift:cx + 20 - shift].astype(int)
    assert np.abs(out[window] - moved).mean() < 2.0
    px, py = np.rint(t.to_frame(np.array([[65.0, 85.0]]))[0]).astype(int)
    assert (out[py, px] - frame[py - 0, px - shift]).min() > 60
    corner = t.to_frame(np.array([[1.0, 1.0]]))[0].astype(int)
    np.testing.assert_array_equal(out[:corner[1] - 40], frame[:corner[1] - 40])  # well above the crop: untouched


def test_paste_moved_keeps_the_grain_sharp_across_the_paste_masks_edge():
    """Motion that reaches the paste mask's fade (a whole crop moved by 2 crop pixels): the photo's grain there
    is moved, not cross-faded with its unmoved copy, so the edge keeps the photo's gradient energy; a plain
    cross-fade of the two copies loses about a quarter of it."""
    from talkface.metrics.visual import seam_visibility

    frame = _detailed_frame()
    t = crop_transform(face_in_frame(scale=300.0, angle=0.0, centre=(450.0, 350.0)), 128)
    coords = _identity_coords(128)
    coords[..., 1] -= 2.0
    paster = FacePaster(frame, t, crop_face(frame, t))
    out = paster.paste_moved(np.zeros((128, 128, 3), np.float32), coords)
    alpha = paster.frame_alpha()
    assert seam_visibility(out, frame, alpha) > 0.95
    shifted = np.roll(frame, round(2.0 / t.scale), axis=0).astype(np.float32)
    cross_faded = frame * (1 - alpha[..., None]) + shifted * alpha[..., None]
    assert seam_visibility(np.rint(cross_faded).astype(np.uint8), frame, alpha) < 0.85
