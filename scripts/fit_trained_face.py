"""Record in an lmk2video checkpoint's sidecar whose face it was trained on (lmk2video.trained_face).

    python scripts/fit_trained_face.py lmk2video/data/lmk2video.safetensors --prepared data/prepared

The mean dlib face descriptor of the first frame of the checkpoint's training clips (its sidecar's `data.split_file`
without `data.val_ids`, first --clips of them), written under `trained_face` in the sidecar beside it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def main() -> None:
    from lmk2video.trained_face import SIDECAR_KEY, trained_face_record
    from talkface import grid
    from talkface.metrics import FaceDescriber
    from talkface.prepared import PreparedSet

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path, help="lmk2video .safetensors (its .json sidecar beside it is updated)")
    parser.add_argument("--prepared", type=Path, required=True, help="the prepared set it was trained from")
    parser.add_argument("--clips", type=int, default=100, help="training clips described (first frame of each)")
    args = parser.parse_args()
    sidecar = args.checkpoint.with_suffix(".json")
    meta = json.loads(sidecar.read_text())
    data = PreparedSet(args.prepared)
    held_out = set(meta["data"].get("val_ids", []))
    ids = [i for i in data.ids(grid.read_split(meta["data"]["split_file"])) if i not in held_out][:args.clips]
    describer = FaceDescriber()
    descriptors = []
    for clip_id in ids:
        clip = data.load(clip_id, crops=True)
        descriptors.append(describer.describe(clip.crops[0], clip.crop_landmarks[0]))
    fitted_on = f"first frame of {len(ids)} training clips of {meta['data']['split_file']} (validation clips left out)"
    meta[SIDECAR_KEY] = trained_face_record(np.stack(descriptors), meta["data"]["speaker"], fitted_on)
    tmp = sidecar.with_name(sidecar.name + ".tmp")
    tmp.write_text(json.dumps(meta, indent=2) + "\n")
    tmp.replace(sidecar)
    print(f"{sidecar}: {SIDECAR_KEY} of {meta['data']['speaker']} from {len(ids)} clips, "
          f"max distance in training {meta[SIDECAR_KEY]['max_distance_in_training']:.3f}")


if __name__ == "__main__":
    main()
