"""Training: `wsal train` end to end on tiny synthetic data, run folder contents, exact resume,
standalone checkpoints, user errors, and that the model learns the synthetic training videos."""

from __future__ import annotations

import csv
import hashlib
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from wsal.annotations import load_ground_truth
from wsal.cli import main
from wsal.config import ExperimentConfig, load_config
from wsal.errors import WsalError
from wsal.features.store import FeatureStore
from wsal.inference import run_network_batch
from wsal.model.methods import loss_keys
from wsal.synthetic import make_synthetic_dataset
from wsal.train import load_checkpoint, train

TINY_TOML = """
[data]
num_snippets = 32

[mil]
embed_dim = 16
dropout = 0.3

[train]
max_steps = 8
batch_size = 4
lr = 1e-3
checkpoint_every = 4
log_every = 2
"""


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models run fastest on one thread (and results do not depend on it)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> tuple[Path, Path]:
    out = tmp_path_factory.mktemp("synthetic")
    return make_synthetic_dataset(
        out, seed=0, num_train_videos=12, num_test_videos=4, num_classes=3, feature_dim=16, snippets=(30, 60)
    )


@pytest.fixture
def config_file(tmp_path) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(TINY_TOML)
    return path


def _train_cli(config_file, tiny_data, run, *extra) -> int:
    store, gt = tiny_data
    return main(
        ["train", "--config", str(config_file), "--features", str(store), "--annotations", str(gt), "--out", str(run),
         "--device", "cpu", *extra]
    )


def _log_rows(run: Path) -> list[dict]:
    with (run / "log.csv").open(newline="") as fh:
        return list(csv.DictReader(fh))


def test_train_end_to_end_writes_a_complete_run(tmp_path, config_file, tiny_data, capsys):
    run = tmp_path / "run"
    assert _train_cli(config_file, tiny_data, run) == 0
    assert (run / "model.pt").is_file() and (run / "checkpoints" / "step_4.pt").is_file()
    assert not list(run.rglob("*.tmp"))
    rows = _log_rows(run)
    assert [int(r["step"]) for r in rows] == [2, 4, 6, 8]
    keys = loss_keys(load_config(ExperimentConfig, config_file))
    assert list(rows[0]) == ["step", *keys, "lr", "steps_per_s"] and "loss/mil_base" in keys  # suppression by default
    for r in rows:
        assert all(np.isfinite(float(r[k])) for k in keys)
        assert float(r["lr"]) == pytest.approx(1e-3)
    saved = load_config(ExperimentConfig, run / "config.toml")
    assert saved.data.features == str(tiny_data[0]) and saved.data.annotations == str(tiny_data[1])
    assert saved.train.max_steps == 8 and saved.mil.embed_dim == 16 and saved.train.device == "cpu"

    loaded = load_checkpoint(run / "model.pt")
    assert loaded.step == 8 and loaded.classes == ("Action00", "Action01", "Action02")
    assert loaded.config == saved
    assert loaded.store_meta["feature_dim"] == 16 and loaded.store_meta["fps"] == 25.0
    assert not loaded.model.training
    with FeatureStore(tiny_data[0]) as store:
        feats = store.read(store.video_ids[0]).features
    cas_probs, attention, video_scores = _infer(loaded, feats)
    assert cas_probs.shape == (feats.shape[0], 3) and attention.shape == (feats.shape[0],) and video_scores.shape == (3,)
    captured = capsys.readouterr()
    assert captured.out == ""  # the summary line on stderr says where the model is
    summary = [line for line in captured.err.splitlines() if "final total loss" in line]
    assert len(summary) == 1
    assert re.fullmatch(
        rf"wsal train: trained 8 steps in [0-9.]+s \([0-9.e-]+ s/step\); "
        rf"final total loss {float(rows[-1]['loss/total']):.4f}; model: {re.escape(str(run / 'model.pt'))}",
        summary[0],
    ), summary[0]  # the loss is the last log row's total


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_progress_line_is_short_and_shows_the_total_loss_only(tmp_path, config_file, tiny_data, capsys):
    """The live line: steps, steps/s, ETA and total loss, under 80 characters; the terms go to log.csv."""
    run = tmp_path / "run"
    assert _train_cli(config_file, tiny_data, run) == 0
    progress = [line for line in re.split(r"[\r\n]", capsys.readouterr().err) if "|" in line and "/8" in line]
    assert progress and progress[-1].startswith("wsal train 8/8 |")
    assert max(len(line) for line in progress) < 80
    assert re.search(r"step/s, ETA 00:00, loss [0-9.]+$", progress[-1]), progress[-1]
    rows = _log_rows(run)
    assert progress[-1].endswith(f"loss {float(rows[-1]['loss/total']):.4f}")
    assert not any("mil_base" in line or "loss/" in line for line in progress)
    assert "loss/mil_base" in rows[0] and "loss/total" in rows[0]


@pytest.mark.parametrize("schedule", ["constant", "cosine"])
def test_resuming_a_finished_run_leaves_its_model_byte_identical(tmp_path, config_file, tiny_data, capsys, schedule):
    run = tmp_path / "run"
    assert _train_cli(config_file, tiny_data, run, "--set", f"train.lr_schedule={schedule}") == 0
    before = _sha256(run / "model.pt"), (run / "model.pt").stat().st_mtime_ns
    capsys.readouterr()
    assert main(["train", "--out", str(run), "--resume", "--device", "cpu"]) == 0
    captured = capsys.readouterr()
    longer = {
        "constant": "raise --set train.max_steps=N to train on",
        "cosine": "a cosine schedule ends at train.max_steps: train a new run to train longer",
    }[schedule]
    assert captured.err.strip() == (
        f"wsal train: {run}: already trained 8 of 8 steps; nothing to train ({longer}); model: {run / 'model.pt'} (unchanged)"
    )
    assert captured.out == ""
    assert (_sha256(run / "model.pt"), (run / "model.pt").stat().st_mtime_ns) == before
    assert [r["step"] for r in _log_rows(run)] == ["2", "4", "6", "8"]


def test_a_run_resumed_to_the_step_of_its_checkpoint_is_finished_there(tmp_path, config_file, tiny_data, capsys):
    """A run stopped after checkpoint step_4 and resumed with max_steps 4 gets model.pt from that
    checkpoint; a further resume finds model.pt (not the checkpoint of the same step) and trains nothing."""
    one_go = tmp_path / "one_go"
    assert _train_cli(config_file, tiny_data, one_go) == 0
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "step_4.pt").write_bytes((one_go / "checkpoints" / "step_4.pt").read_bytes())
    (run / "config.toml").write_text((one_go / "config.toml").read_text())
    resume = ["train", "--out", str(run), "--resume", "--device", "cpu", "--set", "train.max_steps=4"]
    capsys.readouterr()
    assert main(resume) == 0
    assert f"trained 0 steps (checkpoint at step 4); model: {run / 'model.pt'}" in capsys.readouterr().err
    assert load_checkpoint(run / "model.pt").step == 4
    before = _sha256(run / "model.pt"), (run / "model.pt").stat().st_mtime_ns
    assert main(resume) == 0
    assert "already trained 4 of 4 steps; nothing to train" in capsys.readouterr().err
    assert (_sha256(run / "model.pt"), (run / "model.pt").stat().st_mtime_ns) == before


def test_resume_continues_exactly(tmp_path, config_file, tiny_data):
    one_go = tmp_path / "one_go"
    split = tmp_path / "split"
    assert _train_cli(config_file, tiny_data, one_go) == 0
    assert _train_cli(config_file, tiny_data, split, "--set", "train.max_steps=4") == 0
    assert load_checkpoint(split / "model.pt").step == 4
    # without --config, --resume reads RUN/config.toml (which has max_steps = 4, hence the --set)
    assert main(["train", "--out", str(split), "--resume", "--set", "train.max_steps=8", "--device", "cpu"]) == 0
    a = torch.load(one_go / "model.pt", weights_only=True)
    b = torch.load(split / "model.pt", weights_only=True)
    assert a["step"] == b["step"] == 8
    for key, tensor in a["model"].items():
        torch.testing.assert_close(b["model"][key], tensor, atol=1e-6, rtol=0)
    rows_a, rows_b = _log_rows(one_go), _log_rows(split)
    assert [r["step"] for r in rows_b] == ["2", "4", "6", "8"]
    for ra, rb in zip(rows_a, rows_b):
        for key in loss_keys(load_config(ExperimentConfig, config_file)):
            assert float(ra[key]) == pytest.approx(float(rb[key]), abs=1e-6)
    # a resume from the mid-run checkpoint of a killed run gives the same weights too
    killed = tmp_path / "killed"
    (killed / "checkpoints").mkdir(parents=True)
    (killed / "checkpoints" / "step_4.pt").write_bytes((one_go / "checkpoints" / "step_4.pt").read_bytes())
    # the killed run had logged up to step 8 before dying: rows after the checkpoint are replaced
    (killed / "log.csv").write_text((one_go / "log.csv").read_text())
    train(load_config(ExperimentConfig, config_file), tiny_data[0], tiny_data[1], killed, resume=True, device="cpu")
    c = torch.load(killed / "model.pt", weights_only=True)
    for key, tensor in a["model"].items():
        torch.testing.assert_close(c["model"][key], tensor, atol=1e-6, rtol=0)
    assert [r["step"] for r in _log_rows(killed)] == ["2", "4", "6", "8"]


def test_preloaded_and_store_read_training_give_the_same_weights(tmp_path, config_file, tiny_data, capsys):
    runs = {}
    for preload in ("auto", "never"):
        run = tmp_path / preload
        assert _train_cli(config_file, tiny_data, run, "--set", f"data.preload={preload}") == 0
        runs[preload] = torch.load(run / "model.pt", weights_only=True)["model"]
        err = capsys.readouterr().err
        assert ("preloaded to cpu" in err) == (preload == "auto")
    for key, tensor in runs["never"].items():
        torch.testing.assert_close(runs["auto"][key], tensor, atol=1e-6, rtol=0)


def test_grouping_by_length_changes_the_plan_only(tmp_path, config_file, tiny_data, monkeypatch):
    """Grouping by length (wsal.data.GROUP_BATCHES) is another batch order: other weights."""
    a, b = tmp_path / "grouped", tmp_path / "random"
    longer = ("--set", "data.num_snippets=64")  # videos of 30-60 snippets: lengths differ
    monkeypatch.setattr("wsal.train.GROUP_BATCHES", 3)
    assert _train_cli(config_file, tiny_data, a, *longer) == 0
    monkeypatch.setattr("wsal.train.GROUP_BATCHES", 0)
    assert _train_cli(config_file, tiny_data, b, *longer) == 0
    wa = torch.load(a / "model.pt", weights_only=True)["model"]
    wb = torch.load(b / "model.pt", weights_only=True)["model"]
    assert any(not torch.equal(wa[k], wb[k]) for k in wa)


def _as_written_by_an_older_version(run: Path, section: str, keys: tuple[str, ...]) -> None:
    """Remove config keys that older versions did not have from RUN/model.pt and RUN/config.toml."""
    ckpt = torch.load(run / "model.pt", weights_only=True)
    for key in keys:
        del ckpt["config"][section][key]
    torch.save(ckpt, run / "model.pt")
    toml = run / "config.toml"
    toml.write_text("".join(line for line in toml.read_text().splitlines(True) if not line.startswith(keys)))


def _resumes_only_with(run: Path, capsys, refusal: str, override: str) -> None:
    """A resume of RUN to step 6 is refused with ``refusal`` until ``--set override`` restores what the run did."""
    capsys.readouterr()
    resume = ["train", "--out", str(run), "--resume", "--set", "train.max_steps=6", "--device", "cpu"]
    assert main(resume) == 2
    assert refusal in capsys.readouterr().err
    assert main(resume + ["--set", override]) == 0
    assert load_checkpoint(run / "model.pt").step == 6


def test_a_run_from_before_length_grouping_resumes_with_grouping(tmp_path, config_file, tiny_data, capsys, monkeypatch):
    """Checkpoints of older versions lack data.group_batches (they ran with random batches): they
    resume from the step they reached with this wsal's batch order."""
    run = tmp_path / "old"
    monkeypatch.setattr("wsal.train.GROUP_BATCHES", 0)
    assert _train_cli(config_file, tiny_data, run, "--set", "train.max_steps=4") == 0
    monkeypatch.undo()
    _as_written_by_an_older_version(run, "data", ("preload",))
    capsys.readouterr()
    assert main(["train", "--out", str(run), "--resume", "--set", "train.max_steps=6", "--device", "cpu"]) == 0
    assert load_checkpoint(run / "model.pt").step == 6
    assert [r["step"] for r in _log_rows(run)][-1] == "6"


def test_a_retired_training_setting_at_another_value_loads_but_does_not_resume(tmp_path, config_file, tiny_data, capsys):
    """A loss weight that is gone shaped training, not the network: the model loads and localizes
    as trained; its training cannot continue. A retired setting of the outputs refuses both."""
    run = tmp_path / "guided"
    assert _train_cli(config_file, tiny_data, run, "--set", "train.max_steps=4") == 0
    ckpt = torch.load(run / "model.pt", weights_only=True)
    ckpt["config"]["mil"]["weight_guide"] = 1.0
    torch.save(ckpt, run / "model.pt")
    toml = (run / "config.toml").read_text().replace("[mil]\n", "[mil]\nweight_guide = 1.0\n", 1)
    (run / "config.toml").write_text(toml)
    loaded = load_checkpoint(run / "model.pt")
    assert loaded.step == 4 and not hasattr(loaded.config.mil, "weight_guide")
    capsys.readouterr()
    assert main(["train", "--out", str(run), "--resume", "--set", "train.max_steps=6", "--device", "cpu"]) == 2
    assert "mil.weight_guide = 1.0 is no longer supported (this wsal always uses 0.0)" in capsys.readouterr().err
    ckpt["config"]["changepoint"]["pool_level"] = -1
    torch.save(ckpt, run / "model.pt")
    with pytest.raises(WsalError, match=r"changepoint.pool_level = -1 is no longer supported \(this wsal always uses 0\)"):
        load_checkpoint(run / "model.pt")


def test_run_folder_and_resume_errors(tmp_path, config_file, tiny_data, capsys):
    run = tmp_path / "run"
    assert _train_cli(config_file, tiny_data, run, "--set", "train.max_steps=2") == 0
    capsys.readouterr()
    assert _train_cli(config_file, tiny_data, run) == 2
    err = capsys.readouterr().err
    assert "already holds a run" in err and err.count("\n") == 1
    assert _train_cli(config_file, tiny_data, run, "--resume", "--set", "mil.embed_dim=8") == 2
    assert "config mil.embed_dim was 16, now 8" in capsys.readouterr().err
    assert _train_cli(config_file, tiny_data, tmp_path / "fresh", "--resume") == 2
    assert "--resume given but there is no run here" in capsys.readouterr().err


def test_missing_inputs_are_one_line_errors(tmp_path, config_file, tiny_data, capsys):
    assert main(["train", "--config", str(config_file), "--out", str(tmp_path / "r")]) == 2
    assert "no feature store" in capsys.readouterr().err
    assert main(["train", "--features", str(tmp_path / "none.h5"), "--annotations", str(tiny_data[1]), "--out", str(tmp_path / "r")]) == 2
    assert "none.h5: feature store not found" in capsys.readouterr().err
    assert _train_cli(config_file, tiny_data, tmp_path / "r2", "--set", "data.train_subset=training") == 2
    assert "no subset 'training'" in capsys.readouterr().err


def test_load_checkpoint_rejects_bad_files(tmp_path):
    with pytest.raises(WsalError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "nope.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint at all")
    with pytest.raises(WsalError, match="junk.pt: not a readable wsal checkpoint") as info:
        load_checkpoint(junk)
    assert "\n" not in str(info.value)
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {}}, foreign)
    with pytest.raises(WsalError, match="not a wsal checkpoint"):
        load_checkpoint(foreign)


def test_help_shows_the_default_device(capsys):
    assert main(["train", "--help"]) == 0
    out = capsys.readouterr().out
    assert "default 'auto'" in out and "--resume" in out


def test_learns_the_synthetic_training_videos(tmp_path):
    """Checked on the training ("validation") subset only: video labels and where actions are."""
    store, gt_path = make_synthetic_dataset(
        tmp_path / "data", seed=0, num_train_videos=24, num_test_videos=1, num_classes=3, feature_dim=64, snippets=(40, 80)
    )
    config = load_config(
        ExperimentConfig,
        None,
        ["data.num_snippets=64", "mil.embed_dim=32", "train.max_steps=300", "train.batch_size=8", "train.lr=1e-3",
         "train.checkpoint_every=1000", "train.log_every=50"],
    )
    loaded = load_checkpoint(train(config, store, gt_path, tmp_path / "run", device="cpu"))
    gt = load_ground_truth(gt_path).subset("validation")
    correct = 0
    fg_attention, bg_attention = [], []
    with FeatureStore(store) as features:
        for vid, v in gt.videos.items():
            feats = features.read(vid).features
            _, attention, video_scores = _infer(loaded, feats)
            correct += int(loaded.classes[int(np.argmax(video_scores))] in v.labels)
            inside = np.zeros(feats.shape[0], dtype=bool)
            for start_s, end_s in v.segments_s:  # synthetic segments sit on snippet boundaries
                inside[int(round(start_s / 0.64)) : int(round(end_s / 0.64))] = True
            fg_attention.append(attention[inside].mean())
            bg_attention.append(attention[~inside].mean())
    assert correct >= 22  # of 24 training videos, the top class is one of the video's labels
    assert np.mean(fg_attention) > np.mean(bg_attention) + 0.15


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_mixed_precision_run(tmp_path, config_file, tiny_data):
    run = tmp_path / "cuda_run"
    assert _train_cli(config_file, tiny_data, run, "--device", "cuda") == 0
    loaded = load_checkpoint(run / "model.pt", device="cuda")
    assert next(loaded.model.parameters()).device.type == "cuda"
    rows = _log_rows(run)
    assert all(np.isfinite(float(r["loss/total"])) for r in rows)
    full = tmp_path / "cuda_fp32"  # autocast off: float32 throughout, still finite
    assert _train_cli(config_file, tiny_data, full, "--device", "cuda", "--set", "train.mixed_precision=false") == 0
    assert all(np.isfinite(float(r["loss/total"])) for r in _log_rows(full))


def test_a_run_from_before_suppression_loads_and_resumes_as_it_was_trained(tmp_path, config_file, tiny_data, capsys):
    """Checkpoints of older versions lack mil.suppression: their model had none."""
    run = tmp_path / "old"
    assert _train_cli(config_file, tiny_data, run, "--set", "train.max_steps=4", "--set", "mil.suppression=false") == 0
    _as_written_by_an_older_version(run, "mil", ("suppression", "method"))
    loaded = load_checkpoint(run / "model.pt")
    assert loaded.config.mil.suppression is False and loaded.config.mil.method == "wsal"
    with FeatureStore(tiny_data[0]) as store:
        feats = store.read(store.video_ids[0]).features
    cas_probs, _, _ = _infer(loaded, feats)
    assert cas_probs.shape == (feats.shape[0], 3)
    _resumes_only_with(run, capsys, "cannot resume: config mil.suppression was False, now True", "mil.suppression=false")


def test_learning_rate_schedules():
    from wsal.config import TrainConfig
    from wsal.train import learning_rate

    constant = TrainConfig(max_steps=100, lr=1e-3)
    assert {learning_rate(constant, s) for s in range(1, 101)} == {1e-3}
    cosine = TrainConfig(max_steps=100, lr=1e-3, lr_schedule="cosine")
    values = [learning_rate(cosine, s) for s in range(1, 101)]
    assert values[0] == 1e-3  # the first step runs at the full rate
    assert all(a > b for a, b in zip(values, values[1:])) and 0 < values[-1] < 1e-6
    assert learning_rate(cosine, 51) == pytest.approx(0.5e-3)  # half-way through the 100 decay steps


def test_cosine_schedule_is_logged_and_resumes_exactly(tmp_path, config_file, tiny_data, capsys):
    cosine = ("--set", "train.lr_schedule=cosine")
    one_go, split = tmp_path / "one_go", tmp_path / "split"
    assert _train_cli(config_file, tiny_data, one_go, *cosine) == 0
    lrs = [float(r["lr"]) for r in _log_rows(one_go)]  # lr of the last step of each 2-step row
    assert lrs[0] == pytest.approx(0.5e-3 * (1 + math.cos(math.pi / 8)))  # step 2 of 8
    assert lrs == sorted(lrs, reverse=True) and lrs[-1] < 1e-4
    # a killed run resumed from its mid-run checkpoint follows the same schedule: the same weights
    (split / "checkpoints").mkdir(parents=True)
    (split / "checkpoints" / "step_4.pt").write_bytes((one_go / "checkpoints" / "step_4.pt").read_bytes())
    (split / "config.toml").write_bytes((one_go / "config.toml").read_bytes())
    assert main(["train", "--out", str(split), "--resume", "--device", "cpu"]) == 0
    a = torch.load(one_go / "model.pt", weights_only=True)["model"]
    b = torch.load(split / "model.pt", weights_only=True)["model"]
    for key, tensor in a.items():
        torch.testing.assert_close(b[key], tensor, atol=1e-6, rtol=0)
    # the decay ends at max_steps: a cosine run cannot be stretched on resume, a constant one can
    capsys.readouterr()
    assert main(["train", "--out", str(split), "--resume", "--set", "train.max_steps=12", "--device", "cpu"]) == 2
    err = capsys.readouterr().err.strip()
    assert "cannot resume: train.max_steps was 8, now 12, and the cosine learning-rate schedule ends at max_steps" in err
    assert len(err.splitlines()) == 1


def test_a_run_from_before_learning_rate_schedules_resumes_with_a_constant_rate(tmp_path, config_file, tiny_data, capsys):
    """Checkpoints of older versions lack train.lr_schedule: their rate was constant."""
    run = tmp_path / "old"
    assert _train_cli(config_file, tiny_data, run, "--set", "train.max_steps=4") == 0
    _as_written_by_an_older_version(run, "train", ("lr_schedule",))
    assert load_checkpoint(run / "model.pt").config.train.lr_schedule == "constant"
    capsys.readouterr()
    resume = ["train", "--out", str(run), "--resume", "--set", "train.max_steps=6", "--device", "cpu"]
    assert main([*resume, "--set", "train.lr_schedule=cosine"]) == 2
    assert "cannot resume: config train.lr_schedule was 'constant', now 'cosine'" in capsys.readouterr().err
    assert main(resume) == 0 and load_checkpoint(run / "model.pt").step == 6


def test_a_run_stopped_before_its_first_checkpoint_starts_again_on_resume(tmp_path, config_file, tiny_data, capsys):
    one_go, stopped = tmp_path / "one_go", tmp_path / "stopped"
    assert _train_cli(config_file, tiny_data, one_go) == 0
    stopped.mkdir()  # what a kill before the first checkpoint leaves: config.toml and a partial log
    (stopped / "config.toml").write_bytes((one_go / "config.toml").read_bytes())
    (stopped / "log.csv").write_text("\n".join((one_go / "log.csv").read_text().splitlines()[:2]) + "\n")
    capsys.readouterr()
    assert _train_cli(config_file, tiny_data, stopped) == 2
    assert "already holds a run; pass --resume" in capsys.readouterr().err
    assert main(["train", "--out", str(stopped), "--resume", "--device", "cpu"]) == 0
    assert "has no checkpoint yet (stopped before the first): training from step 0" in capsys.readouterr().err
    a = torch.load(one_go / "model.pt", weights_only=True)["model"]
    b = torch.load(stopped / "model.pt", weights_only=True)["model"]
    for key, tensor in a.items():
        torch.testing.assert_close(b[key], tensor, atol=1e-6, rtol=0)
    assert [r["step"] for r in _log_rows(stopped)] == ["2", "4", "6", "8"]
    assert main(["train", "--out", str(tmp_path / "new"), "--resume", "--device", "cpu"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith("--resume given but there is no run here (no checkpoint, no config.toml)") and len(err.splitlines()) == 1


def test_checkpoints_by_time_as_well_as_by_steps(tmp_path, config_file, tiny_data, monkeypatch):
    none = tmp_path / "none"  # 8 steps take seconds: no checkpoint by time or by steps
    assert _train_cli(config_file, tiny_data, none, "--set", "train.checkpoint_every=1000") == 0
    assert not (none / "checkpoints").exists() or not any((none / "checkpoints").iterdir())
    monkeypatch.setattr("wsal.train.CHECKPOINT_MINUTES", 1e-9)  # every step is "minutes later"
    run = tmp_path / "run"
    assert _train_cli(config_file, tiny_data, run, "--set", "train.checkpoint_every=1000") == 0
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == [f"step_{s}.pt" for s in range(1, 8)]


def test_a_non_finite_loss_stops_training_with_one_line(tmp_path, config_file, tiny_data, capsys):
    run = tmp_path / "run"
    # a learning rate of 1e30 blows the weights up within a few steps
    assert _train_cli(config_file, tiny_data, run, "--set", "train.lr=1e30", "--set", "train.checkpoint_every=2") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("wsal train: error: ") and "non-finite loss in steps" in err[-1]
    # the first update already diverges: nothing good was saved, and nothing is
    assert "non-finite loss in steps 1-2" in err[-1] and "last good checkpoint: none" in err[-1] and "lower train.lr" in err[-1]
    assert not (run / "model.pt").exists() and not list(run.glob("checkpoints/*.pt"))
    for bad in ("train.lr=nan", "train.lr=0", "train.max_steps=0"):
        assert _train_cli(config_file, tiny_data, tmp_path / "bad", "--set", bad) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("wsal train: error: train.") and len(err.splitlines()) == 1


def test_a_loss_that_turns_nan_names_the_last_good_checkpoint(tmp_path, config_file, tiny_data, monkeypatch):
    import wsal.train as train_module

    calls = {"n": 0}
    real = train_module.model_losses

    def nan_from_step_5(*args, **kwargs):
        calls["n"] += 1
        losses = real(*args, **kwargs)
        if calls["n"] >= 5:
            losses = {k: v * float("nan") for k, v in losses.items()}
        return losses

    monkeypatch.setattr(train_module, "model_losses", nan_from_step_5)
    run = tmp_path / "run"
    with pytest.raises(WsalError) as err:
        train(load_config(ExperimentConfig, config_file, ["train.checkpoint_every=2"]), *tiny_data, run, device="cpu")
    message = str(err.value)
    assert "non-finite loss in steps 5-6" in message and f"last good checkpoint: {run / 'checkpoints' / 'step_4.pt'}" in message
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step_2.pt", "step_4.pt"]  # step 6 not saved
    assert not (run / "model.pt").exists()


def test_a_second_training_into_the_same_run_is_refused(tmp_path, config_file, tiny_data, capsys):
    from wsal.locks import folder_lock

    run = tmp_path / "run"
    with folder_lock(run, "training run"):  # what a running `wsal train --out RUN` holds
        assert _train_cli(config_file, tiny_data, run) == 2
        err = capsys.readouterr().err.strip()
        assert "another process is writing this training run (pid " in err and len(err.splitlines()) == 1
        assert not (run / "log.csv").exists()
    assert _train_cli(config_file, tiny_data, run) == 0  # released: the run trains


def test_skip_missing_flag(tmp_path, config_file, tiny_data, capsys):
    gt = json.loads(Path(tiny_data[1]).read_text())
    gt["database"]["v_not_extracted"] = {"subset": "validation", "duration": 5.0,
                                         "annotations": [{"segment": [1.0, 2.0], "label": gt_label(gt)}]}  # fmt: skip
    more = tmp_path / "gt.json"
    more.write_text(json.dumps(gt))
    data = (tiny_data[0], more)
    assert _train_cli(config_file, data, tmp_path / "a") == 2
    assert "pass --skip-missing (data.skip_missing = true) to train without them" in capsys.readouterr().err
    assert _train_cli(config_file, data, tmp_path / "b", "--skip-missing") == 0
    assert "skipping 1 'validation' videos not in" in capsys.readouterr().err


def gt_label(gt: dict) -> str:
    return next(a["label"] for v in gt["database"].values() for a in v["annotations"])


def _infer(loaded, feats):
    """One whole video through the production inference path (wsal.inference)."""
    video = run_network_batch(loaded.model, [feats], loaded.config, torch.device("cpu"), ["v"], [None])[0]
    return video.cas_probs, video.attention, video.video_scores


def test_a_run_with_retired_keys_loads_and_resumes_at_their_fixed_values(tmp_path, config_file, tiny_data, capsys):
    """Settings that became constants stay in older checkpoints and config.toml files: at the fixed
    value they load and resume; another value is one line naming the key."""
    from wsal.config import RETIRED_KEYS

    run = tmp_path / "old"
    assert _train_cli(config_file, tiny_data, run, "--set", "train.max_steps=4") == 0
    ckpt = torch.load(run / "model.pt", weights_only=True)
    toml = (run / "config.toml").read_text()
    for dotted, value in RETIRED_KEYS.items():
        section, key = dotted.split(".")
        ckpt["config"][section][key] = value
        literal = json.dumps(value)  # a TOML literal for every retired value (bool, number, string, list)
        toml = toml.replace(f"[{section}]\n", f"[{section}]\n{key} = {literal}\n", 1)
    torch.save(ckpt, run / "model.pt")
    (run / "config.toml").write_text(toml)
    # its log.csv had a loss term this wsal no longer computes
    rows = list(csv.reader((run / "log.csv").open(newline="")))
    at = rows[0].index("loss/changepoint")
    rows = [row[:at] + (["loss/cp_consistency"] if i == 0 else ["0"]) + row[at:] for i, row in enumerate(rows)]
    with (run / "log.csv").open("w", newline="") as f:
        csv.writer(f).writerows(rows)
    assert load_checkpoint(run / "model.pt").step == 4
    capsys.readouterr()
    assert main(["train", "--out", str(run), "--resume", "--set", "train.max_steps=6", "--device", "cpu"]) == 0
    assert load_checkpoint(run / "model.pt").step == 6
    log = list(csv.DictReader((run / "log.csv").open(newline="")))
    assert [row["step"] for row in log][-1] == "6" and all(None not in row for row in log)  # no row longer than the header
    assert log[-1]["loss/cp_consistency"] == "" and float(log[-1]["loss/total"]) > 0  # columns stay aligned

    ckpt = torch.load(run / "model.pt", weights_only=True)
    ckpt["config"]["localize"]["soft_nms_sigma"] = 0.5
    torch.save(ckpt, run / "model.pt")
    with pytest.raises(WsalError, match=r"localize.soft_nms_sigma = 0.5 is no longer supported \(this wsal always uses 0.3\)"):
        load_checkpoint(run / "model.pt")
    # a user's config naming one is an unknown key, like any other
    (tmp_path / "mine.toml").write_text("[mil]\ncontext_label = \"background\"\n")
    assert main(["train", "--config", str(tmp_path / "mine.toml"), "--out", str(tmp_path / "new")]) == 2
    assert "unknown key 'context_label'" in capsys.readouterr().err
