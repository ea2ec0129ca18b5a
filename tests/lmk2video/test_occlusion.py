"""The occlusion test the dub runs (lmk2video/occlusion.py) on a drawn talking face: a skin-coloured blob over
the chin is found on exactly its frames, a clean face is never flagged; the outlier rule, the run rule and the
residuals' numpy helpers."""

import cv2
import numpy as np

from lmk2video.occlusion import LowerFaces, _mean_3x3, _nanmedian, occluded, outliers, runs
from talkface.landmarks.normalize import MEAN_SHAPE

SKIN = np.array([205.0, 160.0, 135.0])


def talking_face(n: int, seed: int = 0) -> tuple[list[np.ndarray], np.ndarray]:
    """n frames (200 x 200) of a drawn face whose mouth and jaw open and close irregularly, the head drifting a
    little, with camera noise; and its (n, 68, 2) landmarks."""
    rng = np.random.default_rng(seed)
    wall = cv2.GaussianBlur(rng.uniform(40, 120, (200, 200, 3)), (0, 0), 3)
    skin_grain = cv2.GaussianBlur(rng.normal(0, 12, (200, 200)), (0, 0), 2)[..., None]
    opening = np.clip(np.convolve(rng.uniform(-0.05, 0.3, n + 4), np.ones(5) / 5, "valid"), 0, 0.3)
    frames, landmarks = [], []
    for t in range(n):
        pts = MEAN_SHAPE.astype(np.float64).copy()
        pts[[*range(55, 60), *range(65, 68)]] += [0.0, opening[t]]       # lower lip
        pts[range(4, 13)] += [0.0, 0.6 * opening[t]]                     # jaw
        pts = pts * 45 + [100 + 2 * np.sin(t / 7), 70 + np.cos(t / 9)]
        frame = wall.copy()
        cv2.fillPoly(frame, [np.round(cv2.convexHull(pts[[*range(17), *range(17, 27)]].astype(np.float32))).astype(np.int32)],
                     SKIN.tolist())
        frame += skin_grain * (frame[..., :1] > 150)
        cv2.fillPoly(frame, [np.round(pts[48:60]).astype(np.int32)], (170, 70, 80))      # lips
        cv2.fillPoly(frame, [np.round(pts[60:68]).astype(np.int32)], (60, 20, 30))       # mouth inside
        for eye in (pts[36:42], pts[42:48]):
            cv2.fillPoly(frame, [np.round(eye).astype(np.int32)], (40, 30, 30))
        frame += rng.normal(0, 2, frame.shape)
        frames.append(np.clip(np.rint(frame), 0, 255).astype(np.uint8))
        landmarks.append(pts.astype(np.float32))
    return frames, np.stack(landmarks)


def cover_chin(frame: np.ndarray, lmk: np.ndarray) -> np.ndarray:
    """A hand-like skin blob over chin and lower lip (lit a little brighter than the face)."""
    out = frame.copy()
    centre = np.round((lmk[57] + lmk[8]) / 2).astype(int)
    cv2.ellipse(out, tuple(int(c) for c in centre), (32, 16), 15, 0, 360, (SKIN * 1.1).clip(0, 255).tolist(), -1)
    return out


def collect(frames, landmarks) -> LowerFaces:
    faces = LowerFaces()
    for t, (frame, lmk) in enumerate(zip(frames, landmarks)):
        faces.offer(frame, lmk, t)
    return faces


def test_a_clean_talking_face_is_never_flagged():
    frames, landmarks = talking_face(150)
    assert not occluded(collect(frames, landmarks), fps=25.0).any()


def test_a_blob_over_the_chin_is_flagged_on_exactly_its_frames():
    frames, landmarks = talking_face(150, seed=1)
    covered = np.zeros(len(frames), bool)
    covered[60:90] = True  # 1.2 s of 6 s
    frames = [cover_chin(f, lmk) if c else f for f, lmk, c in zip(frames, landmarks, covered)]
    np.testing.assert_array_equal(occluded(collect(frames, landmarks), fps=25.0), covered)


def test_frame_indices_follow_the_collected_frames():
    frames, landmarks = talking_face(60, seed=2)
    faces = LowerFaces()
    for t in range(0, 60, 2):  # every other frame (the others lost)
        faces.offer(frames[t], landmarks[t], t)
    assert faces.frame_index == list(range(0, 60, 2))
    assert all(c.shape == faces.crops[0].shape and c.dtype == np.uint8 for c in faces.crops)
    assert occluded(faces, fps=25.0).shape == (30,)


def test_outliers_see_through_a_third_of_the_frames_occluded():
    rng = np.random.default_rng(0)
    scores = np.exp(rng.normal(np.log(3.0), 0.1, 90))
    scores[30:60] *= 3.0  # a third of the video occluded: a two-sided MAD would hide it
    flags = outliers(scores)
    np.testing.assert_array_equal(flags, np.arange(90) // 30 == 1)


def test_outliers_need_a_clear_excess_and_enough_frames():
    rng = np.random.default_rng(1)
    tight = np.exp(rng.normal(np.log(3.0), 0.01, 90))
    tight[40:45] *= 1.5  # many spreads away, but less than twice the typical residual: not an occluder
    assert not outliers(tight).any()
    tight[40:45] *= 2.0
    assert outliers(tight)[40:45].all() and outliers(tight).sum() == 5
    assert not outliers(np.array([3.0, 3.0, 30.0, 3.0])).any()  # too few frames to judge
    assert not outliers(np.full(20, np.nan)).any()


def test_runs_close_one_frame_gaps_and_drop_short_runs():
    flags = np.zeros(20, bool)
    flags[[2, 3, 5, 6, 12, 13]] = True
    out = runs(flags, min_run=3)
    np.testing.assert_array_equal(np.flatnonzero(out), [2, 3, 4, 5, 6])


def test_the_residuals_helpers_lower_median_without_nans_and_3x3_mean_inside_the_image():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 9, 5)).astype(np.float32)
    x[rng.random(x.shape) < 0.4] = np.nan
    x[0, :, 0] = np.nan  # a column with nothing: NaN
    got = _nanmedian(x, 1)
    for i, k in np.ndindex(6, 5):
        kept = np.sort(x[i, :, k][~np.isnan(x[i, :, k])])
        assert np.isnan(got[i, k]) if kept.size == 0 else got[i, k] == kept[(kept.size - 1) // 2]
    images = rng.uniform(0, 50, (2, 5, 7)).astype(np.float32)
    padded = np.pad(images, ((0, 0), (1, 1), (1, 1)), constant_values=np.nan)
    windows = np.stack([padded[:, dy:dy + 5, dx:dx + 7] for dy in range(3) for dx in range(3)])
    np.testing.assert_allclose(_mean_3x3(images), np.nanmean(windows, axis=0), rtol=1e-5)
