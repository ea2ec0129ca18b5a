"""Piecewise-affine backward warp of one source image onto many target meshes, in numpy and OpenCV.

For each target frame every pixel is assigned the mesh triangle that covers it (cv2 fills ~140 small triangles per
frame in well under a millisecond); the triangle's affine map takes the pixel back to source coordinates, and
`cv2.remap` reads the source there. No torch: the training-free renderer (lmk2video/warp_generator.py) runs on this
alone, and nothing needs the warp differentiable (the learned generator's training gets its warped inputs as data,
lmk2video/conditioning.py), so this is the one implementation, for inference and training alike.

Reads match torch's grid_sample (align_corners, border padding; bicubic a = -0.75 in both) to float rounding with
OpenCV 5 (measured: moved crops within 0.01 grey levels, frames within 1 level); OpenCV 4 builds are expected to
round each read's position to 1/32 pixel (fixed-point tables; not measured here), at most 1/64 pixel's worth of the
image's slope.
"""

from __future__ import annotations

import cv2
import numpy as np

_SUBPIXEL_BITS = 8  # cv2 fixed-point precision for triangle vertices
_MIN_DET = 1e-6  # |det| below this: a collapsed target triangle (e.g. a closed mouth)
INTERPOLATIONS = {"bilinear": cv2.INTER_LINEAR, "bicubic": cv2.INTER_CUBIC}


def triangle_affines(src_pts: np.ndarray, dst_pts: np.ndarray, tri: np.ndarray) -> np.ndarray:
    """Per-triangle affine maps from target (dst) to source coordinates.

    src_pts (P, 2) or one per target (B, P, 2), dst_pts (B, P, 2), tri (F, 3) -> (B, F + 1, 6) float32 rows
    (a, b, c, d, e, f) with source = (a x + b y + c, d x + e y + f); the extra last entry is
    the identity, used for pixels no triangle covers. Closed-form 2x2 inverses in float64.
    """
    tri = np.asarray(tri)
    dst = np.asarray(dst_pts, np.float64)[:, tri]  # (B, F, 3, 2)
    src = np.broadcast_to(np.asarray(src_pts, np.float64)[..., tri, :], dst.shape)
    d1, d2 = dst[:, :, 1] - dst[:, :, 0], dst[:, :, 2] - dst[:, :, 0]  # target edges (B, F, 2)
    s1, s2 = src[:, :, 1] - src[:, :, 0], src[:, :, 2] - src[:, :, 0]
    det = d1[..., 0] * d2[..., 1] - d2[..., 0] * d1[..., 1]
    collapsed = np.abs(det) < _MIN_DET
    inv_det = 1.0 / np.where(collapsed, 1.0, det)
    # [s1 s2] @ inverse([d1 d2]): the linear part mapping target edges onto source edges.
    lin = np.stack([
        (s1[..., 0] * d2[..., 1] - s2[..., 0] * d1[..., 1]) * inv_det,
        (s2[..., 0] * d1[..., 0] - s1[..., 0] * d2[..., 0]) * inv_det,
        (s1[..., 1] * d2[..., 1] - s2[..., 1] * d1[..., 1]) * inv_det,
        (s2[..., 1] * d1[..., 0] - s1[..., 1] * d2[..., 0]) * inv_det,
    ], axis=-1)
    # A collapsed triangle covers at most a line of pixels: move them with its centroid.
    lin = np.where(collapsed[..., None], [1.0, 0.0, 0.0, 1.0], lin)
    t_anchor = np.where(collapsed[..., None], dst.mean(axis=2), dst[:, :, 0])
    s_anchor = np.where(collapsed[..., None], src.mean(axis=2), src[:, :, 0])
    off_x = s_anchor[..., 0] - lin[..., 0] * t_anchor[..., 0] - lin[..., 1] * t_anchor[..., 1]
    off_y = s_anchor[..., 1] - lin[..., 2] * t_anchor[..., 0] - lin[..., 3] * t_anchor[..., 1]
    rows = np.stack([lin[..., 0], lin[..., 1], off_x, lin[..., 2], lin[..., 3], off_y], axis=-1)
    identity = np.broadcast_to([1.0, 0.0, 0.0, 0.0, 1.0, 0.0], (len(rows), 1, 6))
    return np.concatenate([rows, identity], axis=1).astype(np.float32)


def rasterize_triangle_ids(dst_pts: np.ndarray, tri: np.ndarray, size: int) -> np.ndarray:
    """(B, P, 2) target points -> (B, size, size) uint8 map of the covering triangle's index
    (len(tri) where none covers). Triangles are drawn in `tri` order; later ones win."""
    if len(tri) >= 255:
        raise ValueError(f"rasterize_triangle_ids: {len(tri)} triangles do not fit uint8 ids")
    fixed = np.round(np.asarray(dst_pts, np.float64) * (1 << _SUBPIXEL_BITS)).astype(np.int32)
    ids = np.full((len(fixed), size, size), len(tri), np.uint8)
    for frame_pts, frame_ids in zip(np.ascontiguousarray(fixed[:, tri]), ids):
        for f, corners in enumerate(frame_pts):
            cv2.fillConvexPoly(frame_ids, corners, f, shift=_SUBPIXEL_BITS)
    return ids


def source_coordinates(affines: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """affines (B, F+1, 6), ids (B, H, W) uint8 -> (B, H, W, 2) float32 source pixel coordinates."""
    b, h, w = ids.shape
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    table = np.zeros((b, 256, 6), np.float32)  # each id's row by cv2.LUT: several times faster than numpy's gather
    table[:, :affines.shape[1]] = affines
    out = np.empty((b, h, w, 2), np.float32)
    for frame_table, frame_ids, frame_out in zip(table, ids, out):
        a, bb, c, d, e, f = (cv2.LUT(frame_ids, np.ascontiguousarray(column)) for column in frame_table.T)
        frame_out[..., 0] = a * x + bb * y + c
        frame_out[..., 1] = d * x + e * y + f
    return out


def mesh_coordinates(src_pts: np.ndarray, dst_pts: np.ndarray, tri: np.ndarray, size: int) -> np.ndarray:
    """(B, size, size, 2) float32: for each pixel of each target mesh dst_pts (B, P, 2), the source pixel
    coordinates (x, y) the piecewise-affine warp from src_pts (P, 2, or one per target) reads it from."""
    ids = rasterize_triangle_ids(dst_pts, tri, size)
    return source_coordinates(triangle_affines(src_pts, dst_pts, tri), ids)


def sample(image: np.ndarray, coords: np.ndarray, mode: str = "bilinear") -> np.ndarray:
    """Read image (H, W, C) at (h, w, 2) pixel coordinates -> (h, w, C) float32 (C <= 4), borders replicated:
    a coordinate off the image reads its nearest edge, as the mesh's border points expect."""
    image = np.asarray(image, np.float32)
    out = cv2.remap(image, np.ascontiguousarray(coords, np.float32), None, INTERPOLATIONS[mode],
                    borderMode=cv2.BORDER_REPLICATE)
    return out.reshape(*coords.shape[:2], *image.shape[2:])


def piecewise_affine_warp(image: np.ndarray, src_pts: np.ndarray, dst_pts: np.ndarray, tri: np.ndarray,
                          mode: str = "bilinear") -> np.ndarray:
    """Warp image (N, N, C) so that src_pts (P, 2) land on each of dst_pts (B, P, 2) -> (B, N, N, C) float32.

    Pixels outside every target triangle keep their place. mode "bicubic" keeps more of a sharp photo's grain than
    "bilinear" (each resampling softens; the pipeline does several)."""
    image = np.asarray(image, np.float32)
    return np.stack([sample(image, c, mode) for c in mesh_coordinates(src_pts, dst_pts, tri, image.shape[0])])


def warp_pairs(images: list[np.ndarray], src_pts: list[np.ndarray], dst_pts: list[np.ndarray],
               tri: np.ndarray) -> np.ndarray:
    """Bilinear piecewise-affine warp of each N x N x 3 image (its src points (P, 2) onto its dst points (P, 2)),
    each with its own mesh -> (B, N, N, 3) float32."""
    coords = mesh_coordinates(np.stack(src_pts), np.stack(dst_pts), tri, images[0].shape[0])
    return np.stack([sample(image, c) for image, c in zip(images, coords)])
