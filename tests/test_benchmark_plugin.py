"""simcore's pytest plugin runs a user's benchmark suite: a model of their own, a built-in one, a kernel."""
import json
import os
import subprocess
import sys
import textwrap

USER_MODEL = '''
import numba
import numpy as np

from simcore.models.base import BatchModel, Param, Reduction, Result, ResultValue, partition_share
from simcore.stats import Estimate


@numba.njit(cache=True)
def heads(seed, count):
    """Coins with a bias of 1/4: how many of ``count`` land heads (a toy kernel)."""
    total = 0
    state = np.uint64(seed) * np.uint64(6364136223846793005) + np.uint64(1)
    for _ in range(count):
        state = state * np.uint64(6364136223846793005) + np.uint64(1442695040888963407)
        total += (state >> np.uint64(62)) == np.uint64(0)
    return total


def run_partition(p, seed, partition, partitions, row):
    start, stop = partition_share(p["tosses"], partitions, partition)
    row[0], row[1] = stop - start, heads(seed + partition, stop - start)


def reduce(p, tallies):
    n, k = tallies.sum(axis=0)
    return Reduction({"bias": ResultValue(tallies[:, 1] / tallies[:, 0], Estimate(k / n, 0.0, int(n), ""), "iid")}, {})


MODEL = BatchModel(
    name="coins", doc="biased coins", params=(Param("tosses", int, 1000, ge=1),), results=(Result("bias"),),
    default_partitions=lambda p: 1, work=lambda p: p["tosses"], work_unit="tosses", tally_width=lambda p: 2,
    run_partition=run_partition, reduce=reduce, warm=lambda: heads(1, 1),
)
'''

USER_SUITE = '''
from simcore.testing.benchmark import assert_rate
from coins_pkg import model


def test_own_model(simcore_benchmark):
    rate = simcore_benchmark("coins_pkg.model:MODEL", {"tosses": 2_000_000}, rounds=5)
    assert rate.unit == "tosses" and rate.per_second > 0 and rate.roofline is None  # no intensity declared


def test_builtin_model(simcore_benchmark):
    rate = simcore_benchmark("pi", {"samples": 2_000_000}, rounds=5)
    assert rate.roofline.binding == "philox"


def test_kernel_against_a_baseline(simcore_benchmark):
    rate = simcore_benchmark.kernel(model.heads, (1, 1_000_000), unit="tosses", per_call=1_000_000)
    slow = simcore_benchmark.baseline(model.heads.py_func, (1, 10_000), unit="tosses", per_call=10_000)
    assert_rate(rate, baseline=slow, ratio=5.0)
'''


def test_user_suite_runs_through_the_plugin(tmp_path):
    """Nothing is installed: the plugin is simcore's pytest11 entry point; extra_info holds the natural units."""
    package = tmp_path / "coins_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "model.py").write_text(textwrap.dedent(USER_MODEL))
    (tmp_path / "test_user_bench.py").write_text(textwrap.dedent(USER_SUITE))
    report = tmp_path / "bench.json"
    env = dict(os.environ, PYTHONPATH=str(tmp_path), NUMBA_CACHE_DIR=str(tmp_path / "numba"))
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(tmp_path),
                           "-c", os.devnull, "--benchmark-json", str(report), str(tmp_path / "test_user_bench.py")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 passed" in done.stdout
    assert "natural units" in done.stdout and "machine limits (one core, this session)" in done.stdout
    info = {bench["name"]: bench["extra_info"] for bench in json.loads(report.read_text())["benchmarks"]}
    assert info["test_own_model"]["unit"] == "tosses/s" and info["test_own_model"]["model"] == "coins"
    assert info["test_builtin_model"]["unit"] == "darts/s"
    assert 0 < info["test_builtin_model"]["fraction_of_philox"] < 2
    assert info["test_builtin_model"]["binding_limit"] == "philox"
    kernel = info["test_kernel_against_a_baseline"]
    assert kernel["rate"] > 5 * kernel["baseline_rate"] > 0
