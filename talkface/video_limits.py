"""Output frame sizes that H.264 players decode: within level 5.1 and even (4:2:0 chroma).

Level 5.1 (the highest that phones, browsers and hardware decoders commonly accept) allows at most
36 864 macroblocks (16x16 pixels) per frame, e.g. 4096x2304, and 983 040 macroblocks per second.
"""

from __future__ import annotations

import math

H264_LEVEL = "5.1"
MAX_FRAME_MACROBLOCKS = 36864
MAX_MACROBLOCKS_PER_SECOND = 983040
MAX_SIDE = 16 * int(math.sqrt(8 * MAX_FRAME_MACROBLOCKS))  # the level's bound on either side: 8688 px


def macroblocks(height: int, width: int) -> int:
    return math.ceil(width / 16) * math.ceil(height / 16)


def fits_level(height: int, width: int, fps: float) -> bool:
    limit = min(MAX_FRAME_MACROBLOCKS, MAX_MACROBLOCKS_PER_SECOND / max(fps, 1e-6))
    return macroblocks(height, width) <= limit and max(height, width) <= MAX_SIDE


def fit_frame(height: int, width: int, fps: float) -> tuple[int, int]:
    """(height, width) unchanged when it fits H.264 level 5.1 at fps, else the largest even size of the same
    aspect that does."""
    if fits_level(height, width, fps):
        return height, width
    limit = min(MAX_FRAME_MACROBLOCKS, MAX_MACROBLOCKS_PER_SECOND / max(fps, 1e-6))
    scale = min(math.sqrt(limit * 256 / (height * width)), MAX_SIDE / max(height, width))
    while True:
        h, w = (max(2, 2 * int(v * scale / 2)) for v in (height, width))
        if fits_level(h, w, fps):
            return h, w
        scale *= 0.99
