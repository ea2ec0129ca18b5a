"""The talkface Gradio demo: a photo and a speech recording in, a talking-face video out.

`python app.py` serves it on http://127.0.0.1:7860 (set GRADIO_SERVER_NAME / GRADIO_SERVER_PORT to change).
A thin layer over `talkface.pipeline.Synthesizer`; errors are shown as one-line messages.
"""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

import gradio as gr

from talkface.errors import TalkfaceError
from talkface.pipeline import Synthesizer

EXAMPLES = Path(__file__).resolve().parent / "examples"
OUTPUT_DIR = Path(tempfile.gettempdir()) / "talkface-app"


@functools.lru_cache(maxsize=4)
def _synthesizer(audio2lmk: str, lmk2video: str, size: int) -> Synthesizer:
    return Synthesizer(audio2lmk=audio2lmk, lmk2video=lmk2video, size=size)


def generate(image_path: str | None, audio_path: str | None, audio2lmk: str, lmk2video: str, size: str,
             blink: bool, head_motion: bool, seed: float) -> str:
    if not image_path:
        raise gr.Error("Please upload a face photo.")
    if not audio_path:
        raise gr.Error("Please upload or record a speech clip.")
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    out = Path(tempfile.mkdtemp(dir=OUTPUT_DIR)) / "talkface.mp4"
    try:
        synth = _synthesizer(audio2lmk, lmk2video, int(size))
        synth.synthesize_files(image_path, audio_path, out, seed=int(seed), blink=blink, head_motion=head_motion)
    except TalkfaceError as err:
        raise gr.Error(str(err)) from None
    return str(out)


@functools.lru_cache(maxsize=2)
def _dubber(mouth: str):
    from talkface.dub import Dubber

    return Dubber(mouth=mouth)


def dub(video_path: str | None, audio_path: str | None, mouth: str, loop: bool) -> str:
    if not video_path:
        raise gr.Error("Please upload a video of a face.")
    if not audio_path:
        raise gr.Error("Please upload or record the new speech.")
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    out = Path(tempfile.mkdtemp(dir=OUTPUT_DIR)) / "dubbed.mp4"
    try:
        _dubber(mouth).dub_files(video_path, audio_path, out, fit="loop" if loop else "trim")
    except TalkfaceError as err:
        raise gr.Error(str(err)) from None
    return str(out)


def dub_tab() -> None:
    """The "Dub a video" tab: a video of a face + new speech -> the video lip-synced to it (talkface.dub)."""
    with gr.Tabs(), gr.Tab("Dub a video"):
        gr.Markdown("Keep a video's frames, head motion and background; re-render mouth and jaw to new speech.")
        with gr.Row():
            with gr.Column():
                video_in = gr.Video(label="Video of a face", sources=["upload"], elem_id="dub-video")
                speech = gr.Audio(label="New speech", sources=["upload", "microphone"], type="filepath",
                                  elem_id="dub-speech")
                with gr.Accordion("Options", open=False):
                    mouth = gr.Radio(["generate", "fetch"], value="generate", label="mouth interior")
                    loop = gr.Checkbox(value=True, label="speech longer than the video: play the video back and forth")
                run = gr.Button("Dub", variant="primary", elem_id="dub")
            with gr.Column():
                result = gr.Video(label="Dubbed", elem_id="dub-result")
        run.click(dub, [video_in, speech, mouth, loop], result)


def build() -> gr.Blocks:
    with gr.Blocks(title="talkface") as demo:
        gr.Markdown("# talkface\nOne face photo + one speech recording → a talking-face video. Runs offline.")
        with gr.Row():
            with gr.Column():
                image = gr.Image(label="Face photo", type="filepath", elem_id="photo")
                audio = gr.Audio(label="Speech", sources=["upload", "microphone"], type="filepath", elem_id="speech")
                with gr.Accordion("Options", open=False):
                    audio2lmk = gr.Dropdown(["auto", "phonetic", "learned"], value="auto", label="audio → landmarks")
                    lmk2video = gr.Dropdown(["auto", "warp", "learned"], value="auto", label="landmarks → video")
                    size = gr.Radio(["128", "256"], value="128", label="face crop size")
                    blink = gr.Checkbox(value=True, label="eye blinks")
                    head_motion = gr.Checkbox(value=True, label="head motion")
                    seed = gr.Number(value=0, precision=0, label="seed")
                run = gr.Button("Generate", variant="primary", elem_id="generate")
            with gr.Column():
                video = gr.Video(label="Result", elem_id="result")
        gr.Examples([[str(EXAMPLES / "face.png"), str(EXAMPLES / "speech.wav")]], inputs=[image, audio])
        run.click(generate, [image, audio, audio2lmk, lmk2video, size, blink, head_motion, seed], video)
        dub_tab()
    return demo


if __name__ == "__main__":
    build().queue().launch()
