"""The product path never imports torch (the light install has none): synth, dub, landmarks, edit, a batch (its
spawned workers included) and the app's generate run with torch made unimportable, on the default (ONNX) backend
and the shipped models; `--backend torch` is what brings torch in."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from talkface.media import read_audio, write_audio

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
FACE = REPO / "talkface" / "examples" / "face.png"
# Loaded by every Python process started with it on PYTHONPATH (the batch's workers too): importing torch fails there.
NO_TORCH = '''import sys


class NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ModuleNotFoundError("torch imported on the product path", name="torch")  # as if not installed


sys.meta_path.insert(0, NoTorch())
'''


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Runs `talkface ARGS` (or `python -c CODE` with code=) in a process where torch cannot be imported."""
    blocker = tmp_path_factory.mktemp("no_torch")
    (blocker / "sitecustomize.py").write_text(NO_TORCH)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(blocker), str(REPO)]), OMP_NUM_THREADS="1")

    def run(*args, code: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
        argv = ["-c", code] if code else ["-m", "talkface.cli", *map(str, args)]
        done = subprocess.run([sys.executable, *argv], capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
        assert done.returncode == 0 or not check, done.stderr[-3000:]
        return done

    return run


def test_the_blocker_blocks_and_the_torch_backend_without_torch_is_one_line(run, tmp_path):
    assert "torch imported on the product path" in run(code="import torch", check=False).stderr
    done = run("synth", "--image", FACE, "--audio", REPO / "examples" / "speech.wav", "--out", tmp_path / "x.mp4",
               "--backend", "torch", "--quiet", check=False)
    assert done.returncode == 1 and done.stderr == ("talkface: error: this needs torch, which the light install leaves "
                                                    "out (training, evaluation, --backend torch): pip install "
                                                    "'talkface[train]'\n")


def test_synth_dub_landmarks_edit_and_a_batch_import_no_torch(run, tmp_path):
    speech = tmp_path / "speech.wav"
    write_audio(speech, read_audio(REPO / "examples" / "speech.wav", 16000)[:16000], 16000)
    run("synth", "--image", FACE, "--audio", speech, "--out", tmp_path / "talk.mp4", "--quiet")
    run("dub", "--video", tmp_path / "talk.mp4", "--audio", speech, "--out", tmp_path / "dub.mp4", "--quiet")
    run("landmarks", tmp_path / "talk.mp4", "--out", tmp_path / "track.npz", "--quiet")
    run("edit", "--image", FACE, "--expression", "happy", "--out", tmp_path / "happy.png", "--quiet")
    (tmp_path / "jobs.csv").write_text(f"command,image,audio,out\nsynth,{FACE},{speech},batch.mp4\n")
    run("batch", tmp_path / "jobs.csv", "--out-dir", tmp_path / "batch", "--workers", "1", "--quiet")
    for out in ("talk.mp4", "dub.mp4", "track.npz", "happy.png", "batch/batch.mp4"):
        assert (tmp_path / out).stat().st_size > 1000, out


def test_the_app_generates_without_torch(run, tmp_path):
    speech = tmp_path / "speech.wav"
    write_audio(speech, read_audio(REPO / "examples" / "speech.wav", 16000)[:16000], 16000)
    code = (f"import sys, app\nvideo, folder = app.generate({str(FACE)!r}, {str(speech)!r}, 'auto', 'auto', 'auto', "
            "True, True, 0)\napp.release(folder)\nprint(video.endswith('.mp4'), "
            "sorted(m for m in sys.modules if m.split('.')[0] == 'torch'))")
    assert run(code=code).stdout.strip() == "True []"
