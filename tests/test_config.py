from dataclasses import dataclass, field
from typing import Literal

import pytest

from wsal.config import (
    ConfigError,
    ExperimentConfig,
    config_from_dict,
    config_to_toml,
    load_config,
    parse_override,
    save_config,
)


@dataclass
class Inner:
    rate: float = 0.1
    steps: int = 3
    mode: Literal["a", "b"] = "a"
    sizes: tuple[int, ...] = (1, 2)
    flag: bool = False


@dataclass
class Outer:
    name: str = "x"
    inner: Inner = field(default_factory=Inner)


def test_defaults_and_nested_update():
    cfg = config_from_dict(Outer, {"inner": {"rate": 1, "sizes": [4, 5, 6]}})
    assert cfg.inner.rate == 1.0 and isinstance(cfg.inner.rate, float)
    assert cfg.inner.sizes == (4, 5, 6)
    assert cfg.inner.steps == 3 and cfg.name == "x"


@pytest.mark.parametrize(
    "data, message",
    [
        ({"inner": {"ratee": 1}}, "unknown key 'ratee'"),
        ({"nope": 1}, "unknown key 'nope'"),
        ({"inner": {"steps": 1.5}}, "inner.steps: expected an integer"),
        ({"inner": {"steps": True}}, "inner.steps: expected an integer"),
        ({"inner": {"flag": 1}}, "inner.flag: expected true/false"),
        ({"inner": {"mode": "c"}}, "inner.mode: 'c' is not one of"),
        ({"inner": {"sizes": 3}}, "inner.sizes: expected a list"),
        ({"name": 3}, "name: expected a string"),
        ({"inner": 3}, "inner: expected a table"),
    ],
)
def test_unknown_keys_and_wrong_types_are_errors(data, message):
    with pytest.raises(ConfigError, match=message):
        config_from_dict(Outer, data)


def test_overrides_parse_toml_values_and_bare_strings():
    assert parse_override("a.b=3") == (["a", "b"], 3)
    assert parse_override("a=true") == (["a"], True)
    assert parse_override("a=[0.1, 0.2]") == (["a"], [0.1, 0.2])
    assert parse_override("a.b=hello world") == (["a", "b"], "hello world")
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_override("novalue")


def test_load_file_then_overrides_then_round_trip(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('name = "run1"\n[train]\nmax_steps = 100\nlr = 0.001\n')
    cfg = load_config(ExperimentConfig, path, ["train.max_steps=7", "localize.boundaries=threshold"])
    assert cfg.name == "run1" and cfg.train.max_steps == 7 and cfg.train.lr == 0.001
    out = tmp_path / "resolved.toml"
    save_config(cfg, out)
    assert load_config(ExperimentConfig, out) == cfg
    assert "[train]" in config_to_toml(cfg)


def test_bad_files_name_the_file(tmp_path):
    with pytest.raises(ConfigError, match="missing.toml: config file not found"):
        load_config(ExperimentConfig, tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[train\n")
    with pytest.raises(ConfigError, match="bad.toml: not valid TOML"):
        load_config(ExperimentConfig, bad)
    typo = tmp_path / "typo.toml"
    typo.write_text("[train]\nmax_stepz = 3\n")
    with pytest.raises(ConfigError, match=r"typo.toml.train: unknown key 'max_stepz'"):
        load_config(ExperimentConfig, typo)


def test_changepoint_section(tmp_path):
    cfg = load_config(ExperimentConfig, None, ["changepoint.enabled=true", "changepoint.gamma=2", "localize.cp_merge=0.7"])
    assert cfg.changepoint.enabled and cfg.changepoint.gamma == 2.0 and cfg.localize.cp_merge == 0.7
    save_config(cfg, tmp_path / "c.toml")
    assert load_config(ExperimentConfig, tmp_path / "c.toml") == cfg
    with pytest.raises(ConfigError, match="changepoint.num_levels must be >= 1"):
        load_config(ExperimentConfig, None, ["changepoint.num_levels=0"])
    with pytest.raises(ConfigError, match="unknown key 'levels'"):
        load_config(ExperimentConfig, None, ["changepoint.levels=2"])


def test_every_setting_is_named_where_it_is_used():
    """A config key exists because a user may change it: every key of ExperimentConfig is set
    somewhere outside wsal/config.py (a --set override, a recipe's TOML line, or a keyword argument
    in a test, bench script or command). A new key that nothing sets fails here."""
    import dataclasses
    import re
    from pathlib import Path

    from wsal.config import ExperimentConfig

    root = Path(__file__).resolve().parents[1]
    texts = [p.read_text(encoding="utf-8") for pattern in ("tests/*.py", "experiments/*.toml", "bench/*.py", "wsal/commands/*.py")
             for p in root.glob(pattern) if p.name != Path(__file__).name]  # fmt: skip
    blob = "\n".join(texts)
    unset = []
    for section in dataclasses.fields(ExperimentConfig):
        if section.name == "name":
            continue
        for key in dataclasses.fields(section.default_factory()):  # type: ignore[misc]
            patterns = (rf"{section.name}\.{key.name}\s*=", rf"\b{key.name}\s*=(?!=)")
            if not any(re.search(p, blob) for p in patterns):
                unset.append(f"{section.name}.{key.name}")
    assert unset == []


def _dotted_keys(cls: type, prefix: str = "") -> list[str]:
    """Every leaf key of a nested config dataclass, as ``section.key``."""
    import dataclasses

    keys = []
    for f in dataclasses.fields(cls):
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        if dataclasses.is_dataclass(default):
            keys += _dotted_keys(type(default), f"{prefix}{f.name}.")
        else:
            keys.append(prefix + f.name)
    return keys


def test_every_config_key_is_set_by_a_recipe_or_a_test():
    """A key exists because someone changes it: a recipe in experiments/ sets it, or a test does
    (``--set section.key=``, a TOML line ``key =``, a CLI flag that fills it, or ``key=`` in a
    config dataclass call). A key nobody sets is a constant (wsal.config.RETIRED_KEYS)."""
    import re
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    recipes = [tomllib.loads(p.read_text()) for p in sorted((root / "experiments").glob("*.toml"))]
    assert recipes, "the recipes in experiments/ are part of the repository"
    tests = "\n".join(p.read_text() for p in sorted((root / "tests").glob("*.py")) if p.name != "test_config.py")
    flags = {"data.features": "--features", "data.annotations": "--annotations", "train.device": "--device"}
    unset = []
    for dotted in _dotted_keys(ExperimentConfig):
        section, _, key = dotted.rpartition(".")
        in_recipe = any((r.get(section, {}) if section else r).get(key) is not None for r in recipes)
        in_tests = (
            f"{dotted}=" in tests
            or re.search(rf"^{key} = ", tests, re.MULTILINE) is not None
            or re.search(rf"[(,]\s*{key}=", tests) is not None
            or (dotted in flags and flags[dotted] in tests)
        )
        if not (in_recipe or in_tests):
            unset.append(dotted)
    assert unset == []
