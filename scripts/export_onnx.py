"""Re-export every shipped model to ONNX, beside its safetensors (training side: `pip install 'talkface[train]'`).

    python scripts/export_onnx.py                      # all shipped models
    python scripts/export_onnx.py --checkpoint PATH    # one checkpoint of yours (its kind read from the sidecar)
    python scripts/export_onnx.py --voice-activity     # only Silero VAD's weights, after upgrading silero-vad

The product runs these exports with ONNX Runtime (no torch); each carries its checkpoint's sidecar and the sha256
of the safetensors it came from, and tests/lmk2video/test_onnx_exports.py fails when a shipped export is stale.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def exporters() -> dict:
    """Checkpoint kind -> export function (`fn(checkpoint) -> path of the .onnx`)."""
    from audio2lmk.export import export_audio2lmk
    from lmk2video.export import export_fetch_attention, export_generator

    return {"lmk2video": export_generator, "fetch_attention": export_fetch_attention, "audio2lmk": export_audio2lmk}


def shipped() -> list[Path]:
    """The shipped checkpoints that have an export."""
    from audio2lmk.shipped import SHIPPED_CHECKPOINT as AUDIO2LMK
    from lmk2video.fetch_attention import SHIPPED as FETCH_ATTENTION
    from lmk2video.shipped import SHIPPED_CHECKPOINT as GENERATOR

    return [path for path in (AUDIO2LMK, GENERATOR, FETCH_ATTENTION) if path.is_file()]


def export(checkpoint: Path) -> Path:
    from talkface.checkpoint import sidecar_path, upgrade_sidecar

    kind = upgrade_sidecar(json.loads(sidecar_path(checkpoint).read_text())).get("kind")
    if kind not in exporters():
        raise SystemExit(f"{checkpoint}: no ONNX export for a {kind!r} checkpoint (known: {sorted(exporters())})")
    return exporters()[kind](checkpoint)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, action="append", help="export this checkpoint (repeatable)")
    parser.add_argument("--voice-activity", action="store_true",
                        help="only copy Silero VAD's weights from the silero-vad package (audio2lmk.export)")
    args = parser.parse_args(argv)
    if args.voice_activity or not args.checkpoint:  # the shipped voice gate's weights, read without torch
        from audio2lmk.export import export_voice_activity

        path = export_voice_activity()
        print(f"silero-vad -> {path} ({path.stat().st_size / 1e6:.1f} MB)")
    if args.voice_activity:
        return
    for checkpoint in args.checkpoint or shipped():
        path = export(checkpoint)
        print(f"{checkpoint} -> {path} ({path.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
