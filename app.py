"""The talkface Gradio demo: a photo and a speech recording in, a talking-face video out.

`python app.py` serves it on http://127.0.0.1:7860 (set GRADIO_SERVER_NAME / GRADIO_SERVER_PORT to change).
A thin layer over `talkface.pipeline.Synthesizer`. Built to be left running in public:
- errors are one-line messages naming the upload by its own file name (never a server path);
- uploads are capped (MAX_UPLOAD_MB, MAX_AUDIO_SECONDS, stated on the page);
- requests queue (QUEUE_SIZE places, CONCURRENCY at a time) and each waiting user sees their position;
- nothing accumulates: each request's folder is deleted once the browser has the video (or, for API
  clients and failures, by a sweeper within FOLDER_MAX_AGE_S), and Gradio's own copies of uploads and
  results after MAX_AGE_S.

Each tab is one function (`synth_tab`, `edit_tab`, `dub_tab`); a new tab is one more function added to TABS.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import tempfile
import threading
import time
from pathlib import Path

import gradio as gr

from talkface.edit import Editor, write_image
from talkface.errors import TalkfaceError
from talkface.expression import EXPRESSIONS
from talkface.expression.spec import ExpressionPlan, expression_plan
from talkface.expression.units import ACTION_UNITS, UNIT_NAMES
from talkface.pipeline import UNVOICED_NOTE_SHARE, Synthesizer

EXAMPLES = Path(__file__).resolve().parent / "examples"
OUTPUT_DIR = Path(tempfile.gettempdir()) / "talkface-app"
MAX_UPLOAD_MB = int(os.environ.get("TALKFACE_APP_MAX_UPLOAD_MB", 20))
MAX_AUDIO_SECONDS = float(os.environ.get("TALKFACE_APP_MAX_AUDIO_S", 60))
CONCURRENCY = int(os.environ.get("TALKFACE_APP_CONCURRENCY", 1))  # renders at once (CPU-bound)
QUEUE_SIZE = int(os.environ.get("TALKFACE_APP_QUEUE", 32))  # waiting requests beyond which new ones are turned away
MAX_AGE_S = 3600  # Gradio's cached uploads and results older than this are deleted
FOLDER_MAX_AGE_S = 600  # a request folder outlives its request (Gradio copied the video) by at most this
MIN_MOTION_GAIN, MAX_MOTION_GAIN = 0.5, 2.0
MOTION_LABEL = "mouth motion: x the model's (1), which moves every mouth as far as its one training speaker's"
SINGING_LABEL = "singing: move the mouth to every sound (by default it rests where no one is heard speaking)"
EXPRESSION_LABEL = "expression (its mouth yields to the speech while someone talks)"
UNIT_SLIDERS = tuple((unit, UNIT_NAMES[unit]) for unit in ACTION_UNITS)  # the edit tab's sliders
LIMITS = (f"Photos and recordings up to {MAX_UPLOAD_MB} MB; speech up to {MAX_AUDIO_SECONDS:g} s. "
          f"Requests are served {CONCURRENCY} at a time, in order: your place in the queue is shown.")


# -- shared by every tab ------------------------------------------------------------------------------------

def photo_input(**options) -> gr.Image:
    """gr.Image (type filepath, image kept as uploaded) whose unreadable uploads give a one-line message naming
    the file, not Gradio's generic error. (Wrapped on the instance: a subclass would make Gradio write a .pyi.)"""
    component = gr.Image(type="filepath", image_mode=None, **options)
    preprocess = component.preprocess

    def checked(payload):
        try:
            return preprocess(payload)
        except gr.Error:
            raise
        except Exception:
            raise gr.Error(f"{getattr(payload, 'orig_name', None) or 'the photo'}: not a readable image") from None

    component.preprocess = checked
    return component


# What runs the learned models: "onnx" (ONNX Runtime, no torch) or "torch" (`python app.py --backend torch`).
BACKEND = "onnx"


@functools.lru_cache(maxsize=4)
def _synthesizer(audio2lmk: str, lmk2video: str, size: int | str) -> Synthesizer:
    return Synthesizer(audio2lmk=audio2lmk, lmk2video=lmk2video, size=size, backend=BACKEND)


def upload_name(path: str | os.PathLike) -> str:
    """What the user called an upload: Gradio keeps the original file name inside its cache folder."""
    return Path(path).name


def friendly(message: str, names: dict[str, str]) -> str:
    """`message` with every server path replaced by what the user knows it as (one line)."""
    for path, name in sorted(names.items(), key=lambda item: -len(item[0])):
        message = message.replace(path, name)
    # anything else under the temp folder (Gradio's cache, our request folders): the bare file name
    message = re.sub(re.escape(tempfile.gettempdir()) + r"/\S*/([^/\s:]+)", r"\1", message)
    return " ".join(message.split())


def new_request_folder() -> Path:
    """A private folder for one request's files."""
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(dir=OUTPUT_DIR))


def sweep(max_age_s: float) -> None:
    if not OUTPUT_DIR.is_dir():
        return
    cutoff = time.time() - max_age_s
    for folder in OUTPUT_DIR.iterdir():
        try:
            if folder.stat().st_mtime < cutoff:
                shutil.rmtree(folder, ignore_errors=True)
        except FileNotFoundError:
            pass


def start_sweeper(every_s: float = 60.0) -> None:
    """Delete request folders older than FOLDER_MAX_AGE_S, every `every_s` seconds, for as long as the app runs."""
    def loop() -> None:
        while True:
            sweep(FOLDER_MAX_AGE_S)
            time.sleep(every_s)

    if not any(t.name == "talkface-sweeper" for t in threading.enumerate()):
        threading.Thread(target=loop, name="talkface-sweeper", daemon=True).start()


def release(folder: str | None) -> None:
    """Delete a request's folder once Gradio has its own copy of the result."""
    if folder and Path(folder).parent == OUTPUT_DIR:
        shutil.rmtree(folder, ignore_errors=True)


def check_audio_length(path: str) -> None:
    """The decoded length counts, not the container's claim: a header may lie or state no duration at all."""
    from talkface.audio import SAMPLE_RATE
    from talkface.media import probe, read_audio

    decoded = len(read_audio(path, max_seconds=MAX_AUDIO_SECONDS + 1)) / SAMPLE_RATE
    if decoded > MAX_AUDIO_SECONDS:
        stated = probe(path)["duration"]
        length = f"{stated:.0f} s" if stated and stated > MAX_AUDIO_SECONDS else f"over {MAX_AUDIO_SECONDS:g} s"
        raise gr.Error(f"{upload_name(path)}: {length} of audio; this demo takes up to {MAX_AUDIO_SECONDS:g} s")


def run_request(job, uploads: list[str], out_name: str) -> tuple[str, str]:
    """Run `job(out)` in a new request folder; (result video, its folder) or one friendly gr.Error line (the
    folder removed). Every tab goes through here, so errors and clean-up are the same everywhere."""
    names = {str(path): upload_name(path) for path in uploads}
    folder = new_request_folder()
    out = folder / out_name
    names[str(out)] = "the result video"
    try:
        job(out)
    except TalkfaceError as err:
        release(str(folder))
        raise gr.Error(friendly(str(err), names)) from None
    except gr.Error as err:
        release(str(folder))
        raise gr.Error(friendly(err.message, names)) from None
    except Exception as err:  # a bug: still one line, and no server paths
        release(str(folder))
        raise gr.Error(friendly(f"internal error ({type(err).__name__}: {err})", names)) from None
    return str(out), str(folder)


# -- the "photo + speech" tab ---------------------------------------------------------------------------------

def app_plan(expression: str = "neutral", intensity: float = 1.0, keyframes: str = "",
             units: dict[int, float] | None = None) -> ExpressionPlan | None:
    """The plan for the app's expression controls (keyframes text, when given, instead of the menu); a malformed
    value is one gr.Error line."""
    unit_text = ",".join(f"{u}={v:g}" for u, v in (units or {}).items() if v > 0) or None
    spec = (keyframes or "").strip() or (f"{expression}:{intensity:g}" if expression not in (None, "neutral") and intensity else None)
    try:
        return expression_plan(spec, unit_text)
    except TalkfaceError as err:
        raise gr.Error(str(err).replace("--expression: ", "expression: ")) from None


def generate(image_path: str | None, audio_path: str | None, audio2lmk: str, lmk2video: str, size: str,
             blink: bool, head_motion: bool, seed: float, any_sound: bool = False,
             motion_gain: float = 1.0, expression: str = "neutral", intensity: float = 0.7,
             keyframes: str = "") -> tuple[str, str]:
    """(result video, its request folder): the folder is released once the video is served."""
    if not image_path:
        raise gr.Error("Please upload a face photo.")
    if not audio_path:
        raise gr.Error("Please upload or record a speech clip.")
    plan = app_plan(expression, intensity, keyframes)

    def job(out: Path) -> None:
        check_audio_length(audio_path)
        if not 0 <= int(seed) < 2**32:
            raise gr.Error(f"seed {int(seed)}: must be from 0 to {2**32 - 1}")
        if not MIN_MOTION_GAIN <= motion_gain <= MAX_MOTION_GAIN:
            raise gr.Error(f"mouth motion {motion_gain:g}: must be from {MIN_MOTION_GAIN:g} to {MAX_MOTION_GAIN:g}")
        synth = _synthesizer(audio2lmk, lmk2video, size if size == "auto" else int(size))
        result = synth.synthesize_files(image_path, audio_path, out, seed=int(seed), blink=blink,
                                        head_motion=head_motion, voice_gate=not any_sound, motion_gain=motion_gain,
                                        expression=plan)
        if result.unvoiced is not None and result.unvoiced > UNVOICED_NOTE_SHARE:
            gr.Warning(f"No one is heard speaking in {result.unvoiced:.0%} of the sound (music?), so the mouth rests "
                       "there. For singing, tick \"singing\" under Options.")

    return run_request(job, [image_path, audio_path], "talkface.mp4")


def synth_tab() -> None:
    with gr.Tab("Photo + speech"):
        with gr.Row():
            with gr.Column():
                image = photo_input(label="Face photo", elem_id="photo")
                audio = gr.Audio(label=f"Speech (up to {MAX_AUDIO_SECONDS:g} s)", sources=["upload", "microphone"],
                                 type="filepath", elem_id="speech")
                with gr.Accordion("Options", open=False):
                    audio2lmk = gr.Dropdown(["auto", "phonetic", "learned"], value="auto", label="audio → landmarks")
                    lmk2video = gr.Dropdown(["auto", "warp", "learned"], value="auto", label="landmarks → video")
                    size = gr.Radio(["auto", "128", "256", "512"], value="auto",
                                    label="face crop size (auto: the face's own resolution)")
                    blink = gr.Checkbox(value=True, label="eye blinks")
                    head_motion = gr.Checkbox(value=True, label="head motion")
                    seed = gr.Number(value=0, precision=0, minimum=0, maximum=2**32 - 1, label="seed")
                    any_sound = gr.Checkbox(value=False, label=SINGING_LABEL)
                    motion_gain = gr.Slider(MIN_MOTION_GAIN, MAX_MOTION_GAIN, value=1.0, step=0.1, label=MOTION_LABEL)
                with gr.Accordion("Expression", open=False):
                    expression = gr.Dropdown(list(EXPRESSIONS), value="neutral", label=EXPRESSION_LABEL,
                                             elem_id="synth-expression")
                    intensity = gr.Slider(0.0, 1.0, value=0.7, step=0.05, label="intensity")
                    keyframes = gr.Textbox(value="", label="or keyframes over time (seconds:expression:intensity)",
                                           placeholder="0:neutral 2.5:happy:0.8 5:surprised:0.5", elem_id="keyframes")
                run = gr.Button("Generate", variant="primary", elem_id="generate")
            with gr.Column():
                video = gr.Video(label="Result", elem_id="result")
        gr.Examples([[str(EXAMPLES / "face.png"), str(EXAMPLES / "speech.wav")]], inputs=[image, audio])
        folder = gr.State(None)
        run.click(generate, [image, audio, audio2lmk, lmk2video, size, blink, head_motion, seed, any_sound, motion_gain,
                             expression, intensity, keyframes],
                  [video, folder]) \
            .then(release, folder, None)


# -- the "edit expression" tab --------------------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def _editor() -> Editor:
    return Editor()


@functools.lru_cache(maxsize=2)
def _photo(path: str, mtime: float):
    from talkface.media import read_image

    return read_image(path)


def edit_preview(image_path: str | None, expression: str, intensity: float, *unit_values: float):
    """The photo with the expression and units (an RGB array for the preview); the photo's face is found once."""
    if not image_path:
        return None
    plan = app_plan(expression, intensity, units=dict(zip((u for u, _ in UNIT_SLIDERS), unit_values)))
    names = {str(image_path): upload_name(image_path)}
    try:
        image = _photo(str(image_path), os.path.getmtime(image_path))
        return image if plan is None else _editor().edit(image, plan, name=str(image_path))
    except TalkfaceError as err:
        raise gr.Error(friendly(str(err), names)) from None


def edit_download(image_path: str | None, expression: str, intensity: float, *unit_values: float
                  ) -> tuple[str, str]:
    """(the edited photo as a PNG file, its request folder) for the download button."""
    if not image_path:
        raise gr.Error("Please upload a face photo.")

    def job(out: Path) -> None:
        write_image(out, edit_preview(image_path, expression, intensity, *unit_values))

    return run_request(job, [image_path], "edited.png")


def edit_tab() -> None:
    """A photo + an expression -> the same photo with it (talkface.edit), previewed as the controls move."""
    with gr.Tab("Edit expression"):
        gr.Markdown("Give a photo another expression: choose one and its intensity, or move single facial action "
                    "units. Everything outside the face stays as it is.")
        with gr.Row():
            with gr.Column():
                image = photo_input(label="Face photo", elem_id="edit-photo")
                expression = gr.Dropdown(list(EXPRESSIONS), value="happy", label="expression", elem_id="edit-expression")
                intensity = gr.Slider(0.0, 1.0, value=0.8, step=0.05, label="intensity", elem_id="edit-intensity")
                with gr.Accordion("Action units (0 to 1 each, added to the expression)", open=False):
                    units = [gr.Slider(0.0, 1.0, value=0.0, step=0.05, label=f"AU{u} {what}") for u, what in UNIT_SLIDERS]
                save = gr.Button("Save as PNG", elem_id="edit-save")
            with gr.Column():
                preview = gr.Image(label="Preview", type="numpy", interactive=False, elem_id="edit-preview")
                download = gr.File(label="Edited photo", elem_id="edit-file")
        gr.Examples([[str(EXAMPLES / "face.png")]], inputs=[image])
        controls = [image, expression, intensity, *units]
        for control in controls:
            control.change(edit_preview, controls, preview, trigger_mode="always_last")
        folder = gr.State(None)
        save.click(edit_download, controls, [download, folder]).then(release, folder, None)


# -- the "dub a video" tab ------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=2)
def _dubber(mouth: str):
    from talkface.dub import Dubber

    return Dubber(mouth=mouth, backend=BACKEND)


def dub(video_path: str | None, audio_path: str | None, mouth: str, loop: bool,
        any_sound: bool = False, expression: str = "neutral", intensity: float = 0.7) -> tuple[str, str]:
    """(dubbed video, its request folder): the folder is released once the video is served."""
    if not video_path:
        raise gr.Error("Please upload a video of a face.")
    if not audio_path:
        raise gr.Error("Please upload or record the new speech.")
    plan = app_plan(expression, intensity)

    def job(out: Path) -> None:
        check_audio_length(audio_path)
        _dubber(mouth).dub_files(video_path, audio_path, out, fit="loop" if loop else "trim",
                                 voice_gate=not any_sound, expression=plan)

    return run_request(job, [video_path, audio_path], "dubbed.mp4")


def dub_tab() -> None:
    """A video of a face + new speech -> the video lip-synced to it (talkface.dub)."""
    with gr.Tab("Dub a video"):
        gr.Markdown("Keep a video's frames, head motion and background; re-render mouth and jaw to new speech.")
        with gr.Row():
            with gr.Column():
                video_in = gr.Video(label="Video of a face", sources=["upload"], elem_id="dub-video")
                speech = gr.Audio(label=f"New speech (up to {MAX_AUDIO_SECONDS:g} s)", sources=["upload", "microphone"],
                                  type="filepath", elem_id="dub-speech")
                with gr.Accordion("Options", open=False):
                    mouth = gr.Radio(["auto", "mix", "generate", "fetch"], value="auto", label="mouth interior")
                    loop = gr.Checkbox(value=True, label="speech longer than the video: play the video back and forth")
                    any_sound = gr.Checkbox(value=False, label=SINGING_LABEL)
                    expression = gr.Dropdown(list(EXPRESSIONS), value="neutral",
                                             label="expression of the mouth (neutral: the video's own)")
                    intensity = gr.Slider(0.0, 1.0, value=0.7, step=0.05, label="intensity")
                run = gr.Button("Dub", variant="primary", elem_id="dub")
            with gr.Column():
                result = gr.Video(label="Dubbed", elem_id="dub-result")
        folder = gr.State(None)
        run.click(dub, [video_in, speech, mouth, loop, any_sound, expression, intensity], [result, folder]) \
            .then(release, folder, None)


TABS = [synth_tab, edit_tab, dub_tab]


def build() -> gr.Blocks:
    with gr.Blocks(title="talkface", delete_cache=(600, MAX_AGE_S)) as demo:
        gr.Markdown("# talkface\nOne face photo + one speech recording → a talking-face video. Runs offline.\n\n"
                    + LIMITS)
        with gr.Tabs():
            for tab in TABS:
                tab()
    demo.queue(default_concurrency_limit=CONCURRENCY, max_size=QUEUE_SIZE)
    start_sweeper()
    return demo


if __name__ == "__main__":
    import argparse
    import importlib.util

    from talkface.stages import BACKENDS

    parser = argparse.ArgumentParser(description="talkface web demo")
    parser.add_argument("--backend", choices=BACKENDS, default=BACKEND,
                        help="what runs the learned models: onnx (default, no torch) or torch")
    BACKEND = parser.parse_args().backend
    if BACKEND == "torch" and importlib.util.find_spec("torch") is None:  # found now, not on the first request
        parser.error("--backend torch needs torch, which the light install leaves out: pip install 'talkface[train]'")
    build().launch(max_file_size=f"{MAX_UPLOAD_MB}mb")
