"""The training-free lmk2video default: piecewise-affine warp plus mouth-interior synthesis, and eyes opened
wider than the photo's read rigidly (the iris keeps its shape).

numpy and OpenCV only (lmk2video/warp.py, lmk2video/mouth.py, lmk2video/eyes.py): loading and running it imports no torch, so a
render with it (`talkface edit`, `--lmk2video warp`) starts without torch's seconds of import.
"""

from __future__ import annotations

import numpy as np

from lmk2video.eyes import render_eyes
from lmk2video.mouth import estimate_appearance, render_mouth
from lmk2video.triangulation import mesh_points, triangles
from lmk2video.warp import mesh_coordinates, sample
from talkface.contracts import FrameStream, check_lmk2video_inputs


class WarpGenerator:
    """Animate one face crop along a landmark track, without any learned weights.

    Crop-level: the pipeline crops the photo, calls this, and pastes the frames back. Resolution-free:
    a crop of any size is warped at that size. interpolation "bicubic" (default) keeps a photo's grain
    sharper through the warp; "bilinear" is what the learned generator was trained to expect, and so is
    forehead=False (the mesh without its forehead points, lmk2video/triangulation.py).

    device: accepted for the stage contract and ignored: the warp always runs on the CPU (cv2 computes a
    512-px frame in milliseconds there, and its frames are pasted into the photo on the CPU anyway).
    """

    def __init__(self, device: object = "cpu", interpolation: str = "bicubic", forehead: bool = True) -> None:
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

    def layers(self, source_crop: np.ndarray, source_lmk: np.ndarray, target_lmks: np.ndarray, look=None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(coords (T, N, N, 2), plain (T, N, N, 3), painted (T, N, N, 3)) float32: `motion`'s coordinates and
        moved source, and the mouth interior painted over it as a difference in 0-255 levels (it also takes
        the moved source back into 0-255 where the bicubic read overshoots)."""
        coords, plain = self.motion(source_crop, source_lmk, target_lmks)
        if look is None:
            look = estimate_appearance(source_crop, source_lmk)
        source = np.asarray(source_crop, np.float32) / 255
        moved = plain / 255
        painted = render_mouth(moved.copy(), target_lmks, source, source_lmk, look)
        render_eyes(painted, target_lmks, source, source_lmk)
        np.clip(painted, 0.0, 1.0, out=painted)
        painted -= moved
        painted *= 255.0
        return coords, plain, painted

    def __call__(self, source_crop: np.ndarray, source_lmk: np.ndarray, target_lmks: np.ndarray,
                 batch_size: int = 32) -> np.ndarray:
        """source_crop (N, N, 3) uint8, source_lmk (68, 2) and target_lmks (T, 68, 2) in crop
        pixel coordinates -> (T, N, N, 3) uint8 frames, `batch_size` at a time (bounds memory)."""
        source_crop, source_lmk, target_lmks = check_lmk2video_inputs(source_crop, source_lmk, target_lmks)
        look = estimate_appearance(source_crop, source_lmk)
        frames = np.empty((len(target_lmks), *source_crop.shape), np.uint8)
        for start in range(0, len(target_lmks), batch_size):
            _, plain, painted = self.layers(source_crop, source_lmk, target_lmks[start:start + batch_size], look)
            frames[start:start + len(plain)] = np.clip(plain + painted + 0.5, 0.0, 255.0)  # round half up
        return frames

    def motion(self, source_crop: np.ndarray, source_lmk: np.ndarray, target_lmks: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
        """The warp's geometry alone, for a renderer that moves the full-resolution photo itself:
        (T, N, N, 2) float32 source-crop coordinates each target pixel is read from, and (T, N, N, 3)
        float32 the source crop moved by them (0-255, no mouth painting) -- what the frames of any
        generator differ from only where it paints (mouth interior, learned corrections)."""
        source_crop, source_lmk, target_lmks = check_lmk2video_inputs(source_crop, source_lmk, target_lmks)
        src_pts, dst_pts = mesh_points(source_lmk, target_lmks, source_crop.shape[0], self.forehead)
        coords = mesh_coordinates(src_pts, dst_pts, self.triangles, source_crop.shape[0])
        image = np.asarray(source_crop, np.float32)
        plain = np.empty((*coords.shape[:3], 3), np.float32)
        for frame_coords, out in zip(coords, plain):
            out[...] = sample(image, frame_coords, self.interpolation)
        return coords, plain
