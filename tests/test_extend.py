"""``simcore resume FILE --set sweeps=|steps=|t_end=|histories=|samples=`` extends a run: bitwise the longer run.

OpenMC adds batches to a statepoint; simcore adds steps to a final checkpoint.
Every step draws its random numbers by (seed, step, site), never by leg, so
the extended run is the run that asked for the larger count at once.  A batch
run grows by a whole factor k, its partitions with it: partition i keeps its
share and its random numbers, so 200000 histories on 4 partitions extended to
600000 are bitwise the run of 600000 on 12.
"""
import pytest

from tests.conftest import assert_refused, results_snapshot

#: model -> (its fixed settings, the length parameter, short, long, the long run's partitions if they grow)
RUNS = {
    "ising": (["--set", "L=16", "--set", "thermalize=100"], "sweeps", 2000, 5000, None),
    "transport": (["--set", "scatter_ratio=0.9"], "histories", 200_000, 600_000, 12),
    "pi": ([], "samples", 10**6, 4 * 10**6, 16),
    "lj": (["--set", "cells=4", "--set", "thermalize=20"], "steps", 100, 250, None),
    "nbody": (["--set", "preset=kepler", "--set", "dt=0.01"], "t_end", 1.0, 2.5, None),
}
#: the default suite's budget: ising's extension stays in it (and a batch one in test_until); the others: -m slow
SLOW = {"transport", "pi", "lj", "nbody"}


@pytest.mark.parametrize("model", [pytest.param(m, marks=pytest.mark.slow) if m in SLOW else m for m in RUNS])
def test_an_extended_run_is_bitwise_the_longer_run(cli, model):
    fixed, length, short, long, partitions = RUNS[model]
    grown = ["--set", f"partitions={partitions}"] if partitions else []
    assert cli("run", model, *fixed, *grown, "--set", f"{length}={long}", "--executor", "serial", "--out", "long.h5",
               "--quiet").returncode == 0
    first = ["--set", f"partitions={partitions * short // long}"] if partitions else []
    assert cli("run", model, *fixed, *first, "--set", f"{length}={short}", "--workers", "2", "--out", "x.h5",
               "--quiet").returncode == 0
    shorter = results_snapshot(cli.cwd / "x.h5")
    done = cli("resume", "x.h5", "--set", f"{length}={long}", "--executor", "serial", "--quiet")
    assert done.returncode == 0, done.stderr
    assert results_snapshot(cli.cwd / "x.h5") == results_snapshot(cli.cwd / "long.h5") != shorter
    assert cli("resume", "x.h5").stdout.startswith("simcore: the run has already finished")


def test_a_run_is_never_cut_and_a_batch_run_grows_only_by_a_whole_factor(cli):
    assert cli("run", "ising", "--set", "L=8", "--set", "sweeps=200", "--set", "thermalize=10", "--out", "i.h5",
               "--quiet").returncode == 0
    assert_refused(cli("resume", "i.h5", "--set", "sweeps=100"), "sweeps cannot shrink on resume (200 in the")
    assert_refused(cli("resume", "i.h5", "--set", "T=3.0"), "only workers, executor")
    assert cli("run", "transport", "--set", "histories=20000", "--set", "partitions=4", "--out", "t.h5",
               "--quiet").returncode == 0
    before = (cli.cwd / "t.h5").read_bytes()
    assert_refused(cli("resume", "t.h5", "--set", "histories=30000"),
                   "histories of a batch run grows only by a whole factor (20000 in the checkpoint, 30000 asked)")
    assert_refused(cli("resume", "t.h5", "--set", "histories=40000", "--set", "partitions=5"),
                   "partitions cannot be set when histories grows: they grow with it, each partition's share "
                   "staying 5,000")
    assert (cli.cwd / "t.h5").read_bytes() == before
