"""lmk2video: landmark-driven face generators (training-free warp default; learned MotionGAN-style generator)."""

from lmk2video.warp_generator import WarpGenerator
from lmk2video.learned import SHIPPED_CHECKPOINT, LearnedGenerator, load_checkpoint

__all__ = ["WarpGenerator", "LearnedGenerator", "load_checkpoint", "SHIPPED_CHECKPOINT"]
