"""68-point facial landmarks: detection, tracking, normalisation, heatmaps and track files.

heatmaps is not re-exported: it imports torch (~1 s), which detection and tracking do not need.
"""
from talkface.landmarks.detect import (
    DlibDetector,
    Face,
    FaceDetector,
    FanDetector,
    detect_landmarks,
    dlib_model_path,
    get_detector,
    predict_shape,
)
from talkface.landmarks.indices import eye_centres, interocular, mouth_opening
from talkface.landmarks.io import Track, load_track, save_track
from talkface.landmarks.normalize import MEAN_SHAPE, Similarity, fit_similarity, from_normalised, to_normalised
from talkface.landmarks.track import smooth_track, track_video

__all__ = [
    "DlibDetector", "Face", "FaceDetector", "FanDetector", "MEAN_SHAPE", "Similarity", "Track",
    "detect_landmarks", "dlib_model_path", "eye_centres", "fit_similarity", "from_normalised",
    "get_detector", "interocular", "load_track", "mouth_opening", "predict_shape", "save_track",
    "smooth_track", "to_normalised", "track_video",
]
