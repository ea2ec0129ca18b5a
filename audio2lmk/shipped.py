"""The shipped audio2lmk checkpoint and what a checkpoint's stage reads, answered from its JSON sidecar without
torch: a synth decodes the speech's phones (pocketsphinx, ~0.2 s per second of speech) beside the model loading only
for a stage that uses them."""

from __future__ import annotations

import json
import os
from pathlib import Path

SHIPPED_CHECKPOINT = Path(__file__).parent / "data" / "audio2lmk.safetensors"


def uses_phones(features: str, phone_gate: bool) -> bool:
    """Whether a learned net reads phones: phone inputs (audio2lmk.inputs), or the phone gate on its mouth."""
    return features.startswith("phones") or phone_gate


def checkpoint_uses_phones(path: str | os.PathLike) -> bool:
    """uses_phones for a checkpoint, from its `<name>.json` sidecar; True when that cannot be read (the loader
    then says why)."""
    try:
        meta = json.loads(Path(path).with_suffix(".json").read_text())
        return uses_phones(str(meta.get("config", {}).get("features", "mel")),
                           bool(meta.get("calibration", {}).get("phone_gate", False)))
    except (OSError, ValueError, AttributeError):
        return True
