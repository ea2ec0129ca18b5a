"""Resolving a stage name (`phonetic`, `warp`, `learned`, `auto`, or a checkpoint path) to a model.

Part of the pipeline layer: the only place besides pipeline.py that imports both stage packages.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from talkface.errors import CheckpointError

import audio2lmk
import lmk2video


def _resolve(spec: str, default_name: str, default_factory: Callable, shipped: Path | None,
              loader: Callable | None, stage: str, device: str):
    if spec == default_name or (spec == "auto" and (shipped is None or not shipped.is_file())):
        return default_name, default_factory()
    if spec in ("learned", "auto"):
        if shipped is None or not shipped.is_file():
            raise CheckpointError(f"--{stage} learned: no trained {stage} checkpoint is shipped with this version; "
                                  f"use --{stage} {default_name} or give a checkpoint path")
        path = shipped
    else:
        path = Path(spec)
        if not path.is_file():
            raise CheckpointError(f"--{stage} {spec}: not '{default_name}', 'learned' or an existing checkpoint file")
    if loader is None:
        raise CheckpointError(f"{path}: this version cannot load {stage} checkpoints")
    return f"learned:{path.name}", loader(path, device=device)


def load_audio2lmk(spec: str = "auto", device: str = "cpu"):
    return _resolve(spec, "phonetic", audio2lmk.PhoneticAudio2Lmk, getattr(audio2lmk, "SHIPPED_CHECKPOINT", None),
                    getattr(audio2lmk, "load_checkpoint", None), "audio2lmk", device)


def load_lmk2video(spec: str = "auto", device: str = "cpu"):
    return _resolve(spec, "warp", lambda: lmk2video.WarpGenerator(device=device),
                    getattr(lmk2video, "SHIPPED_CHECKPOINT", None), getattr(lmk2video, "load_checkpoint", None),
                    "lmk2video", device)
