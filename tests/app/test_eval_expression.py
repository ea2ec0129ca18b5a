"""`talkface eval expression` (talkface/evaluation/expression.py): the summary and the bars from made-up records, the
one-line error without the classifier, and one run of the command on a tiny subset of ../shared/data/dev
(skipped without the data or the `eval` extra)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from talkface.evaluation import expression as expression_eval
from talkface.evaluation.expression import EXPRESSIONS, INTENSITIES, judged_bars, markdown, summarise_photos
from talkface.errors import TalkfaceError

DEV = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "dev"
REPO = Path(__file__).resolve().parents[2]


def _records(rising: bool) -> list[dict]:
    """Two smile/ people; each class's probability goes 0.1 -> 0.5 -> 0.9 (or stays at 0.1)."""
    records = []
    for person in ("001", "002"):
        for expression, fer_class in EXPRESSIONS.items():
            for intensity in INTENSITIES:
                p = 0.1 + 0.8 * intensity if rising else 0.1
                records.append({"group": "smile", "photo": person, "input_happy": 0.01, "real_smile_happy": 0.6,
                                "real_smile_top": "happy", "neutral_error_to_smile": 0.10, "expression": expression,
                                "intensity": intensity, "edit_seconds": 0.5, "face_found": True, "p_intended": p,
                                "p_happy": p if expression == "happy" else 0.0,
                                "top": fer_class if p > 0.5 else "neutral", "identity_distance": 0.2,
                                **({"psnr_to_input": 60.0} if intensity == 0 else {}),
                                **({"error_to_smile": 0.04 if rising else 0.10} if expression == "happy" else {})})
    return records


def test_summary_measures_the_rise_the_top_class_and_the_landmark_ratio():
    summary = summarise_photos(_records(rising=True))
    happy = summary["smile/happy"]
    assert happy["photos"] == 2
    assert happy["p_happy@0"] == pytest.approx(0.1) and happy["p_happy@1"] == pytest.approx(0.9)
    assert happy["rises_0_to_1"] == 1.0 and happy["top_is_intended@1"] == 1.0
    assert happy["edited_at_least_real"] == 1.0 and happy["error_ratio_median"] == pytest.approx(0.4)
    assert summary["smile/surprised"]["p_surprise@1"] == pytest.approx(0.9)
    assert all(met == "yes" for _, met in judged_bars(summary, []))


def test_a_flat_edit_fails_the_bars():
    summary = summarise_photos(_records(rising=False))
    assert summary["smile/sad"]["rises_0_to_1"] == 0.0
    assert summary["smile/happy"]["error_ratio_median"] == pytest.approx(1.0)
    bars = dict(judged_bars(summary, []))
    assert bars["happy prob of edited >= the real smile's (mean)"] == "**no**"
    assert bars["sad: rises 0 -> 1 on >= 90%"] == "**no**"
    assert bars["intensity 0: PSNR >= 45 dB (every photo)"] == "yes"


def test_markdown_shows_every_section():
    summary = summarise_photos(_records(rising=True))
    speech = [{"photo": "001", "frames": 50, "seconds_off": 10.0, "seconds_on": 10.5, "time_ratio": 1.05,
               "opening_correlation": 0.95, "opening_std_ratio": 1.0, "happy_on": 0.4, "happy_off": 0.01}]
    report = {"command": "talkface eval expression", "hardware": "cpu", "seconds": 1.0, "protocol": "p",
              "config": {"speech_expression": "happy:0.7"}, "skipped": {},
              "rafd": {"per_expression": {"happy": {"model": 0.05, "no_change": 0.1, "class_mean": 0.07, "n": 45}}},
              "photos": summary, "speech": speech, "bars": judged_bars(summary, speech)}
    text = markdown(report)
    for part in ("RaFD", "| happy | 0.050 | 0.100 | 0.070 | 45 |", "smile/angry", "real smile", "opening corr",
                 "speech: opening correlation on vs off >= 0.9 (every photo) | yes"):
        assert part in text, part


def test_smile_pairs_need_both_photos(tmp_path):
    (tmp_path / "smile").mkdir()
    for name in ("001_neutral.jpg", "001_smiling.jpg", "002_neutral.jpg"):
        (tmp_path / "smile" / name).write_bytes(b"")
    assert [p for p, _, _ in expression_eval.smile_pairs(tmp_path)] == ["001"]


def test_a_dev_folder_without_photos_is_one_line(tmp_path):
    with pytest.raises(TalkfaceError, match="no smile/ or photos/"):
        expression_eval.run_eval_expression(expression_eval.ExpressionEvalConfig(dev=str(tmp_path), rafd=False,
                                                                                 speech_photos=0))


def test_cli_without_the_classifier_says_how_to_install_it(tmp_path):
    (tmp_path / "photos").mkdir()
    code = ("import importlib.util, sys; importlib.util.find_spec = lambda name: None; "
            "from talkface.cli import main; sys.argv = ['talkface'] + sys.argv[1:]; raise SystemExit(main())")
    done = subprocess.run([sys.executable, "-c", code, "eval", "expression", "--dev", str(tmp_path), "--no-rafd",
                           "--speech-photos", "0", "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("talkface: error:") and "talkface[eval]" in lines[0]
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
@pytest.mark.integration
def test_eval_expression_on_one_person(tmp_path):
    if not (DEV / "smile" / "001_neutral.jpg").is_file():
        pytest.skip(f"dev smile set not found at {DEV / 'smile'}")
    try:
        expression_eval.ExpressionClassifier()
    except TalkfaceError as err:
        pytest.skip(str(err))
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "talkface.cli", "eval", "expression", "--dev", str(DEV), "--limit", "1",
                           "--speech-photos", "1", "--speech-seconds", "2", "--out", str(out)],
                          capture_output=True, text=True, cwd=REPO, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads((out / "report.json").read_text())
    records = report["photo_records"]
    assert {r["group"] for r in records} == {"smile", "photos"}
    assert len(records) == 2 * len(EXPRESSIONS) * len(INTENSITIES)
    happy0 = next(r for r in records if r["group"] == "smile" and r["expression"] == "happy" and r["intensity"] == 0)
    assert happy0["psnr_to_input"] >= 45  # intensity 0 leaves the photo as it was
    assert 0 <= happy0["real_smile_happy"] <= 1 and np.isfinite(happy0["neutral_error_to_smile"])
    assert report["rafd"] is not None and len(report["speech"]) == 1
    assert -1 <= report["speech"][0]["opening_correlation"] <= 1
    assert (out / "report.md").is_file() and (out / "report.csv").is_file()


def test_person_agnostic_floor_is_zero_when_everyone_smiles_alike_and_not_otherwise():
    """The leave-one-out mean smile reproduces a smile everyone shares (ratio 0) and cannot reproduce a smile
    nobody else makes (ratio ~1 for the one who opens the mouth while the others only widen it)."""
    from talkface.evaluation.expression import Photo, person_agnostic_floor
    from talkface.landmarks.normalize import MEAN_SHAPE

    face = np.asarray(MEAN_SHAPE, np.float64) * 100 + 200
    rng = np.random.default_rng(0)

    def person(shift: np.ndarray) -> Photo:
        neutral = face + rng.normal(0, 0.3, face.shape)
        return Photo("p", "smile", np.zeros((4, 4, 3), np.uint8), neutral, np.zeros((4, 4, 3), np.uint8),
                      neutral + shift)

    widen = np.zeros((68, 2))
    widen[48, 0], widen[54, 0] = -6.0, 6.0
    same = person_agnostic_floor([person(widen) for _ in range(5)])
    assert same["people"] == 5 and same["error_ratio_median"] < 0.1 and same["error_ratio_within_0.5"] == 1.0

    opens = np.zeros((68, 2))
    opens[[56, 57, 58, 65, 66, 67], 1] = 1.5
    mixed = [person(widen) for _ in range(5)] + [person(opens)]
    floor = person_agnostic_floor(mixed)
    assert floor["error_ratio_within_0.5"] == pytest.approx(5 / 6)  # the five wideners, not the one who opens
    assert person_agnostic_floor(mixed[:2]) == {}  # too few people to leave one out
