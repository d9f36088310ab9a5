"""Kernel benchmarks (one core), reported in natural units with an in-process baseline.

Disabled in the default run (each body then runs once, on a small problem, as
a smoke test); run them with ``pytest tests/benchmarks --benchmark-enable
--benchmark-only``.  JIT compilation (or loading the cached machine code) is
excluded by ``warmup_rounds=1``; rates come from the fastest round.
"""
import time

import numba
import numpy as np

from simcore.models import ising_kernels, pi, transport

# DESIGN.md section 8: pi darts >= 0.5 G samples/s/core against numpy's ~0.44 G/s.
PI_TARGET_G_PER_S = 0.5
PI_NUMPY_ANCHOR_G_PER_S = 0.44
PI_TARGET_RATIO = PI_TARGET_G_PER_S / PI_NUMPY_ANCHOR_G_PER_S


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
    benchmark.extra_info.update(
        G_samples_per_s=rate / 1e9, numpy_G_samples_per_s=baseline / 1e9, ratio_to_numpy=rate / baseline,
        target_G_samples_per_s=PI_TARGET_G_PER_S, target_ratio_to_numpy=PI_TARGET_RATIO,
    )
    assert rate / baseline >= PI_TARGET_RATIO
    assert rate / 1e9 >= PI_TARGET_G_PER_S


def _bench_transport(benchmark, histories, thickness, c, bins=50):
    """Time one partition of ``histories`` through the model's own entry point (normal incidence, 3d)."""
    p = dict(histories=histories, thickness=thickness, scatter_ratio=c, incidence="normal", directions="3d",
             bins=bins)
    row = np.zeros(transport.MODEL.tally_width(p))  # accumulates over the warm-up and every round
    benchmark.pedantic(transport.MODEL.run_partition, args=(p, 1, 0, 1, row), rounds=5, warmup_rounds=1)
    done = row[transport._HISTORIES]
    assert done > 0 and row[transport._REFLECTED:transport._BINS].sum() == done
    collisions_per_history = row[transport._BINS:transport._BINS + bins].sum() / done
    if not benchmark.disabled:
        rate = histories / benchmark.stats.stats.min
        benchmark.extra_info.update(histories_per_s=rate, collisions_per_history=collisions_per_history,
                                    collisions_per_s=rate * collisions_per_history)


def test_transport_kernel_default_slab(benchmark):
    """Default problem: thickness 1, c = 0.5, normal incidence, 3d scattering, 50 bins."""
    _bench_transport(benchmark, 1_000_000 if not benchmark.disabled else 10_000, 1.0, 0.5)


def test_transport_kernel_thick_scattering_slab(benchmark):
    """Scattering-heavy problem: thickness 5, c = 0.9."""
    _bench_transport(benchmark, 200_000 if not benchmark.disabled else 2_000, 5.0, 0.9)


# DESIGN.md section 8: 2D Ising 1024^2 at T=2.269, >= 1 flip attempt/ns/core; anchor: naive njit + np.random 0.08.
ISING_TARGET_FLIPS_PER_NS = 1.0


@numba.njit(cache=True)
def _naive_metropolis_sweep(spins, beta):
    """The anchor of DESIGN.md section 8: a plain njit sweep drawing np.random per site."""
    size = spins.shape[0]
    for i in range(size):
        for j in range(size):
            s = spins[i, j]
            nsum = (spins[(i + 1) % size, j] + spins[i - 1, j] + spins[i, (j + 1) % size] + spins[i, j - 1])
            if np.random.random() < np.exp(-2.0 * beta * s * nsum):
                spins[i, j] = -s


def _ising_sweep(spins, sweep):
    for colour in (0, 1):
        ising_kernels.half_sweep(spins, colour, 0, spins.shape[0], np.uint64(1), np.uint64(sweep), _ISING_BOUNDS)


_ISING_BOUNDS = ising_kernels.metropolis_bounds(1 / 2.269, 0.0, 2)


def test_ising_metropolis_sweep(benchmark):
    size = 1024 if not benchmark.disabled else 32
    spins = np.empty((size, size), dtype=np.int8)
    ising_kernels.hot_start(spins, np.uint64(1), 0, size)
    sweeps = iter(range(10**9))
    benchmark.pedantic(lambda: _ising_sweep(spins, next(sweeps)), rounds=30, warmup_rounds=1)
    assert abs(ising_kernels.magnetization(spins, 0, size)) < spins.size
    if benchmark.disabled:
        return
    rate = size * size / benchmark.stats.stats.min / 1e9
    naive = spins.astype(np.int64)
    _naive_metropolis_sweep(naive, 1 / 2.269)  # compile
    start = time.perf_counter()
    _naive_metropolis_sweep(naive, 1 / 2.269)
    baseline = size * size / (time.perf_counter() - start) / 1e9
    benchmark.extra_info.update(flips_per_ns=rate, naive_flips_per_ns=baseline, ratio_to_naive=rate / baseline,
                                target_flips_per_ns=ISING_TARGET_FLIPS_PER_NS)
    assert rate >= ISING_TARGET_FLIPS_PER_NS
