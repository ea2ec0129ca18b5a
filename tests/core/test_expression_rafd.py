"""The expression layer on RaFD's landmarks (../shared/data/expr): the Face++ -> iBUG mapping against talkface's
own dlib detector on the one published image, the neutral -> expression pairs, the held-out evaluation.
Skipped when the data is absent."""
from __future__ import annotations

import numpy as np
import pytest

from talkface.expression import EXPRESSIONS
from talkface.expression.rafd import load_pairs, mirrored, rafd_root

pytestmark = pytest.mark.integration
SAMPLE = "Rafd090_01_Caucasian_female_angry_frontal.jpg"


@pytest.fixture(scope="module")
def root():
    path = rafd_root()
    if not (path / "landmarks_90.txt").is_file():
        pytest.skip(f"RaFD landmarks not found at {path} (set TALKFACE_RAFD_ROOT)")
    return path


def test_mapping_matches_dlib_on_the_sample_image(root):
    import cv2

    from talkface.expression.facepp import to_ibug68
    from talkface.landmarks.detect import detect_landmarks
    from talkface.landmarks.normalize import to_normalised

    image = cv2.cvtColor(cv2.imread(str(root / SAMPLE)), cv2.COLOR_BGR2RGB)
    line = next(l for l in (root / "landmarks_90.txt").read_text().splitlines() if l.startswith(SAMPLE))
    facepp = np.array([[float(v) for v in p.split("-")] for p in line.split()[2:]])
    dlib_norm, sim = to_normalised(detect_landmarks(image))
    error = np.linalg.norm(sim.apply(to_ibug68(facepp)) - dlib_norm, axis=1)
    assert error[17:].mean() < 0.035 and error.max() < 0.1  # interocular units


def test_pairs_are_aligned_on_the_stable_points(root):
    pairs = load_pairs(root)
    assert len(pairs) == 67 * 3 * 7 and set(pairs.expression) == set(range(1, 8))
    corners = pairs.displacement[:, [36, 39, 42, 45]]
    assert np.abs(corners).mean() < 0.02  # what the expression barely moves, stays
    happy = pairs.displacement[pairs.expression == EXPRESSIONS.index("happy")].mean(0)
    assert happy[48, 1] < -0.1 and happy[54, 1] < -0.1
    twice = mirrored(mirrored(pairs.select(np.arange(len(pairs)) < 20)))
    np.testing.assert_allclose(twice.target, pairs.target[:20], atol=1e-4)


def test_held_out_people_model_beats_both_baselines(root):
    from talkface.expression.evaluate import evaluate_rafd

    result = evaluate_rafd(root=root)
    table = result["per_expression"]
    assert table["all"]["n"] == 15 * 3 * 7
    assert table["all"]["model"] < table["all"]["class_mean"] < table["all"]["no_change"]
    assert set(result["units_agreement"]) == set(EXPRESSIONS[1:])
