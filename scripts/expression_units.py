"""Regenerate talkface/expression/data/action_units.json: one landmark displacement per action unit.

    .venv/bin/python scripts/expression_units.py [--rafd-root ../shared/data/expr/rafd] [--pyfeat-h5 PATH]

Each unit is solved from RaFD's class-mean displacements (frontal camera, the people the shipped expression
model was trained on, read from its sidecar: never the test people) so that every expression's EMFACS units
(talkface.expression.units.EMFACS) sum to its mean: per point, a small least-squares problem over the units
allowed to move that point (UNIT_REGIONS: a unit moves only the points its muscle moves, and only the way it
pulls: UNIT_DIRECTIONS), with a light ridge that splits what two units always share evenly. AU25 and AU43 are geometric (units.py) and not in the table.

The EMFACS weights themselves (units.EMFACS) were fitted with --fit-weights and rounded.
With --pyfeat-h5 (needs h5py, a development-time tool only) it also reports the alternative it replaced:
py-feat 0.3.7's AU -> 68-landmark PLS model (feat/resources/pyfeat_aus_to_landmarks.h5, MIT code, non-commercial
training data), one non-negative scale per unit fitted to the same class means.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from scipy.optimize import lsq_linear, nnls

from talkface.expression import EXPRESSIONS
from talkface.expression.geometry import INNER_FACE
from talkface.expression.rafd import load_pairs
from talkface.expression.shapes import SHIPPED
from talkface.expression.units import ACTION_UNITS, EMFACS, TABLE, UNIT_NAMES
from talkface.landmarks.normalize import MEAN_SHAPE, to_normalised

BROWS, INNER_BROWS, OUTER_BROWS = range(17, 27), (18, 19, 20, 21, 22, 23, 24, 25), (17, 18, 19, 24, 25, 26)
UPPER_LIDS, LOWER_LIDS = (37, 38, 43, 44), (40, 41, 46, 47)
CHEEKS = (1, 2, 3, 13, 14, 15)
MOUTH, LOWER_LIP, UPPER_LIP = range(48, 68), (55, 56, 57, 58, 59, 65, 66, 67), (48, 49, 50, 51, 52, 53, 54, 60, 61, 62, 63, 64)
CORNERS, LOWER_JAW, CHIN = (48, 54, 60, 64), range(3, 14), range(6, 11)
NOSE_WINGS = (29, 30, 31, 32, 33, 34, 35)
UNIT_REGIONS: dict[int, tuple[int, ...]] = {
    1: INNER_BROWS, 2: OUTER_BROWS, 4: tuple(BROWS), 5: UPPER_LIDS, 6: (*LOWER_LIDS, *CHEEKS),
    7: (*UPPER_LIDS, *LOWER_LIDS), 9: (*NOSE_WINGS, 20, 21, 22, 23, *LOWER_LIDS), 10: UPPER_LIP,
    12: (*MOUTH, *LOWER_JAW, *CHEEKS), 14: tuple(MOUTH), 15: (*CORNERS, 55, 59), 16: LOWER_LIP,
    17: (*LOWER_LIP, *CHIN), 20: tuple(MOUTH), 23: tuple(MOUTH), 26: (*LOWER_LIP, *CORNERS, *LOWER_JAW)}
# The way each unit's muscle pulls (y down in the normalised frame; "out" = away from the face's midline x = 0):
# {unit: {point: (x rule, y rule)}}, None = free. Without these the least squares lets a unit absorb what its
# expressions' other units miss (the chin raiser lowered the chin, the lip stretcher raised it).
UP, DOWN, OUT, IN, FLAT = "up", "down", "out", "in", "flat"
UNIT_DIRECTIONS: dict[int, dict[int, tuple[str | None, str | None]]] = {
    1: {p: (None, UP) for p in INNER_BROWS}, 2: {p: (None, UP) for p in OUTER_BROWS},
    4: {p: (IN, DOWN) for p in BROWS}, 5: {p: (None, UP) for p in UPPER_LIDS},
    6: {p: (None, UP) for p in (*LOWER_LIDS, *CHEEKS)},
    7: {**{p: (None, DOWN) for p in UPPER_LIDS}, **{p: (None, UP) for p in LOWER_LIDS}},
    9: {**{p: (None, UP) for p in (*NOSE_WINGS, *LOWER_LIDS)}, **{p: (None, DOWN) for p in (20, 21, 22, 23)}},
    10: {p: (None, UP) for p in UPPER_LIP}, 12: {p: (OUT, UP) for p in CORNERS},
    15: {p: (None, DOWN) for p in CORNERS}, 16: {p: (None, DOWN) for p in LOWER_LIP},
    17: {p: (None, UP) for p in (*LOWER_LIP, *CHIN)},
    20: {p: (OUT if p in CORNERS else None, FLAT) for p in MOUTH},  # the lips stretched sideways, not opened
    26: {p: (None, DOWN) for p in (*LOWER_LIP, *LOWER_JAW)}}
RIDGE = 0.05
PYFEAT_UNITS = (1, 2, 4, 5, 6, 7, 9, 10, 11, 12, 14, 15, 17, 20, 23, 24, 25, 26, 28, 43)  # the PLS inputs' order


def trained_people() -> list[str]:
    """The people the shipped expression model was trained on (its sidecar): never its test people."""
    return json.loads(SHIPPED.with_suffix(".json").read_text())["data"]["train_people"]


def dump(table: dict) -> str:
    """The table as JSON, one line per unit (68 points each)."""
    units = table.pop("units")
    head = json.dumps(table, indent=1)[:-2]
    lines = ",\n".join(f'  "{u}": {json.dumps(v)}' for u, v in units.items())
    return f'{head},\n "units": {{\n{lines}\n }}\n}}\n'


def class_means(root: str | None, people: list[str]) -> np.ndarray:
    pairs = load_pairs(root, (90,))
    pairs = pairs.select(np.isin(pairs.person, people))
    return np.stack([np.zeros((68, 2))] + [pairs.displacement[pairs.expression == e].mean(0)
                                           for e in range(1, len(EXPRESSIONS))])


def design() -> tuple[list[int], np.ndarray]:
    """(table units, (7, U) EMFACS weight of each unit in each non-neutral expression)."""
    units = sorted(UNIT_REGIONS)
    weights = np.array([[EMFACS[name].get(u, 0.0) for u in units] for name in EXPRESSIONS[1:]])
    return units, weights


def bounds(unit: int, point: int, axis: int, side: float) -> tuple[float, float]:
    """The allowed range of one unit's displacement of one coordinate (UNIT_DIRECTIONS); side: the point's x."""
    rule = UNIT_DIRECTIONS.get(unit, {}).get(point, (None, None))[axis]
    if rule is None:
        return -np.inf, np.inf
    if rule == FLAT:
        return -1e-9, 1e-9
    positive = {"down": True, "up": False, "out": side > 0, "in": side < 0}[rule]
    return (0.0, np.inf) if positive else (-np.inf, 0.0)


def solve_units(means: np.ndarray, weights: np.ndarray | None = None) -> dict[int, np.ndarray]:
    """Per point and coordinate: ridge least squares over the units allowed there, within each unit's direction,
    so that the EMFACS sums (weights: design()'s by default) match the class means."""
    units, default = design()
    weights = default if weights is None else weights
    out = {u: np.zeros((68, 2)) for u in units}
    for p in range(68):
        cols = [i for i, u in enumerate(units) if p in UNIT_REGIONS[u]]
        if not cols:
            continue
        a = np.vstack([weights[:, cols], np.sqrt(RIDGE) * np.eye(len(cols))])
        for axis in range(2):
            b = np.concatenate([means[1:, p, axis], np.zeros(len(cols))])
            lo, hi = zip(*(bounds(units[c], p, axis, MEAN_SHAPE[p, 0]) for c in cols))
            d = lsq_linear(a, b, bounds=(np.array(lo), np.array(hi))).x
            for i, c in enumerate(cols):
                out[units[c]][p, axis] = d[i]
    return out


def fit_weights(means: np.ndarray, rounds: int = 8) -> dict[str, dict[int, float]]:
    """EMFACS weights fitted to the class means: alternately the units for the weights and each expression's
    weights (bounded least squares, 0.2..1.5) for the units, each unit rescaled so its largest weight is 1."""
    units, weights = design()
    for _ in range(rounds):
        table = solve_units(means, weights)
        for e, name in enumerate(EXPRESSIONS[1:]):
            cols = [i for i, u in enumerate(units) if u in EMFACS[name]]
            a = np.stack([table[units[c]][INNER_FACE].ravel() for c in cols], 1)
            weights[e, cols] = lsq_linear(a, means[e + 1][INNER_FACE].ravel(), bounds=(0.2, 1.5)).x
        weights = weights / np.where(weights.max(0) > 0, weights.max(0), 1.0)
    return {name: {units[i]: round(float(w), 2) for i, w in enumerate(weights[e]) if w > 0}
            for e, name in enumerate(EXPRESSIONS[1:])}


def agreement(sums: np.ndarray, means: np.ndarray) -> dict:
    """Per expression: inner-face mean distance of the units' sum to the class mean, beside the mean's own size."""
    rows = {}
    for e, name in enumerate(EXPRESSIONS[1:], 1):
        err = np.linalg.norm(sums[e - 1][INNER_FACE] - means[e][INNER_FACE], axis=-1).mean()
        size = np.linalg.norm(means[e][INNER_FACE], axis=-1).mean()
        rows[name] = {"error": round(float(err), 4), "class_mean_size": round(float(size), 4),
                      "relative": round(float(err / size), 3)}
    return rows


def pyfeat_units(h5_path: str) -> dict[int, np.ndarray]:
    """py-feat's PLS: each unit's landmark change at presence 1, moved into the normalised frame of its neutral."""
    import h5py  # development-time only

    with h5py.File(h5_path, "r") as f:
        coef, x_mean, x_std, y_mean = (np.array(f[k]) for k in ("coef", "x_mean", "x_std", "y_mean"))
    neutral = (y_mean - (x_mean / x_std) @ coef).reshape(2, 68).T
    _, sim = to_normalised(neutral)
    linear = sim.scale * sim.rotation
    return {u: (coef[i] / x_std[i]).reshape(2, 68).T @ linear.T for i, u in enumerate(PYFEAT_UNITS)}


def fit_scales(table: dict[int, np.ndarray], means: np.ndarray) -> tuple[dict[int, float], np.ndarray]:
    """One non-negative scale per unit so that the EMFACS sums approximate the class means (inner face)."""
    units = sorted(u for u in table if any(u in EMFACS[n] for n in EXPRESSIONS[1:]))
    a = np.stack([np.concatenate([EMFACS[n].get(u, 0.0) * table[u][INNER_FACE].ravel() for n in EXPRESSIONS[1:]])
                  for u in units], 1)
    b = np.concatenate([means[e][INNER_FACE].ravel() for e in range(1, len(EXPRESSIONS))])
    scales, _ = nnls(a, b)
    scale = dict(zip(units, scales))
    sums = np.stack([sum(w * scale[u] * table[u] for u, w in EMFACS[n].items() if u in scale) for n in EXPRESSIONS[1:]])
    return {u: float(s) for u, s in scale.items()}, sums


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rafd-root", default=None)
    parser.add_argument("--pyfeat-h5", default=None, help="py-feat's pyfeat_aus_to_landmarks.h5, to report it too")
    parser.add_argument("--fit-weights", action="store_true",
                        help="print EMFACS weights fitted to the class means (for units.EMFACS) and stop")
    args = parser.parse_args(argv)
    people = trained_people()
    means = class_means(args.rafd_root, people)
    if args.fit_weights:
        print(json.dumps(fit_weights(means)))
        return 0
    units = solve_units(means)
    _, weights = design()
    order = sorted(units)
    sums = np.einsum("eu,upk->epk", weights, np.stack([units[u] for u in order]))
    report = {"rafd_units": agreement(sums, means)}
    if args.pyfeat_h5:
        scales, pf_sums = fit_scales(pyfeat_units(args.pyfeat_h5), means)
        report["pyfeat_scaled"] = agreement(pf_sums, means)
        report["pyfeat_scales"] = {str(u): round(s, 3) for u, s in scales.items()}
    table = {
        "about": "Action-unit displacements at intensity 1 (68 x (x, y)) in talkface's normalised face frame "
                 "(talkface.landmarks.normalize: interocular distance 1, y down). Regenerate with "
                 "scripts/expression_units.py.",
        "provenance": {
            "method": "per point and coordinate, ridge least squares (ridge %g) of the EMFACS sums onto RaFD "
                      "class-mean displacements, each unit confined to its region and the way its muscle pulls "
                      "(scripts/expression_units.py UNIT_REGIONS, UNIT_DIRECTIONS); "
                      "AU25 and AU43 are geometric (talkface/expression/units.py)" % RIDGE,
            "data": "RaFD landmarks (Face++ 106 -> iBUG-68), frontal camera, neutral -> expression of the same "
                    "person and gaze, the %d people the shipped expression model was trained on (test people "
                    "excluded); RaFD terms: research use; landmarks from github.com/zhangzjn/FReeNet (MIT)" % len(people),
            "people": people,
            "why_not_pyfeat": "py-feat 0.3.7's AU->landmark PLS (MIT code, non-commercial training data) was tried: "
                              "its per-unit changes are small and entangled (fitted on co-occurring units: AU26 "
                              "raises the chin, AU25 lowers the brows, AU12 moves the lip corners less than AU6 "
                              "or AU11), and one scale per unit fits the RaFD class means worse (see agreement)",
        },
        "emfacs": {n: {str(u): w for u, w in s.items()} for n, s in EMFACS.items()},
        "agreement": report,
        "units": {str(u): {"name": UNIT_NAMES[u], "displacement": np.round(units[u], 5).tolist()} for u in order},
    }
    TABLE.write_text(dump(table))
    for method, rows in report.items():
        if method.endswith("scales"):
            print(method, rows)
            continue
        print(method)
        for name, row in rows.items():
            print(f"  {name:13s} sum-of-units error {row['error']:.4f}  class-mean size {row['class_mean_size']:.4f}"
                  f"  relative {row['relative']:.2f}")
    missing = sorted(set(ACTION_UNITS) - set(order) - {25, 43})
    if missing:
        print(f"units without a table entry: {missing}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
