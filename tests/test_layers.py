"""The layers of DESIGN.md, read from the source: which package may import which.

Every ``import`` and ``from ... import`` of every module under wsal/, features/ and eval/ is read
(function-level imports and TYPE_CHECKING blocks included), with the source folders mapped to
their installed names (features/ is wsal.features, eval/ is wsal.eval).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {"wsal": ROOT / "wsal", "wsal.features": ROOT / "features", "wsal.eval": ROOT / "eval"}
# The core every stage may import; it imports nothing but itself.
CORE = {"wsal.timeline", "wsal.errors", "wsal.segments", "wsal.annotations", "wsal.jsonfile", "wsal.outputs",
        "wsal.npyfile", "wsal.locks", "wsal.torchfile"}  # fmt: skip


def _modules() -> dict[str, Path]:
    out = {}
    for package, folder in PACKAGES.items():
        for path in folder.rglob("*.py"):
            parts = path.relative_to(folder).with_suffix("").parts
            if package == "wsal" and parts[0] in ("features", "eval"):
                continue  # not there in a source tree; the mapping above names them
            name = ".".join((package, *parts)).removesuffix(".__init__")
            out[name] = path
    return out


def _imports(path: Path, module: str) -> list[tuple[str, list[str]]]:
    """(imported module, names taken from it) for every import statement of the file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(module.split(".")[: -node.level] + ([base] if base else []))
            found.append((base, [alias.name for alias in node.names]))
    return found


MODULES = _modules()
IMPORTS = {name: _imports(path, name) for name, path in MODULES.items()}


def _importers_of(prefixes: tuple[str, ...]) -> dict[str, list[str]]:
    return {
        module: sorted({target for target, _ in imports if target.startswith(prefixes)})
        for module, imports in IMPORTS.items()
        if any(target.startswith(prefixes) for target, _ in imports)
    }


def test_the_module_map_is_complete():
    assert {"wsal.cli", "wsal.features.store", "wsal.eval.detection", "wsal.model.wsal", "wsal.annotations"} <= set(MODULES)
    assert len(MODULES) > 60


def test_nothing_in_the_library_imports_the_commands():
    offenders = {m: t for m, t in _importers_of(("wsal.commands",)).items() if not m.startswith(("wsal.commands", "wsal.cli"))}
    assert offenders == {}


@pytest.mark.parametrize(
    "package, forbidden",
    [
        ("wsal.features", ("wsal.model", "wsal.train", "wsal.inference", "wsal.localize", "wsal.eval", "wsal.data")),
        ("wsal.eval", ("torch", "wsal.model", "wsal.features", "wsal.train", "wsal.inference", "wsal.data")),
    ],
)
def test_stages_do_not_import_later_or_heavier_ones(package, forbidden):
    offenders = {
        m: targets for m, targets in _importers_of(forbidden).items() if m == package or m.startswith(package + ".")
    }
    assert offenders == {}


@pytest.mark.parametrize("package", ["wsal.features", "wsal.eval"])
def test_features_and_eval_reach_only_the_core_of_wsal(package):
    """Of the rest of wsal (each other included) features/ and eval/ import only the core."""
    reached = {
        module: sorted({t for t, _ in imports if t.startswith("wsal") and not t.startswith(package) and t not in CORE})
        for module, imports in IMPORTS.items()
        if module == package or module.startswith(package + ".")
    }
    assert {m: targets for m, targets in reached.items() if targets} == {}


def test_the_core_imports_only_the_core():
    offenders = {}
    for module in CORE:
        wsal_targets = {t for t, _ in IMPORTS[module] if t.startswith("wsal") and t != module}
        if wsal_targets - CORE:
            offenders[module] = sorted(wsal_targets - CORE)
    assert offenders == {}


def test_no_private_names_are_imported_across_modules():
    """Nor by the bench scripts and their research helpers: they use the library's public names."""
    bench = {f"bench.{p.stem}": _imports(p, f"bench.{p.stem}") for p in sorted((ROOT / "bench").rglob("*.py"))}
    offenders = [
        f"{module}: from {target} import {name}"
        for module, imports in {**IMPORTS, **bench}.items()
        for target, names in imports
        for name in names
        if name.startswith("_") and not name.startswith("__") and target != module
    ]
    assert offenders == []


def test_the_model_stage_meets_eval_only_at_the_predictions_format():
    """wsal/ (the model stage, outside the core and the commands) writes segments in the format
    eval/ reads (wsal.eval.io), and imports nothing else of evaluation: no metric, no report."""
    model_stage = [m for m in MODULES if m.startswith("wsal.") and not m.startswith(("wsal.features", "wsal.eval", "wsal.commands", "wsal.cli"))]
    reached = {
        module: sorted({t for t, _ in IMPORTS[module] if t.startswith("wsal.eval")})
        for module in model_stage
        if module not in CORE
    }
    offenders = {m: targets for m, targets in reached.items() if set(targets) - {"wsal.eval.io"}}
    assert offenders == {}
    assert any(reached.values())  # the inference path does write through wsal.eval.io
