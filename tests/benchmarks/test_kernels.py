"""Kernel benchmarks (one core), reported in natural units with an in-process baseline.

Disabled in the default run (each body then runs once as a smoke test);
run them with ``pytest tests/benchmarks --benchmark-enable --benchmark-only``.
JIT compilation is excluded by ``warmup_rounds=1``.
"""
import time

import numpy as np

from simcore.models import pi, transport

PI_TARGET_G_PER_S = 0.5  # DESIGN.md section 8


def _numpy_darts_rate(n: int) -> float:
    """Darts per second of the vectorised numpy baseline of DESIGN.md section 8."""
    rng = np.random.default_rng(1)
    start = time.perf_counter()
    x, y = rng.random(n), rng.random(n)
    np.count_nonzero(x * x + y * y < 1.0)
    return n / (time.perf_counter() - start)


def test_pi_kernel(benchmark):
    samples = 50_000_000 if not benchmark.disabled else 100_000
    args = (np.uint64(1), np.uint64(0), np.int64(samples))
    hits = benchmark.pedantic(pi.count_hits, args=args, rounds=5, warmup_rounds=1)
    assert 0.78 < hits / samples < 0.79
    if benchmark.disabled:
        return
    rate = samples / benchmark.stats.stats.min
    baseline = max(_numpy_darts_rate(10_000_000) for _ in range(3))
    benchmark.extra_info.update(G_samples_per_s=rate / 1e9, numpy_G_samples_per_s=baseline / 1e9,
                                ratio_to_numpy=rate / baseline, target_G_samples_per_s=PI_TARGET_G_PER_S)
    assert rate / 1e9 >= PI_TARGET_G_PER_S


def _transport_args(histories, thickness, c, bins=50):
    return (np.uint64(1), np.int64(0), np.int64(histories), thickness, c, False, False, thickness / bins,
            np.zeros(4 + 2 * bins), np.zeros(bins, np.int64), np.zeros(bins, np.int64))


def test_transport_kernel_default_slab(benchmark):
    histories = 1_000_000 if not benchmark.disabled else 10_000
    args = _transport_args(histories, 1.0, 0.5)
    benchmark.pedantic(transport.run_histories, args=args, rounds=5, warmup_rounds=1)
    if not benchmark.disabled:
        benchmark.extra_info["histories_per_s"] = histories / benchmark.stats.stats.min


def test_transport_kernel_thick_scattering_slab(benchmark):
    histories = 200_000 if not benchmark.disabled else 2_000
    args = _transport_args(histories, 5.0, 0.9)
    benchmark.pedantic(transport.run_histories, args=args, rounds=5, warmup_rounds=1)
    if not benchmark.disabled:
        benchmark.extra_info["histories_per_s"] = histories / benchmark.stats.stats.min
