"""A full or read-only disk, a job cancelled while it starts, Slurm's warning signal: one line, the right exit code.

Disk faults use a real tiny tmpfs (mounting needs root, as in CI; skipped
elsewhere) or /dev/full behind the temporary name of the next write.
"""
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from simcore import checkpoint as ck
from simcore.storage import EXIT_STORAGE
from simcore.testing import forkserver_of

from ..conftest import CliRun, assert_refused, orphan_segments, results_snapshot, segments_of

#: pi in 400 partitions of ~10 ms on 2 workers: a few seconds, and every signal lands mid-run.
PI = ("pi", "--set", "samples=4e9", "--set", "partitions=200", "--seed", "7", "--workers", "2")  # 2-4 s on 2 cores


def _mount_tmpfs(path: Path, *options: str) -> None:
    path.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", ",".join(options), "tmpfs", str(path)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        path.rmdir()
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip() or 'not root'})")


@pytest.fixture
def tiny_disk(tmp_path):
    """A 120 KiB tmpfs: room for a few checkpoints of pi, soon full."""
    mount = tmp_path / f"tiny-{uuid.uuid4().hex[:6]}"
    _mount_tmpfs(mount, "size=120k")
    yield mount
    for _ in range(50):  # the run's processes may still hold it for a moment
        if subprocess.run(["umount", str(mount)], capture_output=True).returncode == 0:
            return
        time.sleep(0.1)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    cli = CliRun(tmp_path_factory.mktemp("reference"))
    done = cli("run", *PI, "--checkpoint-every", "0", "--out", "ref.h5", "--quiet")
    assert done.returncode == 0, done.stderr
    return results_snapshot(cli.cwd / "ref.h5")


@pytest.mark.slow  # the default suite's budget; tests/faults/test_io_errors.py refuses checkpoints in it
def test_a_full_disk_during_checkpoints_is_a_warning_per_interval_and_the_run_finishes(cli, tiny_disk, reference):
    done = cli("run", *PI, "--checkpoint-every", "0.3", "--out", str(tiny_disk / "f.h5"), "--quiet")
    lines = done.stderr.strip().splitlines()
    assert done.returncode in (0, EXIT_STORAGE), done.stderr
    assert "Traceback" not in done.stderr and lines, done.stderr
    warnings = [line for line in lines if line.startswith("simcore: WARNING: checkpoint ")]
    assert warnings and all("No space left on device" in line and "free)" in line and "is intact" in line
                            for line in warnings), lines
    assert not list(tiny_disk.glob("*.tmp")), list(tiny_disk.iterdir())
    if done.returncode == EXIT_STORAGE:  # the results did not fit either: the last line says how to finish
        assert lines[-1].startswith("simcore: error: cannot write the results") and "simcore resume" in lines[-1]
        assert len(lines) == len(warnings) + 1
    else:
        assert len(lines) == len(warnings)
        assert results_snapshot(tiny_disk / "f.h5") == reference


@pytest.mark.slow  # slow for the default suite's budget; tests/faults/test_io_errors.py injects the same failure in it
def test_results_that_cannot_be_written_exit_74_and_resume_exactly(cli, reference):
    proc = cli.start("run", *PI, "--checkpoint-every", "0.3", "--out", "f.h5", "--quiet")
    results_tmp = cli.cwd / f".f.h5.{proc.pid}.tmp"
    results_tmp.symlink_to("/dev/full")  # write_results writes here: ENOSPC (HDF5 raises it as RuntimeError)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == EXIT_STORAGE, stderr
    (line,) = stderr.strip().splitlines()
    assert line.startswith("simcore: error: cannot write the results f.h5: No space left on device"), line
    assert "the newest valid checkpoint is f.h5.ckpt" in line and "'simcore resume f.h5' writes the results" in line
    assert not results_tmp.is_symlink() and not (cli.cwd / "f.h5").exists()
    assert cli.live_processes() == [] and segments_of(proc.pid) == []
    done = cli("resume", "f.h5", "--quiet")
    assert done.returncode == 0, done.stderr
    assert results_snapshot(cli.cwd / "f.h5") == reference


def test_a_missing_or_read_only_directory_is_refused_before_any_work(cli, tmp_path):
    assert_refused(cli("run", "pi", "--out", "nowhere/f.h5"), "directory 'nowhere' does not exist")
    read_only = tmp_path / f"ro-{uuid.uuid4().hex[:6]}"
    _mount_tmpfs(read_only, "size=64k", "ro")
    try:
        assert_refused(cli("run", "pi", "--out", str(read_only / "f.h5")), "is on a read-only filesystem")
        plain = CliRun(read_only)  # the default results path, in a read-only working directory
        plain.env = cli.env
        assert_refused(plain("run", "pi"), "the working directory (where the results go by default)")
        assert_refused(plain("sweep", "pi", "--param", "samples=10,20"), "read-only filesystem")
        assert os.listdir(read_only) == []
    finally:
        subprocess.run(["umount", str(read_only)], capture_output=True)


def test_a_forkserver_still_compiling_kernels_ends_with_its_killed_main_process(cli, tmp_path):
    """A cold numba cache makes the forkserver's preload a compile of a minute: it must not outlive the main process."""
    cli.env = dict(cli.env, NUMBA_CACHE_DIR=str(tmp_path / "cold-numba-cache"))
    proc = cli.start("run", *PI, "--out", "f.h5", "--quiet")
    deadline = time.monotonic() + 120
    while forkserver_of(proc.pid) is None and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert forkserver_of(proc.pid) is not None, "the run ended before it started its forkserver"
    proc.kill()
    proc.wait()  # not communicate(): an orphaned server would hold the output pipes until it is done compiling
    assert cli.live_processes(wait=5) == []
    proc.communicate()


def _group_signal_after(cli, sig: int, delay: float, *command: str) -> tuple[subprocess.Popen, str]:
    proc = cli.start(*command)
    time.sleep(delay)
    os.killpg(proc.pid, sig)
    _, stderr = proc.communicate(timeout=120)
    return proc, stderr


@pytest.mark.parametrize("sig, code, delay", [  # importing, starting the pool, running
    (signal.SIGTERM, 143, 0.3), (signal.SIGTERM, 143, 1.0), (signal.SIGHUP, 129, 1.6),
    pytest.param(signal.SIGHUP, 129, 0.3, marks=pytest.mark.slow),
    pytest.param(signal.SIGTERM, 143, 0.7, marks=pytest.mark.slow),
    pytest.param(signal.SIGTERM, 143, 2.0, marks=pytest.mark.slow),
    pytest.param(signal.SIGINT, 130, 1.2, marks=pytest.mark.slow)])
def test_a_signal_to_the_whole_group_while_it_starts_gives_its_exit_code_and_one_line(cli, sig, code, delay):
    proc, stderr = _group_signal_after(cli, sig, delay, "run", *PI, "--checkpoint-every", "0.5", "--out", "f.h5")
    assert proc.returncode == code, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    assert f"interrupted by {signal.Signals(sig).name}" in lines[0]
    assert cli.live_processes() == [] and segments_of(proc.pid) == [] and orphan_segments() == []
    if "simcore resume" in lines[0]:
        assert ck.latest_checkpoint(cli.cwd / "f.h5").status == "interrupted" or ck.existing_checkpoints(
            cli.cwd / "f.h5")


def test_sigusr1_writes_a_checkpoint_at_once_and_the_run_goes_on(cli, reference):
    proc = cli.start("run", *PI, "--checkpoint-every", "1e6", "--out", "f.h5", "--quiet")
    first = cli.cwd / "f.h5.ckpt"
    deadline = time.monotonic() + 60
    while not first.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.5)
    before = ck.read_checkpoint(first)
    os.killpg(proc.pid, signal.SIGUSR1)  # as Slurm's --signal=USR1 sends it to every process of the job step
    deadline = time.monotonic() + 30
    while ck.read_checkpoint(first).sequence == before.sequence and time.monotonic() < deadline:
        time.sleep(0.05)
    during = ck.read_checkpoint(first)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    assert stderr == ""
    assert during.sequence == before.sequence + 1 and during.status == "running"
    assert during.counters["partitions_done"] > before.counters["partitions_done"]
    assert results_snapshot(cli.cwd / "f.h5") == reference


@pytest.mark.slow  # the default suite's budget; SIGUSR1's checkpoint stays in it (test_sigusr1_writes_...)
def test_sigusr1_with_on_usr1_stop_checkpoints_exits_138_and_resumes_exactly(cli, reference):
    proc, stderr = _group_signal_after(cli, signal.SIGUSR1, 2.0, "run", *PI, "--checkpoint-every", "1e6",
                                       "--on-usr1", "stop", "--out", "f.h5")
    assert proc.returncode == 138, stderr
    (line,) = stderr.strip().splitlines()
    assert "interrupted by SIGUSR1" in line and "simcore resume f.h5.ckpt" in line
    assert ck.read_checkpoint(cli.cwd / "f.h5.ckpt").status == "interrupted"
    done = cli("resume", "f.h5", "--quiet")
    assert done.returncode == 0, done.stderr
    assert results_snapshot(cli.cwd / "f.h5") == reference


@pytest.mark.slow  # the default suite's budget; SIGUSR1's checkpoint stays in it (test_sigusr1_writes_...)
def test_the_slurm_run_script_checkpoints_at_usr1_and_its_next_start_resumes_exactly(cli, reference):
    """experiments/slurm_run.sh outside Slurm: SIGUSR1 to the batch shell, as --signal=B:USR1 sends it."""
    script = Path(__file__).resolve().parents[2] / "experiments" / "slurm_run.sh"
    env = dict(cli.env, OUT="s.h5", RUN=" ".join(PI), CHECKPOINT_EVERY="1e6")
    env.pop("SLURM_JOB_ID", None)
    shell = subprocess.Popen(["bash", str(script)], cwd=cli.cwd, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not (cli.cwd / "s.h5.ckpt").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    shell.send_signal(signal.SIGUSR1)
    _, stderr = shell.communicate(timeout=120)
    assert shell.returncode == 138, stderr
    assert "interrupted by SIGUSR1" in stderr and ck.read_checkpoint(cli.cwd / "s.h5.ckpt").status == "interrupted"
    again = subprocess.run(["bash", str(script)], cwd=cli.cwd, env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert results_snapshot(cli.cwd / "s.h5") == reference
