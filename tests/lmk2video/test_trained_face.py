"""The trained-face check describes a face once: a batch renders one photo for many recordings."""
from __future__ import annotations

import numpy as np

from lmk2video import trained_face


class CountingDescriber:
    def __init__(self):
        self.calls = 0

    def describe(self, crop, landmarks):
        self.calls += 1
        return np.full(128, crop.mean() + landmarks.sum(), np.float32)


def test_a_face_is_described_once_and_its_descriptor_kept(monkeypatch):
    net = CountingDescriber()
    monkeypatch.setattr(trained_face, "_describer", lambda: net)
    monkeypatch.setattr(trained_face, "_described", trained_face.OrderedDict())
    crop, landmarks = np.full((64, 64, 3), 7, np.uint8), np.arange(136, dtype=np.float32).reshape(68, 2)
    first = trained_face.describe(crop, landmarks)
    first[:] = 0  # the caller's copy: the kept descriptor is not changed
    again = trained_face.describe(crop.copy(), landmarks.copy())
    assert net.calls == 1 and again[0] == 7 + landmarks.sum()
    other = trained_face.describe(crop, landmarks + 1)  # another face (or the same at other landmarks) is described
    assert net.calls == 2 and other[0] == 7 + landmarks.sum() + 136
    for shift in range(trained_face.KEEP):  # only the last KEEP faces are kept
        trained_face.describe(crop, landmarks + 2 + shift)
    trained_face.describe(crop, landmarks)
    assert net.calls == 3 + trained_face.KEEP
