"""Which frames of a video show something other than the face where its landmarks put the lower face: a hand or a
microphone in front of the chin, a chin cut off by the frame, or landmarks that slipped off the face.

The landmark tracker keeps returning a plausible shape when a hand covers the chin, so a lost face is not the
only face a dub must leave alone. The test here is whether the video explains a frame by its own other frames:
each frame's lower face is compared with the per-pixel median of its look-alikes (the frames whose jaw and lips
have the most similar shape, one from each eighth of the video, never the frame's neighbours, which share its
occluder), warped onto its landmarks with the piecewise-affine mesh of lmk2video.warp. An unoccluded frame looks
like that median; a hand does not. Frames are flagged against the video's own distribution of that residual
(`outliers`), so no threshold depends on the camera, the light or the person.

Cost: the lower 40 rows of each frame's 64-px face crop are kept from the tracking pass (7.5 KiB a frame:
135 MiB for 10 minutes at 30 fps), then SEGMENTS small warps per frame, batched (+0.8 s on a 10 s 360x288
dub, docs/results.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
from scipy.ndimage import binary_closing

from lmk2video.triangulation import border_points, triangles
from lmk2video.warp import rasterize_triangle_ids, sample, source_coordinates, triangle_affines
from talkface.face_crop import crop_face, crop_transform, hull_mask
from talkface.landmarks.indices import INNER_LIPS, MOUTH
from talkface.landmarks.normalize import to_normalised
from talkface.mouth_bank import shape_distance

SIZE = 64                    # the crop the lower face is compared in (the standard face crop at 64 px)
TOP = 24                     # rows above this (eyes and above) are never compared and not kept
SHAPE_POINTS = [*range(3, 14), *MOUTH]   # jaw and lips: what look-alike frames must share
LOWER_FACE = [*range(2, 15), *range(31, 36)]  # the region compared: jaw, chin and cheeks up to the nose's base
SEGMENTS = 8                 # look-alikes per frame, one from each eighth of the video; their per-pixel median
                             # explains the frame
MAX_POOL = 1500              # frames a long video's look-alikes are chosen from (spread evenly)
EXCLUDE_SECONDS = 0.25       # look-alikes are at least this far in time from the frame (its occluder moves on)
Z = 3.5                      # flag above median + Z robust standard deviations (Iglewicz & Hoaglin's outlier cut)
MIN_RATIO = 2.0              # ... and at least twice the median residual: the unexplained part exceeds the typical
MIN_LOOKALIKES = 3           # frames with fewer are not judged
MIN_RUN = 3                  # frames: shorter flagged runs are noise, not an occluder


@dataclass
class LowerFaces:
    """Per tracked frame: the lower part of its 64-px face crop and its crop landmarks, collected while streaming."""

    crops: list[np.ndarray] = field(default_factory=list)      # (SIZE - TOP, SIZE, 3) uint8
    landmarks: list[np.ndarray] = field(default_factory=list)  # (68, 2) in the full SIZE crop
    frame_index: list[int] = field(default_factory=list)

    def offer(self, frame: np.ndarray, landmarks: np.ndarray, index: int) -> None:
        transform = crop_transform(landmarks, SIZE)
        self.crops.append(crop_face(frame, transform)[TOP:])
        self.landmarks.append(transform.to_crop(landmarks).astype(np.float32))
        self.frame_index.append(index)


def lookalikes(shapes: np.ndarray, times: np.ndarray, pool_shapes: np.ndarray, pool_times: np.ndarray,
               segments: int = SEGMENTS, exclude: int = 12, pool: int = MAX_POOL) -> np.ndarray:
    """(T, segments) indices into the pool (pool_shapes (M, P, 2), pool_times (M,)) of each frame's (shapes
    (T, P, 2) normalised, times (T,)) most similar shape (mouth_bank.shape_distance) in each of `segments` equal
    stretches of the pool, never within `exclude` frames of it in time; -1 where a stretch has none. Drawn from
    stretches all over the video, most look-alikes are unoccluded even when an occluder stays a while; the frame's
    neighbours, which share its occluder, are never among them. A long video's pool is thinned to `pool` frames
    spread evenly."""
    m = len(pool_shapes)
    pick = np.unique(np.linspace(0, m - 1, min(m, pool)).round().astype(int))
    segment = np.minimum((np.arange(len(pick)) * segments) // len(pick), segments - 1)
    out = np.full((len(shapes), segments), -1, int)
    for start in range(0, len(shapes), 128):  # (128, pool, P, 2) at a time
        block = slice(start, start + 128)
        d = shape_distance(shapes[block, None], pool_shapes[pick][None])
        d[np.abs(times[block, None] - pool_times[pick][None]) < exclude] = np.inf
        rows = np.arange(len(d))
        for s in range(segments):
            cols = np.flatnonzero(segment == s)
            best = cols[np.argmin(d[:, cols], axis=1)]
            out[block, s] = np.where(np.isfinite(d[rows, best]), pick[best], -1)
    return out


def residuals(faces: LowerFaces, fps: float, usable: np.ndarray | None = None,
              before: tuple[np.ndarray, np.ndarray] | None = None, chunk: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Per collected frame: how far its lower face is from the per-pixel median of its look-alikes warped onto it
    (mean absolute RGB difference over the lower face, after each look-alike's light is matched to the frame's),
    and the look-alikes' indices: (scores (T,), picks (T, SEGMENTS)). `usable` (T,) bool: frames that may serve
    as look-alikes (default all); `before`: the (scores, picks) of an earlier call, whose frames with the same
    look-alikes are not computed again."""
    n = len(faces.crops)
    lmk = np.stack(faces.landmarks) if n else np.zeros((0, 68, 2), np.float32)
    shapes = to_normalised(lmk.astype(np.float64))[0][:, SHAPE_POINTS].astype(np.float32)
    times = np.asarray(faces.frame_index)
    usable = np.ones(n, bool) if usable is None else usable
    picks = np.full((n, SEGMENTS), -1, int)
    if usable.any():
        ok = np.flatnonzero(usable)
        found = lookalikes(shapes, times, shapes[ok], times[ok], exclude=max(2, int(round(fps * EXCLUDE_SECONDS))))
        picks = np.where(found >= 0, ok[np.maximum(found, 0)], -1)
    scores = np.full(n, np.nan, np.float32)
    todo = np.flatnonzero((picks >= 0).sum(1) >= MIN_LOOKALIKES)
    if before is not None:
        same = (np.sort(before[1], 1) == np.sort(picks, 1)).all(1)
        scores[same] = before[0][same]
        todo = todo[~same[todo]]
    mesh_all = np.concatenate([lmk, np.broadcast_to(border_points(SIZE), (n, 8, 2))], axis=1).astype(np.float32)
    tri = triangles(forehead=False)
    for block in np.array_split(todo, max(1, int(np.ceil(len(todo) / chunk)))):
        if len(block):
            scores[block] = _block_residuals(faces, mesh_all, picks[block], block, tri)
    return scores, picks


def _block_residuals(faces: LowerFaces, mesh_all: np.ndarray, picks: np.ndarray, block: np.ndarray,
                     tri: np.ndarray) -> np.ndarray:
    """residuals() for the frames `block` with their look-alikes `picks` (B, SEGMENTS; -1 none), all at once."""
    row, col = np.nonzero(picks >= 0)
    cand = picks[row, col]
    ids = rasterize_triangle_ids(mesh_all[block], tri, SIZE)[row]  # one raster per frame
    coords = source_coordinates(triangle_affines(mesh_all[cand], mesh_all[block[row]], tri), ids)[:, TOP:]
    coords[..., 1] -= TOP  # in the kept rows of the SIZE crop the mesh is placed in (above them: its top row)
    warped = np.stack([sample(faces.crops[c], xy) for c, xy in zip(cand, coords)])         # (N, h, w, 3)
    own = np.stack([faces.crops[t] for t in block]).astype(np.float32)                    # (B, h, w, 3)
    mask = np.stack([region_mask(faces.landmarks[t]) for t in block])                      # (B, h, w)
    # Each look-alike's light matched to the frame's: its median colour difference over the region (every
    # other pixel in each direction is plenty for one colour).
    every = (slice(None), slice(None, None, 2), slice(None, None, 2))
    diff = np.where(mask[row][every][..., None], own[row][every] - warped[every], np.nan)
    warped = warped + _nanmedian(diff.reshape(len(diff), -1, 3), 1)[:, None, None]
    grid = np.full((len(block), picks.shape[1], *warped.shape[1:]), np.nan, np.float32)
    grid[row, col] = warped
    reference = _nanmedian(grid, 1)                                                        # (B, h, w, 3)
    residual = _mean_3x3(np.abs(own - reference).mean(-1))
    area = mask.sum((1, 2))
    return np.where(area > 0, (residual * mask).sum((1, 2)) / np.maximum(area, 1), np.nan)


def _nanmedian(x: np.ndarray, axis: int) -> np.ndarray:
    """The (lower) median along `axis` of the values that are not NaN (np.nanmedian, several times faster: a sort
    puts the NaNs last); NaN where all are."""
    count = (~np.isnan(x)).sum(axis, keepdims=True)
    return np.take_along_axis(np.sort(x, axis), np.maximum(count - 1, 0) // 2, axis).squeeze(axis)


def _mean_3x3(images: np.ndarray) -> np.ndarray:
    """(B, h, w) -> each pixel's mean over its 3 x 3 neighbourhood inside the image (borders average fewer)."""
    count = cv2.boxFilter(np.ones(images.shape[1:], np.float32), -1, (3, 3), normalize=False,
                          borderType=cv2.BORDER_CONSTANT)
    return np.stack([cv2.boxFilter(image, -1, (3, 3), normalize=False, borderType=cv2.BORDER_CONSTANT) / count
                     for image in images.astype(np.float32)])


def region_mask(crop_landmarks: np.ndarray) -> np.ndarray:
    """(SIZE - TOP, SIZE) bool: the lower face (jaw up to the nose's base) without the mouth's inside."""
    face = hull_mask([crop_landmarks[LOWER_FACE]], SIZE, 0) > 0.5
    inside = hull_mask([crop_landmarks[list(INNER_LIPS)]], SIZE, 1.5) > 0.05
    return (face & ~inside)[TOP:]


def outliers(scores: np.ndarray, z: float = Z, min_ratio: float = MIN_RATIO) -> np.ndarray:
    """(T,) bool: residuals above the video's own: log residual > median + z robust standard deviations, and at
    least `min_ratio` times the median residual (a video whose frames explain each other almost exactly does not
    flag its noise). An occluder only ever adds residual, so the standard deviation is read from the lower half
    alone (1.4826 x the median distance below the median), where a third of the frames occluded does not widen
    it; median and spread are taken again over what is not flagged until nothing changes."""
    valid = np.isfinite(scores) & (scores > 0)
    out = np.zeros(len(scores), bool)
    if valid.sum() < 8:
        return out
    x = np.log(scores[valid])
    high = np.zeros(len(x), bool)
    for _ in range(20):
        med = np.median(x[~high])
        spread = 1.4826 * np.median(med - x[~high & (x <= med)])  # the MAD of the side occluders never reach
        new = x > med + max(z * spread, np.log(min_ratio))
        if (new == high).all():
            break
        high = new
    out[valid] = high
    return out


def runs(flags: np.ndarray, min_run: int = MIN_RUN) -> np.ndarray:
    """flags (T,) bool with one-frame gaps closed and runs shorter than `min_run` dropped."""
    closed = flags | binary_closing(np.pad(flags, 1), np.ones(3, bool))[1:-1]
    out = np.zeros_like(closed)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], closed.astype(int), [0]])))
    for a, b in zip(edges[::2], edges[1::2]):
        if b - a >= min_run:
            out[a:b] = True
    return out


def occluded(faces: LowerFaces, fps: float, passes: int = 3) -> np.ndarray:
    """(T,) bool per collected frame: something in front of the lower face. After the first pass, flagged frames
    no longer serve as look-alikes and the frames that used them are scored again (a long occluder can make the
    median of a clean frame's look-alikes the occluder's)."""
    scores, picks = residuals(faces, fps)
    flags = runs(outliers(scores))
    for _ in range(passes - 1):
        if not flags.any():
            break
        scores, picks = residuals(faces, fps, usable=~flags, before=(scores, picks))
        new = runs(outliers(scores))
        if (new == flags).all():
            break
        flags = new
    return flags
