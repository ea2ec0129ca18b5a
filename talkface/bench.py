"""`talkface bench`: wall time of each pipeline stage on the bundled example (or given inputs), and of whole
`talkface synth` and `talkface dub` processes as a user starts them.

Each stage is timed on its own over several repeats and the median is reported, so one slow run
(a cold cache, another process) does not decide the figure. Load time is the first, cold run. The cold runs
time separate processes (imports, model loading, encoding and all) on the first seconds of the speech.
"""

from __future__ import annotations

import filecmp
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from importlib.util import find_spec
from pathlib import Path

import numpy as np
from imageio_ffmpeg import get_ffmpeg_exe

from talkface.audio import FPS, SAMPLE_RATE
from talkface.face_crop import crop_face, crop_transform
from talkface.media import read_audio, read_image, write_audio, write_video
from talkface.pipeline import Synthesizer
from talkface.video_stream import iter_frames, probe_video

EXAMPLES = Path(__file__).resolve().parent / "examples"  # package data: an installed wheel has them too


def _torch_hardware(device: str) -> dict:
    """torch's thread count and GPU, when the run loaded torch (the torch backend); nothing on the ONNX backend."""
    torch = sys.modules.get("torch")
    if torch is None:
        return {}
    return {"torch_threads": torch.get_num_threads(),
            "gpu": torch.cuda.get_device_name() if device.startswith("cuda") else None}


def environment() -> dict:
    """The installed environment this bench ran in: its size on disk and whether torch is in it (the light install,
    `pip install talkface`, has none)."""
    prefix = Path(sys.prefix)
    size = sum(f.stat().st_size for f in prefix.rglob("*") if f.is_file() and not f.is_symlink())
    return {"prefix": str(prefix), "size_mb": round(size / 1e6, 1), "torch_installed": find_spec("torch") is not None}


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


def _cli() -> list[str]:
    """The command a user runs: the installed script, or the module form if not installed."""
    script = Path(sys.executable).with_name("talkface")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "talkface.cli"]


def _run_timed(command: list[str], should_fail: bool = False) -> tuple[float, float]:
    """(wall seconds, peak RSS in MB) of one child process; RuntimeError when it fails (or, should_fail, when it
    does not)."""
    start = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    error = child.stderr.read().decode(errors="replace").strip()  # until it exits (a pipe never fills up)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    child.stderr.close()
    if (os.waitstatus_to_exitcode(status) == 0) == should_fail:
        raise RuntimeError(f"bench: `{' '.join(command)}` " + ("succeeded" if should_fail else f"failed: {error[-500:]}"))
    return wall, usage.ru_maxrss / 1024  # ru_maxrss: kB on Linux


def cold_synth(image_path: Path, wave, seconds: float, runs: int, backend: str = "onnx") -> dict:
    """Whole `talkface synth` processes on the first `seconds` of the speech (median wall time of `runs`, the peak
    memory of any of them) and the time a missing input takes to be reported."""
    with tempfile.TemporaryDirectory() as tmp:
        speech, out = Path(tmp) / "speech.wav", Path(tmp) / "out.mp4"
        write_audio(speech, wave[:int(seconds * SAMPLE_RATE)], SAMPLE_RATE)
        synth = [*_cli(), "synth", "--audio", str(speech), "--out", str(out), "--quiet", "--backend", backend]
        timed = [_run_timed(synth + ["--image", str(image_path)]) for _ in range(runs)]
        missing_s, _ = _run_timed(synth + ["--image", str(Path(tmp) / "missing.png")], should_fail=True)
    walls = [wall for wall, _ in timed]
    return {"audio_seconds": seconds, "runs": runs, "synth_wall_s": round(statistics.median(walls), 3),
            "synth_wall_all_s": [round(w, 3) for w in walls],
            "peak_rss_mb": round(max(peak for _, peak in timed), 1),
            "missing_input_wall_s": round(missing_s, 3)}


def batch_vs_separate(image_path: Path, wave, seconds: float, jobs: int, worker_counts=(1, 2)) -> dict:
    """`jobs` synth jobs on the first `seconds` of the speech (seeds 0, 1, ...): one whole `talkface batch` process at
    each worker count against as many separate `talkface synth` processes run one after the other (imports, model
    loading and encoding included in both); whether every batch output has the bytes of its separate run."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        speech, manifest = tmp / "speech.wav", tmp / "jobs.csv"
        write_audio(speech, wave[:int(seconds * SAMPLE_RATE)], SAMPLE_RATE)
        names = [f"job{i:03d}.mp4" for i in range(jobs)]
        manifest.write_text("command,image,audio,out,seed\n"
                            + "".join(f"synth,{image_path.resolve()},{speech},{name},{i}\n" for i, name in enumerate(names)))
        runs, load = {}, os.getloadavg()
        (tmp / "separate").mkdir()
        cpu = _children_cpu()
        walls = [_run_timed([*_cli(), "synth", "--image", str(image_path), "--audio", str(speech), "--seed", str(i),
                             "--out", str(tmp / "separate" / name), "--quiet"])[0] for i, name in enumerate(names)]
        runs["separate"] = _rate(sum(walls), _children_cpu() - cpu, jobs)
        identical = True
        for workers in worker_counts:
            folder, cpu = tmp / f"batch{workers}", _children_cpu()
            wall, peak = _run_timed([*_cli(), "batch", str(manifest), "--out-dir", str(folder), "--workers",
                                     str(workers), "--quiet"])
            runs[f"batch_{workers}_workers"] = {**_rate(wall, _children_cpu() - cpu, jobs),
                                                "vs_separate": round(wall / sum(walls), 3),
                                                "peak_rss_mb_one_process": round(peak, 1)}
            identical &= all(filecmp.cmp(folder / name, tmp / "separate" / name, shallow=False) for name in names)
    return {"jobs": jobs, "audio_seconds": seconds, **runs, "identical_to_separate": identical,
            "load_average_before": [round(x, 2) for x in load]}


def _rate(wall: float, cpu: float, jobs: int) -> dict:
    return {"wall_s": round(wall, 3), "s_per_job": round(wall / jobs, 3), "jobs_per_min": round(60 * jobs / wall, 1),
            "cpu_s_per_job": round(cpu / jobs, 3)}


def _children_cpu() -> float:
    """CPU seconds (user + system) of this process's ended children and theirs (workers, ffmpeg) so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


DUB_SIZE = (360, 288)   # issue 15's speed target: a 10 s 360x288 clip dubbed in at most 20 s on the 2-core CPU
DUB_SECONDS = 10.0


def talking_video(image_path: Path, wave, seconds: float, out: Path) -> None:
    """A `seconds`-long DUB_SIZE talking video of the photo: `talkface synth` on the speech (repeated to length),
    scaled to DUB_SIZE's width and cropped to its height around the middle."""
    speech = out.with_suffix(".wav")
    write_audio(speech, np.resize(wave, int(seconds * SAMPLE_RATE)), SAMPLE_RATE)
    full = out.with_name(out.stem + "_full.mp4")
    _run_timed([*_cli(), "synth", "--image", str(image_path), "--audio", str(speech), "--out", str(full), "--quiet"])
    width, height = DUB_SIZE
    subprocess.run([get_ffmpeg_exe(), "-loglevel", "error", "-y", "-i", str(full), "-vf",
                    f"scale={width}:-2,crop={width}:{height}", "-c:a", "copy", str(out)], check=True)


def cold_dub(video_path: Path, wave, runs: int, backend: str = "onnx") -> dict:
    """Whole `talkface dub` processes on the video with new speech as long as it (the speech started 3 s in,
    repeated): median wall time of `runs`, the peak memory of any of them."""
    info = probe_video(video_path)
    seconds = info.duration or sum(1 for _ in iter_frames(info)) / info.fps  # no duration: count (one frame held)
    with tempfile.TemporaryDirectory() as tmp:
        speech, out = Path(tmp) / "speech.wav", Path(tmp) / "out.mp4"
        write_audio(speech, np.resize(np.roll(wave, -3 * SAMPLE_RATE), int(seconds * SAMPLE_RATE)), SAMPLE_RATE)
        dub = [*_cli(), "dub", "--video", str(video_path), "--audio", str(speech), "--out", str(out), "--quiet",
               "--backend", backend]
        timed = [_run_timed(dub) for _ in range(runs)]
    walls = [wall for wall, _ in timed]
    return {"video": str(video_path), "video_size": [info.width, info.height], "video_seconds": round(seconds, 3),
            "runs": runs, "dub_wall_s": round(statistics.median(walls), 3), "dub_wall_all_s": [round(w, 3) for w in walls],
            "wall_per_video_second": round(statistics.median(walls) / seconds, 3),
            "peak_rss_mb": round(max(peak for _, peak in timed), 1)}


def whole_processes(image_path: Path, speech, backend: str, cold_runs: int, cold_seconds: float, dub_runs: int,
                    dub_video: str | None) -> dict:
    """The timed `talkface synth` and `talkface dub` processes of one backend ({} when none are asked for)."""
    timed = {}
    if cold_runs:
        timed["cold_synth"] = cold_synth(image_path, speech, cold_seconds, cold_runs, backend)
    if dub_runs:
        with tempfile.TemporaryDirectory() as tmp:
            video = Path(dub_video) if dub_video else Path(tmp) / "talking.mp4"
            if not dub_video:
                talking_video(image_path, speech, DUB_SECONDS, video)
            timed["cold_dub"] = cold_dub(video, speech, dub_runs, backend)
            if not dub_video:
                timed["cold_dub"]["video"] = (f"{image_path} made to talk by synth ({DUB_SECONDS:g} s, scaled and "
                                              "cropped)")
    return timed


def run_bench(image: str | None = None, audio: str | None = None, size: int | str = "auto", device: str = "cpu",
              repeats: int = 3, audio2lmk: str = "auto", lmk2video: str = "auto",
              generator_sizes: tuple[int, ...] = (), cold_runs: int = 0, cold_seconds: float = 3.0,
              dub_runs: int = 0, dub_video: str | None = None, batch_jobs: int = 0,
              backends: tuple[str, ...] = ("onnx",)) -> dict:
    """dub_video: the video `talkface dub` is timed on (default: the photo made to talk, DUB_SECONDS at DUB_SIZE);
    batch_jobs: that many cold_seconds synth jobs timed through `talkface batch` and as separate processes;
    backends: what runs the learned models (onnx: ONNX Runtime; torch: the training framework). One backend: its
    report; several: {backend: report}."""
    image_path = Path(image or EXAMPLES / "face.png")
    audio_path = Path(audio or EXAMPLES / "speech.wav")
    if dub_runs and dub_video:
        probe_video(dub_video)  # not a readable video: one line now, not after the other timings
    speech = read_audio(audio_path, SAMPLE_RATE)
    # Every backend's whole processes first, while this process has loaded nothing: they compete with nothing, and
    # a child's peak memory counts what the process it was started from held.
    timed = {backend: whole_processes(image_path, speech, backend, cold_runs, cold_seconds, dub_runs, dub_video)
             for backend in backends}
    batched = batch_vs_separate(image_path, speech, cold_seconds, batch_jobs) if batch_jobs else None
    reports = {backend: {**in_process(image_path, audio_path, size, device, repeats, audio2lmk, lmk2video,
                                      generator_sizes, backend),
                         **timed[backend], **({"batch": batched} if batched else {})}
               for backend in backends}
    return reports if len(backends) > 1 else reports[backends[0]]


def in_process(image_path: Path, audio_path: Path, size: int | str, device: str, repeats: int, audio2lmk: str,
               lmk2video: str, generator_sizes: tuple[int, ...], backend: str) -> dict:
    """Each stage timed inside this process (median of `repeats`), and the generator alone at each crop size."""
    stages = {}
    start = time.perf_counter()
    synth = Synthesizer(audio2lmk=audio2lmk, lmk2video=lmk2video, size=size, device=device, backend=backend)
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
                   "crop": source.transform.size, "backend": backend},
        "stages_s": {k: round(v, 4) for k, v in stages.items()},
        "total_s": round(total, 4),
        "seconds_per_audio_second": round(total / duration, 4),
        "lmk2video_fps": round(len(track) / stages["lmk2video"], 1),
        **({"generator_fps": sized} if sized else {}),
        "hardware": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(), "device": device,
                     **_torch_hardware(device)},
        "environment": environment(),
        "repeats": repeats,
    }
