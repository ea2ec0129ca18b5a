"""audio2lmk: speech -> landmark motion on a source face.

`PhoneticAudio2Lmk` is the training-free default (phones -> visemes estimated from GRID); `LearnedAudio2Lmk`
(`load_checkpoint`, `SHIPPED_CHECKPOINT`) a trained net with the same call. The names load on first use, so
`audio2lmk.phonemes` (pocketsphinx phones) can be imported without torch.
"""

import importlib

_HOMES = {"PhoneticAudio2Lmk": "audio2lmk.phonetic", "LearnedAudio2Lmk": "audio2lmk.learned",
          "load_checkpoint": "audio2lmk.learned", "SHIPPED_CHECKPOINT": "audio2lmk.shipped"}

__all__ = list(_HOMES)


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module 'audio2lmk' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)
