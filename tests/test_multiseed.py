"""research.multiseed (bench/research): one config, several training seeds, localize once, evaluate each mode."""

import numpy as np
import pytest

from wsal.annotations import load_ground_truth
from wsal.config import ExperimentConfig, config_from_dict
from wsal.eval.detection import detection_map
from wsal.eval.io import load_predictions
from research.multiseed import run_seed, seed_folders, summarize
from wsal.synthetic import make_synthetic_dataset

TIOU = (0.3, 0.5)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("multiseed")
    store, gt = make_synthetic_dataset(out / "data", seed=0, num_train_videos=6, num_test_videos=4, feature_dim=16, snippets=(30, 60))
    config = config_from_dict(
        ExperimentConfig,
        {"data": {"num_snippets": 32}, "mil": {"embed_dim": 8},
         "train": {"max_steps": 3, "batch_size": 2, "checkpoint_every": 3, "log_every": 1, "device": "cpu"}},
    )  # fmt: skip
    return out, store, gt, config


def test_each_seed_is_trained_localized_and_evaluated(tiny):
    out, store, gt, config = tiny
    results = []
    for seed in (0, 1):
        results += run_seed(config, store, gt, out / "runs", seed, TIOU, modes=("threshold",), device="cpu")
    assert [(r.seed, r.mode) for r in results] == [(0, "threshold"), (1, "threshold")]
    truth = load_ground_truth(gt).subset("test")
    for r in results:
        assert (out / "runs" / f"seed_{r.seed}" / "model.pt").is_file()
        direct = detection_map(truth, load_predictions(out / "runs" / f"seed_{r.seed}" / "pred_threshold.json"), TIOU)
        np.testing.assert_allclose(r.mAP, direct.mAP)
        assert r.average_mAP == pytest.approx(direct.average_mAP) and r.num_predictions == direct.num_predictions
    (summary,) = summarize(results)
    np.testing.assert_allclose(summary.mean, (results[0].mAP + results[1].mAP) / 2)
    np.testing.assert_allclose(summary.std, np.abs(results[0].mAP - results[1].mAP) / np.sqrt(2))
    again = run_seed(config, store, gt, out / "again", 0, TIOU, modes=("threshold",), device="cpu")
    np.testing.assert_array_equal(again[0].mAP, results[0].mAP)  # training is deterministic on CPU


def test_seed_folders_combine_separate_runs_and_need_the_raw_file(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for folder, seed in ((a, 0), (a, 1), (b, 1), (b, 2)):
        (folder / f"seed_{seed}").mkdir(parents=True)
        (folder / f"seed_{seed}" / "raw.h5").write_bytes(b"")
    (a / "seed_3").mkdir()  # no raw file: not a finished seed
    (b / "seed_2" / "raw_heldout.h5").write_bytes(b"")
    assert seed_folders([a, b], "raw.h5") == {0: a, 1: b, 2: b}  # the later folder wins seed 1
    assert seed_folders([a, b], "raw_heldout.h5") == {2: b}
    assert seed_folders([a], "raw_missing.h5") == {}
