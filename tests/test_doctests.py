"""Runs the doctests of the small pure helpers (their examples are part of the docs)."""

import doctest
import importlib

import pytest

MODULES = ["wsal.timeline", "wsal.config"]


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{name} has no doctests"
    assert result.failed == 0
