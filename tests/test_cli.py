"""The command line: results summary, JSON, and bad input (exit 2, one line, nothing written)."""
import json
import math

import pytest


def test_run_then_info_json(cli):
    done = cli("run", "transport", "--set", "histories=20000", "--out", "t.h5", "--quiet")
    assert done.returncode == 0, done.stderr
    info = cli("info", "t.h5", "--json")
    assert info.returncode == 0
    summary = json.loads(info.stdout)
    assert summary["model"] == "transport"
    assert set(summary["results"]) == {"reflection", "transmission", "absorption"}
    for value in summary["results"].values():
        assert set(value) >= {"mean", "stderr"} and math.isfinite(value["mean"]) and value["stderr"] > 0


def test_default_output_is_numbered_instead_of_overwritten(cli):
    for expected in ("pi.h5", "pi-2.h5"):
        done = cli("run", "pi", "--set", "samples=1000", "--executor", "serial")
        assert done.returncode == 0, done.stderr
        assert f"wrote {expected}" in done.stdout


def test_toml_config_and_set_override(cli):
    (cli.cwd / "slab.toml").write_text('model = "transport"\nhistories = 1e4\nthickness = inf\nseed = 5\n')
    done = cli("run", "slab.toml", "--set", "scatter_ratio=0.2", "--out", "s.h5", "--quiet")
    assert done.returncode == 0, done.stderr
    info = json.loads(cli("info", "s.h5", "--json").stdout)
    assert info["seed"] == 5 and info["results"]["transmission"]["mean"] == 0.0


BAD_INPUT = [
    (["run", "transport", "--set", "thickness=-1"], "thickness"),
    (["run", "transport", "--set", "scatter_ratio=1.5"], "scatter_ratio"),
    (["run", "transport", "--set", "histories=lots"], "histories"),
    (["run", "transport", "--set", "thicknes=2"], "did you mean 'thickness'"),
    (["run", "transprt"], "available: pi, transport"),
    (["run", "transport", "--workers", "0"], "workers must be a positive integer (at most 4096) or auto (got 0)"),
    (["run", "transport", "--workers", "many"],
     "workers must be a positive integer (at most 4096) or auto (got 'many')"),
    (["run", "transport", "--workers", "2.5"], "workers must be a positive integer (at most 4096) or auto (got 2.5)"),
    (["run", "transport", "--seed", "-3"], "seed"),
    (["run", "transport", "--executor", "gpu"], "executor"),
    (["run", "transport", "--set", "incidence=sideways"], "incidence"),
    (["run", "transport", "--set", "thickness=nan"], "thickness"),
    (["run", "broken.toml"], "not valid TOML"),
    (["run", "missing.toml"], "does not exist"),
    (["run", "transport", "--bogus-flag"], "unrecognized arguments"),
    (["info", "missing.h5"], "does not exist"),
    (["info", "notes.txt"], "cannot be read"),
]


@pytest.mark.parametrize("args, names", BAD_INPUT, ids=[" ".join(a[1:]) for a, _ in BAD_INPUT])
def test_bad_input_exits_2_with_one_line_and_writes_nothing(cli, args, names):
    (cli.cwd / "broken.toml").write_text('model = "transport"\nhistories = [1\n')
    (cli.cwd / "notes.txt").write_text("not hdf5\n")
    before = sorted(p.name for p in cli.cwd.iterdir())
    done = cli(*args)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("simcore: error: ") and names in lines[0]
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert sorted(p.name for p in cli.cwd.iterdir()) == before


def test_existing_out_is_not_overwritten_without_force(cli):
    target = cli.cwd / "keep.h5"
    target.write_bytes(b"precious")
    done = cli("run", "pi", "--set", "samples=1000", "--out", "keep.h5")
    assert done.returncode == 2 and "--force" in done.stderr and len(done.stderr.splitlines()) == 1
    assert target.read_bytes() == b"precious"
    forced = cli("run", "pi", "--set", "samples=1000", "--out", "keep.h5", "--force", "--quiet")
    assert forced.returncode == 0 and target.read_bytes()[:4] == b"\x89HDF"


def test_models_lists_parameters_with_ranges(cli):
    done = cli("models")
    assert done.returncode == 0
    for text in ("transport", "scatter_ratio", "in [0, 1]", "pi", "samples"):
        assert text in done.stdout


def test_worker_log_records_reach_the_main_process(cli):
    done = cli("run", "pi", "--set", "samples=1000", "--workers", "2", "--log-level", "debug", "--out", "p.h5")
    assert done.returncode == 0, done.stderr
    assert "attached arena" in done.stderr  # logged inside a worker, emitted by the main process
