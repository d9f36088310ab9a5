"""Shared fixtures: CLI runner with process tracking, leak checks, results comparison."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from simcore import mpi, shm
from simcore.testing import pool_workers_of, processes_with, results_snapshot  # noqa: F401  (used by the tests)

REPO = Path(__file__).resolve().parents[1]


class CliRun:
    """Runs ``python -m simcore`` in a subprocess tagged by a unique environment marker."""

    def __init__(self, cwd: Path) -> None:
        self.cwd = cwd
        self.marker = uuid.uuid4().hex
        self.env = dict(os.environ, SIMCORE_TEST_MARKER=self.marker, PYTHONPATH=str(REPO))

    def __call__(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        """Run to completion and return the finished process (stdout/stderr as text)."""
        return subprocess.run([sys.executable, "-m", "simcore", *args], cwd=self.cwd, env=self.env,
                              capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)

    def start(self, *args: str) -> subprocess.Popen:
        """Start in a new process group (so a group signal mimics Ctrl-C) and return it."""
        return subprocess.Popen([sys.executable, "-m", "simcore", *args], cwd=self.cwd, env=self.env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                stdin=subprocess.DEVNULL, process_group=0,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))

    def live_processes(self, wait: float = 10.0) -> list[int]:
        """PIDs still carrying this run's marker, after waiting up to ``wait`` s for them to end."""
        return processes_with("SIMCORE_TEST_MARKER", self.marker, wait)


def assert_refused(done, needle: str) -> None:
    """``done`` exited 2 with exactly one line ``simcore: error: ...`` that contains ``needle``."""
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("simcore: error: ") and needle in lines[0], done.stderr


def sigkill_after_second_checkpoint(cli: CliRun, *command: str, out: str):
    """Start ``command`` writing ``out``, SIGKILL its main process once ``out.ckpt/checkpoint.1.h5`` exists; its
    newest checkpoint.

    The kill may land while the checkpoints rotate (``checkpoint.h5`` renamed, the new one not yet in place): the
    newest complete checkpoint is then ``checkpoint.1.h5``, which is what ``simcore resume`` continues too.
    """
    from simcore.checkpoint import latest_checkpoint

    proc = cli.start(*command, "--out", out)
    deadline = time.monotonic() + 60
    while not (cli.cwd / f"{out}.ckpt" / "checkpoint.1.h5").exists() and proc.poll() is None \
            and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.kill()
    proc.communicate()
    assert cli.live_processes() == [], "workers outlived their killed main process"
    return latest_checkpoint(cli.cwd / out)


@pytest.fixture
def cli(tmp_path) -> CliRun:
    """A CLI runner working in a fresh temporary directory."""
    return CliRun(tmp_path)


def segments_of(pid: int) -> list[str]:
    """simcore shared-memory blocks in /dev/shm owned by ``pid``."""
    return [name for name in shm.list_segments() if name.startswith(f"{shm.PREFIX}{pid}_")]


def orphan_segments() -> list[str]:
    """simcore blocks in /dev/shm whose owner process no longer exists."""
    return [name for name in shm.list_segments() if not os.path.exists(f"/proc/{name.split('_')[1]}")]


_PROBE = """
from mpi4py.futures import MPIPoolExecutor
with MPIPoolExecutor(max_workers=1) as pool:
    assert pool.submit(abs, -1).result() == 1
"""


@pytest.fixture(scope="module")
def usable_mpi():
    """Skip (saying why) unless mpi4py is installed and can spawn a rank here."""
    if not mpi.available():
        pytest.skip("mpi4py is not installed (pip install -e '.[mpi]')")
    probe = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=120)
    if probe.returncode != 0:
        pytest.skip(f"MPI cannot start here: {probe.stderr.strip()[-300:]}")


def mpich_files() -> set[str]:
    """The names of MPICH's files in /dev/shm."""
    return {path.name for path in Path("/dev/shm").glob("mpich_shm_*")}
