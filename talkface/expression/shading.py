"""Folds an expression puts in the skin (talkface/expression/folds.py), shaded into the photo: the
attention-and-colour idea of GANimation without learned weights (no expressive images of other people exist here
to learn them from).

A fold is not a line drawn on the skin but a crease between two bulges, lit from the front and above: its own
groove is darkest, the shadow falls off softly on the side the bulge overhangs (the undercut), and the bulge on
the other side faces the light and catches a little more of it. So each crease here is a darkening with a sharp
edge on the bulge side and a ramp on the shadow side, plus a weak, broad brightening over the bulge. The colour
change only scales the photo's own pixels (darker in the crease, at most MAX_DARKENING; brighter on the bulge, at
most MAX_HIGHLIGHT): texture and colour stay the photo's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import cv2
import numpy as np

from talkface.expression.folds import Crease, eyes_and_interocular, fold_creases, fold_strengths, read_only

MAX_DARKENING = 0.22  # the deepest point of a crease keeps 78 % of the skin's light
MAX_HIGHLIGHT = 0.06  # the lit bulge beside a crease takes at most 6 % more light
SOFTNESS = 0.013  # blur sigma of a crease's groove, interoculars
HIGHLIGHT_SOFTNESS = 0.030  # blur sigma of a bulge's highlight, interoculars (a bulge is broad and round)
AREA_SOFTNESS = 0.040  # blur sigma of a cast shadow (the brows over the lids), interoculars
# Skin is translucent: light scattered under it comes out reddened, so its shadows are warmer than a grey multiply
# (red loses less than green and blue; the shadow side of a fold looks ruddy, not pencilled).
SHADOW_TINT = np.array([0.8, 1.0, 1.0], np.float32)  # share of the darkening each of R, G, B takes (RGB frames)
RAMP_STEPS = 4  # the shadow side's fall-off drawn as this many nested bands before the blur


def _normals(points: np.ndarray, ends: tuple[np.ndarray, np.ndarray], towards: np.ndarray) -> np.ndarray:
    """(n, 2) unit normals of polylines laid end to end in `points` (`ends`: the indices of their first and of
    their last points; each at least two points long), on the side `towards` (n, 2) points to: np.gradient's
    tangents, for all lines at once."""
    first, last = ends
    tangent = np.empty_like(points)
    tangent[1:-1] = (points[2:] - points[:-2]) / 2  # central differences (wrong at the joins, fixed below)
    tangent[first] = points[first + 1] - points[first]  # one-sided at each line's ends
    tangent[last] = points[last] - points[last - 1]
    normal = tangent[:, ::-1] * [-1.0, 1.0]
    normal /= np.maximum(np.sqrt((normal * normal).sum(1, keepdims=True)), 1e-9)
    return normal * np.where(np.einsum("ij,ij->i", normal, towards) >= 0, 1.0, -1.0)[:, None]


def _fixed(points: np.ndarray, origin: np.ndarray) -> np.ndarray:
    """Pixel coordinates as cv2's fixed point (shift=4: 1/16 pixel) relative to `origin`, C-ordered (cv2 takes
    no other point arrays, and fancy indexing may hand over a transposed layout)."""
    return np.rint((points - origin) * 16).astype(np.int32, order="C")


APART = 48  # fixed point (3 pixels): more than an antialiased edge reaches


def _batches(values: list[float], lows: np.ndarray, highs: np.ndarray) -> list[list[int]]:
    """Shapes (of bounding boxes (k, 2) `lows` to `highs`, fixed point) grouped for one cv2.fillPoly call per
    group: the same value, and boxes apart (a call fills overlapping polygons even-odd, leaving the overlap
    empty)."""
    beyond = (lows[:, None] > highs[None] + APART).any(-1)  # shape i's box past shape j's on some side
    apart = (beyond | beyond.T).tolist()
    batches: list[list[int]] = []
    for i, value in enumerate(values):
        batch = next((b for b in batches if values[b[0]] == value and all(apart[i][j] for j in b)), None)
        if batch is None:
            batches.append(batch := [])
        batch.append(i)
    return batches


@dataclass
class _Strokes:
    """What one layer gets drawn: (value, shapes (k, 2) int32 fixed point, thickness) items, each one cv2 call:
    filled polygons (thickness None) or open polylines of that thickness in pixels."""

    items: list = field(default_factory=list)

    def add_polygons(self, values: list[float], shapes: list[np.ndarray]) -> None:
        lows = np.array([s.min(0) for s in shapes])
        highs = np.array([s.max(0) for s in shapes])
        for batch in _batches(values, lows, highs):
            self.items.append((values[batch[0]], [shapes[i] for i in batch], None))

    def draw(self, layer: np.ndarray) -> None:
        """Each pixel of `layer` keeps the largest value that covers it (as if each shape had a layer of its own
        and the layers were combined by their maximum): the weakest drawn first, stronger ones over them."""
        for value, shapes, thickness in sorted(self.items, key=lambda item: item[0]):
            if thickness is None:
                cv2.fillPoly(layer, shapes, float(value), lineType=cv2.LINE_AA, shift=4)
            else:
                cv2.polylines(layer, shapes, False, float(value), thickness=thickness, lineType=cv2.LINE_AA,
                              shift=4)


@lru_cache(maxsize=64)
def _band_order(counts: tuple[int, ...]) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray], np.ndarray]:
    """For polylines of `counts` points laid end to end: their starts, the indices of their first and last
    points, and the order of points that turns each polyline's near edge and far edge into one polygon, out
    along the near edge and back along the far one: `order` indexes the near edges' points (0..n-1) and the far
    edges' (n..2n-1); polyline i's polygon takes its rows 2 * starts[i] to 2 * (starts[i] + counts[i])."""
    starts = np.cumsum(counts) - counts
    n = int(sum(counts))
    order = np.concatenate([np.r_[s:s + k, n + s + k - 1:n + s - 1:-1] for s, k in zip(starts, counts)])
    ends = read_only(starts.copy()), read_only(starts + np.array(counts) - 1)
    return read_only(starts), ends, read_only(order)


def _add_creases(dark: _Strokes, lit: _Strokes, creases: list[Crease], iod: float, origin: np.ndarray) -> None:
    """The bands of all creases, computed in one pass over all their points (fold by fold, numpy's per-call cost
    of a few points each was most of the time): per crease RAMP_STEPS nested bands on the shadow side, the
    narrower the darker (a ramp from the groove to nothing at `shadow` interoculars, after the blur a smooth
    fall-off), and the band of its lit bulge on the other side."""
    counts = tuple(len(c.points) for c in creases)
    starts, ends, order = _band_order(counts)
    points = np.concatenate([c.points for c in creases]).astype(np.float64)
    taper = np.concatenate([np.ones(len(c.points)) if c.taper is None else c.taper for c in creases])
    towards = np.repeat(np.array([c.towards for c in creases], np.float64), counts, axis=0)
    normals = _normals(points, ends, towards)
    widths = np.repeat(np.array([(c.groove, c.shadow, c.bulge) for c in creases]), counts, axis=0)
    groove, shadow, bulge = (widths * iod * taper[:, None]).T  # pixels, per point
    groove = np.maximum(groove, 0.5)
    # Each band's two edges as offsets along the normals, (RAMP_STEPS + 1, n): the ramp's bands, widest first,
    # from the groove's far side to their reach; then the lit bulge's band, from the bulge's edge to the groove.
    steps = np.arange(RAMP_STEPS, 0, -1)[:, None]
    near = np.vstack([np.broadcast_to(-groove, (RAMP_STEPS, len(points))), -bulge])
    far = np.vstack([groove + (shadow - groove) * steps / RAMP_STEPS, -2 * groove])
    offsets = np.concatenate([near, far], axis=1)[:, order, None]
    on_line = order % len(points)  # the polygons' points on the polylines
    polygons = _fixed(points[on_line] + offsets * normals[on_line], origin)
    # Bounding boxes per crease: of all its ramp's bands together (they share the fillPoly calls), of its bulge.
    lows = np.minimum.reduceat(polygons, 2 * starts, axis=1)
    highs = np.maximum.reduceat(polygons, 2 * starts, axis=1)
    spans = [slice(2 * s, 2 * (s + k)) for s, k in zip(starts.tolist(), counts)]
    strengths = [c.strength for c in creases]
    for batch in _batches(strengths, lows[:RAMP_STEPS].min(0), highs[:RAMP_STEPS].max(0)):
        for level in range(RAMP_STEPS):
            dark.items.append((strengths[batch[0]] * (level + 1) / RAMP_STEPS,
                               [polygons[level, spans[i]] for i in batch], None))
    shining = [i for i, c in enumerate(creases) if c.lit > 0]
    values = [creases[i].strength * creases[i].lit for i in shining]
    for batch in _batches(values, lows[RAMP_STEPS, shining], highs[RAMP_STEPS, shining]):
        lit.items.append((values[batch[0]], [polygons[RAMP_STEPS, spans[shining[i]]] for i in batch], None))


def _broad_blur(layer: np.ndarray, sigma: float) -> np.ndarray:
    """A wide Gaussian blur, computed at half resolution where it is wide enough not to tell (a quarter of the
    work; the highlight and cast shadows are smooth at this scale)."""
    if sigma < 4 or min(layer.shape) < 8:
        return cv2.GaussianBlur(layer, (0, 0), sigma)
    small = cv2.resize(layer, (layer.shape[1] // 2, layer.shape[0] // 2), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), sigma / 2)
    return cv2.resize(small, (layer.shape[1], layer.shape[0]), interpolation=cv2.INTER_LINEAR)


def _drawn_box(strokes: _Strokes, grow: int, shape: tuple[int, int]) -> tuple[slice, slice]:
    """(rows, cols) of a layer of `shape` that hold all polygons of `strokes`, grown by `grow` pixels."""
    shapes = [points for _, group, _ in strokes.items for points in group]
    lo = np.min([points.min(0) for points in shapes], 0) // 16 - grow
    hi = np.max([points.max(0) for points in shapes], 0) // 16 + 1 + grow
    return (slice(max(int(lo[1]), 0), min(int(hi[1]), shape[0])),
            slice(max(int(lo[0]), 0), min(int(hi[0]), shape[1])))


def _blur_drawn(layer: np.ndarray, strokes: _Strokes, sigma: float) -> tuple[np.ndarray, tuple[slice, slice]]:
    """_broad_blur(layer, sigma) where it is not zero: (blurred, (rows, cols) of the layer). Where the blur is
    done at full resolution, only over the drawn polygons and the kernel's reach around them: the same values
    (the rest blurs to exactly zero; the kernel's reflection at the sub-box's edges only folds back zeros)."""
    if sigma >= 4 or min(layer.shape) < 8:
        return _broad_blur(layer, sigma), (slice(None), slice(None))
    radius = (int(round(sigma * 4 * 2 + 1)) | 1) // 2  # cv2's kernel for float images: 4 sigma each side
    box = _drawn_box(strokes, radius + 2, layer.shape)  # the reach (the antialiased edges: 1 pixel more)
    if layer[box].size == 0:  # all drawn outside the layer (off the image)
        return layer[box].copy(), box
    return cv2.GaussianBlur(layer[box], (0, 0), sigma), box


def fold_map(shape: tuple[int, int], rest: np.ndarray, expressed: np.ndarray) -> tuple[np.ndarray, tuple]:
    """The shading of the folds over their box: (map (h, w) float32, (rows, cols) slices of an image of `shape`)
    for the face at `rest` (68, 2) moved to `expressed` (68, 2), pixel coordinates. Positive values darken (the
    share of light taken, at most MAX_DARKENING), negative ones brighten (at most MAX_HIGHLIGHT)."""
    empty = np.zeros((0, 0), np.float32), (slice(0, 0), slice(0, 0))
    folds = fold_creases(expressed, fold_strengths(rest, expressed))
    if not folds:
        return empty
    face = np.asarray(expressed, np.float64)
    iod = eyes_and_interocular(face)[1]
    sigma = max(SOFTNESS * iod, 0.5)
    sigma_lit = max(HIGHLIGHT_SOFTNESS * iod, 0.5)
    sigma_area = max(AREA_SOFTNESS * iod, 0.5)
    reach = max(max(f.shadow, f.bulge) for f in folds) * iod
    margin = int(np.ceil(3 * max(sigma_lit, sigma_area) + reach)) + 2
    points = np.concatenate([f.points for f in folds])
    x0, y0 = np.maximum(np.floor(points.min(0)).astype(int) - margin, 0)
    x1, y1 = np.ceil(points.max(0)).astype(int) + margin
    x1, y1 = min(x1, shape[1]), min(y1, shape[0])
    if x1 <= x0 or y1 <= y0:
        return empty
    origin = np.array([x0, y0], np.float64)
    dark, cast, lit = _Strokes(), _Strokes(), _Strokes()
    creases = [f for f in folds if f.kind == "crease"]
    if creases:
        _add_creases(dark, lit, creases, iod, origin)
    shadows = [f for f in folds if f.kind == "shadow"]
    if shadows:
        cast.add_polygons([f.strength for f in shadows], [_fixed(f.points, origin) for f in shadows])
    for fold in folds:
        if fold.kind == "bulge":
            lit.items.append((fold.strength * fold.lit, [_fixed(fold.points, origin)],
                              max(1, int(round(2 * fold.bulge * iod)))))
    # The layers are blurred and combined in place: box-sized temporaries cost as much as the arithmetic on
    # them (fresh pages to fault in). A layer with nothing drawn blurs to zero and changes nothing: skipped.
    shade, cast_layer, lit_layer = (np.zeros((y1 - y0, x1 - x0), np.float32) for _ in range(3))
    for layer, strokes in zip((shade, cast_layer, lit_layer), (dark, cast, lit)):
        strokes.draw(layer)
    cv2.GaussianBlur(shade, (0, 0), sigma, dst=shade)
    shade *= MAX_DARKENING
    if cast.items:  # blurred where drawn: the cast shadows are small (over the eyes)
        blurred, box = _blur_drawn(cast_layer, cast, sigma_area)
        blurred *= MAX_DARKENING
        np.maximum(shade[box], blurred, out=shade[box])
    if lit.items:
        blurred = _broad_blur(lit_layer, sigma_lit)
        blurred *= MAX_HIGHLIGHT
        shade -= blurred
    return shade, (slice(y0, y1), slice(x0, x1))


def shade_folds(frame: np.ndarray, rest: np.ndarray, expressed: np.ndarray) -> np.ndarray:
    """The frame (H, W, 3) uint8, already moved to `expressed`, shaded along the folds the expression makes: its
    own pixels darker in the creases, a little brighter on the bulges beside them."""
    shade, (rows, cols) = fold_map(frame.shape[:2], rest, expressed)
    if shade.size == 0:
        return frame
    lowest, highest = cv2.minMaxLoc(shade)[:2]
    if max(-lowest, highest) <= 1e-4:
        return frame
    out = np.array(frame, copy=True)
    red = np.maximum(shade, 0.0)
    red *= 1.0 - SHADOW_TINT[0]
    gain = np.subtract(1.0, shade, out=shade)  # green and blue: the whole darkening, and the (untinted) highlight
    red += gain  # red: less of the darkening
    # One cv2 multiply: float32 products, rounded half to even and clipped to 0..255, as np.rint would (on a
    # contiguous copy of the box: cv2 takes a strided view twice as slowly).
    region = np.ascontiguousarray(out[rows, cols])
    out[rows, cols] = cv2.multiply(region, cv2.merge([red, gain, gain]), dtype=cv2.CV_8U)
    return out
