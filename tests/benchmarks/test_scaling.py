"""Batch strong scaling: the same pi run on 1 worker and on every core, ratio in one process.

Efficiency = T(1) / (W * T(W)) from the engine's own wall time (pool start
included).  On the 2-core development machine W = 2; the 1 -> 16 figure of
DESIGN.md section 8 needs the 16-core device machine.
"""
import os

import simcore


def _wall(tmp_path, samples, workers):
    res = simcore.run("pi", samples=samples, partitions=64, workers=workers, executor="process",
                      out=str(tmp_path / f"w{workers}.h5"), force=True)
    return float(res.attrs["wall_seconds"]), res


def test_batch_strong_scaling(benchmark, tmp_path):
    workers = len(os.sched_getaffinity(0))
    samples = 4_000_000_000 if not benchmark.disabled else 1_000_000
    _wall(tmp_path, 1000, workers)  # start the forkserver and load kernels before timing
    one, reference = _wall(tmp_path, samples, 1)
    many, res = benchmark.pedantic(_wall, args=(tmp_path, samples, workers), rounds=1, iterations=1)
    assert res.mean("pi") == reference.mean("pi")  # bitwise the same estimate
    if not benchmark.disabled:
        benchmark.extra_info.update(workers=workers, seconds_1_worker=one, seconds_all_workers=many,
                                    efficiency=one / (workers * many))
