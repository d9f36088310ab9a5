"""Kill, interrupt and resume through the CLI: exact results, valid checkpoints, nothing left behind.

The reference is an uninterrupted run with the same seed and partitions;
``/results`` (and ``/series``, ``/tallies``) of the resumed run must be
byte-identical to it.
"""
import os
import random
import re
import shutil
import signal
import time

import h5py
import pytest

import simcore
from simcore import checkpoint as ck

from .conftest import pool_workers_of, results_snapshot, segments_of

#: ~3 s of work on 2 cores: long enough for kills to land mid-run.
RUN = ("transport", "--set", "histories=8e7", "--set", "partitions=40", "--seed", "11", "--workers", "2")
#: A run that a signal always catches in the middle (partitions of ~0.1 s).
LONG = ("pi", "--set", "samples=2e11", "--set", "partitions=2000", "--workers", "2")


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    from .conftest import CliRun

    cli = CliRun(tmp_path_factory.mktemp("reference"))
    done = cli("run", *RUN, "--checkpoint-every", "0", "--out", "ref.h5", "--quiet")
    assert done.returncode == 0, done.stderr
    return results_snapshot(cli.cwd / "ref.h5")


def _checkpoint_files(directory):
    """Checkpoints and row segments on disk (temporary files excluded)."""
    return sorted(p for d in directory.glob("*.ckpt") for p in d.iterdir() if not p.name.endswith(".tmp"))


def _assert_every_file_verifies(directory, out="k.h5"):
    """Each checkpoint opens with h5py and passes every checksum (its own and its segments'),
    and so does every segment present, listed or not."""
    files = _checkpoint_files(directory)
    heads = ck.existing_checkpoints(directory / out)
    segments = ck.existing_segments(ck.checkpoint_dir(directory / out))
    assert sorted(heads + segments) == files
    for path in heads:
        with h5py.File(path, "r") as handle:
            assert handle.attrs["filetype"] == "simcore-checkpoint"
        assert ck.read_checkpoint(path).status in ("running", "finished")
    for path in segments:
        ck.load_segment(path)
    return heads


def _kill_and_resume(cli, reference, kill_after):
    proc = cli.start("run", *RUN, "--checkpoint-every", "0.25", "--out", "k.h5", "--quiet")
    time.sleep(kill_after)
    proc.kill()  # SIGKILL to the main process only: no handler, no finally
    proc.communicate()
    assert cli.live_processes() == [], "workers outlived their killed main process"
    if _assert_every_file_verifies(cli.cwd):
        done = cli("resume", "k.h5", "--quiet")
    else:  # killed before the first checkpoint: nothing to resume, run again
        done = cli("run", *RUN, "--out", "k.h5", "--quiet", "--force")
    assert done.returncode == 0, done.stderr
    assert results_snapshot(cli.cwd / "k.h5") == reference, f"killed after {kill_after:.2f} s"
    assert cli.live_processes() == []


@pytest.mark.parametrize("fraction", [0.3, *(pytest.param(f, marks=pytest.mark.slow) for f in (0.6, 0.9))])
def test_sigkill_then_resume_is_bitwise_exact(cli, reference, fraction):
    kill_after = 1.0 + fraction * 3.0 * random.uniform(0.8, 1.2)
    _kill_and_resume(cli, reference, kill_after)


@pytest.mark.slow
@pytest.mark.parametrize("trial", range(24))
def test_sigkill_at_random_moments_then_resume_is_bitwise_exact(cli, reference, trial):
    _kill_and_resume(cli, reference, random.uniform(0.3, 5.0))


def _wait_for_checkpoint(cli, proc, path, timeout=60):
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            pytest.fail(f"run ended early: {proc.communicate()}")
        if time.monotonic() > deadline:
            pytest.fail("no checkpoint appeared")
        time.sleep(0.05)


@pytest.mark.parametrize("signum, code, group", [
    (signal.SIGINT, 130, True),     # Ctrl-C: the whole process group
    (signal.SIGINT, 130, False),    # kill -INT <main pid>
    (signal.SIGTERM, 143, False),   # kill <main pid>, as a batch scheduler does
])
def test_interrupt_writes_a_final_checkpoint_and_cleans_up(cli, signum, code, group):
    proc = cli.start("run", *LONG, "--checkpoint-every", "1", "--out", "p.h5")
    _wait_for_checkpoint(cli, proc, cli.cwd / "p.h5.ckpt")
    time.sleep(0.5)
    (os.killpg if group else os.kill)(proc.pid, signum)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == code, stderr
    assert "Traceback" not in stderr and "resource_tracker" not in stderr
    assert "simcore resume p.h5.ckpt" in stderr
    assert cli.live_processes() == []
    assert segments_of(proc.pid) == []
    assert not (cli.cwd / "p.h5").exists()
    final = ck.read_checkpoint(cli.cwd / "p.h5.ckpt")
    assert final.status == "interrupted"
    assert 0 < final.counters["partitions_done"] < 2000


def test_second_signal_aborts_at_once_and_still_unlinks(cli):
    proc = cli.start("run", "pi", "--set", "samples=2e11", "--set", "partitions=20", "--workers", "2",
                     "--checkpoint-every", "60", "--out", "p.h5")
    _wait_for_checkpoint(cli, proc, cli.cwd / "p.h5.ckpt")
    deadline = time.monotonic() + 60
    while len(pool_workers_of(proc.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.5)  # the workers have imported their kernels and run a partition each (a queued one would be
    os.kill(proc.pid, signal.SIGINT)  # cancelled at once); the stop would wait STOP_GRACE_SECONDS (0.25 s)
    time.sleep(0.05)  # for the partitions in flight, then checkpoint: the second signal comes within that grace
    os.kill(proc.pid, signal.SIGINT)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert cli.live_processes() == []
    assert segments_of(proc.pid) == []
    assert ck.read_checkpoint(cli.cwd / "p.h5.ckpt").status == "running"  # the one from the start


@pytest.mark.slow  # the default suite's budget; SIGKILL-resume exactness and executor independence stay in it
def test_interrupted_run_resumes_exactly_on_another_executor(cli, reference):
    proc = cli.start("run", *RUN, "--checkpoint-every", "0.3", "--out", "i.h5", "--quiet")
    _wait_for_checkpoint(cli, proc, cli.cwd / "i.h5.ckpt" / "checkpoint.1.h5")
    os.kill(proc.pid, signal.SIGINT)
    proc.communicate(timeout=60)
    assert proc.returncode in (0, 130)
    result = simcore.resume(cli.cwd / "i.h5.ckpt", executor="thread", workers=1)
    assert results_snapshot(result.path) == reference


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory):
    """The checkpoint directory of a run interrupted by SIGINT after its first checkpoint, made once per module."""
    from .conftest import CliRun

    cli = CliRun(tmp_path_factory.mktemp("interrupted"))
    proc = cli.start("run", *LONG, "--checkpoint-every", "60", "--out", "p.h5", "--quiet")
    _wait_for_checkpoint(cli, proc, cli.cwd / "p.h5.ckpt")
    time.sleep(0.5)
    os.kill(proc.pid, signal.SIGINT)
    proc.communicate(timeout=60)
    assert proc.returncode == 130
    return cli.cwd / "p.h5.ckpt"


def _interrupted_checkpoint(cli, interrupted):
    """A copy of ``interrupted`` in ``cli``'s directory, as p.h5.ckpt; its newest checkpoint."""
    shutil.copytree(interrupted, cli.cwd / "p.h5.ckpt")
    return cli.cwd / "p.h5.ckpt" / "checkpoint.h5"


def _refused(done, *needles):
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("simcore: error: "), done.stderr
    for needle in needles:
        assert needle in lines[0]


def test_resume_refuses_a_file_that_is_not_a_checkpoint(cli):
    (cli.cwd / "notes.txt").write_text("hello\n")
    _refused(cli("resume", "notes.txt"), "notes.txt", "truncated or corrupt")
    with h5py.File(cli.cwd / "other.h5", "w") as handle:
        handle.attrs["filetype"] = "something-else"
    _refused(cli("resume", "other.h5"), "is not a simcore checkpoint")
    _refused(cli("resume", "missing.h5"), "has no checkpoints")


def test_resume_refuses_truncated_and_corrupt_checkpoints(cli, interrupted):
    path = _interrupted_checkpoint(cli, interrupted)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    named = "p.h5.ckpt/checkpoint.h5"  # named, a damaged checkpoint is refused (the directory's older one would do)
    _refused(cli("resume", named), "truncated or corrupt")
    path.write_bytes(data)
    with h5py.File(path, "r+") as handle:
        handle["state/done"][0] ^= 1
    _refused(cli("resume", named), "checksum")
    assert not (cli.cwd / "p.h5").exists()


def test_resume_refuses_changes_that_break_exactness(cli, interrupted):
    path = _interrupted_checkpoint(cli, interrupted)
    before = path.read_bytes()
    for change, needle in (("samples=3e11", "samples of a batch run grows only by a whole factor"),
                           ("samples=1e11", "samples cannot shrink on resume"),
                           ("partitions=1000", "partitions cannot change on resume"),
                           ("seed=2", "seed cannot change on resume")):
        done = cli("resume", "p.h5.ckpt", "--set", change)
        _refused(done, needle)
        assert path.read_bytes() == before and not (cli.cwd / "p.h5").exists()


def test_resume_of_a_finished_run_does_no_work(cli):
    done = cli("run", "transport", "--set", "histories=20000", "--out", "t.h5", "--quiet")
    assert done.returncode == 0
    assert [p.name for p in ck.existing_checkpoints(cli.cwd / "t.h5")] == ["checkpoint.h5"]
    before = (cli.cwd / "t.h5").read_bytes()
    for target in ("t.h5", "t.h5.ckpt"):
        again = cli("resume", target)
        assert again.returncode == 0, again.stderr
        assert "already finished" in again.stdout and "t.h5" in again.stdout
    assert (cli.cwd / "t.h5").read_bytes() == before
    assert ck.read_checkpoint(cli.cwd / "t.h5.ckpt").status == "finished"


def test_results_lost_after_finishing_are_rebuilt_from_the_final_checkpoint(cli):
    assert cli("run", "transport", "--set", "histories=1e6", "--out", "t.h5", "--quiet").returncode == 0
    expected = results_snapshot(cli.cwd / "t.h5")
    (cli.cwd / "t.h5").unlink()
    done = cli("resume", "t.h5.ckpt", "--quiet")
    assert done.returncode == 0, done.stderr
    assert results_snapshot(cli.cwd / "t.h5") == expected


def test_a_new_run_never_overwrites_checkpoints_of_an_unfinished_one(cli, interrupted):
    _interrupted_checkpoint(cli, interrupted)
    _refused(cli("run", *LONG, "--out", "p.h5"), "has checkpoints of an unfinished run", "simcore resume p.h5")


def test_a_checkpoint_the_disk_refuses_is_one_warning_and_the_run_finishes_exactly(cli, reference):
    proc = cli.start("run", *RUN, "--checkpoint-every", "0.2", "--out", "p.h5", "--quiet")
    _wait_for_checkpoint(cli, proc, cli.cwd / "p.h5.ckpt")
    tmp = cli.cwd / "p.h5.ckpt" / "checkpoint.h5.tmp"
    while True:  # the next write of the temporary file fails with ENOSPC
        try:
            tmp.symlink_to("/dev/full")
            break
        except FileExistsError:
            time.sleep(0.01)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    warning, recovered = stderr.strip().splitlines()
    assert warning.startswith("simcore: WARNING: checkpoint ") and "No space left on device" in warning, warning
    assert "is intact" in warning and "tries again at the next checkpoint" in warning
    assert re.fullmatch(r"simcore: WARNING: checkpoint \d+ written to p\.h5\.ckpt/checkpoint\.h5 after 1 refused",
                        recovered)
    assert not tmp.is_symlink()  # removed with the failed write, so the next checkpoint landed
    assert results_snapshot(cli.cwd / "p.h5") == reference
    assert cli.live_processes() == []
    assert segments_of(proc.pid) == []


def test_info_shows_a_checkpoints_progress_and_how_to_continue(cli, interrupted):
    path = _interrupted_checkpoint(cli, interrupted)
    shown = cli("info", "p.h5.ckpt")
    assert shown.returncode == 0, shown.stderr
    assert "status      interrupted" in shown.stdout and "simcore resume p.h5.ckpt" in shown.stdout
    counters = ck.read_checkpoint(path).counters
    assert (f"interrupted, resumable with {counters['partitions_done']} of {counters['partitions']} partitions done"
            in shown.stdout)
    assert shown.stdout == cli("info", "p.h5").stdout  # the results path of an unfinished run shows its checkpoint
