"""Runs the doctests of every wsal module and research helper (their examples are part of the docs)."""

import doctest
import importlib
import pkgutil

import pytest
import research

import wsal
import wsal.eval
import wsal.features


def _has_examples(name: str) -> bool:
    return any(test.examples for test in doctest.DocTestFinder().find(importlib.import_module(name)))


# Only modules that have examples: a module without any would pass vacuously.
MODULES = sorted(
    m.name
    for pkg in (wsal, wsal.features, wsal.eval, research)
    for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + ".")
    if not m.name.startswith("wsal.commands") and _has_examples(m.name)
)


def test_pure_helpers_have_doctests():
    for name in ("wsal.timeline", "wsal.config"):
        assert doctest.testmod(importlib.import_module(name)).attempted > 0, name


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
