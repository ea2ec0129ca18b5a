"""Resolving a stage name (`phonetic`, `warp`, `learned`, `auto`, or a checkpoint path) to a model.

Part of the pipeline layer: the only place besides pipeline.py that imports both stage packages.
`auto` means the shipped learned checkpoint when there is one, else the training-free default
(`phonetic` for audio2lmk, `warp` for lmk2video). A learned stage runs on `backend` "onnx" (its export beside the
checkpoint, ONNX Runtime: the default, no torch) or "torch" (the safetensors itself).

The stage packages (and torch) are imported only when a model is loaded: `check_stage_spec` and
`check_device` are cheap, so a command can reject bad options before loading anything.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Callable

from talkface.errors import CheckpointError, TalkfaceError

DEFAULTS = {"audio2lmk": "phonetic", "lmk2video": "warp"}
BACKENDS = ("onnx", "torch")
# `talkface batch` workers share the cores (talkface.batch.workers): each computes on WORKER_THREADS threads (None: a
# lone process, on all of them). The exports' outputs do not depend on the count (talkface.onnx_runtime.THREADS);
# under the torch backend the learned audio2lmk's convolutions sum in an order that does: they keep a lone process's
# count, so its tracks (and the videos) stay bit-identical to a lone run's.
WORKER_THREADS: int | None = None
_lone_torch_threads: int | None = None


def check_stage_spec(spec: str, stage: str) -> str:
    """`spec` unchanged when it is a stage name or an existing .safetensors file; a one-line error otherwise."""
    if spec in (DEFAULTS[stage], "learned", "auto"):
        return spec
    path = Path(spec)
    if not path.is_file():
        raise CheckpointError(f"--{stage} {spec}: not '{DEFAULTS[stage]}', 'learned', 'auto' or an existing "
                              f"checkpoint file")
    if path.suffix != ".safetensors":
        raise CheckpointError(f"{path}: expected a .safetensors checkpoint (pickled weights are not loaded)")
    return spec


def check_device(device: str) -> str:
    """`device` unchanged when it names a torch device kind this project runs on (cpu, cuda, cuda:N, mps)."""
    if not re.fullmatch(r"cpu|cuda(:\d+)?|mps", str(device)):
        raise TalkfaceError(f"--device {device}: unknown device; use cpu, cuda, cuda:N or mps")
    return device


def check_backend(backend: str) -> str:
    """`backend` unchanged when it is one the learned stages run on (onnx, torch); a one-line error otherwise."""
    if backend not in BACKENDS:
        raise TalkfaceError(f"--backend {backend}: use onnx (ONNX Runtime, the default) or torch")
    return backend


def require_device(device: str, backend: str = "torch") -> None:
    """One-line error when the device is not there for `backend` (the torch backend imports torch for any device
    but the CPU, the ONNX one asks ONNX Runtime for its execution provider: call it when loading)."""
    if device == "cpu":  # always there; a torch-free stage (the warp) then loads without torch
        return
    if check_backend(backend) == "onnx":
        from talkface.onnx_runtime import providers

        providers(device)
        return
    import torch

    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise TalkfaceError(f"--device {device}: CUDA is not available here (torch {torch.__version__}, "
                                f"{'no CUDA build' if torch.version.cuda is None else 'no GPU found'}); use --device cpu")
        index = int(device.split(":")[1]) if ":" in device else 0
        if index >= torch.cuda.device_count():
            raise TalkfaceError(f"--device {device}: only {torch.cuda.device_count()} CUDA device(s) found")
    elif device == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise TalkfaceError("--device mps: MPS is not available here; use --device cpu")


def _resolve(spec: str, default_name: str, default_factory: Callable, shipped: Path, loader: Callable,
             stage: str, device: str, backend: str, **options):
    require_device(device, backend)
    if spec == default_name or (spec == "auto" and not shipped.is_file()):
        return default_name, default_factory()
    if backend == "torch":
        _share_torch_threads()
    if spec in ("learned", "auto"):
        if not shipped.is_file():
            raise CheckpointError(f"--{stage} learned: no trained {stage} checkpoint is shipped with this version; "
                                  f"use --{stage} {default_name} or give a checkpoint path")
        path = shipped
    else:
        path = Path(check_stage_spec(spec, stage))
    return f"learned:{path.name}", loader(path, device=device, backend=backend, **options)


def _share_torch_threads() -> int | None:
    """In a batch worker, torch on the worker's share of the cores (set once, when a torch model first loads); returns
    the torch thread count of a lone process started like this one (None outside a worker)."""
    global _lone_torch_threads
    if WORKER_THREADS is None:
        return None
    import torch

    if _lone_torch_threads is None:
        _lone_torch_threads = torch.get_num_threads()
        torch.set_num_threads(WORKER_THREADS)
    return _lone_torch_threads


def load_audio2lmk(spec: str = "auto", device: str = "cpu", backend: str = "onnx"):
    import audio2lmk

    name, model = _resolve(spec, "phonetic", lambda: audio2lmk.PhoneticAudio2Lmk(),  # its module only when used
                           audio2lmk.SHIPPED_CHECKPOINT, audio2lmk.load_checkpoint, "audio2lmk", device, backend)
    lone = _share_torch_threads() if backend == "torch" and name.startswith("learned") else None
    if lone is not None and lone != WORKER_THREADS:
        model.net.on_threads(lone)  # audio2lmk.torch_net.TorchMotionNet
    return name, model


def audio2lmk_uses_phones(spec: str = "auto") -> bool:
    """Whether the audio2lmk stage `spec` names reads the speech's phones (known without torch or loading it)."""
    from audio2lmk.shipped import SHIPPED_CHECKPOINT, checkpoint_uses_phones

    if spec == DEFAULTS["audio2lmk"] or (spec == "auto" and not SHIPPED_CHECKPOINT.is_file()):
        return True
    return checkpoint_uses_phones(SHIPPED_CHECKPOINT if spec in ("learned", "auto") else spec)


def load_lmk2video(spec: str = "auto", device: str = "cpu", backend: str = "onnx", **options):
    """`options` go to a learned generator's loader (e.g. mouth_only=False); the warp takes none (and loads
    without torch: the learned module is imported only to load a checkpoint)."""
    import lmk2video

    return _resolve(spec, "warp", lmk2video.WarpGenerator, lmk2video.SHIPPED_CHECKPOINT,  # the warp: CPU, any device
                    lambda path, **kwargs: lmk2video.load_checkpoint(path, **kwargs), "lmk2video", device, backend,
                    **options)
