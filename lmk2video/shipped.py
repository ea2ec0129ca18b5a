"""Where the shipped lmk2video checkpoint lives, without importing torch (a stage resolver asks before it loads)."""

from pathlib import Path

SHIPPED_CHECKPOINT = Path(__file__).parent / "data" / "lmk2video.safetensors"
