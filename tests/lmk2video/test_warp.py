"""lmk2video's training-free WarpGenerator: mesh, warp geometry, mouth synthesis, batching.

Unit tests draw their own face: a textured face-like pattern under a synthetic 68-point set
(the core mean face placed the way face crops place it, mouth closed).
"""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from lmk2video import WarpGenerator
from lmk2video.mouth import INNER_LIPS, estimate_appearance
from lmk2video.triangulation import (
    FOREHEAD_ANCHORS, HEAD_POINTS, LIP_BAND, MOUTH_INTERIOR, N_FOREHEAD, N_POINTS, border_points, build_triangles,
    forehead_template, mean_face_in_crop, mesh_points, triangles)
from lmk2video.warp import rasterize_triangle_ids
from talkface.contracts import StageInputError

LUMA = np.array([0.299, 0.587, 0.114])


def closed_mouth_landmarks(size: int) -> np.ndarray:
    lmk = mean_face_in_crop(size).copy()
    for up, lo in ((61, 67), (62, 66), (63, 65)):  # inner lips meet
        lmk[up] = lmk[lo] = (lmk[up] + lmk[lo]) / 2
    return lmk


def draw_face(size: int, lmk: np.ndarray, seed: int = 0) -> np.ndarray:
    """A face-like RGB pattern: textured background, skin, eyes, brows, nose and red lips."""
    rng = np.random.default_rng(seed)
    noise = cv2.GaussianBlur(rng.normal(0, 1, (size, size)).astype(np.float32), (0, 0), size / 64)
    yy, xx = np.mgrid[0:size, 0:size] / size
    img = np.stack([0.2 + 0.3 * xx, 0.5 + 0.2 * yy, 0.8 - 0.2 * xx], -1) + 0.08 * noise[..., None]
    img = (np.clip(img, 0, 1) * 255).astype(np.uint8)

    def poly(idx, colour):
        pts = np.round(lmk[list(idx)] * 16).astype(np.int32)
        cv2.fillPoly(img, [pts], colour, lineType=cv2.LINE_AA, shift=4)

    hull = cv2.convexHull(np.round(lmk[:27] * 16).astype(np.int32))
    cv2.fillPoly(img, [hull], (215, 170, 140), lineType=cv2.LINE_AA, shift=4)
    for eye in (range(36, 42), range(42, 48)):
        poly(eye, (60, 45, 40))
    for brow in (range(17, 22), range(22, 27)):
        cv2.polylines(img, [np.round(lmk[list(brow)] * 16).astype(np.int32)], False, (90, 60, 40),
                      max(1, size // 64), cv2.LINE_AA, shift=4)
    poly([27, 31, 33, 35], (190, 140, 115))
    poly(range(48, 60), (185, 85, 90))
    poly([48, 60, 61, 62, 63, 64, 54, 53, 52, 51, 50, 49], (200, 95, 100))  # lighter upper lip
    shade = (1.0 + 0.15 * noise[..., None]) * img  # skin/lip texture so warps are measurable
    return np.clip(shade, 0, 255).astype(np.uint8)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def region_mask(size: int, polygon: np.ndarray, erode: int = 0) -> np.ndarray:
    mask = np.zeros((size, size), np.uint8)
    cv2.fillPoly(mask, [np.round(polygon * 16).astype(np.int32)], 1, shift=4)
    if erode:
        mask = cv2.erode(mask, np.ones((2 * erode + 1,) * 2, np.uint8))
    return mask.astype(bool)


def open_mouth(lmk: np.ndarray, px: float) -> np.ndarray:
    """Drop the lower lip and chin by px pixels (corners half as much), as a jaw opening would."""
    out = lmk.copy()
    out[[55, 56, 57, 58, 59, 65, 66, 67], 1] += px
    out[5:12, 1] += px * np.array([0.3, 0.6, 0.9, 1.0, 0.9, 0.6, 0.3])
    out[[48, 54, 60, 64], 1] += 0.3 * px
    return out


@pytest.fixture(scope="module")
def generator() -> WarpGenerator:
    return WarpGenerator()


@pytest.fixture(scope="module")
def face128() -> tuple[np.ndarray, np.ndarray]:
    lmk = closed_mouth_landmarks(128)
    return draw_face(128, lmk), lmk


@pytest.mark.parametrize("forehead", [True, False])
def test_mesh_covers_the_crop_and_separates_the_mouth_interior(forehead):
    tri = triangles(forehead)
    parts = [mean_face_in_crop(128), forehead_template(128), border_points(128)]
    pts = np.concatenate(parts if forehead else parts[::2])
    assert tri.min() == 0 and tri.max() == len(pts) - 1 == (N_POINTS if forehead else N_POINTS - N_FOREHEAD) - 1
    np.testing.assert_array_equal(pts, mesh_points(mean_face_in_crop(128), mean_face_in_crop(128)[None], 128,
                                                   forehead)[0])
    a, b, c = (pts[tri[:, k]] for k in range(3))
    area = 0.5 * ((b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0]))
    assert np.all(area > 0), "every triangle is counter-clockwise on the template (no overlaps)"
    assert area.sum() == pytest.approx(129.0 ** 2, rel=1e-4)  # borders sit 1 px outside the crop
    ids = rasterize_triangle_ids(pts[None], tri, 128)
    assert not np.any(ids == len(tri)), "every pixel is covered"
    inner = np.all(np.isin(tri, INNER_LIPS), axis=1)  # the triangles inside the inner-lip polygon
    np.testing.assert_array_equal(np.sort(tri[inner], 1), np.sort(MOUTH_INTERIOR, 1))
    lip_rows = {tuple(sorted(t)) for t in LIP_BAND}
    assert lip_rows <= {tuple(sorted(t)) for t in tri}


@pytest.mark.parametrize("forehead", [True, False])
def test_the_stored_mesh_is_the_one_its_recipe_builds(forehead):
    np.testing.assert_array_equal(triangles(forehead), build_triangles(forehead),
                                  err_msg="lmk2video/data/mesh.json is stale: rewrite it (build_triangles' docstring)")


def test_identity_returns_the_source(generator, face128):
    img, lmk = face128
    out = generator(img, lmk, np.stack([lmk] * 3))
    assert out.shape == (3, 128, 128, 3) and out.dtype == np.uint8
    for frame in out:
        assert psnr(frame, img) > 40


def test_identity_with_an_open_source_mouth_keeps_its_interior(generator):
    lmk = open_mouth(mean_face_in_crop(128), 3.0)
    img = draw_face(128, lmk)
    inner = region_mask(128, lmk[list(INNER_LIPS)])
    img[inner] = (40, 20, 20)
    img[inner & (np.arange(128)[:, None] < lmk[62, 1] + 2.5)] = (235, 230, 215)  # upper teeth
    assert estimate_appearance(img, lmk).source_open
    out = generator(img, lmk, lmk[None])[0]
    assert psnr(out, img) > 40


def test_an_open_source_lower_lip_edge_drops_with_the_jaw(generator):
    """A smile showing teeth: the detector's inner lower lip sits inside the lip, so the bottom of
    the source's landmark gap is lip. Opening wider must carry that lip edge down with the lower
    lip, not leave a strip of it hanging under the teeth."""
    lmk = open_mouth(mean_face_in_crop(256), 14.0)
    img = draw_face(256, lmk)
    inner = region_mask(256, lmk[list(INNER_LIPS)])
    depth = (lmk[66, 1] - np.arange(256)[:, None]) / (lmk[66, 1] - lmk[62, 1])  # 0 at 66, 1 at 62
    img[inner] = (185, 85, 90)  # the lower lip's edge: 35 % of the gap above the landmark
    img[inner & (depth > 0.35)] = (40, 20, 20)  # the dark line where teeth meet lip
    img[inner & (depth > 0.5)] = (235, 230, 215)  # upper teeth
    assert estimate_appearance(img, lmk).source_teeth
    target = open_mouth(lmk, 14.0)
    out = generator(img, lmk, target[None])[0].astype(float)
    x = round(float(target[66, 0]))
    y_lo, src_gap = target[66, 1], lmk[66, 1] - lmk[62, 1]
    red = out[:, x - 1:x + 2].mean(axis=1) @ np.array([1.0, -1.0, 0.0])  # lip: R - G ~ 100
    is_lip = (red > 80) & (out[:, x, 0] > 150)
    assert is_lip[int(np.ceil(y_lo - 0.3 * src_gap)):int(y_lo)].all(), "the lip edge is at the lip"
    assert not is_lip[int(target[62, 1]) + 1:int(y_lo - 0.4 * src_gap)].any(), \
        "no strip of lower lip is left hanging under the teeth"
    teeth = out[int(target[62, 1]) + 1:int(target[62, 1] + 0.45 * src_gap), x] @ LUMA
    assert np.all(teeth > 200), "the teeth stay with the upper lip"


def test_translation_moves_the_face_and_keeps_the_background(generator, face128):
    img, lmk = face128
    out = generator(img, lmk, (lmk + [4.0, 3.0])[None])[0]
    shifted = np.roll(img, (3, 4), axis=(0, 1))
    face = region_mask(128, lmk[[17, 26, 16, 12, 4, 0]] + [4.0, 3.0], erode=4)
    assert psnr(out[face], shifted[face]) > 40
    assert psnr(out[:1], img[:1]) > 40  # the top row sits against the fixed border points


def test_forehead_points_sit_above_the_brows_and_follow_the_head():
    lmk = mean_face_in_crop(128)
    src, dst = mesh_points(lmk, np.stack([lmk, lmk + [3.0, -2.0], lmk + [0.0, -60.0]]), 128)
    assert src.shape == (N_POINTS, 2) and dst.shape == (3, N_POINTS, 2)
    forehead = slice(68, 68 + N_FOREHEAD)
    np.testing.assert_array_equal(src[forehead], forehead_template(128))  # the mean face places the template as is
    brows = np.array([lmk[list(anchor)].mean(axis=0) for anchor in FOREHEAD_ANCHORS])
    assert np.all(src[forehead, 1] < brows[:, 1] - 5) and np.all(src[forehead, 1] > 1)  # above the brows, in the crop
    np.testing.assert_array_equal(dst[0], src)  # the source's own landmarks: nothing moves
    np.testing.assert_allclose(dst[1, forehead], src[forehead] + [3.0, -2.0], atol=1e-5)  # with the head
    np.testing.assert_array_equal(dst[:, 68 + N_FOREHEAD:], np.broadcast_to(src[-8:], (3, 8, 2)))
    assert np.all(dst[2, forehead, 1] == 1.0)  # a head leaving the crop: kept 1 px inside the border
    # Only the skull moves them: a jaw opening or a smile leaves them in place.
    talking = lmk.copy()
    talking[[p for p in range(68) if p not in HEAD_POINTS], 1] += 5.0
    np.testing.assert_array_equal(mesh_points(lmk, talking[None], 128)[1][0, forehead], src[forehead])


def test_the_hair_above_the_brows_moves_with_the_head(generator, face128):
    """A head that moves carries its forehead and hair: the textured band above the brows is the source's, moved
    as the head moved. The mesh without forehead points (pinned to the crop border right above the brows, the
    warp before them and the learned net's input still) stretches it instead."""
    img, lmk = face128
    shift = np.array([2.0, 5.0])
    targets = (lmk + shift)[None]
    moved = np.roll(img, (5, 2), axis=(0, 1))
    forehead = mesh_points(lmk, targets, 128)[1][0, 68:68 + N_FOREHEAD]
    band = region_mask(128, np.concatenate([lmk[17:27] + shift, forehead[::-1]]), erode=2)
    assert band.sum() > 500
    out = generator(img, lmk, targets)[0]
    assert psnr(out[band], moved[band]) > 40
    assert psnr(out[:1], img[:1]) > 40  # the top row still sits against the fixed border points
    pinned = WarpGenerator(forehead=False)(img, lmk, targets)[0]
    assert psnr(pinned[band], moved[band]) < 30  # 26.8 dB


def test_scaling_about_the_face_centre(generator, face128):
    img, lmk = face128
    centre, scale = lmk[27:36].mean(0), 1.06
    target = (lmk - centre) * scale + centre
    out = generator(img, lmk, target[None])[0]
    m = np.array([[scale, 0, (1 - scale) * centre[0]], [0, scale, (1 - scale) * centre[1]]])
    expected = cv2.warpAffine(img, m, (128, 128), flags=cv2.INTER_LINEAR)
    face = region_mask(128, target[[17, 26, 16, 12, 4, 0]], erode=4)
    assert psnr(out[face], expected[face]) > 35


def mouth_pixels(frame: np.ndarray, lmk: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Luma and row of the pixels inside the inner-lip polygon (1 px in from its edge)."""
    inside = region_mask(frame.shape[0], lmk[list(INNER_LIPS)], erode=1)
    rows = np.nonzero(inside)[0]
    return (frame[inside] @ LUMA) / 255.0, rows


def test_opening_paints_a_dark_cavity_under_a_band_of_teeth(generator, face128):
    img, lmk = face128
    target = open_mouth(lmk, 7.0)
    out = generator(img, lmk, target[None])[0]
    luma, rows = mouth_pixels(out, target)
    lips = region_mask(128, lmk[48:60]) & ~region_mask(128, lmk[list(INNER_LIPS)])
    lip_luma = float(np.median(img[lips] @ LUMA) / 255.0)
    dark, bright = luma < 0.6 * lip_luma, luma > lip_luma
    assert dark.mean() > 0.3, "a dark cavity fills much of the opening"
    assert bright.mean() > 0.15, "teeth, brighter than the lips, show"
    assert rows[bright].mean() < rows[dark].mean(), "teeth hang from the upper lip"
    # Not smeared lip colour: few pixels inside look like the lips.
    lip_rgb = np.median(img[lips], axis=0)
    inside = region_mask(128, target[list(INNER_LIPS)], erode=1)
    like_lips = np.linalg.norm(out[inside].astype(float) - lip_rgb, axis=1) < 25
    assert like_lips.mean() < 0.1
    # Lips themselves survive: upper lip above the opening still lip-coloured.
    upper_lip = region_mask(128, target[[49, 50, 51, 52, 53, 63, 62, 61]], erode=1)
    assert np.linalg.norm(np.median(out[upper_lip], 0) - np.median(img[upper_lip], 0)) < 25


def test_lips_stretched_into_a_smile_bare_lit_teeth(generator, face128):
    """The same opening with the mouth corners pulled out (a smile): the teeth are brighter than in speech's
    shadow, as tall, and hang from the upper lip still."""
    img, lmk = face128
    speech = open_mouth(lmk, 7.0)
    smile = speech.copy()
    centre = smile[48:68, 0].mean()
    smile[48:68, 0] = centre + 1.25 * (smile[48:68, 0] - centre)  # the mouth 25 % wider
    talking, smiling = generator(img, lmk, np.stack([speech, smile]))
    (luma_talk, _), (luma_smile, rows) = mouth_pixels(talking, speech), mouth_pixels(smiling, smile)
    assert np.percentile(luma_smile, 90) > np.percentile(luma_talk, 90) + 0.05
    bright = luma_smile > np.percentile(luma_smile, 75)
    assert rows[bright].mean() < rows[~bright].mean(), "teeth hang from the upper lip"


def test_a_closed_target_mouth_gets_no_cavity(generator, face128):
    img, lmk = face128
    target = lmk.copy()
    target[5:12, 1] += 1.5  # chin moves, lips stay closed
    target[48:68] += [0.5, 0.8]
    out = generator(img, lmk, target[None])[0]
    mouth = region_mask(128, target[48:60], erode=1)
    assert (out[mouth] @ LUMA).min() >= (img[region_mask(128, lmk[48:60])] @ LUMA).min() - 8


def test_cavity_grows_with_the_opening(generator, face128):
    img, lmk = face128
    openings = [0.0, 2.0, 4.0, 8.0]
    out = generator(img, lmk, np.stack([open_mouth(lmk, px) for px in openings]))
    box = (slice(int(lmk[51, 1]) - 2, int(lmk[57, 1]) + 10), slice(int(lmk[48, 0]), int(lmk[54, 0])))
    dark = [int(((f[box] @ LUMA) < 60).sum()) for f in out]
    assert dark[0] == 0 and dark == sorted(dark) and dark[-1] > dark[1]


def test_batches_match_single_frames(generator, face128):
    img, lmk = face128
    rng = np.random.default_rng(1)
    track = np.stack([open_mouth(lmk, px) + rng.normal(0, 0.7, lmk.shape) for px in np.linspace(0, 8, 5)])
    together = generator(img, lmk, track.astype(np.float32), batch_size=32)
    in_pairs = generator(img, lmk, track.astype(np.float32), batch_size=2)
    assert np.abs(together.astype(int) - in_pairs.astype(int)).max() <= 1


def test_works_at_256(generator):
    lmk = closed_mouth_landmarks(256)
    img = draw_face(256, lmk)
    out = generator(img, lmk, np.stack([lmk, open_mouth(lmk, 14.0)]))
    assert out.shape == (2, 256, 256, 3) and out.dtype == np.uint8
    assert psnr(out[0], img) > 40
    luma, _ = mouth_pixels(out[1], open_mouth(lmk, 14.0))
    assert (luma < 0.25).mean() > 0.2


def test_bad_inputs_raise_clear_errors(generator, face128):
    img, lmk = face128
    with pytest.raises(StageInputError, match="source crop"):
        generator(img[:, :100], lmk, lmk[None])
    with pytest.raises(StageInputError, match="target landmarks"):
        generator(img, lmk, lmk)
    with pytest.raises(StageInputError, match="NaN"):
        generator(img, lmk, np.full((1, 68, 2), np.nan, np.float32))


@pytest.fixture(scope="module")
def grid_clip(grid_root):
    """First 40 frames of one GRID clip as 128 crops with their tracked crop landmarks."""
    from talkface.face_crop import crop_face, crop_transform
    from talkface.landmarks import track_video
    from talkface.media import read_video

    frames = read_video(grid_root / "s1" / "bbaf2n.mp4", with_audio=False).frames[:40]
    track = track_video(frames)
    transform = crop_transform(track[0], 128)
    crops = np.stack([crop_face(f, transform) for f in frames])
    return crops, transform.to_crop(track).astype(np.float32)


def test_grid_frame_identity_real_track_and_opened_mouth(generator, grid_clip):
    from talkface.landmarks import mouth_opening

    crops, lmk = grid_clip
    assert psnr(generator(crops[0], lmk[0], lmk[:1])[0], crops[0]) > 40

    driven = generator(crops[0], lmk[0], lmk)
    assert np.mean([psnr(a, b) for a, b in zip(driven, crops)]) > 22
    dark = [int(((f[region_mask(128, m[48:60])] @ LUMA) < 70).sum()) for f, m in zip(driven, lmk)]
    assert np.corrcoef(dark, mouth_opening(lmk))[0, 1] > 0.8, "the cavity follows the real opening"

    target = open_mouth(lmk[0], 6.0)
    luma, rows = mouth_pixels(generator(crops[0], lmk[0], target[None])[0], target)
    lips = region_mask(128, lmk[0, 48:60]) & ~region_mask(128, lmk[0, list(INNER_LIPS)])
    lip_luma = float(np.median(crops[0][lips] @ LUMA) / 255.0)
    dark_px, bright_px = luma < 0.6 * lip_luma, luma > lip_luma
    assert dark_px.mean() > 0.3 and bright_px.mean() > 0.1
    assert rows[bright_px].mean() < rows[dark_px].mean()
