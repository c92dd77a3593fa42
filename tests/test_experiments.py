"""experiments/*.toml load strictly and say what the recipes promise."""

from __future__ import annotations

from pathlib import Path

import pytest

from wsal.config import ConfigError, ExperimentConfig, load_config

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"


@pytest.mark.parametrize("name", ["thumos14", "activitynet12", "activitynet13"])
def test_recipe_loads_strictly(name):
    config = load_config(ExperimentConfig, EXPERIMENTS / f"{name}.toml")
    assert config.name == name
    if name == "thumos14":
        assert (config.data.train_subset, config.data.test_subset) == ("validation", "test")
        assert config.data.num_snippets == 750 and config.data.sampling == "random"
    else:
        assert (config.data.train_subset, config.data.test_subset) == ("training", "validation")
        assert config.data.sampling == "interpolate" and config.data.num_snippets in (50, 100)


def test_recipe_with_a_typo_is_an_error(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text((EXPERIMENTS / "thumos14.toml").read_text().replace("num_snippets", "num_snipets"))
    with pytest.raises(ConfigError, match="unknown key 'num_snipets'"):
        load_config(ExperimentConfig, bad)
