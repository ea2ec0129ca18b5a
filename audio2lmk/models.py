"""Learned audio -> landmark-motion networks: log-mel frames in, PCA motion coefficients out.

The input is log-mel (the original nets) or a speaker-independent representation (audio2lmk.inputs:
phones decoded by a multi-speaker model, per-utterance normalised cepstra, and a loudness-normalised
envelope), recorded in the arch as `features`.
Both see the whole (non-causal) context and predict, per 25 fps video frame, the whitened
coefficients of audio2lmk.pca.MotionPCA:
- "lstm": the 4 mel frames of each video frame in a +-context window, projected, through a
  bidirectional LSTM (baseline);
- "tcn": residual dilated 1-D convolutions over video frames (receptive field +-30 frames with the
  default dilations), usually the stronger and faster one on CPU.
With `head_pose`, 4 more outputs per frame predict the speech-related head pose
(audio2lmk.head_pose), whitened by the training poses' RMS.
The net carries everything inference needs as buffers (input statistics, the PCA basis, the
open-mouth correction), so one safetensors file is one complete model.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from audio2lmk.head_pose import POSE_DIMS
from audio2lmk.inputs import n_inputs, rows_per_frame
from audio2lmk.speech_encoder import encoder_name
from audio2lmk.pca import MotionPCA, OpenMouthCorrection
from talkface.errors import CheckpointError

N_MELS = 80
MAX_LEVEL_SHIFT = 3.5  # natural-log power units (~15 dB): the most loudness normalisation corrects


class MelFrontend(nn.Module):
    """Loudness-normalises log-mels (utterance level vs the training median, clamped), standardises
    each mel bin with training statistics, and flattens the 4 mel frames of each video frame."""

    def __init__(self):
        super().__init__()
        self.register_buffer("mel_mean", torch.zeros(N_MELS))
        self.register_buffer("mel_std", torch.ones(N_MELS))
        self.register_buffer("level_ref", torch.zeros(()))

    def forward(self, mel: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
        """mel (B, T, 4, 80) natural-log power, level (B,) utterance level -> (B, T, 320)."""
        shift = (level - self.level_ref).clamp(-MAX_LEVEL_SHIFT, MAX_LEVEL_SHIFT)
        x = (mel - shift[:, None, None, None] - self.mel_mean) / self.mel_std
        return x.flatten(2)


class FlatFrontend(nn.Module):
    """Speaker-independent inputs (audio2lmk.inputs) are normalised already: only flattened."""

    def forward(self, x: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
        return x.flatten(2)


class EncoderFrontend(nn.Module):
    """Encoder inputs (one row per video frame, audio2lmk.inputs): each value standardised with the training
    statistics (a pretrained encoder's channels differ in scale by two orders of magnitude)."""

    def __init__(self, size: int):
        super().__init__()
        self.register_buffer("input_mean", torch.zeros(size))
        self.register_buffer("input_std", torch.ones(size))

    def forward(self, x: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
        return ((x - self.input_mean) / self.input_std).flatten(2)


class LSTMBackbone(nn.Module):
    """Per frame a window of +-context video frames (4 mel frames each), projected, then a BiLSTM."""

    def __init__(self, in_dim: int, hidden: int, layers: int, dropout: float, context: int):
        super().__init__()
        self.window = nn.Conv1d(in_dim, hidden, 2 * context + 1, padding=context)
        self.proj = nn.Sequential(nn.GELU(), nn.Dropout(dropout))
        self.lstm = nn.LSTM(hidden, hidden, layers, batch_first=True, bidirectional=True,
                            dropout=dropout if layers > 1 else 0.0)
        self.out_dim = 2 * hidden

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lstm(self.proj(self.window(x.transpose(1, 2)).transpose(1, 2)))[0]


class ChannelNorm(nn.Module):
    """LayerNorm over the channels of a (B, C, T) tensor: per frame, so no statistics leak in time."""

    def __init__(self, channels: int):
        super().__init__()
        self.norm = nn.LayerNorm(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.transpose(1, 2)).transpose(1, 2)


class DilatedBlock(nn.Module):
    """x + 1x1(drop(gelu(dilated conv(norm(x)))))."""

    def __init__(self, channels: int, dilation: int, kernel: int, dropout: float):
        super().__init__()
        self.body = nn.Sequential(
            ChannelNorm(channels),
            nn.Conv1d(channels, channels, kernel, dilation=dilation, padding=dilation * (kernel - 1) // 2),
            nn.GELU(), nn.Dropout(dropout), nn.Conv1d(channels, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class TCNBackbone(nn.Module):
    def __init__(self, in_dim: int, hidden: int, dilations: list[int], kernel: int, dropout: float):
        super().__init__()
        if kernel % 2 == 0:
            raise ValueError(f"TCN kernel must be odd (centred context), got {kernel}")
        self.proj = nn.Sequential(nn.Dropout(dropout), nn.Conv1d(in_dim, hidden, 1))
        self.blocks = nn.Sequential(*[DilatedBlock(hidden, d, kernel, dropout) for d in dilations])
        self.norm = ChannelNorm(hidden)
        self.out_dim = hidden

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.blocks(self.proj(x.transpose(1, 2)))).transpose(1, 2)


class Audio2LmkNet(nn.Module):
    """(B, T, 4, 80) log-mel + (B,) utterance level -> (B, T, K) whitened motion coefficients.

    Saves and loads itself (talkface.checkpoint.save_model / load_model): its config is `arch`."""

    checkpoint_kind = "audio2lmk"

    def __init__(self, kind: str = "tcn", n_components: int = 20, n_points: int = 29, hidden: int = 128,
                 layers: int = 2, dilations: tuple[int, ...] = (1, 2, 4, 8, 1, 2, 4, 8), kernel: int = 3,
                 dropout: float = 0.1, context: int = 0, head_pose: bool = False, features: str = "mel"):
        super().__init__()
        self.arch = dict(kind=kind, n_components=n_components, n_points=n_points, hidden=hidden, layers=layers,
                         dilations=list(dilations), kernel=kernel, dropout=dropout, context=context,
                         head_pose=head_pose, features=features)
        self.n_components = n_components
        try:
            in_dim = rows_per_frame(features) * n_inputs(features)
        except ValueError as err:
            raise CheckpointError(f"audio2lmk: {err}") from None
        if features == "mel":
            self.frontend = MelFrontend()
        else:
            self.frontend = EncoderFrontend(in_dim) if encoder_name(features) else FlatFrontend()
        if kind == "lstm":
            self.backbone = LSTMBackbone(in_dim, hidden, layers, dropout, context)
        elif kind == "tcn":
            self.backbone = TCNBackbone(in_dim, hidden, list(dilations), kernel, dropout)
        else:
            raise CheckpointError(f"unknown audio2lmk model kind {kind!r} (expected 'lstm' or 'tcn')")
        self.head = nn.Linear(self.backbone.out_dim, n_components + (POSE_DIMS if head_pose else 0))
        nn.init.zeros_(self.head.weight)  # start at rest: zero outputs = the clip's rest shape and pose
        nn.init.zeros_(self.head.bias)
        self.register_buffer("pca_components", torch.zeros(n_components, 2 * n_points))
        self.register_buffer("pca_scale", torch.ones(n_components))
        self.register_buffer("open_direction", torch.zeros(n_points, 2))
        self.register_buffer("rest_opening", torch.zeros(()))
        if head_pose:
            self.register_buffer("pose_scale", torch.ones(POSE_DIMS))

    def model_config(self) -> dict:
        return dict(self.arch)

    @classmethod
    def from_config(cls, config: dict) -> "Audio2LmkNet":
        return cls(**config)

    @property
    def head_pose(self) -> bool:
        return bool(self.arch["head_pose"])

    @property
    def out_features(self) -> int:
        """Outputs per frame: K motion coefficients [+ 4 pose values]."""
        return self.head.out_features

    @property
    def features(self) -> str:
        """The input kind (audio2lmk.inputs): "mel", or a speaker-independent one."""
        return self.arch["features"]

    def forward(self, x: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
        """x (B, T, 4, n_inputs) audio2lmk.inputs.net_input, level (B,) utterance level (used by "mel" only)
        -> (B, T, K) whitened motion coefficients, followed by 4 whitened pose values with head_pose."""
        return self.head(self.backbone(self.frontend(x, level)))

    def decode(self, out: torch.Tensor) -> torch.Tensor:
        """(..., K[+4]) outputs -> (..., P, 2) normalised motion (differentiable)."""
        flat = (out[..., :self.n_components] * self.pca_scale) @ self.pca_components
        return flat.unflatten(-1, (-1, 2))

    def decode_pose(self, out: torch.Tensor) -> torch.Tensor:
        """(..., K+4) outputs -> (..., 4) head poses (audio2lmk.head_pose); needs head_pose."""
        return out[..., self.n_components:] * self.pose_scale

    # The statistics below are fitted by the trainer on the training split and saved with the weights.
    def set_input_statistics(self, mel_mean: np.ndarray, mel_std: np.ndarray, level_ref: float) -> None:
        if not isinstance(self.frontend, MelFrontend):
            return
        self.frontend.mel_mean.copy_(torch.as_tensor(mel_mean, dtype=torch.float32))
        self.frontend.mel_std.copy_(torch.as_tensor(np.maximum(mel_std, 1e-3), dtype=torch.float32))
        self.frontend.level_ref.fill_(float(level_ref))

    def set_feature_statistics(self, mean: np.ndarray, std: np.ndarray) -> None:
        """Per-value training statistics of encoder inputs (EncoderFrontend; other inputs ignore them)."""
        if isinstance(self.frontend, EncoderFrontend):
            self.frontend.input_mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
            self.frontend.input_std.copy_(torch.as_tensor(np.maximum(std, 1e-3), dtype=torch.float32))

    def set_pca(self, pca: MotionPCA) -> None:
        self.pca_components.copy_(torch.as_tensor(pca.components))
        self.pca_scale.copy_(torch.as_tensor(pca.scale))

    def set_pose_scale(self, scale: np.ndarray) -> None:
        self.pose_scale.copy_(torch.as_tensor(np.maximum(scale, 1e-6), dtype=torch.float32))

    def set_open_correction(self, correction: OpenMouthCorrection) -> None:
        self.open_direction.copy_(torch.as_tensor(correction.direction))
        self.rest_opening.fill_(correction.rest_opening)

    def open_correction(self) -> OpenMouthCorrection:
        return OpenMouthCorrection(self.open_direction.cpu().numpy(), float(self.rest_opening))
