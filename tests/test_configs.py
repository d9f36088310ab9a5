"""Every example in data/configs/ runs, and agrees with its reference where one exists."""
import json
import math
from pathlib import Path

import pytest

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "data" / "configs").glob("*.toml"))
REFERENCES = {  # file name -> (result, exact value)
    "rod_half_space.toml": ("reflection", (1 - math.sqrt(0.25)) / (1 + math.sqrt(0.25))),
    "pi.toml": ("pi", math.pi),
}


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.name)
def test_example_config_runs_and_matches_its_reference(cli, config):
    done = cli("run", str(config), "--out", "out.h5", "--quiet")
    assert done.returncode == 0, done.stderr
    results = json.loads(cli("info", "out.h5", "--json").stdout)["results"]
    if config.name in REFERENCES:
        name, exact = REFERENCES[config.name]
        assert abs(results[name]["mean"] - exact) <= 4 * results[name]["stderr"]

