"""Shared fixtures: seeded tiny data, temporary stores, and the optional real annotations.

Tests never need ../shared: ``shared_data`` skips cleanly when it is absent.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from wsal.features.store import StoreMeta

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    """The real annotation files in ../shared/data; the test is skipped when they are absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not present")
    return SHARED_DATA


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture
def small_meta() -> StoreMeta:
    """A tiny store layout: 25 fps, 16-frame snippets, rgb 6 + flow 6 columns."""
    return StoreMeta(fps=25.0, clip_len_frames=16, stride_frames=16, streams=("rgb", "flow"), stream_dims=(6, 6), backbone="test")
