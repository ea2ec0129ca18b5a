"""Evaluation metrics of the protocol in DESIGN.md: image (PSNR/SSIM), landmarks (LMD, CED, mouth
opening correlation) and identity (FMS). The dlib ResNet behind FMS loads only when a FaceDescriber is made."""

from talkface.metrics.image import (
    PSNR_CAP_DB,
    frame_psnr,
    frame_ssim,
    mouth_box,
    mouth_psnr_ssim,
    psnr,
    ssim,
    video_psnr_ssim,
)
from talkface.metrics.landmarks import (
    FAILURE_THRESHOLD,
    ced,
    ced_auc,
    failure_rate,
    landmark_scores,
    lmd,
    mouth_opening_correlation,
    normalised_errors,
)
from talkface.metrics.identity import SAME_PERSON_THRESHOLD, FaceDescriber, descriptor_distances, fms

__all__ = [
    "PSNR_CAP_DB", "frame_psnr", "frame_ssim", "mouth_box", "mouth_psnr_ssim", "psnr", "ssim", "video_psnr_ssim",
    "FAILURE_THRESHOLD", "ced", "ced_auc", "failure_rate", "landmark_scores", "lmd",
    "mouth_opening_correlation", "normalised_errors",
    "SAME_PERSON_THRESHOLD", "FaceDescriber", "descriptor_distances", "fms",
]
