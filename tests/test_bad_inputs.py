"""Bad inputs across commands, table-driven: every case ends with exit 2 and exactly one
``wsal COMMAND: error:`` line on stderr (no warning, progress bar or traceback), and nothing is written
where it should not be.

``{out}`` in a case is an output path under a regular file (it cannot be created, as a path on a
read-only mount cannot: root ignores folder permissions, so tests use this form); ``{store}``,
``{gt}``, ``{ckpt}``, ``{pred}``, ``{raw}`` are a tiny trained run's files (``{run}`` its folder,
``{run_copy}`` a copy); ``{tmp}`` a fresh folder holding the small bad files the other names point to.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wsal.cli import main
from wsal.synthetic import make_synthetic_dataset

TRAIN = ["--set", "train.max_steps=2", "--set", "train.batch_size=2", "--set", "mil.embed_dim=8",
         "--set", "data.num_snippets=32", "--set", "train.log_every=1", "--device", "cpu"]  # fmt: skip


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("bad_inputs")
    store, gt = make_synthetic_dataset(root / "data", seed=0, num_train_videos=4, num_test_videos=2, num_classes=2,
                                       feature_dim=8, snippets=(20, 40))  # fmt: skip
    assert main(["train", "--features", str(store), "--annotations", str(gt), "--out", str(root / "run"), *TRAIN]) == 0
    ckpt, pred, raw = root / "run" / "model.pt", root / "pred.json", root / "raw.h5"
    assert main(["localize", "--checkpoint", str(ckpt), "--features", str(store), "--annotations", str(gt),
                 "--subset", "test", "--out", str(pred), "--save-raw", str(raw), "--device", "cpu"]) == 0  # fmt: skip
    blocker = root / "a_file"
    blocker.write_text("not a folder")
    return {"store": str(store), "gt": str(gt), "ckpt": str(ckpt), "pred": str(pred), "raw": str(raw),
            "out": str(blocker / "sub" / "out"), "root": str(root)}  # fmt: skip


def _json_file(folder: Path, name: str, text: str) -> str:
    path = folder / name
    path.write_text(text)
    return str(path)


CASES: list[tuple[str, list[str], str]] = [
    # outputs that cannot be written: refused before any work, one line
    ("evaluate --json", ["evaluate", "--ground-truth", "{gt}", "--predictions", "{pred}", "--subset", "test", "--json", "{out}.json"],
     "cannot write the JSON summary here"),
    ("evaluate --report", ["evaluate", "--ground-truth", "{gt}", "--predictions", "{pred}", "--subset", "test", "--report", "{out}"],
     "cannot write the report folder here"),
    ("localize --out", ["localize", "--checkpoint", "{ckpt}", "--features", "{store}", "--annotations", "{gt}", "--subset", "test",
                        "--out", "{out}.json", "--device", "cpu"], "cannot write the detections here"),
    ("localize --save-raw", ["localize", "--checkpoint", "{ckpt}", "--features", "{store}", "--annotations", "{gt}", "--subset",
                             "test", "--out", "{tmp}/p.json", "--save-raw", "{out}.h5", "--device", "cpu"], "cannot write the raw outputs here"),
    ("localize --from-raw --out", ["localize", "--from-raw", "{raw}", "--out", "{out}.json"], "cannot write the detections here"),
    ("train --out", ["train", "--features", "{store}", "--annotations", "{gt}", "--out", "{out}", *TRAIN], "cannot write the run folder here"),
    ("import-features --out", ["import-features", "--layout", "basnet", "{tmp}", "--out", "{out}.h5"], "cannot write the feature store here"),
    ("merge-stores --out", ["merge-stores", "{store}", "--out", "{out}.h5"], "cannot write the feature store here"),
    ("demo --out", ["demo", "--out", "{out}", "--steps", "1"], "cannot write the demo folder here"),
    ("annotations --out", ["annotations", "--format", "activitynet", "{tmp}/anet.json", "--out", "{out}.json"], "cannot write"),
    # configuration values that make no sense
    ("train lr nan", ["train", "--features", "{store}", "--annotations", "{gt}", "--out", "{tmp}/r", *TRAIN, "--set", "train.lr=nan"],
     "train.lr must be finite and > 0"),
    ("train --resume on nothing", ["train", "--out", "{tmp}/nothing", "--resume", "--device", "cpu"], "there is no run here"),
    ("localize class_threshold nan", ["localize", "--from-raw", "{raw}", "--out", "{tmp}/p.json", "--set", "localize.class_threshold=nan"],
     "localize.class_threshold must be finite"),
    # files whose content is refused
    ("train: a config that is not UTF-8", ["train", "--config", "{latin1_toml}", "--features", "{store}", "--annotations", "{gt}",
                                          "--out", "{tmp}/r"], "not UTF-8 text"),
    ("predictions: a video twice", ["evaluate", "--ground-truth", "{gt}", "--subset", "test", "--predictions", "{dup_pred}"],
     "key 'v1' appears twice in one object"),
    ("ground truth: a video twice", ["evaluate", "--ground-truth", "{dup_gt}", "--predictions", "{pred}"],
     "key 'v' appears twice in one object"),
    ("ground truth: no annotations key", ["evaluate", "--ground-truth", "{no_ann_gt}", "--predictions", "{pred}"],
     "missing 'annotations'"),
    ("ground truth: nested too deeply", ["evaluate", "--ground-truth", "{deep_gt}", "--predictions", "{pred}"],
     "nested too deeply"),
    # checkpoints and model files that are not what they claim
    ("localize: a plain pickle as checkpoint", ["localize", "--checkpoint", "{pickle_ckpt}", "--features", "{store}", "--annotations",
                                                "{gt}", "--subset", "test", "--out", "{tmp}/p.json", "--device", "cpu"],
     "not a readable wsal checkpoint (not a torch.save file of tensors and plain values"),
    ("localize: checkpoint without step", ["localize", "--checkpoint", "{stepless_ckpt}", "--features", "{store}", "--annotations",
                                           "{gt}", "--subset", "test", "--out", "{tmp}/p.json", "--device", "cpu"],
     "checkpoint step must be a non-negative integer, got None"),
    ("localize: checkpoint with a text step", ["localize", "--checkpoint", "{textstep_ckpt}", "--features", "{store}", "--annotations",
                                               "{gt}", "--subset", "test", "--out", "{tmp}/p.json", "--device", "cpu"],
     "checkpoint step must be a non-negative integer, got 'x'"),
    # everyday mistakes, one per command and option family
    ('evaluate: ground truth missing', ['evaluate', '--ground-truth', '{tmp}/none.json', '--predictions', '{pred}'],
     'ground-truth file not found'),
    ('evaluate: ground truth empty', ['evaluate', '--ground-truth', '{empty}', '--predictions', '{pred}'],
     'ground-truth file is empty'),
    ('evaluate: predictions not JSON', ['evaluate', '--ground-truth', '{gt}', '--subset', 'test', '--predictions', '{notjson}'],
     'not a JSON predictions file'),
    ('evaluate: predictions in ground-truth form', ['evaluate', '--ground-truth', '{gt}', '--subset', 'test', '--predictions', '{gt}'],
     'not a predictions file: expected {"results": {video: [...]}} at the top level'),
    ('evaluate: NaN score', ['evaluate', '--ground-truth', '{gt}', '--subset', 'test', '--predictions', '{nan_pred}'],
     "video 'v': detection 0: score: value nan is not finite"),
    ('evaluate: reversed segment', ['evaluate', '--ground-truth', '{gt}', '--subset', 'test', '--predictions', '{rev_pred}'],
     "video 'v': detection 0: segment [3, 1] is reversed"),
    ('evaluate: tIoU above 1', ['evaluate', '--ground-truth', '{gt}', '--subset', 'test', '--predictions', '{pred}', '--tiou', '1.5'],
     '--tiou thresholds must lie in'),
    ('evaluate: tIoU not a number', ['evaluate', '--ground-truth', '{gt}', '--subset', 'test', '--predictions', '{pred}', '--tiou', 'abc'],
     "--tiou expects 'thumos', 'activitynet' or numbers in"),
    ('evaluate: unknown subset', ['evaluate', '--ground-truth', '{gt}', '--subset', 'nope', '--predictions', '{pred}'],
     "no subset 'nope'; available subsets: test, validation"),
    ('evaluate: several subsets, none chosen', ['evaluate', '--ground-truth', '{gt}', '--predictions', '{pred}'],
     ' has subsets test, validation: choose one with --subset'),
    ('localize: checkpoint missing', ['localize', '--checkpoint', '{tmp}/none.pt', '--features', '{store}', '--annotations', '{gt}', '--subset', 'test', '--out', '{tmp}/p.json'],
     'checkpoint file not found'),
    ('localize: --from-raw with --checkpoint', ['localize', '--from-raw', '{raw}', '--checkpoint', '{ckpt}', '--out', '{tmp}/p.json'],
     '--from-raw re-uses saved outputs'),
    ('localize: no --features', ['localize', '--checkpoint', '{ckpt}', '--annotations', '{gt}', '--out', '{tmp}/p.json'],
     '--features is required'),
    ('localize: nms_iou above 1', ['localize', '--from-raw', '{raw}', '--out', '{tmp}/p.json', '--set', 'localize.nms_iou=2'],
     'localize.nms_iou must be in [0, 1], got 2.0'),
    ('localize: unknown key', ['localize', '--from-raw', '{raw}', '--out', '{tmp}/p.json', '--set', 'localize.nope=1'],
     "config.localize: unknown key 'nope'"),
    ('localize: non-localize key on raw', ['localize', '--from-raw', '{raw}', '--out', '{tmp}/p.json', '--set', 'train.lr=1'],
     "--set 'train.lr=1': localize only changes post-processing"),
    ('localize: unknown subset', ['localize', '--checkpoint', '{ckpt}', '--features', '{store}', '--annotations', '{gt}', '--subset', 'nope', '--out', '{tmp}/p.json', '--device', 'cpu'],
     "no subset 'nope'; available subsets: test, validation"),
    ('localize: raw file missing', ['localize', '--from-raw', '{tmp}/none.h5', '--out', '{tmp}/p.json'],
     'raw-output file not found'),
    ('localize: raw file not HDF5', ['localize', '--from-raw', '{notjson}', '--out', '{tmp}/p.json'],
     'not a readable HDF5 file'),
    ('localize: store missing', ['localize', '--checkpoint', '{ckpt}', '--features', '{tmp}/none.h5', '--annotations', '{gt}', '--subset', 'test', '--out', '{tmp}/p.json', '--device', 'cpu'],
     'feature store file not found'),
    ('train: store missing', ['train', '--features', '{tmp}/none.h5', '--annotations', '{gt}', '--out', '{tmp}/r', *TRAIN],
     'feature store not found'),
    ('train: max_steps 0', ['train', '--features', '{store}', '--annotations', '{gt}', '--out', '{tmp}/r', *TRAIN, '--set', 'train.max_steps=0'],
     'train.max_steps, batch_size, checkpoint_every and log_every must be >= 1'),
    ('train: wrong type', ['train', '--features', '{store}', '--annotations', '{gt}', '--out', '{tmp}/r', *TRAIN, '--set', 'mil.embed_dim=abc'],
     "config.mil.embed_dim: expected an integer, got str 'abc'"),
    ('train: unknown key', ['train', '--features', '{store}', '--annotations', '{gt}', '--out', '{tmp}/r', *TRAIN, '--set', 'train.nope=1'],
     "config.train: unknown key 'nope'"),
    ('train: config missing', ['train', '--config', '{tmp}/none.toml', '--features', '{store}', '--annotations', '{gt}', '--out', '{tmp}/r'],
     'config file not found'),
    ('train: config not TOML', ['train', '--config', '{notjson}', '--features', '{store}', '--annotations', '{gt}', '--out', '{tmp}/r'],
     'not valid TOML'),
    ('train: into a finished run', ['train', '--features', '{store}', '--annotations', '{gt}', '--out', '{run}', *TRAIN],
     'already holds a run; pass --resume to continue it or choose a new --out'),
    ('train: resume with another model', ['train', '--out', '{run_copy}', '--resume', '--set', 'mil.embed_dim=4', '--set', 'train.max_steps=4', '--device', 'cpu'],
     'cannot resume: config mil.embed_dim was 8, now 4'),
    ('import-features: source missing', ['import-features', '--layout', 'basnet', '{tmp}/none', '--out', '{tmp}/s.h5'],
     'not a folder'),
    ('import-features: wtalc without names', ['import-features', '--layout', 'wtalc', '{notjson}', '--out', '{tmp}/s.h5'],
     'video names file not found'),
    ('annotations: folder missing', ['annotations', '--format', 'thumos14', '{tmp}/none', '--out', '{tmp}/g.json'],
     'no such folder'),
    ('annotations: no THUMOS files', ['annotations', '--format', 'thumos14', '{tmp}', '--out', '{tmp}/g.json'],
     'no <Class>_val.txt or <Class>_test.txt files'),
    ('annotations: ActivityNet not JSON', ['annotations', '--format', 'activitynet', '{notjson}', '--out', '{tmp}/g.json'],
     'not a JSON annotation file'),
    ('annotations: --subset with thumos14', ['annotations', '--format', 'thumos14', '{tmp}', '--subset', 'x', '--out', '{tmp}/g.json'],
     '--subset only applies to --format activitynet'),
    ('merge-stores: a part twice', ['merge-stores', '{store}', '{store}', '--out', '{tmp}/m.h5'],
     'the same part is given twice'),
    ('merge-stores: part missing', ['merge-stores', '{tmp}/none.h5', '--out', '{tmp}/m.h5'],
     'feature store not found'),
    ('merge-stores: out is a part', ['merge-stores', '{store}', '--out', '{store}'],
     'is also one of the parts; write the merge to a new file'),
    ('demo: zero steps', ['demo', '--out', '{tmp}/d', '--steps', '0'],
     '--steps must be >= 1, got 0'),
    ('extract: no videos', ['extract', '{tmp}', '--out', '{tmp}/s.h5', '--rgb-weights', '{ckpt}', '--flow', 'none'],
     'no videos found in'),
    ('extract: weights missing', ['extract', '{tmp}', '--out', '{tmp}/s.h5', '--rgb-weights', '{tmp}/none.pt', '--flow', 'none'],
     'I3D weights file not found:'),
    ('extract: flow without weights', ['extract', '{tmp}', '--out', '{tmp}/s.h5', '--rgb-weights', '{ckpt}'],
     '--flow tvl1 needs --flow-weights'),
    ('sampler-report: instance fraction 0', ['sampler-report', '--features', '{store}', '--annotations', '{gt}', '--instance-fraction', '0'],
     '--instance-fraction must be in'),
    ('sampler-fit: raw missing', ['sampler-fit', '{tmp}', '--raw', '{tmp}/none.h5', '--out', '{tmp}/m.pt'],
     'no videos found in'),
    ("evaluate: kit with --ignore-ambiguous", ["evaluate", "--ground-truth", "{gt}", "--predictions", "{pred}", "--subset", "test",
                                               "--protocol", "thumos14-kit", "--ignore-ambiguous"], "belong to the activitynet protocol"),
]  # fmt: skip


@pytest.mark.parametrize("name, argv, message", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line(files, tmp_path, capsys, name, argv, message):
    values = dict(files, tmp=str(tmp_path))
    values["dup_pred"] = _json_file(tmp_path, "dup_pred.json", '{"results": {"v1": [], "v1": []}}')
    values["dup_gt"] = _json_file(tmp_path, "dup_gt.json", '{"database": {"v": {"subset": "t", "annotations": []}, "v": {"subset": "t", "annotations": []}}}')
    values["no_ann_gt"] = _json_file(tmp_path, "no_ann.json", json.dumps({"database": {"v": {"subset": "t"}}}))
    values["deep_gt"] = _json_file(tmp_path, "deep.json", '{"database": ' + "[" * 100000 + "]" * 100000 + "}")
    import pickle

    import torch

    with open(tmp_path / "pickle.pt", "wb") as fh:
        pickle.dump({"format": "wsal-checkpoint"}, fh)
    values["pickle_ckpt"] = str(tmp_path / "pickle.pt")
    state = torch.load(files["ckpt"], weights_only=True)
    for name, step in (("stepless", None), ("textstep", "x")):
        changed = dict(state)
        if step is None:
            del changed["step"]
        else:
            changed["step"] = step
        torch.save(changed, tmp_path / f"{name}.pt")
        values[f"{name}_ckpt"] = str(tmp_path / f"{name}.pt")
    import shutil

    for name, text in (("empty.json", ""), ("notjson.txt", "{oops"),
                       ("nan.json", '{"results": {"v": [{"segment": [0, 1], "label": "A", "score": NaN}]}}'),
                       ("rev.json", '{"results": {"v": [{"segment": [3, 1], "label": "A", "score": 1}]}}')):  # fmt: skip
        (tmp_path / name).write_text(text)
    values.update(empty=str(tmp_path / "empty.json"), notjson=str(tmp_path / "notjson.txt"),
                  nan_pred=str(tmp_path / "nan.json"), rev_pred=str(tmp_path / "rev.json"),
                  run=str(Path(files["ckpt"]).parent), run_copy=str(tmp_path / "run_copy"))  # fmt: skip
    shutil.copytree(Path(files["ckpt"]).parent, tmp_path / "run_copy")
    (tmp_path / "latin1.toml").write_bytes('name = "caf\xe9"\n'.encode("latin-1"))
    values["latin1_toml"] = str(tmp_path / "latin1.toml")
    (tmp_path / "anet.json").write_text(json.dumps({"database": {"v": {"subset": "training", "annotations": []}}}))
    args = [a.format(**values) for a in argv]
    code = main(args)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2, err
    assert err and err[-1].startswith(f"wsal {args[0]}: error: ") and message in err[-1], err[-1:]
    assert len(err) == 1, err  # no warning or progress line before it: these fail before any work
    assert not Path(files["out"]).parent.exists()  # nothing created under the blocking file


def test_two_writers_of_one_store(tmp_path, capsys):
    """import-features into a store another process is writing: one line naming the holder, and
    the holder's staged work untouched."""
    import numpy as np

    from wsal.locks import file_lock

    source = tmp_path / "src"
    for stream in ("rgb", "flow"):
        (source / "train" / stream).mkdir(parents=True)
        np.save(source / "train" / stream / "v1.npy", np.ones((6, 4), np.float32))
    out = tmp_path / "store.h5"
    with file_lock(out, "feature store"):
        assert main(["import-features", "--layout", "basnet", str(source), "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert err[-1].startswith("wsal import-features: error: ") and "another process is writing this feature store" in err[-1]
        assert not out.exists()
    assert main(["import-features", "--layout", "basnet", str(source), "--out", str(out)]) == 0
