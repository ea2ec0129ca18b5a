"""Action units (talkface/expression/units.py): additive, linear in intensity, checked, in agreement with EMFACS."""
from __future__ import annotations

import json

import numpy as np
import pytest

from talkface.errors import TalkfaceError
from talkface.expression import EXPRESSIONS
from talkface.expression.units import (ACTION_UNITS, EMFACS, TABLE, LOWER_LIDS, UPPER_LIDS, unit_displacement,
                                       units_displacement)
from talkface.landmarks.normalize import MEAN_SHAPE


def test_units_add_and_scale_linearly():
    six, twelve = unit_displacement(6), unit_displacement(12)
    np.testing.assert_allclose(units_displacement({6: 1.0, 12: 1.0}), six + twelve, atol=1e-6)
    np.testing.assert_allclose(units_displacement({12: 0.4}), 0.4 * twelve, atol=1e-6)
    assert not units_displacement({12: 0.0, 26: 0.0}).any()
    assert units_displacement({}).shape == (68, 2)


def test_every_unit_moves_its_own_region():
    for unit in ACTION_UNITS:
        assert np.abs(unit_displacement(unit)).max() > 0.005, unit
    assert unit_displacement(12)[[48, 54], 1].max() < -0.03      # lip corners up
    assert unit_displacement(17)[[57, 8], 1].max() <= 0.0         # the chin raiser raises (y down)
    assert unit_displacement(16)[57, 1] > 0.05                    # the lower lip depressor lowers
    assert not unit_displacement(20)[:, 1].any()                  # the lip stretcher stretches sideways only
    assert unit_displacement(26)[8, 1] > 0.05                     # jaw drops
    assert unit_displacement(4)[[19, 24], 1].min() > 0.0          # brows down
    assert unit_displacement(1)[[20, 23], 1].max() < 0.0          # inner brows up
    assert not unit_displacement(12)[17:27].any()                 # the smile leaves the brows alone


def test_eyes_closed_brings_the_lids_together_on_the_persons_own_eyes():
    for neutral in (MEAN_SHAPE, MEAN_SHAPE * [1.0, 1.3]):
        closed = neutral + unit_displacement(43, neutral)
        gap = np.abs(closed[list(UPPER_LIDS), 1] - closed[list(LOWER_LIDS), 1])
        assert gap.max() < 1e-5


def test_bad_units_are_one_line_errors_naming_the_unit():
    with pytest.raises(TalkfaceError, match=r"unknown action unit 3 \(allowed: 1, 2, 4, .*43\)"):
        units_displacement({3: 0.5})
    with pytest.raises(TalkfaceError, match="unknown action unit 'x'"):
        units_displacement({"x": 0.5})
    with pytest.raises(TalkfaceError, match="action unit 12: intensity 1.5 is outside 0..1"):
        units_displacement({12: 1.5})
    assert np.allclose(units_displacement({"12": 1.0}), unit_displacement(12))  # "12" from a command line


def test_emfacs_covers_every_expression_with_known_units():
    assert set(EMFACS) == set(EXPRESSIONS[1:])
    assert EMFACS["happy"] == {6: 1.0, 12: 1.0} and {1, 4, 15} <= set(EMFACS["sad"])
    assert set(EMFACS["surprised"]) == {1, 2, 5, 26}
    for units in EMFACS.values():
        assert set(units) <= set(ACTION_UNITS) and all(0 < w <= 1 for w in units.values())
    assert {1, 2, 4, 5, 6, 7, 9, 10, 12, 15, 17, 20, 23, 25, 26, 43} <= set(ACTION_UNITS)


def test_table_records_provenance_and_agreement():
    table = json.loads(TABLE.read_text())
    assert "research use" in table["provenance"]["data"] and "py-feat" in table["provenance"]["why_not_pyfeat"]
    agreement = table["agreement"]["rafd_units"]
    assert set(agreement) == set(EXPRESSIONS[1:])
    for name in ("happy", "surprised", "angry", "fearful"):  # the sums land near the class means
        assert agreement[name]["relative"] < 0.25, name
