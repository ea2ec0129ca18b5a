"""`talkface eval people`: the product on people who are not GRID s1 (DESIGN.md evaluation protocol).

Talking videos (default: ../shared/data/dev `grid_other/` and `talk/`): photo = the video's first frame,
speech = its own audio track; every method renders a clip with `--still --no-blink`, landmarks are
re-detected on the output and on the real video with the same dlib tracker, and the measures compare
the two. Speech-only folders (default: dev `voices/`, spoken digits by 6 speakers): each speaker's
digits 0-9 joined with pauses drive two photos (a closed mouth and parted lips); the opening is
compared with the speech envelope, and the same digit should open the mouth alike whoever says it.

Floors in every table: `copy first frame` (the photo, unmoving) and the phonetic default.

Visual measures: on the photos driven by the voices, mouth and eye sharpness kept, seam visibility
and identity (FMS, dlib distance to the photo), plus `photo_sheet.png` with each method's widest mouth
openings per photo; on talking videos, PSNR/SSIM/mouth PSNR of the face crop against the real frames and
identity distance, for every method and for the real-track animations (`RealTrackMethod`: the first frame
animated by the video's own landmark track through each lmk2video stage in `real_track`).

Extension points:
- VIDEO_MEASURES / VOICE_MEASURES: `Measure(name, columns, fn)`, fn(case, rendered) -> dict of numbers,
  one per clip and method; the report averages each column per group and method;
- methods: objects with a `name` and `render(case) -> Rendered` (AudioMethod, CopyFirstFrame; e.g. a
  real-track animation can be added the same way);
- Rendered keeps the generated frames and VideoCase the real ones, so pixel measures need no re-run.
Outputs: report.json (every per-clip record), report.md (tables), contact_sheet.png and photo_sheet.png (dev-set pixels:
never commit it).
"""

from __future__ import annotations

import os
import platform
import re
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Callable, Protocol

import cv2
import numpy as np
from tqdm import tqdm

from talkface import grid
from talkface.audio import FPS, SAMPLE_RATE
from talkface.errors import NoFaceError, TalkfaceError
from talkface.landmarks.detect import detect_landmarks
from talkface.landmarks.indices import STABLE_POINTS, interocular
from talkface.face_crop import auto_crop_size, crop_face, crop_transform
from talkface.landmarks.track import track_video
from talkface.media import VIDEO_SUFFIXES, probe, read_audio, read_image, read_video
from talkface.metrics.mouth import (amplitude_ratio, excess_opening, opening, pearson, resample_series,
                                    silence_mask, speech_envelope, voice_activity)
from talkface.metrics.image import mouth_psnr_ssim, video_psnr_ssim
from talkface.metrics.visual import eye_sharpness, mouth_sharpness, seam_visibility, widest_mouth_frames
from talkface.pipeline import Synthesizer
from talkface.report import write_report

DEFAULT_DEV_ROOT = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "dev"  # ../shared beside the repo
MAX_SECONDS = 15.0  # long videos: only their first 15 s
MAX_SIDE = 512  # photos and real frames are downscaled to this longest side (speed; mouth geometry kept)
VOICE_PAUSE_S = 0.5  # silence before, between and after the digits of one speaker
VOICE_PHOTOS = ("s2.jpg", "s42.jpg")  # dev photos: an HD portrait with a closed mouth; parted lips
VOICE_NAME = re.compile(r"^(\d)_([A-Za-z]+)_(\d+)$")  # Free Spoken Digit Dataset: <digit>_<speaker>_<take>.wav
AUDIO_SUFFIXES = {".wav", ".flac", ".mp3", ".m4a", ".ogg"}


def downscale(image: np.ndarray, max_side: int = MAX_SIDE) -> np.ndarray:
    scale = max_side / max(image.shape[:2])
    if scale >= 1:
        return image
    size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def n_frames_for(wave: np.ndarray) -> int:
    return max(1, int(round(len(wave) / SAMPLE_RATE * FPS)))


# -- cases ------------------------------------------------------------------------------------------
@dataclass
class VideoCase:
    """A real talking video: the truth every method is compared with (25 fps series, n frames)."""
    name: str
    group: str
    frames: np.ndarray  # (T, H, W, 3) real frames at `fps`, downscaled
    fps: float
    audio: np.ndarray  # 16 kHz mono, same span as the frames
    landmarks: np.ndarray  # (T, 68, 2) re-detected on the real frames
    speech: np.ndarray  # (n,) bool at 25 fps: speech frames
    speech_source: str  # "alignment" or "energy VAD"

    @property
    def photo(self) -> np.ndarray:
        return self.frames[0]

    @property
    def n(self) -> int:
        return n_frames_for(self.audio)

    @cached_property
    def real_opening(self) -> np.ndarray:
        """(n,) the real inner-lip opening resampled to the generated videos' 25 fps."""
        return resample_series(opening(self.landmarks), self.fps, FPS, self.n)


@dataclass
class VoiceCase:
    """One speaker's digits joined by pauses, driving one photo."""
    speaker: str
    photo_name: str
    photo: np.ndarray
    audio: np.ndarray  # 16 kHz
    segments: list[tuple[str, int, int]]  # (digit, first frame, end frame) at 25 fps

    @property
    def name(self) -> str:
        return f"{self.speaker}@{self.photo_name}"

    @property
    def n(self) -> int:
        return n_frames_for(self.audio)

    @cached_property
    def speech(self) -> np.ndarray:
        mask = np.zeros(self.n, bool)
        for _, a, b in self.segments:
            mask[a:b] = True
        return mask


@dataclass
class Rendered:
    method: str
    frames: np.ndarray  # (n, H, W, 3) generated at 25 fps (a broadcast view for the copy floor)
    landmarks: np.ndarray  # (n, 68, 2) re-detected on the frames (NaN if no face was found)
    track: np.ndarray | None = None  # the audio2lmk track the frames were rendered from
    moving_track: np.ndarray | None = None  # voices: the same speech with head motion on (not rendered)
    alpha: np.ndarray | None = None  # (H, W) the paste mask in photo pixels (for seam visibility)
    source_landmarks: np.ndarray | None = None  # (68, 2) the photo's landmarks the render started from

    @cached_property
    def opening(self) -> np.ndarray:
        return opening(self.landmarks)


class Method(Protocol):
    """What eval people compares: one way of rendering a case (see the module docstring)."""

    name: str

    def render(self, case: VideoCase | VoiceCase) -> Rendered: ...


def _redetect(frames: np.ndarray, name: str) -> np.ndarray:
    try:
        return track_video(frames, name=name)
    except NoFaceError:
        return np.full((len(frames), 68, 2), np.nan, np.float32)


class AudioMethod:
    """The product: photo + speech through an audio2lmk stage and an lmk2video stage, still head, no blinks."""

    def __init__(self, audio2lmk: str, lmk2video: str = "warp", device: str = "cpu"):
        self.synth = Synthesizer(audio2lmk=audio2lmk, lmk2video=lmk2video, device=device)
        self.name = audio2lmk if audio2lmk == "phonetic" else Path(audio2lmk).name
        if audio2lmk in ("auto", "learned"):
            self.name = f"{audio2lmk} ({self.synth.audio2lmk_name})"

    def render(self, case) -> Rendered:
        source = self.synth.source_face(case.photo, name=case.name)
        track = self.synth.landmarks_from_audio(case.audio, SAMPLE_RATE, source, blink=False, head_motion=False)
        frames = np.stack(list(self.synth.render(source, track)))
        moving = None
        if isinstance(case, VoiceCase):  # how the head moves with speech it never heard
            moving = self.synth.landmarks_from_audio(case.audio, SAMPLE_RATE, source, blink=False, head_motion=True)
        return Rendered(self.name, frames, _redetect(frames, f"{case.name} ({self.name})"), track, moving_track=moving,
                        alpha=self.synth.paste_alpha(source), source_landmarks=source.landmarks)


def resample_track(track: np.ndarray, src_fps: float, n_out: int) -> np.ndarray:
    """(T, 68, 2) landmarks at src_fps -> (n_out, 68, 2) at the generated videos' 25 fps (linear in time)."""
    flat = np.asarray(track, np.float64).reshape(len(track), -1)
    out = np.stack([resample_series(col, src_fps, FPS, n_out) for col in flat.T], axis=1)
    return out.reshape(n_out, *track.shape[1:]).astype(np.float32)


class RealTrackMethod:
    """A talking video's first frame animated by the video's own landmark track (no audio2lmk): what the
    lmk2video stage alone does with true motion; its frames can be compared pixel for pixel with the real ones."""
    videos_only = True

    def __init__(self, lmk2video: str, device: str = "cpu"):
        self.synth = Synthesizer(audio2lmk="phonetic", lmk2video=lmk2video, device=device)
        self.name = f"real track ({self.synth.lmk2video_name})"

    def render(self, case: VideoCase) -> Rendered:
        source = self.synth.source_face(case.photo, name=case.name)
        track = resample_track(case.landmarks, case.fps, case.n)
        frames = np.stack(list(self.synth.render(source, track)))
        return Rendered(self.name, frames, _redetect(frames, f"{case.name} ({self.name})"), track,
                        alpha=self.synth.paste_alpha(source), source_landmarks=source.landmarks)


class CopyFirstFrame:
    """The floor: the photo, unmoving, for the whole speech."""
    name = "copy first frame"

    def __init__(self):
        self._landmarks: dict[str, np.ndarray] = {}

    def render(self, case) -> Rendered:
        key = getattr(case, "photo_name", case.name)
        if key not in self._landmarks:
            self._landmarks[key] = detect_landmarks(case.photo, name=case.name)
        frames = np.broadcast_to(case.photo, (case.n, *case.photo.shape))
        return Rendered(self.name, frames, np.repeat(self._landmarks[key][None], case.n, axis=0))


# -- measures ----------------------------------------------------------------------------------------
@dataclass
class Measure:
    name: str
    columns: list[tuple[str, str, str]]  # (record key, column label, format)
    fn: Callable[..., dict]  # fn(case, rendered) -> {record key: number}


def mouth_vs_real(case: VideoCase, out: Rendered) -> dict:
    """The re-detected opening against the real one; for methods with a track, the amplitude split in two:
    amp ratio = track amp (the track's own opening vs the real) x visible / track (what the render and the
    re-detection keep of the track's opening)."""
    gen, real = out.opening, case.real_opening
    silent = silence_mask(case.speech, FPS)
    track = opening(out.track[:case.n]) if out.track is not None else np.full(case.n, np.nan)
    return {"corr": pearson(gen, real), "amp_ratio": amplitude_ratio(gen, real),
            "track_amp": amplitude_ratio(track, real), "visible_over_track": amplitude_ratio(gen, track),
            "gen_std": float(np.nanstd(gen)), "real_std": float(np.nanstd(real)),
            "silence_open": excess_opening(gen, silent), "real_silence_open": excess_opening(real, silent),
            "silent_frames": int(silent.sum()), "lost_frames": int(np.isnan(gen).sum())}


def mouth_vs_speech(case: VoiceCase, out: Rendered) -> dict:
    gen = out.opening
    closed = np.nanpercentile(gen, 5) if np.isfinite(gen).any() else np.nan
    peaks = {digit: float(np.nanmax(gen[a:b]) - closed) if b > a else float("nan") for digit, a, b in case.segments}
    return {"env_corr": pearson(gen, speech_envelope(case.audio, SAMPLE_RATE, case.n, FPS)),
            "gen_std": float(np.nanstd(gen)), "silence_open": excess_opening(gen, silence_mask(case.speech, FPS)),
            "digit_peaks": peaks}


def head_motion(case: VoiceCase, out: Rendered) -> dict:
    """Head motion of the track with head motion on, from the stable points' centroid in interocular units of
    the photo: sway (std over time), jitter (mean frame-to-frame change of the velocity) and drift (where the
    head is over the last 0.5 s vs the photo). Empty for methods without a moving track."""
    if out.moving_track is None:
        return {}
    stable = out.moving_track[:, list(STABLE_POINTS)].astype(np.float64)
    unit = float(interocular(out.moving_track[0].astype(np.float64)))
    centre = stable.mean(axis=1) / unit
    tail = max(1, int(0.5 * FPS))
    return {"head_sway": float(np.linalg.norm(centre.std(axis=0))),
            "head_jitter": float(np.linalg.norm(np.diff(centre, 2, axis=0), axis=1).mean()) if len(centre) > 2 else 0.0,
            "head_drift": float(np.linalg.norm(centre[-tail:].mean(axis=0) - centre[0]))}
_DESCRIBER = None
ID_EVERY = 5  # identity on every 5th frame (the dlib ResNet costs ~75 ms a face)


def _describer():
    global _DESCRIBER
    if _DESCRIBER is None:
        from talkface.metrics.identity import FaceDescriber

        _DESCRIBER = FaceDescriber()
    return _DESCRIBER


def identity_distance(frames: np.ndarray, landmarks: np.ndarray, photo: np.ndarray, photo_landmarks: np.ndarray
                      ) -> dict:
    """Mean dlib descriptor distance of every ID_EVERY-th frame to the photo, and FMS (% within 0.6)."""
    from talkface.metrics.identity import fms

    describer = _describer()
    picks = np.arange(0, len(frames), ID_EVERY)
    found = [i for i in picks if np.isfinite(landmarks[i]).all()]
    if not found:
        return {"id_distance": float("nan"), "fms": 0.0}
    descs = describer.describe_batch(np.stack([frames[i] for i in found]), landmarks[found])
    scores = fms(np.concatenate([descs, np.full((len(picks) - len(found), descs.shape[1]), np.nan)]),
                 describer.describe(photo, photo_landmarks))
    return {"id_distance": scores["mean_distance"], "fms": scores["fms"]}


def pixels_vs_real(case: VideoCase, out: Rendered) -> dict:
    """Face crop (at the face's own resolution, placed by the first real frame) against the real frame at the
    same time: PSNR/SSIM, mouth PSNR/SSIM; identity distance to the photo."""
    view = crop_transform(case.landmarks[0], auto_crop_size(case.landmarks[0]))
    times = np.minimum(np.round(np.arange(case.n) / FPS * case.fps).astype(int), len(case.frames) - 1)
    gen = np.stack([crop_face(f, view) for f in out.frames[:case.n]])
    real = np.stack([crop_face(case.frames[t], view) for t in times])
    scores = video_psnr_ssim(gen, real)
    mouth = mouth_psnr_ssim(gen, real, view.to_crop(case.landmarks[0]))
    ident = identity_distance(out.frames, out.landmarks, case.photo, case.landmarks[0])
    return {**scores, "mouth_psnr": mouth["psnr"], "mouth_ssim": mouth["ssim"], "id_distance": ident["id_distance"]}


def visual_vs_photo(case: VoiceCase, out: Rendered) -> dict:
    """Sharpness kept around mouth and eyes (each frame's box from the track it was rendered from), seam
    visibility along the paste mask, identity (FMS, distance) against the photo."""
    photo_lmk = out.source_landmarks if out.source_landmarks is not None else out.landmarks[0]
    track = out.track if out.track is not None else out.landmarks
    mouth = [mouth_sharpness(f, t, case.photo, photo_lmk) for f, t in zip(out.frames, track)]
    eyes = [eye_sharpness(f, t, case.photo, photo_lmk) for f, t in zip(out.frames, track)]
    seam = [seam_visibility(f, case.photo, out.alpha) for f in out.frames] if out.alpha is not None else [np.nan]
    ident = identity_distance(out.frames, out.landmarks, case.photo, photo_lmk)
    return {"mouth_sharpness": float(np.mean(mouth)), "eye_sharpness": float(np.mean(eyes)),
            "seam": float(np.mean(seam)), **ident}


def photo_sheet_row(case: VoiceCase, out: Rendered, tile: int = 192, count: int = 4) -> np.ndarray:
    """The photo and the method's `count` widest mouth openings, cropped around the face (a little wider than
    the paste region, so its fade is in view)."""
    track = out.track if out.track is not None else out.landmarks
    photo_lmk = out.source_landmarks if out.source_landmarks is not None else out.landmarks[0]
    view = crop_transform(photo_lmk, tile)
    view = type(view)(view.matrix * 0.8 + np.array([[0, 0, 0.1 * (tile - 1)], [0, 0, 0.1 * (tile - 1)]]), tile)
    tiles = [crop_face(case.photo, view)] + [crop_face(out.frames[i], view) for i in widest_mouth_frames(track, count)]
    row = np.concatenate(tiles, axis=1)
    cv2.putText(row, f"{case.photo_name}: {out.method}"[:60], (2, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 0), 1)
    return row


VIDEO_MEASURES: list[Measure] = [Measure("mouth", [
    ("corr", "mouth-open corr", "{:.3f}"), ("amp_ratio", "amp ratio", "{:.2f}"), ("track_amp", "track amp", "{:.2f}"),
    ("visible_over_track", "visible / track", "{:.2f}"),
    ("silence_open", "silence open (gen)", "{:.3f}"), ("real_silence_open", "silence open (real)", "{:.3f}")],
    mouth_vs_real), Measure("pixels", [
    ("psnr", "face PSNR", "{:.2f}"), ("ssim", "face SSIM", "{:.3f}"), ("mouth_psnr", "mouth PSNR", "{:.2f}"),
    ("id_distance", "id distance", "{:.3f}")], pixels_vs_real)]
VOICE_MEASURES: list[Measure] = [Measure("mouth", [
    ("env_corr", "corr with envelope", "{:.3f}"), ("gen_std", "opening std", "{:.3f}"),
    ("silence_open", "silence open", "{:.3f}")], mouth_vs_speech),
    Measure("head", [("head_sway", "head sway", "{:.3f}"), ("head_jitter", "head jitter", "{:.4f}"),
                     ("head_drift", "head drift", "{:.3f}")], head_motion),
    Measure("visual", [
    ("mouth_sharpness", "mouth sharpness", "{:.2f}"), ("eye_sharpness", "eye sharpness", "{:.2f}"),
    ("seam", "seam", "{:.2f}"), ("fms", "FMS", "{:.0f}"), ("id_distance", "id distance", "{:.3f}")],
    visual_vs_photo)]


# -- data --------------------------------------------------------------------------------------------
def find_videos(folders: list[Path]) -> list[tuple[Path, str]]:
    """(video, group) for every video in the folders; the group is the folder's name."""
    found = []
    for folder in folders:
        if not folder.is_dir():
            raise TalkfaceError(f"{folder}: not a folder of videos")
        found += [(p, folder.name) for p in sorted(folder.iterdir()) if p.suffix.lower() in VIDEO_SUFFIXES]
    return found


def speech_of(path: Path, audio: np.ndarray, n: int) -> tuple[np.ndarray, str]:
    """Speech frames from the word alignment next to the video when there is one, else from the energy."""
    align = path.with_suffix(".align")
    if align.is_file():
        mask = np.zeros(n, bool)
        for w in grid.read_alignment(align):
            if w.word not in grid.SILENCE_TOKENS:
                mask[int(np.floor(w.start)):int(np.ceil(w.end))] = True
        return mask, "alignment"
    return voice_activity(audio, SAMPLE_RATE, n, FPS), "energy VAD"


def load_video_case(path: Path, group: str, max_seconds: float) -> VideoCase | str:
    """The case, or why the video is skipped."""
    if not probe(path)["has_audio"]:
        return "no audio track"
    video = read_video(path, SAMPLE_RATE, max_seconds=max_seconds)
    if video.audio is None or np.abs(video.audio).max() < 1e-4:
        return "audio track is silent"
    frames = np.stack([downscale(f) for f in video.frames])
    try:
        landmarks = track_video(frames, name=str(path))
    except NoFaceError:
        return "no face found in the real video"
    n = n_frames_for(video.audio)
    speech, source = speech_of(path, video.audio, n)
    return VideoCase(path.stem, group, frames, video.fps, video.audio, landmarks, speech, source)


def load_voice_cases(folder: Path, photos: list[Path], take: int = 0) -> list[VoiceCase]:
    """Per speaker, digits 0-9 (take `take`, else the first take there is) joined with pauses, on each photo."""
    if not folder.is_dir():
        raise TalkfaceError(f"{folder}: not a folder of speech files")
    by_speaker: dict[str, dict[str, Path]] = {}
    for p in sorted(folder.iterdir()):
        m = VOICE_NAME.match(p.stem)
        if p.suffix.lower() in AUDIO_SUFFIXES and m:
            digits = by_speaker.setdefault(m.group(2), {})
            if m.group(1) not in digits or int(m.group(3)) == take:
                digits[m.group(1)] = p
    if not by_speaker:  # any other folder of speech: one "speaker" per file
        by_speaker = {p.stem: {"": p} for p in sorted(folder.iterdir()) if p.suffix.lower() in AUDIO_SUFFIXES}
    pause = np.zeros(int(VOICE_PAUSE_S * SAMPLE_RATE), np.float32)
    joined = {}
    for speaker, digits in by_speaker.items():
        parts, segments, at = [pause], [], len(pause)
        for digit in sorted(digits):
            wave = read_audio(digits[digit], SAMPLE_RATE)
            segments.append((digit, int(at / SAMPLE_RATE * FPS), int(np.ceil((at + len(wave)) / SAMPLE_RATE * FPS))))
            parts += [wave, pause]
            at += len(wave) + len(pause)
        joined[speaker] = (np.concatenate(parts), segments)
    cases = []
    for photo_path in photos:
        photo = downscale(read_image(photo_path))
        cases += [VoiceCase(s, photo_path.stem, photo, audio, segs) for s, (audio, segs) in joined.items()]
    return cases


# -- report ------------------------------------------------------------------------------------------
def _mean(records: list[dict], key: str) -> float:
    values = [r[key] for r in records if isinstance(r.get(key), (int, float)) and np.isfinite(r[key])]
    return float(np.mean(values)) if values else float("nan")


def digit_spread(records: list[dict]) -> float:
    """Mean over digits of the across-speaker coefficient of variation of that digit's peak opening
    (0 = every speaker's digit opens the mouth alike)."""
    digits = sorted({d for r in records for d in r.get("digit_peaks", {})})
    cvs = []
    for d in digits:
        peaks = np.array([r["digit_peaks"][d] for r in records if d in r.get("digit_peaks", {})], np.float64)
        peaks = peaks[np.isfinite(peaks)]
        if len(peaks) > 1 and peaks.mean() > 1e-6:
            cvs.append(peaks.std() / peaks.mean())
    return float(np.mean(cvs)) if cvs else float("nan")


def summarise(records: list[dict], measures: list[Measure], by: str) -> dict:
    """{group: {method: {key: mean}}} over the records' clips."""
    out: dict[str, dict[str, dict]] = {}
    for group in dict.fromkeys(r[by] for r in records):
        for method in dict.fromkeys(r["method"] for r in records):
            rows = [r for r in records if r[by] == group and r["method"] == method]
            if rows:
                summary = {k: _mean(rows, k) for m in measures for k, _, _ in m.columns}
                summary["clips"] = len(rows)
                if by == "photo":
                    summary["digit_spread"] = digit_spread(rows)
                out.setdefault(group, {})[method] = summary
    return out


def _table(title: str, summary: dict, columns: list[tuple[str, str, str]]) -> list[str]:
    lines = [f"### {title}", "", "| method | clips | " + " | ".join(c[1] for c in columns) + " |",
             "|---|---|" + "---|" * len(columns)]
    for method, s in summary.items():
        cells = ["–" if not np.isfinite(s.get(k, np.nan)) else fmt.format(s[k]) for k, _, fmt in columns]
        lines.append(f"| {method} | {s['clips']} | " + " | ".join(cells) + " |")
    return lines + [""]


def markdown(report: dict) -> str:
    video_columns = [c for m in VIDEO_MEASURES for c in m.columns]
    voice_columns = [c for m in VOICE_MEASURES for c in m.columns] + [("digit_spread", "digit spread (CV)", "{:.2f}")]
    lines = ["# People the models never saw (`talkface eval people`)", "",
             f"Command: `{report['command']}`", f"Hardware: {report['hardware']}; {report['seconds']:.0f} s", "",
             f"Protocol: {report['protocol']}", ""]
    if report["skipped"]:
        lines += ["Skipped: " + "; ".join(f"{k} ({v})" for k, v in report["skipped"].items()), ""]
    for group, summary in report["videos"].items():
        lines += _table(f"Talking videos: {group}", summary, video_columns)
    for photo, summary in report["voices"].items():
        lines += _table(f"Voices on photo {photo}", summary, voice_columns)
    lines += ["Per clip (mouth-open corr / amp ratio):", "",
              "| clip | " + " | ".join(report["methods"]) + " |", "|---|" + "---|" * len(report["methods"])]
    for name in dict.fromkeys(r["clip"] for r in report["video_clips"]):
        rows = {r["method"]: r for r in report["video_clips"] if r["clip"] == name}
        lines.append(f"| {name} | " + " | ".join(
            f"{rows[m]['corr']:.2f} / {rows[m]['amp_ratio']:.2f}" if m in rows else "–" for m in report["methods"]) + " |")
    lines += ["", "mouth-open corr: Pearson over the clip of the inner-lip opening (points 61-67, 62-66, 63-65 over "
              "interocular), landmarks re-detected with the same dlib tracker on the real and the generated video; "
              "amp ratio: std(generated) / std(real) = track amp (the rendered track's own opening: its std / std(real)) "
              "x visible / track (std(generated) / the track's: what the render and the re-detection keep of it); "
              "silence open: mean opening on frames >= 0.2 s from speech above the clip's closed level (5th percentile), generated and real. Voices: corr with envelope = "
              "Pearson of the opening with the frame RMS level in dB above the noise floor; opening std in "
              "interocular units (real talking clips: see `real_std` in report.json); digit spread = across "
              "speakers, std / mean of each digit's peak opening, averaged over digits. Head (voices, head motion on, not "
              "rendered): centroid of the stable points in interocular units: sway = its std, jitter = mean |second "
              "difference| per frame, drift = last 0.5 s vs the photo."]
    return "\n".join(lines) + "\n"


def sheet_block(case: VideoCase, outs: list[Rendered], tile: int = 96) -> np.ndarray:
    """One clip's block of the contact sheet: rows real + each method, 4 columns at the real mouth's
    widest moments in speech, all cropped around the photo's face."""
    real = np.where(case.speech, case.real_opening, np.nan)
    order = np.argsort(np.nan_to_num(real, nan=-1.0))[::-1]
    picks = sorted(order[::max(1, len(order) // 16)][:4])
    x, y, w, h = cv2.boundingRect(np.nan_to_num(case.landmarks[0]).astype(np.int32))
    pad = int(0.25 * max(w, h))
    sources = [("real", case.frames, case.fps)] + [(o.method, o.frames, FPS) for o in outs]
    rows = []
    for label, frames, fps in sources:
        tiles = []
        for t in picks:
            frame = frames[min(int(round(t / FPS * fps)), len(frames) - 1)]
            crop = np.ascontiguousarray(frame[max(0, y - pad):y + h + pad, max(0, x - pad):x + w + pad])
            tiles.append(cv2.resize(crop, (tile, tile), interpolation=cv2.INTER_AREA))
        row = np.concatenate(tiles, axis=1)
        cv2.putText(row, f"{case.name}: {label}"[:48], (2, 10), cv2.FONT_HERSHEY_SIMPLEX, 0.3, (255, 255, 0), 1)
        rows.append(row)
    return np.concatenate(rows, axis=0)


@dataclass
class PeopleConfig:
    videos: list[str] = field(default_factory=lambda: [str(DEFAULT_DEV_ROOT / "grid_other"), str(DEFAULT_DEV_ROOT / "talk")])
    voices: str | None = str(DEFAULT_DEV_ROOT / "voices")
    voice_photos: list[str] = field(default_factory=lambda: [str(DEFAULT_DEV_ROOT / "photos" / p) for p in VOICE_PHOTOS])
    audio2lmk: list[str] = field(default_factory=lambda: ["auto", "phonetic"])
    lmk2video: str = "warp"
    real_track: list[str] = field(default_factory=lambda: ["warp", "auto"])  # lmk2video stages animated by real tracks
    max_seconds: float = MAX_SECONDS
    limit: int | None = None
    device: str = "cpu"
    out: str = "runs/eval_people"
    command: str = ""


def run_eval_people(config: PeopleConfig) -> dict:
    start = time.perf_counter()
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    methods: list[Method] = [AudioMethod(spec, config.lmk2video, config.device) for spec in dict.fromkeys(config.audio2lmk)]
    methods.append(CopyFirstFrame())
    methods += [RealTrackMethod(spec, config.device) for spec in dict.fromkeys(config.real_track)]
    skipped: dict[str, str] = {}
    video_records, sheet = [], []
    videos = find_videos([Path(v) for v in config.videos])[:config.limit]
    for path, group in tqdm(videos, unit="video", desc="eval people: videos"):
        case = load_video_case(path, group, config.max_seconds)  # one at a time: frames are big
        if isinstance(case, str):
            skipped[path.name] = case
            print(f"skipping {path}: {case}")
            continue
        outs = [m.render(case) for m in methods]
        sheet.append(sheet_block(case, outs))
        for r in outs:
            record = {"clip": case.name, "group": case.group, "method": r.method, "frames": case.n,
                      "speech_source": case.speech_source}
            for measure in VIDEO_MEASURES:
                record.update(measure.fn(case, r))
            video_records.append(record)
    if sheet:
        cv2.imwrite(str(out / "contact_sheet.png"), cv2.cvtColor(np.concatenate(sheet, axis=0), cv2.COLOR_RGB2BGR))
    voice_records, photo_rows = [], {}
    if config.voices:
        voice_cases = load_voice_cases(Path(config.voices), [Path(p) for p in config.voice_photos])
        for case in tqdm(voice_cases[:config.limit], unit="voice", desc="eval people: voices"):
            for m in methods:
                if getattr(m, "videos_only", False):
                    continue
                r = m.render(case)
                if (case.photo_name, r.method) not in photo_rows:  # one speaker's run per photo and method
                    photo_rows[(case.photo_name, r.method)] = photo_sheet_row(case, r)
                record = {"clip": case.name, "speaker": case.speaker, "photo": case.photo_name, "method": r.method,
                          "frames": case.n}
                for measure in VOICE_MEASURES:
                    record.update(measure.fn(case, r))
                voice_records.append(record)
    if photo_rows:
        rows = list(photo_rows.values())
        width = max(r.shape[1] for r in rows)
        rows = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0))) for r in rows]
        cv2.imwrite(str(out / "photo_sheet.png"), cv2.cvtColor(np.concatenate(rows, axis=0), cv2.COLOR_RGB2BGR))
    report = {
        "command": config.command, "config": {k: v for k, v in vars(config).items() if k != "command"},
        "hardware": f"{platform.machine()} CPU x{os.cpu_count()}" if config.device == "cpu" else config.device,
        "protocol": (f"photo = first frame (downscaled to <= {MAX_SIDE} px), speech = the clip's own audio, first "
                     f"{config.max_seconds:g} s; every audio method rendered with lmk2video `{config.lmk2video}`, "
                     "still head, no blinks, 25 fps; real track: the first frame animated by the video's own "
                     f"landmarks (lmk2video {', '.join(config.real_track) or 'none'}); face PSNR/SSIM on the face "
                     "crop at the face's own resolution against the real frame at the same time; voices: digits 0-9 of each "
                     f"speaker joined with {VOICE_PAUSE_S:g} s pauses, on photos "
                     + ", ".join(Path(p).stem for p in config.voice_photos)),
        "methods": [m.name for m in methods], "skipped": skipped,
        "videos": summarise(video_records, VIDEO_MEASURES, "group"),
        "voices": summarise(voice_records, VOICE_MEASURES, "photo"),
        "video_clips": video_records, "voice_clips": voice_records,
    }
    report["seconds"] = round(time.perf_counter() - start, 1)
    write_report(out, "report", report, markdown(report))
    return report
