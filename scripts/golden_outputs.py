"""Golden outputs: every shipped model and training-free stage run on fixed inputs, summarised in a small .npz.

    python scripts/golden_outputs.py --write          # record tests/data/golden_outputs.npz (before a refactor)
    python scripts/golden_outputs.py                  # recompute and compare: exit 1 if anything changed

The inputs are fixed and made here: the bundled photo (talkface/examples/face.png) and the first 1.6 s of
the bundled speech (talkface/examples/speech.wav); each stage gets the recorded output of the stage before it, so a change shows in
the stage that made it. The lipreader reads seeded random mouth crops. Small outputs (landmark tracks,
log-posteriors) are stored whole; video frames as SHA-256 checksums of the full arrays, per-frame
means and a few downsampled frames (the file stays well under 1 MB).

Compare modes: `exact` (this script's default) requires every checksum and array to be bit-identical:
the proof that a refactor kept the outputs, on the machine that recorded them. tests/app/test_golden_outputs.py
uses `close`: tight tolerances, because another CPU (other SIMD kernels) or torch build may round the
last bits differently without any change in the code.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import cv2
import numpy as np
from talkface.speech import Speech

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "data" / "golden_outputs.npz"
SECONDS = 1.6
KEEP_FRAMES = (0, 13, 26, 39)   # frames stored downsampled (of 40)
THUMB = 48                      # their side in pixels


def _examples() -> tuple[Path, Path]:
    from talkface.bench import EXAMPLES

    return EXAMPLES / "face.png", EXAMPLES / "speech.wav"


def _sha(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    digest = hashlib.sha256(str((a.shape, a.dtype.str)).encode() + a.tobytes()).hexdigest()
    return np.array(digest)


def _frames(name: str, frames: np.ndarray) -> dict[str, np.ndarray]:
    """Checksum, per-frame mean and a few downsampled frames of a (T, H, W, C) array."""
    frames = np.asarray(frames)
    keep = [i for i in KEEP_FRAMES if i < len(frames)]
    thumbs = np.stack([cv2.resize(frames[i].astype(np.float32), (THUMB, THUMB), interpolation=cv2.INTER_AREA)
                       for i in keep])
    return {f"{name}.sha256": _sha(frames), f"{name}.mean": frames.reshape(len(frames), -1).mean(1, dtype=np.float64),
            f"{name}.thumbs": thumbs.astype(np.float32), f"{name}.shape": np.array(frames.shape)}


def _array(name: str, a: np.ndarray) -> dict[str, np.ndarray]:
    return {f"{name}.sha256": _sha(a), f"{name}": np.asarray(a)}


def compute(reference: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """All summaries. With `reference`, each stage is fed the reference's output of the stage before it."""
    import torch

    import audio2lmk
    import lmk2video
    from talkface.audio import FPS, SAMPLE_RATE
    from talkface.lipreading.wer import LipReader
    from talkface.media import read_audio, read_image
    from talkface.pipeline import Synthesizer

    torch.set_num_threads(1)
    ref = reference or {}
    image_path, audio_path = _examples()
    photo = read_image(image_path)
    wave = read_audio(audio_path, SAMPLE_RATE)[: int(SECONDS * SAMPLE_RATE)]
    out: dict[str, np.ndarray] = {}

    # Photo -> landmarks and crop (training-free: dlib detector + alignment).
    synth = Synthesizer(audio2lmk="auto", lmk2video="auto")
    source = synth.source_face(photo)
    out.update(_array("photo_landmarks", source.landmarks))
    out.update(_frames("source_crop", source.crop[None]))
    landmarks = ref.get("photo_landmarks", source.landmarks)

    # audio2lmk: the training-free phonetic model and the shipped learned one (`auto`).
    phonetic = audio2lmk.PhoneticAudio2Lmk()(Speech.of(wave, SAMPLE_RATE), landmarks, fps=FPS, seed=0)
    out.update(_array("audio2lmk_phonetic", phonetic))
    if audio2lmk.SHIPPED_CHECKPOINT.is_file():
        # the product's backend (tests/audio2lmk/test_onnx_export.py holds torch's to the same track)
        learned = audio2lmk.load_checkpoint(backend="onnx")(Speech.of(wave, SAMPLE_RATE), landmarks, fps=FPS, seed=0)
        out.update(_array("audio2lmk_learned", learned))
    track = ref.get("audio2lmk_learned", out.get("audio2lmk_learned", phonetic))

    # lmk2video on the photo's crop along the fixed track: the warp, the mesh motion, the learned generator
    # (mouth-only correction as shipped, and the net's own frames).
    crop, crop_lmk = source.crop, source.crop_landmarks
    if "source_crop.sha256" in ref and str(ref["source_crop.sha256"]) != str(out["source_crop.sha256"]):
        raise SystemExit("the source crop changed: fix that first (the lmk2video outputs depend on it)")
    targets = source.transform.to_crop(track).astype(np.float32)
    warp_frames = lmk2video.WarpGenerator().stream(crop, crop_lmk)(targets)
    out.update(_frames("lmk2video_warp", warp_frames))
    coords, plain = lmk2video.WarpGenerator().motion(crop, crop_lmk, targets)
    out.update(_frames("mesh_motion_coords", coords))
    out.update(_frames("mesh_motion_plain", plain))
    if lmk2video.SHIPPED_CHECKPOINT.is_file():
        out.update(_frames("lmk2video_learned", lmk2video.load_checkpoint().stream(crop, crop_lmk)(targets)))
        net = lmk2video.load_checkpoint(mouth_only=False)
        net_frames = net.stream(crop, crop_lmk)(targets)
        out.update(_frames("lmk2video_learned_net", net_frames))
        # The bundled face shows teeth, so the shipped render adds no correction to it: the correction field is
        # recorded on its own, on the net's change from the warp, as for a photo without visible teeth.
        from lmk2video.learned import correction_field

        change = net_frames.astype(np.float32) - warp_frames.astype(np.float32)
        for name, shading in (("correction_field", False), ("correction_field_shading", True)):
            out.update(_frames(name, correction_field(change, targets, keep_teeth=False, shading=shading)))

    # The whole render (shipped generator, pasted into the photo at full resolution).
    out.update(_frames("render", np.stack(list(synth.render(source, track)))))

    # The lipreader on seeded random mouth crops.
    from talkface.lipreading.wer import DEFAULT_CHECKPOINT

    if DEFAULT_CHECKPOINT.is_file():
        reader = LipReader.load()
        mouths = np.random.default_rng(0).standard_normal((40, *reader.mouth_size)).astype(np.float32)
        out.update(_array("lipreader_log_probs", reader.log_probs(mouths)))
    return out


# Tolerances of the `close` mode (see the module docstring): far below anything visible or measurable.
LANDMARK_ATOL = 1e-3      # pixels
LOG_PROB_ATOL = 1e-3
FRAME_MEAN_ATOL = 0.05    # grey levels, per frame
THUMB_ATOL = 1.0          # grey levels, per downsampled pixel


def compare(reference: dict[str, np.ndarray], current: dict[str, np.ndarray], exact: bool) -> list[str]:
    """Differences, one line each (empty: the same outputs)."""
    problems = []
    for key in sorted(set(reference) | set(current)):
        if key not in current or key not in reference:
            problems.append(f"{key}: {'missing now' if key not in current else 'new (not recorded)'}")
            continue
        ref, cur = reference[key], current[key]
        if key.endswith(".sha256"):
            if exact and str(ref) != str(cur):
                problems.append(f"{key}: checksum differs")
            continue
        if key.endswith(".shape") or exact:
            if ref.shape != cur.shape or not np.array_equal(ref, cur):
                problems.append(f"{key}: differs (shape {ref.shape} vs {cur.shape})")
            continue
        if ref.shape != cur.shape:
            problems.append(f"{key}: shape {ref.shape} vs {cur.shape}")
            continue
        atol = (FRAME_MEAN_ATOL if key.endswith(".mean") else THUMB_ATOL if key.endswith(".thumbs")
                else LOG_PROB_ATOL if key.startswith("lipreader") else LANDMARK_ATOL)
        error = float(np.abs(ref.astype(np.float64) - cur.astype(np.float64)).max()) if ref.size else 0.0
        if error > atol:
            problems.append(f"{key}: max difference {error:.4g} > {atol}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--write", action="store_true", help=f"record {GOLDEN.relative_to(ROOT)}")
    parser.add_argument("--close", action="store_true", help="compare with the test's tolerances, not exactly")
    args = parser.parse_args(argv)
    if args.write:
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(GOLDEN, **compute())
        print(f"{GOLDEN}: {GOLDEN.stat().st_size / 1e3:.0f} kB")
        return 0
    with np.load(GOLDEN) as data:
        reference = dict(data)
    problems = compare(reference, compute(reference), exact=not args.close)
    for line in problems:
        print(line)
    print(f"{'exactly ' if not args.close else ''}{'the same outputs' if not problems else f'{len(problems)} differences'}"
          f" as {GOLDEN.relative_to(ROOT)}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
