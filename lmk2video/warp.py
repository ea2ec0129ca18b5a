"""Piecewise-affine backward warp of one source image onto many target meshes.

For each target frame every pixel is assigned the mesh triangle that covers it (cv2 fills
~140 small triangles per frame in well under a millisecond); the triangle's affine map takes
the pixel back to source coordinates, and `grid_sample` reads the source there. Everything
after the per-frame rasterisation is batched torch on the chosen device.
"""

from __future__ import annotations

from contextlib import contextmanager

import cv2
import numpy as np
import torch
import torch.nn.functional as F

_SUBPIXEL_BITS = 8  # cv2 fixed-point precision for triangle vertices
_MIN_DET = 1e-6  # |det| below this: a collapsed target triangle (e.g. a closed mouth)


@contextmanager
def one_cpu_thread(device: torch.device | str = "cpu"):
    """Run a warp on one intra-op thread on CPU: its tensors are small (N <= 512), and extra threads cost more in
    synchronisation than they gain (measured 4x slower with 2 threads on a busy 2-core box)."""
    if torch.device(device).type != "cpu":
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def triangle_affines(src_pts: torch.Tensor, dst_pts: torch.Tensor,
                     tri: torch.Tensor) -> torch.Tensor:
    """Per-triangle affine maps from target (dst) to source coordinates.

    src_pts (P, 2) or one per target (B, P, 2), dst_pts (B, P, 2), tri (F, 3) -> (B, F + 1, 6) float32 rows
    (a, b, c, d, e, f) with source = (a x + b y + c, d x + e y + f); the extra last entry is
    the identity, used for pixels no triangle covers. Closed-form 2x2 inverses in float64.
    """
    dst = dst_pts.double()[:, tri]  # (B, F, 3, 2)
    src = src_pts.double()[..., tri, :].expand(dst.shape[0], -1, -1, -1)
    d1, d2 = dst[:, :, 1] - dst[:, :, 0], dst[:, :, 2] - dst[:, :, 0]  # target edges (B, F, 2)
    s1, s2 = src[:, :, 1] - src[:, :, 0], src[:, :, 2] - src[:, :, 0]
    det = d1[..., 0] * d2[..., 1] - d2[..., 0] * d1[..., 1]
    collapsed = det.abs() < _MIN_DET
    inv_det = 1.0 / torch.where(collapsed, torch.ones_like(det), det)
    # [s1 s2] @ inverse([d1 d2]): the linear part mapping target edges onto source edges.
    lin = torch.stack([
        (s1[..., 0] * d2[..., 1] - s2[..., 0] * d1[..., 1]) * inv_det,
        (s2[..., 0] * d1[..., 0] - s1[..., 0] * d2[..., 0]) * inv_det,
        (s1[..., 1] * d2[..., 1] - s2[..., 1] * d1[..., 1]) * inv_det,
        (s2[..., 1] * d1[..., 0] - s1[..., 1] * d2[..., 0]) * inv_det,
    ], dim=-1)
    # A collapsed triangle covers at most a line of pixels: move them with its centroid.
    eye = torch.tensor([1.0, 0.0, 0.0, 1.0], dtype=lin.dtype, device=lin.device)
    lin = torch.where(collapsed[..., None], eye, lin)
    t_anchor = torch.where(collapsed[..., None], dst.mean(dim=2), dst[:, :, 0])
    s_anchor = torch.where(collapsed[..., None], src.mean(dim=2), src[:, :, 0])
    off_x = s_anchor[..., 0] - lin[..., 0] * t_anchor[..., 0] - lin[..., 1] * t_anchor[..., 1]
    off_y = s_anchor[..., 1] - lin[..., 2] * t_anchor[..., 0] - lin[..., 3] * t_anchor[..., 1]
    rows = torch.stack([lin[..., 0], lin[..., 1], off_x, lin[..., 2], lin[..., 3], off_y], -1)
    identity = torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 0.0], dtype=rows.dtype, device=rows.device)
    return torch.cat([rows, identity.expand(rows.shape[0], 1, 6)], dim=1).float()


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


def pixel_grid(size: int, device: torch.device | str) -> torch.Tensor:
    """(size, size, 2) pixel-centre coordinates (x, y)."""
    r = torch.arange(size, dtype=torch.float32, device=device)
    y, x = torch.meshgrid(r, r, indexing="ij")
    return torch.stack([x, y], dim=-1)


def source_coordinates(affines: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """affines (B, F+1, 6), ids (B, H, W) -> (B, H, W, 2) source pixel coordinates."""
    b, h, w = ids.shape
    per_pixel = torch.gather(affines, 1, ids.reshape(b, -1, 1).long().expand(-1, -1, 6))
    per_pixel = per_pixel.reshape(b, h, w, 6)
    xy = pixel_grid(h, ids.device)
    x, y = xy[..., 0], xy[..., 1]
    a, bb, c, d, e, f = per_pixel.unbind(-1)
    return torch.stack([a * x + bb * y + c, d * x + e * y + f], dim=-1)


def sample(image: torch.Tensor, coords: torch.Tensor, mode: str = "bilinear") -> torch.Tensor:
    """Bilinear (or `mode`) read of image (1 or B, C, H, W) at (B, h, w, 2) pixel coordinates -> (B, C, h, w)."""
    h, w = image.shape[-2:]
    scale = torch.tensor([2.0 / (w - 1), 2.0 / (h - 1)], device=coords.device)
    grid = coords * scale - 1.0
    image = image.expand(coords.shape[0], -1, -1, -1)
    return F.grid_sample(image, grid, mode=mode, padding_mode="border", align_corners=True)


def piecewise_affine_warp(image: torch.Tensor, src_pts: torch.Tensor, dst_pts: torch.Tensor,
                          tri: np.ndarray, mode: str = "bilinear") -> torch.Tensor:
    """Warp image (1, C, N, N) float so that src_pts (P, 2) land on each of dst_pts (B, P, 2).

    Returns (B, C, N, N). Pixels outside every target triangle keep their place. mode "bicubic" keeps
    more of a sharp photo's grain than "bilinear" (each resampling softens; the pipeline does several).
    """
    return sample(image, mesh_coordinates(src_pts, dst_pts, tri, image.shape[-1]).to(image.device), mode)


def mesh_coordinates(src_pts: torch.Tensor, dst_pts: torch.Tensor, tri: np.ndarray, size: int) -> torch.Tensor:
    """(B, size, size, 2): for each pixel of each target mesh dst_pts (B, P, 2), the source pixel
    coordinates (x, y) the piecewise-affine warp from src_pts (P, 2) reads it from."""
    ids = rasterize_triangle_ids(dst_pts.detach().cpu().numpy(), tri, size)
    ids = torch.from_numpy(ids).to(dst_pts.device)
    tri_t = torch.tensor(tri, device=dst_pts.device)  # a copy: the shared mesh is read-only
    affines = triangle_affines(src_pts, dst_pts, tri_t)
    return source_coordinates(affines, ids)


def warp_pairs(images: list[np.ndarray], src_pts: list[np.ndarray], dst_pts: list[np.ndarray],
               tri: np.ndarray) -> np.ndarray:
    """Piecewise-affine warp of each N x N x 3 image (its src points (P, 2) onto its dst points (P, 2)), each
    with its own mesh, on one CPU thread -> (B, N, N, 3) float32."""
    with one_cpu_thread():
        tri_t = torch.from_numpy(np.array(tri))
        dst = np.stack(dst_pts).astype(np.float32)
        ids = torch.from_numpy(rasterize_triangle_ids(dst, tri, images[0].shape[0]))
        affines = triangle_affines(torch.from_numpy(np.stack(src_pts).astype(np.float32)), torch.from_numpy(dst), tri_t)
        stack = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float()
        return sample(stack, source_coordinates(affines, ids)).permute(0, 2, 3, 1).numpy()
