"""``simcore resume FILE --set sweeps=|steps=|t_end=`` extends a lockstep run: bitwise the longer run from the start.

OpenMC adds batches to a statepoint; simcore adds steps to a final checkpoint.
Every step draws its random numbers by (seed, step, site), never by leg, so
the extended run is the run that asked for the larger count at once.  A batch
run cannot be extended exactly (each partition's share of the histories
depends on their total): that is refused in one line saying so.
"""
import pytest

from tests.conftest import assert_refused, results_snapshot

#: model -> (its fixed settings, the length parameter, short, long)
RUNS = {
    "ising": (["--set", "L=16", "--set", "thermalize=100"], "sweeps", 2000, 5000),
    "lj": (["--set", "cells=4", "--set", "thermalize=20"], "steps", 100, 250),
    "nbody": (["--set", "preset=kepler", "--set", "dt=0.01"], "t_end", 1.0, 2.5),
}
#: the default suite's budget: ising's extension stays in it; lj's and nbody's run with -m slow
SLOW = {"lj", "nbody"}


@pytest.mark.parametrize("model", [pytest.param(m, marks=pytest.mark.slow) if m in SLOW else m for m in RUNS])
def test_an_extended_run_is_bitwise_the_longer_run(cli, model):
    fixed, length, short, long = RUNS[model]
    assert cli("run", model, *fixed, "--set", f"{length}={long}", "--executor", "serial", "--out", "long.h5",
               "--quiet").returncode == 0
    assert cli("run", model, *fixed, "--set", f"{length}={short}", "--workers", "2", "--out", "x.h5",
               "--quiet").returncode == 0
    shorter = results_snapshot(cli.cwd / "x.h5")
    done = cli("resume", "x.h5", "--set", f"{length}={long}", "--executor", "serial", "--quiet")
    assert done.returncode == 0, done.stderr
    assert results_snapshot(cli.cwd / "x.h5") == results_snapshot(cli.cwd / "long.h5") != shorter
    assert cli("resume", "x.h5").stdout.startswith("simcore: the run has already finished")


def test_a_run_is_never_cut_and_a_batch_run_is_not_extended(cli):
    assert cli("run", "ising", "--set", "L=8", "--set", "sweeps=200", "--set", "thermalize=10", "--out", "i.h5",
               "--quiet").returncode == 0
    assert_refused(cli("resume", "i.h5", "--set", "sweeps=100"), "sweeps cannot shrink on resume (200 in the")
    assert_refused(cli("resume", "i.h5", "--set", "T=3.0"), "only workers, executor")
    assert cli("run", "transport", "--set", "histories=20000", "--out", "t.h5", "--quiet").returncode == 0
    before = (cli.cwd / "t.h5").read_bytes()
    assert_refused(cli("resume", "t.h5", "--set", "histories=40000"), "a batch run cannot be extended exactly")
    assert (cli.cwd / "t.h5").read_bytes() == before
