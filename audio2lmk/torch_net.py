"""The learned audio2lmk's network run by torch: training-side evaluation, tests and `--backend torch` (the
reference the ONNX export is checked against)."""

from __future__ import annotations

import numpy as np
import torch

from audio2lmk.ensemble import Audio2LmkEnsemble, decoded
from audio2lmk.models import Audio2LmkNet
from audio2lmk.motion_net import MotionNet
from audio2lmk.pca import OpenMouthCorrection


class TorchMotionNet(MotionNet):
    """A trained Audio2LmkNet or Audio2LmkEnsemble (`module`) as a MotionNet."""

    def __init__(self, module: Audio2LmkNet | Audio2LmkEnsemble, device: str = "cpu"):
        self.device = torch.device(device)
        self.module = module.to(self.device).eval()
        self.features = module.features
        self.head_pose = module.head_pose
        self.n_points = int(module.n_points if isinstance(module, Audio2LmkEnsemble) else module.arch["n_points"])

    @torch.no_grad()
    def __call__(self, x: np.ndarray, level: float) -> np.ndarray:
        x = torch.as_tensor(x, dtype=torch.float32, device=self.device)[None]
        level = torch.tensor([level], dtype=torch.float32, device=self.device)
        return decoded(self.module, x, level)[0].cpu().numpy()

    def open_correction(self) -> OpenMouthCorrection:
        return self.module.open_correction()

    def on_threads(self, threads: int) -> None:
        """Convolutions and linear layers on `threads` torch threads (the order of their sums depends on the
        count); the rest, recurrent layers included (one parallel region a time step: on shared cores more threads
        wait on each other there), on the caller's."""
        pin = ThreadPin(threads)
        for layer in self.module.modules():
            if isinstance(layer, (torch.nn.modules.conv._ConvNd, torch.nn.Linear)):
                layer.register_forward_pre_hook(pin.enter)
                layer.register_forward_hook(pin.leave)


class ThreadPin:
    """Forward hooks running a layer on `threads` torch threads and restoring the caller's count after it."""

    def __init__(self, threads: int):
        self.threads, self._before = threads, []

    def enter(self, *_) -> None:
        self._before.append(torch.get_num_threads())
        torch.set_num_threads(self.threads)

    def leave(self, *_) -> None:
        torch.set_num_threads(self._before.pop())
