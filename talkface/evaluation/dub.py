"""`talkface eval dub`: dubbing measured on GRID clips with the project's metrics and lipreader.

* self-dub: each clip re-dubbed with its own audio, compared with the real video: PSNR/SSIM of 128² face
  crops and of the fixed mouth box (placed by the first real frame, as in `eval grid`), mouth LMD and
  mouth-opening correlation (dlib landmarks re-detected on the dubbed frames), lipreader WER.
* cross-dub: clip A's video with clip B's audio (B = the clip half the split away), read by the lipreader
  against B's sentence, beside two floors: A untouched read as B (what a video saying something else
  scores) and the real B (the lipreader's own error).
* `--other GLOB` (repeatable): any talking videos (e.g. ../shared/data/dev/grid_other/*.mpg, dev/talk/*.mp4)
  self-dubbed and scored at the frame level against their own frames, beside a floor dubbed with silence
  (talkface/evaluation/dub_video.py); `grid_clips=False` (`--other-only`) scores only those.
"""

from __future__ import annotations

import glob
import os
import platform
import time
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from talkface import grid
from talkface.audio import SAMPLE_RATE
from talkface.dub import MOTION_GAIN, Dubber
from talkface.evaluation.dub_video import ID_EVERY, MAX_SECONDS, SELF, score_video, skip_reason
from talkface.errors import TalkfaceError
from talkface.face_crop import crop_face, crop_transform
from talkface.landmarks.indices import MOUTH
from talkface.landmarks.track import track_video
from talkface.lipreading.mouth import mouth_crops
from talkface.lipreading.wer import LipReader
from talkface.media import read_video
from talkface.metrics import FaceDescriber, lmd, mouth_opening_correlation, mouth_psnr_ssim, video_psnr_ssim
from talkface.prepare_grid import damage_reason
from talkface.report import write_report



class _Clip:
    """A real clip: frames, audio, dlib track, the crop placed by its first frame, its sentence."""

    def __init__(self, path: Path, transcript: str):
        video = read_video(path, sample_rate=SAMPLE_RATE)
        self.path, self.frames, self.audio, self.transcript = path, video.frames, video.audio, transcript
        if self.audio is None:
            raise TalkfaceError(f"{path}: no audio track")
        reason = damage_reason(self.frames)
        if reason:
            raise TalkfaceError(f"{path}: damaged clip ({reason})")
        self.landmarks = track_video(self.frames, name=str(path))
        self.crop = crop_transform(self.landmarks[0])
        self.crops = np.stack([crop_face(f, self.crop) for f in self.frames])


def _read(reader: LipReader, crops: np.ndarray, crop_landmarks: np.ndarray) -> str:
    return reader.read(mouth_crops(crops, crop_landmarks, reader.mouth_size))


def _score(truth: _Clip, frames: list[np.ndarray], reader: LipReader) -> dict:
    n = min(len(frames), len(truth.frames))
    gen = np.stack(frames[:n])
    gen_crops = np.stack([crop_face(f, truth.crop) for f in gen])
    real_crops = truth.crops[:n]
    gen_lmk = track_video(gen)
    face = video_psnr_ssim(gen_crops, real_crops)
    mouth = mouth_psnr_ssim(gen_crops, real_crops, truth.crop.to_crop(truth.landmarks[:n]))
    row = {"psnr": face["psnr"], "ssim": face["ssim"], "mouth_psnr": mouth["psnr"], "mouth_ssim": mouth["ssim"],
           "mouth_lmd": lmd(gen_lmk, truth.landmarks[:n], MOUTH),
           "mouth_corr": mouth_opening_correlation(gen_lmk, truth.landmarks[:n]),
           "hypothesis": _read(reader, gen_crops, truth.crop.to_crop(gen_lmk))}
    return row


def _wer(rows: list[dict]) -> dict:
    import jiwer
    return {"wer": float(jiwer.wer([r["reference"] for r in rows], [r["hypothesis"] for r in rows])),
            "cer": float(jiwer.cer([r["reference"] for r in rows], [r["hypothesis"] for r in rows]))}


def _summary(rows: list[dict]) -> dict:
    if not rows:
        return {}
    keys = [k for k in ("psnr", "ssim", "mouth_psnr", "mouth_ssim", "mouth_lmd", "mouth_corr") if k in rows[0]]
    out = {k: float(np.nanmean([r[k] for r in rows])) for k in keys}
    if "hypothesis" in rows[0] and "reference" in rows[0]:
        out.update(_wer(rows))
    out["clips"] = len(rows)
    return out


COLUMNS = [("psnr", "face PSNR", "{:.2f}"), ("ssim", "face SSIM", "{:.3f}"), ("mouth_psnr", "mouth PSNR", "{:.2f}"),
           ("mouth_ssim", "mouth SSIM", "{:.3f}"), ("mouth_lmd", "mouth LMD", "{:.4f}"),
           ("mouth_corr", "mouth-open corr", "{:.3f}"), ("wer", "WER", "{:.3f}"), ("cer", "CER", "{:.3f}"),
           ("clips", "clips", "{}")]


VIDEO_COLUMNS = [("frame_psnr", "frame PSNR", "{:.2f}"), ("frame_ssim", "frame SSIM", "{:.4f}"),
                 ("face_psnr", "face PSNR", "{:.2f}"), ("face_ssim", "face SSIM", "{:.3f}"),
                 ("mouth_psnr", "mouth PSNR", "{:.2f}"), ("mouth_ssim", "mouth SSIM", "{:.3f}"),
                 ("mouth_corr", "mouth-open corr", "{:.3f}"), ("amp_ratio", "amp ratio", "{:.2f}"),
                 ("mouth_lmd", "mouth LMD", "{:.4f}"), ("id_distance", "id distance", "{:.3f}"),
                 ("lost", "face lost", "{:.1%}"), ("occluded", "occluded", "{:.1%}"),
                 ("output_lost", "lost on output", "{:.1%}"),
                 ("dub_s_per_video_s", "dub s / video s", "{:.2f}")]
VIDEO_NOTES = ("Frame level (talkface/evaluation/dub_video.py): each video's first {max_seconds:g} s dubbed with its own audio "
               "(floor: with silence, the mouth held at the video's most closed mouth), raw dubbed frames (not encoded) "
               "against the original's. frame: the whole frame; face: the 128-px face crop aligned on each frame by the "
               "landmarks tracked on the original; mouth: the box 1.6 x the lips' extent around them at the video's "
               "resolution; face and mouth only where the original's face was found. mouth-open corr / amp ratio / "
               "mouth LMD: landmarks re-detected on the dubbed frames with the dub's own streamed tracker vs the "
               "original's; id distance: dlib descriptor of dubbed vs original frame (every {id_every}th), both at the "
               "original's landmarks; face lost / occluded: frames the dub passed through untouched (no face found / the lower "
               "face covered or the landmarks off it, lmk2video/occlusion.py); lost on output: frames where "
               "the re-detection lost a face the original has; dub s / video s: wall time of the dub (track, plan, "
               "render; not the scoring) per second of video. The untouched original scores 100 dB, 1.0, 0.")


def _cells(summary: dict, columns) -> str:
    return " | ".join(fmt.format(summary[k]) if k in summary and np.isfinite(summary[k]) else "–" for k, _, fmt in columns)


def _spread(values: list[float]) -> dict:
    """Mean, min and max of the per-dub values (empty: {})."""
    return {"mean": float(np.mean(values)), "min": float(min(values)), "max": float(max(values))} if values else {}


def _gain_used(report: dict) -> str:
    """'matched (1.00-1.42, mean 1.12)' -- the gain asked for, and the range the dubs ran with."""
    used = report.get("motion_gain_used") or {}
    if not used or used["min"] == used["max"]:
        return str(report["motion_gain"])
    return f"{report['motion_gain']} ({used['min']:.2f}-{used['max']:.2f}, mean {used['mean']:.2f})"


def _mouth_used(report: dict) -> str:
    """'auto: generate on 40 dubs' -- the mode asked for, and what each dub ran with when that differs."""
    used = report.get("mouth_used", {})
    if set(used) <= {report["mouth"]}:
        return report["mouth"]
    return f"{report['mouth']}: " + ", ".join(f"{m} on {n} dub{'s' * (n != 1)}" for m, n in sorted(used.items()))


def _markdown(report: dict) -> str:
    lines = ["# Dubbing evaluation" + (f": GRID {report['speaker']} {report['split']}" if report["clips"] else ""), "",
             f"Command: `{report['command']}` (mouth: {_mouth_used(report)}, fetch blend: {report.get('fetch_blend', 'shape')}, "
             f"motion gain: {_gain_used(report)})", f"Hardware: {report['hardware']}; {report['seconds']:.0f} s; "
             f"models: {report['models']}", "Excluded: " + (", ".join(f"{k} ({v})" for k, v in report["excluded"].items()) or "none"), ""]
    if report["methods"]:
        lines += ["| method | " + " | ".join(c[1] for c in COLUMNS) + " |", "|---|" + "---|" * len(COLUMNS)]
        lines += [f"| {method} | {_cells(summary, COLUMNS)} |" for method, summary in report["methods"].items()]
        lines.append("")
    for group, methods in report["videos"].items():
        lines += [f"## Self-dub of talking videos: {group}", "",
                  "| method | videos (s) | " + " | ".join(c[1] for c in VIDEO_COLUMNS) + " |",
                  "|---|---|" + "---|" * len(VIDEO_COLUMNS)]
        lines += [f"| {method} | {s['clips']} ({s['seconds']:.0f}) | {_cells(s, VIDEO_COLUMNS)} |" for method, s in methods.items()]
        lines.append("")
    if report["videos"]:
        lines += ["Per video:", "", "| video | method | size, fps | " + " | ".join(c[1] for c in VIDEO_COLUMNS) + " |",
                  "|---|---|---|" + "---|" * len(VIDEO_COLUMNS)]
        lines += [f"| {r['clip']} | {r['method']} | {r['size']}, {r['fps']:g} | {_cells(r, VIDEO_COLUMNS)} |"
                  for r in report["per_clip"]["other"]]
        lines += ["", VIDEO_NOTES.format(max_seconds=report["max_seconds"], id_every=ID_EVERY)]
    return "\n".join(lines) + "\n"


def other_videos(patterns: list[str]) -> list[Path]:
    """The files the globs match, in order, each once; one line when globs were given and none matches."""
    paths = [Path(p) for p in dict.fromkeys(p for pattern in patterns for p in sorted(glob.glob(pattern)))]
    if patterns and not paths:
        raise TalkfaceError(f"--other {' '.join(patterns)}: no file matches")
    return paths


def _score_other(dubber: Dubber, paths: list[Path], max_seconds: float, excluded: dict
                 ) -> tuple[list[dict], list[np.ndarray]]:
    """Frame-level self-dub and silent floor of each video -> (records, contact-sheet blocks)."""
    describer = FaceDescriber() if paths else None
    rows, sheet = [], []
    for path in tqdm(paths, unit="video", desc="self-dub videos"):
        try:  # a file that is no talking video is listed as excluded, with why; the others still run
            reason = skip_reason(path)
            if reason is None:
                records, block = score_video(dubber, path, max_seconds, describer)
        except TalkfaceError as err:
            reason = str(err).split(": ", 1)[-1]
        if reason:
            excluded[path.name] = reason
            continue
        rows += [{"method": method, "clip": path.stem, "group": path.parent.name, **r} for method, r in records.items()]
        if block is not None:
            sheet.append(block)
    return rows, sheet


def _video_summaries(rows: list[dict]) -> dict:
    """{group: {method: {column: mean over its videos}}}."""
    out: dict = {}
    for row in rows:
        out.setdefault(row["group"], {}).setdefault(row["method"], []).append(row)
    return {group: {method: {**{k: float(np.nanmean([r[k] for r in rs])) for k, _, _ in VIDEO_COLUMNS},
                             "clips": len(rs), "seconds": float(sum(r["seconds"] for r in rs))}
                    for method, rs in methods.items()} for group, methods in out.items()}


def run_eval_dub(grid_root: str, out_dir: str, split: str = "test", speaker: str = "s1", limit: int | None = None,
                 other: list[str] | None = None, audio2lmk: str = "auto", lmk2video: str = "auto", device: str = "cpu",
                 mouth: str = "auto", blend: str = "shape", command: str = "", max_seconds: float = MAX_SECONDS, grid_clips: bool = True,
                 motion_gain: float | None = MOTION_GAIN) -> dict:
    """GRID self-/cross-dub on `speaker`'s `split` (unless grid_clips is False) and the frame-level self-dub of
    the videos matching the `other` globs (their first `max_seconds`)."""
    start = time.perf_counter()
    videos = other_videos(other or [])
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ids, clips = [], {}
    if grid_clips:
        clips = {c.clip_id: c for c in grid.find_clips(grid_root, [speaker])}
        ids = [i for i in grid.read_split(grid.split_path(grid_root, speaker, split)) if i in clips][:limit]
    dubber = Dubber(audio2lmk=audio2lmk, lmk2video=lmk2video, device=device, mouth=mouth, blend=blend,
                    motion_gain=motion_gain)
    reader = LipReader.load(device=device) if grid_clips else None
    methods = {"self-dub (own audio)": [], "cross-dub (another clip's audio), read as that clip": [],
               "floor: untouched video read as the other clip": [], "floor: real video (lipreader error)": []}
    excluded: dict[str, str] = {}
    truths: dict[str, _Clip] = {}

    def truth(clip_id: str) -> _Clip | None:
        if clip_id not in truths and clip_id not in excluded:
            clip = clips[clip_id]
            sentence = grid.transcript_from_alignment(grid.read_alignment(clip.alignment)) if clip.alignment \
                else grid.transcript_from_id(clip_id)
            try:
                truths.clear()  # keep at most the clip and its partner in memory
                truths[clip_id] = _Clip(clip.video, sentence)
            except TalkfaceError as err:
                excluded[clip_id] = str(err).split(": ", 1)[-1]
        return truths.get(clip_id)

    usable = []
    used: Counter = Counter()  # the mouth mode each dub ran with (auto: per face)
    gains: list[float] = []  # the motion gain each dub ran with (None: per video)
    for clip_id in tqdm(ids, unit="clip", desc="eval dub"):
        a = truth(clip_id)
        if a is None:
            continue
        usable.append(clip_id)
        frames, result = dubber.dub(a.path, a.audio, None)
        used[result.mouth] += 1
        gains.append(result.motion_gain)
        row = _score(a, frames, reader)
        methods["self-dub (own audio)"].append(dict(row, clip=clip_id, reference=a.transcript))
        real_text = _read(reader, a.crops, a.crop.to_crop(a.landmarks))
        methods["floor: real video (lipreader error)"].append(
            {"clip": clip_id, "reference": a.transcript, "hypothesis": real_text})
    # Cross-dub pairs: each clip with the audio of the clip half the list away (neighbouring GRID ids share
    # most words, which would flatter the untouched-video floor).
    for i, clip_id in enumerate(tqdm(usable, unit="clip", desc="cross-dub")):
        partner = usable[(i + len(usable) // 2) % len(usable)]
        b = truth(partner)
        b_audio, b_text = b.audio, b.transcript
        a = truth(clip_id)
        frames, result = dubber.dub(a.path, b_audio, None)
        used[result.mouth] += 1
        gains.append(result.motion_gain)
        crops = np.stack([crop_face(f, a.crop) for f in frames])
        gen_lmk = track_video(np.stack(frames))
        methods["cross-dub (another clip's audio), read as that clip"].append(
            {"clip": clip_id, "audio_of": partner, "reference": b_text,
             "hypothesis": _read(reader, crops, a.crop.to_crop(gen_lmk))})
        methods["floor: untouched video read as the other clip"].append(
            {"clip": clip_id, "reference": b_text, "hypothesis": _read(reader, a.crops, a.crop.to_crop(a.landmarks))})
    other_rows, sheet = _score_other(dubber, videos, max_seconds, excluded)
    used.update(row["mouth"] for row in other_rows)
    gains += [row["motion_gain"] for row in other_rows if row["method"] == SELF]
    summaries = {m: _summary(rows) for m, rows in methods.items() if rows}
    report = {"mouth": mouth, "mouth_used": dict(used), "fetch_blend": blend, "motion_gain": "matched" if motion_gain is None else motion_gain,
              "motion_gain_used": _spread(gains), "speaker": speaker, "split": split, "clips": usable, "excluded": excluded, "command": command,
              "hardware": f"{platform.machine()} CPU x{os.cpu_count()}" if device == "cpu" else device,
              "models": f"{dubber.audio2lmk_name} + {dubber.lmk2video_name}"
                        + (f", lipreader {Path(reader.checkpoint).name}" if reader else ""),
              "methods": summaries, "other": other, "max_seconds": max_seconds,
              "videos": _video_summaries(other_rows), "seconds": round(time.perf_counter() - start, 1),
              "per_clip": {**methods, "other": other_rows}}
    rows = [{"method": method, **row} for method, method_rows in report["per_clip"].items() for row in method_rows
            if method != "other"] + other_rows
    if sheet:
        width = max(block.shape[1] for block in sheet)
        sheet = [np.pad(b, ((0, 0), (0, width - b.shape[1]), (0, 0))) for b in sheet]
        cv2.imwrite(str(out / "contact_sheet.png"), cv2.cvtColor(np.concatenate(sheet, axis=0), cv2.COLOR_RGB2BGR))
    write_report(out, "report", report, _markdown(report), rows)
    return report
