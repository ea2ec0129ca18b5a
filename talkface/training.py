"""What every trainer shares: resumable training state in safetensors (models and optimisers, no pickle),
the CSV log, the learning-rate schedules and the best/last checkpoint policy of a run folder.

A run folder holds `last.safetensors` (everything needed to resume), `best.safetensors` (the model alone,
written whenever the validation score improves) and `log.csv`; each checkpoint has its JSON sidecar.
"""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path

import torch

from talkface.checkpoint import load_checkpoint, save_checkpoint


def start_run(threads: int, seed: int, out_dir: str | os.PathLike) -> Path:
    """A trainer's first step: torch's threads and seed set, the run folder made (returned)."""
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return out


# ---------------------------------------------------------------------------------------------- state


def module_tensors(prefix: str, module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A module's state dict with every key under `prefix.`."""
    return {f"{prefix}.{k}": v for k, v in module.state_dict().items()}


def load_module_tensors(module: torch.nn.Module, state: dict[str, torch.Tensor], prefix: str) -> None:
    """Load the `prefix.` entries of a training state into a module."""
    n = len(prefix) + 1
    module.load_state_dict({k[n:]: v for k, v in state.items() if k.startswith(prefix + ".")})


def optimizer_tensors(opt: torch.optim.Optimizer, prefix: str = "optim") -> dict[str, torch.Tensor]:
    """An optimiser's per-parameter state as flat tensors (`prefix.<param index>.<name>`); the
    hyper-parameters are rebuilt from the run's config, so they need not be stored."""
    return {f"{prefix}.{idx}.{name}": torch.as_tensor(value) for idx, state in opt.state_dict()["state"].items()
            for name, value in state.items()}


def restore_optimizer(opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], prefix: str = "optim") -> None:
    """Inverse of `optimizer_tensors`; entries under other prefixes are ignored."""
    state: dict[int, dict] = {}
    for key, value in tensors.items():
        if key.startswith(prefix + "."):
            _, idx, name = key.split(".", 2)
            state.setdefault(int(idx), {})[name] = value
    full = opt.state_dict()
    full["state"] = state
    opt.load_state_dict(full)


# ---------------------------------------------------------------------------------------------- log


class CsvLog:
    """Scalars per row under fixed columns; blanks where a value is not due, floats to 6 significant digits.

    `fresh=True` starts a new file (a new run); otherwise rows are appended to the existing one (resume).
    """

    def __init__(self, path: str | os.PathLike, fields: list[str], fresh: bool):
        self.path = Path(path)
        self.fields = list(fields)
        if fresh or not self.path.is_file():
            with open(self.path, "w", newline="") as f:
                csv.writer(f).writerow(self.fields)

    def write(self, values: dict) -> None:
        with open(self.path, "a", newline="") as f:
            csv.writer(f).writerow(["" if values.get(k) is None else
                                    (f"{values[k]:.6g}" if isinstance(values[k], float) else values[k])
                                    for k in self.fields])


# ---------------------------------------------------------------------------------------------- schedules


def cosine_decay(lr: float, annealed: float, floor: float) -> float:
    """Cosine decay from `lr` to `floor * lr` as `annealed` goes from 0 to 1 (clipped)."""
    annealed = min(1.0, max(0.0, annealed))
    return lr * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * annealed)))


def warmup_linear_decay(lr: float, step: int, warmup_steps: int, decay_steps: int, max_steps: int) -> float:
    """Linear warm-up over `warmup_steps`, constant, then a linear decay reaching 0 at `max_steps`
    over its last `decay_steps` (0 turns either part off)."""
    scale = 1.0
    if warmup_steps:
        scale = min(scale, (step + 1) / warmup_steps)
    if decay_steps:
        scale = min(scale, max(0.0, (max_steps - step) / decay_steps))
    return lr * scale


def set_lr(lr: float, *optimizers: torch.optim.Optimizer) -> None:
    for opt in optimizers:
        for group in opt.param_groups:
            group["lr"] = lr


# ---------------------------------------------------------------------------------------------- checkpoints


class RunCheckpoints:
    """The best/last policy of one run folder, with one sidecar base (`meta`: kind, config, data provenance,
    hardware ...) shared by every checkpoint the run writes."""

    def __init__(self, out_dir: str | os.PathLike, meta: dict):
        self.out = Path(out_dir)
        self.meta = meta
        self.last = self.out / "last.safetensors"
        self.best = self.out / "best.safetensors"

    def load_last(self, device: str = "cpu") -> tuple[dict[str, torch.Tensor], dict] | None:
        """The saved training state to resume from, or None when the run has none."""
        return load_checkpoint(self.last, device) if self.last.is_file() else None

    def save_last(self, tensors: dict[str, torch.Tensor], progress: dict, **extra) -> Path:
        return save_checkpoint(self.last, tensors, {**self.meta, "progress": progress, **extra})

    def save_model(self, name: str, state_dict: dict[str, torch.Tensor], **extra) -> Path:
        """`<name>.safetensors`: a model alone (e.g. "best", "final"), loadable for inference."""
        return save_checkpoint(self.out / name, state_dict, {**self.meta, **extra})
