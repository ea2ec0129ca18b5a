"""Speech-related head pose: how the whole face moves relative to the first (silent) frame.

GRID speakers dip and tilt their heads while they talk; that rigid motion is most of the real
tracks' landmark error of any audio model that keeps the head still (s1 test: mouth LMD 0.047
with a still head vs 0.023 with the real pose). A learned model can predict its expected part.

A pose is 4 numbers per frame, (log scale, angle in radians, tx, ty), of the similarity
G_t = sim_0 o sim_t^-1 that takes frame t's normalised face into frame 0's normalised frame
(unit interocular distance, origin between the eyes: talkface.landmarks.normalize). Being
expressed in the normalised frame, a pose transfers to any face at any image size; zeros are
"the head where the source photo has it".
"""

from __future__ import annotations

import numpy as np

from talkface.landmarks.normalize import MEAN_SHAPE, Similarity, STABLE_WEIGHTS, fit_similarity, to_normalised

POSE_DIMS = 4


def in_first_frame(landmarks: np.ndarray) -> np.ndarray:
    """(T, 68, 2) track in image coordinates -> every frame in frame 0's normalised frame."""
    landmarks = np.asarray(landmarks, np.float64)
    return to_normalised(landmarks[0])[1].apply(landmarks)


def relative_pose(landmarks: np.ndarray) -> np.ndarray:
    """(T, 68, 2) track in image coordinates -> (T, 4) pose of each frame relative to frame 0."""
    norm, _ = to_normalised(np.asarray(landmarks, np.float64))
    g = fit_similarity(norm, in_first_frame(landmarks), STABLE_WEIGHTS)
    return np.stack([np.log(g.scale), g.angle, g.translation[..., 0], g.translation[..., 1]], -1).astype(np.float32)


def pose_similarity(pose: np.ndarray) -> Similarity:
    """(..., 4) poses -> the batched Similarity G they describe (normalised frame -> normalised frame)."""
    pose = np.asarray(pose, np.float64)
    c, s = np.cos(pose[..., 1]), np.sin(pose[..., 1])
    rotation = np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)], -2)
    return Similarity(np.exp(pose[..., 0]), rotation, pose[..., 2:4])


def apply_pose(norm_track: np.ndarray, pose: np.ndarray) -> np.ndarray:
    """Move a (T, 68, 2) normalised track by (T, 4) poses."""
    return pose_similarity(pose).apply(np.asarray(norm_track, np.float32))


def posed_points(pose: torch.Tensor, points: torch.Tensor | None = None) -> torch.Tensor:
    """Differentiable: (..., 4) poses applied to (N, 2) normalised points (the mean face by default)
    -> (..., N, 2). The training loss compares poses through where they put the face."""
    import torch  # training only: inference moves faces with apply_pose

    if points is None:
        points = torch.tensor(MEAN_SHAPE, dtype=pose.dtype, device=pose.device)
    scale = pose[..., 0].exp()[..., None]
    c, s = pose[..., 1].cos()[..., None], pose[..., 1].sin()[..., None]
    x, y = points[:, 0], points[:, 1]
    return torch.stack([scale * (c * x - s * y) + pose[..., 2:3], scale * (s * x + c * y) + pose[..., 3:4]], -1)
