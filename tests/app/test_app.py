"""The Gradio demo, driven in headless Chromium: upload the bundled example, get a playable video back."""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def app_url():
    port = _free_port()
    env = dict(os.environ, GRADIO_SERVER_NAME="127.0.0.1", GRADIO_SERVER_PORT=str(port), GRADIO_ANALYTICS_ENABLED="False")
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 180
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)
            break
        except OSError:
            if proc.poll() is not None:
                pytest.fail(f"app.py exited: {proc.stdout.read().decode(errors='replace')[-2000:]}")
            time.sleep(1)
    else:
        proc.kill()
        pytest.fail("app.py did not start serving within 180 s")
    yield url
    proc.terminate()
    proc.wait(timeout=20)


def test_app_builds_without_a_browser():
    sys.path.insert(0, str(REPO))
    import app
    demo = app.build()
    assert demo is not None


def _run_in_browser(app_url: str, uploads: dict[str, Path], button: str, result: str, tab: str | None = None) -> bytes:
    """Drive the served app in headless Chromium: open `tab`, upload each file into the input with that
    element id, click `button`, and return the bytes of the video shown in `result`."""
    if CHROMIUM is None:
        pytest.skip("no chromium installed (apt-get install chromium) — browser test skipped")
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        page = browser.new_page()
        page.goto(app_url)
        if tab is not None:
            page.get_by_role("tab", name=tab).click()
        for element, path in uploads.items():
            page.locator(f"#{element} input[type=file]").set_input_files(str(path))
        page.wait_for_timeout(1500)
        page.locator(f"#{button}").click()
        video = page.locator(f"#{result} video")
        video.wait_for(state="attached", timeout=300_000)
        src = video.get_attribute("src")
        assert src
        data = page.request.get(src if src.startswith("http") else app_url.rstrip("/") + "/" + src.lstrip("/")).body()
        browser.close()
    return data


@pytest.mark.browser
@pytest.mark.slow
def test_app_turns_the_example_into_a_playable_video(app_url, tmp_path):
    from talkface.media import read_video

    data = _run_in_browser(app_url, {"photo": REPO / "examples" / "face.png",
                                     "speech": REPO / "examples" / "speech.wav"}, "generate", "result")
    out = tmp_path / "result.mp4"
    out.write_bytes(data)
    result = read_video(out)
    assert len(result.frames) >= 150  # the 7.4 s example at 25 fps
    assert result.audio is not None


def test_app_shows_a_one_line_error_for_a_photo_without_a_face(tmp_path):
    import numpy as np
    import cv2
    import gradio as gr
    sys.path.insert(0, str(REPO))
    import app
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((200, 200, 3), 90, np.uint8))
    with pytest.raises(gr.Error) as err:
        app.generate(str(blank), str(REPO / "examples" / "speech.wav"), "phonetic", "warp", "128", True, True, 0)
    assert "no face found" in str(err.value) and "\n" not in str(err.value)


def _gradio_upload(tmp_path, name: str) -> Path:
    """A file where Gradio puts uploads: <temp>/gradio/<hash>/<original name>."""
    folder = tmp_path / "gradio" / "3f2a9c0d"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name


def test_app_errors_name_the_upload_never_a_server_path(tmp_path, monkeypatch):
    import numpy as np
    import soundfile as sf
    import gradio as gr
    sys.path.insert(0, str(REPO))
    import app
    from talkface.media import probe
    monkeypatch.setattr(app, "OUTPUT_DIR", tmp_path / "talkface-app")
    notes = _gradio_upload(tmp_path, "my notes.png")
    notes.write_text("not an image")
    click = _gradio_upload(tmp_path, "one sample.wav")
    sf.write(click, np.full(1, 0.1, np.float32), 16000)
    long = _gradio_upload(tmp_path, "long talk.wav")
    sf.write(long, np.zeros(int(16000 * (app.MAX_AUDIO_SECONDS + 1)), np.float32), 16000)
    face = _gradio_upload(tmp_path, "face.png")
    face.write_bytes((REPO / "examples" / "face.png").read_bytes())
    for image, audio, expected in ((notes, click, "my notes.png: not a readable image"),
                                   (face, long, f"long talk.wav: {app.MAX_AUDIO_SECONDS + 1:.0f} s of audio"),
                                   (face, notes, "my notes.png: no audio track")):
        with pytest.raises(gr.Error) as err:
            app.generate(str(image), str(audio), "phonetic", "warp", "128", True, True, 0)
        message = err.value.message
        assert message.startswith(expected) and "\n" not in message and str(tmp_path) not in message, message
    assert not list((tmp_path / "talkface-app").iterdir())  # failed requests leave no folder
    # the decoded length counts: a container that states no duration is still held to the cap
    import talkface.media
    with monkeypatch.context() as patch, pytest.raises(gr.Error) as err:
        patch.setattr(talkface.media, "probe", lambda path: {**probe(path), "duration": None})
        app.generate(str(face), str(long), "phonetic", "warp", "128", True, True, 0)
    assert err.value.message.startswith(f"long talk.wav: over {app.MAX_AUDIO_SECONDS:g} s of audio")
    # a single sample of audio still makes a video; its folder goes once the result is served
    out, folder = app.generate(str(face), str(click), "phonetic", "warp", "128", True, True, 0)
    assert Path(out).is_file() and Path(out).parent == Path(folder)
    app.release(folder)
    assert not Path(folder).exists()


def test_app_sweeps_stale_request_folders_and_queues(tmp_path, monkeypatch):
    sys.path.insert(0, str(REPO))
    import app
    monkeypatch.setattr(app, "OUTPUT_DIR", tmp_path / "talkface-app")
    stale, fresh = app.new_request_folder(), app.new_request_folder()
    old = time.time() - app.FOLDER_MAX_AGE_S - 5
    os.utime(stale, (old, old))
    app.sweep(app.FOLDER_MAX_AGE_S)
    assert not stale.exists() and fresh.exists()
    demo = app.build()
    assert demo._queue.max_size == app.QUEUE_SIZE and app.QUEUE_SIZE >= 5
    assert app.LIMITS in str(demo.config)  # the caps are stated on the page


def test_app_over_http_names_a_non_image_upload(app_url, tmp_path):
    client_module = pytest.importorskip("gradio_client")
    notes = tmp_path / "holiday notes.png"
    notes.write_text("not an image at all")
    client = client_module.Client(app_url, verbose=False)
    with pytest.raises(Exception) as err:
        client.predict(client_module.handle_file(str(notes)), client_module.handle_file(str(REPO / "examples" / "speech.wav")),
                       "phonetic", "warp", "128", True, True, 0, api_name="/generate")
    assert "holiday notes.png: not a readable image" in str(err.value)
    assert "/tmp" not in str(err.value)
@pytest.mark.browser
@pytest.mark.slow
def test_app_dub_tab_lip_syncs_a_video(app_url, tmp_path):
    import numpy as np
    from talkface.media import read_image, read_video, write_video

    # A 2 s video of the example face drifting slowly sideways (a moving head, not a still image).
    photo = read_image(REPO / "examples" / "face.png")
    frames = [np.roll(photo, t // 5, axis=1) for t in range(50)]
    video_in = write_video(tmp_path / "face.mp4", frames, 25.0)
    data = _run_in_browser(app_url, {"dub-video": video_in, "dub-speech": REPO / "examples" / "speech.wav"},
                           "dub", "dub-result", tab="Dub a video")
    out = tmp_path / "dubbed.mp4"
    out.write_bytes(data)
    result = read_video(out)
    assert len(result.frames) >= 180  # the 7.4 s speech: the 2 s video played on back and forth
    assert result.frames.shape[1:3] == photo.shape[:2]
    assert result.audio is not None


def test_app_dub_reports_a_video_without_a_face_in_one_line(tmp_path):
    import numpy as np
    import gradio as gr
    from talkface.media import write_video
    sys.path.insert(0, str(REPO))
    import app
    wall = write_video(tmp_path / "wall.mp4", [np.full((96, 128, 3), 90, np.uint8)] * 10, 25.0)
    with pytest.raises(gr.Error) as err:
        app.dub(str(wall), str(REPO / "examples" / "speech.wav"), "generate", True)
    assert "no face found" in str(err.value) and "\n" not in str(err.value)


def test_app_warns_when_no_one_is_heard_and_singing_lifts_it(tmp_path, monkeypatch):
    import gradio as gr
    import numpy as np
    import soundfile as sf

    import app
    from scripts.audio2lmk_chatter import SOUNDS, at_level

    monkeypatch.setattr(app, "OUTPUT_DIR", tmp_path / "talkface-app")
    warnings = []
    monkeypatch.setattr(gr, "Warning", warnings.append)
    song = tmp_path / "song.wav"
    sf.write(song, at_level(SOUNDS["pop loop"](np.random.default_rng(0))[:2 * 16000]), 16000)
    face = str(REPO / "examples" / "face.png")
    app.generate(face, str(song), "phonetic", "warp", "128", False, False, 0)
    assert len(warnings) == 1 and "singing" in warnings[0] and "100%" in warnings[0], warnings
    app.generate(face, str(song), "phonetic", "warp", "128", False, False, 0, True)
    app.generate(face, str(REPO / "examples" / "speech.wav"), "phonetic", "warp", "128", False, False, 0)
    assert len(warnings) == 1, warnings


def test_app_mouth_motion_reaches_the_synthesizer_and_is_bounded(tmp_path, monkeypatch):
    import gradio as gr

    import app
    from talkface.pipeline import Synthesizer

    monkeypatch.setattr(app, "OUTPUT_DIR", tmp_path / "talkface-app")
    asked = []
    real = Synthesizer.synthesize_files

    def spy(self, *args, **options):
        asked.append(options["motion_gain"])
        return real(self, *args, **options)

    monkeypatch.setattr(Synthesizer, "synthesize_files", spy)
    face, speech = str(REPO / "examples" / "face.png"), str(REPO / "examples" / "speech.wav")
    app.generate(face, speech, "phonetic", "warp", "128", False, False, 0)
    app.generate(face, speech, "phonetic", "warp", "128", False, False, 0, False, 1.5)
    assert asked == [1.0, 1.5]
    with pytest.raises(gr.Error, match="mouth motion 3"):
        app.generate(face, speech, "phonetic", "warp", "128", False, False, 0, False, 3.0)
    assert asked == [1.0, 1.5]


@pytest.mark.browser
@pytest.mark.slow
def test_app_edit_tab_previews_the_expression_and_saves_a_png(app_url, tmp_path):
    """Upload a photo in the "Edit expression" tab: the preview shows it edited (happy by default) within seconds,
    and the save button gives a PNG of the photo's size."""
    if CHROMIUM is None:
        pytest.skip("no chromium installed (apt-get install chromium) — browser test skipped")
    playwright = pytest.importorskip("playwright.sync_api")
    import cv2
    import numpy as np

    photo = cv2.imread(str(REPO / "examples" / "face.png"))
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page()
        page.goto(app_url)
        page.get_by_role("tab", name="Edit expression").click()
        page.locator("#edit-photo input[type=file]").set_input_files(str(REPO / "examples" / "face.png"))
        page.locator("#edit-preview img").wait_for(state="attached", timeout=120_000)
        page.locator("#edit-save").click()
        link = page.locator("#edit-file a").first
        link.wait_for(state="attached", timeout=120_000)
        href = link.get_attribute("href")
        data = page.request.get(href if href.startswith("http") else app_url.rstrip("/") + "/" + href.lstrip("/")).body()
        browser.close()
    edited = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert edited.shape == photo.shape
    assert np.abs(edited.astype(int) - photo).max() > 20  # the face changed
    assert np.array_equal(edited[:20], photo[:20])  # the top of the photo did not


def test_app_edit_preview_and_its_errors(tmp_path):
    """The edit tab's functions without a browser: intensity 0 gives the photo back, an expression changes only the
    face, a photo without a face is one line naming the upload."""
    import cv2
    import gradio as gr
    import numpy as np
    sys.path.insert(0, str(REPO))
    import app

    face = str(REPO / "examples" / "face.png")
    units = [0.0] * len(app.UNIT_SLIDERS)
    photo = cv2.cvtColor(cv2.imread(face), cv2.COLOR_BGR2RGB)
    assert np.array_equal(app.edit_preview(face, "happy", 0.0, *units), photo)
    smiling = app.edit_preview(face, "happy", 1.0, *units)
    assert smiling.shape == photo.shape and np.abs(smiling.astype(int) - photo).max() > 20
    brows = list(units)
    brows[[u for u, _ in app.UNIT_SLIDERS].index(4)] = 1.0
    assert not np.array_equal(app.edit_preview(face, "neutral", 0.0, *brows), photo)
    blank = _gradio_upload(tmp_path, "wall.png")
    cv2.imwrite(str(blank), np.full((200, 200, 3), 90, np.uint8))
    with pytest.raises(gr.Error) as err:
        app.edit_preview(str(blank), "happy", 1.0, *units)
    assert "wall.png" in str(err.value) and str(tmp_path) not in str(err.value) and "\n" not in str(err.value)


def test_app_expression_controls_make_the_plan():
    """The synth and dub tabs' expression controls as Gradio hands them over (an empty textbox is None)."""
    import gradio as gr
    sys.path.insert(0, str(REPO))
    import app

    assert app.app_plan("neutral", 0.7, None) is None
    assert app.app_plan("happy", 0.5, None).description == "happy:0.5"
    assert len(app.app_plan("happy", 0.5, "0:neutral 2:happy:0.8").keyframes) == 2  # keyframes win over the menu
    with pytest.raises(gr.Error) as err:
        app.app_plan("neutral", 0.7, "0:happy 1:grumpy")
    assert "unknown expression 'grumpy'" in str(err.value) and "\n" not in str(err.value)
