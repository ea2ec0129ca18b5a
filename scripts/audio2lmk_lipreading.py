"""How readable is an audio2lmk's motion? One change at a time, on the first N s1 test clips.

    python scripts/audio2lmk_lipreading.py ck:audio2lmk/data/audio2lmk.safetensors ck:old.safetensors@nocal real \
        real+smooth=2 --clips 20 --wer --prepared /work/main/data/prepared --out runs/lipreading.json

Each variant gives a landmark track per clip (photo = the clip's first frame, speech = its audio, blinks off,
the predicted head pose kept unless `@still`). Track measures against the real track, in the normalised face
frame: correlation and std ratio of the inner-lip opening, the outer mouth width (48-54), the inner width
(60-64) and the outer lip height (51-57); the same for the opening and width high-passed (minus a 2-frame
Gaussian: the fast detail); the lag (frames) that best aligns the opening; jerk (mean |2nd difference|) ratio.
With --wer: the learned lmk2video's own frames (`mouth_only=False`, as `eval grid`'s full-frame rows) read by
the shipped lipreader through `eval grid`'s path (dlib re-detection, mouth crop), WER/CER by jiwer.

Variants:
  ck:PATH[@nocal|@cal=X][@sharp=K][@still]   an audio2lmk checkpoint; without / with another calibration target;
                                   its motion sharpened in time (audio2lmk.calibration.sharpen, amount K); still head
  pose:A:B                         mouth motion of checkpoint spec A, head pose of B
  mix:A:B                          A's track with the lips' horizontal motion (normalised frame) of B
  real[+smooth=S][+lag=N][+amp=X][+nowidth]   the real track, its motion Gaussian-smoothed (S frames),
                                   delayed, scaled about the first frame, or without horizontal lip motion
--voice F shifts every clip's voice (pitch and formants x F, duration kept: ffmpeg asetrate + atempo, unlike
the training augmentation's mel-domain warp and `eval audio2lmk --voice-shift`'s phase vocoder).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jiwer
import numpy as np
import soundfile as sf
import torch
from imageio_ffmpeg import get_ffmpeg_exe
from scipy.ndimage import gaussian_filter1d

from audio2lmk.learned import load_checkpoint
from audio2lmk.pca import MOTION_POINTS
from talkface import grid
from talkface.evaluation import load_truth
from talkface.face_crop import crop_face
from talkface.landmarks.indices import MOUTH, interocular, mouth_opening
from talkface.landmarks.normalize import from_normalised, to_normalised
from talkface.landmarks.track import track_video
from talkface.lipreading.mouth import mouth_crops
from talkface.lipreading.wer import LipReader
from talkface.pipeline import SAMPLE_RATE, Synthesizer
from talkface.prepared import PreparedSet
from talkface.stages import load_lmk2video


def measures(track: np.ndarray) -> dict[str, np.ndarray]:
    """Per-frame mouth measures of a (T, 68, 2) track in the normalised face frame (interocular 1)."""
    n, _ = to_normalised(np.asarray(track, np.float32))
    dist = lambda a, b: np.linalg.norm(n[:, a] - n[:, b], axis=-1)
    return {"open": mouth_opening(n), "width": dist(48, 54), "iwidth": dist(60, 64), "oheight": dist(51, 57)}


def corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a, b)[0, 1]) if np.ptp(a) > 1e-9 and np.ptp(b) > 1e-9 else 0.0


def best_lag(a: np.ndarray, b: np.ndarray, max_lag: int = 6) -> int:
    """Frames by which a follows b (argmax over k of corr(a[t], b[t - k]))."""
    scores = {k: corr(a[k:], b[:len(b) - k]) if k >= 0 else corr(a[:k], b[-k:]) for k in range(-max_lag, max_lag + 1)}
    return max(scores, key=scores.get)


def shift_voice(wave: np.ndarray, factor: float) -> np.ndarray:
    """Pitch and formants x factor, same duration: ffmpeg asetrate (resampling) then atempo (WSOLA)."""
    with tempfile.TemporaryDirectory() as tmp:
        sf.write(f"{tmp}/a.wav", np.asarray(wave, np.float32), SAMPLE_RATE)
        subprocess.run([get_ffmpeg_exe(), "-loglevel", "error", "-y", "-i", f"{tmp}/a.wav", "-af",
                        f"asetrate={SAMPLE_RATE * factor:.0f},aresample={SAMPLE_RATE},atempo={1 / factor:.6f}",
                        f"{tmp}/b.wav"], check=True)
        out, _ = sf.read(f"{tmp}/b.wav", dtype="float32")
    out = out[:len(wave)]
    return np.pad(out, (0, len(wave) - len(out)))


class Variants:
    def __init__(self):
        self.models: dict[str, object] = {}

    def model(self, spec: str):
        spec = spec.replace("@still", "")
        if spec not in self.models:
            path, *options = spec.split("@")
            model = load_checkpoint(path)
            for option in options:
                if option == "nocal":
                    model.opening_std = None
                elif option.startswith("cal="):
                    model.opening_std = float(option[4:])
                elif option.startswith("sharp="):
                    model.sharpen = float(option[6:])
                else:
                    raise SystemExit(f"unknown checkpoint option {option!r} in {spec!r}")
            self.models[spec] = model
        return self.models[spec]

    def track(self, spec: str, truth, source: np.ndarray) -> np.ndarray:
        if spec.startswith("ck:"):
            return self.model(spec[3:])(truth.audio, SAMPLE_RATE, source, fps=25.0, blink=False,
                                        head_motion="@still" not in spec)
        if spec.startswith("pose:"):
            _, a, b = spec.split(":")
            n = int(round(len(truth.audio) / SAMPLE_RATE * 25))
            motion = self.model(a).predict(truth.audio, n)[0]
            return self.model(a).place(motion, np.asarray(source, np.float32), self.model(b).predict(truth.audio, n)[1])
        if spec.startswith("mix:"):
            _, a, b = spec.split(":")
            norm_a, sim = to_normalised(self.track("ck:" + a, truth, source))
            norm_b, _ = to_normalised(self.track("ck:" + b, truth, source))
            norm_a[:, 48:68, 0] = norm_b[:, 48:68, 0]
            return from_normalised(norm_a, sim)
        if spec.startswith("real"):
            norm, sim = to_normalised(np.asarray(truth.landmarks, np.float32))
            points = list(MOTION_POINTS)
            rest = norm[0, points].copy()
            motion = norm[:, points] - rest
            for op in spec.split("+")[1:]:
                name, _, value = op.partition("=")
                if name == "smooth":
                    motion = gaussian_filter1d(motion, float(value), axis=0, mode="nearest")
                elif name == "lag":
                    k = int(value)
                    motion = np.concatenate([np.repeat(motion[:1], k, 0), motion[:len(motion) - k]])
                elif name == "amp":
                    motion = motion * float(value)
                elif name == "nowidth":
                    motion[..., 0] = 0.0
                else:
                    raise SystemExit(f"unknown real-track change {op!r}")
            norm[:, points] = rest + motion
            return from_normalised(norm, sim).astype(np.float32)
        raise SystemExit(f"unknown variant {spec!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("variants", nargs="+")
    parser.add_argument("--clips", type=int, default=10)
    parser.add_argument("--wer", action="store_true", help="render and read (slow); otherwise track measures only")
    parser.add_argument("--voice", type=float, default=1.0, help="shift every voice by this factor (see above)")
    parser.add_argument("--prepared", default="data/prepared")
    parser.add_argument("--grid-root", default="../shared/data/grid")
    parser.add_argument("--out", required=True, help="JSON with per-clip rows and the summary")
    args = parser.parse_args()
    torch.set_num_threads(1)
    prepared = PreparedSet(args.prepared)
    ids = prepared.ids(grid.read_split(grid.split_path(args.grid_root, "s1", "test")))[:args.clips]
    variants = Variants()
    synth = reader = None
    if args.wer:
        synth = Synthesizer(audio2lmk="phonetic", lmk2video="learned")
        synth._stages["lmk2video"] = load_lmk2video("learned", "cpu", mouth_only=False)  # the generator's own frames
        reader = LipReader.load()
    rows: dict[str, list[dict]] = {v: [] for v in args.variants}
    start = time.time()
    for clip_id in ids:
        truth = load_truth(prepared, clip_id)
        if args.voice != 1.0:
            truth.audio = shift_voice(truth.audio, args.voice)
        real = measures(truth.landmarks)
        source = synth.source_face(truth.frames[0], name=clip_id) if synth else None
        for spec in args.variants:
            track = variants.track(spec, truth, source.landmarks if source else truth.landmarks[0])
            n = min(len(track), len(truth.landmarks))
            gen = measures(track[:n])
            row = {"clip": clip_id, "reference": truth.transcript}
            for k in real:
                row[f"{k}_corr"] = corr(gen[k], real[k][:n])
                row[f"{k}_amp"] = float(gen[k].std() / max(real[k][:n].std(), 1e-9))
            for k in ("open", "width"):
                high = [x - gaussian_filter1d(x, 2.0, mode="nearest") for x in (gen[k], real[k][:n])]
                row[f"{k}_hp_corr"] = corr(*high)
                row[f"{k}_hp_amp"] = float(high[0].std() / max(high[1].std(), 1e-9))
            row["open_lag"] = best_lag(gen["open"], real["open"][:n])
            row["open_jerk"] = float(np.abs(np.diff(gen["open"], 2)).mean()
                                     / max(np.abs(np.diff(real["open"][:n], 2)).mean(), 1e-9))
            if args.wer:
                frames = np.stack(list(synth.render(source, track)))[:len(truth.frames)]
                detected = track_video(frames)
                crops = np.stack([crop_face(f, truth.crop) for f in frames])
                row["hypothesis"] = reader.read(mouth_crops(crops, truth.crop.to_crop(detected), reader.mouth_size),
                                                name=clip_id)
                m = len(frames)
                row["detected_open_corr"] = corr(measures(detected)["open"], real["open"][:m])
                lips = list(MOUTH)
                row["detected_mouth_lmd"] = float((np.linalg.norm(detected[:, lips] - truth.landmarks[:m, lips], axis=-1)
                                                   .mean(1) / interocular(truth.landmarks[:m])).mean())
            rows[spec].append(row)
        print(f"{clip_id} {time.time() - start:.0f} s", file=sys.stderr, flush=True)
    summary = {}
    for spec, spec_rows in rows.items():
        summary[spec] = {k: float(np.mean([r[k] for r in spec_rows])) for k in spec_rows[0]
                         if k not in ("clip", "reference", "hypothesis")}
        if args.wer:
            refs, hyps = [r["reference"] for r in spec_rows], [r["hypothesis"] for r in spec_rows]
            summary[spec].update(wer=float(jiwer.wer(refs, hyps)), cer=float(jiwer.cer(refs, hyps)))
    Path(args.out).write_text(json.dumps({"ids": ids, "voice": args.voice, "summary": summary, "rows": rows}, indent=1))
    keys = ["wer", "cer", "open_corr", "open_amp", "open_hp_corr", "width_corr", "width_amp", "width_hp_corr",
            "oheight_corr", "open_lag", "open_jerk"]
    print("| variant | " + " | ".join(keys) + " |")
    for spec, s in summary.items():
        print(f"| {spec} | " + " | ".join(f"{s[k]:.3f}" if k in s else "–" for k in keys) + " |")


if __name__ == "__main__":
    main()
