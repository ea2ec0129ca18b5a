"""`talkface eval dub`: dubbing measured on GRID clips with the project's metrics and lipreader.

* self-dub: each clip re-dubbed with its own audio, compared with the real video: PSNR/SSIM of 128² face
  crops and of the fixed mouth box (placed by the first real frame, as in `eval grid`), mouth LMD and
  mouth-opening correlation (dlib landmarks re-detected on the dubbed frames), lipreader WER.
* cross-dub: clip A's video with clip B's audio (B = the clip half the split away), read by the lipreader
  against B's sentence, beside two floors: A untouched read as B (what a video saying something else
  scores) and the real B (the lipreader's own error).
* `--other`: videos of people never trained on (e.g. ../shared/data/dev/grid_other/*.mpg) self-dubbed:
  face and mouth PSNR/SSIM, mouth LMD, mouth-opening correlation.
"""

from __future__ import annotations

import glob
import os
import platform
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from talkface import grid
from talkface.audio import SAMPLE_RATE
from talkface.dub import Dubber
from talkface.errors import TalkfaceError
from talkface.face_crop import crop_face, crop_transform
from talkface.landmarks.indices import MOUTH
from talkface.landmarks.track import track_video
from talkface.lipreading.mouth import mouth_crops
from talkface.lipreading.wer import LipReader
from talkface.media import read_video
from talkface.metrics import lmd, mouth_opening_correlation, mouth_psnr_ssim, video_psnr_ssim
from talkface.prepare_grid import damage_reason
from talkface.report import write_report



class _Clip:
    """A real clip: frames, audio, dlib track, the crop placed by its first frame, its sentence."""

    def __init__(self, path: Path, transcript: str | None):
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


def _score(truth: _Clip, frames: list[np.ndarray], reader: LipReader | None) -> dict:
    n = min(len(frames), len(truth.frames))
    gen = np.stack(frames[:n])
    gen_crops = np.stack([crop_face(f, truth.crop) for f in gen])
    real_crops = truth.crops[:n]
    gen_lmk = track_video(gen)
    face = video_psnr_ssim(gen_crops, real_crops)
    mouth = mouth_psnr_ssim(gen_crops, real_crops, truth.crop.to_crop(truth.landmarks[:n]))
    row = {"psnr": face["psnr"], "ssim": face["ssim"], "mouth_psnr": mouth["psnr"], "mouth_ssim": mouth["ssim"],
           "mouth_lmd": lmd(gen_lmk, truth.landmarks[:n], MOUTH),
           "mouth_corr": mouth_opening_correlation(gen_lmk, truth.landmarks[:n])}
    if reader is not None:
        row["hypothesis"] = _read(reader, gen_crops, truth.crop.to_crop(gen_lmk))
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


def _markdown(report: dict) -> str:
    lines = [f"# Dubbing evaluation: GRID {report['speaker']} {report['split']}", "",
             f"Command: `{report['command']}` (mouth: {report['mouth']})", f"Hardware: {report['hardware']}; {report['seconds']:.0f} s; "
             f"models: {report['models']}", "Excluded: " + (", ".join(f"{k} ({v})" for k, v in report["excluded"].items()) or "none"), "",
             "| method | " + " | ".join(c[1] for c in COLUMNS) + " |", "|---|" + "---|" * len(COLUMNS)]
    for method, summary in report["methods"].items():
        cells = [fmt.format(summary[key]) if key in summary else "–" for key, _, fmt in COLUMNS]
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def run_eval_dub(grid_root: str, out_dir: str, split: str = "test", speaker: str = "s1", limit: int | None = None,
                 other: str | None = None, audio2lmk: str = "auto", lmk2video: str = "auto", device: str = "cpu",
                 mouth: str = "generate", command: str = "") -> dict:
    start = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    clips = {c.clip_id: c for c in grid.find_clips(grid_root, [speaker])}
    ids = [i for i in grid.read_split(grid.split_path(grid_root, speaker, split)) if i in clips][:limit]
    dubber = Dubber(audio2lmk=audio2lmk, lmk2video=lmk2video, device=device, mouth=mouth)
    reader = LipReader.load(device=device)
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
    for clip_id in tqdm(ids, unit="clip", desc="eval dub"):
        a = truth(clip_id)
        if a is None:
            continue
        usable.append(clip_id)
        frames, _ = dubber.dub(a.path, a.audio, None)
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
        frames, _ = dubber.dub(a.path, b_audio, None)
        crops = np.stack([crop_face(f, a.crop) for f in frames])
        gen_lmk = track_video(np.stack(frames))
        methods["cross-dub (another clip's audio), read as that clip"].append(
            {"clip": clip_id, "audio_of": partner, "reference": b_text,
             "hypothesis": _read(reader, crops, a.crop.to_crop(gen_lmk))})
        methods["floor: untouched video read as the other clip"].append(
            {"clip": clip_id, "reference": b_text, "hypothesis": _read(reader, a.crops, a.crop.to_crop(a.landmarks))})
    other_rows = []
    for path in sorted(glob.glob(other)) if other else []:
        try:
            clip = _Clip(Path(path), None)
        except TalkfaceError as err:
            excluded[Path(path).name] = str(err).split(": ", 1)[-1]
            continue
        frames, _ = dubber.dub(clip.path, clip.audio, None)
        other_rows.append(dict(_score(clip, frames, None), clip=Path(path).name))
    summaries = {m: _summary(rows) for m, rows in methods.items()}
    if other_rows:
        summaries[f"self-dub, unseen people ({other})"] = _summary(other_rows)
    report = {"mouth": mouth, "speaker": speaker, "split": split, "clips": usable, "excluded": excluded, "command": command,
              "hardware": f"{platform.machine()} CPU x{os.cpu_count()}" if device == "cpu" else device,
              "models": f"{dubber.audio2lmk_name} + {dubber.lmk2video_name}, lipreader {Path(reader.checkpoint).name}",
              "methods": summaries, "seconds": round(time.perf_counter() - start, 1),
              "per_clip": {**methods, "other": other_rows}}
    rows = [{"method": method, **row} for method, method_rows in report["per_clip"].items() for row in method_rows]
    write_report(out, "report", report, _markdown(report), rows)
    return report
