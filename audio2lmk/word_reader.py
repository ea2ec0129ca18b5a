"""A landmark lipreader: which GRID word a window of mouth and jaw motion says (issue 13, a word-discrimination loss).

L2-type losses regress the predicted motion to the conditional mean and blur the shapes that tell words apart
(closure for p/b/m, rounding, f/v). A small classifier trained on real s1 tracks only, frozen, reads each aligned
word's window of the *predicted* motion; its cross-entropy (audio2lmk.train `word_weight`) rewards motion whose
shapes say the right word. It reads exactly what the net predicts: (T, P, 2) motion of audio2lmk.pca.MOTION_POINTS
about the clip's rest, in the normalised face frame, and every step (cropping the windows included) is
differentiable.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from audio2lmk.pca import MOTION_POINTS
from talkface import grid

WORDS: tuple[str, ...] = tuple(grid.VOCABULARY)  # GRID's 51 words
WORD_INDEX = {w: i for i, w in enumerate(WORDS)}
WINDOW_PAD = 2  # frames of context either side of an aligned word (co-articulation)


def word_windows(words: list[dict], n_frames: int, pad: int = WINDOW_PAD) -> list[tuple[int, int, int]]:
    """(start, end, word index) frame windows of a clip's aligned words (`words.json` entries, times in video
    frames), silences skipped, `pad` frames of context each side, clipped to the clip's n_frames."""
    out = []
    for w in words:
        if w["word"] not in WORD_INDEX:
            continue
        start = max(0, int(np.floor(w["start"])) - pad)
        end = min(n_frames, int(np.ceil(w["end"])) + pad)
        if end - start >= 2:
            out.append((start, end, WORD_INDEX[w["word"]]))
    return out


def crop_windows(motion: torch.Tensor, windows: list[tuple[int, int, int, int]]
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """motion (B, T, P, 2), windows (item, start, end, word) -> windows of motion (N, L, P, 2) zero-padded to
    the longest, their mask (N, L) and word labels (N,). Indexing only: gradients reach `motion`."""
    length = max(end - start for _, start, end, _ in windows)
    steps = torch.arange(length, device=motion.device)
    items = torch.tensor([b for b, _, _, _ in windows], device=motion.device)
    starts = torch.tensor([s for _, s, _, _ in windows], device=motion.device)
    lengths = torch.tensor([e - s for _, s, e, _ in windows], device=motion.device)
    mask = steps[None] < lengths[:, None]
    frames = torch.where(mask, starts[:, None] + steps[None], starts[:, None])
    crops = motion[items[:, None], frames] * mask[..., None, None]
    labels = torch.tensor([w for _, _, _, w in windows], device=motion.device)
    return crops, mask, labels


class LandmarkWordReader(nn.Module):
    """(N, L, P, 2) motion windows + (N, L) mask -> (N, 51) word logits. Positions (scaled by the real motion's
    RMS) and velocities, three 1-D convolutions over time, masked mean and max pooling, a linear layer.
    Saves and loads itself (talkface.checkpoint.save_model / load_model)."""

    checkpoint_kind = "landmark_word_reader"

    def __init__(self, n_points: int = len(MOTION_POINTS), hidden: int = 128, n_words: int = len(WORDS),
                 dropout: float = 0.2):
        super().__init__()
        self.arch = dict(n_points=n_points, hidden=hidden, n_words=n_words, dropout=dropout)
        self.register_buffer("scale", torch.ones(()))  # RMS of real motion: inputs of order 1
        self.convs = nn.ModuleList([nn.Conv1d(4 * n_points, hidden, 5, padding=2),
                                    nn.Conv1d(hidden, hidden, 3, padding=2, dilation=2),
                                    nn.Conv1d(hidden, hidden, 3, padding=1)])
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(2 * hidden, n_words)

    def model_config(self) -> dict:
        return dict(self.arch)

    @classmethod
    def from_config(cls, config: dict) -> "LandmarkWordReader":
        return cls(**config)

    def forward(self, motion: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        m = mask[..., None].to(motion.dtype)  # (N, L, 1)
        pos = motion.flatten(2) / self.scale * m
        vel = torch.cat([torch.zeros_like(pos[:, :1]), pos.diff(dim=1)], dim=1) * m
        vel = vel * torch.cat([torch.zeros_like(m[:, :1]), m[:, :-1]], dim=1)  # no step into the first frame
        x = torch.cat([pos, vel], dim=-1).transpose(1, 2)  # (N, C, L)
        keep = m.transpose(1, 2)
        for conv in self.convs:
            x = self.dropout(F.gelu(conv(x))) * keep  # padding stays zero: a window reads alike in any batch
        mean = x.sum(-1) / keep.sum(-1).clamp(min=1.0)
        peak = x.masked_fill(keep == 0, float("-inf")).amax(-1)
        return self.out(torch.cat([mean, peak], dim=-1))

    def word_loss(self, motion: torch.Tensor, windows: list[tuple[int, int, int, int]]) -> torch.Tensor:
        """Mean cross-entropy of the words in `windows` (item, start, end, word) read from motion (B, T, P, 2)."""
        crops, mask, labels = crop_windows(motion, windows)
        return F.cross_entropy(self(crops, mask), labels)


def frozen(reader: LandmarkWordReader) -> LandmarkWordReader:
    """The reader as a fixed loss: eval mode (no dropout), no gradients to its weights."""
    reader.eval()
    for p in reader.parameters():
        p.requires_grad_(False)
    return reader
