"""What the learned audio2lmk stage asks of its network, whichever runs it (no torch here).

A `MotionNet` maps one window of net inputs (audio2lmk.inputs.net_input, (T, 4, n_inputs)) and the utterance's
loudness level to the window's *decoded* outputs, (T, 2P [+ 4]) float32: the normalised motion of the P moving
points, flattened, then the head pose for nets with a pose output (an ensemble's members averaged). Decoding is
linear, so audio2lmk.learned crossfades windows of decoded outputs as it would the nets' raw ones.

Two implementations: audio2lmk.torch_net (the trained module, torch: training, evaluation, `--backend torch`) and
audio2lmk.onnx_net (its export run by ONNX Runtime: the product path).
"""

from __future__ import annotations

import numpy as np

from audio2lmk.head_pose import POSE_DIMS
from audio2lmk.pca import OpenMouthCorrection


class MotionNet:
    """Base of the two runners: what they share besides running the net."""

    features: str  # the input kind (audio2lmk.inputs)
    head_pose: bool  # whether the outputs end with a head pose
    n_points: int  # moving points P

    def __call__(self, x: np.ndarray, level: float) -> np.ndarray:
        """(T, 4, n_inputs) inputs, utterance level -> (T, 2P [+ 4]) decoded outputs."""
        raise NotImplementedError

    def open_correction(self) -> OpenMouthCorrection:
        raise NotImplementedError

    @property
    def out_features(self) -> int:
        return 2 * self.n_points + (POSE_DIMS if self.head_pose else 0)

    def decode(self, outputs: np.ndarray) -> np.ndarray:
        """(T, 2P [+ 4]) -> (T, P, 2) normalised motion."""
        return outputs[:, :2 * self.n_points].reshape(len(outputs), self.n_points, 2)

    def decode_pose(self, outputs: np.ndarray) -> np.ndarray:
        """(T, 2P + 4) -> (T, 4) head poses."""
        return outputs[:, 2 * self.n_points:]
