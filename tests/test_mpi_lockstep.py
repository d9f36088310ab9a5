"""Lockstep models on MPI ranks (issue 18): each rank holds its rows and their halo, results byte-identical.

Both launches: ``--executor mpi --workers R`` (a coordinator leads R ranks) and ``mpiexec -n R python -m
simcore`` (every rank runs simcore, rank 0 the run).  The reference is the process executor with the same seed
and partitions; compared are /results, /series, /tallies (the per-step sums) and the final state (the last
checkpoint's).  Skipped, saying why, where mpi4py or MPI cannot start.
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from simcore import mpi
from simcore.checkpoint import latest_checkpoint

from .conftest import CliRun, assert_refused, mpich_files, orphan_segments, results_snapshot

CASES = {
    "ising-2d": ("ising", "--set", "L=48", "--set", "sweeps=40", "--set", "thermalize=8", "--set", "partitions=8",
                 "--set", "T=2.4"),
    "ising-3d": ("ising", "--set", "dim=3", "--set", "L=12", "--set", "sweeps=24", "--set", "thermalize=4",
                 "--set", "partitions=6", "--set", "algorithm=heatbath"),
    "nbody": ("nbody", "--set", "bodies=96", "--set", "t_end=0.02", "--set", "dt=0.001", "--set",
              "integrator=yoshida4", "--set", "partitions=8", "--set", "softening=0.01"),
}
COMMON = ("--seed", "11", "--quiet")


def _mpiexec() -> str:
    found = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or shutil.which("mpiexec")
    if found is None:
        pytest.skip("no mpiexec on this machine")
    return found


def _launch(cli, ranks: int, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """``mpiexec -n ranks python -m simcore ARGS`` in the test's directory."""
    return subprocess.run([_mpiexec(), "-n", str(ranks), sys.executable, "-m", "simcore", *args], cwd=cli.cwd,
                          env=cli.env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def _final_state(cli, out: str) -> bytes:
    with h5py.File(latest_checkpoint(cli.cwd / out).path, "r") as checkpoint:
        assert checkpoint.attrs["status"] == "finished"
        return np.ascontiguousarray(checkpoint["state/state"][()]).tobytes()


def _everything(cli, out: str) -> tuple:
    return results_snapshot(cli.cwd / out), _final_state(cli, out)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """Each case's results and final state from the process executor (2 workers), made once."""
    made = {}

    def of(case: str) -> tuple:
        if case not in made:
            cli = CliRun(tmp_path_factory.mktemp(case))
            done = cli("run", *CASES[case], *COMMON, "--executor", "process", "--workers", "2", "--out", "p.h5")
            assert done.returncode == 0, done.stderr
            made[case] = _everything(cli, "p.h5")
        return made[case]

    return of


@pytest.mark.parametrize("ranks", [1, 2, 3, 4])
@pytest.mark.parametrize("case", list(CASES))
def test_ranks_give_the_bytes_of_the_process_executor(cli, usable_mpi, reference, case, ranks):
    """R ranks of the coordinator, or of mpiexec (R = 2 and 4), hold only their rows and halo: same bytes."""
    if ranks in (2, 4):
        done = _launch(cli, ranks, "run", *CASES[case], *COMMON, "--executor", "mpi", "--out", "m.h5",
                       "--log-level", "INFO")
    else:
        done = cli("run", *CASES[case], *COMMON, "--executor", "mpi", "--workers", str(ranks), "--out", "m.h5",
                   "--log-level", "INFO")
    assert done.returncode == 0, done.stderr
    assert f"on {ranks} mpi worker(s)" in done.stderr
    assert len(re.findall(r"rank \d+: rows \[", done.stderr)) == ranks
    assert _everything(cli, "m.h5") == reference(case)
    assert cli.live_processes() == []


def _footprints(stderr: str) -> list[tuple[int, int, int, float]]:
    """(first row, stop row, bytes held, bytes sent a step) of each rank, from the INFO lines."""
    return [(int(a), int(b), int(held), float(sent)) for a, b, held, sent in
            re.findall(r"rank \d+: rows \[(\d+), (\d+)\) of the state, (\d+) bytes of it held \(halo included\), "
                       r"([\d.]+) bytes sent a step", stderr)]


def test_a_rank_holds_its_rows_and_halo_and_sends_the_surface(cli, usable_mpi):
    """Ising L = 256 on 4 ranks: each holds 64 + 2 rows (the halo), and sends two rows per exchange."""
    done = cli("run", "ising", "--set", "L=256", "--set", "sweeps=16", "--set", "thermalize=0", *COMMON,
               "--executor", "mpi", "--workers", "4", "--out", "m.h5", "--log-level", "INFO")
    assert done.returncode == 0, done.stderr
    ranks = _footprints(done.stderr)
    assert [(a, b) for a, b, _, _ in ranks] == [(0, 64), (64, 128), (128, 192), (192, 256)]
    assert all(held == (64 + 2) * 256 for _, _, held, _ in ranks)
    # 3 exchanges a sweep (two colours, the measurement), each 2 rows of 256 one-byte spins
    assert all(sent == 3 * 2 * 256 for _, _, _, sent in ranks)


def _kill_after_checkpoint(cli, ranks: int, args: tuple, out: str, checkpoints: int) -> None:
    """Start ``mpiexec -n ranks python -m simcore ARGS --out out``; SIGKILL the whole job (mpiexec and every rank)
    once ``checkpoints`` more checkpoints than the first are on disk."""
    job = subprocess.Popen([_mpiexec(), "-n", str(ranks), sys.executable, "-m", "simcore", *args, "--out", out],
                           cwd=cli.cwd, env=cli.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           stdin=subprocess.DEVNULL, process_group=0)
    deadline = time.monotonic() + 120
    written = cli.cwd / f"{out}.ckpt" / f"checkpoint.{min(checkpoints, 1)}.h5"
    while not written.exists() and job.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.05 * max(0, checkpoints - 1))
    os.killpg(job.pid, signal.SIGKILL)
    job.wait()
    assert cli.live_processes() == []
    assert not (cli.cwd / out).exists()


LONG = ("run", *CASES["ising-2d"], "--set", "sweeps=20000", *COMMON, "--executor", "mpi", "--checkpoint-every", "0.1")


@pytest.mark.parametrize("moment", [1, pytest.param(2, marks=pytest.mark.slow), pytest.param(5, marks=pytest.mark.slow)])
def test_resume_on_another_rank_count_and_executor_gives_the_same_bytes(cli, usable_mpi, moment):
    """SIGKILL the whole mpiexec job of 2 ranks; resume its checkpoint on 3 ranks, and a copy of it on the process
    executor: both the bytes of the uninterrupted run."""
    whole = cli(*LONG[:-4], "--executor", "process", "--workers", "2", "--out", "whole.h5")
    assert whole.returncode == 0, whole.stderr
    _kill_after_checkpoint(cli, 2, LONG, "k.h5", moment)
    copy = CliRun(cli.cwd / "copy")
    copy.cwd.mkdir()
    shutil.copytree(cli.cwd / "k.h5.ckpt", copy.cwd / "k.h5.ckpt")
    on_ranks = cli("resume", "k.h5", "--executor", "mpi", "--workers", "3", "--quiet")
    on_pool = copy("resume", "k.h5", "--executor", "process", "--workers", "2", "--quiet")
    for done, where in ((on_ranks, cli), (on_pool, copy)):
        assert done.returncode == 0, done.stderr
        assert _everything(where, "k.h5") == _everything(cli, "whole.h5")
    assert cli.live_processes() == [] and copy.live_processes() == []


def test_bad_mpi_input_is_one_line_and_exit_2(cli, usable_mpi):
    more = _launch(cli, 3, "run", "ising", "--set", "L=8", "--set", "partitions=2", "--executor", "mpi",
                   "--dry-run")
    assert more.returncode == 2 and more.stderr.count("simcore: error: ") == 1, more.stderr
    assert "partitions must be at least the 3 MPI ranks" in more.stderr


def test_sigterm_to_mpiexec_checkpoints_and_exits_143(cli, usable_mpi):
    before = mpich_files()
    job = subprocess.Popen([_mpiexec(), "-n", "2", sys.executable, "-m", "simcore", "run", *CASES["ising-2d"],
                            "--set", "sweeps=100000", *COMMON, "--executor", "mpi", "--out", "t.h5"],
                           cwd=cli.cwd, env=cli.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (cli.cwd / "t.h5.ckpt").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    job.send_signal(signal.SIGTERM)
    _, stderr = job.communicate(timeout=120)
    assert job.returncode == 143, stderr
    with h5py.File(latest_checkpoint(cli.cwd / "t.h5").path, "r") as checkpoint:
        assert checkpoint.attrs["status"] == "interrupted"
    assert cli.live_processes() == []
    assert orphan_segments() == []
    assert mpich_files() <= before
    resumed = cli("resume", "t.h5", "--set", "sweeps=200", "--quiet")
    assert resumed.returncode in (0, 2), resumed.stderr


def test_mpi_missing_says_how_to_install(cli, monkeypatch):
    monkeypatch.setattr(mpi, "available", lambda: False)
    from simcore.config import ConfigError, build_config
    from simcore.models import get_model

    with pytest.raises(ConfigError, match=r"pip install -e '\.\[mpi\]'"):
        build_config(get_model("ising"), {"executor": "mpi"})
