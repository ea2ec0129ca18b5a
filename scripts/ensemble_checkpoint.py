"""Join trained audio2lmk nets into one ensemble checkpoint (audio2lmk.ensemble): their motion is averaged.

    python scripts/ensemble_checkpoint.py runs/audio2lmk/normmel/best.safetensors \
        runs/audio2lmk/normmel_s1/best.safetensors --out runs/audio2lmk/ensemble.safetensors

`--member K` does the reverse: the ensemble's member K as a checkpoint of its own
(python scripts/ensemble_checkpoint.py audio2lmk/data/audio2lmk.safetensors --member 0 --out runs/s0.safetensors).

Then ship it like one net: scripts/ship_checkpoint.py runs/audio2lmk/ensemble.safetensors
audio2lmk/data/audio2lmk.safetensors --calibrate PREPARED --voice-gate (the calibration is fitted on the
clips no member validated on).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from audio2lmk.ensemble import save_ensemble, save_member


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("members", type=Path, nargs="+", help="trained audio2lmk .safetensors (sidecars beside them)")
    parser.add_argument("--out", type=Path, required=True, help="the ensemble's .safetensors")
    parser.add_argument("--member", type=int, default=None, help="extract this member of one ensemble checkpoint")
    args = parser.parse_args()
    if args.member is not None:
        if len(args.members) != 1:
            parser.error("--member takes one ensemble checkpoint")
        path = save_member(args.members[0], args.member, args.out)
        print(f"{path}: member {args.member} of {args.members[0]}")
        return
    path = save_ensemble(args.members, args.out)
    print(f"{path} ({path.stat().st_size / 2**20:.1f} MB): {len(args.members)} nets")


if __name__ == "__main__":
    main()
