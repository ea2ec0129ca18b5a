"""Copy a trained checkpoint into the package as the shipped default, with its test results in the sidecar.

    python scripts/ship_checkpoint.py runs/audio2lmk/lstm_pose_vtlp/best.safetensors audio2lmk/data/audio2lmk.safetensors \
        --eval runs/audio2lmk/lstm_pose_vtlp/eval/audio2lmk_test.json [--eval more.json ...]

The sidecar keeps everything training recorded (config, data split, steps, hardware, validation) and
gains `shipped_from` and `test`: the summary of each evaluation JSON (from `talkface eval audio2lmk`
or `talkface eval lmk2video`), keyed by its file name, with the command's split and clip count.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from pathlib import Path

MAX_BYTES = 25 * 1024 * 1024  # the repository's limit for a committed checkpoint


def evaluation_summary(path: Path) -> dict:
    result = json.loads(path.read_text())
    keep = ("split", "split_file", "voice_shift_semitones", "n_clips", "excluded", "models", "throughput_fps", "summary")
    summary = {k: result[k] for k in keep if k in result}
    if "clips" in result and "n_clips" not in summary:
        summary["n_clips"] = len(result["clips"])
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path, help="trained .safetensors (its .json sidecar beside it)")
    parser.add_argument("target", type=Path, help="where the package loads it from")
    parser.add_argument("--eval", type=Path, action="append", default=[], help="evaluation JSON(s) of this checkpoint")
    args = parser.parse_args()
    if args.checkpoint.stat().st_size > MAX_BYTES:
        parser.error(f"{args.checkpoint}: {args.checkpoint.stat().st_size / 2**20:.1f} MB is over the 25 MB limit")
    meta = json.loads(args.checkpoint.with_suffix(".json").read_text())
    meta["shipped_from"] = str(args.checkpoint)
    meta["test"] = {path.name: evaluation_summary(path) for path in args.eval}
    tmp = args.target.with_name(args.target.name + ".tmp")
    shutil.copyfile(args.checkpoint, tmp)
    os.replace(tmp, args.target)
    args.target.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n")
    print(f"{args.target} ({args.target.stat().st_size / 2**20:.1f} MB) <- {args.checkpoint}")


if __name__ == "__main__":
    main()
