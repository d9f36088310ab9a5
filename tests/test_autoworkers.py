"""workers = auto: serial below the pool's break-even, the pool above it, and the log says why."""
import json
import subprocess
import sys

import pytest

from simcore.autoworkers import choose, pool_start_seconds
from simcore.config import build_config, default_workers
from simcore.models import get_model

CORES = default_workers()
needs_two_cores = pytest.mark.skipif(CORES < 2, reason="auto only chooses a pool with two usable cores or more")

#: Runs the CLI in a fresh Python and reports, after it, whether this process ever started a
#: forkserver (process workers are always forked from it) and the command lines of its children
#: (the shared-memory resource tracker is one, and no worker).
_PROBE = """
import glob, json, multiprocessing.forkserver as forkserver, os, sys
from simcore.cli import main
code = main(sys.argv[1:])
children = [c for f in glob.glob(f"/proc/{os.getpid()}/task/*/children") for c in open(f).read().split()]
commands = [open(f"/proc/{c}/cmdline", "rb").read().replace(b"\\0", b" ").decode() for c in children]
print(json.dumps({"code": code, "forkserver": forkserver._forkserver._forkserver_pid, "children": commands}))
"""


def _probe(cli, *args):
    done = subprocess.run([sys.executable, "-c", _PROBE, "run", *args, "--log-level", "INFO", "--quiet"],
                          cwd=cli.cwd, env=cli.env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    info = json.loads(cli("info", "r.h5", "--json").stdout)
    return report, info, done.stderr


def _config(name, **values):
    model = get_model(name)
    return model, build_config(model, values)


def test_a_tiny_run_is_serial_and_starts_no_worker_process(cli):
    report, info, log = _probe(cli, "pi", "--set", "samples=1e5", "--set", "partitions=8", "--out", "r.h5")
    assert report["code"] == 0
    assert report["forkserver"] is None
    assert [c for c in report["children"] if "resource_tracker" not in c] == [], report["children"]
    assert (info["executor"], info["workers"]) == ("serial", 1)
    assert "pi: workers = auto: serial, about 0.00011 s of work serially" in log


@needs_two_cores
def test_work_above_the_break_even_gets_the_pool(cli):
    report, info, log = _probe(cli, "tests.support.costed:HOUR", "--set", "samples=1e5", "--set", "partitions=8",
                               "--out", "r.h5")
    assert report["forkserver"] is not None
    assert (info["executor"], info["workers"]) == ("process", min(CORES, 8))
    assert "workers = auto: pool, about 3.6e+03 s of work serially" in log


@needs_two_cores
def test_the_choice_follows_the_declared_cost_of_each_model():
    # pi: 1.1 ns a dart; transport default slab: ~66 ns a history; ising: 1.3 ns a site-sweep; the break-even
    # is 0.3 s (forkserver running) to 4 s (not yet) of work on 2 cores
    assert choose(*_config("pi", samples=10**6, partitions=8)).executor == "serial"
    assert choose(*_config("pi", samples=10**10, partitions=64))[:2] == ("process", min(CORES, 64))
    assert choose(*_config("transport", histories=10**5)).executor == "serial"
    assert choose(*_config("transport", histories=10**8, executor="thread")).executor == "thread"
    assert choose(*_config("ising", L=8, sweeps=1000)).executor == "serial"
    assert choose(*_config("ising", L=1024, sweeps=10**4)).executor == "process"
    # a sweep costs the sum of its points: 2 x 1e10 darts is over the break-even, 2 x 1e6 is not
    assert choose(*_config("sweep", of="pi", grid="{samples = [10_000_000_000, 10_000_000_001]}")).executor == "process"
    assert choose(*_config("sweep", of="pi", grid="{samples = [1_000_000, 1_000_001]}")).executor == "serial"


@needs_two_cores
def test_the_break_even_sits_where_the_pool_start_is_paid_back():
    # serial T against S + T/W: the pool wins once T > S W / (W - 1) (tasks' own overhead aside)
    break_even = pool_start_seconds("process") * CORES / (CORES - 1)
    darts = break_even / get_model("pi").cost({"samples": 1})
    # one partition a core, so the pool has W = CORES workers, as the break-even assumes
    assert choose(*_config("pi", samples=int(darts * 0.8), partitions=CORES)).executor == "serial"
    assert choose(*_config("pi", samples=int(darts * 1.25), partitions=CORES)).executor == "process"


def test_explicit_settings_are_kept():
    assert choose(*_config("pi", samples=10, workers=3, partitions=8))[:2] == ("process", 3)
    assert choose(*_config("pi", samples=10, workers=30, partitions=8))[:2] == ("process", 8)
    assert choose(*_config("pi", samples=10**12, executor="serial"))[:2] == ("serial", 1)


@needs_two_cores
def test_a_model_without_a_cost_gets_the_pool():
    choice = choose(*_config("tests.support.costed:UNKNOWN", samples=10, partitions=4))
    assert choice.executor == "process" and "declares no cost estimate" in choice.reason


def test_transport_cost_stays_finite_for_a_half_space_that_never_absorbs():
    model = get_model("transport")
    cost = model.cost(dict(build_config(model, {"thickness": float("inf"), "scatter_ratio": 1.0}).params))
    assert 0 < cost < float("inf")
