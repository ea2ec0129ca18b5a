"""`talkface batch` end to end: each output has the bytes of the same job run alone, a failing job fails alone,
a batch stopped by SIGTERM leaves nothing partial and finishes on a re-run, and Ray gives the local bytes."""
from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from talkface import batch
from talkface.media import read_audio, write_audio

pytestmark = pytest.mark.slow
EXAMPLES = Path(__file__).resolve().parents[2] / "talkface" / "examples"
TALKFACE = [sys.executable, "-m", "talkface.cli"]


def talkface(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run([*TALKFACE, *map(str, args)], capture_output=True, text=True, timeout=600)
    if check and done.returncode != 0:
        raise AssertionError(done.stderr)
    return done


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    """face.png, 1 s of the example speech, a photo without a face, and a 1 s talking video to dub."""
    folder = tmp_path_factory.mktemp("inputs")
    (folder / "face.png").write_bytes((EXAMPLES / "face.png").read_bytes())
    write_audio(folder / "speech.wav", read_audio(EXAMPLES / "speech.wav", 16000)[:16000], 16000)
    cv2.imwrite(str(folder / "wall.png"), np.full((240, 320, 3), 128, np.uint8))
    talkface("synth", "--image", folder / "face.png", "--audio", folder / "speech.wav", "--out", folder / "talk.mp4",
             "--seed", 9, "--quiet")
    return folder


ROWS = [{"command": "synth", "image": "face.png", "audio": "speech.wav", "out": "seed0.mp4"},
        {"command": "synth", "image": "face.png", "audio": "speech.wav", "out": "still/seed5.mp4", "seed": "5",
         "still": "true", "save-landmarks": "still/seed5.npz"},
        {"command": "synth", "image": "wall.png", "audio": "speech.wav", "out": "nobody.mp4"},
        {"command": "dub", "video": "talk.mp4", "audio": "speech.wav", "out": "dubbed.mp4", "trim": "true"},
        {"command": "edit", "image": "face.png", "expression": "happy:0.6", "out": "happy.png"},
        # torch in a worker: the render on the worker's share of the cores, audio2lmk's sums on a lone process's count
        {"command": "synth", "image": "face.png", "audio": "speech.wav", "out": "torch.mp4", "backend": "torch"}]


def solo_args(row: dict, inputs: Path, out_dir: Path) -> list[str]:
    """The row as a lone `talkface` command line."""
    args = [row["command"], "--quiet"]
    for name, value in row.items():
        if name == "command":
            continue
        option = "--" + name.replace("_", "-")
        if value == "true":
            args.append(option)
        elif name in ("out", "save-landmarks"):
            (out_dir / value).parent.mkdir(parents=True, exist_ok=True)
            args += [option, str(out_dir / value)]
        else:
            args += [option, str(inputs / value) if name in ("image", "audio", "video") else value]
    return args


def write_manifest(folder: Path, rows: list[dict]) -> Path:
    columns = list(dict.fromkeys(name for row in rows for name in row))
    with open(folder / "jobs.csv", "w", newline="") as file:
        writer = csv.DictWriter(file, columns)
        writer.writeheader()
        writer.writerows(rows)
    return folder / "jobs.csv"


@pytest.fixture(scope="module")
def local(inputs, tmp_path_factory):
    """The rows through `talkface batch --workers 2`: (its process, its output folder)."""
    out = tmp_path_factory.mktemp("local")
    return talkface("batch", write_manifest(inputs, ROWS), "--out-dir", out, "--workers", 2, check=False), out


def test_outputs_have_the_bytes_of_solo_runs(inputs, local, tmp_path):
    _, out = local
    for row in ROWS:
        if row.get("image") == "wall.png":
            continue
        talkface(*solo_args(row, inputs, tmp_path))
        for name in ("out", "save-landmarks"):
            if name in row:
                assert (out / row[name]).read_bytes() == (tmp_path / row[name]).read_bytes(), row[name]


def test_a_failing_job_fails_alone(local):
    done, out = local
    assert done.returncode == 1
    assert "6 jobs: 5 done, 1 failed in" in done.stdout
    assert done.stderr.strip().splitlines()[-1].startswith("talkface: error: 1 of 6 jobs failed")
    report = json.loads((out / batch.REPORT).read_text())
    assert [job["status"] for job in report["jobs"]] == ["done", "done", "failed", "done", "done", "done"]
    failed = report["jobs"][2]
    assert failed["line"] == 4 and "no face" in failed["error"] and "\n" not in failed["error"]
    with open(out / batch.FAILED, newline="") as file:
        rows = list(csv.DictReader(file))
    assert [(row["image"], row["out"], row["error"]) for row in rows] == [
        (str(Path(rows[0]["image"]).parent / "wall.png"), "nobody.mp4", failed["error"])]
    assert not (out / "nobody.mp4").exists()
    # nothing else: no temp file left
    assert {p.name for p in out.iterdir()} == {"seed0.mp4", "still", "dubbed.mp4", "happy.png", "torch.mp4",
                                               batch.REPORT, batch.FAILED}
    assert {p.name for p in (out / "still").iterdir()} == {"seed5.mp4", "seed5.npz"}


def test_sigterm_mid_batch_then_rerun_finishes_the_rest(inputs, tmp_path):
    rows = [{"command": "synth", "image": "face.png", "audio": "speech.wav", "out": f"job{i}.mp4", "seed": str(i)}
            for i in range(4)]
    manifest = write_manifest(inputs, rows).rename(inputs / "four.csv")
    out = tmp_path / "out"
    command = [*TALKFACE, "batch", str(manifest), "--out-dir", str(out), "--workers", "1", "--quiet"]
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while first.poll() is None and time.monotonic() < deadline:  # until job1's video is half written
        if (out / "job1.mp4").exists() or (out.is_dir() and any(out.glob(".job1.*.mp4"))):
            break
        time.sleep(0.01)
    first.send_signal(signal.SIGTERM)
    _, stderr = first.communicate(timeout=120)
    assert first.returncode == 128 + signal.SIGTERM, stderr
    assert "interrupted (SIGTERM)" in stderr
    report = json.loads((out / batch.REPORT).read_text())
    assert report["interrupted"] and report["counts"]["interrupted"] >= 1
    made = sorted(p.name for p in out.glob("*.mp4"))
    assert "job0.mp4" in made and len(made) < 4
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []  # no temp file, nothing partial

    again = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert f"{len(made)} skipped (output already there)" in again.stdout
    assert sorted(p.name for p in out.glob("*.mp4")) == [f"job{i}.mp4" for i in range(4)]
    talkface(*solo_args(rows[3], inputs, tmp_path))
    assert (out / "job3.mp4").read_bytes() == (tmp_path / "job3.mp4").read_bytes()


def test_ray_gives_the_local_bytes(inputs, local, tmp_path):
    ray = pytest.importorskip("ray", reason="the Ray extra is not installed (pip install 'talkface[ray]')")
    _, out = local
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        rows = [row for row in ROWS if row.get("image") != "wall.png"]
        report = batch.run(rows, tmp_path, ray="auto", base=inputs)
    finally:
        ray.shutdown()
    assert report.ok and report.counts["done"] == len(rows) and report.workers == 2
    for row in rows:
        assert (tmp_path / row["out"]).read_bytes() == (out / row["out"]).read_bytes(), row["out"]
