"""What the user asks of the expression (talkface/expression/spec.py), how it combines with speech (apply.py) and
where it shades the skin (shading.py): small data made here, a stand-in model with known displacements."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from talkface.errors import MediaError
from talkface.expression.apply import express_face, express_normalised, express_track, opening_part, speaking
from talkface.expression.folds import fold_strengths
from talkface.expression.shading import fold_map, shade_folds
from talkface.expression.spec import (ExpressionSpecError, expression_plan, keyframe_weights, load_keyframes,
                                      parse_expression, parse_units)
from talkface.landmarks.indices import mouth_opening
from talkface.landmarks.normalize import MEAN_SHAPE, to_normalised


class StandIn:
    """A model whose displacement is known: happy lifts the lip corners, surprised drops the jaw and lower lip."""

    def displacement(self, neutral_norm, expression):
        shift = np.zeros((68, 2), np.float32)
        if expression == "happy":
            shift[[48, 54, 60, 64], 1] = -0.1
            shift[48, 0], shift[54, 0] = -0.05, 0.05
        elif expression == "surprised":
            shift[[*range(4, 13), *range(55, 60), 65, 66, 67], 1] = 0.2
        return shift


def test_single_expression_and_intensity():
    assert parse_expression("happy:0.7")[0].intensity == pytest.approx(0.7)
    assert parse_expression("Surprised")[0].expression == "surprised"
    assert parse_expression("sad")[0].intensity == 1.0


@pytest.mark.parametrize("text, says", [
    ("hapy", "unknown expression 'hapy'"),
    ("happy:1.5", "out of range (0 to 1)"),
    ("happy:lots", "not a number"),
    ("0:neutral 2:happy:0.8 1:sad", "times must increase"),
    ("0:neutral x:happy", "keyframe 2 'x:happy'"),
    ("", "empty"),
])
def test_bad_expressions_name_what_is_allowed(text, says):
    with pytest.raises(ExpressionSpecError, match=re.escape(says)):
        parse_expression(text)


def test_keyframes_parse_in_order():
    keys = parse_expression("0:neutral 2.5:happy:0.8 5:surprised:0.5")
    assert [(k.time, k.expression, k.intensity) for k in keys] == [
        (0.0, "neutral", 1.0), (2.5, "happy", 0.8), (5.0, "surprised", 0.5)]


def test_units_parse_and_refuse():
    assert dict(parse_units("12=0.8,AU6=0.5")) == {12: 0.8, 6: 0.5}
    with pytest.raises(ExpressionSpecError, match="unknown action unit 13"):
        parse_units("13=0.5")
    with pytest.raises(ExpressionSpecError, match="out of range"):
        parse_units("12=2")
    with pytest.raises(ExpressionSpecError, match="given twice"):
        parse_units("12=0.5,12=0.2")


def test_keyframe_weights_reach_each_keyframe_at_its_time_and_ease_between():
    t = np.array([0.0, 1.0, 2.0, 2.25, 2.5, 4.0, 5.0])
    w = keyframe_weights(t, [0.0, 2.5, 5.0], ramp=0.5)
    assert np.allclose(w.sum(1), 1.0)
    assert np.allclose(w[0], [1, 0, 0]) and np.allclose(w[4], [0, 1, 0]) and np.allclose(w[6], [0, 0, 1])
    assert 0 < w[3, 1] < 1  # half-way through the change towards the second keyframe
    late = keyframe_weights(np.array([0.0, 0.9, 1.0]), [1.0], ramp=0.5)
    assert late[0, 0] == 0 and late[2, 0] == 1  # before a late first keyframe: the photo's own face


def test_plan_displacements_follow_keyframes_and_hold_units(monkeypatch):
    import talkface.expression.units as units

    monkeypatch.setattr(units, "units_displacement", lambda u, n=None: np.full((68, 2), sum(u.values())))
    plan = expression_plan("0:neutral 1:happy:0.5", "12=0.25")
    shifts = plan.displacements(MEAN_SHAPE, StandIn(), n_frames=50, fps=25)
    assert shifts.shape == (50, 68, 2)
    assert np.allclose(shifts[0], 0.25)  # the held unit from the first frame
    assert np.allclose(shifts[25, 48], [0.25 - 0.025, 0.25 - 0.05])  # half of happy at 1 s
    assert plan.description == "0:neutral 1:happy:0.5 + AU 12=0.25"
    assert expression_plan(None, None) is None
    assert expression_plan("happy:0").is_neutral and not expression_plan("happy:0.1").is_neutral


def test_keyframe_files(tmp_path):
    good = tmp_path / "keys.json"
    good.write_text(json.dumps([{"time": 0, "expression": "happy", "intensity": 0.5},
                                {"time": 2, "expression": "sad", "au": {"4": 0.3}}]))
    keys = load_keyframes(good)
    assert keys[1].units == ((4, 0.3),) and keys[0].intensity == 0.5
    table = tmp_path / "keys.csv"
    table.write_text("time,expression,intensity\n0,neutral,\n1.5,angry,0.4\n")
    assert [k.expression for k in load_keyframes(table)] == ["neutral", "angry"]
    bad = tmp_path / "bad.json"
    bad.write_text('[{"time": 0, "expression": "grumpy"}]')
    with pytest.raises(MediaError, match="bad.json: keyframe 1: unknown expression 'grumpy'"):
        load_keyframes(bad)
    with pytest.raises(MediaError, match="not valid JSON"):
        (tmp_path / "broken.json").write_text("[{")
        load_keyframes(tmp_path / "broken.json")


def _face(scale=100.0, offset=(200.0, 150.0)):
    return (MEAN_SHAPE * scale + np.array(offset)).astype(np.float32)


def test_opening_part_is_the_lower_face_dropping_below_the_upper_lip():
    shift = StandIn().displacement(None, "surprised") + StandIn().displacement(None, "happy")
    part = opening_part(shift)
    assert np.allclose(part[:, 0], 0) and part[66, 1] == pytest.approx(0.2)
    assert part[48, 1] == 0  # the lip corners' lift is not opening


def test_expression_opening_yields_to_speech_but_the_smile_stays():
    face = _face()
    norm, _ = to_normalised(face)
    t = 100
    track = np.repeat(norm[None], t, 0).astype(np.float64)
    talk = np.zeros(t)
    talk[40:70] = 0.15 * np.abs(np.sin(np.arange(30) / 2.0))  # the speech opens and closes the mouth
    track[:, [65, 66, 67], 1] += talk[:, None]
    assert speaking(track)[55] > 0.9 and speaking(track)[5] == 0
    shifts = StandIn().displacement(None, "surprised") + StandIn().displacement(None, "happy")
    out = express_normalised(track, shifts)
    opening = np.asarray(mouth_opening(out))
    assert opening[5] > mouth_opening(norm) + 0.15  # silent: the surprise's own opening
    assert np.corrcoef(opening[40:70], talk[40:70])[0, 1] > 0.95  # talking: the speech opens the mouth
    assert np.allclose(out[:, 48, 1], norm[48, 1] - 0.1)  # the lip corners stay up throughout


def test_express_face_and_track_map_back_to_pixels():
    face = _face()
    moved = express_face(face, StandIn().displacement(None, "happy"))
    assert moved[54, 1] < face[54, 1] - 5 and np.allclose(moved[:48], face[:48], atol=1e-3)
    track = express_track(np.repeat(face[None], 3, 0), StandIn().displacement(None, "happy"), with_speech=False)
    assert np.allclose(track, moved, atol=1e-3)


def test_folds_are_drawn_only_where_the_expression_acts():
    face = _face(offset=(200.0, 170.0))
    frame = np.full((400, 400, 3), 180, np.uint8)
    assert shade_folds(frame, face, face) is frame  # no expression, no change at all
    frown = face.copy()
    frown[[21, 22]] += [[6.0, 4.0], [-6.0, 4.0]]  # inner brows pulled together and down
    assert fold_strengths(face, frown) == {"smile": 0.0, "frown": 1.0, "raise": 0.0}
    darkening, (rows, cols) = fold_map(frame.shape[:2], face, frown)
    line = np.round((frown[21] + frown[22]) / 2 + [5.0, -8.0]).astype(int)  # on a line between the brows
    assert darkening[line[1] - rows.start, line[0] - cols.start] > 0.05
    shaded = shade_folds(frame, face, frown)
    assert shaded[line[1], line[0], 0] < 172
    assert (shaded[:, :60] == 180).all() and (shaded[260:] == 180).all()  # far from the brows: untouched
    smile = face.copy()
    smile[[48, 54]] += [[-6.0, -10.0], [6.0, -10.0]]
    assert fold_strengths(face, smile)["smile"] == pytest.approx(1.0)
    assert fold_strengths(face, smile)["frown"] == 0.0
