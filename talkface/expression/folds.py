"""Where an expression folds the skin: how strongly each fold shows, and the creases' geometry on the face.

A warp moves skin but does not crease it. Three folds carry most of what a viewer reads as a real expression:
the nasolabial fold of a smile (lip corners pulled up and out along the zygomaticus major, AU12) with crow's feet at
the outer eye corners (the cheeks pushed up, AU6); the frown of anger (AU4: corrugator and procerus pull the brows
together and down): vertical furrows between the brows with the skin bunched into a mound between them, the
shadow the lowered brows cast on the upper lids and a crease under the tightened lower lids (AU7); and horizontal
lines across a forehead whose brows go up (AU1 + 2, surprise).

Their strength follows how far the expression moved the points that make them (the face with the expression
against the same frame without it), so they appear only where those units act, grow with the intensity and are
exactly zero for speech and head motion. All sizes are in interoculars (face proportions), so the folds scale with
the face. talkface/expression/shading.py draws them into the photo.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from talkface.landmarks.normalize import to_normalised

# Full-strength moves (interoculars, normalised frame): a fold is fully drawn once its points moved this far.
SMILE_FULL = 0.12  # lip corners up (plus half their move outwards)
FROWN_FULL = 0.06  # inner brows together (a lowered brow alone, as in a smile, makes no frown lines)
RAISE_FULL = 0.10  # brows up
# The zygomaticus major pulls the lip corner towards the cheekbone, at least ~30 deg out from straight up: a
# corner that goes up while moving inwards (lips pressed, chin pushed up, as in anger) is not a smile and makes
# no nasolabial fold or crow's feet. The smile's fold grows in full once the corners move out by this share of
# their rise (tan 30 deg).
SMILE_OUT_PER_UP = 0.58
MIN_STRENGTH = 1e-3  # weaker folds are not drawn (a thousandth of the deepest crease is far below a grey level)
CROWS_FEET_ANGLES = (-0.45, 0.0, 0.45)  # radians from the outward eye line, lines fanning from the outer eye corners
FOREHEAD_LINES = (0.3, 0.45, 0.6)  # heights of the forehead lines above the brows, interoculars
CROWS_FEET_STEPS = np.linspace(0.0, 0.1, 6)[:, None]  # points along a crow's foot, interoculars from its start
SIDES = np.array([[-1.0], [1.0]])  # the face's right (image left) and left, for both sides' folds at once
BROWS = np.array([range(17, 22), range(22, 27)])  # the brows, from the outer ends (right) or inner (left)
UPPER_LIDS = np.array([(39, 38, 37, 36), (45, 44, 43, 42)])  # back along the upper lids, under each brow
LOWER_LIDS = np.array([(36, 41, 40, 39), (42, 47, 46, 45)])  # along the lower lids, corner to corner
CROWS_FEET_COS = np.cos(CROWS_FEET_ANGLES)[:, None]
CROWS_FEET_SIN = np.sin(CROWS_FEET_ANGLES)[:, None]


def _unit(value: float) -> float:
    """`value` clipped to 0..1 as a Python float (np.clip costs microseconds on a scalar)."""
    return min(max(float(value), 0.0), 1.0)


def fold_strengths(rest: np.ndarray, expressed: np.ndarray) -> dict[str, float]:
    """How strongly each fold shows, 0 to 1, from the move of its points between the face at rest and expressed
    (both (68, 2) pixels), measured in the rest face's normalised frame."""
    rest_norm, sim = to_normalised(np.asarray(rest, np.float64))
    moved = sim.apply(np.asarray(expressed, np.float64))
    d = moved - rest_norm
    corners_up = -(d[48, 1] + d[54, 1]) / 2
    corners_out = (d[54, 0] - d[48, 0]) / 2
    together = (d[21, 0] - d[22, 0]) / 2
    raised = -d[17:27, 1].mean()
    pulled_out = _unit(corners_out / max(SMILE_OUT_PER_UP * corners_up, 1e-9))
    strengths = {
        "smile": _unit((corners_up + 0.5 * max(corners_out, 0.0)) / SMILE_FULL) * pulled_out,
        "frown": _unit(together / FROWN_FULL),
        "raise": _unit(raised / RAISE_FULL),
    }
    # Rounding in the frame's similarity is not an expression: below a thousandth of a fold, none.
    return {name: value if value >= MIN_STRENGTH else 0.0 for name, value in strengths.items()}


@dataclass(frozen=True)
class Crease:
    """One fold: its groove along `points` (n, 2) pixels; the shadow falls off over `shadow` interoculars on the
    side `towards` (a direction, pixels) points to, the bulge on the other side is lit over `bulge` interoculars
    with `lit` times the crease's strength; `groove` is the groove's own half width; `taper` (n,) scales the
    widths along the fold (a fold fades out at its ends)."""

    points: np.ndarray
    strength: float
    towards: np.ndarray
    groove: float = 0.008
    shadow: float = 0.04
    bulge: float = 0.08
    lit: float = 1.0
    taper: np.ndarray | None = None
    kind: str = "crease"  # or "shadow": a cast shadow over the closed polygon `points`; or "bulge": a round
    # highlight of radius `bulge` interoculars along `points`


def read_only(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)  # shared by every call from a cache: nobody may change it
    return array


@lru_cache(maxsize=None)
def _bezier_weights(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(n, 1) weights of a quadratic Bezier's start, control and end points (the same for every frame)."""
    t = np.linspace(0.0, 1.0, n)[:, None]
    return read_only((1 - t) ** 2), read_only(2 * (1 - t) * t), read_only(t ** 2)


def _bezier(a: np.ndarray, control: np.ndarray, b: np.ndarray, n: int = 16) -> np.ndarray:
    wa, wc, wb = _bezier_weights(n)
    return wa * a + wc * control + wb * b


def _brow_arch(brows: np.ndarray, origin: np.ndarray, x_unit: np.ndarray, down: np.ndarray, n: int = 24
               ) -> np.ndarray:
    """(n, 2): a smooth arch through the brows (a parabola fitted in the eye-line frame), from the second point
    of one brow to the second last of the other."""
    u = (brows - origin) @ x_unit
    v = (brows - origin) @ down
    fit = np.polyfit(u, v, 2)
    us = np.linspace(u[1], u[-2], n)
    return origin + us[:, None] * x_unit + np.polyval(fit, us)[:, None] * down


@lru_cache(maxsize=None)
def _fade(n: int, deepest: float = 0.5, floor: float = 0.3) -> np.ndarray:
    """(n,) widths along a fold: 1 at `deepest` (0 start .. 1 end), down to `floor` at its ends. Cached (read
    only): it depends on constants only, and is asked for by every fold of every frame."""
    t = np.linspace(0.0, 1.0, n)
    rise = np.where(t <= deepest, t / max(deepest, 1e-6), (1 - t) / max(1 - deepest, 1e-6))
    return read_only(floor + (1 - floor) * np.sin(0.5 * np.pi * np.clip(rise, 0, 1)))


def eyes_and_interocular(face: np.ndarray) -> tuple[tuple[np.ndarray, np.ndarray], float]:
    """The eyes' centres (right, left) and the interocular distance of a face (68, 2) float64 (np.mean and
    np.linalg.norm's arithmetic without their per-call cost)."""
    eyes = face[36:42].sum(0) / 6, face[42:48].sum(0) / 6
    across = eyes[1] - eyes[0]
    return eyes, math.sqrt(across @ across)


def fold_creases(face: np.ndarray, strengths: dict[str, float]) -> list[Crease]:
    """The creases (and cast shadows) of the folds on the expressed face (68, 2) pixels."""
    face = np.asarray(face, np.float64)
    eyes, iod = eyes_and_interocular(face)
    across = eyes[1] - eyes[0]
    x_unit = across / max(iod, 1e-6)
    down = np.array([-x_unit[1], x_unit[0]])  # image down, perpendicular to the eye line
    folds = []
    smile, frown, raised = strengths["smile"], strengths["frown"], strengths["raise"]
    if smile > 0:
        # Both sides at once (rows: the face's right, in the image left, then its left): from the nose's wings
        # to beside the lip corners.
        out = SIDES * x_unit
        start = face[[31, 35]] + iod * (0.10 * out - 0.02 * down)
        end = face[[48, 54]] + iod * (0.09 * out + 0.10 * down)
        bulge = (start + end) / 2 + iod * 0.07 * out
        for line, outwards in zip(_bezier(start[:, None], bulge[:, None], end[:, None]), out):
            # Deepest in its upper third, beside the nose; the shadow towards the lips, the cheek bulge outside.
            folds.append(Crease(line, smile, towards=-outwards + 0.3 * down, groove=0.010, shadow=0.07,
                                bulge=0.12, taper=_fade(len(line), deepest=0.3, floor=0.25)))
        for eye_corner, side in ((36, -1.0), (45, 1.0)):
            # All lines of one eye at once: (lines, 2) rays, (lines, points, 2) lines.
            rays = side * x_unit * CROWS_FEET_COS + down * CROWS_FEET_SIN
            starts = face[eye_corner] + iod * 0.07 * rays
            lines = starts[:, None] + iod * CROWS_FEET_STEPS * rays[:, None]
            for line in lines:
                # Fine lines: the skin rolls above each one face down, into the shadow.
                folds.append(Crease(line, 0.6 * smile, towards=-down, groove=0.005, shadow=0.015, bulge=0.025,
                                    lit=0.5, taper=_fade(len(line), deepest=0.3, floor=0.2)))
    if frown > 0:
        centre = (face[21] + face[22]) / 2
        half_gap = 0.5 * float(np.linalg.norm(face[22] - face[21]))
        # The furrows lie between the bunched brow heads, a little over half way out from the midline, and run
        # up from the brow heads' lower edge about a quarter of an interocular (~1.5 cm), fading upwards. Both
        # sides at once.
        base = centre + SIDES * 0.55 * half_gap * x_unit + iod * 0.03 * down
        top = base - iod * 0.2 * down
        lines = _bezier(base[:, None], ((base + top) / 2 + iod * SIDES * 0.01 * x_unit)[:, None], top[:, None], n=10)
        for line, inwards in zip(lines, -SIDES * x_unit):
            # The corrugators push the brow heads in (their bulge, outside the furrows, catches the light); the
            # skin between the furrows rolls into them (the shadow falls towards the midline).
            folds.append(Crease(line, 0.8 * frown, towards=inwards, groove=0.004, shadow=0.045,
                                bulge=0.06, taper=_fade(len(line), deepest=0.3, floor=0.2)))
        # The procerus bunches the skin of the glabella into a mound between the furrows.
        mound = centre - iod * 0.05 * down
        folds.append(Crease(np.stack([mound - iod * 0.03 * down, mound + iod * 0.03 * down]), 0.6 * frown,
                            towards=x_unit, groove=0.0, shadow=0.0, bulge=0.035, kind="bulge"))
        # Both eyes at once: the closed polygons from the brows to the upper lids, and the lower lids.
        areas = np.concatenate([face[BROWS] + iod * 0.02 * down, face[UPPER_LIDS] - iod * 0.02 * down], axis=1)
        pts = face[LOWER_LIDS]
        lids = _bezier(pts[:, None, 0], (pts[:, 1] + pts[:, 2] - (pts[:, 0] + pts[:, 3]) / 2
                                         + iod * 0.10 * down)[:, None], pts[:, None, 3], n=10)
        for area, line in zip(areas, lids):
            folds.append(Crease(np.concatenate([area, area[:1]]), 0.8 * frown, towards=down, kind="shadow"))
            # AU7: the tightened lower lid bulges, a crease beneath it.
            folds.append(Crease(line, 0.5 * frown, towards=down, groove=0.006, shadow=0.025, bulge=0.04,
                                lit=0.0, taper=_fade(len(line), floor=0.1)))
    if raised > 0:
        arch = _brow_arch(face[17:27], eyes[0], x_unit, down)
        for height in FOREHEAD_LINES:
            # The roll of skin above each furrow faces down into shadow; the one below faces up into the light.
            folds.append(Crease(arch - iod * height * down, raised * (1.2 - height), towards=-down, groove=0.008,
                                shadow=0.03, bulge=0.06, lit=0.7, taper=_fade(len(arch), floor=0.15)))
    return folds

