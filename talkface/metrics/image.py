"""Per-frame image metrics (PSNR, SSIM) on whole face crops and on a fixed mouth crop.

SSIM follows Wang et al. 2004 (Gaussian window 11x11, sigma 1.5, K1=0.01, K2=0.03, population
covariance) computed on each RGB channel and averaged over channels, i.e. the same number as
``skimage.metrics.structural_similarity(a, b, channel_axis=-1, gaussian_weights=True, sigma=1.5,
use_sample_covariance=False, data_range=255)``. RGB rather than luminance so that colour errors
(e.g. a wrong skin tone inside the mouth) count, and so that the number is reproducible with skimage.
skimage pads by reflection and then drops a 5-pixel border from the mean; we filter and drop the
same border, so the padding never enters the result and ours equals skimage's up to float32 rounding.

PSNR of two identical frames is capped at ``PSNR_CAP_DB`` (100 dB) instead of being infinite:
clip scores are means over frames, and the copy-the-first-frame baseline reproduces frame 0
exactly, which would otherwise turn every such clip mean into inf.
"""

from __future__ import annotations

import cv2
import numpy as np

from talkface.landmarks.indices import MOUTH

PSNR_CAP_DB = 100.0
SSIM_SIGMA = 1.5
SSIM_RADIUS = 5  # skimage: int(truncate 3.5 * sigma 1.5 + 0.5) -> an 11-tap window
SSIM_K1, SSIM_K2 = 0.01, 0.03
_GAUSS = np.exp(-np.arange(-SSIM_RADIUS, SSIM_RADIUS + 1) ** 2 / (2 * SSIM_SIGMA**2))
_GAUSS = (_GAUSS / _GAUSS.sum()).astype(np.float32)
_CHUNK_PIXELS = 250_000  # frames*H*W*C per SSIM chunk: working set stays in cache (2x faster than one big chunk)


def _as_video(gen: np.ndarray, real: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Check shapes and give both as (T, H, W, C)."""
    gen, real = np.asarray(gen), np.asarray(real)
    if gen.shape != real.shape:
        raise ValueError(f"shape mismatch: generated {gen.shape} vs real {real.shape}")
    if gen.ndim != 4 or len(gen) == 0:
        raise ValueError(f"expected (T, H, W, C) frames with T >= 1, got shape {gen.shape}")
    return gen, real


def _as_image(a: np.ndarray) -> np.ndarray:
    """(H, W) or (H, W, C) -> (1, H, W, C)."""
    a = np.asarray(a)
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3:
        raise ValueError(f"expected an (H, W) or (H, W, C) image, got shape {a.shape}")
    return a[None]


def frame_psnr(gen: np.ndarray, real: np.ndarray, data_range: float = 255.0) -> np.ndarray:
    """PSNR in dB of each frame pair of two (T, H, W, C) videos -> (T,), capped at PSNR_CAP_DB."""
    gen, real = _as_video(gen, real)
    diff = gen.reshape(len(gen), -1).astype(np.float64) - real.reshape(len(real), -1)
    mse = np.einsum("ij,ij->i", diff, diff) / diff.shape[1]
    floor = data_range**2 * 10 ** (-PSNR_CAP_DB / 10)  # the MSE at which PSNR reaches the cap
    return 10 * np.log10(data_range**2 / np.maximum(mse, floor))


def frame_ssim(gen: np.ndarray, real: np.ndarray, data_range: float = 255.0) -> np.ndarray:
    """SSIM of each frame pair of two (T, H, W, C) videos -> (T,), averaged over channels."""
    gen, real = _as_video(gen, real)
    t, h, w, c = gen.shape
    if min(h, w) < 2 * SSIM_RADIUS + 1:
        raise ValueError(f"SSIM needs frames of at least {2 * SSIM_RADIUS + 1} px, got {h}x{w}")
    step = max(1, _CHUNK_PIXELS // (h * w * c))
    chunks = [_ssim_chunk(gen[i : i + step], real[i : i + step], data_range) for i in range(0, t, step)]
    return np.concatenate(chunks)


def _ssim_chunk(gen: np.ndarray, real: np.ndarray, data_range: float) -> np.ndarray:
    t, h, w, c = gen.shape
    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    x = gen.transpose(0, 3, 1, 2).astype(np.float32)
    y = real.transpose(0, 3, 1, 2).astype(np.float32)
    # Four maps to blur, not five: SSIM only needs var_x + var_y, so blur x^2 + y^2 once.
    maps = np.empty((4, t, c, h, w), np.float32)
    maps[0], maps[1] = x, y
    np.multiply(x, y, out=maps[3])
    np.add(np.square(x, out=x), np.square(y, out=y), out=maps[2])
    # Planar (N*H, W) single-channel layout is cv2's fast path; rows of neighbouring planes only
    # mix within SSIM_RADIUS of a plane's edge, which is cropped away just like skimage does.
    r = SSIM_RADIUS
    blurred = cv2.sepFilter2D(maps.reshape(-1, w), -1, _GAUSS, _GAUSS, borderType=cv2.BORDER_REFLECT)
    mu_x, mu_y, sq, xy = blurred.reshape(4, t * c, h, w)[:, :, r : h - r, r : w - r].copy()
    mu_xy = mu_x * mu_y
    mu_sq = np.square(mu_x, out=mu_x)
    mu_sq += np.square(mu_y, out=mu_y)
    num = xy - mu_xy  # covariance
    num *= 2
    num += c2
    den = sq - mu_sq  # var_x + var_y
    den += c2
    mu_sq += c1
    den *= mu_sq
    mu_xy *= 2
    mu_xy += c1
    num *= mu_xy
    num /= den
    return num.reshape(t, -1).mean(axis=1, dtype=np.float64)


def psnr(a: np.ndarray, b: np.ndarray, data_range: float = 255.0) -> float:
    """PSNR in dB of one (H, W) or (H, W, C) image pair; identical images give PSNR_CAP_DB."""
    return float(frame_psnr(_as_image(a), _as_image(b), data_range)[0])


def ssim(a: np.ndarray, b: np.ndarray, data_range: float = 255.0) -> float:
    """SSIM of one (H, W) or (H, W, C) image pair (RGB: mean over channels)."""
    return float(frame_ssim(_as_image(a), _as_image(b), data_range)[0])


def video_psnr_ssim(gen: np.ndarray, real: np.ndarray) -> dict[str, float]:
    """Mean over frames of per-frame PSNR and SSIM of two (T, H, W, 3) uint8 videos."""
    return {"psnr": float(frame_psnr(gen, real).mean()), "ssim": float(frame_ssim(gen, real).mean())}


def mouth_box(
    crop_landmarks: np.ndarray, size: int, margin: float = 0.3, min_side: int = 16
) -> tuple[int, int, int, int]:
    """Square mouth box (x0, y0, x1, y1), x1/y1 exclusive, inside a size x size crop.

    Placed from the first frame's landmarks when given (T, 68, 2): the box stays fixed for the
    clip so that the metric sees the lips move instead of a box that follows them. The bounding
    box of the 20 mouth points is squared around its centre and grown by ``margin`` of its side
    on each side; it is shifted (not shrunk) to stay inside the crop.
    """
    lmk = np.asarray(crop_landmarks, dtype=np.float64)
    if lmk.ndim == 3:
        lmk = lmk[0]
    if lmk.shape != (68, 2):
        raise ValueError(f"expected (68, 2) or (T, 68, 2) landmarks, got shape {np.shape(crop_landmarks)}")
    mouth = lmk[list(MOUTH)]
    lo, hi = mouth.min(axis=0), mouth.max(axis=0)
    side = int(round(max(hi - lo) * (1 + 2 * margin)))
    side = min(max(side, min_side), size)
    centre = (lo + hi) / 2
    x0, y0 = (int(np.clip(round(v - side / 2), 0, size - side)) for v in centre)
    return x0, y0, x0 + side, y0 + side


def mouth_psnr_ssim(
    gen: np.ndarray, real: np.ndarray, real_crop_landmarks: np.ndarray, margin: float = 0.3
) -> dict[str, float]:
    """PSNR/SSIM on the mouth box placed from the first real frame's crop landmarks."""
    gen, real = _as_video(gen, real)
    x0, y0, x1, y1 = mouth_box(real_crop_landmarks, min(real.shape[1:3]), margin)
    return video_psnr_ssim(gen[:, y0:y1, x0:x1], real[:, y0:y1, x0:x1])
