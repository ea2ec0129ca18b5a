"""The README's picture, made from the bundled example so it stays true: the photo, then a strip of the talking
face `talkface synth` makes of it (shipped models, default options), at the moments its mouth is most open.

    python scripts/readme_figure.py            # writes docs/demo_strip.png
"""
from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from talkface.audio import SAMPLE_RATE
from talkface.media import read_audio, read_image
from talkface.pipeline import Synthesizer

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "talkface" / "examples"
HEIGHT = 200  # px of each panel in the strip
GAP = 6


def open_moments(track: np.ndarray, count: int) -> list[int]:
    """`count` frames, one per equal stretch of the video, each its stretch's widest inner-lip opening."""
    opening = np.linalg.norm(track[:, 66] - track[:, 62], axis=1)
    bounds = np.linspace(0, len(track), count + 1).astype(int)
    return [int(a + np.argmax(opening[a:b])) for a, b in zip(bounds[:-1], bounds[1:])]


def face_box(landmarks: np.ndarray, shape: tuple[int, int]) -> tuple[int, int, int, int]:
    """A square around the face with a margin (x0, y0, x1, y1), inside the image."""
    centre = landmarks.mean(axis=0)
    half = 0.85 * np.ptp(landmarks, axis=0).max()
    x0, y0 = np.maximum(0, (centre - half).astype(int))
    x1, y1 = np.minimum(shape[1::-1], (centre + half).astype(int))
    return x0, y0, x1, y1


def panel(image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    x0, y0, x1, y1 = box
    crop = image[y0:y1, x0:x1]
    return cv2.resize(crop, (round(crop.shape[1] * HEIGHT / crop.shape[0]), HEIGHT), interpolation=cv2.INTER_AREA)


def arrow(width: int = 40) -> np.ndarray:
    canvas = np.full((HEIGHT, width, 3), 255, np.uint8)
    cv2.arrowedLine(canvas, (6, HEIGHT // 2), (width - 6, HEIGHT // 2), (60, 60, 60), 3, tipLength=0.35)
    return canvas


def strip(panels: list[np.ndarray]) -> np.ndarray:
    gap = np.full((HEIGHT, GAP, 3), 255, np.uint8)
    parts = [p for pair in zip(panels, [gap] * len(panels)) for p in pair][:-1]
    return np.concatenate(parts, axis=1)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "demo_strip.png")
    parser.add_argument("--frames", type=int, default=5)
    args = parser.parse_args(argv)
    image = read_image(EXAMPLES / "face.png")
    wave = read_audio(EXAMPLES / "speech.wav", SAMPLE_RATE)
    synth = Synthesizer()
    source = synth.source_face(image)
    track = synth.landmarks_from_audio(wave, SAMPLE_RATE, source, blink=False)
    wanted = open_moments(track, args.frames)
    frames = [frame for i, frame in enumerate(synth.render(source, track)) if i in wanted]
    box = face_box(source.landmarks, image.shape[:2])
    picture = strip([panel(image, box), arrow()] + [panel(f, box) for f in frames])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), cv2.cvtColor(picture, cv2.COLOR_RGB2BGR))  # talkface images are RGB
    print(f"{args.out}: the photo and frames {wanted} of {len(track)}")


if __name__ == "__main__":
    main()
