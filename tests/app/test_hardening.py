"""Hostile input (issue 12): every case ends in one line naming the input and the problem, a non-zero exit,
inputs untouched, and nothing left beside the output or in the temp folder."""

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np
import pytest
import soundfile as sf

from talkface.media import probe, read_image, read_video, write_video

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
FAST = ["--audio2lmk", "phonetic", "--lmk2video", "warp"]  # training-free stages: quick renders


@pytest.fixture
def env(tmp_path):
    """A TMPDIR of its own, to check that nothing is left in the temp folder."""
    tmp = tmp_path / "tmpdir"
    tmp.mkdir()
    return dict(os.environ, TMPDIR=str(tmp), PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")


def run_cli(env, *args, cwd=None):
    proc = subprocess.run([sys.executable, "-m", "talkface.cli", *map(str, args)], capture_output=True, text=True,
                          env=env, cwd=cwd)
    return proc.returncode, proc.stdout, proc.stderr


def one_line(code, err, *fragments, exit_code=1):
    assert code == exit_code, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("talkface: error: ") and "Traceback" not in err
    for fragment in fragments:
        assert str(fragment) in lines[0], (fragment, lines[0])
    return lines[0]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def no_leftovers(folder: Path, env=None, keep=()):
    hidden = [p.name for p in folder.iterdir() if p.name.startswith(".") and p.name not in keep]
    assert not hidden, hidden
    if env is not None:
        assert not list(Path(env["TMPDIR"]).iterdir()), list(Path(env["TMPDIR"]).iterdir())


def tone(seconds, sr=16000, channels=1, freq=220.0):
    t = np.arange(int(round(seconds * sr))) / sr
    wave = (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return wave if channels == 1 else np.stack([wave * (1 + 0.1 * c) for c in range(channels)], axis=1)


@pytest.fixture
def work(tmp_path):
    """A folder with the example photo and a 1 s speech-like recording."""
    folder = tmp_path / "work"
    folder.mkdir()
    shutil.copy(EXAMPLES / "face.png", folder / "face.png")
    sf.write(folder / "speech.wav", tone(1.0), 16000)
    return folder


# -- 1. inputs are never destroyed ---------------------------------------------------------------------------

def test_out_naming_an_input_or_a_device_is_refused_and_inputs_stay(work, env):
    photo, speech = work / "face.png", work / "speech.wav"
    before = digest(photo), digest(speech)
    clip = work / "clip.mp4"  # a video used as the audio input
    write_video(clip, np.zeros((5, 32, 32, 3), np.uint8), 25.0, audio=tone(0.2))
    clip_before = digest(clip)
    code, _, err = run_cli(env, "synth", "--image", photo, "--audio", clip, "--out", clip)
    one_line(code, err, clip, "input")
    (work / "alias.mp4").symlink_to(clip)
    code, _, err = run_cli(env, "synth", "--image", photo, "--audio", clip, "--out", work / "alias.mp4")
    one_line(code, err, "alias.mp4", "input")
    os.link(clip, work / "hard.mp4")
    code, _, err = run_cli(env, "synth", "--image", photo, "--audio", clip, "--out", work / "hard.mp4")
    one_line(code, err, "hard.mp4", "input")
    (work / "null.mp4").symlink_to("/dev/null")
    code, _, err = run_cli(env, "synth", "--image", photo, "--audio", speech, "--out", work / "null.mp4")
    one_line(code, err, "null.mp4", "device")
    code, _, err = run_cli(env, "synth", "--image", photo, "--audio", speech, "--out", photo)
    one_line(code, err, photo)
    assert (digest(photo), digest(speech)) == before and digest(clip) == clip_before
    assert Path("/dev/null").is_char_device()
    no_leftovers(work, env)


# -- 2. one line, never a traceback -------------------------------------------------------------------------

@pytest.mark.parametrize("argv,fragment", [
    (["--seed", "-1"], "--seed"), (["--face-index", "-1"], "--face-index"), (["--size", "7"], "--size"),
    (["--seed", "x"], "--seed"), (["--bogus"], "--bogus"),
])
def test_option_values_out_of_range_are_one_line(work, env, argv, fragment):
    code, _, err = run_cli(env, "synth", "--image", work / "face.png", "--audio", work / "speech.wav",
                           "--out", work / "o.mp4", *argv)
    one_line(code, err, fragment, exit_code=2)
    code, _, err = run_cli(env, "landmarks", work / "speech.wav", "--out", work / "t.npz", "--detect-every", "0")
    one_line(code, err, "--detect-every", exit_code=2)


def test_cuda_without_cuda_is_one_line(work, env):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    for stages in (FAST, []):  # the ONNX backend (default) asks ONNX Runtime for its CUDA provider
        code, _, err = run_cli(env, "synth", "--image", work / "face.png", "--audio", work / "speech.wav",
                               "--out", work / "o.mp4", "--device", "cuda", *stages)
        one_line(code, err, "--device cuda", "no CUDA provider", "onnxruntime-gpu")
    code, _, err = run_cli(env, "synth", "--image", work / "face.png", "--audio", work / "speech.wav",
                           "--out", work / "o.mp4", "--device", "cuda", "--backend", "torch")
    one_line(code, err, "--device cuda", "not available")
    code, _, err = run_cli(env, "synth", "--image", work / "face.png", "--audio", work / "speech.wav",
                           "--out", work / "o.mp4", "--device", "gpu0")
    one_line(code, err, "--device gpu0")
    assert not (work / "o.mp4").exists()
    no_leftovers(work, env)


def test_a_few_milliseconds_of_audio_with_the_learned_model(work, env):
    short = work / "click.wav"
    sf.write(short, tone(0.02), 16000)
    out = work / "o.mp4"
    code, _, err = run_cli(env, "synth", "--image", work / "face.png", "--audio", short, "--out", out,
                           "--audio2lmk", "learned", "--lmk2video", "warp", "--quiet")
    assert code == 0, err
    assert len(read_video(out).frames) == 1  # round(0.02 s x 25) = 0 -> at least one frame
    sf.write(short, tone(1 / 16000), 16000)  # a single sample
    code, _, err = run_cli(env, "synth", "--image", work / "face.png", "--audio", short, "--out", out,
                           "--audio2lmk", "learned", "--lmk2video", "warp", "--quiet")
    assert code == 0, err
    no_leftovers(work, env)


def _track_file(path, landmarks, fps=25.0, size=(512, 512)):
    np.savez(path, landmarks=landmarks, fps=np.float64(fps), image_size=np.array(size))
    return path


@pytest.mark.slow
def test_damaged_landmark_tracks_are_one_line_before_any_render(work, env):
    good = np.load(_saved_track(work, env))["landmarks"]
    nan = good.copy()
    nan[3, 10, 0] = np.nan
    inf = good.copy()
    inf[0, 0, 1] = np.inf
    cases = {
        "nan.npz": (_track_file(work / "nan.npz", nan), "NaN"),
        "inf.npz": (_track_file(work / "inf.npz", inf), "NaN or infinite"),
        "empty.npz": (_track_file(work / "empty.npz", good[:0]), "no frames"),
        "fps0.npz": (_track_file(work / "fps0.npz", good, fps=0.0), "fps"),
        "fpsneg.npz": (_track_file(work / "fpsneg.npz", good, fps=-25.0), "fps"),
        "fpsnan.npz": (_track_file(work / "fpsnan.npz", good, fps=np.nan), "fps"),
        "shape.npz": (_track_file(work / "shape.npz", good[:, :5]), "(T, 68, 2)"),
        "flat.npz": (_track_file(work / "flat.npz", np.zeros_like(good)), "not a face shape"),
        "size.npz": (_track_file(work / "size.npz", good, size=(0, 5)), "image_size"),
        "strings.npz": (_track_file(work / "strings.npz", np.full((2, 68, 2), "a")), "(T, 68, 2)"),
    }
    text = work / "notes.npz"
    text.write_text("just some text\n" * 20)
    cases["notes.npz"] = (text, "not an .npz")
    obj = work / "object.npz"
    np.savez(obj, landmarks=np.array([{"a": 1}], dtype=object), fps=25.0, image_size=np.array([5, 5]))
    cases["object.npz"] = (obj, "not a numeric array")
    for name, (path, fragment) in cases.items():
        out = work / f"{name}.mp4"
        code, _, err = run_cli(env, "animate", "--image", work / "face.png", "--landmarks", path, "--out", out,
                               "--lmk2video", "warp")
        line = one_line(code, err, name, fragment)
        assert "pickle" not in line
        assert not out.exists()
    no_leftovers(work, env)


def test_a_track_whose_face_balloons_is_one_line(work, env):
    """A face many times the photo's would take the renderer minutes and gigabytes: refused up front."""
    track = np.load(_saved_track(work, env))["landmarks"].copy()
    centre = track[10:].mean(axis=1, keepdims=True)
    track[10:] = (track[10:] - centre) * 30 + centre
    path = _track_file(work / "balloon.npz", track)
    code, _, err = run_cli(env, "animate", "--image", work / "face.png", "--landmarks", path, "--out", work / "b.mp4")
    one_line(code, err, "balloon.npz", "frame 10", "30x")
    assert not (work / "b.mp4").exists()
    no_leftovers(work, env)


def _saved_track(work, env):
    path = work / "track.npz"
    if not path.exists():
        code, _, err = run_cli(env, "synth", "--image", work / "face.png", "--audio", work / "speech.wav",
                               "--out", work / "base.mp4", "--save-landmarks", path, "--quiet", *FAST)
        assert code == 0, err
    return path


def test_unwritable_outputs_are_one_line(work, env, tmp_path):
    code, _, err = run_cli(env, "synth", "--image", work / "face.png", "--audio", work / "speech.wav",
                           "--out", "/proc/talkface.mp4")
    one_line(code, err, "/proc/talkface.mp4", "cannot write")
    code, _, err = run_cli(env, "synth", "--image", work / "face.png", "--audio", work / "speech.wav",
                           "--out", work / "speech.wav" / "o.mp4")
    one_line(code, err, "o.mp4", "not a folder")
    with _mounted(tmp_path / "ro", "ro") as ro:
        code, _, err = run_cli(env, "synth", "--image", work / "face.png", "--audio", work / "speech.wav",
                               "--out", ro / "o.mp4")
        one_line(code, err, "o.mp4", "Read-only")
    no_leftovers(work, env)


@contextmanager
def _mounted(folder: Path, *options: str):
    folder.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", ",".join(options), "tmpfs", str(folder)],
                          capture_output=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({proc.stderr.decode(errors='replace').strip()})")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], capture_output=True)


def test_full_disk_is_one_line_and_leaves_nothing(work, env, tmp_path):
    with _mounted(tmp_path / "full", "size=48k") as full:
        code, _, err = run_cli(env, "synth", "--image", work / "face.png", "--audio", work / "speech.wav",
                               "--out", full / "o.mp4", "--quiet", *FAST)
        one_line(code, err, "o.mp4")
        assert not list(full.iterdir())
        with pytest.raises(Exception) as failure:  # the temp wav of a waveform does not fit either
            write_video(full / "w.mp4", np.zeros((3, 16, 16, 3), np.uint8), 25.0, audio=tone(2.0))
        assert "w.mp4" in str(failure.value) and "\n" not in str(failure.value)
        assert not list(full.iterdir())
    no_leftovers(work, env)


def test_eval_lmk2video_defaults_to_the_shipped_checkpoint(monkeypatch):
    import lmk2video.evaluate
    from lmk2video.learned import SHIPPED_CHECKPOINT
    from talkface.cli import main

    seen = {}
    monkeypatch.setattr(lmk2video.evaluate, "run_eval_lmk2video", lambda checkpoint, *a, **k: seen.update(c=checkpoint))
    assert main(["eval", "lmk2video", "--prepared", "nowhere"]) == 0
    assert Path(seen["c"]) == SHIPPED_CHECKPOINT


# -- 3. animate keeps every frame of the track ---------------------------------------------------------------

@pytest.mark.slow
def test_animate_with_short_audio_keeps_every_frame(work, env):
    track = _saved_track(work, env)  # 25 frames (1 s)
    short = work / "short.wav"
    sf.write(short, tone(0.3, 44100, channels=2), 44100)
    out = work / "anim.mp4"
    code, stdout, err = run_cli(env, "animate", "--image", work / "face.png", "--landmarks", track, "--audio", short,
                                "--out", out, "--lmk2video", "warp", "--quiet")
    assert code == 0, err
    video = read_video(out)
    assert len(video.frames) == 25 and "25 frames" in stdout
    assert abs(len(video.audio) / 16000 - 1.0) < 0.03  # padded with silence to the track's length
    info = probe(out)
    assert info["audio_rate"] == 44100 and info["audio_channels"] == 2  # the recording's own audio
    no_leftovers(work, env)


# -- 4. signals -------------------------------------------------------------------------------------------

def default_signals() -> None:
    """The child's SIGINT and SIGHUP as from a terminal: a suite started under nohup or as a background job of a
    non-interactive shell ignores them, and an ignored signal is inherited through exec."""
    for sig in (signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)


@pytest.mark.parametrize("sig,group", [(signal.SIGTERM, False), (signal.SIGINT, False), (signal.SIGINT, True),
                                       (signal.SIGHUP, False)])
@pytest.mark.slow
def test_a_signal_mid_render_cleans_up(work, env, sig, group):
    """SIGTERM (timeout, docker stop), SIGHUP and Ctrl-C (to the process, or a terminal's to the whole group,
    ffmpeg included) all end with one line, exit 128+signal, and no partial mp4 or temp file."""
    long = work / "long.wav"
    sf.write(long, tone(60.0), 16000)
    out = work / "o.mp4"
    proc = subprocess.Popen([sys.executable, "-m", "talkface.cli", "synth", "--image", work / "face.png", "--audio",
                             long, "--out", out, "--lmk2video", "learned", "--audio2lmk", "phonetic", "--quiet"],
                            stderr=subprocess.PIPE, text=True, env=env, start_new_session=True,
                            preexec_fn=default_signals)
    deadline = time.time() + 240
    while time.time() < deadline and not [p for p in work.iterdir() if p.name.startswith(".o.")]:
        time.sleep(0.05)
    assert proc.poll() is None, proc.stderr.read()
    time.sleep(0.5)  # well into the render: the partial mp4 is growing
    if group:
        os.killpg(proc.pid, sig)
    else:
        proc.send_signal(sig)
    err = proc.stderr.read()
    code = proc.wait(timeout=60)
    one_line(code, err, "interrupted", signal.Signals(sig).name, exit_code=128 + sig)
    assert not out.exists()
    no_leftovers(work, env)


# -- 7. messages name the file -------------------------------------------------------------------------------

def test_files_of_the_wrong_kind_name_themselves(work, env):
    silent_video = work / "silent.mp4"
    write_video(silent_video, np.zeros((5, 32, 32, 3), np.uint8), 25.0)
    nan_audio = work / "nan.wav"
    sf.write(nan_audio, np.full(16000, np.nan, np.float32), 16000, subtype="FLOAT")
    zero = work / "zero.wav"
    zero.write_bytes(b"")
    garbage = work / "garbage.mp3"
    garbage.write_bytes(os.urandom(4000))
    png = (EXAMPLES / "face.png").read_bytes()
    truncated = work / "truncated.png"
    truncated.write_bytes(png[:len(png) // 3])
    folder = work / "folder.wav"
    folder.mkdir()
    cases = [
        (["--image", work / "face.png", "--audio", silent_video], silent_video, "no audio track"),
        (["--image", work / "face.png", "--audio", nan_audio], nan_audio, "NaN"),
        (["--image", work / "face.png", "--audio", zero], zero, "empty"),
        (["--image", work / "face.png", "--audio", garbage], garbage, ""),
        (["--image", work / "face.png", "--audio", folder], folder, "folder"),
        (["--image", truncated, "--audio", work / "speech.wav"], truncated, "not a readable image"),
        (["--image", work / "speech.wav", "--audio", work / "speech.wav"], work / "speech.wav", "image"),
    ]
    for argv, name, fragment in cases:
        code, _, err = run_cli(env, "synth", *argv, "--out", work / "o.mp4")
        one_line(code, err, name, fragment)
    code, _, err = run_cli(env, "landmarks", silent_video, "--out", work / "t.npz")
    one_line(code, err, silent_video, "no face")
    code, _, err = run_cli(env, "synth", "--image", work / "face.png", "--audio", work / "speech.wav",
                           "--out", work / "o.mp4", "--save-landmarks", work / "o.mp4")
    one_line(code, err, "o.mp4")
    assert not (work / "o.mp4").exists()
    no_leftovers(work, env)


@pytest.mark.parametrize("shape", [(1, 1), (2, 3), (10000, 2), (3, 5000), (60, 9000)])
def test_tiny_and_extreme_images_have_no_face(work, env, shape):
    photo = work / "tiny.png"
    cv2.imwrite(str(photo), np.full((*shape, 3), 128, np.uint8))
    code, _, err = run_cli(env, "synth", "--image", photo, "--audio", work / "speech.wav", "--out", work / "o.mp4")
    one_line(code, err, photo, "no face")


# -- 8. containers -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("suffix", [".avi", ".gif", ".webm", ".wav", ""])
def test_unsupported_output_types_are_refused(work, env, suffix):
    out = work / f"o{suffix}"
    code, _, err = run_cli(env, "synth", "--image", work / "face.png", "--audio", work / "speech.wav", "--out", out)
    one_line(code, err, out.name, ".mp4")
    assert not out.exists()


def test_mkv_and_mov_are_written_in_their_own_container(tmp_path):
    frames = np.zeros((4, 32, 32, 3), np.uint8)
    for suffix, marker in ((".mkv", b"\x1a\x45\xdf\xa3"), (".mov", b"ftypqt")):
        out = write_video(tmp_path / f"v{suffix}", frames, 25.0, audio=tone(0.16))
        head = out.read_bytes()[:32]
        assert marker in head, (suffix, head)
        assert len(read_video(out).frames) == 4


# -- 10. sizes, permissions ----------------------------------------------------------------------------------

def test_odd_photo_sizes_gain_one_edge_pixel_and_tracks_get_normal_permissions(work, env):
    photo = read_image(work / "face.png")
    odd = cv2.resize(photo, (333, 401), interpolation=cv2.INTER_AREA)
    cv2.imwrite(str(work / "odd.png"), cv2.cvtColor(odd, cv2.COLOR_RGB2BGR))
    out, track = work / "odd.mp4", work / "odd.npz"
    old = os.umask(0o022)
    try:
        code, _, err = run_cli(env, "synth", "--image", work / "odd.png", "--audio", work / "speech.wav", "--out",
                               out, "--save-landmarks", track, "--quiet", *FAST)
    finally:
        os.umask(old)
    assert code == 0, err
    video = read_video(out)
    assert video.frames.shape[1:3] == (402, 334)
    # the extra row and column repeat the edge, not black
    assert np.abs(video.frames[:, -1].astype(int) - video.frames[:, -2]).mean() < 6
    assert np.abs(video.frames[:, :, -1].astype(int) - video.frames[:, :, -2]).mean() < 6
    assert track.stat().st_mode & 0o777 == 0o644 and out.stat().st_mode & 0o777 == 0o644


def test_images_of_every_kind_are_read_as_rgb(tmp_path):
    bgr = cv2.imread(str(EXAMPLES / "face.png"))
    reference = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB).astype(int)
    cv2.imwrite(str(tmp_path / "16bit.png"), bgr.astype(np.uint16) * 257)
    cv2.imwrite(str(tmp_path / "grey.png"), cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))
    alpha = np.dstack([bgr, np.full(bgr.shape[:2], 255, np.uint8)])
    alpha[:100, :100, 3] = 0  # a transparent corner
    cv2.imwrite(str(tmp_path / "alpha.png"), alpha)
    from PIL import Image
    Image.fromarray(reference.astype(np.uint8)).convert("CMYK").save(tmp_path / "cmyk.jpg", quality=95)
    assert np.abs(read_image(tmp_path / "16bit.png") - reference).max() <= 1
    grey = read_image(tmp_path / "grey.png")
    assert grey.shape == reference.shape and (grey[..., 0] == grey[..., 1]).all()
    rgba = read_image(tmp_path / "alpha.png")
    assert (rgba[:100, :100] == 255).all() and np.abs(rgba[200:] - reference[200:]).max() <= 1
    assert np.abs(read_image(tmp_path / "cmyk.jpg") - reference).mean() < 8


# -- 11. the recording's own audio --------------------------------------------------------------------------

@pytest.mark.parametrize("rate,channels,expect_rate,expect_channels", [
    (44100, 2, 44100, 2), (8000, 1, 8000, 1), (192000, 1, 96000, 1), (48000, 6, 48000, 6), (48000, 12, 48000, 2)])
def test_the_video_carries_the_recordings_own_audio(work, env, rate, channels, expect_rate, expect_channels):
    speech = work / "speech_native.wav"
    sf.write(speech, tone(0.6, rate, channels), rate)
    out = work / "o.mp4"
    code, _, err = run_cli(env, "synth", "--image", work / "face.png", "--audio", speech, "--out", out, "--quiet",
                           *FAST)
    assert code == 0, err
    info = probe(out)
    assert (info["audio_rate"], info["audio_channels"]) == (expect_rate, expect_channels)
    assert len(read_video(out).frames) == 15
    no_leftovers(work, env)


# -- paths ---------------------------------------------------------------------------------------------------

def test_unicode_spaces_dashes_and_colons_in_paths(work, env):
    odd = work / "façe phötö 名前"
    odd.mkdir()
    shutil.copy(work / "face.png", odd / "-face.png")
    shutil.copy(work / "speech.wav", odd / "pipe:0.wav")
    code, _, err = run_cli(env, "synth", "--image=-face.png", "--audio", "pipe:0.wav", "--out", "a:b -c.mp4",
                           "--quiet", *FAST, cwd=odd)
    assert code == 0, err
    assert len(read_video(odd / "a:b -c.mp4").frames) == 25
    no_leftovers(odd, env)


# -- 6. --face-index reaches a small face ---------------------------------------------------------------------

def test_face_index_reaches_a_small_face_beside_a_large_one():
    from talkface.errors import NoFaceError
    from talkface.landmarks.detect import detect_landmarks

    face = read_image(EXAMPLES / "face.png")[40:210, 140:310]
    canvas = np.full((480, 640, 3), 200, np.uint8)
    canvas[20:360, 20:360] = cv2.resize(face, (340, 340), interpolation=cv2.INTER_AREA)
    canvas[300:400, 450:550] = cv2.resize(face, (100, 100), interpolation=cv2.INTER_AREA)  # ~50 px: needs upsampling
    small = detect_landmarks(canvas, face_index=1)
    assert small[:, 0].min() > 450 and small[:, 1].min() > 300
    with pytest.raises(NoFaceError, match="2 face"):
        detect_landmarks(canvas, face_index=2)


# -- 12. fast start ------------------------------------------------------------------------------------------

def test_importing_the_pipeline_loads_no_model_code():
    code = ("import sys, talkface.pipeline, talkface.cli; "
            "print(sorted(m for m in ('torch', 'scipy.signal', 'scipy.stats', 'scipy.ndimage', 'audio2lmk', "
            "'lmk2video') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_a_bad_input_is_reported_before_any_model_loads(work, env):
    """A missing input, a bad output and a broken checkpoint are all found without importing torch."""
    code = ("import sys\nfrom talkface.cli import main\n"
            "rc = main(sys.argv[1:])\nprint('torch' in sys.modules, rc)")
    for argv in (["--image", work / "nope.png", "--audio", work / "speech.wav", "--out", work / "o.mp4"],
                 ["--image", work / "face.png", "--audio", work / "speech.wav", "--out", work / "o.avi"],
                 ["--image", work / "face.png", "--audio", work / "speech.wav", "--out", work / "o.mp4",
                  "--lmk2video", work / "missing.safetensors"]):
        proc = subprocess.run([sys.executable, "-c", code, "synth", *map(str, argv)], capture_output=True, text=True,
                              env=env)
        assert proc.stdout.split() == ["False", "1"], proc.stdout + proc.stderr
        one_line(1, proc.stderr)
