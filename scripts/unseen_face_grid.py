"""Sample grid of the lmk2video stages on a face none of them was trained on (docs/lmk2video_unseen_face.png).

The bundled example photo is driven by the real landmark tracks of GRID s1 test clips (retargeted:
the clip's motion, the photo's face shape). Per clip, the frame where the mouth is widest open:
photo crop | warp | learned | warp mouth x3 | learned mouth x3. Only landmarks come from GRID, so the
picture holds no corpus pixels and may be committed.

    python scripts/unseen_face_grid.py [--clips 4] [--out docs/lmk2video_unseen_face.png]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from lmk2video import WarpGenerator, load_checkpoint
from lmk2video.evaluate import write_sample_grid
from talkface import grid
from talkface.landmarks.indices import MOUTH, mouth_opening
from talkface.media import read_image
from talkface.pipeline import Synthesizer, retarget
from talkface.prepared import PreparedSet

ZOOM = 3


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
    parser.add_argument("--clips", type=int, default=4)
    parser.add_argument("--out", default="docs/lmk2video_unseen_face.png")
    args = parser.parse_args()

    source = Synthesizer(audio2lmk="phonetic", lmk2video="warp").source_face(read_image(args.image), name=args.image)
    size = source.crop.shape[0]
    stages = {"warp": WarpGenerator(), "learned": load_checkpoint()}
    prepared = PreparedSet(args.prepared)
    ids = prepared.ids(grid.read_split(grid.split_path(args.grid_root, "s1", "test")))[:args.clips]
    rows = []
    for clip_id in ids:
        track = retarget(prepared.load(clip_id, crops=False, audio=False).landmarks, source.landmarks)
        crop_track = source.transform.to_crop(track).astype(np.float32)
        widest = int(np.argmax(mouth_opening(crop_track)))
        frames = {name: stage.stream(source.crop, source.crop_landmarks)(crop_track[:widest + 1])[-1]
                  for name, stage in stages.items()}
        target = crop_track[widest]
        rows.append([source.crop, frames["warp"], frames["learned"],
                     mouth_zoom(frames["warp"], target, size), mouth_zoom(frames["learned"], target, size)])
        print(f"{clip_id}: frame {widest}")
    write_sample_grid(Path(args.out), rows)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
