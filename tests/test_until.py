"""``--until RESULT.stderr<X``: a run extended round by round until its results are that precise (simcore.until).

Each round continues the run from its final checkpoint, so the run that met
its target is byte-identical to one that asked for the final count at once;
its results file records the targets, every round and why it stopped.
"""
import json

import h5py
import pytest

import simcore
from simcore.until import Target, Until

from tests.conftest import assert_refused, results_snapshot


def _record(path) -> dict:
    with h5py.File(path) as handle:
        return json.loads(handle.attrs["until"])


def test_a_batch_run_grows_until_its_stderr_is_met_and_is_the_run_of_that_size(cli):
    done = cli("run", "transport", "--set", "histories=20000", "--set", "partitions=4", "--out", "t.h5",
               "--until", "reflection.stderr<5e-4", "--quiet")
    assert done.returncode == 0, done.stderr
    record = _record(cli.cwd / "t.h5")
    assert record["outcome"] == "met" and record["targets"] == ["reflection.stderr<0.0005"]
    counts = [one["histories"] for one in record["rounds"]]
    errors = [one["errors"]["reflection.stderr<0.0005"] for one in record["rounds"]]
    assert len(counts) >= 2 and counts[0] == 20000 and all(n % 20000 == 0 for n in counts)
    assert errors[-1] < 5e-4 <= min(errors[:-1])
    res = simcore.open_results(cli.cwd / "t.h5")
    assert res.stderr("reflection") == errors[-1]
    assert json.loads(res.attrs["config"].split("histories = ")[1].split("\n")[0]) == counts[-1]
    partitions = 4 * counts[-1] // 20000
    assert cli("run", "transport", "--set", f"histories={counts[-1]}", "--set", f"partitions={partitions}",
               "--executor", "serial", "--out", "r.h5", "--quiet").returncode == 0
    assert results_snapshot(cli.cwd / "t.h5") == results_snapshot(cli.cwd / "r.h5")
    shown = cli("info", "t.h5")
    assert f"until       reflection.stderr<0.0005: met (histories 20000 -> {counts[1]}" in shown.stdout


@pytest.mark.slow  # the default suite's budget; a lockstep extension (test_extend) and --until's rounds stay in it
def test_a_lockstep_run_resumed_with_until_grows_its_sweeps_exactly(cli):
    fixed = ["--set", "L=8", "--set", "thermalize=100"]
    assert cli("run", "ising", *fixed, "--set", "sweeps=400", "--out", "i.h5", "--quiet").returncode == 0
    done = cli("resume", "i.h5", "--until", "energy_per_site.relative_error<0.006", "--quiet")
    assert done.returncode == 0, done.stderr
    record = _record(cli.cwd / "i.h5")
    assert record["outcome"] == "met" and record["rounds"][0]["sweeps"] == 400
    final = record["rounds"][-1]["sweeps"]
    assert final > 400 and record["rounds"][-1]["errors"]["energy_per_site.relative_error<0.006"] < 0.006
    assert cli("run", "ising", *fixed, "--set", f"sweeps={final}", "--executor", "serial", "--out", "r.h5",
               "--quiet").returncode == 0
    assert results_snapshot(cli.cwd / "i.h5") == results_snapshot(cli.cwd / "r.h5")
    again = cli("resume", "i.h5", "--until", "energy_per_site.relative_error<0.006", "--quiet")
    assert again.returncode == 0 and _record(cli.cwd / "i.h5")["rounds"][-1]["sweeps"] == final  # met: nothing run


def test_the_limit_stops_it_with_a_warning_and_the_record_says_so(tmp_path, caplog):
    res = simcore.run("pi", samples=10**5, partitions=2, executor="serial", out=str(tmp_path / "p.h5"),
                      until="pi.stderr<1e-6", until_max=4 * 10**5)
    record = _record(res.path)
    assert record["outcome"] == "limit reached" and record["limit"] == {"samples": 400000}
    assert [one["samples"] for one in record["rounds"]] == [100000, 400000]
    assert res.attrs["config"].count("samples = 400000") == 1
    assert any("limit reached at samples = 400000" in r.getMessage() for r in caplog.records if r.levelname == "WARNING")


@pytest.mark.parametrize("until, needle", [
    ("reflection<1e-4", "until 'reflection<1e-4' is not a target: write RESULT.stderr<VALUE"),
    ("reflectance.stderr<1e-4", "until 'reflectance.stderr<1e-4': no result 'reflectance'; results: reflection,"),
    ("reflection.mean<1e-4", "'mean' cannot be bounded; use one of: stderr, relative_error"),
    ("reflection.stderr<-1", "the bound must be a positive number (got '-1')"),
])
def test_a_bad_target_is_one_line_and_exit_2(cli, until, needle):
    assert_refused(cli("run", "transport", "--set", "histories=1000", "--until", until), needle)
    assert not list(cli.cwd.iterdir())


def test_a_run_that_cannot_grow_is_refused_before_it_starts(cli):
    assert_refused(cli("run", "transport", "--set", "histories=1000", "--until", "reflection.stderr<1e-4",
                       "--checkpoint-every", "0"), "until needs checkpoints (checkpoint_every > 0)")
    assert_refused(cli("run", "transport", "--set", "histories=1000", "--until", "reflection.stderr<1e-4",
                       "--until-max", "1000"), "until_max must be above the run's histories = 1000 (got 1000)")


def test_rounds_predict_from_the_errors_and_stay_under_the_limit():
    target = Target("x", "stderr", 1.0)
    batch = Until((target,), "histories", 10**6, whole_factors=True)
    assert batch.next_count(1000, {"x": 3.0}) == 10 * 1000  # 3^2 * 1.1 = 9.9 -> a whole 10
    assert batch.next_count(1000, {"x": 1.01}) == 2000  # at least 1.25, whole: 2
    assert batch.next_count(400_000, {"x": 3.0}) == 800_000  # capped at the largest whole factor under the limit
    assert batch.next_count(600_000, {"x": 3.0}) is None
    lockstep = Until((target,), "sweeps", 10_000, whole_factors=False)
    assert lockstep.next_count(1000, {"x": 2.0}) == 4400
    assert lockstep.next_count(1000, {"x": 1.01}) == 1250
    assert lockstep.next_count(9000, {"x": 2.0}) == 10_000 and lockstep.next_count(10_000, {"x": 2.0}) is None
    assert Target("x", "relative_error", 0.1).error(simcore.Estimate(-2.0, 0.5, 10)) == 0.25
