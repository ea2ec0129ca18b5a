"""Expression control on the landmark layer: an expression (LandmarkGAN stage I) or action units (GANimation)
as a displacement of the person's own 68 landmarks in talkface's normalised face frame.

Inference is numpy only (`shapes.py`, `units.py`); torch is used by the trainer alone.
"""

EXPRESSIONS: tuple[str, ...] = ("neutral", "happy", "sad", "surprised", "angry", "disgusted", "fearful", "contemptuous")
