"""68-point facial landmarks: detection, tracking, normalisation, heatmaps and track files.

Names are imported on first use (PEP 562), so importing one submodule does not import them all:
tracking pulls scipy.ndimage (~0.3 s) and heatmaps torch (~1 s), which most callers never need.
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "DlibDetector": "detect", "Face": "detect", "FaceDetector": "detect", "FanDetector": "detect",
    "detect_landmarks": "detect", "dlib_model_path": "detect", "face_box": "detect", "get_detector": "detect",
    "predict_shape": "detect",
    "eye_centres": "indices", "interocular": "indices", "mouth_opening": "indices",
    "Track": "io", "load_track": "io", "save_track": "io",
    "MEAN_SHAPE": "normalize", "Similarity": "normalize", "fit_similarity": "normalize",
    "from_normalised": "normalize", "to_normalised": "normalize",
    "smooth_track": "track", "track_video": "track",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
