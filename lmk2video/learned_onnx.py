"""The learned generator on ONNX Runtime (the product's default backend: numpy and onnxruntime, no torch).

Runs the export of lmk2video/export.py (`<stem>.onnx` beside the checkpoint) frame by frame, carrying the ConvLSTM
state (h, c) as numpy arrays, behind the runner call of lmk2video.learned (as lmk2video.learned_torch.TorchNet).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from lmk2video.conditioning import Conditioning
from talkface.errors import CheckpointError
from talkface.onnx_runtime import check_current, export_of, session, sidecar


class OnnxNet:
    """source (3, w, w), source_maps (L, w, w), target_maps (T, L, w, w), warped (T, 3, w, w) at the work size and
    full_warped (T, 3, N, N), all float32, images in [-1, 1]; state None or the last call's (h, c) -> (frames
    (T, 3, N, N), attention (T, N, N), state)."""

    def __init__(self, path: str | os.PathLike, device: str = "cpu"):
        self.session = session(path, device)
        self.meta = sidecar(self.session, path)  # the checkpoint's, carried by the export
        if self.meta.get("kind") != "lmk2video":
            raise CheckpointError(f"{path}: a {self.meta.get('kind')!r} model, not an lmk2video generator")
        self.conditioning = Conditioning(**{k: v for k, v in self.meta["config"].items() if k != "generator"})
        self.state_shape = [int(d) for d in self.session.get_inputs()[-1].shape]  # c: (1, channels, w/4, w/4)

    def __call__(self, source, source_maps, target_maps, warped, full_warped, state):
        h, c = state if state is not None else (np.zeros(self.state_shape, np.float32),) * 2
        frames, attention = [], []
        feed = {"source": source[None], "source_maps": source_maps[None]}
        for t in range(len(target_maps)):  # the state walks through time: one frame a run
            out, mask, h, c = self.session.run(None, {**feed, "target_maps": target_maps[t][None, None],
                                                      "warped": warped[t][None, None],
                                                      "full_warped": full_warped[t][None, None], "h": h, "c": c})
            frames.append(out[0, 0])
            attention.append(mask[0, 0, 0])
        return np.stack(frames), np.stack(attention), (h, c)


def load(path: str | os.PathLike, device: str = "cpu") -> tuple[OnnxNet, dict]:
    """(runner, sidecar) of an lmk2video checkpoint's export; one-line errors for a missing or stale export."""
    path = Path(path)
    onnx = export_of(path)
    net = OnnxNet(onnx, device)
    check_current(net.session, onnx, path)
    return net, net.meta
