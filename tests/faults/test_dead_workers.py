"""Dead and hung workers: the pool is rebuilt, only lost work reruns, results stay exact.

Faults are injected from outside (SIGKILL to one pool worker at a random
moment, as the OOM killer does) and from inside (a partition that kills its
own worker, or hangs, on every attempt).
"""
import os
import random
import re
import signal
import time

import pytest

from ..conftest import CliRun, orphan_segments, pool_workers_of, results_snapshot

#: ~2-3 s of work on 2 cores in partitions of ~0.1 s.
RUN = ("transport", "--set", "histories=6e7", "--set", "partitions=48", "--seed", "5", "--workers", "2", "--quiet")
FAULTY = ("tests.support.faulty:MODEL", "--workers", "2", "--seed", "3")


#: A lockstep run of ~5 s on 2 workers (about 0.3 ms a sweep, mostly the rounds' synchronisation).
LOCKSTEP = ("ising", "--set", "L=64", "--set", "sweeps=20000", "--set", "thermalize=100", "--seed", "5", "--workers",
            "2", "--quiet")


def _undisturbed(tmp_path_factory, run) -> dict:
    cli = CliRun(tmp_path_factory.mktemp("reference"))
    done = cli("run", *run, "--checkpoint-every", "0", "--out", "ref.h5")
    assert done.returncode == 0, done.stderr
    return results_snapshot(cli.cwd / "ref.h5")


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    return _undisturbed(tmp_path_factory, RUN)


@pytest.fixture(scope="module")
def lockstep_reference(tmp_path_factory):
    return _undisturbed(tmp_path_factory, LOCKSTEP)


def _kill_a_worker_mid_run(cli, reference, delay: float, run=RUN, lost=r"while running partition\(s\) [\d, ]+;"):
    proc = cli.start("run", *run, "--checkpoint-every", "0.5", "--out", "k.h5")
    deadline = time.monotonic() + 60
    while not pool_workers_of(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(delay)
    victims = pool_workers_of(proc.pid)
    assert victims, "the run ended before the fault could be injected; make RUN longer"
    os.kill(random.choice(victims), signal.SIGKILL)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    assert re.search(r"worker \d+ was killed by SIGKILL \(out of memory, or killed\) " + lost, stderr), stderr
    assert results_snapshot(cli.cwd / "k.h5") == reference
    assert cli.live_processes() == []
    assert orphan_segments() == []


@pytest.mark.parametrize("delay", [0.2, pytest.param(1.0, marks=pytest.mark.slow)])  # budget: 0.2 s stays
def test_a_killed_worker_is_replaced_and_the_results_stay_exact(cli, reference, delay):
    _kill_a_worker_mid_run(cli, reference, delay)


@pytest.mark.slow
@pytest.mark.parametrize("trial", range(10))
def test_killed_workers_at_random_moments(cli, reference, trial):
    _kill_a_worker_mid_run(cli, reference, random.Random(trial).uniform(0.0, 1.5))


def test_a_killed_lockstep_worker_rolls_back_to_the_last_whole_state_and_stays_exact(cli, lockstep_reference):
    _kill_a_worker_mid_run(cli, lockstep_reference, 0.3, LOCKSTEP,  # within its rounds (~1 s with warm kernels)
                           r"during steps \d+-\d+; back to step \d+ \(the newest whole state\)")


@pytest.mark.slow
@pytest.mark.parametrize("trial", range(5))
def test_killed_lockstep_workers_at_random_moments(cli, lockstep_reference, trial):
    _kill_a_worker_mid_run(cli, lockstep_reference, random.Random(100 + trial).uniform(0.0, 2.0), LOCKSTEP,
                           r"during steps \d+-\d+; back to step \d+")


def _one_error_line(stderr: str) -> str:
    errors = [line for line in stderr.splitlines() if line.startswith("simcore: error: ")]
    assert len(errors) == 1 and stderr.strip().splitlines()[-1] == errors[0], stderr
    assert "Traceback" not in stderr
    return errors[0]


def test_a_partition_that_kills_its_worker_every_time_stops_after_max_retries(cli):
    done = cli("run", *FAULTY, "--set", "fault=kill", "--out", "f.h5", "--checkpoint-every", "0.2")
    assert done.returncode == 1, done.stderr
    line = _one_error_line(done.stderr)
    assert "partition(s) 3 failed on each of 3 attempts" in line and "max_retries = 2" in line
    assert done.stderr.count("running them again on a new one") == 2
    assert not (cli.cwd / "f.h5").exists() and (cli.cwd / "f.h5.ckpt").exists()
    assert cli.live_processes() == []
    assert orphan_segments() == []


def test_a_lockstep_step_that_kills_its_worker_every_time_stops_after_max_retries(cli):
    done = cli("run", "tests.support.faulty:LOCKSTEP", "--set", "fault=kill", "--set", "L=16", "--set", "sweeps=200",
               "--workers", "2", "--out", "f.h5")
    assert done.returncode == 1, done.stderr
    line = _one_error_line(done.stderr)
    assert "workers died 3 times before step" in line and "max_retries = 2" in line
    assert cli.live_processes() == []
    assert orphan_segments() == []


def test_a_hung_partition_is_killed_after_unit_timeout_and_retried(cli):
    done = cli("run", *FAULTY, "--set", "fault=hang", "--unit-timeout", "1", "--max-retries", "1", "--out", "h.h5")
    assert done.returncode == 1, done.stderr
    line = _one_error_line(done.stderr)
    assert "partition(s) 3 failed on each of 2 attempts" in line and "unit_timeout = 1 s" in line
    assert cli.live_processes() == []
    assert orphan_segments() == []


@pytest.mark.parametrize("executor", ["thread", "serial"])
def test_unit_timeout_needs_the_process_executor(cli, executor):
    done = cli("run", "pi", "--unit-timeout", "5", "--executor", executor)
    assert done.returncode == 2
    assert "unit_timeout needs the process executor" in _one_error_line(done.stderr)


def test_worker_log_records_reach_the_console_and_the_log_file_tagged_with_the_worker(cli):
    done = cli("run", *FAULTY, "--set", "fault=log", "--out", "l.h5", "--log-file", "run.log", "--quiet")
    assert done.returncode == 0, done.stderr
    tagged = re.compile(r"\[worker \d+\] partition 3 says hello")
    assert tagged.search(done.stderr), done.stderr
    log = (cli.cwd / "run.log").read_text()
    assert tagged.search(log) and "INFO simcore.engine" in log
