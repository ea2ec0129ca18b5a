"""Run a talkface command with another compositing of the learned generator's correction (docs/results.md,
"Where the net's correction counts"): the experiments behind `correction_field`, kept to reproduce its table.

    python scripts/correction_variants.py VARIANT cli eval grid --split test --limit 10 --oracle ...
    python scripts/correction_variants.py VARIANT visual --stages auto --photos --out runs/visual/VARIANT

VARIANT is a name with options, `name:key=value:...`, all sizes in net pixels (128 px crop):
  mouth        the change inside the mouth opening only, as it is (the default before issue 14's second pass)
  lips         the change inside the opening blurred by b=0.75 px, plus on the lips (outer-lip hull grown by
               lm=0.05 interocular) its luminance blurred by ls=3 px times g=0.5, soft-clipped to +-c (c=0: not
               clipped); `lips:g=0` is what ships (`correction_field`)
  full         all of the change, everywhere (over the full-size warp)
  netframes    the net's own frames (`mouth_only=False`)
  lower        the change inside the opening, plus over the lower face (jaw 3-13 + nose bottom 31-35, feathered
               by f=0.1 interocular) the change blurred by s=3 px; luma=1 keeps its luminance only; g scales it;
               lips=M also gives the lips (outer-lip hull grown by M interocular; part=1 lower lip, 2 upper lip)
               the change blurred by ls px, its luminance (lluma=1), times lg, darkening only with dark=1
`lower:s=6:luma=1:lips=0.05:ls=1` is what `shading=True` ships.
"""

from __future__ import annotations

import runpy
import sys

import numpy as np
import torch

import lmk2video
from lmk2video import learned
from lmk2video.mouth import LUMA
from lmk2video.regions import hull_masks, lower_face_masks, mouth_masks
from talkface.landmarks.indices import MOUTH

LIP_PARTS = {0: list(MOUTH), 1: [48, 54, 55, 56, 57, 58, 59, 60, 64, 65, 66, 67],
             2: [48, 49, 50, 51, 52, 53, 54, 60, 61, 62, 63, 64]}


def grey(change: np.ndarray) -> np.ndarray:
    return np.repeat((change @ LUMA.astype(np.float32))[..., None], 3, -1)


def variant_field(name: str, opt: dict[str, float]):
    def field(change: np.ndarray, targets: np.ndarray, keep_teeth: bool, shading: bool = False) -> np.ndarray:
        if keep_teeth:
            return np.zeros_like(change)
        n = change.shape[1]
        opening = mouth_masks(targets, n, 0.0)[..., None]
        if name == "mouth":
            return change * opening
        if name == "full":
            return change
        if name == "lips":
            on_lips = learned.blur_frames(change @ LUMA.astype(np.float32), opt.get("ls", 3.0))
            if opt.get("c", 0):
                on_lips = opt["c"] * np.tanh(on_lips / opt["c"])
            lips = hull_masks(targets, n, (list(MOUTH),), opt.get("lm", 0.05))
            lip_shape = (lips * on_lips * opt.get("g", 0.5))[..., None]
            return opening * learned.blur_frames(change, opt.get("b", 0.75)) + (1 - opening) * lip_shape
        if name != "lower":
            raise SystemExit(f"unknown variant {name}")
        rest = learned.blur_frames(change, opt.get("s", 3.0))
        rest = (grey(rest) if opt.get("luma", 0) else rest) * opt.get("g", 1.0)
        if "lips" in opt:
            lips = hull_masks(targets, n, (LIP_PARTS[int(opt.get("part", 0))],), opt["lips"])[..., None]
            on_lips = learned.blur_frames(change, opt.get("ls", 0.0))
            on_lips = (grey(on_lips) if opt.get("lluma", 1) else on_lips) * opt.get("lg", 1.0)
            if opt.get("dark", 0):
                on_lips = np.minimum(on_lips, 0.0)
            rest = lips * on_lips + (1 - lips) * rest
        region = lower_face_masks(targets, n, opt.get("f", 0.1))[..., None]
        return opening * change + (1 - opening) * region * rest
    return field


def main() -> None:
    torch.set_num_threads(1)
    spec, what, *args = sys.argv[1:]
    name, *pairs = spec.split(":")
    opt = {k: float(v) for k, v in (p.split("=") for p in pairs)}
    if name == "netframes":
        load = lmk2video.load_checkpoint
        lmk2video.load_checkpoint = lambda *a, **k: load(*a, **{**k, "mouth_only": False})
    else:
        learned.correction_field = variant_field(name, opt)
    if what == "cli":
        from talkface.cli import main as cli

        sys.argv = ["talkface", *args]
        sys.exit(cli())
    sys.argv = ["scripts/visual_eval.py", *args]
    runpy.run_path("scripts/visual_eval.py", run_name="__main__")


if __name__ == "__main__":
    main()
