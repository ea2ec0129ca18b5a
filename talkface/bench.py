"""`talkface bench`: wall time of each pipeline stage on the bundled example (or given inputs), and of whole
`talkface synth` processes as a user starts them.

Each stage is timed on its own over several repeats and the median is reported, so one slow run
(a cold cache, another process) does not decide the figure. Load time is the first, cold run. The cold runs
time separate processes (imports, model loading, encoding and all) on the first seconds of the speech.
"""

from __future__ import annotations

import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from talkface.audio import FPS, SAMPLE_RATE
from talkface.face_crop import crop_face, crop_transform
from talkface.media import read_audio, read_image, write_audio, write_video
from talkface.pipeline import Synthesizer

EXAMPLES = Path(__file__).resolve().parent / "examples"  # package data: an installed wheel has them too


def _median_time(fn, repeats: int):
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def generator_fps(synth: Synthesizer, photo, track, sizes, repeats: int) -> dict[str, float]:
    """lmk2video frames/s alone (no paste, no encoding) with the face cropped at each size."""
    out = {}
    for size in sizes:
        transform = crop_transform(track[0], size)
        crop, targets = crop_face(photo, transform), transform.to_crop(track).astype("float32")
        source_lmk = transform.to_crop(track[0])
        seconds, _ = _median_time(lambda: synth.lmk2video.stream(crop, source_lmk)(targets), repeats)
        out[str(size)] = round(len(track) / seconds, 1)
    return out


def cold_synth(image_path: Path, wave, seconds: float, runs: int) -> dict:
    """Whole `talkface synth` processes on the first `seconds` of the speech (median wall time of `runs`, the peak
    memory of any of them) and the time a missing input takes to be reported."""
    with tempfile.TemporaryDirectory() as tmp:
        speech, out = Path(tmp) / "speech.wav", Path(tmp) / "out.mp4"
        write_audio(speech, wave[:int(seconds * SAMPLE_RATE)], SAMPLE_RATE)
        script = Path(sys.executable).with_name("talkface")  # what a user runs; the module form if not installed
        command = [str(script)] if script.is_file() else [sys.executable, "-m", "talkface.cli"]
        synth = [*command, "synth", "--audio", str(speech), "--out", str(out), "--quiet"]
        walls = []
        for _ in range(runs):
            start = time.perf_counter()
            subprocess.run(synth + ["--image", str(image_path)], check=True, capture_output=True)
            walls.append(time.perf_counter() - start)
        start = time.perf_counter()
        missing = subprocess.run(synth + ["--image", str(Path(tmp) / "missing.png")], capture_output=True)
        missing_s = time.perf_counter() - start
    if missing.returncode == 0:
        raise RuntimeError("bench: talkface synth accepted a missing photo")
    return {"audio_seconds": seconds, "runs": runs, "synth_wall_s": round(statistics.median(walls), 3),
            "synth_wall_all_s": [round(w, 3) for w in walls],
            # ru_maxrss of waited-for children: the largest of them (kB on Linux)
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
            "missing_input_wall_s": round(missing_s, 3)}


def run_bench(image: str | None = None, audio: str | None = None, size: int | str = "auto", device: str = "cpu",
              repeats: int = 3, audio2lmk: str = "auto", lmk2video: str = "auto",
              generator_sizes: tuple[int, ...] = (), cold_runs: int = 0, cold_seconds: float = 3.0) -> dict:
    image_path = Path(image or EXAMPLES / "face.png")
    audio_path = Path(audio or EXAMPLES / "speech.wav")
    # First, while this process has loaded nothing that competes with them.
    cold = cold_synth(image_path, read_audio(audio_path, SAMPLE_RATE), cold_seconds, cold_runs) if cold_runs else None
    stages = {}
    start = time.perf_counter()
    synth = Synthesizer(audio2lmk=audio2lmk, lmk2video=lmk2video, size=size, device=device)
    synth.load()  # models otherwise load on first use, inside the stage timings
    photo = read_image(image_path)
    wave = read_audio(audio_path, SAMPLE_RATE)
    stages["load"] = time.perf_counter() - start
    stages["landmarks"], source = _median_time(lambda: synth.source_face(photo), repeats)
    stages["audio2lmk"], track = _median_time(
        lambda: synth.landmarks_from_audio(wave, SAMPLE_RATE, source), repeats)
    stages["lmk2video"], frames = _median_time(lambda: list(synth.render(source, track)), repeats)
    with tempfile.TemporaryDirectory() as tmp:
        stages["encode"], _ = _median_time(
            lambda: write_video(Path(tmp) / "bench.mp4", frames, FPS, audio=wave, sample_rate=SAMPLE_RATE), repeats)
    duration = len(wave) / SAMPLE_RATE
    total = sum(stages.values())
    sized = generator_fps(synth, photo, track, generator_sizes, repeats) if generator_sizes else None
    return {
        "inputs": {"image": str(image_path), "image_size": list(photo.shape[:2]), "audio": str(audio_path),
                   "audio_seconds": round(duration, 3), "frames": len(track)},
        "models": {"audio2lmk": synth.audio2lmk_name, "lmk2video": synth.lmk2video_name, "size": size,
                   "crop": source.transform.size},
        "stages_s": {k: round(v, 4) for k, v in stages.items()},
        "total_s": round(total, 4),
        "seconds_per_audio_second": round(total / duration, 4),
        "lmk2video_fps": round(len(track) / stages["lmk2video"], 1),
        **({"generator_fps": sized} if sized else {}),
        **({"cold_synth": cold} if cold else {}),
        "hardware": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                     "torch_threads": torch.get_num_threads(), "device": device,
                     "gpu": torch.cuda.get_device_name() if device.startswith("cuda") else None},
        "repeats": repeats,
    }
