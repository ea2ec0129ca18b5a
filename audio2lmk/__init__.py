"""audio2lmk: speech -> landmark motion on a source face.

`PhoneticAudio2Lmk` is the training-free default (phones -> visemes estimated from GRID).
"""

from audio2lmk.phonetic import PhoneticAudio2Lmk

__all__ = ["PhoneticAudio2Lmk"]

# Learned models (issue 4): a trained net predicts the motion; same call as PhoneticAudio2Lmk.
from audio2lmk.learned import SHIPPED_CHECKPOINT, LearnedAudio2Lmk, load_checkpoint  # noqa: E402

__all__ += ["LearnedAudio2Lmk", "load_checkpoint", "SHIPPED_CHECKPOINT"]
