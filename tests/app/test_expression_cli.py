"""Expression control from the command line: `talkface edit`, and `--expression` / `--au` on synth, animate and
dub. Bad values are one line naming the option and what is allowed, before any model loads, nothing written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from talkface.landmarks.detect import detect_landmarks
from talkface.landmarks.indices import interocular

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run_cli(*args):
    proc = subprocess.run([sys.executable, "-m", "talkface.cli", *map(str, args)], capture_output=True, text=True)
    return proc.returncode, proc.stdout, proc.stderr


def _one_line(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("talkface: error:")
    return lines[0]


@pytest.mark.parametrize("command", ["synth", "animate", "dub", "edit"])
@pytest.mark.parametrize("option, value, says", [
    ("--expression", "grumpy", "unknown expression 'grumpy' (one of: neutral, happy"),
    ("--expression", "happy:1.2", "out of range (0 to 1)"),
    ("--au", "13=0.5", "unknown action unit 13 (one of: 1, 2, 4"),
    ("--au", "12", "not UNIT=INTENSITY"),
])
def test_bad_expression_options_are_one_line_before_any_work(tmp_path, speech, command, option, value, says):
    out = tmp_path / ("out.png" if command == "edit" else "out.mp4")
    inputs = {"synth": ["--image", EXAMPLES / "face.png", "--audio", speech],
              "animate": ["--image", EXAMPLES / "face.png", "--landmarks", tmp_path / "t.npz"],
              "dub": ["--video", tmp_path / "v.mp4", "--audio", speech],
              "edit": ["--image", EXAMPLES / "face.png"]}[command]
    code, _, err = run_cli(command, *inputs, "--out", out, option, value)
    assert code == 2
    line = _one_line(err)
    assert option in line and says in line
    assert not list(tmp_path.glob("out*")) and not list(tmp_path.glob(".*"))


def test_malformed_keyframes_and_keyframe_files(tmp_path, speech):
    code, _, err = run_cli("synth", "--image", EXAMPLES / "face.png", "--audio", speech, "--out", tmp_path / "o.mp4",
                           "--expression", "0:happy 2:sad 1:angry")
    assert code == 2 and "times must increase" in _one_line(err)
    keys = tmp_path / "keys.json"
    keys.write_text('[{"time": 0, "expression": "happy", "intensity": 3}]')
    code, _, err = run_cli("synth", "--image", EXAMPLES / "face.png", "--audio", speech, "--out", tmp_path / "o.mp4",
                           "--expression", keys)
    assert code == 1 and "keys.json: keyframe 1: intensity 3 is out of range" in _one_line(err)
    assert not (tmp_path / "o.mp4").exists()
    code, _, err = run_cli("edit", "--image", EXAMPLES / "face.png", "--out", tmp_path / "o.png",
                           "--expression", "0:neutral 1:happy")
    assert code == 1 and "one expression, not keyframes" in _one_line(err)


def test_edit_refuses_other_outputs_and_needs_an_expression(tmp_path):
    code, _, err = run_cli("edit", "--image", EXAMPLES / "face.png", "--out", tmp_path / "o.gif",
                           "--expression", "happy")
    assert code == 1 and "o.gif" in _one_line(err)
    code, _, err = run_cli("edit", "--image", EXAMPLES / "face.png", "--out", tmp_path / "o.png")
    assert code == 1 and "--expression" in _one_line(err)
    assert not list(tmp_path.iterdir())


def test_edit_happy_moves_the_lip_corners_up_and_keeps_the_rest_of_the_photo(tmp_path):
    out = tmp_path / "happy.png"
    code, stdout, err = run_cli("edit", "--image", EXAMPLES / "face.png", "--expression", "happy:0.8", "--out", out)
    assert code == 0, err
    assert "happy:0.8" in stdout
    photo = cv2.cvtColor(cv2.imread(str(EXAMPLES / "face.png")), cv2.COLOR_BGR2RGB)
    edited = cv2.cvtColor(cv2.imread(str(out)), cv2.COLOR_BGR2RGB)
    assert edited.shape == photo.shape
    before, after = detect_landmarks(photo), detect_landmarks(edited)
    iod = float(interocular(before))
    corners_up = ((before[[48, 54], 1] - after[[48, 54], 1]) / iod).mean()
    assert corners_up > 0.02
    box = cv2.boundingRect(np.round(before).astype(np.int32))
    outside = np.ones(photo.shape[:2], bool)
    x, y, w, h = box
    outside[max(0, y - h):y + 2 * h, max(0, x - w):x + 2 * w] = False
    assert np.array_equal(edited[outside], photo[outside])  # far from the face: the photo's own pixels


def test_edit_at_intensity_zero_returns_the_photo(tmp_path):
    out = tmp_path / "same.png"
    code, _, err = run_cli("edit", "--image", EXAMPLES / "face.png", "--expression", "happy:0", "--out", out)
    assert code == 0, err
    photo = cv2.imread(str(EXAMPLES / "face.png"))
    assert np.array_equal(cv2.imread(str(out)), photo)


@pytest.mark.slow
def test_synth_with_a_smile_keeps_the_speech_and_the_corners_up(tmp_path):
    """The same synth with and without `--expression happy:0.7`: the saved tracks open the mouth together, and
    the smiling one keeps its lip corners higher throughout."""
    import soundfile as sf

    wave, rate = sf.read(EXAMPLES / "speech.wav")
    clip = tmp_path / "three.wav"
    sf.write(clip, wave[: 3 * rate], rate)
    tracks = {}
    for name, extra in (("plain", []), ("happy", ["--expression", "happy:0.7"])):
        code, _, err = run_cli("synth", "--image", EXAMPLES / "face.png", "--audio", clip, "--out",
                               tmp_path / f"{name}.mp4", "--save-landmarks", tmp_path / f"{name}.npz",
                               "--lmk2video", "warp", "--quiet", *extra)
        assert code == 0, err
        tracks[name] = np.load(tmp_path / f"{name}.npz")["landmarks"]
    from talkface.landmarks.indices import mouth_opening

    plain, happy = tracks["plain"], tracks["happy"]
    assert np.corrcoef(mouth_opening(plain), mouth_opening(happy))[0, 1] > 0.9
    iod = interocular(plain)
    assert (((plain[:, 48, 1] - happy[:, 48, 1]) / iod) > 0.01).all()


def test_edit_never_imports_torch(tmp_path):
    """`talkface edit` is numpy and OpenCV only (`import torch` alone would cost it seconds)."""
    code = ("import sys\nfrom talkface.cli import main\n"
            f"assert main(['edit', '--image', {str(EXAMPLES / 'face.png')!r}, '--expression', 'surprised', "
            f"'--out', {str(tmp_path / 'o.png')!r}]) == 0\n"
            "print('torch' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "False"


def test_cli_spells_the_expressions_as_the_package_does():
    from talkface import cli, expression

    assert cli.EXPRESSIONS == expression.EXPRESSIONS
