"""Mono-energetic neutral particles through a homogeneous 1D slab (analog Monte Carlo).

A particle enters at depth x = 0 with direction cosine mu > 0 (``normal``:
mu = 1; ``isotropic``: the cosine law, mu = sqrt(u)).  It flies an
exponential distance (unit mean free path), so x += mu * s.  Leaving through
x < 0 is reflection, through x >= thickness transmission.  At a collision it
scatters with probability ``scatter_ratio`` c (new mu isotropic: uniform on
[-1, 1] in ``3d``, +-1 with equal odds in the ``rod`` model) and is absorbed
otherwise.  Every history ends in exactly one of the three outcomes, so the
three integer counts add up to the number of histories.

Random numbers: history h uses stream h (its global index), so a history's
path does not depend on the partition that runs it.  Counter k of the stream
gives (flight distance, collision outcome); the next counter gives the new
direction.

References for validation: uncollided transmission exp(-thickness) for a pure
absorber; rod-model half-space albedo R = (1-k)/(1+k), k = sqrt(1-c).
"""
from __future__ import annotations

import math

import numba
import numpy as np

from .._jit import JIT_FLAGS
from ..rng import exponential, isotropic_cosine, uniform_pair
from ..stats import Estimate, iid_mean_stderr, sum_rows
from .base import BatchModel, Intensity, Param, Reduction, Result, ResultValue, SeriesValue, partition_share, partitions_for

#: Depth covered by the collision-density bins in a half-space [mean free paths].
HALF_SPACE_TALLY_DEPTH = 20.0

_HISTORIES, _REFLECTED, _TRANSMITTED, _ABSORBED, _BINS = 0, 1, 2, 3, 4
OUTCOMES = ("reflection", "transmission", "absorption")


@numba.njit(**JIT_FLAGS)
def run_histories(seed, first, stop, thickness, scatter_ratio, isotropic_incidence, rod,
                  bin_width, row, history_counts, touched):
    """Transport histories ``first`` .. ``stop - 1`` and add their tallies to ``row``.

    ``row`` layout: [histories, reflected, transmitted, absorbed,
    collisions per bin (B), squared per-history collisions per bin (B)].
    ``history_counts`` (B int64 zeros) and ``touched`` (B int64) are scratch.
    Depths are in mean free paths.
    """
    bins = history_counts.shape[0]
    for history in range(first, stop):
        counter = 0
        mu = 1.0
        if isotropic_incidence and not rod:
            u, _ = uniform_pair(seed, history, counter)
            counter += 1
            mu = math.sqrt(u)
        x = 0.0
        n_touched = 0
        while True:
            u_flight, u_event = uniform_pair(seed, history, counter)
            counter += 1
            x += mu * exponential(u_flight)
            if x < 0.0:
                row[_REFLECTED] += 1.0
                break
            if x >= thickness:
                row[_TRANSMITTED] += 1.0
                break
            b = int(x / bin_width)
            if b < bins:
                if history_counts[b] == 0:
                    touched[n_touched] = b
                    n_touched += 1
                history_counts[b] += 1
            if u_event >= scatter_ratio:
                row[_ABSORBED] += 1.0
                break
            u_direction, _ = uniform_pair(seed, history, counter)
            counter += 1
            if rod:
                mu = 1.0 if u_direction < 0.5 else -1.0
            else:
                mu = isotropic_cosine(u_direction)
        for i in range(n_touched):
            b = touched[i]
            c = float(history_counts[b])
            row[_BINS + b] += c
            row[_BINS + bins + b] += c * c
            history_counts[b] = 0
    row[_HISTORIES] += stop - first


def _tally_depth(p) -> float:
    return p["thickness"] if math.isfinite(p["thickness"]) else HALF_SPACE_TALLY_DEPTH


def _run_partition(p, seed, partition, partitions, row) -> None:
    first, stop = partition_share(p["histories"], partitions, partition)
    bins = p["bins"]
    run_histories(
        np.uint64(seed), np.int64(first), np.int64(stop), float(p["thickness"]), float(p["scatter_ratio"]),
        p["incidence"] == "isotropic", p["directions"] == "rod", _tally_depth(p) / bins,
        row, np.zeros(bins, np.int64), np.zeros(bins, np.int64),
    )


def _reduce(p, tallies: np.ndarray) -> Reduction:
    total = sum_rows(tallies)
    n = total[_HISTORIES]
    results = {}
    with np.errstate(invalid="ignore", divide="ignore"):
        for column, name in zip((_REFLECTED, _TRANSMITTED, _ABSORBED), OUTCOMES):
            mean, stderr = iid_mean_stderr(total[column], total[column], n)  # indicators
            per_partition = tallies[:, column] / tallies[:, _HISTORIES]
            results[name] = ResultValue(per_partition, Estimate(float(mean), float(stderr), int(n)), "iid")
    bins = p["bins"]
    width = _tally_depth(p) / bins
    sums = total[_BINS:_BINS + bins]
    squares = total[_BINS + bins:_BINS + 2 * bins]
    mean, stderr = iid_mean_stderr(sums, squares, n)
    series = {
        "collision_density": SeriesValue(
            values=mean / width, stderr=stderr / width, axis_name="depth",
            axis=(np.arange(bins) + 0.5) * width, axis_units="mean free paths",
            units="collisions per source particle per mean free path",
            doc="collision density versus depth",
        )
    }
    return Reduction(results, series)


def _default_partitions(p) -> int:
    """One per 10^4 histories up to 64, more for a run over 6.4 s of one core (a partition at most 0.1 s)."""
    return min(p["histories"], partitions_for(_cost(p), min(64, max(1, p["histories"] // 10_000))))


#: A history's fixed cost and each collision's, one core [s] (BENCHMARKS.md, 2-core machine: 69 ns a
#: history at 0.91 collisions, 275 ns at 5.12).
SECONDS_PER_HISTORY, SECONDS_PER_COLLISION = 20e-9, 50e-9


def _cost(p) -> float:
    """Estimated seconds of the whole run on one core (for ``workers = auto``).

    Collisions per history ~ q / (1 - c q), q = 1 - exp(-thickness) the chance
    to collide before leaving (exact for c = 0 and an infinite medium, an
    overestimate otherwise), capped at 10^4.
    """
    return p["histories"] * (SECONDS_PER_HISTORY + SECONDS_PER_COLLISION * collisions_per_history(p))


def collisions_per_history(p) -> float:
    """Estimated collisions per history: q / (1 - c q), q = 1 - exp(-thickness), capped at 10^4 (see _cost)."""
    q = -math.expm1(-p["thickness"])
    return min(1e4, q / max(1e-4, 1.0 - p["scatter_ratio"] * q))


#: A flight: two Philox calls (distance and outcome, then the new direction) and a logarithm (about 20 flops).
FLIGHT = Intensity(flops=30, philox=2)


def _intensity(p) -> Intensity:
    """Per history: one flight more than the estimated collisions."""
    return FLIGHT.scaled(1.0 + collisions_per_history(p))


def _warm() -> None:
    row = np.zeros(_BINS + 4)
    for isotropic, rod in ((False, False), (True, True)):
        run_histories(np.uint64(1), np.int64(0), np.int64(2), 1.0, 0.5, isotropic, rod, 0.5, row,
                      np.zeros(2, np.int64), np.zeros(2, np.int64))


MODEL = BatchModel(
    extended_by="histories",
    name="transport",
    doc="mono-energetic particles through a 1D slab: reflection, transmission, absorption",
    params=(
        Param("histories", int, 1_000_000, ge=1, le=2**62, units="particles", doc="number of source particles"),
        Param("thickness", float, 1.0, gt=0.0, allow_inf=True, units="mean free paths",
              doc="slab thickness; inf for a half-space"),
        Param("scatter_ratio", float, 0.5, ge=0.0, le=1.0, doc="scattering probability per collision, c"),
        Param("incidence", str, "normal", choices=("normal", "isotropic"),
              doc="source direction: normal (mu = 1) or isotropic (cosine-law) flux"),
        Param("directions", str, "3d", choices=("3d", "rod"), doc="isotropic 3D scattering or the 1D rod model"),
        Param("bins", int, 50, ge=1, le=100_000,
              doc=f"depth bins of the collision density (over the slab, or the first {HALF_SPACE_TALLY_DEPTH:g} "
                  "mean free paths of a half-space)"),
    ),
    results=(
        Result("reflection", doc="probability of leaving through the entry face"),
        Result("transmission", doc="probability of leaving through the far face"),
        Result("absorption", doc="probability of being absorbed in the slab"),
    ),
    default_partitions=_default_partitions,
    work=lambda p: p["histories"],
    work_unit="histories",
    tally_width=lambda p: _BINS + 2 * p["bins"],
    run_partition=_run_partition,
    reduce=_reduce,
    warm=_warm,
    cost=_cost,
    intensity=_intensity,
    references=(
        "pure absorber, normal incidence: transmission = exp(-thickness)",
        "rod model, half-space: reflection = (1-k)/(1+k), k = sqrt(1-c)",
        "reflection + transmission + absorption = 1 (integer counts add up to histories)",
    ),
)
