"""lmk2video: landmark-driven face generators (training-free warp default)."""

from lmk2video.generator import WarpGenerator

__all__ = ["WarpGenerator"]
