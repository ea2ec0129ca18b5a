"""Multi-band (Laplacian-pyramid) blending: the seam-free way to put one image into another.

Each frequency band is blended through the mask blurred to that band's scale (Burt & Adelson 1983):
coarse colour and shading cross over a wide zone, fine grain and edges over a narrow one, so neither
a colour step nor a soft halo shows at the boundary whatever the image size.
"""

from __future__ import annotations

import cv2
import numpy as np

MIN_LEVEL_SIDE = 8  # stop the pyramid when the smaller side would drop below this


def pyramid_levels(shape: tuple[int, ...], max_levels: int = 5) -> int:
    """How many levels (>= 1) a pyramid of an image of `shape` gets."""
    side, levels = min(shape[:2]), 1
    while levels < max_levels and side // 2 >= MIN_LEVEL_SIDE:
        side //= 2
        levels += 1
    return levels


def _gaussian_pyramid(image: np.ndarray, levels: int) -> list[np.ndarray]:
    out = [image]
    for _ in range(levels - 1):
        out.append(cv2.pyrDown(out[-1]))
    return out


def multiband_blend(base: np.ndarray, top: np.ndarray, alpha: np.ndarray, levels: int | None = None) -> np.ndarray:
    """base*(1-alpha) + top*alpha, band by band. base and top (H, W, C) float32, alpha (H, W) float32 in
    [0, 1]. Returns (H, W, C) float32. Where alpha is 0 over the support of every band's mask, base is kept."""
    if base.shape != top.shape or alpha.shape != base.shape[:2]:
        raise ValueError(f"multiband_blend: base {base.shape}, top {top.shape}, alpha {alpha.shape} do not match")
    levels = pyramid_levels(base.shape) if levels is None else max(1, levels)
    diff = np.ascontiguousarray(top - base, np.float32)  # blending the difference halves the pyramids
    masks = _gaussian_pyramid(np.ascontiguousarray(alpha, np.float32), levels)
    gauss = _gaussian_pyramid(diff, levels)
    out = gauss[-1] * masks[-1][..., None]
    for level in range(levels - 2, -1, -1):
        size = gauss[level].shape[1::-1]
        band = gauss[level] - cv2.pyrUp(gauss[level + 1], dstsize=size)
        out = cv2.pyrUp(out, dstsize=size) + band * masks[level][..., None]
    if out.ndim == 2:
        out = out[..., None]
    return base + out.reshape(base.shape)
