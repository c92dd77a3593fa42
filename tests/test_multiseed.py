"""research.multiseed (bench/research): one config, several training seeds, localize once, evaluate each mode."""

import numpy as np
import pytest

from wsal.annotations import load_ground_truth
from wsal.config import ExperimentConfig, config_from_dict
from wsal.eval.detection import detection_map
from wsal.eval.io import load_predictions
from research.multiseed import RawScorer, evaluate_raw, run_seed, seed_folders, summarize
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


def test_raw_scorer_gives_what_evaluate_raw_gives(tiny, tmp_path):
    """The in-memory scorer of a grid search and the file route agree exactly, setting by setting."""
    out, store, gt, config = tiny
    run_seed(config, store, gt, tmp_path / "runs", 0, TIOU, modes=("threshold",), device="cpu")
    raw, truth = tmp_path / "runs" / "seed_0" / "raw.h5", load_ground_truth(gt).subset("test")
    scorer = RawScorer(raw, truth, 0, "wsal", TIOU)
    settings = [[], ["localize.nms=hard"], ["localize.nms=soft", "localize.extend_ratio=0.3"],
                ["localize.signal=cas", "localize.act_thresholds=[0.01, 0.02]", "localize.class_threshold=0.2"]]  # fmt: skip
    counts = set()
    for overrides in settings:
        via_file = evaluate_raw(raw, truth, tmp_path / "pred.json", overrides, 0, "wsal", TIOU)
        in_memory = scorer(overrides)
        np.testing.assert_array_equal(in_memory.mAP, via_file.mAP)
        assert (in_memory.average_mAP, in_memory.num_predictions) == (via_file.average_mAP, via_file.num_predictions)
        counts.add(in_memory.num_predictions)
    assert len(counts) > 1 and min(counts) > 0  # the settings differ: a scorer ignoring them would fail
