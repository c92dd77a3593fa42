"""wsal.figures: the timeline figure is written, with and without change points and the plain CAS."""

from __future__ import annotations

import numpy as np

from wsal.figures import plot_video_timeline
from wsal.timeline import SnippetGrid


def test_timeline_with_change_points(tmp_path):
    T = 40
    cas = np.zeros((T, 2))
    cas[10:20, 0] = 0.9
    att = np.where(cas[:, 0] > 0, 0.9, 0.1)
    change = np.zeros((2, T))
    change[0, [10, 20, 30]] = 0.8
    change[1, 10] = 0.9
    preds = [{"segment": [6.4, 12.8], "label": "A", "score": 0.7}]
    for name, scores in (("plain.png", None), ("cp.png", change)):
        out = plot_video_timeline(
            tmp_path / name, "v", cas, att, SnippetGrid(), ("A", "B"), np.array([[6.4, 12.8]]), ["A"], preds,
            change_scores=scores,
        )
        assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the change points are drawn: the two figures differ
    assert (tmp_path / "plain.png").read_bytes() != (tmp_path / "cp.png").read_bytes()


def test_timeline_draws_the_plain_cas_dashed_when_given(tmp_path, monkeypatch):
    from matplotlib.axes import Axes

    drawn = []
    stairs = Axes.stairs

    def recording(self, values, edges=None, **kw):
        drawn.append((kw.get("label"), kw.get("ls", "-")))
        return stairs(self, values, edges, **kw)

    monkeypatch.setattr(Axes, "stairs", recording)
    T = 30
    cas = np.zeros((T, 2))
    cas[5:10, 0] = 0.9
    base = np.full((T, 2), 0.3)
    args = ("v", cas, np.full(T, 0.5), SnippetGrid(), ("A", "B"), np.array([[3.2, 6.4]]), ["A"], [])
    plot_video_timeline(tmp_path / "without.png", *args)
    assert ("A (plain CAS)", "--") not in drawn
    plot_video_timeline(tmp_path / "with.png", *args, base_probs=base)
    assert ("A", "-") in drawn and ("A (plain CAS)", "--") in drawn
