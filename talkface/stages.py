"""Resolving a stage name (`phonetic`, `warp`, `learned`, `auto`, or a checkpoint path) to a model.

Part of the pipeline layer: the only place besides pipeline.py that imports both stage packages.
`auto` means the shipped learned checkpoint when there is one, else the training-free default
(`phonetic` for audio2lmk, `warp` for lmk2video).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import audio2lmk
import lmk2video
from talkface.errors import CheckpointError


def _resolve(spec: str, default_name: str, default_factory: Callable, shipped: Path, loader: Callable,
             stage: str, device: str):
    if spec == default_name or (spec == "auto" and not shipped.is_file()):
        return default_name, default_factory()
    if spec in ("learned", "auto"):
        if not shipped.is_file():
            raise CheckpointError(f"--{stage} learned: no trained {stage} checkpoint is shipped with this version; "
                                  f"use --{stage} {default_name} or give a checkpoint path")
        path = shipped
    else:
        path = Path(spec)
        if not path.is_file():
            raise CheckpointError(f"--{stage} {spec}: not '{default_name}', 'learned' or an existing checkpoint file")
    return f"learned:{path.name}", loader(path, device=device)


def load_audio2lmk(spec: str = "auto", device: str = "cpu"):
    return _resolve(spec, "phonetic", audio2lmk.PhoneticAudio2Lmk, audio2lmk.SHIPPED_CHECKPOINT,
                    audio2lmk.load_checkpoint, "audio2lmk", device)


def load_lmk2video(spec: str = "auto", device: str = "cpu"):
    return _resolve(spec, "warp", lambda: lmk2video.WarpGenerator(device=device), lmk2video.SHIPPED_CHECKPOINT,
                    lmk2video.load_checkpoint, "lmk2video", device)
