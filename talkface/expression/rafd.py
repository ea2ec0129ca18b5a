"""RaFD's landmarks (../shared/data/expr/rafd): neutral -> expression pairs of the same person, camera and gaze,
as iBUG-68 shapes in the neutral's normalised face frame. Training and evaluation only (reads shared data).

One face a line of `landmarks_{camera}.txt`: `<image name> <w>-<h> x1-y1 ... x106-y106`; the name holds the
person, expression and gaze: `Rafd090_01_Caucasian_female_angry_frontal.jpg`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from talkface.errors import TalkfaceError
from talkface.expression import EXPRESSIONS
from talkface.expression.facepp import to_ibug68
from talkface.expression.geometry import align_to
from talkface.landmarks.normalize import to_normalised

CAMERAS = (90, 45, 135)  # frontal first
GAZES = ("frontal", "left", "right")
DEFAULT_ROOT = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "expr" / "rafd"


def rafd_root(root: str | os.PathLike | None = None) -> Path:
    """The RaFD landmark folder: `root`, $TALKFACE_RAFD_ROOT or ../shared/data/expr/rafd beside the repository."""
    return Path(root or os.environ.get("TALKFACE_RAFD_ROOT", DEFAULT_ROOT))


def read_faces(root: str | os.PathLike | None, camera: int) -> dict[tuple[str, str, str], np.ndarray]:
    """{(person, expression, gaze): (68, 2) iBUG points in pixels} of one camera."""
    path = rafd_root(root) / f"landmarks_{camera}.txt"
    if not path.is_file():
        raise TalkfaceError(f"{path}: RaFD landmarks not found (set TALKFACE_RAFD_ROOT)")
    faces = {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        fields = parts[0].rsplit(".", 1)[0].split("_")
        if len(parts) != 2 + 106 or len(fields) != 6:
            raise TalkfaceError(f"{path}:{n}: expected '<name> <w>-<h>' and 106 'x-y' points")
        person, expression, gaze = fields[1], fields[4], fields[5]
        points = np.array([[float(v) for v in p.split("-")] for p in parts[2:]])
        faces[(person, expression, gaze)] = to_ibug68(points)
    return faces


@dataclass
class Pairs:
    """Neutral -> expression pairs: `neutral` (N, 68, 2) in the normalised frame, `target` (N, 68, 2) the
    expressive shape aligned onto it, `expression` (N,) index into EXPRESSIONS (never 0), `person` (N,) ids,
    `camera` (N,), `gaze` (N,)."""

    neutral: np.ndarray
    target: np.ndarray
    expression: np.ndarray
    person: np.ndarray
    camera: np.ndarray
    gaze: np.ndarray

    @property
    def displacement(self) -> np.ndarray:
        return self.target - self.neutral

    def select(self, mask: np.ndarray) -> "Pairs":
        return Pairs(*(getattr(self, f)[mask] for f in ("neutral", "target", "expression", "person", "camera", "gaze")))

    def __len__(self) -> int:
        return len(self.expression)


def load_pairs(root: str | os.PathLike | None = None, cameras: tuple[int, ...] = (90,)) -> Pairs:
    """Every neutral -> expression pair of the given cameras (same person, camera, gaze)."""
    rows = {k: [] for k in ("neutral", "target", "expression", "person", "camera", "gaze")}
    for camera in cameras:
        faces = read_faces(root, camera)
        for (person, expression, gaze), shape in sorted(faces.items()):
            neutral = faces.get((person, "neutral", gaze))
            if expression == "neutral" or neutral is None:
                continue
            if expression not in EXPRESSIONS:
                raise TalkfaceError(f"RaFD face {person} {expression} {gaze}: unknown expression")
            norm, sim = to_normalised(neutral)
            rows["neutral"].append(norm)
            rows["target"].append(align_to(sim.apply(shape), norm))
            rows["expression"].append(EXPRESSIONS.index(expression))
            rows["person"].append(person)
            rows["camera"].append(camera)
            rows["gaze"].append(gaze)
    return Pairs(*(np.asarray(rows[k], dtype=np.float32 if k in ("neutral", "target") else None)
                   for k in ("neutral", "target", "expression", "person", "camera", "gaze")))


# iBUG-68 index of each point's mirror image (as lmk2video/data.py FLIP_ORDER; the core may not import a stage).
MIRROR_ORDER = np.array(
    list(range(16, -1, -1)) + list(range(26, 21, -1)) + list(range(21, 16, -1)) + [27, 28, 29, 30, 35, 34, 33, 32, 31]
    + [45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40] + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55]
    + [64, 63, 62, 61, 60, 67, 66, 65])


def mirrored(pairs: Pairs) -> Pairs:
    """The same pairs mirrored left-right (x -> -x, points relabelled), re-normalised on the neutral."""
    flip = np.array([-1.0, 1.0], np.float32)
    neutral, sim = to_normalised(pairs.neutral[:, MIRROR_ORDER] * flip)
    target = sim.apply(pairs.target[:, MIRROR_ORDER] * flip)
    return Pairs(neutral.astype(np.float32), target.astype(np.float32), pairs.expression, pairs.person, pairs.camera,
                 pairs.gaze)
