"""Exports of the learned lmk2video models for the torch-free product path (training side: needs torch and onnx,
`pip install 'talkface[train]'`). Run through `python scripts/export_onnx.py`.

- `export_generator`: an lmk2video checkpoint (Generator + its Conditioning) -> `<stem>.onnx` beside it: one
  frame of the generator (lmk2video.learned_onnx.OnnxNet runs it frame by frame), its ConvLSTM state an input
  and an output, the output size (the crop's) free.
- `export_fetch_attention`: a fetch-attention checkpoint (dub --fetch-blend learned) -> `<stem>.onnx`, the number of
  frames and candidates free.

Both carry the checkpoint's sidecar and the sha256 of its safetensors (talkface.onnx_export).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch

from lmk2video.conditioning import landmark_channels
from lmk2video.fetch_attention_net import FetchAttention
from lmk2video.networks import Generator
from talkface.checkpoint import load_model
from talkface.onnx_export import export_with_provenance
from talkface.onnx_runtime import exported_path

GENERATOR_INPUTS = ["source", "source_maps", "target_maps", "warped", "full_warped", "h", "c"]
GENERATOR_OUTPUTS = ["frames", "attention", "h_out", "c_out"]
FETCH_INPUTS = ["pixels", "distances", "weights", "masks", "valid"]


class GeneratorStep(torch.nn.Module):
    """Generator.forward for one frame with its ConvLSTM state as plain tensors (h, c) in and out."""

    def __init__(self, g: Generator):
        super().__init__()
        self.g = g

    def forward(self, source, source_maps, target_maps, warped, full_warped, h, c):
        frames, attention, _, (h, c) = self.g(source, source_maps, target_maps, warped, (h, c),
                                              full_warped=full_warped)
        return frames, attention, h, c


def export_generator(checkpoint: str | os.PathLike, target: str | os.PathLike | None = None) -> Path:
    """Export an lmk2video checkpoint (`<stem>.onnx` beside it unless `target`); returns the path."""
    g, _ = load_model(checkpoint, Generator)
    fed, work = g.conditioning, g.conditioning.work_size
    channels, state_size = landmark_channels(fed.heatmaps), work // 4
    full = fed.size if fed.size != work else fed.size * 2  # traced larger than the work size: the upsampling branch
    args = (torch.zeros(1, 3, work, work), torch.zeros(1, channels, work, work),
            torch.zeros(1, 1, channels, work, work), torch.zeros(1, 1, 3, work, work),
            torch.zeros(1, 1, 3, full, full), *[torch.zeros(1, g.lstm.channels, state_size, state_size)] * 2)
    crop = {3: "height", 4: "width"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and trace notes
        return export_with_provenance(GeneratorStep(g), args, target or exported_path(checkpoint), checkpoint,
                                      GENERATOR_INPUTS, GENERATOR_OUTPUTS,
                                      dynamic_axes={"full_warped": crop, "frames": crop, "attention": crop})


def export_fetch_attention(checkpoint: str | os.PathLike, target: str | os.PathLike | None = None) -> Path:
    """Export a fetch-attention checkpoint (`<stem>.onnx` beside it unless `target`); returns the path."""
    net, _ = load_model(checkpoint, FetchAttention)
    b, c, w = 2, 3, net.work_size
    args = (torch.zeros(b, c, 3, w, w), torch.zeros(b, c), torch.full((b, c), 1 / c), torch.zeros(b, 2, w, w),
            torch.ones(b, c, dtype=torch.bool))
    axes = {"pixels": {0: "frames", 1: "candidates"}, "distances": {0: "frames", 1: "candidates"},
            "weights": {0: "frames", 1: "candidates"}, "masks": {0: "frames"},
            "valid": {0: "frames", 1: "candidates"}, "attention": {0: "frames", 1: "candidates"}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return export_with_provenance(net, args, target or exported_path(checkpoint), checkpoint, FETCH_INPUTS,
                                      ["attention"], dynamic_axes=axes)
