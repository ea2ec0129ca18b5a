"""Evaluating a learned lmk2video checkpoint on a prepared GRID split, beside its two floors.

Protocol (DESIGN.md): each clip's first real frame is driven by the clip's real landmark track;
the generated 128 px crops are compared with the real ones. Real crops are re-cut from the original
video with the clip's stored crop_matrix (the prepared crops.mp4 is a lossy re-encode, ~37 dB
against the original, which would cap every PSNR); clips whose original video cannot be read fall
back to crops.mp4 and are listed. Methods: the learned generator, the training-free warp default,
and copy-the-first-frame. Figures: PSNR/SSIM on the crop and on the fixed mouth box, LMD / mouth
LMD / CED AUC / failure rate / mouth-opening correlation with landmarks re-detected by dlib on
generated and real crops alike, and FMS (dlib descriptors, every 5th frame, against the real first
frame). Output: `<out_dir>/lmk2video_eval.json` (per clip + summary) and `lmk2video_eval.md`.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from lmk2video.warp_generator import WarpGenerator
from lmk2video.learned import load_checkpoint
from talkface import grid
from talkface.errors import MediaError, NoFaceError
from talkface.face_crop import CropTransform, crop_face
from talkface.landmarks import get_detector
from talkface.landmarks.detect import detect_landmarks
from talkface.landmarks.indices import mouth_opening
from talkface.media import read_video
from talkface.metrics import FaceDescriber, fms, landmark_scores, mouth_psnr_ssim, video_psnr_ssim
from talkface.prepared import PreparedSet
from talkface.report import markdown_table, write_report

METHODS = ("learned", "product", "product_other_faces", "learned_shading", "warp", "copy")
FMS_EVERY = 5  # dlib descriptors cost ~75 ms a frame: every 5th frame bounds the time
SAMPLE_ROWS = 4  # rows of the sample grid (clips, at their widest-open real mouth)


def real_crops(prepared: PreparedSet, clip_id: str, crops: np.ndarray, crop_matrix: np.ndarray
               ) -> tuple[np.ndarray, str]:
    """(T, N, N, 3) real crops re-cut from the original video, or the prepared ones if unreadable."""
    video = prepared.manifest["clips"][clip_id].get("video")
    if video:
        try:
            frames = read_video(video, with_audio=False).frames
        except (MediaError, OSError):
            frames = None
        if frames is not None and len(frames) >= len(crops):
            transform = CropTransform(np.asarray(crop_matrix, np.float64), crops.shape[1])
            return np.stack([crop_face(f, transform) for f in frames[:len(crops)]]), "original video"
    return crops, "crops.mp4"


def detect_track(frames: np.ndarray, detector) -> np.ndarray:
    """(T, 68, 2) dlib landmarks of each frame; NaN rows where no face is found."""
    out = np.full((len(frames), 68, 2), np.nan, np.float32)
    for i, frame in enumerate(frames):
        try:
            out[i] = detect_landmarks(frame, detector)
        except NoFaceError:
            pass
    return out


def clip_scores(frames: np.ndarray, real: np.ndarray, real_track_lmk: np.ndarray, real_detected: np.ndarray,
                source_descriptor: np.ndarray | None, detector, describer: FaceDescriber) -> dict:
    scores = {**video_psnr_ssim(frames, real),
              **{f"mouth_{k}": v for k, v in mouth_psnr_ssim(frames, real, real_track_lmk).items()}}
    detected = detect_track(frames, detector)
    scores.update(landmark_scores(detected, real_detected))
    if source_descriptor is not None:
        picks = np.arange(0, len(frames), FMS_EVERY)
        descriptors = describer.describe_batch(frames[picks], detected[picks])
        found = fms(descriptors, source_descriptor)
        scores.update(fms=found["fms"], fms_distance=found["mean_distance"])
    return scores


def _mean(values: list[float]) -> float:
    arr = np.asarray(values, np.float64)
    return float(np.nanmean(arr)) if np.isfinite(arr).any() else float("nan")


def summary_table(summary: dict[str, dict[str, float]]) -> str:
    cols = [("psnr", "PSNR", 2), ("ssim", "SSIM", 4), ("mouth_psnr", "mouth PSNR", 2), ("mouth_ssim", "mouth SSIM", 4),
            ("lmd", "LMD", 4), ("mouth_lmd", "mouth LMD", 4), ("ced_auc", "AUC@0.1", 3),
            ("failure_rate", "FR@0.1", 3), ("mouth_opening_corr", "mouth-open corr", 3), ("fms", "FMS %", 1),
            ("fms_distance", "FMS dist", 3)]
    names = {"learned": "learned (this checkpoint)",
             "product": "product (synth's path: on its own training face the net's own frames + the warp's finer detail)",
             "product_other_faces": "product as for any other face (the net's correction in the mouth opening only)",
             "learned_shading": "learned, mouth opening + grey lip/jaw shading (shading=True, as for any other face)",
             "warp": "warp default (floor)", "copy": "copy first frame (floor)"}
    return markdown_table(["method"] + [c[1] for c in cols],
                          [[names.get(method, method)] + [f"{values.get(k, float('nan')):.{d}f}" for k, _, d in cols]
                           for method, values in summary.items()])


def write_sample_grid(path: Path, rows: list[list[np.ndarray]]) -> None:
    """PNG: one row per clip of source | real | warp | learned."""
    image = np.concatenate([np.concatenate(r, axis=1) for r in rows], axis=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp" + path.suffix)
    cv2.imwrite(str(tmp), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    os.replace(tmp, path)


def run_eval_lmk2video(checkpoint: str | os.PathLike, prepared: str | os.PathLike, grid_root: str | os.PathLike,
                       split: str = "test", out_dir: str | os.PathLike = "runs/lmk2video/eval",
                       limit: int | None = None, speaker: str = "s1", device: str = "cpu",
                       backend: str = "torch") -> dict:
    """Evaluate `checkpoint` on the speaker's split (first `limit` usable clips in split order);
    returns the report (also written as JSON + markdown, plus a sample grid PNG, in out_dir). On torch by
    default: a checkpoint fresh from training has no ONNX export yet."""
    prepared_set = PreparedSet(prepared)
    split_file = grid.split_path(grid_root, speaker, split)
    split_ids = grid.read_split(split_file)
    ids = prepared_set.ids(split_ids)[:limit] if limit else prepared_set.ids(split_ids)
    # The net's own frames (what it was trained to produce, here on its own speaker), and the product's use
    # of it over the full-size warp: its own frames on the face it was trained on (these clips, when the
    # sidecar records that face), only its correction inside the mouth opening on any other face.
    learned = load_checkpoint(checkpoint, device=device, backend=backend, mouth_only=False)
    product = load_checkpoint(checkpoint, device=device, backend=backend)
    other_faces = load_checkpoint(checkpoint, device=device, backend=backend, own_face=False)
    shading = load_checkpoint(checkpoint, device=device, backend=backend, shading=True, own_face=False)
    warp = WarpGenerator()  # on the CPU whatever the device
    detector = get_detector("dlib")
    describer = FaceDescriber(detector)
    per_clip: dict[str, dict] = {}
    timing = {"learned_s": 0.0, "warp_s": 0.0, "frames": 0}
    samples: list[list[np.ndarray]] = []
    for clip_id in tqdm(ids, desc=f"lmk2video eval ({split})"):
        clip = prepared_set.load(clip_id, crops=True, audio=False)
        n = min(len(clip.crops), len(clip.crop_landmarks))
        track = clip.crop_landmarks[:n]
        real, real_from = real_crops(prepared_set, clip_id, clip.crops[:n], clip.crop_matrix)
        source = real[0].copy()  # writable: the warp wraps it as a tensor
        start = time.perf_counter()
        outputs = {"learned": learned(source, track[0], track)}
        timing["learned_s"] += time.perf_counter() - start
        outputs["product"] = product(source, track[0], track)
        outputs["product_other_faces"] = other_faces(source, track[0], track)
        outputs["learned_shading"] = shading(source, track[0], track)
        start = time.perf_counter()
        outputs["warp"] = warp(source, track[0], track)
        timing["warp_s"] += time.perf_counter() - start
        outputs["copy"] = np.repeat(source[None], n, axis=0)
        timing["frames"] += n

        real_detected = detect_track(real, detector)
        source_descriptor = None
        if np.isfinite(real_detected[0]).all():
            source_descriptor = describer.describe(source, real_detected[0])
        per_clip[clip_id] = {"real_from": real_from, "frames": n}
        for method in METHODS:
            per_clip[clip_id][method] = clip_scores(outputs[method], real, track, real_detected, source_descriptor,
                                                    detector, describer)
        if len(samples) < SAMPLE_ROWS:
            widest = int(np.argmax(mouth_opening(track)))
            samples.append([source, real[widest], outputs["warp"][widest], outputs["learned"][widest]])

    summary = {m: {k: _mean([c[m][k] for c in per_clip.values() if k in c[m]])
                   for k in per_clip[ids[0]][m]} for m in METHODS} if ids else {}
    report = {
        "checkpoint": str(checkpoint), "checkpoint_meta": {k: learned.meta.get(k) for k in ("step", "val", "config")},
        "split": split, "split_file": str(split_file), "clips": ids, "n_clips": len(ids),
        "excluded": prepared_set.excluded(split_ids), "limit": limit,
        "real_crops_from": {src: sum(c["real_from"] == src for c in per_clip.values())
                            for src in ("original video", "crops.mp4")},
        "throughput_fps": {"learned": timing["frames"] / max(timing["learned_s"], 1e-9),
                           "warp": timing["frames"] / max(timing["warp_s"], 1e-9)},
        "summary": summary, "per_clip": per_clip,
    }
    out = Path(out_dir)
    markdown = (
        f"# lmk2video evaluation: {split} split, {len(ids)} clips\n\n"
        f"Checkpoint `{checkpoint}`. Each clip's first real frame driven by its real landmark track; "
        f"128 px crops vs the real crops re-cut from the original videos; landmarks re-detected with dlib; "
        f"FMS on every {FMS_EVERY}th frame.\n\n{summary_table(summary)}\n\n"
        f"Throughput on this machine ({device}): learned {report['throughput_fps']['learned']:.1f} frames/s, "
        f"warp {report['throughput_fps']['warp']:.1f} frames/s.\n\nClips: {', '.join(ids)}\n")
    rows = [{"clip": clip_id, "method": method, **scores[method]} for clip_id, scores in per_clip.items()
            for method in METHODS]
    write_report(out, "lmk2video_eval", report, markdown, rows)
    if samples:
        write_sample_grid(out / "lmk2video_samples.png", samples)
    return report
