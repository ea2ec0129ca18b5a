"""LipNet-style reader: a 3D-conv front end for short-range motion, a per-frame 2D CNN, a 2-layer BiGRU.

Outputs per-frame log-posteriors over silence/blank + the 51 GRID words (see decode.CLASSES).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from talkface.lipreading.decode import CLASSES


@dataclass
class LipreaderModelConfig:
    mouth_height: int = 24
    mouth_width: int = 48
    channels: tuple[int, int, int] = (24, 48, 64)
    embed: int = 192
    hidden: int = 128
    dropout: float = 0.3

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "LipreaderModelConfig":
        values = dict(values)
        values["channels"] = tuple(values["channels"])
        return cls(**values)


def _conv2d(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class LipreaderNet(nn.Module):
    """Saves and loads itself (talkface.checkpoint.save_model / load_model); its config is LipreaderModelConfig."""

    checkpoint_kind = "lipreader"

    def __init__(self, config: LipreaderModelConfig | None = None):
        super().__init__()
        self.config = config = config or LipreaderModelConfig()
        c1, c2, c3 = config.channels
        # Time kernel 3 sees the previous and next frame: lip motion, not only lip shape.
        self.front = nn.Sequential(
            nn.Conv3d(1, c1, (3, 5, 5), stride=(1, 2, 2), padding=(1, 2, 2), bias=False),
            nn.BatchNorm3d(c1), nn.ReLU(inplace=True), nn.MaxPool3d((1, 2, 2)))
        self.frame_cnn = nn.Sequential(_conv2d(c1, c2), nn.MaxPool2d(2), _conv2d(c2, c3), nn.MaxPool2d(2))
        h, w = config.mouth_height // 16, config.mouth_width // 16
        self.embed = nn.Sequential(nn.Flatten(), nn.Dropout(config.dropout), nn.Linear(c3 * h * w, config.embed),
                                   nn.ReLU(inplace=True))
        self.gru = nn.GRU(config.embed, config.hidden, num_layers=2, batch_first=True, bidirectional=True,
                          dropout=config.dropout)
        self.head = nn.Sequential(nn.Dropout(config.dropout), nn.Linear(2 * config.hidden, len(CLASSES)))

    def model_config(self) -> dict:
        return self.config.to_dict()

    @classmethod
    def from_config(cls, config: dict) -> "LipreaderNet":
        return cls(LipreaderModelConfig.from_dict(config))

    def forward(self, mouths: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """(B, T, H, W) mouth crops -> (B, T, len(CLASSES)) log-posteriors. `lengths` (B,) for padded batches."""
        b, t, h, w = mouths.shape
        if (h, w) != (self.config.mouth_height, self.config.mouth_width):
            raise ValueError(f"LipreaderNet expects {self.config.mouth_height}x{self.config.mouth_width} mouths, got {h}x{w}")
        x = self.front(mouths.unsqueeze(1))                       # (B, C, T, H/4, W/4)
        x = x.transpose(1, 2).reshape(b * t, *x.shape[1:2], *x.shape[3:])
        x = self.embed(self.frame_cnn(x)).view(b, t, -1)
        if lengths is not None and bool((lengths != t).any()):
            # Packing only when lengths differ: the packed CPU GRU is several times slower.
            packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
            x, _ = pad_packed_sequence(self.gru(packed)[0], batch_first=True, total_length=t)
        else:
            x, _ = self.gru(x)
        return self.head(x).log_softmax(-1)
