"""The expression model as a torch module, for training (inference runs the same maths in numpy: shapes.py).

displacement = class_mean[expression] + MLP(one-hot expression (x) whitened PCA coefficients of the neutral shape,
the one-hot, the coefficients); the outer product lets even a linear net (no hidden layer) give each expression
its own dependence on the shape. The class means, the shape mean and the PCA basis are fixed buffers computed
from the training people.
"""
from __future__ import annotations

import torch
from torch import nn

from talkface.expression import EXPRESSIONS
from talkface.expression.shapes import CHECKPOINT_KIND

N_CLASSES = len(EXPRESSIONS)


class ExpressionNet(nn.Module):
    checkpoint_kind = CHECKPOINT_KIND

    def __init__(self, components: int = 12, hidden: tuple[int, ...] = (64,)):
        super().__init__()
        self.components, self.hidden = components, tuple(hidden)
        self.register_buffer("class_mean", torch.zeros(N_CLASSES, 68, 2))
        self.register_buffer("shape_mean", torch.zeros(136))
        self.register_buffer("shape_basis", torch.zeros(components, 136))
        sizes = [N_CLASSES * components + N_CLASSES - 1, *self.hidden, 136]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        nn.init.zeros_(self.layers[-1].weight)  # starts as the class-mean model
        nn.init.zeros_(self.layers[-1].bias)

    def model_config(self) -> dict:
        return {"components": self.components, "hidden": list(self.hidden), "activation": "tanh",
                "expressions": list(EXPRESSIONS)}

    @classmethod
    def from_config(cls, config: dict) -> "ExpressionNet":
        return cls(int(config["components"]), tuple(config["hidden"]))

    def set_statistics(self, class_mean: torch.Tensor, shape_mean: torch.Tensor, shape_basis: torch.Tensor) -> None:
        self.class_mean.copy_(class_mean)
        self.shape_mean.copy_(shape_mean)
        self.shape_basis.copy_(shape_basis)

    def forward(self, neutral: torch.Tensor, expression: torch.Tensor) -> torch.Tensor:
        """(B, 68, 2) normalised neutral shapes, (B,) expression indices -> (B, 68, 2) displacements."""
        coeffs = (neutral.reshape(len(neutral), -1) - self.shape_mean) @ self.shape_basis.T
        onehot = nn.functional.one_hot(expression.clamp(min=1) - 1, N_CLASSES - 1).to(coeffs.dtype)
        h = torch.cat([(onehot[:, :, None] * coeffs[:, None, :]).flatten(1), onehot, coeffs], 1)
        for i, layer in enumerate(self.layers):
            h = layer(h)
            if i < len(self.layers) - 1:
                h = torch.tanh(h)
        out = self.class_mean[expression] + h.reshape(-1, 68, 2)
        return out * (expression > 0).to(out.dtype)[:, None, None]
