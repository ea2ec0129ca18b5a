"""Visual measures of the render path on people never seen (the dev set), until `talkface eval people` has them.

Photos (dev/photos/*.jpg) driven by a stranger's speech (default examples/speech.wav): mouth and eye
sharpness kept, seam visibility, identity (FMS, mean dlib distance to the photo), seconds per frame,
and a contact sheet of the widest mouth openings. Talking videos (dev/talk, dev/grid_other), photo =
their first frame, animated by their own real landmark tracks: PSNR/SSIM/mouth PSNR against the real
frames in the face crop at the face's own resolution, and identity distance. Writes <out>.json and
<out>_sheet_<stage>.png (dev pixels: keep them out of the repository).

    python scripts/visual_eval.py --stages warp auto --size auto --out runs/visual/now
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import cv2
import numpy as np

from talkface.audio import SAMPLE_RATE
from talkface.face_crop import CropTransform, auto_crop_size, crop_face, crop_transform
from talkface.landmarks.track import track_video
from talkface.media import read_audio, read_image
from talkface.metrics.identity import FaceDescriber, fms
from talkface.metrics.image import mouth_psnr_ssim, video_psnr_ssim
from talkface.metrics.visual import eye_sharpness, mouth_sharpness, seam_visibility, widest_mouth_frames
from talkface.pipeline import Synthesizer

DEV = Path(__file__).resolve().parents[2] / "shared" / "data" / "dev"
TALK = ["talk/d6.mp4", "talk/d10.mp4", "talk/d12.mp4", "talk/d14.mp4", "talk/s13.mp4",
        "grid_other/swwp2s.mpg", "grid_other/priazn.mpg"]
SHEET_SIDE = 320
SHEET_ZOOM = 0.8  # the sheet shows a little more than the crop: the paste mask's whole fade
ID_EVERY = 8


def read_frames(path: Path, limit: int) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    frames = []
    while len(frames) < limit:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    return frames


def photo_scores(synth: Synthesizer, path: Path, wave: np.ndarray, describer: FaceDescriber) -> tuple[dict, list]:
    photo = read_image(path)
    source = synth.source_face(photo, name=str(path))
    track = synth.landmarks_from_audio(wave, SAMPLE_RATE, source)
    widest = set(widest_mouth_frames(track, 3).tolist())
    photo_desc = describer.describe(photo, source.landmarks)
    view = sheet_view(source.landmarks)
    alpha = synth.paste_alpha(source)
    mouth, eyes, seam, descs, shots = [], [], [], [], [crop_face(photo, view)]
    start = time.perf_counter()
    for i, frame in enumerate(synth.render(source, track)):
        mouth.append(mouth_sharpness(frame, track[i], photo, source.landmarks))
        eyes.append(eye_sharpness(frame, track[i], photo, source.landmarks))
        if alpha is not None:
            seam.append(seam_visibility(frame, photo, alpha))
        if i % ID_EVERY == 0:
            descs.append(describer.describe(frame, track[i]))
        if i in widest:
            shots.append(crop_face(frame, view))
    seconds = time.perf_counter() - start - 0.0
    scores = {"photo": path.name, "size": list(photo.shape[:2]), "crop": source.transform.size,
              "mouth_sharpness": float(np.mean(mouth)), "eye_sharpness": float(np.mean(eyes)),
              "seam": float(np.mean(seam)) if seam else None, **fms(np.stack(descs), photo_desc),
              "render_s": round(seconds, 2), "frames": len(track)}
    return scores, shots


def talk_scores(synth: Synthesizer, path: Path, limit: int, describer: FaceDescriber) -> dict:
    real = read_frames(path, limit)
    track = track_video(real, name=str(path))
    photo = real[0]
    source = synth.source_face(photo, name=str(path))
    size = auto_crop_size(track[0])
    view = crop_transform(track[0], size)
    real_crops = np.stack([crop_face(f, view) for f in real])
    gen_crops = np.stack([crop_face(f, view) for f in synth.render(source, track)])
    lmk = view.to_crop(track)
    photo_desc = describer.describe(photo, track[0])
    picks = np.arange(0, len(real), ID_EVERY)
    ident = fms(np.stack([describer.describe(c, l) for c, l in zip(gen_crops[picks], lmk[picks])]), photo_desc)
    return {"video": path.name, "frames": len(real), "crop": size, **video_psnr_ssim(gen_crops, real_crops),
            **{f"mouth_{k}": v for k, v in mouth_psnr_ssim(gen_crops, real_crops, lmk[0]).items()},
            "id_distance": ident["mean_distance"], "fms": ident["fms"]}


def sheet_view(landmarks: np.ndarray) -> CropTransform:
    """The crop window around a face, zoomed out by SHEET_ZOOM about its centre."""
    t = crop_transform(landmarks, SHEET_SIDE)
    c = (SHEET_SIDE - 1) / 2
    matrix = t.matrix * SHEET_ZOOM
    matrix[:, 2] += c * (1 - SHEET_ZOOM)
    return CropTransform(matrix, SHEET_SIDE)


def sheet(rows: list[list[np.ndarray]]) -> np.ndarray:
    width = max(len(r) for r in rows)
    blank = np.zeros((SHEET_SIDE, SHEET_SIDE, 3), np.uint8)
    return np.concatenate([np.concatenate(r + [blank] * (width - len(r)), axis=1) for r in rows], axis=0)


def mean_of(rows: list[dict], key: str) -> float | None:
    values = [r[key] for r in rows if r.get(key) is not None]
    return float(np.mean(values)) if values else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stages", nargs="+", default=["warp", "auto"])
    parser.add_argument("--size", default="auto")
    parser.add_argument("--audio", default="examples/speech.wav")
    parser.add_argument("--photos", nargs="*", default=None)
    parser.add_argument("--talk-frames", type=int, default=75)
    parser.add_argument("--no-talk", action="store_true")
    parser.add_argument("--out", default="runs/visual/eval")
    args = parser.parse_args()
    size = args.size if args.size == "auto" else int(args.size)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    wave = read_audio(args.audio, SAMPLE_RATE)
    photos = [Path(p) for p in args.photos] if args.photos is not None else sorted((DEV / "photos").glob("*.jpg"))
    describer = FaceDescriber()
    report = {"size": args.size, "audio": args.audio, "stages": {}}
    for stage in args.stages:
        synth = Synthesizer(audio2lmk="auto", lmk2video=stage, size=size)
        rows, shots = [], []
        for path in photos:
            scores, pics = photo_scores(synth, path, wave, describer)
            rows.append(scores)
            shots.append(pics)
            print(stage, json.dumps(scores), flush=True)
        if shots:
            cv2.imwrite(f"{out}_sheet_{stage}.png", cv2.cvtColor(sheet(shots), cv2.COLOR_RGB2BGR))
        talk = []
        if not args.no_talk:
            for name in TALK:
                talk.append(talk_scores(synth, DEV / name, args.talk_frames, describer))
                print(stage, json.dumps(talk[-1]), flush=True)
        report["stages"][stage] = {
            "photos": rows, "talk": talk,
            "summary": {k: mean_of(rows, k) for k in ("mouth_sharpness", "eye_sharpness", "seam", "fms",
                                                       "mean_distance", "render_s")}
            | {f"talk_{k}": mean_of(talk, k) for k in ("psnr", "ssim", "mouth_psnr", "id_distance", "fms")}}
        print(stage, "summary", json.dumps(report["stages"][stage]["summary"]), flush=True)
    Path(f"{out}.json").write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
