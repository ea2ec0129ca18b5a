"""The training-free lmk2video default: piecewise-affine warp plus mouth-interior synthesis."""

from __future__ import annotations

import numpy as np
import torch

from lmk2video.mouth import estimate_appearance, render_mouth
from lmk2video.triangulation import mesh_points, triangles
from lmk2video.warp import mesh_coordinates, one_cpu_thread, piecewise_affine_warp, sample
from talkface.contracts import FrameStream, check_lmk2video_inputs


class WarpGenerator:
    """Animate one face crop along a landmark track, without any learned weights.

    Crop-level: the pipeline crops the photo, calls this, and pastes the frames back. Resolution-free:
    a crop of any size is warped at that size. interpolation "bicubic" (default) keeps a photo's grain
    sharper through the warp; "bilinear" is what the learned generator was trained to expect, and so is
    forehead=False (the mesh without its forehead points, lmk2video/triangulation.py).
    """

    def __init__(self, device: str | torch.device = "cpu", interpolation: str = "bicubic", forehead: bool = True
                 ) -> None:
        self.device = torch.device(device)
        self.interpolation = interpolation
        self.forehead = forehead
        self.triangles = triangles(forehead)

    def stream(self, source_crop: np.ndarray, source_lmk: np.ndarray, batch_size: int = 32) -> FrameStream:
        """Chunk-by-chunk rendering (the lmk2video contract); the warp carries no state from chunk to chunk."""
        return FrameStream(lambda target_lmks, state: (self(source_crop, source_lmk, target_lmks, batch_size), state))

    def overlay_stream(self, source_crop: np.ndarray, source_lmk: np.ndarray) -> FrameStream:
        """Chunks of (coords, painted) (the lmk2video contract): the mesh motion and the mouth interior
        painted over the source moved by it (what `stream`'s frames add to the plain warp)."""
        source_crop, source_lmk, _ = check_lmk2video_inputs(source_crop, source_lmk, np.zeros((0, 68, 2), np.float32))
        look = estimate_appearance(source_crop, source_lmk)  # once per photo, as `stream` does per chunk

        def step(target_lmks: np.ndarray, state):
            coords, _, painted = self.layers(source_crop, source_lmk, target_lmks, look)
            return (coords, painted), state

        return FrameStream(step)

    @torch.no_grad()
    def layers(self, source_crop: np.ndarray, source_lmk: np.ndarray, target_lmks: np.ndarray, look=None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(coords (T, N, N, 2), plain (T, N, N, 3), painted (T, N, N, 3)) float32: `motion`'s coordinates and
        moved source, and the mouth interior painted over it as a difference in 0-255 levels (on the CPU)."""
        coords, plain = self.motion(source_crop, source_lmk, target_lmks)
        if look is None:
            look = estimate_appearance(source_crop, source_lmk)
        with one_cpu_thread():
            source = torch.from_numpy(np.asarray(source_crop)).permute(2, 0, 1)[None].float() / 255
            moved = torch.from_numpy(plain).permute(0, 3, 1, 2) / 255
            mouthed = render_mouth(moved.clone(), torch.from_numpy(np.asarray(target_lmks, np.float32)), source,
                                   torch.from_numpy(np.asarray(source_lmk, np.float32)), look)
            painted = ((mouthed.clamp(0.0, 1.0) - moved) * 255.0).permute(0, 2, 3, 1).numpy()
        return coords, plain, np.ascontiguousarray(painted, np.float32)

    def __call__(self, source_crop: np.ndarray, source_lmk: np.ndarray, target_lmks: np.ndarray,
                 batch_size: int = 32) -> np.ndarray:
        """source_crop (N, N, 3) uint8, source_lmk (68, 2) and target_lmks (T, 68, 2) in crop
        pixel coordinates -> (T, N, N, 3) uint8 frames."""
        with one_cpu_thread(self.device):
            return self._generate(source_crop, source_lmk, target_lmks, batch_size)

    @torch.no_grad()
    def motion(self, source_crop: np.ndarray, source_lmk: np.ndarray, target_lmks: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
        """The warp's geometry alone, for a renderer that moves the full-resolution photo itself:
        (T, N, N, 2) float32 source-crop coordinates each target pixel is read from, and (T, N, N, 3)
        float32 the source crop moved by them (0-255, no mouth painting) -- what the frames of any
        generator differ from only where it paints (mouth interior, learned corrections). On the CPU."""
        source_crop, source_lmk, target_lmks = check_lmk2video_inputs(source_crop, source_lmk, target_lmks)
        size = source_crop.shape[0]
        src_pts, dst_pts = mesh_points(source_lmk, target_lmks, size, self.forehead)
        with one_cpu_thread():
            coords = mesh_coordinates(torch.from_numpy(src_pts), torch.from_numpy(dst_pts), self.triangles, size)
            image = torch.from_numpy(source_crop).permute(2, 0, 1)[None].float()
            plain = sample(image, coords, self.interpolation).permute(0, 2, 3, 1)
        return coords.numpy(), plain.numpy()

    @torch.no_grad()
    def _generate(self, source_crop: np.ndarray, source_lmk: np.ndarray, target_lmks: np.ndarray,
                  batch_size: int) -> np.ndarray:
        source_crop, source_lmk, target_lmks = check_lmk2video_inputs(source_crop, source_lmk, target_lmks)
        size = source_crop.shape[0]
        look = estimate_appearance(source_crop, source_lmk)
        src_pts, all_dst_pts = mesh_points(source_lmk, target_lmks, size, self.forehead)
        src_pts = torch.from_numpy(src_pts).to(self.device)
        src_lmk = torch.from_numpy(source_lmk).to(self.device)
        image = torch.from_numpy(source_crop).to(self.device).permute(2, 0, 1)[None].float() / 255

        frames = np.empty((len(target_lmks), size, size, 3), np.uint8)
        for start in range(0, len(target_lmks), batch_size):
            lmk = torch.from_numpy(target_lmks[start:start + batch_size]).to(self.device)
            dst_pts = torch.from_numpy(all_dst_pts[start:start + batch_size]).to(self.device)
            warped = piecewise_affine_warp(image, src_pts, dst_pts, self.triangles, self.interpolation)
            out = render_mouth(warped, lmk, image, src_lmk, look)
            out = (out.clamp(0.0, 1.0) * 255.0 + 0.5).to(torch.uint8)  # round half up
            frames[start:start + len(lmk)] = out.permute(0, 2, 3, 1).cpu().numpy()
        return frames

