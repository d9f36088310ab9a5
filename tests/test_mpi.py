"""The MPI executor (issue 8): results byte-identical to the process executor; a dead rank ends the run cleanly.

Runs where mpi4py and an MPI library are installed (``pip install -e '.[mpi]'``; .ci/run installs them) and
MPI can start; otherwise each test is skipped, with the reason in pytest's summary.
"""
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import pytest

from simcore import mpi

from .conftest import assert_refused, mpich_files, orphan_segments, results_snapshot

TRANSPORT = ("run", "transport", "--set", "histories=2e5", "--set", "partitions=12", "--seed", "7", "--quiet")
ISING_SWEEP = ("sweep", "ising", "--param", "T=2.0,2.3,2.6", "--set", "L=8", "--set", "sweeps=2000", "--seed", "7",
               "--quiet")
@pytest.mark.parametrize("command", [TRANSPORT, pytest.param(ISING_SWEEP, marks=pytest.mark.slow)],  # the default
                         ids=["transport", "ising-sweep"])  # suite's budget: the transport ranks stay in it
def test_three_ranks_give_the_bytes_of_the_process_executor(cli, usable_mpi, command):
    assert cli(*command, "--executor", "process", "--workers", "2", "--out", "p.h5").returncode == 0
    done = cli(*command, "--executor", "mpi", "--workers", "3", "--out", "m.h5")
    assert done.returncode == 0, done.stderr
    assert results_snapshot(cli.cwd / "m.h5") == results_snapshot(cli.cwd / "p.h5")
    assert cli.live_processes() == []


def test_ranks_started_by_mpiexec_serve_rank_0(cli, usable_mpi):
    """mpiexec -n 4 python -m mpi4py.futures -m simcore ...: rank 0 runs simcore, 3 ranks serve it."""
    mpiexec = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or shutil.which("mpiexec")
    if mpiexec is None:
        pytest.skip("no mpiexec on this machine")
    assert cli(*TRANSPORT, "--executor", "process", "--workers", "2", "--out", "p.h5").returncode == 0
    launched = subprocess.run([mpiexec, "-n", "4", sys.executable, "-m", "mpi4py.futures", "-m", "simcore",
                               *TRANSPORT, "--executor", "mpi", "--out", "l.h5"], cwd=cli.cwd, env=cli.env,
                              capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert launched.returncode == 0, launched.stderr
    assert results_snapshot(cli.cwd / "l.h5") == results_snapshot(cli.cwd / "p.h5")
    plain = subprocess.run([mpiexec, "-n", "2", sys.executable, "-m", "simcore", *TRANSPORT, "--executor", "mpi"],
                           cwd=cli.cwd, env=cli.env, capture_output=True, text=True, timeout=300)
    assert plain.returncode != 0 and "python -m mpi4py.futures -m simcore" in plain.stderr, plain.stderr


def test_the_slurm_script_runs_a_small_sweep_on_4_ranks(cli, usable_mpi):
    """experiments/slurm_sweep.sh outside Slurm (mpiexec starts SLURM_NTASKS ranks here), on a small grid."""
    script = Path(__file__).resolve().parents[1] / "experiments" / "slurm_sweep.sh"
    env = dict(cli.env, OUT="small.h5", L="4,8", T="2.0:2.5:3", SWEEPS="2000", SLURM_NTASKS="4",
               PATH=f"{Path(sys.executable).parent}:{cli.env['PATH']}")
    done = subprocess.run(["bash", str(script)], cwd=cli.cwd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    with h5py.File(cli.cwd / "small.h5") as results:
        assert sorted(zip(results["series/L"][()], results["series/T"][()])) == \
            [(L, T) for L in (4, 8) for T in (2.0, 2.25, 2.5)]
    assert cli.live_processes() == []


def test_a_rank_that_dies_ends_the_run_with_exit_1_and_its_checkpoint_kept(cli, usable_mpi):
    before = mpich_files()
    done = cli("run", "tests.support.faulty:MODEL", "--set", "fault=kill", "--executor", "mpi", "--workers", "2",
               "--out", "f.h5", timeout=120)  # a hang fails here
    assert done.returncode == 1, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("simcore: error: the mpi executor broke (a rank died or MPI aborted") and \
        "checkpoints are kept" in last, done.stderr
    assert (cli.cwd / "f.h5.ckpt").exists() and not (cli.cwd / "f.h5").exists()
    assert cli.live_processes() == []
    assert orphan_segments() == []
    assert mpich_files() <= before  # MPICH's own files of the killed job are removed too


def test_lockstep_models_without_a_halo_are_refused(cli):
    assert_refused(cli("run", "tests.support.shared_only:MODEL", "--executor", "mpi", "--dry-run"),
                   "executor 'mpi' runs lockstep models that declare a halo (ising, lj, nbody); shared-only does not"
                   if mpi.available() else "executor 'mpi' needs mpi4py and an MPI library")
