"""The expression layer measured on RaFD's held-out people (for `talkface eval expression`).

Per expression: the mean expression error (geometry.expression_error: inner-face points 17-67 / interocular
distance after a similarity on eye corners and nose) of the model, of no change and of the class's mean
displacement (the model's own class means, from its training people), on the test people recorded in the
model's sidecar, frontal camera, three gazes each; and how well the action units agree with the expressions
(the EMFACS units' sum against the class mean, on the training people: the table's recorded agreement).
"""
from __future__ import annotations

import json
import os

import numpy as np

from talkface.errors import TalkfaceError
from talkface.expression import EXPRESSIONS
from talkface.expression.geometry import INNER_FACE, expression_error
from talkface.expression.rafd import load_pairs
from talkface.expression.shapes import ExpressionModel
from talkface.expression.units import EMFACS, TABLE, units_displacement


def evaluate_rafd(model: ExpressionModel | None = None, root: str | os.PathLike | None = None) -> dict:
    """{"per_expression": {name | "all": {"model", "no_change", "class_mean", "n"}}, "units_agreement": {name:
    {"error", "class_mean_size", "relative"}}, "test_people": [...]}; errors / interocular distance."""
    model = model or ExpressionModel.load()
    test_people = model.meta.get("data", {}).get("test_people")
    if not test_people:
        raise TalkfaceError("expression model: its sidecar records no test people to evaluate on")
    pairs = load_pairs(root, (90,))
    test = pairs.select(np.isin(pairs.person, test_people))
    predicted = np.stack([model.displacement(n, EXPRESSIONS[e]) for n, e in zip(test.neutral, test.expression)])
    errors = {"model": expression_error(test.neutral + predicted, test.target),
              "no_change": expression_error(test.neutral, test.target),
              "class_mean": expression_error(test.neutral + model.class_mean[test.expression], test.target)}
    table = {}
    for e, name in enumerate(EXPRESSIONS[1:], 1):
        rows = test.expression == e
        table[name] = {k: float(v[rows].mean()) for k, v in errors.items()} | {"n": int(rows.sum())}
    table["all"] = {k: float(v.mean()) for k, v in errors.items()} | {"n": len(test)}
    return {"per_expression": table, "units_agreement": units_agreement(model), "test_people": list(test_people),
            "measure": "inner-face points 17-67, mean distance / interocular distance, after a similarity on the "
                       "eye corners and nose; RaFD frontal camera, held-out people, 3 gazes each"}


def units_agreement(model: ExpressionModel) -> dict:
    """Per expression: the EMFACS units' summed displacement against the model's class mean (its training people)."""
    rows = {}
    for e, name in enumerate(EXPRESSIONS[1:], 1):
        mean = model.class_mean[e][INNER_FACE]
        total = units_displacement(EMFACS[name])[INNER_FACE]
        err = float(np.linalg.norm(total - mean, axis=-1).mean())
        size = float(np.linalg.norm(mean, axis=-1).mean())
        rows[name] = {"error": err, "class_mean_size": size, "relative": err / size}
    return rows


def recorded_units_agreement() -> dict:
    """The agreement scripts/expression_units.py recorded when it wrote the unit table."""
    return json.loads(TABLE.read_text())["agreement"]
