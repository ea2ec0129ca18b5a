"""Eyes opened wider than in the photo (AU5: surprise, fear): the eyeball stays, the lids move over it.

A warp stretches whatever lies between the lids, so an eye opened wider gets a taller iris instead of more white
above it. Where a target eye opens more than the source's, its interior is read rigidly instead: the source at
the same place relative to the eye corners (the eyeball turns with the head, it does not stretch), and what the
source's lids covered there is painted: the iris's circle in its own colour, the rest sclera, shaded under the
upper lid. Eyes that open no wider than the photo's (speech, blinks) keep the warp: this changes nothing there.

numpy and OpenCV only, like the rest of the training-free renderer.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from lmk2video.mouth import LUMA, smoothstep
from lmk2video.warp import sample

# Each eye as corner, upper lid (two points), corner, lower lid (two points), iBUG-68 order.
EYES = ((36, (37, 38), 39, (41, 40)), (42, (43, 44), 45, (47, 46)))
IRIS_RADIUS = 0.2  # of the eye's corner-to-corner width (an iris is ~11.7 mm across, the eye ~29 mm wide)
WIDER_START, WIDER_FULL = 1.03, 1.15  # target / source opening at which the rigid read starts and takes over
# The lids' shadows on the eyeball: this much darker just inside each lid, fading over the reach (of the eye's width).
UPPER_SHADOW, UPPER_REACH = 0.3, 0.12
LOWER_SHADOW, LOWER_REACH = 0.25, 0.06


@dataclass(frozen=True)
class EyeFrame:
    """An eye's frame in one face: origin at the outer corner (of the image's left), u along the corners (0..1),
    y across (pixels, positive down), and its lids as (u, y) knots from corner to corner."""

    origin: np.ndarray
    axis_u: np.ndarray
    axis_y: np.ndarray
    width: float
    upper: tuple[np.ndarray, np.ndarray]
    lower: tuple[np.ndarray, np.ndarray]

    @classmethod
    def of(cls, landmarks: np.ndarray, eye: tuple) -> "EyeFrame":
        first, upper, last, lower = eye
        origin = landmarks[first].astype(np.float64)
        axis = landmarks[last] - origin
        width = max(float(np.hypot(*axis)), 1e-3)
        axis_u = axis / width
        axis_y = np.array([-axis_u[1], axis_u[0]])

        def chain(points) -> tuple[np.ndarray, np.ndarray]:
            rel = landmarks[[first, *points, last]] - origin
            u = np.maximum.accumulate(np.clip(rel @ axis_u / width, 0.0, 1.0))
            return u, rel @ axis_y

        return cls(origin, axis_u, axis_y, width, chain(upper), chain(lower))

    def to_eye(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rel = xy - self.origin
        return rel @ self.axis_u / self.width, rel @ self.axis_y

    def to_image(self, u: np.ndarray, y: np.ndarray) -> np.ndarray:
        return self.origin + (u * self.width)[..., None] * self.axis_u + y[..., None] * self.axis_y

    def lids(self, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.interp(u, *self.upper), np.interp(u, *self.lower)

    def opening(self) -> float:
        """Mean lid gap over the corner-to-corner width."""
        u = np.linspace(0.2, 0.8, 7)
        up, lo = self.lids(u)
        return float(np.maximum(lo - up, 0.0).mean() / self.width)


@dataclass(frozen=True)
class EyeLook:
    """What the source shows of one eye: the iris's centre (u, y in its EyeFrame) and colour, the sclera's colour
    (RGB in [0, 1])."""

    iris_u: float
    iris_y: float
    iris: np.ndarray
    sclera: np.ndarray


def estimate_eye(source: np.ndarray, frame: EyeFrame) -> EyeLook | None:
    """The iris and sclera of a source eye (source (N, N, 3) float32 in [0, 1]); None when too little of it shows."""
    far = frame.to_image(np.array(1.0), np.array(0.0))  # the other corner
    lo = np.floor(np.minimum(frame.origin, far) - frame.width).astype(int)
    hi = np.ceil(np.maximum(frame.origin, far) + frame.width).astype(int)
    lo, hi = np.maximum(lo, 0), np.minimum(hi, np.array(source.shape[1::-1]) - 1)
    ys, xs = np.mgrid[lo[1]:hi[1] + 1, lo[0]:hi[0] + 1]
    u, y = frame.to_eye(np.stack([xs, ys], -1).reshape(-1, 2).astype(np.float64))
    up, down = frame.lids(u)
    inside = (u > 0.05) & (u < 0.95) & (y > up + 0.5) & (y < down - 0.5)
    if inside.sum() < 12:
        return None
    pixels = source[ys.reshape(-1)[inside], xs.reshape(-1)[inside]]
    luma = pixels @ LUMA
    dark = luma <= np.percentile(luma, 35)
    bright = luma >= np.percentile(luma, 85)
    radius = IRIS_RADIUS * frame.width
    # The iris's centre: across, the dark pixels' mean; down, its circle resting on the lowest dark pixels (the
    # upper lid usually hides its top, so their mean sits too low).
    iris_u = float(u[inside][dark].mean())
    iris_y = float(np.percentile(y[inside][dark], 95) - radius)
    return EyeLook(iris_u, iris_y, pixels[dark].mean(0), pixels[bright].mean(0) * 0.9)


def render_eyes(frames: np.ndarray, target_lmk: np.ndarray, source: np.ndarray, source_lmk: np.ndarray
                ) -> np.ndarray:
    """Eyes opened wider than the source's, read rigidly and painted (module doc), in place. frames (B, N, N, 3)
    float32 in [0, 1] (the warp output), target_lmk (B, 68, 2), source (N, N, 3) float32 in [0, 1], source_lmk
    (68, 2). Returns frames."""
    n = frames.shape[1]
    for eye in EYES:
        src = EyeFrame.of(np.asarray(source_lmk, np.float64), eye)
        src_opening = max(src.opening(), 1e-3)
        look = None
        for frame, lmk in zip(frames, np.asarray(target_lmk, np.float64)):
            tgt = EyeFrame.of(lmk, eye)
            wider = float(smoothstep(WIDER_START, WIDER_FULL, tgt.opening() / src_opening))
            if wider <= 0:
                continue
            if look is None:
                look = estimate_eye(source, src)
                if look is None:
                    break
            points = lmk[[eye[0], *eye[1], eye[2], *eye[3]]]
            x0, y0 = np.maximum(np.floor(points.min(0)).astype(int) - 2, 0)
            x1, y1 = np.minimum(np.ceil(points.max(0)).astype(int) + 3, n)
            if x1 <= x0 or y1 <= y0:
                continue
            ys, xs = np.mgrid[y0:y1, x0:x1]
            u, y = tgt.to_eye(np.stack([xs, ys], -1).astype(np.float64))
            up, down = tgt.lids(u)
            inside = np.clip(np.minimum(y - up, down - y) + 0.5, 0.0, 1.0) * (u > 0) * (u < 1)
            # The same place on the eyeball in the source: the same u, the same distance from the corners' line
            # in eye widths (no vertical stretch).
            y_src = y * (src.width / tgt.width)
            read = sample(source, src.to_image(u, y_src).astype(np.float32))
            s_up, s_down = src.lids(u)
            shown = np.clip(np.minimum(y_src - s_up, s_down - y_src) + 0.5, 0.0, 1.0)[..., None]
            distance = np.hypot((u - look.iris_u) * src.width, y_src - look.iris_y)
            iris = np.clip(IRIS_RADIUS * src.width - distance + 0.5, 0.0, 1.0)[..., None]
            painted = look.sclera + iris * (look.iris - look.sclera)
            shade = (1.0 - UPPER_SHADOW * (1.0 - smoothstep(0.0, UPPER_REACH * tgt.width, y - up))
                     - LOWER_SHADOW * (1.0 - smoothstep(0.0, LOWER_REACH * tgt.width, down - y)))
            colour = shown * read + (1.0 - shown) * painted * shade[..., None]
            alpha = (inside * wider)[..., None]
            window = frame[y0:y1, x0:x1]
            frame[y0:y1, x0:x1] = window + alpha * (colour - window)
    return frames
