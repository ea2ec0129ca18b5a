"""Copy a trained checkpoint into the package as the shipped default, with its test results in the sidecar.

    python scripts/ship_checkpoint.py runs/audio2lmk/lstm_pose_vtlp/best.safetensors audio2lmk/data/audio2lmk.safetensors \
        --eval runs/audio2lmk/lstm_pose_vtlp/eval/audio2lmk_test.json [--eval more.json ...]

The sidecar keeps everything training recorded (config, data split, steps, hardware, validation) and
gains `shipped_from` and `test`: the summary of each evaluation JSON (from `talkface eval audio2lmk`
or `talkface eval lmk2video`), keyed by its file name, with the command's split and clip count.
`--people report.json` (from `talkface eval people`) adds the dev-set tables under `people`;
`--calibrate PREPARED` (audio2lmk) fits the amplitude calibration (audio2lmk.calibration) on the
checkpoint's own training clips (the target spread) and validation clips (its shrink, `motion_gain`) and records
it under `calibration`; `--phone-gate` adds the phone gate
there (audio2lmk.inputs.phone_speech_gate: the mouth closed where the phone decoder hears no speech);
`--voice-gate` records the voice-activity gate (audio2lmk.voice_activity, on unless a sidecar says
`voice_gate: false`) explicitly, as the shipped `auto` does. `--lipreading result.json` (from
scripts/audio2lmk_lipreading.py) adds its checkpoint rows' summary (s1 WER, cross-voice WER) under `lipreading`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from pathlib import Path

MAX_BYTES = 25 * 1024 * 1024  # the repository's limit for a committed checkpoint
RULE = ("motion x motion_gain (the net's shrink on its held-out clips: real / predicted opening spread, clipped to "
        "[1, 2]), then per utterance x clip(opening_std / its spread over speech frames, 1, 2)")
VOICE_GATE_NOTE = ("mouth closed where silero-vad hears no voice (audio2lmk.voice_activity), issue 13: it keeps the "
                   "mouth still on music and noise, which the phone gate (phone_gate, used before) did not")


def evaluation_summary(path: Path) -> dict:
    result = json.loads(path.read_text())
    keep = ("split", "split_file", "voice_shift_semitones", "n_clips", "excluded", "models", "throughput_fps", "summary")
    summary = {k: result[k] for k in keep if k in result}
    if "clips" in result and "n_clips" not in summary:
        summary["n_clips"] = len(result["clips"])
    return summary


def people_summary(path: Path) -> dict:
    report = json.loads(path.read_text())
    return {k: report[k] for k in ("command", "protocol", "methods", "skipped", "videos", "voices", "seconds")}


def lipreading_summary(path: Path) -> dict:
    """The checkpoint variants' rows (`ck:...`) of an audio2lmk_lipreading.py result, with its command and clips."""
    result = json.loads(path.read_text())
    return {"command": result.get("command", ""), "clips": len(result["ids"]), "voice": result["voice"],
            "other_voices": result.get("other_voices", []),
            "summary": {spec: row for spec, row in result["summary"].items() if spec.startswith("ck:")}}


def held_out_shrink(checkpoint: Path, meta: dict, prepared: Path) -> tuple[float, int]:
    """(real / predicted opening spread on the checkpoint's validation clips, their number): the net's regression
    to the mean on speech it was never trained on (audio2lmk.calibration.fit_shrink). The net alone: no speech gate
    (a gate's closures are not the net's shrink), the frames with speech in the log-mel for both."""
    from audio2lmk.calibration import active_frames, fit_shrink
    from audio2lmk.learned import LearnedAudio2Lmk
    from audio2lmk.models import Audio2LmkNet
    from audio2lmk.pca import clip_motion
    from talkface.checkpoint import load_model
    from talkface.prepared import PreparedSet

    data = PreparedSet(prepared)
    net, _ = load_model(checkpoint, Audio2LmkNet)
    sharpen = meta.get("calibration", {}).get("sharpen", 0.0)
    plain = LearnedAudio2Lmk(net, {"calibration": {"voice_gate": False, "sharpen": sharpen}})  # no gain, no target
    clips = []
    for clip_id in meta["data"]["val_ids"]:
        c = data.load(clip_id, crops=False, audio=True)
        n = min(len(c.mel), len(c.landmarks))
        clips.append((plain.predict(c.audio, n)[0], clip_motion(c.landmarks[:n])[0], active_frames(c.mel[:n])))
    return fit_shrink(clips), len(clips)


def fit_calibration(checkpoint: Path, meta: dict, prepared: Path) -> dict:
    """Real opening spread over speech frames of the checkpoint's training clips (not its validation ones), and
    the net's shrink on its validation clips (`held_out_shrink`) as `motion_gain`."""
    from audio2lmk.calibration import MAX_GAIN, fit_target
    from audio2lmk.ensemble import is_ensemble_checkpoint
    from audio2lmk.train import load_clips
    from talkface import grid
    from talkface.prepared import PreparedSet

    data = PreparedSet(prepared)
    val = set(meta["data"]["val_ids"])
    ids = [i for i in data.ids(grid.read_split(meta["data"]["split_file"])) if i not in val]
    clips = load_clips(data, ids)
    calibration = {"opening_std": fit_target([(c.mel, c.motion) for c in clips]),
                   "fitted_on": f"{len(ids)} training clips of {meta['data']['split_file']}", "rule": RULE}
    if is_ensemble_checkpoint(checkpoint):
        # Each member trained on the others' validation clips: no clip is held out from all of them, so the
        # ensemble's shrink cannot be measured honestly; it ships without motion_gain (1).
        return calibration
    ratio, n_val = held_out_shrink(checkpoint, meta, prepared)
    return {**calibration, "heldout_spread_ratio": ratio, "motion_gain": float(min(max(ratio, 1.0), MAX_GAIN)),
            "motion_gain_fitted_on": f"{n_val} validation clips (data.val_ids), never trained on"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path, help="trained .safetensors (its .json sidecar beside it)")
    parser.add_argument("target", type=Path, help="where the package loads it from")
    parser.add_argument("--eval", type=Path, action="append", default=[], help="evaluation JSON(s) of this checkpoint")
    parser.add_argument("--people", type=Path, default=None, help="`talkface eval people` report.json with it")
    parser.add_argument("--lipreading", type=Path, default=None,
                        help="scripts/audio2lmk_lipreading.py result JSON with this checkpoint")
    parser.add_argument("--calibrate", type=Path, default=None, metavar="PREPARED",
                        help="fit the audio2lmk amplitude calibration on this prepared set's training clips")
    parser.add_argument("--phone-gate", action="store_true",
                        help="audio2lmk: close the mouth where the phone decoder hears no speech (with --calibrate)")
    parser.add_argument("--voice-gate", action="store_true",
                        help="audio2lmk: record the voice-activity gate in the calibration (with --calibrate)")
    args = parser.parse_args()
    if args.checkpoint.stat().st_size > MAX_BYTES:
        parser.error(f"{args.checkpoint}: {args.checkpoint.stat().st_size / 2**20:.1f} MB is over the 25 MB limit")
    meta = json.loads(args.checkpoint.with_suffix(".json").read_text())
    meta["shipped_from"] = str(args.checkpoint)
    meta["test"] = {path.name: evaluation_summary(path) for path in args.eval}
    if args.people:
        meta["people"] = people_summary(args.people)
    if args.lipreading:
        meta["lipreading"] = lipreading_summary(args.lipreading)
    if args.calibrate:
        meta["calibration"] = fit_calibration(args.checkpoint, meta, args.calibrate)
        meta["calibration"]["phone_gate"] = args.phone_gate
        if args.voice_gate:
            meta["calibration"].update(voice_gate=True, speech_gate=VOICE_GATE_NOTE)
    tmp = args.target.with_name(args.target.name + ".tmp")
    shutil.copyfile(args.checkpoint, tmp)
    os.replace(tmp, args.target)
    args.target.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n")
    print(f"{args.target} ({args.target.stat().st_size / 2**20:.1f} MB) <- {args.checkpoint}")


if __name__ == "__main__":
    main()
