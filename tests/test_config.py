"""Parameter parsing and validation (config.py)."""
import math

import pytest

from simcore.config import ConfigError, build_config, parse_assignment, resolve_out_path
from simcore.models import get_model

TRANSPORT = get_model("transport")


@pytest.mark.parametrize("text, expected", [
    ("histories=1e6", ("histories", 1e6)),
    ("histories=1_000_000", ("histories", 1_000_000)),
    ("thickness=inf", ("thickness", math.inf)),
    ("incidence=isotropic", ("incidence", "isotropic")),
    ('incidence="normal"', ("incidence", "normal")),
])
def test_set_values_parse_as_toml_scalars(text, expected):
    assert parse_assignment(text) == expected


def test_exact_float_integers_are_accepted_for_integer_parameters():
    assert build_config(TRANSPORT, {"histories": 1e6}).params["histories"] == 1_000_000
    with pytest.raises(ConfigError, match="must be an integer"):
        build_config(TRANSPORT, {"histories": 1.5})
    with pytest.raises(ConfigError, match="must be an integer"):
        build_config(TRANSPORT, {"histories": True})


@pytest.mark.parametrize("values, message", [
    ({"thickness": -math.inf}, "thickness"),
    ({"scatter_ratio": math.nan}, "scatter_ratio"),
    ({"seed": 2**64}, "seed must be in"),
    ({"partitions": 0}, "partitions"),
    ({"bins": 10**9}, "bins"),
    ({"temp": 1}, "unknown parameter 'temp'"),
])
def test_bad_values_raise_config_error_naming_the_parameter(values, message):
    with pytest.raises(ConfigError, match=message):
        build_config(TRANSPORT, values)


def test_partitions_default_comes_from_the_problem_not_the_workers():
    small = build_config(TRANSPORT, {"histories": 1000, "workers": 3})
    large = build_config(TRANSPORT, {"histories": 10**7, "workers": 1})
    assert small.partitions == 1 and large.partitions == 64
    assert build_config(TRANSPORT, {"workers": 1}).partitions == build_config(TRANSPORT, {"workers": 8}).partitions


def test_config_hash_covers_physics_not_execution():
    a = build_config(TRANSPORT, {"workers": 1, "executor": "serial"})
    b = build_config(TRANSPORT, {"workers": 4, "executor": "process"})
    c = build_config(TRANSPORT, {"seed": 2})
    assert a.sha256 == b.sha256 != c.sha256
    assert "seed = 1" in a.to_toml() and "thickness = 1.0" in a.to_toml()


def test_default_out_path_never_overwrites(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = build_config(TRANSPORT, {})
    assert str(resolve_out_path(cfg, force=False)) == "transport.h5"
    (tmp_path / "transport.h5").write_text("x")
    assert str(resolve_out_path(cfg, force=False)) == "transport-2.h5"
