"""Join trained audio2lmk nets into one ensemble checkpoint (audio2lmk.ensemble): their motion is averaged.

    python scripts/ensemble_checkpoint.py runs/audio2lmk/normmel/best.safetensors \
        runs/audio2lmk/normmel_s1/best.safetensors --out runs/audio2lmk/ensemble.safetensors

Then ship it like one net: scripts/ship_checkpoint.py runs/audio2lmk/ensemble.safetensors
audio2lmk/data/audio2lmk.safetensors --calibrate PREPARED --voice-gate (the calibration is fitted on the
clips no member validated on).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from audio2lmk.ensemble import save_ensemble


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("members", type=Path, nargs="+", help="trained audio2lmk .safetensors (sidecars beside them)")
    parser.add_argument("--out", type=Path, required=True, help="the ensemble's .safetensors")
    args = parser.parse_args()
    path = save_ensemble(args.members, args.out)
    print(f"{path} ({path.stat().st_size / 2**20:.1f} MB): {len(args.members)} nets")


if __name__ == "__main__":
    main()
