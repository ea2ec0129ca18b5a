"""Metrics: hand-computed cases, agreement with skimage, and FMS on a real GRID frame."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from talkface.errors import NoFaceError
from talkface.landmarks.detect import detect_landmarks
from talkface.metrics import (
    PSNR_CAP_DB,
    FaceDescriber,
    ced,
    ced_auc,
    failure_rate,
    fms,
    frame_psnr,
    frame_ssim,
    landmark_scores,
    lmd,
    mouth_box,
    mouth_opening_correlation,
    mouth_psnr_ssim,
    normalised_errors,
    psnr,
    ssim,
    video_psnr_ssim,
)
from talkface.metrics import image as image_metrics


def sk_ssim(a, b):
    channel_axis = -1 if a.ndim == 3 else None
    return structural_similarity(
        a, b, channel_axis=channel_axis, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255
    )


def structured_image(h=128, w=128, seed=0):
    """Smooth gradients, hard-edged shapes and texture: closer to a face crop than pure noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([xx * 255 / w, yy * 255 / h, (xx + yy) * 127 / (h + w) + 60], -1)
    for _ in range(6):
        centre = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        cv2.circle(img, centre, int(rng.integers(5, 30)), colour, -1)
    img += rng.normal(0, 8, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def jpeg(img, quality=20):
    """A realistically degraded copy (block artefacts, colour bleeding)."""
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)


# ---------------------------------------------------------------- PSNR / SSIM


def test_psnr_identical_is_capped():
    img = structured_image()
    assert psnr(img, img) == PSNR_CAP_DB
    # A clip mean stays finite when one frame is reproduced exactly (copy-the-first-frame baseline).
    video = np.stack([img, img])
    other = video.copy()
    other[1] = jpeg(img)
    assert math.isfinite(video_psnr_ssim(other, video)["psnr"])


def test_psnr_constant_offset():
    rng = np.random.default_rng(1)
    a = rng.integers(10, 240, (32, 40, 3), dtype=np.uint8)
    b = a + 2  # no wrap-around: every pixel differs by exactly 2 -> MSE 4
    assert psnr(a, b) == pytest.approx(10 * math.log10(255**2 / 4), abs=1e-9)
    assert psnr(a.astype(np.float64) / 255, b.astype(np.float64) / 255, data_range=1.0) == pytest.approx(
        10 * math.log10(255**2 / 4), abs=1e-6
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_psnr_ssim_match_skimage_on_noise(seed):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 256, (64, 96, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-40, 41, a.shape), 0, 255).astype(np.uint8)
    assert psnr(a, b) == pytest.approx(peak_signal_noise_ratio(b, a, data_range=255), abs=0.05)
    assert ssim(a, b) == pytest.approx(sk_ssim(a, b), abs=0.005)
    assert abs(ssim(a, b) - sk_ssim(a, b)) < 1e-5  # in fact equal up to float32 rounding


def test_ssim_matches_skimage_on_structured_and_grey_images():
    for seed, (h, w) in enumerate([(128, 128), (75, 131), (11, 11)]):
        a = structured_image(h, w, seed)
        b = jpeg(a)
        assert ssim(a, b) == pytest.approx(sk_ssim(a, b), abs=0.005)
        assert psnr(a, b) == pytest.approx(peak_signal_noise_ratio(a, b, data_range=255), abs=0.05)
        grey_a, grey_b = a[..., 0], b[..., 0]
        assert ssim(grey_a, grey_b) == pytest.approx(sk_ssim(grey_a, grey_b), abs=0.005)
    # A structural change (content shifted by 3 px) scores clearly lower than compression.
    a = structured_image()
    assert ssim(a, np.roll(a, 3, axis=1)) < ssim(a, jpeg(a, 60)) - 0.1


def test_ssim_of_image_with_itself_is_one():
    a = structured_image()
    assert ssim(a, a) == pytest.approx(1.0, abs=1e-6)
    flat = np.full((20, 20, 3), 77, np.uint8)
    assert ssim(flat, flat) == pytest.approx(1.0, abs=1e-6)


def test_ssim_rejects_tiny_or_mismatched_frames():
    with pytest.raises(ValueError):
        ssim(np.zeros((10, 10, 3), np.uint8), np.zeros((10, 10, 3), np.uint8))
    with pytest.raises(ValueError):
        frame_ssim(np.zeros((2, 16, 16, 3), np.uint8), np.zeros((2, 16, 17, 3), np.uint8))


def test_frame_metrics_are_per_frame_and_chunking_is_invisible(monkeypatch):
    frames = np.stack([structured_image(48, 48, s) for s in range(5)])
    degraded = np.stack([jpeg(f, 10 + 10 * i) for i, f in enumerate(frames)])
    per_frame = np.array([ssim(g, r) for g, r in zip(degraded, frames)])
    np.testing.assert_allclose(frame_ssim(degraded, frames), per_frame, atol=1e-9)
    np.testing.assert_allclose(frame_psnr(degraded, frames), [psnr(g, r) for g, r in zip(degraded, frames)])
    monkeypatch.setattr(image_metrics, "_CHUNK_PIXELS", 2 * 48 * 48 * 3)  # 2 frames per chunk
    np.testing.assert_allclose(frame_ssim(degraded, frames), per_frame, atol=1e-9)
    scores = video_psnr_ssim(degraded, frames)
    assert scores["ssim"] == pytest.approx(per_frame.mean())
    assert scores["psnr"] == pytest.approx(frame_psnr(degraded, frames).mean())


# ---------------------------------------------------------------- synthetic landmarks


def face_landmarks(iod=40.0, centre=(64.0, 60.0), gap=4.0):
    """A (68, 2) face: eye centres exactly iod apart, inner-lip pairs vertically aligned, lips `gap` apart."""
    cx, cy = centre
    rng = np.random.default_rng(0)
    lmk = np.empty((68, 2))
    lmk[:36] = rng.uniform([cx - iod, cy - iod * 0.5], [cx + iod, cy + iod * 1.8], (36, 2))
    hexagon = np.stack([np.cos(np.arange(6) * np.pi / 3) * 6, np.sin(np.arange(6) * np.pi / 3) * 3], 1)
    lmk[36:42] = hexagon + (cx - iod / 2, cy)
    lmk[42:48] = hexagon + (cx + iod / 2, cy)
    my = cy + iod
    angles = np.arange(12) * np.pi / 6
    lmk[48:60] = np.stack([cx - 16 * np.cos(angles), my - 8 * np.sin(angles)], 1)
    lmk[60], lmk[64] = (cx - 12, my), (cx + 12, my)
    xs = (cx - 6, cx, cx + 6)
    lmk[61:64] = [(x, my - gap / 2) for x in xs]  # upper inner lip, left to right
    lmk[65:68] = [(x, my + gap / 2) for x in xs[::-1]]  # lower inner lip, right to left
    return lmk


def talking_track(openings, iod=40.0):
    """(T, 68, 2) track whose inner-lip gap follows `openings` (in units of iod)."""
    return np.stack([face_landmarks(iod=iod, gap=o * iod) for o in openings])


# ---------------------------------------------------------------- mouth crop


def test_mouth_box_is_a_fixed_square_around_the_first_frame_mouth():
    lmk = face_landmarks()
    x0, y0, x1, y1 = mouth_box(lmk, 128)
    assert x1 - x0 == y1 - y0 == round(32 * 1.6)  # mouth bbox 32 px wide, margin 0.3 each side
    mouth = lmk[48:68]
    assert (mouth[:, 0] >= x0).all() and (mouth[:, 0] < x1).all()
    assert (mouth[:, 1] >= y0).all() and (mouth[:, 1] < y1).all()
    # (T, 68, 2): placed by frame 0 only.
    moved = np.stack([lmk, lmk + 20])
    assert mouth_box(moved, 128) == (x0, y0, x1, y1)
    # Near the crop's edge the box is shifted to stay inside, not shrunk.
    bx0, by0, bx1, by1 = mouth_box(lmk + (0, 50), 128)
    assert by1 == 128 and by1 - by0 == y1 - y0


def test_mouth_psnr_ssim_sees_only_the_mouth():
    real = np.stack([structured_image(128, 128, s) for s in range(3)])
    lmk = face_landmarks()
    x0, y0, x1, y1 = mouth_box(lmk, 128)
    outside = real.copy()
    outside[:, :y0 - 2] = 0  # damage above the mouth box only
    assert mouth_psnr_ssim(outside, real, lmk)["psnr"] == PSNR_CAP_DB
    assert mouth_psnr_ssim(outside, real, lmk)["ssim"] == pytest.approx(1.0, abs=1e-6)
    inside = real.copy()
    inside[:, y0:y1, x0:x1] = 255 - inside[:, y0:y1, x0:x1]
    scores = mouth_psnr_ssim(inside, real, lmk)
    assert scores == pytest.approx(video_psnr_ssim(inside[:, y0:y1, x0:x1], real[:, y0:y1, x0:x1]))
    assert scores["ssim"] < 0.5


# ---------------------------------------------------------------- landmark metrics


@pytest.mark.parametrize("k", [0.0, 0.05, 0.3])
def test_lmd_of_shift_by_k_interocular_is_k(k):
    iod = 40.0
    real = np.stack([face_landmarks(iod=iod), face_landmarks(iod=iod, centre=(70, 55))])
    # Every point moves by k*iod, each in its own direction.
    angles = np.random.default_rng(3).uniform(0, 2 * np.pi, (2, 68))
    pred = real + k * iod * np.stack([np.cos(angles), np.sin(angles)], -1)
    np.testing.assert_allclose(normalised_errors(pred, real), [k, k], atol=1e-12)
    assert lmd(pred, real) == pytest.approx(k)
    assert lmd(pred, real, points=range(48, 68)) == pytest.approx(k)


def test_lmd_mouth_only_and_normalised_by_real_frame():
    real = face_landmarks(iod=50.0)
    pred = real.copy()
    pred[48:68, 1] += 5.0  # mouth moved by 0.1 interocular
    assert lmd(pred, real, points=range(48, 68)) == pytest.approx(0.1)
    assert lmd(pred, real) == pytest.approx(0.1 * 20 / 68)
    # The real frame's interocular distance is the unit, whatever the prediction's eyes do.
    assert normalised_errors(real, pred)[0] == pytest.approx(0.1 * 20 / 68)
    bad_eyes = pred.copy()
    bad_eyes[36:48] *= 2
    assert normalised_errors(bad_eyes, real)[0] > normalised_errors(pred, real)[0]


def test_lmd_skips_frames_without_detection():
    real = np.stack([face_landmarks()] * 3)
    pred = real + (4.0, 0.0)  # 0.1 interocular
    pred[1] = np.nan
    errors = normalised_errors(pred, real)
    assert np.isnan(errors[1])
    assert lmd(pred, real) == pytest.approx(0.1)
    assert math.isnan(lmd(np.full_like(real, np.nan), real))


def test_ced_auc_and_failure_rate_by_hand():
    assert ced_auc(np.zeros(10)) == 1.0
    assert ced_auc(np.full(10, 0.1001)) == 0.0
    assert failure_rate(np.zeros(10)) == 0.0
    assert failure_rate(np.full(10, 0.1001)) == 1.0
    errors = np.array([0.0, 0.05, 0.2, np.nan])
    # Per frame the CED integral on [0, 0.1] is 0.1 - e (clipped at 0): (1 + 0.5 + 0 + 0) / 4.
    assert ced_auc(errors) == pytest.approx(0.375)
    assert failure_rate(errors) == pytest.approx(0.5)  # 0.2 and the no-face frame
    assert failure_rate(np.array([0.1])) == 0.0  # the threshold itself is not a failure


def test_ced_curve_and_its_area():
    errors = np.random.default_rng(4).uniform(0, 0.15, 500)
    thresholds, fractions = ced(errors, max_error=0.1, n=11)
    np.testing.assert_allclose(thresholds, np.linspace(0, 0.1, 11))
    assert fractions[0] == 0.0 and np.all(np.diff(fractions) >= 0)
    assert fractions[-1] == pytest.approx(np.mean(errors <= 0.1))
    assert fractions[-1] == pytest.approx(1 - failure_rate(errors))
    # The sampled curve's area converges to the exact AUC.
    t, f = ced(errors, n=20001)
    assert np.trapezoid(f, t) / 0.1 == pytest.approx(ced_auc(errors), abs=1e-3)


def test_mouth_opening_correlation():
    phase = np.linspace(0, 4 * np.pi, 75)
    opening = 0.1 + 0.08 * np.sin(phase)
    track = talking_track(opening)
    assert mouth_opening_correlation(track, track) == pytest.approx(1.0)
    inverted = talking_track(0.18 - 0.08 * np.sin(phase))
    assert mouth_opening_correlation(inverted, track) == pytest.approx(-1.0)
    # Scale and head position do not matter: opening is measured in interocular units.
    assert mouth_opening_correlation(talking_track(opening, iod=25.0) + 7, track) == pytest.approx(1.0)
    still = talking_track(np.full(75, 0.1))
    assert mouth_opening_correlation(still, track) == 0.0  # constant: defined as 0, not NaN
    assert mouth_opening_correlation(track, still) == 0.0


def test_landmark_scores_bundle():
    track = talking_track(0.1 + 0.05 * np.sin(np.linspace(0, 6, 30)))
    scores = landmark_scores(track, track)
    assert scores == {
        "lmd": 0.0, "mouth_lmd": 0.0, "ced_auc": 1.0, "failure_rate": 0.0, "mouth_opening_corr": pytest.approx(1.0)
    }


# ---------------------------------------------------------------- FMS


def test_fms_by_hand():
    source = np.zeros(128)
    gen = np.zeros((4, 128))
    gen[:, 0] = [0.3, 0.5, 0.7, np.nan]  # distances 0.3, 0.5, 0.7 and a frame with no face
    scores = fms(gen, source)
    assert scores["fms"] == pytest.approx(50.0)
    assert scores["mean_distance"] == pytest.approx(0.5)
    assert scores["no_face_frames"] == 1
    assert fms(gen, source, threshold=0.8)["fms"] == pytest.approx(75.0)


def read_frames(path, indices):
    cap = cv2.VideoCapture(str(path))
    frames, i = {}, 0
    while len(frames) < len(indices):
        ok, frame = cap.read()
        assert ok, f"{path}: could not read frame {i}"
        if i in indices:
            frames[i] = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        i += 1
    cap.release()
    return [frames[i] for i in indices]


@pytest.fixture(scope="module")
def describer():
    return FaceDescriber()


def test_fms_on_a_grid_clip(grid_root, describer):
    clip = sorted((grid_root / "s1").glob("*.mp4"))[0]
    first, later = read_frames(clip, [0, 50])
    source = describer.describe(first)  # HOG detection + 68-point shape
    assert source.shape == (128,) and np.isfinite(source).all()
    same = describer.describe(later)
    assert np.linalg.norm(same - source) < 0.6

    # Given landmarks, no detection is needed, and the detector's own shape gives the same descriptor.
    landmarks = detect_landmarks(first)
    np.testing.assert_allclose(describer.describe(first, landmarks), source, atol=1e-5)

    noise = np.random.default_rng(0).integers(0, 256, first.shape, dtype=np.uint8)
    with pytest.raises(NoFaceError):
        describer.describe(noise)
    assert np.linalg.norm(describer.describe(noise, landmarks) - source) > 0.6  # a face-shaped crop of noise
    h, w = first.shape[:2]
    stretched = cv2.resize(first, (4 * w, h))  # 4x wider (measured 0.81 away; 2x is still 0.49)
    assert np.linalg.norm(describer.describe(stretched, landmarks * (4, 1)) - source) > 0.6

    descriptors = describer.describe_batch(np.stack([later, noise]))
    assert np.isfinite(descriptors[0]).all() and np.isnan(descriptors[1]).all()
    tracked = describer.describe_batch(np.stack([first, first]), np.stack([landmarks, np.full_like(landmarks, np.nan)]))
    np.testing.assert_allclose(tracked[0], source, atol=1e-5)
    assert np.isnan(tracked[1]).all()  # a frame the tracker lost counts as no face
    scores = fms(descriptors, source)
    assert scores["fms"] == pytest.approx(50.0)  # the no-face frame counts as a failure
    assert scores["no_face_frames"] == 1 and scores["mean_distance"] < 0.6
