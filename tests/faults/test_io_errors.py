"""I/O errors a tmpfs cannot make (EIO of a failing disk, EDQUOT of a quota), injected at the write.

A fault-injecting file layer replaces ``open`` where simcore writes its
files (HDF5 images: checkpoints, row segments, results; trajectory frames):
every write to a matching path raises the errno.  The run is the CLI in this
process, so the layer reaches the checkpoint writer thread too.
"""
import errno
import os

import pytest

from simcore import _h5, frames, runner
from simcore.storage import EXIT_STORAGE

from ..conftest import results_snapshot
from ..support.inprocess import cli_in_process as here

#: Ising on one thread, about 1 s, a checkpoint every 20 ms; a trajectory for lj.
ISING = ("ising", "--set", "L=32", "--set", "sweeps=4000", "--seed", "5", "--executor", "serial")
LJ = ("lj", "--set", "cells=4", "--set", "steps=400", "--set", "trajectory_every=100", "--seed", "5",
      "--executor", "serial")
ERRNOS = [pytest.param(errno.EIO, id="EIO"), pytest.param(errno.EDQUOT, id="EDQUOT")]


class _RefusingStream:
    def __init__(self, stream, code: int) -> None:
        self.stream, self.code = stream, code

    def write(self, data) -> int:
        raise OSError(self.code, os.strerror(self.code))

    def __getattr__(self, name):
        return getattr(self.stream, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.stream.close()


def refuse_writes(monkeypatch, code: int, to_names_with: str) -> None:
    """Make every write by simcore to a file whose name contains ``to_names_with`` fail with ``code``."""
    def refusing_open(path, mode="r", *args, **kwargs):
        stream = open(path, mode, *args, **kwargs)
        return _RefusingStream(stream, code) if "w" in mode and to_names_with in os.fspath(path) else stream

    for module in (_h5, frames):
        monkeypatch.setattr(module, "open", refusing_open, raising=False)


@pytest.fixture(scope="module")
def references(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("reference")
    for name, command in (("ising", ISING), ("lj", LJ)):
        done = here(["run", *command, "--checkpoint-every", "0", "--out", f"{name}.h5", "--quiet"], cwd)
        assert done.returncode == 0, done.stderr
    return {name: results_snapshot(cwd / f"{name}.h5") for name in ("ising", "lj")}


@pytest.mark.parametrize("code", ERRNOS)
def test_failing_checkpoint_writes_are_warned_at_the_1st_2nd_4th_and_the_run_finishes_exactly(monkeypatch, tmp_path,
                                                                                            code, references):
    refuse_writes(monkeypatch, code, ".ckpt")
    done = here(["run", *ISING, "--checkpoint-every", "0.02", "--out", "f.h5", "--quiet"], tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines and "Traceback" not in done.stderr
    assert all(line.startswith("simcore: WARNING: checkpoint ") and os.strerror(code) in line
               and "the run goes on" in line for line in lines), lines
    assert len(lines) > 2 and all(f"({2**k} refusals in a row; said again at {2**(k + 1)})" in line
                                  for k, line in enumerate(lines[1:], start=1)), lines
    assert sorted(path.name for path in tmp_path.iterdir()) == ["f.h5"]  # no .tmp, no half-written segment
    assert results_snapshot(tmp_path / "f.h5") == references["ising"]


@pytest.mark.parametrize("code", ERRNOS)
def test_results_that_cannot_be_written_exit_74_with_one_line_and_resume_exactly(monkeypatch, tmp_path, code,
                                                                                 references):
    refuse_writes(monkeypatch, code, ".f.h5.")  # the results' temporary name; checkpoints still land
    done = here(["run", *ISING, "--checkpoint-every", "0.2", "--out", "f.h5", "--quiet"], tmp_path)
    assert done.returncode == EXIT_STORAGE, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"simcore: error: cannot write the results f.h5: {os.strerror(code)}"), line
    assert "'simcore resume f.h5' writes the results" in line
    assert not (tmp_path / "f.h5").exists() and not list(tmp_path.glob("*.tmp"))
    monkeypatch.undo()  # space is back
    done = here(["resume", "f.h5", "--quiet"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert results_snapshot(tmp_path / "f.h5") == references["ising"]


@pytest.mark.parametrize("code", ERRNOS)
def test_a_trajectory_frame_that_cannot_be_written_exits_74_and_resumes_exactly(monkeypatch, tmp_path, code,
                                                                                references):
    refuse_writes(monkeypatch, code, ".frame-000000000300")
    done = here(["run", *LJ, "--checkpoint-every", "0.01", "--out", "f.h5", "--quiet"], tmp_path)
    assert done.returncode == EXIT_STORAGE, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("simcore: error: cannot write trajectory frame f.h5.frame-000000000300.npy: "
                           f"{os.strerror(code)}"), line
    assert not list(tmp_path.glob("*.tmp"))
    monkeypatch.undo()
    if "'simcore resume f.h5' finishes the run" in line:
        done = here(["resume", "f.h5", "--quiet"], tmp_path)
    else:  # no checkpoint came before step 300 on a fast machine
        assert "no checkpoint is left to continue from: once " in line and line.endswith(", run again"), line
        done = here(["run", *LJ, "--out", "f.h5", "--force", "--quiet"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert results_snapshot(tmp_path / "f.h5") == references["lj"]


def test_a_lock_file_the_filesystem_refuses_exits_74_with_one_line(monkeypatch, tmp_path):
    """The filesystem turned read-only after the out directory was checked (a campaign finding, a sweep at 2.2 s)."""
    def read_only(out):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(out) + ".lock")

    monkeypatch.setattr(runner, "try_claim", read_only)
    done = here(["sweep", "pi", "--param", "samples=1000,2000", "--out", "f.h5", "--quiet"], tmp_path)
    assert done.returncode == EXIT_STORAGE, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("simcore: error: cannot create the lock file f.h5.lock: Read-only file system ("), line
    assert line.endswith("free); no checkpoint is left to continue from: once the filesystem is writable again, "
                         "run again"), line
    assert list(tmp_path.iterdir()) == []
