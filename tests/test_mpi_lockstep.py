"""Lockstep models on MPI ranks (issue 18): each rank holds its rows and their halo, results byte-identical.

Both launches: ``--executor mpi --workers R`` (a coordinator leads R ranks) and ``mpiexec -n R python -m
simcore`` (every rank runs simcore, rank 0 the run).  The reference is the process executor with the same seed
and partitions; compared are /results, /series, /tallies (the per-step sums) and the final state (the last
checkpoint's).  Skipped, saying why, where mpi4py or MPI cannot start.
"""
import json
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

from .conftest import CliRun, mpich_files, orphan_segments, results_snapshot

CASES = {
    "ising-2d": ("ising", {"L": 48, "sweeps": 40, "thermalize": 8, "partitions": 8, "T": 2.4}),
    "ising-3d": ("ising", {"dim": 3, "L": 12, "sweeps": 24, "thermalize": 4, "partitions": 6,
                           "algorithm": "heatbath"}),
    "nbody": ("nbody", {"bodies": 96, "t_end": 0.02, "dt": 0.001, "integrator": "yoshida4", "partitions": 8,
                        "softening": 0.01}),
    # a hot liquid (box 11.3, slabs of 2.8 and more on 4 ranks): 500 steps, ~90 list builds, atoms crossing slabs
    "lj": ("lj", {"cells": 6, "density": 0.6, "temperature": 2.5, "steps": 480, "thermalize": 20,
                  "thermostat": "langevin", "partitions": 6}),
}


def _run_args(case: str, **changes) -> tuple[str, ...]:
    """``MODEL --set NAME=VALUE ...`` of ``case``, with ``changes``."""
    model, params = CASES[case]
    return (model, *[item for name, value in {**params, **changes}.items() for item in ("--set", f"{name}={value}")])


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
            done = cli("run", *_run_args(case), *COMMON, "--executor", "process", "--workers", "2", "--out", "p.h5")
            assert done.returncode == 0, done.stderr
            made[case] = _everything(cli, "p.h5")
        return made[case]

    return of


#: Every case on 1-4 ranks inside one MPI job of 4 (tests/support/ranks_check.py): seconds, not minutes.
RANK_CASES = [["ising", {"L": 20, "sweeps": 30, "thermalize": 5, "T": 2.4}, 8],
              ["ising", {"dim": 3, "L": 10, "sweeps": 16, "thermalize": 3, "algorithm": "heatbath"}, 5],
              ["nbody", {"bodies": 50, "t_end": 0.01, "integrator": "yoshida4", "softening": 0.01}, 7],
              ["lj", {"cells": 6, "density": 0.6, "temperature": 2.5, "steps": 50, "thermalize": 10,
                      "thermostat": "nose-hoover"}, 5]]


def test_every_rank_count_and_a_change_of_it_give_the_bytes_of_one_process(cli, usable_mpi):
    """ising 2D, 3D, nbody and lj on 1, 2, 3 and 4 ranks, in uneven rounds, and resumed halfway from the gathered
    state on another rank count: per-step sums and final state byte for byte those of one process."""
    script = Path(__file__).resolve().parent / "support" / "ranks_check.py"
    done = subprocess.run([_mpiexec(), "-n", "4", sys.executable, str(script), json.dumps(RANK_CASES)], cwd=cli.cwd,
                          env=cli.env, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == len(RANK_CASES) * 4 * 2 * 2 and all(line.endswith(" same") for line in lines), done.stdout


def _footprints(stderr: str) -> list[tuple[str, int, float]]:
    """(share, bytes held, bytes of halo sent a step) of each rank, from the INFO lines."""
    return [(share, int(held), float(sent)) for share, held, sent in
            re.findall(r"rank \d+: ([^;\n]+); (\d+) bytes of the state held \(halo included\), "
                       r"([\d.]+) bytes of halo sent a step", stderr)]


#: Cases and rank counts of the end-to-end runs; the launch is mpiexec for even counts, the coordinator for odd.
DEFAULT_END_TO_END = [("ising-2d", 3), ("ising-3d", 2), ("nbody", 4), ("lj", 4)]
END_TO_END = DEFAULT_END_TO_END + [pytest.param(case, ranks, marks=pytest.mark.slow) for case in CASES
                                   for ranks in (1, 2, 3, 4) if (case, ranks) not in DEFAULT_END_TO_END]


@pytest.mark.parametrize("case, ranks", END_TO_END)
def test_ranks_give_the_bytes_of_the_process_executor(cli, usable_mpi, reference, case, ranks):
    """``simcore run`` on R ranks (mpiexec, or the coordinator): results, series, sums and the final state of the
    process executor; an Ising rank holds its rows and one halo row each side, and sends those rows; an lj rank
    holds its slab's atoms and their ghosts, less than the whole box."""
    if ranks % 2 == 0:
        done = _launch(cli, ranks, "run", *_run_args(case), *COMMON, "--executor", "mpi", "--out", "m.h5",
                       "--log-level", "INFO")
    else:
        done = cli("run", *_run_args(case), *COMMON, "--executor", "mpi", "--workers", str(ranks), "--out", "m.h5",
                   "--log-level", "INFO")
    assert done.returncode == 0, done.stderr
    assert f"on {ranks} mpi worker(s)" in done.stderr
    assert _everything(cli, "m.h5") == reference(case)
    footprints = _footprints(done.stderr)
    assert len(footprints) == ranks
    model, params = CASES[case]
    if model == "ising":
        rows = [tuple(map(int, re.fullmatch(r"rows \[(\d+), (\d+)\) of the state", share).groups()))
                for share, *_ in footprints]
        assert rows[0][0] == 0 and rows[-1][1] == params["L"]
        row_bytes = params["L"] ** (params.get("dim", 2) - 1)
        assert all(held == (stop - first + 2) * row_bytes for (first, stop), (_, held, _) in zip(rows, footprints))
        steps = params["sweeps"] + params["thermalize"]
        exchanges = 2 * steps + params["sweeps"]  # before each colour and each measurement
        assert all(sent == pytest.approx(exchanges * 2 * row_bytes / steps, abs=0.5) for *_, sent in footprints)
    if model == "lj":
        whole = 19 * 4 * params["cells"] ** 3 * 8  # bytes of the state: 19 quantities of every atom
        own = [int(re.search(r": (\d+) own", share).group(1)) for share, *_ in footprints]
        assert all(n > 0 for n in own) and all(held < whole for _, held, _ in footprints)
        assert (ranks == 1) == all(sent == 0 for *_, sent in footprints)
    assert cli.live_processes() == []


def _kill_after_checkpoint(cli, ranks: int, args: tuple, out: str, after: float) -> None:
    """Start ``mpiexec -n ranks python -m simcore ARGS --out out``; SIGKILL the whole job (mpiexec and every rank)
    ``after`` seconds after its second checkpoint is on disk."""
    job = subprocess.Popen([_mpiexec(), "-n", str(ranks), sys.executable, "-m", "simcore", *args, "--out", out],
                           cwd=cli.cwd, env=cli.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           stdin=subprocess.DEVNULL, process_group=0)
    deadline = time.monotonic() + 120
    while not (cli.cwd / f"{out}.ckpt" / "checkpoint.1.h5").exists() and job.poll() is None \
            and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(after)
    if job.poll() is not None:
        pytest.fail(f"the MPI job ended (exit {job.returncode}) before it could be killed: make the run longer")
    os.killpg(job.pid, signal.SIGKILL)
    job.wait()
    assert cli.live_processes() == []
    assert not (cli.cwd / out).exists(), "the run ended before the kill: make it longer"


@pytest.mark.parametrize("after, sweeps", [(0.0, 12000), pytest.param(0.4, 30000, marks=pytest.mark.slow),
                                           pytest.param(1.5, 30000, marks=pytest.mark.slow)])
def test_resume_on_another_rank_count_and_executor_gives_the_same_bytes(cli, usable_mpi, after, sweeps):
    """SIGKILL the whole mpiexec job of 2 ranks; resume its checkpoint on 3 ranks, and a copy of it on the process
    executor: both the bytes of the uninterrupted run."""
    run = ("run", *_run_args("ising-2d", sweeps=sweeps), *COMMON)
    whole = cli(*run, "--executor", "process", "--workers", "2", "--out", "whole.h5")
    assert whole.returncode == 0, whole.stderr
    _kill_after_checkpoint(cli, 2, (*run, "--executor", "mpi", "--checkpoint-every", "0.1"), "k.h5", after)
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
    thin = _launch(cli, 3, "run", "lj", "--set", "cells=4", "--set", "partitions=3", "--executor", "mpi",
                   "--dry-run")
    coordinated = cli("run", "lj", "--set", "cells=4", "--set", "partitions=4", "--executor", "mpi", "--workers",
                      "3", "--dry-run")
    for refused in (thin, coordinated):
        assert refused.returncode == 2 and refused.stderr.count("simcore: error: ") == 1, refused.stderr
        assert "3 MPI ranks cut the box of lj (side 6.718) into slabs 2.239 thick, thinner than cutoff + skin = 2.8: " \
               "use at most 2 ranks, or a larger system" in refused.stderr


def test_sigterm_to_mpiexec_checkpoints_and_exits_143(cli, usable_mpi):
    before = mpich_files()
    job = subprocess.Popen([_mpiexec(), "-n", "2", sys.executable, "-m", "simcore", "run",
                            *_run_args("ising-2d", sweeps=100000), *COMMON, "--executor", "mpi", "--out", "t.h5"],
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


def test_mpi_missing_says_how_to_install(monkeypatch):
    monkeypatch.setattr(mpi, "available", lambda: False)
    from simcore.config import ConfigError, build_config
    from simcore.models import get_model

    with pytest.raises(ConfigError, match=r"pip install -e '\.\[mpi\]'"):
        build_config(get_model("ising"), {"executor": "mpi"})


@pytest.mark.slow  # the default suite's budget: the mpiexec launch is tested above
def test_the_slurm_lockstep_script_runs_on_4_ranks(cli, usable_mpi):
    """experiments/slurm_lockstep.sh outside Slurm (mpiexec starts SLURM_NTASKS ranks here): the bytes of the pool."""
    script = Path(__file__).resolve().parents[1] / "experiments" / "slurm_lockstep.sh"
    env = dict(cli.env, OUT="small.h5", L="16", SWEEPS="200", SLURM_NTASKS="4",
               PATH=f"{Path(sys.executable).parent}:{cli.env['PATH']}")
    done = subprocess.run(["bash", str(script)], cwd=cli.cwd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    pool = cli("run", "ising", "--set", "L=16", "--set", "T=2.269", "--set", "sweeps=200", "--set", "thermalize=0",
               "--set", "partitions=4", "--executor", "process", "--workers", "2", "--quiet", "--out", "pool.h5")
    assert pool.returncode == 0, pool.stderr
    assert results_snapshot(cli.cwd / "small.h5") == results_snapshot(cli.cwd / "pool.h5")
    assert cli.live_processes() == []
