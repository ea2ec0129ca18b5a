"""The learned audio2lmk's network run by ONNX Runtime (numpy + onnxruntime, no torch): the product path.

The exported graph (audio2lmk.export) is audio2lmk.ensemble.Decoded: inputs `x` (1, T, rows, n_inputs)
(audio2lmk.inputs.net_input) and `level` (1,) (absent from nets whose inputs are normalised already: the export drops
an unused input), output `outputs` (1, T, 2P [+ 4]). Its metadata carries the checkpoint's sidecar (calibration,
provenance), the sha256 of the safetensors it came from, and what inference needs besides the graph
(OPEN_CORRECTION_KEY: the open-mouth correction that closes the photo's mouth before motion is added).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from audio2lmk.motion_net import MotionNet
from audio2lmk.pca import OpenMouthCorrection
from talkface import onnx_runtime
from talkface.errors import CheckpointError

OPEN_CORRECTION_KEY = "audio2lmk.open_correction"  # JSON {"direction": (P, 2) list, "rest_opening": float}
# The net is small (the shipped 3-LSTM ensemble: ~15 ms for 3 s of speech on one thread) and recurrent: more threads
# only wait on each other at every time step, and one thread gives the same sums in a lone process and a batch worker.
THREADS = 1


class OnnxMotionNet(MotionNet):
    """An exported audio2lmk net (audio2lmk.export) as a MotionNet. `meta`: the checkpoint's sidecar it carries."""

    def __init__(self, path: str | os.PathLike, device: str = "cpu"):
        self.path = Path(path)
        self.session = onnx_runtime.session(self.path, device, threads=THREADS)
        self._inputs = {i.name for i in self.session.get_inputs()}  # a net ignoring the level has no `level`
        self.meta = onnx_runtime.sidecar(self.session, self.path)
        try:
            correction = json.loads(onnx_runtime.metadata(self.session)[OPEN_CORRECTION_KEY])
            config = self.meta["config"]
        except (KeyError, ValueError, TypeError) as err:
            raise CheckpointError(f"{self.path}: not an audio2lmk export of this version (missing {err}); "
                                  f"re-export it with `python scripts/export_onnx.py`") from None
        self.features, self.head_pose = str(config["features"]), bool(config["head_pose"])
        self._correction = OpenMouthCorrection(np.asarray(correction["direction"], np.float32),
                                               float(correction["rest_opening"]))
        self.n_points = len(self._correction.direction)

    def __call__(self, x: np.ndarray, level: float) -> np.ndarray:
        feeds = {"x": np.ascontiguousarray(x, np.float32)[None], "level": np.array([level], np.float32)}
        return self.session.run(None, {k: v for k, v in feeds.items() if k in self._inputs})[0][0]

    def open_correction(self) -> OpenMouthCorrection:
        return self._correction

