"""An expression as a displacement of the person's own landmarks (LandmarkGAN stage I), run with numpy.

The model predicts, for a neutral shape in talkface's normalised face frame and an expression, the displacement
of the 68 points at full intensity: the class's mean displacement over the training people plus a residual
from a small MLP that reads the neutral shape (whitened PCA coefficients) and the expression (one-hot, and its
outer product with the coefficients), so different faces smile differently. Weights: `talkface/expression/data/expression.safetensors` + its JSON sidecar
(data split, metrics, the data's terms), trained by `talkface train expression` (talkface/expression/train.py).
The torch module it was trained as is talkface/expression/network.py; this file must compute the same.
"""
from __future__ import annotations

import functools
import json
import os
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file

from talkface.errors import CheckpointError, TalkfaceError
from talkface.expression import EXPRESSIONS

CHECKPOINT_KIND = "expression"
SHIPPED = Path(__file__).parent / "data" / "expression.safetensors"


def expression_index(expression: str) -> int:
    """Index of an expression name in EXPRESSIONS; a one-line error listing the allowed ones otherwise."""
    if expression not in EXPRESSIONS:
        raise TalkfaceError(f"unknown expression {expression!r} (allowed: {', '.join(EXPRESSIONS)})")
    return EXPRESSIONS.index(expression)


def check_shape(neutral_norm: np.ndarray) -> np.ndarray:
    neutral_norm = np.asarray(neutral_norm, dtype=np.float32)
    if neutral_norm.shape != (68, 2) or not np.isfinite(neutral_norm).all():
        raise TalkfaceError(f"expected finite (68, 2) normalised landmarks, got {neutral_norm.shape}")
    return neutral_norm


class ExpressionModel:
    """The expression -> displacement model with numpy weights (see the module docstring)."""

    def __init__(self, tensors: dict[str, np.ndarray], meta: dict):
        self.meta = meta
        self.class_mean = tensors["class_mean"].astype(np.float32)          # (8, 68, 2), row 0 (neutral) zeros
        self.shape_mean = tensors["shape_mean"].astype(np.float32)          # (136,)
        self.shape_basis = tensors["shape_basis"].astype(np.float32)        # (k, 136), whitening PCA rows
        n = len(meta["config"]["hidden"]) + 1
        self.layers = [(tensors[f"layers.{i}.weight"].astype(np.float32), tensors[f"layers.{i}.bias"].astype(np.float32))
                       for i in range(n)]

    @classmethod
    def load(cls, path: str | os.PathLike | None = None) -> "ExpressionModel":
        """The model at `path` (.safetensors + .json sidecar), by default the shipped one."""
        path = Path(path) if path is not None else SHIPPED
        meta_path = path.with_suffix(".json")
        if not path.is_file() or not meta_path.is_file():
            raise CheckpointError(f"{path}: expression model not found (weights and {meta_path.name} are needed)")
        try:
            tensors, meta = load_file(str(path)), json.loads(meta_path.read_text())
        except Exception as err:  # safetensors/json raise various types for corrupt files
            raise CheckpointError(f"{path}: unreadable expression model ({err})") from None
        if meta.get("kind") != CHECKPOINT_KIND:
            raise CheckpointError(f"{path}: not an expression model (sidecar kind {meta.get('kind')!r})")
        try:
            return cls(tensors, meta)
        except KeyError as err:
            raise CheckpointError(f"{path}: expression model lacks tensor {err}") from None

    def residual_inputs(self, neutral_norm: np.ndarray, index: int) -> np.ndarray:
        """The MLP's input: one-hot (7) x whitened PCA coefficients (k) of the neutral shape, the one-hot, the
        coefficients (as network.py)."""
        coeffs = self.shape_basis @ (neutral_norm.reshape(-1) - self.shape_mean)
        onehot = np.zeros(len(EXPRESSIONS) - 1, np.float32)
        onehot[index - 1] = 1.0
        return np.concatenate([np.outer(onehot, coeffs).reshape(-1), onehot, coeffs]).astype(np.float32)

    def displacement(self, neutral_norm: np.ndarray, expression: str) -> np.ndarray:
        """(68, 2) float32 displacement at full intensity in the normalised frame; "neutral" -> zeros."""
        index = expression_index(expression)
        neutral_norm = check_shape(neutral_norm)
        if index == 0:
            return np.zeros((68, 2), np.float32)
        h = self.residual_inputs(neutral_norm, index)
        for i, (weight, bias) in enumerate(self.layers):
            h = weight @ h + bias
            if i < len(self.layers) - 1:
                h = np.tanh(h)
        return (self.class_mean[index] + h.reshape(68, 2)).astype(np.float32)


@functools.lru_cache(maxsize=1)
def shipped() -> ExpressionModel:
    """The shipped model, read once per process (synth, animate, dub and edit all use it)."""
    return ExpressionModel.load()
