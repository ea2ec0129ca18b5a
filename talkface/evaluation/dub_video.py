"""Self-dub scoring of any talking video at the frame level (`talkface eval dub --other GLOB`).

Each video (its first `max_seconds`) is dubbed with its own audio track and the dubbed frames are compared
with the video's own frames, streamed side by side (one frame of each in memory):

* pixels: PSNR/SSIM of the whole frame, of the 128-px face crop aligned on each frame by the landmarks tracked
  on the original, and of the mouth box (region_box around the lips at the video's resolution, placed by the
  original's landmarks of that frame); face and mouth only on frames where the original's face was found;
* mouth motion: the inner-lip opening of landmarks re-detected on the dubbed frames with the same streamed
  tracker the dub ran on the original (track_stream), against the original's: Pearson correlation, amplitude
  ratio std(dubbed) / std(original), mouth LMD;
* identity: dlib descriptor distance of dubbed vs original frame, every ID_EVERY-th frame, both described at
  the original's landmarks (so only the pixels differ);
* lost: the share of frames where the face was lost in the original (passed through untouched), where it was
  found but occluded (passed through too, lmk2video/occlusion.py), and where the re-detection lost it in the
  dubbed output although the original had it;
* speed: wall seconds of the dub itself (track, plan, render; not the scoring) per second of video.

The floor is the same video dubbed with silence: the renderer runs as for speech, but the mouth is held at
the video's most closed mouth (the rest face audio2lmk starts from), so the motion measures fall to ~0 and
the pixel measures show what the render costs without any lip sync. The untouched original is the ceiling
(PSNR capped at 100 dB, correlation 1, distance 0) and not tabled.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from imageio_ffmpeg import get_ffmpeg_exe

from talkface.audio import SAMPLE_RATE
from talkface.dub import Dubber, Track
from talkface.errors import MediaError, NoFaceError
from talkface.face_crop import crop_face, crop_transform
from talkface.landmarks.indices import MOUTH
from talkface.landmarks.track import track_stream
from talkface.media import ffmpeg_path, probe, read_audio
from talkface.metrics.identity import FaceDescriber
from talkface.metrics.image import frame_psnr, frame_ssim
from talkface.metrics.landmarks import lmd
from talkface.metrics.mouth import amplitude_ratio, opening, pearson
from talkface.metrics.visual import MOUTH_POINTS, region_box
from talkface.video_stream import VideoInfo, iter_frames, probe_video

MAX_SECONDS = 15.0   # long videos: only their first 15 s
FACE_SIZE = 128      # the face crop scored, as in `eval dub` on GRID
ID_EVERY = 5         # identity on every 5th frame (the dlib ResNet costs ~75 ms a face)
SHEET_FRAMES = 4     # frames per video on the contact sheet
SELF, FLOOR = "self-dub (own audio)", "floor: dubbed with silence (mouth held at rest)"


def clip_video(path: Path, seconds: float, folder: Path) -> Path:
    """The video itself when it is no longer than `seconds`, else its first `seconds` (streams copied, so the
    pixels, rotation and frame rate are the file's own) written into `folder`. A copied video can only stop at
    the end of a group of pictures, so it may run a little longer: the audio's length sets the frames scored."""
    duration = probe(path)["duration"]
    if duration is None or duration <= seconds + 1e-3:
        return path
    clip = folder / f"{path.stem}_first{seconds:g}s{path.suffix}"
    proc = subprocess.run([get_ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-i",
                           ffmpeg_path(path), "-t", f"{seconds:g}", "-map", "0:v:0", "-map", "0:a:0?", "-c", "copy",
                           ffmpeg_path(clip)], capture_output=True, check=False)
    if proc.returncode != 0:
        raise MediaError(f"{path}: cannot cut its first {seconds:g} s ({proc.stderr.decode(errors='replace').strip()})")
    return clip


def skip_reason(path: Path) -> str | None:
    """Why a video cannot be self-dubbed (no audio, a silent track), or None."""
    if not probe(path)["has_audio"]:
        return "no audio track"
    if np.abs(read_audio(path, SAMPLE_RATE)).max() < 1e-4:
        return "audio track is silent"
    return None


@dataclass
class _Sums:
    """Per-frame scores collected while the dubbed frames stream past."""
    frame_psnr: list = field(default_factory=list)
    frame_ssim: list = field(default_factory=list)
    face_psnr: list = field(default_factory=list)
    face_ssim: list = field(default_factory=list)
    mouth_psnr: list = field(default_factory=list)
    mouth_ssim: list = field(default_factory=list)
    id_distance: list = field(default_factory=list)
    tiles: dict = field(default_factory=dict)  # frame index -> (original, dubbed) tiles for the contact sheet


def _mean(values) -> float:
    values = [v for v in values if np.isfinite(v)]
    return float(np.mean(values)) if values else float("nan")


def _pair_scores(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    return float(frame_psnr(a[None], b[None])[0]), float(frame_ssim(a[None], b[None])[0])


def sheet_frames(track: Track, n: int, count: int = SHEET_FRAMES) -> list[int]:
    """`count` frames spread over the clip, each the widest real mouth of its stretch (where lips move most)."""
    found = np.flatnonzero(track.found[:n])
    if not len(found):
        return []
    parts = np.array_split(found, min(count, len(found)))
    widths = opening(track.landmarks[:n])
    return [int(p[np.argmax(widths[p])]) for p in parts if len(p)]


def _tile(frame: np.ndarray, landmarks: np.ndarray, size: int = 160) -> np.ndarray:
    """The lower face (nose to chin, cheek to cheek) of a frame, square, `size` px."""
    pts = landmarks[[*range(2, 15), *range(29, 36)]]
    (x0, y0), (x1, y1) = pts.min(0), pts.max(0)
    half = 0.6 * max(x1 - x0, y1 - y0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    m = np.array([[size / (2 * half), 0, size / 2 - cx * size / (2 * half)],
                  [0, size / (2 * half), size / 2 - cy * size / (2 * half)]])
    return cv2.warpAffine(frame, m, (size, size), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)


def score_frames(dubbed: Iterator[np.ndarray], info: VideoInfo, track: Track, n: int,
                 describer: FaceDescriber | None = None, originals_id: dict | None = None, sheet: Sequence[int] = ()
                 ) -> tuple[dict, dict, float]:
    """Score n dubbed frames (an iterator; closed at the end) against the video's first n frames, whose
    landmarks and found flags are `track`'s. Returns the record, the contact-sheet tiles {frame: (original,
    dubbed)} of the `sheet` frames, and the seconds spent waiting for the dubbed frames (the dub's own time).
    `describer` None: no identity distance; `originals_id` caches the original frames' descriptors."""
    sums, spent = _Sums(), 0.0
    originals_id = {} if originals_id is None else originals_id

    def frames():
        nonlocal spent
        reader = iter_frames(info, stop=n)
        try:
            for t, original in enumerate(reader):
                start = time.perf_counter()
                dub = next(dubbed, None)
                spent += time.perf_counter() - start
                if dub is None:
                    break
                p, s = _pair_scores(dub, original)
                sums.frame_psnr.append(p)
                sums.frame_ssim.append(s)
                if track.found[t]:
                    lmk = track.landmarks[t]
                    view = crop_transform(lmk, FACE_SIZE)
                    p, s = _pair_scores(crop_face(dub, view), crop_face(original, view))
                    sums.face_psnr.append(p)
                    sums.face_ssim.append(s)
                    x0, y0, x1, y1 = region_box(lmk, MOUTH_POINTS, original.shape)
                    p, s = _pair_scores(dub[y0:y1, x0:x1], original[y0:y1, x0:x1])
                    sums.mouth_psnr.append(p)
                    sums.mouth_ssim.append(s)
                    if describer is not None and t % ID_EVERY == 0:
                        if t not in originals_id:
                            originals_id[t] = describer.describe(original, lmk)
                        sums.id_distance.append(float(np.linalg.norm(describer.describe(dub, lmk) - originals_id[t])))
                    if t in sheet:
                        sums.tiles[t] = (_tile(original, lmk), _tile(dub, lmk))
                yield dub
        finally:
            reader.close()
            if hasattr(dubbed, "close"):
                dubbed.close()

    try:
        dub_lmk, found = track_stream(frames(), name=f"{info.path} (dubbed)")
        dub_lmk = np.where(found[:, None, None], dub_lmk, np.nan)
    except NoFaceError:
        dub_lmk = np.full((len(sums.frame_psnr), 68, 2), np.nan, np.float32)
    n = len(sums.frame_psnr)  # the frames both gave (the same file read twice: equal unless it is damaged)
    real = np.where(track.found[:n, None, None], track.landmarks[:n], np.nan)
    gen_open, real_open = opening(dub_lmk[:n]), opening(real)
    record = {
        "frames": n, "seconds": n / info.fps, "fps": info.fps, "size": f"{info.width}x{info.height}",
        "frame_psnr": _mean(sums.frame_psnr), "frame_ssim": _mean(sums.frame_ssim),
        "face_psnr": _mean(sums.face_psnr), "face_ssim": _mean(sums.face_ssim),
        "mouth_psnr": _mean(sums.mouth_psnr), "mouth_ssim": _mean(sums.mouth_ssim),
        "mouth_corr": pearson(gen_open, real_open), "amp_ratio": amplitude_ratio(gen_open, real_open),
        "mouth_lmd": lmd(dub_lmk[:n], real, MOUTH), "id_distance": _mean(sums.id_distance),
        "lost": float(1.0 - track.found[:n].mean()),
        "occluded": float(track.occluded[:n].mean()),
        "output_lost": float((np.isnan(gen_open) & np.isfinite(real_open)).mean()),
    }
    return record, sums.tiles, spent


def dub_and_score(dubber: Dubber, info: VideoInfo, track: Track, wave: np.ndarray, describer: FaceDescriber,
                  originals_id: dict, sheet: Sequence[int], track_seconds: float) -> tuple[dict, dict]:
    """Dub the tracked video with `wave` (cut to the video), score it; -> (record, contact-sheet tiles)."""
    start = time.perf_counter()
    plan = dubber.plan(track, wave, fit="trim")
    planned = time.perf_counter() - start
    record, tiles, rendered = score_frames(dubber.frames(track, plan), info, track, len(plan.source_index),
                                           describer, originals_id, sheet)
    record["dub_s_per_video_s"] = (track_seconds + planned + rendered) / max(record["seconds"], 1e-9)
    record["mouth"] = dubber.mouth_for(track)
    record["motion_gain"] = plan.motion_gain
    return record, tiles


def score_video(dubber: Dubber, path: Path, max_seconds: float, describer: FaceDescriber,
                methods: tuple[str, ...] = (SELF, FLOOR)) -> tuple[dict[str, dict], np.ndarray | None]:
    """Self-dub (and the silent floor) of one talking video -> ({method: record}, contact-sheet block)."""
    with tempfile.TemporaryDirectory(prefix="talkface-dub-eval-") as folder:
        clip = clip_video(path, max_seconds, Path(folder))
        info = probe_video(clip)
        wave = read_audio(clip, SAMPLE_RATE, max_seconds=max_seconds)
        start = time.perf_counter()
        track = dubber.track(info)
        track_seconds = time.perf_counter() - start
        n = min(track.n_frames, max(1, int(round(len(wave) / SAMPLE_RATE * info.fps))))
        sheet = sheet_frames(track, n)
        originals_id: dict = {}
        records, rows = {}, []
        for method in methods:
            speech = wave if method == SELF else np.zeros_like(wave)
            records[method], tiles = dub_and_score(dubber, info, track, speech, describer, originals_id, sheet,
                                                   track_seconds)
            if not rows:
                rows.append(np.concatenate([tiles[t][0] for t in sorted(tiles)], axis=1) if tiles else None)
            rows.append(np.concatenate([tiles[t][1] for t in sorted(tiles)], axis=1) if tiles else None)
    if any(r is None for r in rows):
        return records, None
    labels = ["original", *methods]
    for row, label in zip(rows, labels):
        cv2.putText(row, f"{path.stem}: {label}"[:60], (2, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 0), 1)
    return records, np.concatenate(rows, axis=0)
