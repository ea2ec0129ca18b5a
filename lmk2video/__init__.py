"""lmk2video: landmark-driven face generators (training-free warp default; learned MotionGAN-style generator).

`WarpGenerator` is the training-free default (numpy and OpenCV); `LearnedGenerator` (`load_checkpoint`,
`SHIPPED_CHECKPOINT`) a trained net with the same call. The names load on first use, so the warp (and the shipped
checkpoint's path) come without torch.
"""

import importlib

_HOMES = {"WarpGenerator": "lmk2video.warp_generator", "LearnedGenerator": "lmk2video.learned",
          "load_checkpoint": "lmk2video.learned", "SHIPPED_CHECKPOINT": "lmk2video.shipped"}

__all__ = list(_HOMES)


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module 'lmk2video' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)
