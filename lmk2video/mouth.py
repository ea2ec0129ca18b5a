"""Mouth-interior synthesis: what a warp cannot show when the mouth opens wider than in the photo.

Stretching closed lips over an opening smears lip colour where a viewer (and a lipreader)
expects a dark cavity and teeth. Inside the target's inner-lip polygon we therefore paint:
a dark cavity (colour from the darkest lip pixels of the source, darkened, shaded), an upper
teeth band hanging from the upper lip (height grows with the opening, capped, darker at the
corners and just under the lip), and for wide openings a hint of lower teeth and tongue.

Geometry lives in a per-frame "mouth frame": u runs 0..1 from corner 60 to corner 64, y is
the signed pixel distance across that axis. The inner lips become two profiles y_up(u),
y_lo(u) (piecewise linear, like the mesh edges), so every pixel knows its distance below
the upper lip and above the lower lip; edges are anti-aliased analytically from those
distances. If the source mouth is itself open, its interior is reused: each target pixel
reads the source at the same distance from the lip it belongs to, so teeth move with their
lip instead of being stretched; only what opens beyond the source is painted.

numpy and OpenCV only: the training-free renderer (and `talkface edit`) runs without torch.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from lmk2video.warp import sample
from talkface.landmarks import indices

INNER_UPPER = [60, 61, 62, 63, 64]  # inner lips as two chains from corner 60 to corner 64
INNER_LOWER = [60, 67, 66, 65, 64]
OUTER_LIPS = list(indices.OUTER_LIPS)
INNER_LIPS = list(indices.INNER_LIPS)
_VERTICAL_PAIRS = ([61, 62, 63], [67, 66, 65])
_MID_FACE = [36, 45, 54, 48]  # eye corners to mouth corners: mostly skin, for lighting

OPEN_RATIO = 0.06  # source counts as open when mean inner-lip gap > this x mouth width
_TEETH_RATIO = 0.6  # source shows teeth when its bright interior > this x skin brightness
_CAVITY_LUMA = 0.33  # synthetic cavity brightness at most this x the median lip brightness
_OFF_WHITE = np.array([1.0, 0.97, 0.9])
LUMA = np.array([0.299, 0.587, 0.114])  # Rec. 601 luma weights of R, G, B
_MARGIN = 4  # pixels around the inner lips painted (room for the soft edge)
# Of an open source's interior, the share that moves with the upper lip. Not more: in a smile
# showing teeth the detector puts the inner lower lip inside the lip, so the bottom of the
# measured gap is lower lip, and it must go down with the jaw (at 0.75 the lip's top edge stayed
# with the teeth and the rendered mouth opened ~30 % less than its track; docs/results.md).
_UPPER_SHARE = 0.6
_SOFTNESS = 0.02  # blur sigma of the painted layer, as a fraction of the source mouth width
_BLUR_RADIUS = 2.5  # kernel half-width in sigmas
# Lips stretched wider than the source's (a smile pulls the corners out) lie back over the teeth, out of the upper
# lip's shadow, and the teeth catch the light: `stretch` (target / source mouth width) from STRETCH_START to
# STRETCH_FULL moves their colour from speech's shaded `teeth` to the lit `lit_teeth`. (Teeth filling more of the
# opening were tried too: a bared-teeth grimace, read as less happy by the offline expression classifier.)
STRETCH_START, STRETCH_FULL = 1.04, 1.2
# Lit teeth: this x the brightest skin's luma, in the off-white. Real smiles that show teeth (dev smile/, the 10 of
# 20 that do) put the teeth's 90th-percentile luma at 1.10-1.47 x the cheek's 80th (median 1.15); at 1.25 the
# painted teeth do the same (median 1.15; at the former 1.05 they sat at the skin's own brightness, 1.01).
LIT_TEETH = 1.25
BITE_LINE = 2.5  # the dark line under lit teeth: at least this many blur sigmas (plus a pixel) of the gap
# Gaps between upper teeth, as u offsets from the mouth centre (incisors, laterals, canines).
_TOOTH_GAPS = np.array([0.0, -0.15, 0.15, -0.27, 0.27], np.float32)


@dataclass(frozen=True)
class MouthAppearance:
    """Colours (RGB in [0, 1]) and flags taken from the source photo once per clip."""

    cavity: tuple[float, float, float]
    teeth: tuple[float, float, float]
    tongue: tuple[float, float, float]
    lit_teeth: tuple[float, float, float]  # teeth bared by stretched lips (a smile)
    source_open: bool  # reuse the source's own interior near the lips
    source_teeth: bool  # that interior already shows teeth: draw no synthetic ones


def estimate_appearance(image: np.ndarray, landmarks: np.ndarray) -> MouthAppearance:
    """Measure mouth colours from a (N, N, 3) uint8 crop and its (68, 2) landmarks."""
    rgb = image.astype(np.float64) / 255.0
    luma = rgb @ LUMA
    lips_band = _polygon_mask(image.shape[:2], landmarks[OUTER_LIPS])
    interior = _polygon_mask(image.shape[:2], landmarks[INNER_LIPS])
    lips_band &= ~interior
    skin = _polygon_mask(image.shape[:2], landmarks[_MID_FACE]) & ~lips_band & ~interior
    skin_pixels = rgb[skin] if skin.any() else rgb.reshape(-1, 3)
    skin_luma = skin_pixels @ LUMA
    skin_bright = _mean_of(skin_pixels, skin_luma >= np.percentile(skin_luma, 80))
    # Teeth under this light: a warm off-white, half-way from the lit skin colour to grey.
    lit_teeth = 0.85 * (0.5 * skin_bright + 0.5 * (skin_bright @ LUMA) * _OFF_WHITE)

    width = max(float(np.linalg.norm(landmarks[64] - landmarks[60])), 1e-3)
    gap = np.linalg.norm(landmarks[_VERTICAL_PAIRS[0]] - landmarks[_VERTICAL_PAIRS[1]], axis=-1)
    source_open = bool(gap.mean() > OPEN_RATIO * width and interior.sum() >= 6)

    lip_pixels = rgb[lips_band] if lips_band.any() else rgb.reshape(-1, 3)
    lip_luma = lip_pixels @ LUMA
    tongue = np.median(lip_pixels, axis=0) * 0.65
    source_teeth = False
    if source_open:
        inside, inside_luma = rgb[interior], luma[interior]
        cavity = _mean_of(inside, inside_luma <= np.percentile(inside_luma, 20))
        bright = inside_luma >= np.percentile(inside_luma, 80)
        source_teeth = bool(np.percentile(inside_luma, 85) > _TEETH_RATIO * (skin_bright @ LUMA))
        teeth = _mean_of(inside, bright) if source_teeth else lit_teeth
    else:
        # The darkest lip pixels (the line where the lips meet) carry the right hue; darken
        # them to at most a third of the lips' brightness, whatever the photo's lip line.
        darkest = _mean_of(lip_pixels, lip_luma <= np.percentile(lip_luma, 10))
        limit = _CAVITY_LUMA * np.median(lip_luma) / max(float(darkest @ LUMA), 1e-3)
        cavity = darkest * min(0.5, limit)
        teeth = lit_teeth
    # Bared teeth: an off-white as bright as the lit skin (LIT_TEETH of its luma), a quarter of the skin's own hue
    # mixed in so they sit in the photo's light.
    bared = teeth if source_teeth else np.minimum(0.75 * LIT_TEETH * (skin_bright @ LUMA) * _OFF_WHITE
                                                  + 0.25 * skin_bright, 0.95)
    return MouthAppearance(
        cavity=_rgb(cavity), teeth=_rgb(teeth), tongue=_rgb(tongue), lit_teeth=_rgb(bared),
        source_open=source_open, source_teeth=source_teeth)


def _polygon_mask(shape: tuple[int, int], polygon: np.ndarray) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    cv2.fillPoly(mask, [np.round(polygon * 16).astype(np.int32)], 1, shift=4)
    return mask.astype(bool)


def _mean_of(pixels: np.ndarray, select: np.ndarray) -> np.ndarray:
    return pixels[select].mean(axis=0) if select.any() else pixels.mean(axis=0)


def _rgb(c: np.ndarray) -> tuple[float, float, float]:
    r, g, b = np.clip(c, 0.0, 1.0)
    return float(r), float(g), float(b)


@dataclass
class LipProfile:
    """Inner lips of B faces in their mouth frames (see module doc); float32 arrays."""

    origin: np.ndarray  # (B, 2) corner 60
    axis_u: np.ndarray  # (B, 2) unit vector 60 -> 64
    axis_y: np.ndarray  # (B, 2) unit normal, pointing down the face
    width: np.ndarray  # (B,) |64 - 60| in pixels
    upper_u: np.ndarray  # (B, 5) knots, non-decreasing
    upper_y: np.ndarray
    lower_u: np.ndarray
    lower_y: np.ndarray

    @classmethod
    def from_landmarks(cls, lmk: np.ndarray) -> LipProfile:
        """lmk (B, 68, 2) -> profiles."""
        lmk = np.asarray(lmk, np.float32)
        origin = lmk[:, 60]
        axis = lmk[:, 64] - origin
        width = np.maximum(np.linalg.norm(axis, axis=-1), np.float32(1e-3))
        axis_u = axis / width[:, None]
        axis_y = np.stack([-axis_u[:, 1], axis_u[:, 0]], axis=-1)

        def chain(idx: list[int]) -> tuple[np.ndarray, np.ndarray]:
            rel = lmk[:, idx] - origin[:, None]
            u = (rel * axis_u[:, None]).sum(-1) / width[:, None]
            return np.maximum.accumulate(np.clip(u, 0.0, 1.0), axis=1), (rel * axis_y[:, None]).sum(-1)

        upper_u, upper_y = chain(INNER_UPPER)
        lower_u, lower_y = chain(INNER_LOWER)
        return cls(origin, axis_u, axis_y, width, upper_u, upper_y, lower_u, lower_y)

    def to_mouth(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """xy (B or 1, P, 2) image coords -> u (B, P), y (B, P)."""
        rel = xy - self.origin[:, None]
        u = (rel * self.axis_u[:, None]).sum(-1) / self.width[:, None]
        return u, (rel * self.axis_y[:, None]).sum(-1)

    def to_image(self, u: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Inverse of `to_mouth`."""
        along = (u * self.width[:, None])[..., None] * self.axis_u[:, None]
        return self.origin[:, None] + along + y[..., None] * self.axis_y[:, None]

    def lips_at(self, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Upper and lower inner-lip y at each u (B, P)."""
        return _interp(u, self.upper_u, self.upper_y), _interp(u, self.lower_u, self.lower_y)


def _interp(x: np.ndarray, xp: np.ndarray, fp: np.ndarray) -> np.ndarray:
    """Batched piecewise-linear interpolation, clamped at the ends: x (B, P), xp/fp (B, K), xp sorted per row."""
    k = xp.shape[1]
    hi = np.stack([np.searchsorted(row, at, side="right") for row, at in zip(xp, x)]).clip(1, k - 1)
    x0, x1 = np.take_along_axis(xp, hi - 1, 1), np.take_along_axis(xp, hi, 1)
    f0, f1 = np.take_along_axis(fp, hi - 1, 1), np.take_along_axis(fp, hi, 1)
    w = np.clip((x - x0) / np.maximum(x1 - x0, np.float32(1e-6)), 0.0, 1.0)
    return f0 + w * (f1 - f0)


def smoothstep(lo: float, hi: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - lo) / (hi - lo), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _coverage(distance: np.ndarray, softness: float = 1.0) -> np.ndarray:
    """Pixel coverage from a signed distance (pixels, positive inside): a ramp `softness` wide."""
    return np.clip(distance / softness + 0.5, 0.0, 1.0)


def render_mouth(frames: np.ndarray, target_lmk: np.ndarray, source: np.ndarray, source_lmk: np.ndarray,
                 look: MouthAppearance) -> np.ndarray:
    """Paint mouth interiors into warped frames, in place.

    frames (B, N, N, 3) float32 in [0, 1] (the warp output), target_lmk (B, 68, 2), source (N, N, 3) float32 in
    [0, 1], source_lmk (68, 2). Returns frames.
    """
    n, batch = frames.shape[1], frames.shape[0]
    target_lmk = np.asarray(target_lmk, np.float32)
    source_lmk = np.asarray(source_lmk, np.float32)
    # Painted detail is softened in proportion to the mouth size (a photo's mouth is never
    # crisper than that); the window leaves room for the blur so batching changes nothing.
    blur = _SOFTNESS * float(np.linalg.norm(source_lmk[64] - source_lmk[60]))
    margin = _MARGIN + int(np.ceil(_BLUR_RADIUS * blur))
    inner = target_lmk[:, INNER_LIPS]
    x0 = max(int(np.floor(inner[..., 0].min())) - margin, 0)
    y0 = max(int(np.floor(inner[..., 1].min())) - margin, 0)
    x1 = min(int(np.ceil(inner[..., 0].max())) + margin + 1, n)
    y1 = min(int(np.ceil(inner[..., 1].max())) + margin + 1, n)
    if x1 <= x0 or y1 <= y0:
        return frames
    shape = (y1 - y0, x1 - x0)
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    xy = np.stack([xs, ys], axis=-1).reshape(1, -1, 2)

    tgt = LipProfile.from_landmarks(target_lmk)
    src = LipProfile.from_landmarks(np.broadcast_to(source_lmk, (batch, *source_lmk.shape)))
    g = _MouthGeometry.at(tgt, xy)
    inside = _coverage(np.minimum(g.d_up, g.d_lo), 1.0 + blur) * np.minimum(g.gap, 1.0)

    # Source mouth at the same u, in target pixels (ratio = source px per target px).
    ratio = (src.width / tgt.width)[:, None]
    s_up, s_lo = src.lips_at(g.u)
    src_gap = np.maximum(s_lo - s_up, 0.0) / ratio
    beyond = np.clip(g.gap - src_gap, 0.0, 1.0)  # 1 where the target opens >= 1 px wider
    teeth_gate = np.zeros_like(beyond) if look.source_teeth else beyond

    smile = smoothstep(STRETCH_START, STRETCH_FULL, 1.0 / ratio)  # (B, 1): how far the lips bare the teeth
    painted = _cavity(g, look)
    painted = _over(painted, *_lower_teeth(g, look, teeth_gate))
    upper_colour, upper_alpha = _upper_teeth(g, look, teeth_gate, smile, blur)
    painted = _over(painted, upper_colour, upper_alpha)
    painted = _gaussian_blur(painted.reshape(batch, *shape, 3), blur).reshape(batch, -1, 3)
    if look.source_open:
        # Read the source at the same distance from the lip a pixel belongs to, so teeth are
        # carried, not stretched. The upper share is larger: visible teeth are mostly upper
        # teeth, which stay with the upper lip while the jaw drops.
        near_up = g.d_up * (1.0 - _UPPER_SHARE) <= g.d_lo * _UPPER_SHARE
        src_y = np.where(near_up, s_up + g.d_up * ratio, s_lo - g.d_lo * ratio)
        read_at = src.to_image(g.u, src_y).reshape(batch, *shape, 2)
        from_source = np.stack([sample(source, at) for at in read_at]).reshape(batch, -1, 3)  # bilinear
        reach = np.where(near_up, _UPPER_SHARE * src_gap - g.d_up, (1.0 - _UPPER_SHARE) * src_gap - g.d_lo)
        reach = _coverage(reach + 0.5)
        painted = _over(from_source, painted, 1.0 - reach * (1.0 - upper_alpha))
        alpha = inside
    else:
        alpha = inside * beyond  # where the target is no more open, keep the warped source

    window = frames[:, y0:y1, x0:x1].reshape(batch, -1, 3)
    frames[:, y0:y1, x0:x1] = _over(window, painted, alpha).reshape(batch, *shape, 3)
    return frames


@dataclass
class _MouthGeometry:
    """Per-pixel mouth-frame measures (all (B, P)), pixel units unless noted."""

    u: np.ndarray  # 0..1 corner to corner
    c: np.ndarray  # -1..1, 0 at the centre
    d_up: np.ndarray  # distance below the upper inner lip
    d_lo: np.ndarray  # distance above the lower inner lip
    gap: np.ndarray  # lip gap at this u
    width: np.ndarray  # (B, 1) mouth width

    @classmethod
    def at(cls, profile: LipProfile, xy: np.ndarray) -> _MouthGeometry:
        u, y = profile.to_mouth(xy)
        y_up, y_lo = profile.lips_at(u)
        gap = np.maximum(y_lo - y_up, 0.0)
        return cls(u, np.clip(2.0 * u - 1.0, -1.0, 1.0), y - y_up, y_lo - y, gap, profile.width[:, None])


def _over(under: np.ndarray, colour: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Composite colour (B, P, 3) with alpha (B, P) over under (B, P, 3) (either colour may be one (3,) colour)."""
    return under + alpha[..., None] * (colour - under)


def _colour(rgb: tuple[float, float, float]) -> np.ndarray:
    return np.array(rgb, np.float32)


def _cavity(g: _MouthGeometry, look: MouthAppearance) -> np.ndarray:
    """Dark cavity, lighter towards the lower lip, darker at the corners; for wide openings a
    tongue tint low in the mouth."""
    v = np.clip(g.d_up / np.maximum(g.gap, np.float32(1e-3)), 0.0, 1.0)  # 0 at the upper lip, 1 at the lower
    shade = (0.7 + 0.5 * v) * (1.0 - 0.4 * g.c * g.c)
    openness = g.gap / g.width
    tongue_w = 0.6 * smoothstep(0.55, 1.0, v) * smoothstep(0.12, 0.3, openness) * (1 - g.c ** 2)
    return _over(_colour(look.cavity), _colour(look.tongue), tongue_w) * shade[..., None]


def _corner_shade(g: _MouthGeometry) -> np.ndarray:
    return 1.0 - 0.85 * np.abs(g.c) ** 2.5  # teeth recede into shadow towards the corners


def _upper_teeth(g: _MouthGeometry, look: MouthAppearance, gate: np.ndarray, smile: np.ndarray, blur: float
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Upper teeth hanging from the upper lip: (colour (B, P, 3), alpha (B, P)); smile (B, 1) in [0, 1]: how far
    stretched lips bare them to the light (see STRETCH_START); blur: the painted layer's blur sigma (pixels)."""
    # Visible tooth height grows with the opening until the incisors are fully shown.
    height = np.minimum(0.55 * g.gap, 0.15 * g.width) * (1.0 - 0.25 * g.c * g.c)
    # Lit teeth leave the dark line of the bite above the lower lip, wide enough to survive the blur: filling a
    # slightly parted smiling mouth they read as closed lips (dlib put the inner lips on the teeth's edge).
    height = height - smile * np.clip(height - (g.gap - BITE_LINE * blur - 1.0), 0.0, None)
    alpha = _coverage(height - g.d_up) * (g.d_up > -1.5) * gate
    lip_shadow = 0.7 + 0.3 * np.maximum(smoothstep(0.0, 1.0, g.d_up / (0.4 * height + 0.5)), smile)
    dx = (g.u[..., None] - 0.5 - _TOOTH_GAPS) * g.width[..., None]
    seams = 1.0 - 0.18 * np.minimum(np.exp(-0.5 * (dx / 0.6) ** 2).sum(-1), 1.0)
    shade = _corner_shade(g) * lip_shadow * seams
    colour = _colour(look.teeth) + smile[..., None] * (_colour(look.lit_teeth) - _colour(look.teeth))
    return colour * shade[..., None], alpha


def _lower_teeth(g: _MouthGeometry, look: MouthAppearance, gate: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A hint of lower incisors above the lower lip, only for wide openings."""
    openness = g.gap / g.width
    height = np.minimum(0.15 * g.gap, 0.05 * g.width) * smoothstep(0.15, 0.35, openness)
    central = np.maximum(1.0 - (g.c / 0.6) ** 2, 0.0)
    alpha = _coverage(height - g.d_lo) * central * gate
    return _colour(look.teeth) * (0.6 * _corner_shade(g))[..., None], alpha


def _gaussian_blur(x: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur of each (H, W, C) image of x (B, H, W, C), borders replicated."""
    radius = int(np.ceil(_BLUR_RADIUS * sigma))
    if radius < 1:
        return x
    t = np.arange(-radius, radius + 1, dtype=np.float32)
    k = np.exp(-0.5 * (t / np.float32(sigma)) ** 2)
    k /= k.sum()
    return np.stack([cv2.sepFilter2D(image, -1, k, k, borderType=cv2.BORDER_REPLICATE) for image in x])
