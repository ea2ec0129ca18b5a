"""`talkface eval grid`: generate every s1 test clip from its first frame and its audio (and, with
`--oracle`, from its real landmark track), score it with every metric of DESIGN.md beside the floors,
and write report.md, report.json, report.csv (per clip) and ced.png.

Every method is measured through the same path: 128² crops placed by the first real frame's landmarks
(the prepared crop matrix), landmarks re-detected on the generated frames with the same dlib tracker,
FMS on every `fms_stride`-th frame, and the shipped lipreader reading the mouth crops.
"""

from __future__ import annotations

import functools
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from talkface import grid
from talkface.audio import FPS, SAMPLE_RATE
from talkface.face_crop import CropTransform, crop_face
from talkface.landmarks.track import track_video
from talkface.lipreading.mouth import mouth_crops
from talkface.lipreading.wer import LipReader
from talkface.media import read_video, write_video
from talkface.metrics import (FaceDescriber, ced, ced_auc, failure_rate, fms, lmd, mouth_opening_correlation,
                              mouth_psnr_ssim, normalised_errors, video_psnr_ssim)
from talkface.pipeline import Synthesizer
from talkface.prepared import PreparedSet
from talkface.report import markdown_table, write_report

MOUTH = list(range(48, 68))


@dataclass
class ClipTruth:
    clip_id: str
    frames: np.ndarray          # (T, H, W, 3) real video
    audio: np.ndarray           # 16 kHz mono
    landmarks: np.ndarray       # (T, 68, 2) real track, frame coordinates
    crop: CropTransform         # placed by the first real frame
    transcript: str

    @functools.cached_property
    def crops(self) -> np.ndarray:
        return np.stack([crop_face(f, self.crop) for f in self.frames])


class ClipScorer:
    """All metrics of one generated clip against its truth."""

    def __init__(self, reader: LipReader, fms_stride: int = 5):
        self.reader = reader
        self.describer = FaceDescriber()
        self.fms_stride = fms_stride

    def score(self, truth: ClipTruth, frames: np.ndarray, source_descriptor: np.ndarray,
              gen_landmarks: np.ndarray | None = None, still: bool = False) -> dict:
        n = min(len(frames), len(truth.frames))
        frames = frames[:n]
        real_crops = truth.crops[:n]
        gen_crops = np.stack([crop_face(f, truth.crop) for f in frames])
        real_crop_lmk = truth.crop.to_crop(truth.landmarks[:n])
        if gen_landmarks is None:
            gen_landmarks = track_video(frames)
        gen_landmarks = gen_landmarks[:n]
        face = video_psnr_ssim(gen_crops, real_crops)
        mouth = mouth_psnr_ssim(gen_crops, real_crops, real_crop_lmk)
        picked = slice(0, n, self.fms_stride)
        if still:  # every frame is the photo itself: one descriptor stands for all
            descriptors = np.repeat(self.describer.describe(frames[0], gen_landmarks[0])[None], len(frames[picked]), 0)
        else:
            descriptors = self.describer.describe_batch(frames[picked], gen_landmarks[picked])
        identity = fms(descriptors, source_descriptor)
        mouths = mouth_crops(gen_crops, truth.crop.to_crop(gen_landmarks), self.reader.mouth_size)
        hypothesis = self.reader.read(mouths, name=truth.clip_id)
        return {
            "psnr": face["psnr"], "ssim": face["ssim"], "mouth_psnr": mouth["psnr"], "mouth_ssim": mouth["ssim"],
            "lmd": lmd(gen_landmarks, truth.landmarks[:n]), "mouth_lmd": lmd(gen_landmarks, truth.landmarks[:n], MOUTH),
            "mouth_corr": mouth_opening_correlation(gen_landmarks, truth.landmarks[:n]),
            "fms": identity["fms"], "face_distance": identity["mean_distance"],
            "hypothesis": hypothesis, "errors": normalised_errors(gen_landmarks, truth.landmarks[:n]).tolist(),
        }


def _wer(rows: list[dict]) -> dict:
    import jiwer
    refs = [r["reference"] for r in rows]
    hyps = [r["hypothesis"] for r in rows]
    return {"wer": float(jiwer.wer(refs, hyps)), "cer": float(jiwer.cer(refs, hyps))}


def _summary(rows: list[dict]) -> dict:
    keys = ("psnr", "ssim", "mouth_psnr", "mouth_ssim", "lmd", "mouth_lmd", "mouth_corr", "fms", "face_distance")
    summary = {k: float(np.nanmean([r[k] for r in rows])) for k in keys if k in rows[0]}
    errors = np.concatenate([r["errors"] for r in rows]) if "errors" in rows[0] else None
    if errors is not None:
        summary["ced_auc"] = ced_auc(errors)
        summary["failure_rate"] = failure_rate(errors)
    summary.update(_wer(rows))
    return summary


def _plot_ced(per_method: dict[str, list[dict]], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 4), dpi=120)
    for method, rows in per_method.items():
        if "errors" not in rows[0]:
            continue
        thresholds, fractions = ced(np.concatenate([r["errors"] for r in rows]))
        ax.plot(thresholds, fractions, label=method)
    ax.set_xlabel("normalised landmark error (interocular)")
    ax.set_ylabel("fraction of frames")
    ax.set_title("Cumulative error distribution, GRID s1 test")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


METRIC_COLUMNS = [("psnr", "PSNR", "{:.2f}"), ("ssim", "SSIM", "{:.3f}"), ("mouth_psnr", "mouth PSNR", "{:.2f}"),
                  ("mouth_ssim", "mouth SSIM", "{:.3f}"), ("lmd", "LMD", "{:.4f}"), ("mouth_lmd", "mouth LMD", "{:.4f}"),
                  ("mouth_corr", "mouth-open corr", "{:.3f}"), ("ced_auc", "CED AUC@0.1", "{:.3f}"),
                  ("failure_rate", "FR@0.1", "{:.3f}"), ("fms", "FMS %", "{:.1f}"),
                  ("face_distance", "face dist", "{:.3f}"), ("wer", "WER", "{:.3f}"), ("cer", "CER", "{:.3f}")]


def _markdown(report: dict) -> str:
    rows = [[method] + [fmt.format(summary[key]) if key in summary else "–" for key, _, fmt in METRIC_COLUMNS]
            for method, summary in report["methods"].items()]
    lines = [f"# GRID {report['speaker']} {report['split']} evaluation", "",
             f"{report['n_clips']} clips; excluded: " + (", ".join(f"{k} ({v})" for k, v in report["excluded"].items()) or "none"),
             f"Command: `{report['command']}`", f"Hardware: {report['hardware']}; {report['seconds']:.0f} s", "",
             markdown_table(["method"] + [c[1] for c in METRIC_COLUMNS], rows)]
    lines += ["", "PSNR/SSIM on 128² face crops (and a fixed mouth crop) placed by the first real frame; "
              "LMD normalised by interocular distance, landmarks re-detected with dlib on generated frames; "
              "FMS = % of sampled frames within 0.6 of the source face's dlib descriptor; "
              "WER/CER of the shipped GRID lipreader (grammar-constrained)."]
    return "\n".join(lines) + "\n"


def load_truth(prepared: PreparedSet, clip_id: str) -> ClipTruth:
    entry = prepared.manifest["clips"][clip_id]
    video = read_video(entry["video"], sample_rate=SAMPLE_RATE)
    clip = prepared.load(clip_id, crops=False)
    crop = CropTransform(clip.crop_matrix, int(prepared.manifest["size"]))
    return ClipTruth(clip_id, video.frames, video.audio, clip.landmarks, crop, clip.transcript)


def run_eval_grid(prepared_root: str, grid_root: str, out_dir: str, split: str = "test", speaker: str = "s1",
                  audio2lmk: str = "auto", lmk2video: str = "auto", oracle: bool = False, limit: int | None = None,
                  device: str = "cpu", save_videos: bool = True, command: str = "") -> dict:
    start = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    prepared = PreparedSet(prepared_root)
    split_ids = grid.read_split(grid.split_path(grid_root, speaker, split))
    ids = prepared.ids(split_ids)[:limit]
    synth = Synthesizer(audio2lmk=audio2lmk, lmk2video=lmk2video, device=device)
    scorer = ClipScorer(LipReader.load(device=device))
    generated = f"audio: {synth.audio2lmk_name} + {synth.lmk2video_name}"
    # Random blinks and sway would only add noise; head motion predicted from the speech is kept.
    speech_head_pose = synth.audio2lmk.predicts_head_pose
    per_method: dict[str, list[dict]] = {generated: [], "copy first frame": [], "real video": []}
    if oracle:
        per_method[f"oracle landmarks + {synth.lmk2video_name}"] = []
    for clip_id in tqdm(ids, unit="clip", desc="eval grid"):
        truth = load_truth(prepared, clip_id)
        photo = truth.frames[0]
        source = synth.source_face(photo, name=clip_id)
        source_descriptor = scorer.describer.describe(photo, source.landmarks)
        runs = {generated: synth.landmarks_from_audio(truth.audio, SAMPLE_RATE, source, blink=False,
                                                      head_motion=speech_head_pose)}
        if oracle:
            runs[f"oracle landmarks + {synth.lmk2video_name}"] = truth.landmarks
        for method, track in runs.items():
            frames = np.stack(list(synth.render(source, track)))
            if save_videos:
                folder = out / "videos" / ("oracle" if method.startswith("oracle") else "generated")
                folder.mkdir(parents=True, exist_ok=True)
                write_video(folder / f"{clip_id}.mp4", frames, FPS, audio=truth.audio, sample_rate=SAMPLE_RATE)
            per_method[method].append(scorer.score(truth, frames, source_descriptor))
        still = np.repeat(photo[None], len(truth.frames), axis=0)
        per_method["copy first frame"].append(
            scorer.score(truth, still, source_descriptor, np.repeat(truth.landmarks[:1], len(still), axis=0), still=True))
        real_mouths = mouth_crops(truth.crops, truth.crop.to_crop(truth.landmarks), scorer.reader.mouth_size)
        per_method["real video"].append({"hypothesis": scorer.reader.read(real_mouths, name=clip_id)})
        for rows in per_method.values():
            rows[-1].update(clip=clip_id, reference=truth.transcript)
    report = {
        "speaker": speaker, "split": split, "n_clips": len(ids), "clips": ids,
        "excluded": prepared.excluded(split_ids), "command": command,
        "hardware": f"{platform.machine()} CPU x{os.cpu_count()}" if device == "cpu" else device,
        "models": {"audio2lmk": synth.audio2lmk_name, "lmk2video": synth.lmk2video_name,
                   "lipreader": scorer.reader.checkpoint},
        "protocol": {"blink": False, "head_motion": "predicted from speech" if speech_head_pose else False, "fms_stride": scorer.fms_stride, "crop": 128},
        "methods": {m: _summary(rows) for m, rows in per_method.items()},
    }
    report["seconds"] = round(time.perf_counter() - start, 1)
    keys = [k for k, _, _ in METRIC_COLUMNS if k not in ("ced_auc", "failure_rate", "wer", "cer")]
    per_clip = [{"method": method, "clip": r["clip"], **{k: r.get(k, "") for k in keys},
                 "reference": r["reference"], "hypothesis": r["hypothesis"]}
                for method, rows in per_method.items() for r in rows]
    write_report(out, "report", report, _markdown(report), per_clip)
    _plot_ced(per_method, out / "ced.png")
    return report
