"""Exports for the torch-free product path (training side: needs torch, onnx and silero-vad, `pip install
'talkface[train]'`). Run through `python scripts/export_onnx.py`.

- `export_audio2lmk`: any audio2lmk checkpoint (one Audio2LmkNet or an Audio2LmkEnsemble) -> `<stem>.onnx` beside
  it, the graph of audio2lmk.ensemble.Decoded (what audio2lmk.onnx_net runs), with the checkpoint's sidecar and the
  sha256 of its safetensors in the ONNX metadata (talkface.onnx_export) and the open-mouth correction inference needs.
- `export_voice_activity`: Silero VAD's weights (audio2lmk.voice_activity) read once from the silero-vad wheel's
  TorchScript file into audio2lmk/data/silero_vad.safetensors + a sidecar recording where they came from.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from importlib.metadata import version
from importlib.util import find_spec
from pathlib import Path

import torch

from audio2lmk.ensemble import Decoded, load_net
from audio2lmk.inputs import n_inputs, rows_per_frame
from audio2lmk.onnx_net import OPEN_CORRECTION_KEY
from audio2lmk.voice_activity import WEIGHTS as VAD_WEIGHTS
from talkface.checkpoint import sidecar_path
from talkface.onnx_export import export_with_provenance
from talkface.onnx_runtime import exported_path

EXAMPLE_FRAMES = 120  # the trace's window length (audio2lmk.learned.CHUNK_FRAMES); the frame axis stays dynamic


def export_audio2lmk(checkpoint: str | os.PathLike, target: str | os.PathLike | None = None) -> Path:
    """Export an audio2lmk checkpoint to ONNX (`<stem>.onnx` beside it unless `target`); returns the path."""
    net, _ = load_net(checkpoint)
    target = Path(target) if target is not None else exported_path(checkpoint)
    x = torch.zeros(1, EXAMPLE_FRAMES, rows_per_frame(net.features), n_inputs(net.features))
    level = torch.zeros(1)
    correction = net.open_correction()
    extra = {OPEN_CORRECTION_KEY: json.dumps({"direction": correction.direction.tolist(),
                                              "rest_opening": float(correction.rest_opening)})}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and LSTM batch-size notes
        return export_with_provenance(Decoded(net).eval(), (x, level), target, checkpoint, input_names=["x", "level"],
                                      output_names=["outputs"],
                                      dynamic_axes={"x": {1: "frames"}, "outputs": {1: "frames"}}, metadata=extra)


# The 16 kHz submodule's parameters in Silero's TorchScript archive -> the names audio2lmk.voice_activity reads.
_VAD_NAMES = {"stft.forward_basis_buffer": "stft",
              **{f"encoder.{i}.reparam_conv.{p}": f"conv{i + 1}.{p}" for i in range(4) for p in ("weight", "bias")},
              **{f"decoder.rnn.{p}": f"lstm.{p}" for p in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")},
              "decoder.decoder.2.weight": "out.weight", "decoder.decoder.2.bias": "out.bias"}
SILERO_COPYRIGHT = "Copyright (c) 2020-present Silero Team"


def export_voice_activity(target: str | os.PathLike = VAD_WEIGHTS) -> Path:
    """Silero VAD v6's 16 kHz weights from the installed silero-vad package -> safetensors + sidecar (numpy reads
    them: the product installs neither torch nor silero-vad, whose TorchScript file needs torch)."""
    from safetensors.numpy import save_file

    # Found, not imported: importing silero_vad sets torch to one thread for the whole process.
    package = Path(find_spec("silero_vad").origin).parent
    source = package / "data" / "silero_vad.jit"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch 2.13 deprecates TorchScript loading
        state = torch.jit.load(str(source), map_location="cpu")._model.state_dict()
    target = Path(target)
    save_file({_VAD_NAMES[k]: v.numpy().copy() for k, v in state.items()}, str(target))
    licence = next((package.parent / f"silero_vad-{version('silero-vad')}.dist-info" / "licenses").glob("*"), None)
    sidecar = {"kind": "silero_vad", "source": f"silero-vad {version('silero-vad')} (PyPI), "
                                               "silero_vad/data/silero_vad.jit, its 16 kHz model (_model)",
               "source_sha256": hashlib.sha256(source.read_bytes()).hexdigest(),
               "made_by": "python scripts/export_onnx.py --voice-activity (audio2lmk.export.export_voice_activity)",
               "licence": "MIT", "copyright": SILERO_COPYRIGHT,
               "licence_text": licence.read_text() if licence else None}
    sidecar_path(target).write_text(json.dumps(sidecar, indent=2) + "\n")
    return target
