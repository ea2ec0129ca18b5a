"""Checkpoints: safetensors weights + a JSON sidecar (config, data provenance, steps, hardware, metrics).

Never pickle: `load_checkpoint` reads tensors with safetensors and metadata with json only.

Models save and load themselves (`save_model` / `load_model`): a model class names its `checkpoint_kind`,
returns the JSON config that rebuilds it (`model_config`) and rebuilds itself from it (`from_config`). The
sidecar is then `{"kind", "config": the model's config, ...provenance}`; provenance is whatever the trainer
or shipping adds (`train_config`, `data` split, `step`, `hardware`, `val`/`test` metrics, `calibration` ...).
"""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import ClassVar, Protocol, TypeVar

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


class SavableModel(Protocol):
    """A model that saves and loads itself (a torch.nn.Module with these three members)."""

    checkpoint_kind: ClassVar[str]

    def model_config(self) -> dict:
        """JSON-able description that `from_config` rebuilds the model from (weights aside)."""

    @classmethod
    def from_config(cls, config: dict) -> "SavableModel": ...

    def state_dict(self) -> dict[str, torch.Tensor]: ...

    def load_state_dict(self, state_dict: dict[str, torch.Tensor], strict: bool = True): ...


M = TypeVar("M", bound=SavableModel)


def model_sidecar(model: SavableModel, **provenance) -> dict:
    """The sidecar of a model's checkpoint: its kind and config, then the provenance given."""
    return {"kind": model.checkpoint_kind, "config": model.model_config(), **provenance}


def save_model(path: str | os.PathLike, model: SavableModel, **provenance) -> Path:
    """`<path>.safetensors` + sidecar of a model; `provenance` (data split, steps, hardware, metrics) is recorded."""
    return save_checkpoint(path, model.state_dict(), model_sidecar(model, **provenance))


# Sidecars written before models owned their config: the model's config was `arch` (audio2lmk, lmk2video;
# audio2lmk sidecars may lack `kind`) or `model` (lipreader, kind "talkface.lipreader"), and `config` was the
# trainer's. Checkpoints trained then (run folders, other branches) still load.
_LEGACY_MODEL_KEYS = {"audio2lmk": "arch", "lmk2video": "arch", "talkface.lipreader": "model"}
_LEGACY_KINDS = {"talkface.lipreader": "lipreader"}


def upgrade_sidecar(meta: dict) -> dict:
    """A sidecar in the current schema (`kind`, `config` = the model's, `train_config`); current ones unchanged."""
    kind = meta.get("kind", "audio2lmk" if "arch" in meta else None)
    key = _LEGACY_MODEL_KEYS.get(kind)
    if key is None or key not in meta:
        return meta
    upgraded = {"kind": _LEGACY_KINDS.get(kind, kind), "config": meta[key]}
    if "config" in meta:
        upgraded["train_config"] = meta["config"]
    upgraded.update((k, v) for k, v in meta.items() if k not in ("kind", "config", key))
    return upgraded


def load_model(path: str | os.PathLike, cls: type[M], device: str = "cpu") -> tuple[M, dict]:
    """(model of class `cls` with its weights, in eval mode on `device`; its sidecar) from a checkpoint of
    `cls.checkpoint_kind`; one-line CheckpointErrors for another kind, a bad config or mismatched weights."""
    state, meta = load_checkpoint(path, device)
    meta = upgrade_sidecar(meta)
    kind = cls.checkpoint_kind
    if meta.get("kind") != kind or not isinstance(meta.get("config"), dict):
        raise CheckpointError(f"{path}: not a checkpoint of the {kind} model (sidecar kind {meta.get('kind')!r}, "
                              f"{'a' if isinstance(meta.get('config'), dict) else 'no'} model config)")
    try:
        model = cls.from_config(meta["config"])
    except (TypeError, KeyError, ValueError) as err:
        raise CheckpointError(f"{path}: bad {kind} model config {meta['config']} ({err})") from None
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        lines = [line.strip() for line in str(err).strip().splitlines()]
        detail = " ".join(lines[1:] or lines)[:300]
        raise CheckpointError(f"{path}: weights do not match the recorded model ({detail})") from None
    return model.to(device).eval(), meta
