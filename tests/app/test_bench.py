import json

import pytest

from talkface.cli import main


@pytest.mark.slow
def test_bench_writes_every_stage_to_json(tmp_path):
    out = tmp_path / "bench.json"
    assert main(["bench", "--out", str(out), "--repeats", "1", "--cold-runs", "1", "--dub-runs", "0"]) == 0
    report = json.loads(out.read_text())
    assert set(report["stages_s"]) == {"load", "landmarks", "audio2lmk", "lmk2video", "encode"}
    assert all(v > 0 for v in report["stages_s"].values())
    assert report["inputs"]["frames"] == round(report["inputs"]["audio_seconds"] * 25)
    assert abs(report["total_s"] - sum(report["stages_s"].values())) < 1e-3
    assert report["models"]["size"] == "auto" and report["models"]["crop"] == 128  # the example's face: 128 px
    assert "generator_fps" not in report
    cold = report["cold_synth"]  # a whole `talkface synth` process, as a user starts it
    assert cold["runs"] == 1 and cold["audio_seconds"] == 3.0
    assert cold["synth_wall_s"] == cold["synth_wall_all_s"][0] > report["stages_s"]["encode"]
    assert 0 < cold["missing_input_wall_s"] < cold["synth_wall_s"]
    assert cold["peak_rss_mb"] > 100  # the models were loaded in it
    assert "cold_dub" not in report


@pytest.mark.slow
def test_bench_compares_both_backends_in_one_report(tmp_path):
    out = tmp_path / "bench.json"
    assert main(["bench", "--out", str(out), "--repeats", "1", "--cold-runs", "0", "--dub-runs", "0",
                 "--backend", "both"]) == 0
    report = json.loads(out.read_text())
    assert set(report) == {"onnx", "torch"}
    for backend, run in report.items():
        assert run["models"]["backend"] == backend and run["stages_s"]["lmk2video"] > 0
        assert run["environment"]["size_mb"] > 0 and run["environment"]["torch_installed"]  # the test environment


@pytest.mark.slow
def test_bench_times_whole_dub_processes_on_a_talking_video_of_the_issues_size(tmp_path):
    from talkface.bench import DUB_SIZE, EXAMPLES, cold_dub, talking_video
    from talkface.media import read_audio
    from talkface.video_stream import probe_video

    speech = read_audio(EXAMPLES / "speech.wav", 16000)
    video = tmp_path / "talking.mp4"
    talking_video(EXAMPLES / "face.png", speech, 2.0, video)
    info = probe_video(video)
    assert (info.width, info.height) == DUB_SIZE and info.fps == 25
    dub = cold_dub(video, speech, runs=1)
    assert dub["video_size"] == list(DUB_SIZE) and dub["video_seconds"] == pytest.approx(2.0, abs=0.1)
    assert dub["dub_wall_s"] == dub["dub_wall_all_s"][0] > 1.0  # a whole process: torch, models, tracking, encoding
    assert dub["wall_per_video_second"] == pytest.approx(dub["dub_wall_s"] / dub["video_seconds"], rel=1e-2)
    assert dub["peak_rss_mb"] > 100


def test_a_timed_child_that_fails_or_wrongly_succeeds_is_an_error():
    import sys

    from talkface.bench import _run_timed

    wall, peak = _run_timed([sys.executable, "-c", "pass"])
    assert wall > 0 and peak > 1
    with pytest.raises(RuntimeError, match="failed: boom"):
        _run_timed([sys.executable, "-c", "import sys; sys.exit('boom')"])
    with pytest.raises(RuntimeError, match="succeeded"):
        _run_timed([sys.executable, "-c", "pass"], should_fail=True)
    assert _run_timed([sys.executable, "-c", "raise SystemExit(1)"], should_fail=True)[0] > 0


@pytest.mark.slow
def test_bench_times_the_generator_at_each_requested_crop_size(tmp_path):
    from talkface.bench import run_bench

    report = run_bench(repeats=1, audio2lmk="phonetic", lmk2video="warp", generator_sizes=(128, 256))
    assert set(report["generator_fps"]) == {"128", "256"}
    assert all(fps > 0 for fps in report["generator_fps"].values())


def test_the_bench_inputs_ship_inside_the_package():
    """`talkface bench` with no inputs reads package data, so an installed wheel (no examples/ folder) has them."""
    import tomllib
    from pathlib import Path

    import talkface
    from talkface.bench import EXAMPLES

    package = Path(talkface.__file__).resolve().parent
    assert EXAMPLES.parent == package
    for name in ("face.png", "speech.wav"):
        assert (EXAMPLES / name).is_file() and not (EXAMPLES / name).is_symlink()
    pyproject = tomllib.loads((package.parent / "pyproject.toml").read_text())
    assert "examples/*" in pyproject["tool"]["setuptools"]["package-data"]["talkface"]
    # The repository's examples/ (README, make demo) are the same files.
    assert (package.parent / "examples" / "face.png").resolve() == EXAMPLES / "face.png"
