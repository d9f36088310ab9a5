"""Batch driver benchmarks: strong scaling and process-executor overhead, as ratios in one process.

Times are the engine's own wall time (``wall_seconds``: kernel warm-up, pool
start, partitions, tally copy; not the HDF5 write).  The forkserver is
started and its kernels loaded before any timed run.  On the 2-core
development machine the scaling figure is 1 -> 2 workers; the 1 -> 16 figure
of DESIGN.md section 8 needs the 16-core device machine.
"""
import os

import pytest

#: Driver studies, minutes long when measuring: run on purpose, pytest tests/benchmarks --benchmark-only -m slow.
pytestmark = pytest.mark.slow

import simcore

SCALING_TARGET = 0.90  # DESIGN.md section 8 (stated for 1 -> 16 workers)


def _wall(tmp_path, samples, workers, executor="process"):
    res = simcore.run("pi", samples=samples, partitions=64, workers=workers, executor=executor,
                      out=str(tmp_path / f"{executor}{workers}.h5"), force=True)
    return float(res.attrs["wall_seconds"]), res


@pytest.fixture(scope="module")
def warm_pool(tmp_path_factory):
    """Start the forkserver (which preloads the kernels) before anything is timed."""
    _wall(tmp_path_factory.mktemp("warm"), 1000, len(os.sched_getaffinity(0)))


def test_batch_strong_scaling(benchmark, tmp_path, warm_pool):
    workers = len(os.sched_getaffinity(0))
    # same problem for both runs; sized so the all-cores run lasts ~2 s (4e9 darts on 2 cores)
    samples = 2_000_000_000 * workers if not benchmark.disabled else 1_000_000
    one, reference = _wall(tmp_path, samples, 1)
    many, res = benchmark.pedantic(_wall, args=(tmp_path, samples, workers), rounds=1, iterations=1)
    assert res.mean("pi") == reference.mean("pi")  # bitwise the same estimate
    if benchmark.disabled:
        return
    efficiency = one / (workers * many)
    benchmark.extra_info.update(workers=workers, samples=samples, seconds_1_worker=one,
                                seconds_all_workers=many, efficiency=efficiency, target=SCALING_TARGET)
    if workers > 1:
        assert efficiency >= SCALING_TARGET


def test_process_executor_overhead(benchmark, tmp_path, warm_pool):
    """One process worker against the serial executor on the same run: pool start and IPC cost."""
    samples = 1_000_000_000 if not benchmark.disabled else 1_000_000
    serial, reference = _wall(tmp_path, samples, 1, "serial")
    process, res = benchmark.pedantic(_wall, args=(tmp_path, samples, 1), rounds=1, iterations=1)
    assert res.mean("pi") == reference.mean("pi")
    if not benchmark.disabled:
        benchmark.extra_info.update(samples=samples, seconds_serial=serial, seconds_process_1_worker=process,
                                    overhead_seconds=process - serial, overhead_fraction=process / serial - 1)
