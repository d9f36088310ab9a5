"""simcore sweep: grid order, per-point exactness, determinism, resume, bad input.

The reference for a sweep point is an independent ``simcore.run`` of that
point with the seed the sweep recorded for it: the sweep must reproduce it
bitwise, whatever executor and worker count ran the sweep.
"""
import os

import h5py
import numpy as np
import pytest

import simcore
from simcore.sweep import parse_axis

from .conftest import assert_refused, results_snapshot, sigkill_after_second_checkpoint

ISING = {"sweeps": 300, "thermalize": 20}


def test_points_are_the_grid_first_axis_slowest(tmp_path):
    res = simcore.sweep("ising", {"L": [8, 4], "T": [2.0, 2.5, 3.0]}, executor="serial", out=str(tmp_path / "g.h5"),
                        **ISING)
    assert res.series("L").tolist() == [8, 8, 8, 4, 4, 4]
    assert res.series("T").tolist() == [2.0, 2.5, 3.0] * 2
    assert res.series("binder").shape == res.series("binder_stderr").shape == (6,)
    assert len(set(res.series("seed").tolist())) == 6
    assert np.all(res.series("binder_stderr") > 0)


@pytest.mark.parametrize("model, grid, fixed", [
    ("ising", {"T": [2.2, 3.1]}, {"L": 8, **ISING}),
    ("transport", {"scatter_ratio": [0.2, 0.9]}, {"histories": 20_000, "partitions": 4}),
])
def test_each_point_is_the_standalone_run_with_the_seed_it_records(tmp_path, model, grid, fixed):
    res = simcore.sweep(model, grid, executor="serial", out=str(tmp_path / "s.h5"), seed=7, **fixed)
    (name, values), = grid.items()
    for k, value in enumerate(values):
        alone = simcore.run(model, **fixed, **{name: value}, seed=int(res.series("seed")[k]), executor="serial",
                            out=str(tmp_path / f"p{k}.h5"))
        for result in alone.names:
            assert res.series(result)[k] == alone.mean(result), result
            assert res.series(f"{result}_stderr")[k] == alone.stderr(result), result


def test_bitwise_identical_for_any_executor_and_worker_count(tmp_path):
    grid = {"L": [4, 8], "T": [2.1, 2.4, 2.7]}
    snapshots = [results_snapshot(simcore.sweep("ising", grid, executor=executor, workers=workers,
                                                out=str(tmp_path / f"{executor}{workers}.h5"), **ISING).path)
                 for executor, workers in [("serial", 1), ("thread", 2), ("process", 2), ("process", 4)]]
    assert all(snapshot == snapshots[0] for snapshot in snapshots)


def test_cli_sweep_prints_a_row_per_point_and_info_reads_it(cli):
    done = cli("sweep", "pi", "--param", "samples=1000:3000:3", "--set", "partitions=2", "--executor", "serial",
               "--out", "pi.h5")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[0].split() == ["samples", "pi"] and len(lines) == 5 and lines[-1] == "wrote pi.h5"
    assert [line.split()[0] for line in lines[1:4]] == ["1000", "2000", "3000"]
    info = cli("info", "pi.h5")
    assert info.returncode == 0 and "model       pi (sweep)" in info.stdout and lines[2] in info.stdout


@pytest.mark.slow  # slow for the default suite's budget; SIGKILL-then-resume of ising and pi stays in it
def test_sigkill_then_resume_is_bitwise_exact(cli):
    sweep = ("sweep", "ising", "--param", "T=2.0:3.0:12", "--set", "L=16", "--set", "sweeps=4000",
             "--set", "thermalize=100", "--workers", "2", "--quiet")
    assert cli(*sweep, "--checkpoint-every", "0", "--out", "ref.h5").returncode == 0
    checkpoint = sigkill_after_second_checkpoint(cli, *sweep, "--checkpoint-every", "0.2", out="k.h5")
    done = cli("resume", "k.h5", "--quiet")
    assert done.returncode == 0, done.stderr
    assert results_snapshot(cli.cwd / "k.h5") == results_snapshot(cli.cwd / "ref.h5")
    assert checkpoint.status == "finished" or checkpoint.counters["partitions_done"] < 12


@pytest.mark.parametrize("args, needle", [
    (["--param", "L=7,8"], "sweep point 0 (L = 7): ising: L must be even (got 7)"),
    (["--param", "T=2.0:-1.0:3"], "sweep point 2 (T = -1.0): ising.T [J/k_B] must be > 0 (got -1.0)"),
    (["--param", "temperature=1,2"], "--param temperature: not a parameter of ising; sweepable: dim, L, T"),
    (["--param", "T=2:3"], "--param T: a range is start:stop:num"),
    (["--param", "T=2:3:0"], "--param T: a range is start:stop:num"),
    (["--param", "T"], "--param expects NAME=start:stop:num or NAME=v1,v2,..."),
    (["--param", "T=2,3", "--param", "T=4"], "--param T is given twice"),
    (["--param", "T=2,2"], "--param T: values repeat (2.0, 2.0)"),
    (["--param", "T=2,3", "--set", "T=2.5"], "T is both swept (--param) and fixed (--set)"),
    (["--param", "algorithm=metropolis,wolff"], "ising.algorithm must be one of: metropolis, heatbath"),
    (["--param", "L=a,b"], "--param L must be an integer (got 'a')"),
    (["--param", "seed=1,2"], "--param seed: not a parameter of ising"),
    (["--set", "L=8"], "the following arguments are required: --param"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(cli, args, needle):
    done = cli("sweep", "ising", *args, "--out", "bad.h5")
    assert_refused(done, needle)
    assert os.listdir(cli.cwd) == []


def test_a_sweep_runs_no_sweeps_and_keeps_one_partition_per_point(tmp_path):
    with pytest.raises(simcore.ConfigError, match="a sweep cannot run sweeps"):
        simcore.sweep("sweep", {"of": ["pi"]})
    with pytest.raises(simcore.ConfigError, match="partitions of sweep is fixed at 2"):
        simcore.run("sweep", grid="{samples = [100, 200]}", of="pi", partitions=3, out=str(tmp_path / "x.h5"))


def test_range_axis_includes_both_ends():
    assert parse_axis("T=2:3:5") == ("T", [2.0, 2.25, 2.5, 2.75, 3.0])
    assert parse_axis("L=8") == ("L", [8])
    assert parse_axis("start=hot,cold") == ("start", ["hot", "cold"])


def test_string_axes_are_stored_as_text(tmp_path):
    res = simcore.sweep("ising", {"start": ["hot", "cold"]}, L=4, executor="serial", out=str(tmp_path / "t.h5"),
                        **ISING)
    with h5py.File(res.path) as handle:
        assert [v.decode() for v in handle["series/start"][()]] == ["hot", "cold"]


def test_a_result_named_like_the_swept_parameter_keeps_both(tmp_path):
    """lj has a parameter and a result called temperature: the axis stays, the result is *_measured."""
    res = simcore.sweep("lj", {"temperature": [0.7, 1.5]}, cells=3, cutoff=1.5, steps=20, executor="serial",
                        out=str(tmp_path / "t.h5"))
    assert res.series("temperature").tolist() == [0.7, 1.5]
    assert res.series("temperature_measured").shape == res.series("temperature_measured_stderr").shape == (2,)


def test_lj_points_run_in_one_process_do_not_share_neighbour_lists(cli):
    """Points run one after another by one worker: each equals its standalone run in a fresh process."""
    res = simcore.sweep("lj", {"cutoff": [1.5, 2.2]}, cells=3, temperature=0.1, steps=50, executor="serial",
                        out=str(cli.cwd / "c.h5"))
    done = cli("run", "lj", "--set", "cells=3", "--set", "temperature=0.1", "--set", "steps=50", "--set",
               "cutoff=2.2", "--seed", str(int(res.series("seed")[1])), "--executor", "serial", "--out", "alone.h5")
    assert done.returncode == 0, done.stderr
    alone = simcore.open_results(cli.cwd / "alone.h5")
    assert res.series("potential_energy_per_atom")[1] == alone.mean("potential_energy_per_atom")


def test_point_k_is_the_kth_point_of_the_grid():
    from simcore.sweep import build_spec

    spec = build_spec("ising", {"L": [8, 16, 32], "T": [2.0, 2.1], "algorithm": ["metropolis", "heatbath"]}, {})
    assert [spec.point(k) for k in range(12)] == spec.points
