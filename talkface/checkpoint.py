"""Checkpoints: safetensors weights + a JSON sidecar (config, data provenance, steps, hardware, metrics).

Never pickle: `load_checkpoint` reads tensors with safetensors and metadata with json only.
"""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from talkface.errors import CheckpointError


def sidecar_path(path: str | os.PathLike) -> Path:
    return Path(path).with_suffix(".json")


def hardware_summary(device: str = "cpu") -> dict:
    info = {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(), "device": device,
            "torch": torch.__version__}
    if device.startswith("cuda") and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name()
    return info


def save_checkpoint(path: str | os.PathLike, state_dict: dict[str, torch.Tensor], meta: dict) -> Path:
    """Write `<path>.safetensors` and its `<path>.json` sidecar atomically (temp files, then rename)."""
    path = Path(path).with_suffix(".safetensors")
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in state_dict.items()}
    tmp_weights = path.with_name(path.name + ".tmp")
    tmp_meta = sidecar_path(path).with_name(sidecar_path(path).name + ".tmp")
    save_file(tensors, str(tmp_weights))
    tmp_meta.write_text(json.dumps(meta, indent=2, default=str))
    os.replace(tmp_weights, path)
    os.replace(tmp_meta, sidecar_path(path))
    return path


def load_checkpoint(path: str | os.PathLike, device: str = "cpu") -> tuple[dict[str, torch.Tensor], dict]:
    """(state_dict, sidecar metadata); one-line errors for missing or malformed files."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    if path.suffix != ".safetensors":
        raise CheckpointError(f"{path}: expected a .safetensors checkpoint (pickled weights are not loaded)")
    meta_path = sidecar_path(path)
    if not meta_path.is_file():
        raise CheckpointError(f"{path}: sidecar {meta_path.name} is missing (it records the model config)")
    try:
        state = load_file(str(path), device=device)
        meta = json.loads(meta_path.read_text())
    except Exception as err:  # safetensors/json raise various types for corrupt files
        raise CheckpointError(f"{path}: unreadable checkpoint ({err})") from None
    return state, meta
