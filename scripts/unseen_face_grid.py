"""The lmk2video stages on a face none of them was trained on: sample grid and scores.

The bundled example photo is driven by the real landmark tracks of GRID s1 test clips (retargeted:
the clip's motion, the photo's face shape). With no real video of that face, the scores are the
ones that need none: how well dlib's landmarks re-detected on the output follow the target track
(LMD, mouth LMD, mouth-opening correlation), identity (FMS, mean descriptor distance to the photo),
and PSNR/SSIM against the photo itself when the target is the photo's own landmarks. The grid shows,
per clip, the frame where the mouth is widest open: photo crop | warp | learned | warp mouth x3 |
learned mouth x3. Only landmarks come from GRID, so neither file holds corpus pixels.

    python scripts/unseen_face_grid.py [--clips 10] [--out docs/lmk2video_unseen_face]   # -> .png, .json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

from lmk2video import SHIPPED_CHECKPOINT, WarpGenerator, load_checkpoint
from lmk2video.evaluate import FMS_EVERY, detect_track, write_sample_grid
from talkface import grid
from talkface.landmarks.detect import get_detector
from talkface.landmarks.indices import MOUTH, mouth_opening
from talkface.media import read_image
from talkface.metrics.identity import FaceDescriber, fms
from talkface.metrics.image import video_psnr_ssim
from talkface.metrics.landmarks import lmd, mouth_opening_correlation
from talkface.pipeline import Synthesizer, retarget
from talkface.prepared import PreparedSet


def mouth_zoom(crop: np.ndarray, landmarks: np.ndarray, size: int) -> np.ndarray:
    """A square around the mouth points, enlarged to size x size."""
    pts = landmarks[list(MOUTH)]
    centre = pts.mean(axis=0)
    half = max(np.ptp(pts[:, 0]), np.ptp(pts[:, 1])) * 0.75
    x0, y0 = np.clip(np.round(centre - half).astype(int), 0, crop.shape[0] - 1)
    x1, y1 = np.clip(np.round(centre + half).astype(int), 1, crop.shape[0])
    return cv2.resize(crop[y0:y1, x0:x1], (size, size), interpolation=cv2.INTER_CUBIC)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", default="examples/face.png")
    parser.add_argument("--prepared", default="data/prepared")
    parser.add_argument("--grid-root", default="../shared/data/grid")
    parser.add_argument("--checkpoint", default=None, help="learned lmk2video checkpoint (default: the shipped one)")
    parser.add_argument("--clips", type=int, default=10, help="test clips driving the photo")
    parser.add_argument("--grid-rows", type=int, default=4)
    parser.add_argument("--out", default="docs/lmk2video_unseen_face", help="output stem (.png and .json)")
    args = parser.parse_args()
    detector = get_detector("dlib")
    describer = FaceDescriber(detector)

    source = Synthesizer(audio2lmk="phonetic", lmk2video="warp").source_face(read_image(args.image), name=args.image)
    size = source.crop.shape[0]
    checkpoint = args.checkpoint or SHIPPED_CHECKPOINT
    stages = {"warp": WarpGenerator(), "learned": load_checkpoint(checkpoint),
              "learned_net_alone": load_checkpoint(checkpoint, calibrate=False, keep_eyes=False, mouth_only=False)}
    prepared = PreparedSet(args.prepared)
    ids = prepared.ids(grid.read_split(grid.split_path(args.grid_root, "s1", "test")))[:args.clips]
    source_descriptor = describer.describe(source.crop, source.crop_landmarks)
    rows, scores = [], {name: [] for name in stages}
    for clip_id in ids:
        track = retarget(prepared.load(clip_id, crops=False, audio=False).landmarks, source.landmarks)
        crop_track = source.transform.to_crop(track).astype(np.float32)
        widest = int(np.argmax(mouth_opening(crop_track)))
        frames = {}
        for name, stage in stages.items():
            frames[name] = stage.stream(source.crop, source.crop_landmarks)(crop_track)
            detected = detect_track(frames[name], detector)
            picks = np.arange(0, len(crop_track), FMS_EVERY)
            identity = fms(describer.describe_batch(frames[name][picks], detected[picks]), source_descriptor)
            scores[name].append({"lmd": lmd(detected, crop_track), "mouth_lmd": lmd(detected, crop_track, MOUTH),
                                 "mouth_opening_corr": mouth_opening_correlation(detected, crop_track),
                                 "fms": identity["fms"], "fms_distance": identity["mean_distance"]})
        if len(rows) < args.grid_rows:
            target = crop_track[widest]
            rows.append([source.crop, frames["warp"][widest], frames["learned"][widest],
                         mouth_zoom(frames["warp"][widest], target, size),
                         mouth_zoom(frames["learned"][widest], target, size)])
        print(f"{clip_id}: " + ", ".join(f"{n} mouth LMD {s[-1]['mouth_lmd']:.4f}" for n, s in scores.items()))
    still = np.repeat(source.crop_landmarks[None], 25, axis=0).astype(np.float32)
    summary = {}
    for name, stage in stages.items():
        summary[name] = {k: float(np.mean([s[k] for s in scores[name]])) for k in scores[name][0]}
        own = stage.stream(source.crop, source.crop_landmarks)(still)
        summary[name].update({f"own_landmarks_{k}": v
                              for k, v in video_psnr_ssim(own, np.repeat(source.crop[None], len(own), 0)).items()})
    report = {"photo": args.image, "checkpoint": args.checkpoint or "shipped", "clips": ids, "tracks": "GRID s1 test landmark tracks, retargeted to the photo",
              "command": f"python scripts/unseen_face_grid.py --clips {args.clips}",
              "summary": summary}
    out = Path(args.out)
    write_sample_grid(out.with_suffix(".png"), rows)
    out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
