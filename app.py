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
def _synthesizer(audio2lmk: str, lmk2video: str, size: int | str) -> Synthesizer:
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
        synth = _synthesizer(audio2lmk, lmk2video, size if size == "auto" else int(size))
        synth.synthesize_files(image_path, audio_path, out, seed=int(seed), blink=blink, head_motion=head_motion)
    except TalkfaceError as err:
        raise gr.Error(str(err)) from None
    return str(out)


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
                    size = gr.Radio(["auto", "128", "256", "512"], value="auto",
                                    label="face crop size (auto: the face's own resolution)")
                    blink = gr.Checkbox(value=True, label="eye blinks")
                    head_motion = gr.Checkbox(value=True, label="head motion")
                    seed = gr.Number(value=0, precision=0, label="seed")
                run = gr.Button("Generate", variant="primary", elem_id="generate")
            with gr.Column():
                video = gr.Video(label="Result", elem_id="result")
        gr.Examples([[str(EXAMPLES / "face.png"), str(EXAMPLES / "speech.wav")]], inputs=[image, audio])
        run.click(generate, [image, audio, audio2lmk, lmk2video, size, blink, head_motion, seed], video)
    return demo


if __name__ == "__main__":
    build().queue().launch()
