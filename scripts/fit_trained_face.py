"""Record in an lmk2video checkpoint's sidecar whose face it was trained on (lmk2video.trained_face).

    python scripts/fit_trained_face.py lmk2video/data/lmk2video.safetensors --prepared data/prepared

For checkpoints trained before `talkface train lmk2video` recorded it itself: the mean dlib face descriptor of the
first frame of the checkpoint's training clips (its sidecar's `data.split_file` without `data.val_ids`), written
under `trained_face` in the sidecar beside it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main() -> None:
    from lmk2video.trained_face import FRAMES, SIDECAR_KEY, fit_trained_face
    from talkface import grid
    from talkface.prepared import PreparedSet

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path, help="lmk2video .safetensors (its .json sidecar beside it is updated)")
    parser.add_argument("--prepared", type=Path, required=True, help="the prepared set it was trained from")
    args = parser.parse_args()
    sidecar = args.checkpoint.with_suffix(".json")
    meta = json.loads(sidecar.read_text())
    data = PreparedSet(args.prepared)
    held_out = set(meta["data"].get("val_ids", []))
    ids = [i for i in data.ids(grid.read_split(meta["data"]["split_file"])) if i not in held_out][:FRAMES]
    faces = [(clip.crops[0], clip.crop_landmarks[0]) for clip in (data.load(i, crops=True) for i in ids)]
    fitted_on = f"first frame of {len(ids)} training clips of {meta['data']['split_file']} (validation clips left out)"
    meta[SIDECAR_KEY] = fit_trained_face(faces, meta["data"]["speaker"], fitted_on)
    tmp = sidecar.with_name(sidecar.name + ".tmp")
    tmp.write_text(json.dumps(meta, indent=2) + "\n")
    tmp.replace(sidecar)
    print(f"{sidecar}: {SIDECAR_KEY} of {meta['data']['speaker']} from {len(ids)} clips, "
          f"max distance in training {meta[SIDECAR_KEY]['max_distance_in_training']:.3f}")


if __name__ == "__main__":
    main()
