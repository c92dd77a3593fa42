"""wsal.eval.classification: non-interpolated AP, checked by hand and against scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from wsal.annotations import load_ground_truth
from wsal.errors import WsalError
from wsal.eval.classification import average_precision, classification_map, multi_hot_labels


def test_hand_values():
    assert average_precision(np.array([1, 1, 0]), np.array([0.9, 0.8, 0.1])) == 1.0
    assert average_precision(np.array([0, 0, 1]), np.array([0.9, 0.8, 0.1])) == pytest.approx(1 / 3)
    # ranks N P N P: precision at the positives 1/2 and 2/4
    assert average_precision(np.array([0, 1, 0, 1]), np.array([4, 3, 2, 1])) == pytest.approx(0.5)
    assert np.isnan(average_precision(np.array([0, 0]), np.array([0.1, 0.2])))


def test_ties_do_not_depend_on_order():
    scores = np.array([0.5, 0.5, 0.5, 0.1])
    a = average_precision(np.array([1, 0, 0, 1]), scores)
    b = average_precision(np.array([0, 0, 1, 1]), scores)
    assert a == b == pytest.approx(0.5 * (1 / 3) + 0.5 * 0.5)


def test_matches_sklearn_on_random_cases():
    rng = np.random.default_rng(3)
    for _ in range(200):
        v, c = int(rng.integers(2, 40)), int(rng.integers(1, 6))
        labels = (rng.random((v, c)) < 0.3).astype(int)
        scores = np.round(rng.random((v, c)), int(rng.integers(1, 4)))  # coarse: ties
        mean, per_class = classification_map(labels, scores) if labels.any() else (None, None)
        if per_class is None:
            continue
        for k in range(c):
            if labels[:, k].any():
                assert per_class[k] == pytest.approx(average_precision_score(labels[:, k], scores[:, k]), abs=1e-12)
            else:
                assert np.isnan(per_class[k])
        assert mean == pytest.approx(np.nanmean(per_class))


@pytest.mark.parametrize(
    "labels, scores, message",
    [
        (np.zeros((3, 2)), np.zeros((3, 3)), "must both be"),
        (np.full((2, 2), 2), np.zeros((2, 2)), "0 or 1"),
        (np.eye(2), np.array([[np.nan, 0], [0, 1]]), "1 non-finite"),
        (np.zeros((2, 2)), np.zeros((2, 2)), "no class has a positive"),
    ],
)
def test_bad_input(labels, scores, message):
    with pytest.raises(WsalError, match=message):
        classification_map(labels, scores)


def test_multi_hot_from_real_ground_truth(shared_data):
    gt = load_ground_truth(shared_data / "thumos14/derived/thumos14_official_gt.json").subset("test")
    labels = multi_hot_labels(gt)
    assert labels.shape == (len(gt.videos), 20)
    row = gt.video_ids().index("video_test_0000004")
    assert [gt.classes[i] for i in np.flatnonzero(labels[row])] == ["CricketBowling", "CricketShot"]
    assert labels[gt.video_ids().index("video_test_0001292")].sum() == 0  # only Ambiguous there
    # scores equal to the labels are a perfect ranking (classes with positives only)
    mean, per_class = classification_map(labels, labels.astype(float))
    assert mean == 1.0 and np.all(per_class[~np.isnan(per_class)] == 1.0)
    with pytest.raises(WsalError, match="no video 'nope'"):
        multi_hot_labels(gt, ["nope"])
