"""Dart-throwing estimate of pi.

Each sample is a point uniform in the unit square; the fraction inside the
quarter disc estimates pi/4.  A Philox call gives four 32-bit words, i.e. two
darts, so partition ``p`` uses stream ``p`` and counters 0, 1, ... .  With
32-bit coordinates the lattice bias is O(2^-32), far below any reachable
statistical error.  Standard error: 4 sqrt(q(1-q)/n), q = pi/4, i.e.
1.6422/sqrt(n).
"""
from __future__ import annotations

import math

import numba
import numpy as np

from .._jit import JIT_FLAGS
from ..rng import uniform_quad32
from ..stats import Estimate, iid_mean_stderr, sum_rows
from .base import BatchModel, Intensity, Param, Reduction, Result, ResultValue, partition_share, partitions_for

_SAMPLES, _HITS = 0, 1
TALLY_COLUMNS = ("samples", "hits")


@numba.njit(**JIT_FLAGS)
def count_hits(seed, stream, samples):
    """Number of ``samples`` darts (from counters 0, 1, ... of ``stream``) with x^2 + y^2 < 1."""
    hits = 0
    pairs = samples // 2
    for counter in range(pairs):
        x0, y0, x1, y1 = uniform_quad32(seed, stream, counter)
        hits += (x0 * x0 + y0 * y0 < 1.0) + (x1 * x1 + y1 * y1 < 1.0)
    if samples % 2:
        x0, y0, _, _ = uniform_quad32(seed, stream, pairs)
        hits += x0 * x0 + y0 * y0 < 1.0
    return hits


def _run_partition(p, seed, partition, partitions, row) -> None:
    start, stop = partition_share(p["samples"], partitions, partition)
    row[_SAMPLES] = stop - start
    row[_HITS] = count_hits(np.uint64(seed), np.uint64(partition), np.int64(stop - start))


def _reduce(p, tallies: np.ndarray) -> Reduction:
    total = sum_rows(tallies)
    n = total[_SAMPLES]
    # indicators: sum of squares equals the sum
    mean, stderr = iid_mean_stderr(4.0 * total[_HITS], 16.0 * total[_HITS], n)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_partition = 4.0 * tallies[:, _HITS] / tallies[:, _SAMPLES]
    estimate = Estimate(float(mean), float(stderr), int(n), "")
    return Reduction({"pi": ResultValue(per_partition, estimate, "iid")}, {})


def _default_partitions(p) -> int:
    """One per 10^6 samples up to 64, more for a run over 6.4 s of one core (a partition at most 0.1 s)."""
    return min(p["samples"], partitions_for(_cost(p), min(64, max(1, p["samples"] // 1_000_000))))


#: One dart of ``count_hits`` on one core [s] (BENCHMARKS.md: 0.92 G darts/s, 2-core machine).
SECONDS_PER_DART = 1.1e-9


#: A dart: half a Philox call; two scalings, two squares and a sum.
DART = Intensity(flops=5, philox=0.5)


def _cost(p) -> float:
    """Estimated seconds of the whole run on one core (for ``workers = auto``)."""
    return p["samples"] * SECONDS_PER_DART


def _warm() -> None:
    count_hits(np.uint64(1), np.uint64(0), np.int64(3))


MODEL = BatchModel(
    extended_by="samples",
    name="pi",
    doc="dart-throwing estimate of pi",
    params=(Param("samples", int, 100_000_000, ge=1, le=2**62, units="darts", doc="number of darts"),),
    results=(Result("pi", units="", doc="4 x fraction of darts inside the unit quarter disc"),),
    default_partitions=_default_partitions,
    work=lambda p: p["samples"],
    work_unit="darts",
    tally_width=lambda p: len(TALLY_COLUMNS),
    run_partition=_run_partition,
    reduce=_reduce,
    warm=_warm,
    cost=_cost,
    intensity=lambda p: DART,
    reference_lines=lambda p: {"pi": (math.pi, "exact pi")},
    references=(f"exact pi = {math.pi!r}; standard error 1.6422/sqrt(samples)",),
)
