"""Runs started at the same moment in one directory: no collisions in /dev/shm or on disk."""
import time

import pytest

from ..conftest import orphan_segments, results_snapshot

RUN = ("run", "transport", "--set", "histories=2e7", "--seed", "9", "--workers", "2", "--quiet")


def _together(cli, *commands):
    """Start every command at once; return the finished processes with their output."""
    procs = [cli.start(*command) for command in commands]
    return [(proc, *proc.communicate(timeout=120)) for proc in procs]


def test_same_seed_default_names_both_finish_into_two_files(cli):
    finished = _together(cli, RUN, RUN)
    assert [proc.returncode for proc, _, _ in finished] == [0, 0], [err for _, _, err in finished]
    assert sorted(p.name for p in cli.cwd.glob("*.h5")) == ["transport-2.h5", "transport.h5"]
    assert results_snapshot(cli.cwd / "transport.h5") == results_snapshot(cli.cwd / "transport-2.h5")
    assert not list(cli.cwd.glob("*.lock"))
    assert cli.live_processes() == [] and orphan_segments() == []


@pytest.mark.slow  # the default suite's budget; the lock's refusal of a second run on a running out stays in it
def test_same_out_one_finishes_and_the_other_refuses_cleanly(cli):
    finished = _together(cli, (*RUN, "--out", "same.h5"), (*RUN, "--out", "same.h5"))
    codes = sorted(proc.returncode for proc, _, _ in finished)
    assert codes == [0, 2], [err for _, _, err in finished]
    refusal = next(err for proc, _, err in finished if proc.returncode == 2).strip().splitlines()
    assert len(refusal) == 1 and refusal[0].startswith("simcore: error: out 'same.h5'")
    assert "being written by another simcore run" in refusal[0] or "already exists" in refusal[0]
    reference = cli(*RUN, "--out", "ref.h5")
    assert reference.returncode == 0
    assert results_snapshot(cli.cwd / "same.h5") == results_snapshot(cli.cwd / "ref.h5")
    assert cli.live_processes() == [] and orphan_segments() == []


def test_a_running_run_cannot_be_resumed_or_overwritten_meanwhile(cli):
    proc = cli.start("run", "pi", "--set", "samples=2e11", "--set", "partitions=2000", "--out", "busy.h5",
                     "--checkpoint-every", "0.2", "--quiet")
    try:
        while not (cli.cwd / "busy.h5.ckpt").exists():
            assert proc.poll() is None
            time.sleep(0.05)
        for command in (("resume", "busy.h5"), ("run", "pi", "--out", "busy.h5", "--force")):
            done = cli(*command)
            assert done.returncode == 2, done.stderr
            assert "being written by" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    finally:
        proc.terminate()
        proc.communicate(timeout=60)
    assert proc.returncode == 143
    assert cli.live_processes() == [] and orphan_segments() == []


def test_a_lock_file_left_by_a_killed_run_does_not_block_even_if_its_pid_is_taken(cli):
    """After SIGKILL the lock file stays, naming a pid that may belong to someone else by now."""
    (cli.cwd / "stale.h5.lock").write_text("1")  # pid 1 is alive, and holds no lock on this file
    done = cli("run", "pi", "--set", "samples=1e5", "--executor", "serial", "--out", "stale.h5", "--quiet")
    assert done.returncode == 0, done.stderr
    assert not (cli.cwd / "stale.h5.lock").exists()
