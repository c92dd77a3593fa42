"""`wsal run` end to end: generated videos, random-weight I3D, a tiny trained checkpoint -> detections,
timelines and a page, the page checked in a real headless browser."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from urllib.parse import unquote

import pytest
import torch
from support.browser import Browser, find_browser

from wsal.cli import main
from wsal.features.i3d import InceptionI3d
from wsal.features.store import FeatureStore
from research.synthetic_video import write_video
from wsal.pipeline import detections_csv
from wsal.raw import RawReader
from wsal.synthetic import make_synthetic_dataset

SMALL = ["--flow", "dis", "--resize", "40", "--crop", "32", "--workers", "0", "--device", "cpu", "--batch-size", "4"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """Two videos (one with a space and a '#' in its name), I3D weights, and a checkpoint trained on
    synthetic rgb+flow features of the same layout (1024 + 1024 at 25 fps, 16-frame snippets)."""
    root = tmp_path_factory.mktemp("run")
    for name, channels, seed in (("rgb", 3, 0), ("flow", 2, 2)):
        torch.manual_seed(seed)
        torch.save(InceptionI3d(channels).state_dict(), root / f"{name}.pt")
    videos = root / "videos"
    videos.mkdir()
    write_video(videos / "v1.mp4", 80, 25, size=(64, 48))  # 3.2 s: 5 snippets
    write_video(videos / "odd name#2.mp4", 50, 25, size=(64, 48))  # 2.0 s: 3 snippets (the last partial)
    store, gt = make_synthetic_dataset(
        root / "data", seed=0, num_train_videos=6, num_test_videos=2, num_classes=2, feature_dim=2048, snippets=(30, 60)
    )
    train = ["--set", "train.max_steps=2", "--set", "train.batch_size=2", "--set", "mil.embed_dim=8",
             "--set", "data.num_snippets=64", "--device", "cpu"]
    assert main(["train", "--features", str(store), "--annotations", str(gt), "--out", str(root / "train")] + train) == 0
    return root


def wsal_run(root: Path, out: Path, *extra: str) -> int:
    return main(["run", str(root / "videos"), "--checkpoint", str(root / "train" / "model.pt"),
                 "--rgb-weights", str(root / "rgb.pt"), "--flow-weights", str(root / "flow.pt"),
                 "--out", str(out), *SMALL, *extra])


@pytest.fixture(scope="module")
def finished(setup):
    out = setup / "out"
    assert wsal_run(setup, out) == 0
    return setup, out


def test_run_writes_detections_timelines_and_page(finished):
    root, out = finished
    results = json.loads((out / "detections.json").read_text())["results"]
    assert sorted(results) == ["odd name#2", "v1"]
    with FeatureStore(out / "features.h5") as store:
        assert store.num_snippets("v1") == 5 and store.num_snippets("odd name#2") == 3
        durations = {vid: store.read(vid).duration_s for vid in results}
    for vid, dets in results.items():
        for det in dets:
            assert 0.0 <= det["segment"][0] < det["segment"][1] <= durations[vid] + 1e-6
    rows = list(csv.DictReader((out / "detections.csv").open()))
    assert len(rows) == sum(map(len, results.values())) > 0
    assert {r["video"] for r in rows} == set(results)
    with RawReader(out / "raw.h5") as raw:
        assert sorted(raw.video_ids) == sorted(results)
    assert sorted(p.name for p in (out / "timelines").iterdir()) == ["odd%20name%232.png", "v1.png"]

    page = (out / "index.html").read_text()
    assert "http://" not in page and "https://" not in page  # self-contained: no network
    sources = [unquote(part.split('"')[0]) for part in page.split('<video controls preload="metadata" src="')[1:]]
    assert sorted((out / s).resolve() for s in sources) == sorted((root / "videos").iterdir())
    images = [unquote(part.split('"')[0]) for part in page.split('<img src="')[1:]]
    assert sorted((out / s).resolve() for s in images) == sorted((out / "timelines").resolve().iterdir())


def test_run_resumes_and_reproduces(finished, capsys):
    root, out = finished
    before = (out / "detections.json").read_text()
    capsys.readouterr()
    assert wsal_run(root, out) == 0
    assert "0 extracted, 2 skipped (already done)" in capsys.readouterr().out
    assert (out / "detections.json").read_text() == before


def test_run_refuses_a_checkpoint_whose_layout_differs_before_extracting(setup, tmp_path, capsys):
    store, gt = make_synthetic_dataset(tmp_path / "data", seed=0, num_train_videos=4, num_test_videos=1,
                                       num_classes=2, feature_dim=12, snippets=(30, 40))
    assert main(["train", "--features", str(store), "--annotations", str(gt), "--out", str(tmp_path / "train"),
                 "--set", "train.max_steps=1", "--set", "train.batch_size=2", "--set", "mil.embed_dim=8",
                 "--set", "data.num_snippets=64", "--device", "cpu"]) == 0
    capsys.readouterr()
    code = main(["run", str(setup / "videos"), "--checkpoint", str(tmp_path / "train" / "model.pt"),
                 "--rgb-weights", str(setup / "rgb.pt"), "--flow-weights", str(setup / "flow.pt"),
                 "--out", str(tmp_path / "out"), *SMALL])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert err[0].startswith("wsal run: error: ") and "stream_dims 1024+1024 differs from the checkpoint's 6+6" in err[0]
    assert not (tmp_path / "out" / "features.h5").exists()


def test_run_bad_inputs_are_one_line(setup, tmp_path, capsys):
    cases = [
        (["run", str(tmp_path / "nowhere"), "--checkpoint", str(setup / "train" / "model.pt"), "--rgb-weights",
          str(setup / "rgb.pt"), "--flow-weights", str(setup / "flow.pt"), "--out", str(tmp_path / "o")], "no such file"),
        (["run", str(setup / "videos"), "--checkpoint", str(tmp_path / "none.pt"), "--rgb-weights",
          str(setup / "rgb.pt"), "--flow-weights", str(setup / "flow.pt"), "--out", str(tmp_path / "o")], "checkpoint file not found"),
        (["run", str(setup / "videos"), "--checkpoint", str(setup / "train" / "model.pt"), "--rgb-weights",
          str(setup / "rgb.pt"), "--flow", "none", "--out", str(tmp_path / "o")], "reads rgb and flow features"),
    ]
    for argv, message in cases:
        capsys.readouterr()
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("wsal run: error: ") and message in err[0], err


def test_detections_csv_quotes_and_orders():
    text = detections_csv({"a,b": [{"segment": [0, 1], "label": "X", "score": 0.1},
                                   {"segment": [2, 3], "label": "Y", "score": 0.7}]})
    rows = list(csv.reader(text.splitlines()))
    assert rows == [["video", "class", "start_s", "end_s", "score"], ["a,b", "Y", "2.0", "3.0", "0.7"],
                    ["a,b", "X", "0.0", "1.0", "0.1"]]


@pytest.mark.skipif(find_browser() is None, reason="no headless Chromium (apt-get install chromium-headless-shell)")
def test_page_in_a_real_browser_plays_and_seeks(finished, tmp_path):
    root, out = finished
    with Browser(find_browser()) as browser:
        browser.open((out / "index.html").resolve().as_uri())
        assert browser.eval("document.querySelectorAll('section[data-duration]').length") == 2
        # both videos load from their relative paths (metadata read: the link and the codec work)
        browser.wait_for("[...document.querySelectorAll('video')].every(v => v.readyState >= 1)")
        durations = browser.eval("[...document.querySelectorAll('video')].map(v => v.duration)")
        assert sorted(round(d, 1) for d in durations) == [2.0, 3.2]
        # the timeline figures load
        browser.eval("document.querySelectorAll('details').forEach(d => d.open = true)")
        browser.wait_for("[...document.querySelectorAll('section img')].every(i => i.complete && i.naturalWidth > 0)")
        # clicking a detection bar, then a table row, seeks the video of its section to the detection's start
        for selector in (".det", "tr.row"):
            starts = browser.eval(
                f"[...document.querySelectorAll('section')[1].querySelectorAll('{selector}')].map(e => +e.dataset.start)"
            )
            assert starts, selector
            target = max(starts)
            away = f"(v.duration - {target} > 1 ? v.duration - 0.1 : 0)"  # a position the click must leave
            browser.eval(f"(() => {{ const v = document.querySelectorAll('section')[1].querySelector('video'); "
                         f"v.pause(); v.currentTime = {away}; }})()")
            browser.wait_for(f"(() => {{ const v = document.querySelectorAll('section')[1].querySelector('video'); "
                             f"return Math.abs(v.currentTime - {target}) > 0.9; }})()")
            browser.eval(
                f"[...document.querySelectorAll('section')[1].querySelectorAll('{selector}')]"
                f".find(e => +e.dataset.start === {target}).click()"
            )
            browser.wait_for(
                f"Math.abs(document.querySelectorAll('section')[1].querySelector('video').currentTime - {target}) < 0.3"
            )
        shot = browser.screenshot(tmp_path / "page.png")
        assert shot.stat().st_size > 10_000


def test_the_page_lists_the_best_detections_and_says_where_the_rest_are(tmp_path):
    """A video with more detections than MAX_ROWS: its table holds the MAX_ROWS best, and the page
    names the files with all of them; a video with few lists them all, without that line."""
    from wsal.page import MAX_ROWS, PageVideo, render_page

    many = [{"segment": [i, i + 1.0], "label": "X", "score": i / 1000} for i in range(MAX_ROWS + 20)]
    few = many[:3]
    page = render_page([PageVideo("a", tmp_path / "a.mp4", 200.0, many), PageVideo("b", tmp_path / "b.mp4", 200.0, few)],
                       tmp_path, "t", ("detections.csv", "detections.json"))  # fmt: skip
    first, second = page.split('<section id="video-1"')
    assert first.count('<tr class="row"') == MAX_ROWS
    assert f'data-start="{MAX_ROWS + 19:.3f}"' in first and 'data-start="19.000"' not in first  # the best rows
    assert f"the {MAX_ROWS} best listed; all {MAX_ROWS + 20} are in detections.csv and detections.json" in first
    assert second.count('<tr class="row"') == 3 and "best listed" not in second
    bare = render_page([PageVideo("a", tmp_path / "a.mp4", 200.0, many)], tmp_path, "t")  # no file named
    assert f"the {MAX_ROWS} best listed; all {MAX_ROWS + 20}</p>" in bare and "detections.csv" not in bare
