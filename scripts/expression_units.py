"""Regenerate talkface/expression/data/action_units.json: one landmark displacement per action unit.

    .venv/bin/python scripts/expression_units.py [--rafd-root ../shared/data/expr/rafd] [--pyfeat-h5 PATH]

Each unit is solved from RaFD's class-mean displacements (frontal camera, the people the shipped expression
model was trained on, read from its sidecar: never the test people) so that every expression's EMFACS units
(talkface.expression.units.EMFACS) sum to its mean: per point, a small least-squares problem over the units
allowed to move that point (UNIT_REGIONS: a unit moves only the points its muscle moves), with a light ridge
that splits what two units always share evenly. AU25 and AU43 are geometric (units.py) and not in the table.

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
from scipy.optimize import nnls

from talkface.expression import EXPRESSIONS
from talkface.expression.geometry import INNER_FACE
from talkface.expression.rafd import load_pairs
from talkface.expression.shapes import SHIPPED
from talkface.expression.units import ACTION_UNITS, EMFACS, TABLE, UNIT_NAMES
from talkface.landmarks.normalize import to_normalised

BROWS, INNER_BROWS, OUTER_BROWS = range(17, 27), (18, 19, 20, 21, 22, 23, 24, 25), (17, 18, 19, 24, 25, 26)
UPPER_LIDS, LOWER_LIDS = (37, 38, 43, 44), (40, 41, 46, 47)
CHEEKS = (1, 2, 3, 13, 14, 15)
MOUTH, LOWER_LIP, UPPER_LIP = range(48, 68), (55, 56, 57, 58, 59, 65, 66, 67), (48, 49, 50, 51, 52, 53, 54, 60, 61, 62, 63, 64)
CORNERS, LOWER_JAW, CHIN = (48, 54, 60, 64), range(3, 14), range(6, 11)
NOSE_WINGS = (29, 30, 31, 32, 33, 34, 35)
UNIT_REGIONS: dict[int, tuple[int, ...]] = {
    1: INNER_BROWS, 2: OUTER_BROWS, 4: tuple(BROWS), 5: UPPER_LIDS, 6: (*LOWER_LIDS, *CHEEKS),
    7: (*UPPER_LIDS, *LOWER_LIDS), 9: (*NOSE_WINGS, 20, 21, 22, 23, *LOWER_LIDS), 10: UPPER_LIP,
    12: (*MOUTH, *LOWER_JAW, *CHEEKS), 14: tuple(MOUTH), 15: (*CORNERS, *LOWER_LIP), 17: (*LOWER_LIP, *CHIN),
    20: (*MOUTH, *LOWER_JAW), 23: tuple(MOUTH), 26: (*LOWER_LIP, *CORNERS, *LOWER_JAW)}
RIDGE = 0.05
PYFEAT_UNITS = (1, 2, 4, 5, 6, 7, 9, 10, 11, 12, 14, 15, 17, 20, 23, 24, 25, 26, 28, 43)  # the PLS inputs' order


def trained_people() -> list[str]:
    data = json.loads(SHIPPED.with_suffix(".json").read_text())["data"]
    return data["train_people"] + (data["val_people"] if data["trained_on"].startswith("train + val") else [])


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


def solve_units(means: np.ndarray) -> dict[int, np.ndarray]:
    """Per point: ridge least squares over the units allowed there, so that EMFACS sums match the class means."""
    units, weights = design()
    out = {u: np.zeros((68, 2)) for u in units}
    for p in range(68):
        cols = [i for i, u in enumerate(units) if p in UNIT_REGIONS[u]]
        if not cols:
            continue
        a = weights[:, cols]
        d = np.linalg.solve(a.T @ a + RIDGE * np.eye(len(cols)), a.T @ means[1:, p])
        for i, c in enumerate(cols):
            out[units[c]][p] = d[i]
    return out


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
    args = parser.parse_args(argv)
    people = trained_people()
    means = class_means(args.rafd_root, people)
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
            "method": "per point, ridge least squares (ridge %g) of the EMFACS sums onto RaFD class-mean "
                      "displacements, each unit confined to its region (scripts/expression_units.py UNIT_REGIONS); "
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
    TABLE.write_text(json.dumps(table, indent=1) + "\n")
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
