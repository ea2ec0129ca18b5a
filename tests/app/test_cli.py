"""The `talkface` command on bad input: one line naming the file and the problem, exit 1, no output left."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run_cli(*args):
    proc = subprocess.run([sys.executable, "-m", "talkface.cli", *map(str, args)], capture_output=True, text=True)
    return proc.returncode, proc.stdout, proc.stderr


def assert_one_line_error(code, err, *fragments):
    assert code == 1
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("talkface: error:")
    for fragment in fragments:
        assert str(fragment) in lines[0]


def test_photo_without_a_face(tmp_path, speech):
    photo = tmp_path / "wall.png"
    import cv2
    cv2.imwrite(str(photo), np.full((200, 200, 3), 90, np.uint8))
    out = tmp_path / "out.mp4"
    code, _, err = run_cli("synth", "--image", photo, "--audio", speech, "--out", out)
    assert_one_line_error(code, err, photo, "no face")
    assert not out.exists()


def test_not_an_image_not_audio_empty_audio_missing_dir(tmp_path, speech):
    text = tmp_path / "notes.txt"
    text.write_text("hello " * 100)
    out = tmp_path / "out.mp4"
    code, _, err = run_cli("synth", "--image", text, "--audio", speech, "--out", out)
    assert_one_line_error(code, err, text, "not a readable image")
    code, _, err = run_cli("synth", "--image", EXAMPLES / "face.png", "--audio", text, "--out", out)
    assert_one_line_error(code, err, text)
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0, np.float32), 16000)
    code, _, err = run_cli("synth", "--image", EXAMPLES / "face.png", "--audio", empty, "--out", out)
    assert_one_line_error(code, err, empty)
    code, _, err = run_cli("synth", "--image", EXAMPLES / "face.png", "--audio", speech,
                           "--out", tmp_path / "missing" / "out.mp4")
    assert_one_line_error(code, err, "does not exist")
    code, _, err = run_cli("synth", "--image", tmp_path / "nope.png", "--audio", speech, "--out", out)
    assert_one_line_error(code, err, "nope.png", "not found")
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files left


def test_learned_stage_without_checkpoint_or_bad_path(tmp_path, speech):
    code, _, err = run_cli("synth", "--image", EXAMPLES / "face.png", "--audio", speech, "--out", tmp_path / "o.mp4",
                           "--lmk2video", tmp_path / "nothing.safetensors")
    assert_one_line_error(code, err, "nothing.safetensors")


def test_train_overrides_go_before_or_after_the_options():
    from talkface.cli import parse

    for argv in (["train", "audio2lmk", "--config", "c.yaml", "lr=0.1", "out_dir=x"],
                 ["train", "audio2lmk", "lr=0.1", "out_dir=x", "--config", "c.yaml"],
                 ["train", "audio2lmk", "lr=0.1", "--config", "c.yaml", "out_dir=x"]):
        args = parse(argv)
        assert args.config == "c.yaml" and sorted(args.overrides) == ["lr=0.1", "out_dir=x"], argv
    with pytest.raises(SystemExit):
        parse(["train", "audio2lmk", "--config", "c.yaml", "--bogus"])
    with pytest.raises(SystemExit):
        parse(["synth", "--image", "a.png", "--audio", "b.wav", "--out", "c.mp4", "lr=0.1"])


def test_the_grid_evaluations_share_one_option_set():
    from talkface.cli import parse

    shared = {"split", "speaker", "grid_root", "limit", "device", "out"}
    for target, extra in (("grid", ["--prepared", "p"]), ("audio2lmk", ["--prepared", "p"]),
                          ("lmk2video", ["--prepared", "p"]), ("dub", [])):
        args = parse(["eval", target, "--limit", "2", "--device", "cpu", "--grid-root", "g", *extra])
        assert shared <= set(vars(args)), target
        assert (args.limit, args.device, args.grid_root, args.split) == (2, "cpu", "g", "test")


def test_eval_on_a_missing_device_is_one_line(tmp_path):
    code, _, err = run_cli("eval", "audio2lmk", "--device", "cuda:7", "--prepared", tmp_path / "none")
    assert_one_line_error(code, err, "cuda:7")
    code, _, err = run_cli("eval", "lmk2video", "--device", "tpu")
    assert_one_line_error(code, err, "unknown device")


def test_eval_dub_takes_several_video_globs_and_a_clip_length():
    from talkface.cli import parse

    args = parse(["eval", "dub", "--other", "a/*.mp4", "--other", "b/*.mpg", "--other-only", "--max-seconds", "4"])
    assert args.other == ["a/*.mp4", "b/*.mpg"] and args.other_only and args.max_seconds == 4.0
    defaults = parse(["eval", "dub"])
    assert defaults.other is None and not defaults.other_only and defaults.max_seconds == 15.0
    for bad in ("0", "-1", "nan"):
        with pytest.raises(SystemExit):
            parse(["eval", "dub", "--max-seconds", bad])


def test_dub_motion_gain_is_matched_by_default_or_a_positive_number():
    from talkface.cli import parse

    for command in (["dub", "--video", "v.mp4", "--audio", "a.wav", "--out", "o.mp4"], ["eval", "dub"]):
        assert parse(command).motion_gain is None  # matched to the video
        assert parse(command + ["--motion-gain", "matched"]).motion_gain is None
        assert parse(command + ["--motion-gain", "1.3"]).motion_gain == 1.3
        for bad in ("0", "-1", "nan", "wide"):
            with pytest.raises(SystemExit):
                parse(command + ["--motion-gain", bad])


def test_synth_motion_gain_is_one_by_default_or_a_positive_number():
    from talkface.cli import parse

    command = ["synth", "--image", "face.png", "--audio", "speech.wav", "--out", "o.mp4"]
    assert parse(command).motion_gain == 1.0
    assert parse(command + ["--motion-gain", "1.5"]).motion_gain == 1.5
    for bad in ("0", "-1", "inf", "matched"):  # a photo shows no range of its own to match
        with pytest.raises(SystemExit):
            parse(command + ["--motion-gain", bad])
