"""An ensemble of independently trained audio2lmk nets: their decoded motion and head poses averaged.

Trained on one speaker, a single net's reading of other voices depends on its seed (two trainings of one config
scored 0.735 and 0.682 mouth-opening correlation on the unseen GRID speakers, docs/results.md); the mean of K nets
keeps what they agree on. Members may have different motion bases (each fits its PCA on its own training clips),
so the mean is taken after decoding, in the normalised landmark space, which is linear in each net's outputs: the
windows' crossfade in audio2lmk.learned commutes with it. Calibration (audio2lmk.calibration) then applies to the
mean as to one net's motion.

One checkpoint holds every member (`members.<k>.` weights) and its sidecar lists them: `config` is
`{"kind": "ensemble", "features", "head_pose", "members": [each net's config]}`, `ensemble` each member's
provenance (where it came from, its training config, validation split and scores).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from torch import nn

from audio2lmk.head_pose import POSE_DIMS
from audio2lmk.models import Audio2LmkNet
from audio2lmk.pca import OpenMouthCorrection
from talkface.checkpoint import load_model, save_model, sidecar_path
from talkface.errors import CheckpointError

ENSEMBLE_KIND = "ensemble"


class Audio2LmkEnsemble(nn.Module):
    """K Audio2LmkNets with one input kind; reads like one net to audio2lmk.learned: `forward` gives per frame
    the members' mean decoded motion (P*2 values) then their mean head pose, which `decode` and `decode_pose`
    read back."""

    checkpoint_kind = Audio2LmkNet.checkpoint_kind

    def __init__(self, members: list[Audio2LmkNet]):
        super().__init__()
        if not members:
            raise CheckpointError("audio2lmk ensemble: no member nets")
        for field in ("features", "head_pose", "n_points"):
            values = {str(m.arch[field]) for m in members}
            if len(values) > 1:
                raise CheckpointError(f"audio2lmk ensemble: members differ in {field} ({', '.join(sorted(values))})")
        self.members = nn.ModuleList(members)
        self.n_points = int(members[0].arch["n_points"])
        self.out_features = 2 * self.n_points + (POSE_DIMS if self.head_pose else 0)

    def model_config(self) -> dict:
        return {"kind": ENSEMBLE_KIND, "features": self.features, "head_pose": self.head_pose,
                "members": [m.model_config() for m in self.members]}

    @classmethod
    def from_config(cls, config: dict) -> "Audio2LmkEnsemble":
        if config.get("kind") != ENSEMBLE_KIND or not config.get("members"):
            raise ValueError("not an ensemble config with members")
        return cls([Audio2LmkNet.from_config(member) for member in config["members"]])

    @property
    def features(self) -> str:
        return self.members[0].features

    @property
    def head_pose(self) -> bool:
        return self.members[0].head_pose

    def forward(self, x: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
        """x (B, T, 4, n_inputs), level (B,) -> (B, T, P*2 [+4]) mean normalised motion [and head pose]."""
        return torch.stack([decoded(net, x, level) for net in self.members]).mean(dim=0)

    def decode(self, out: torch.Tensor) -> torch.Tensor:
        """(..., P*2 [+4]) outputs -> (..., P, 2) normalised motion."""
        return out[..., :2 * self.n_points].unflatten(-1, (self.n_points, 2))

    def decode_pose(self, out: torch.Tensor) -> torch.Tensor:
        """(..., P*2 + 4) outputs -> (..., 4) head poses; needs head_pose."""
        return out[..., 2 * self.n_points:]

    def open_correction(self) -> OpenMouthCorrection:
        """The members' open-mouth corrections averaged (each was fitted on its own training clips)."""
        corrections = [net.open_correction() for net in self.members]
        direction = sum(c.direction for c in corrections) / len(corrections)
        rest = sum(c.rest_opening for c in corrections) / len(corrections)
        return OpenMouthCorrection(direction.astype("float32"), float(rest))


def decoded(net: Audio2LmkNet | Audio2LmkEnsemble, x: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
    """x (B, T, 4, n_inputs), level (B,) -> (B, T, P*2 [+4]): a net's or an ensemble's outputs decoded, normalised
    motion [then head pose] (audio2lmk.motion_net: what either backend runs)."""
    if isinstance(net, Audio2LmkEnsemble):
        return net(x, level)
    out = net(x, level)
    return torch.cat([net.decode(out).flatten(-2)] + ([net.decode_pose(out)] if net.head_pose else []), dim=-1)


class Decoded(nn.Module):
    """`decoded` as a module (what audio2lmk.export traces)."""

    def __init__(self, net: Audio2LmkNet | Audio2LmkEnsemble):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
        return decoded(self.net, x, level)


def is_ensemble_checkpoint(path: str | os.PathLike) -> bool:
    """Whether a checkpoint's sidecar describes an ensemble (False when it cannot be read: the loader says why)."""
    try:
        config = json.loads(sidecar_path(path).read_text()).get("config")
    except (OSError, ValueError, AttributeError):
        return False
    return isinstance(config, dict) and config.get("kind") == ENSEMBLE_KIND


def load_net(path: str | os.PathLike, device: str = "cpu") -> tuple[Audio2LmkNet | Audio2LmkEnsemble, dict]:
    """(net or ensemble, sidecar) of an audio2lmk checkpoint (talkface.checkpoint.load_model)."""
    return load_model(path, Audio2LmkEnsemble if is_ensemble_checkpoint(path) else Audio2LmkNet, device)


# what an ensemble's sidecar keeps of each member's: enough to retrain and judge it
MEMBER_KEYS = ("train_config", "data", "statistics", "epoch", "step", "val", "train_time_s", "hardware",
               "speech_encoder")


def save_ensemble(paths: list[str | os.PathLike], target: str | os.PathLike) -> Path:
    """One checkpoint (`target` + sidecar) of the trained audio2lmk nets at `paths`. Its `data` is the members'
    shared split with every member's validation clips held out, so a calibration fitted on its training clips
    (scripts/ship_checkpoint.py --calibrate) sees none of them."""
    nets, metas = zip(*(load_model(p, Audio2LmkNet) for p in paths))
    split_files = {m.get("data", {}).get("split_file") for m in metas}
    if len(split_files) != 1 or None in split_files:
        raise CheckpointError(f"audio2lmk ensemble: members were trained on different or unrecorded splits "
                              f"({', '.join(sorted(map(str, split_files)))})")
    data = {k: v for k, v in metas[0]["data"].items() if k not in ("val_ids", "n_train", "n_val")}
    data["val_ids"] = sorted(set().union(*(m["data"]["val_ids"] for m in metas)))
    members = [{"path": str(p), **{k: m[k] for k in MEMBER_KEYS if k in m}} for p, m in zip(paths, metas)]
    # The ensemble reads what its members read: a pretrained encoder they all name goes in its own sidecar, so
    # loading it checks the installed file (audio2lmk.speech_encoder.check_encoder) as for one net.
    encoders = {json.dumps(m.get("speech_encoder"), sort_keys=True) for m in metas}
    if len(encoders) != 1:
        raise CheckpointError("audio2lmk ensemble: members read different speech encoders "
                              f"({', '.join(sorted(encoders))})")
    encoder = {"speech_encoder": metas[0]["speech_encoder"]} if metas[0].get("speech_encoder") else {}
    return save_model(target, Audio2LmkEnsemble(list(nets)), data=data, ensemble=members, **encoder)


def save_member(path: str | os.PathLike, k: int, target: str | os.PathLike) -> Path:
    """Member k of an ensemble checkpoint as a checkpoint of its own (`target` + sidecar with the member's
    provenance as it was recorded when it was trained), e.g. to compare or fine-tune one member."""
    ensemble, meta = load_net(path)
    if not isinstance(ensemble, Audio2LmkEnsemble) or not 0 <= k < len(ensemble.members):
        raise CheckpointError(f"{path}: no ensemble member {k}")
    provenance = {key: meta["ensemble"][k][key] for key in MEMBER_KEYS if key in meta["ensemble"][k]}
    return save_model(target, ensemble.members[k], **provenance, extracted_from=f"{path} member {k}")
