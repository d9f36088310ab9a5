"""Failures and interruptions: no leaked shared memory or processes, clear messages, no hangs."""
import os

import pytest

import simcore
from simcore import shm

from ..conftest import orphan_segments, segments_of
from ..support import faulty


def test_normal_run_leaves_nothing_behind(cli):
    done = cli("run", "transport", "--set", "histories=50000", "--out", "t.h5", "--quiet")
    assert done.returncode == 0, done.stderr
    assert "resource_tracker" not in done.stderr and done.stderr == ""
    assert cli.live_processes() == []
    assert orphan_segments() == []


@pytest.mark.parametrize("executor", ["process", "thread", "serial"])
def test_worker_exception_exits_1_with_the_worker_traceback(cli, executor):
    done = cli("run", "tests.support.faulty:MODEL", "--executor", executor,
               "--seed", "17", "--out", "f.h5", timeout=120)
    assert done.returncode == 1
    assert f"partition {faulty.FAILING_PARTITION}" in done.stderr and "seed 17" in done.stderr
    assert "tests.support.faulty:MODEL" in done.stderr
    assert "deliberate failure" in done.stderr and "Traceback" in done.stderr  # the worker's, in the log
    assert done.stderr.strip().splitlines()[-1].startswith("simcore: error: ")
    assert not (cli.cwd / "f.h5").exists()
    assert (cli.cwd / "f.h5.ckpt").exists()  # the start's (async) checkpoint is written, not dropped
    assert cli.live_processes() == []
    assert orphan_segments() == []


@pytest.mark.parametrize("executor", ["process", "thread", "serial"])
def test_lockstep_failure_releases_the_workers_waiting_at_the_barrier(cli, executor):
    done = cli("run", "tests.support.faulty:LOCKSTEP", "--set", "L=16", "--set", "sweeps=200",
               "--executor", executor, "--workers", "2", "--seed", "17", "--out", "f.h5", timeout=120)
    assert done.returncode == 1, done.stderr
    assert "partition 0 (seed 17)" in done.stderr and "deliberate failure at step 5" in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("simcore: error: ")
    assert not (cli.cwd / "f.h5").exists()
    assert cli.live_processes() == []
    assert orphan_segments() == []


def test_worker_exception_through_the_python_api(tmp_path):
    with pytest.raises(simcore.PartitionFailed) as info:
        simcore.run("tests.support.faulty:MODEL", executor="process", workers=2, out=str(tmp_path / "f.h5"))
    assert info.value.partition == faulty.FAILING_PARTITION
    assert "deliberate failure" in info.value.remote_traceback
    assert segments_of(os.getpid()) == []


def test_orphans_of_dead_owners_are_removed_and_live_ones_kept(cli):
    from multiprocessing import resource_tracker, shared_memory

    dead = shared_memory.SharedMemory(name=f"{shm.PREFIX}999999999_0r0_tallies", create=True, size=64)
    mine = shm.SharedArena()
    mine.create("tallies", (2,))
    try:
        done = cli("run", "pi", "--set", "samples=1000", "--executor", "serial", "--quiet")
        assert done.returncode == 0
        segments = shm.list_segments()
        assert dead.name.lstrip("/") not in segments
        assert segments_of(os.getpid())  # a live owner keeps its blocks
    finally:
        mine.close()
        dead.close()
        try:
            dead.unlink()
        except FileNotFoundError:  # removed by the CLI, as intended: tell our tracker
            resource_tracker.unregister(dead._name, "shared_memory")
