"""Ising model on a periodic square (dim=2) or simple cubic (dim=3) lattice, run in lockstep.

``E = -sum_<ij> s_i s_j - h sum_i s_i`` (J = 1; energies in J, temperatures in
J/k_B).  One step is a sweep: two phases, the checkerboard half-sweeps of
colour 0 then 1 (:mod:`.ising_kernels`), each partition updating its rows of
the first axis.  After each of the ``sweeps`` sweeps that follow
``thermalize`` unmeasured ones, every partition adds up the energy and the
magnetisation of its rows.

Results (per site, N = L**dim): ``energy_per_site`` <E>/N and
``abs_magnetization_per_site`` <|M|>/N with errors from blocking
(:mod:`simcore.blocking`); ``binder`` U4 = 1 - <m^4>/(3<m^2>^2),
``specific_heat`` N beta^2 (<e^2> - <e>^2) and ``susceptibility``
N beta (<m^2> - <|m|>^2) with jackknife errors over blocks as long as the
blocking analysis found necessary.  ``/results/<name>`` holds the value of
each block; ``/series`` the energy and magnetisation per site of every
measured sweep.
"""
from __future__ import annotations

import functools
import math

import numpy as np

from ..blocking import block_means, blocking, jackknife
from ..stats import Estimate
from . import ising_kernels as kernels
from .base import Halo, Intensity, LockstepModel, Param, Reduction, Result, ResultValue, SeriesValue

#: Onsager's critical temperature of the square lattice, 2 / ln(1 + sqrt 2) [J/k_B].
ONSAGER_TC = 2 / math.log(1 + math.sqrt(2))

_ENERGY, _MAGNETIZATION = 0, 1
_MAX_SITES = 2**34  # 16 GiB of int8 spins


@functools.lru_cache(maxsize=64)
def _bounds(T: float, h: float, dim: int, algorithm: str) -> tuple:
    make = kernels.metropolis_bounds if algorithm == "metropolis" else kernels.heatbath_bounds
    return make(1.0 / T, h, dim)


def _shape(p) -> tuple[int, ...]:
    return (p["L"],) * p["dim"]


def _init(p, seed, spins, row_start, row_stop, origin=0) -> None:
    if p["start"] == "cold":
        kernels.cold_start(spins, row_start, row_stop)
    else:
        kernels.hot_start(spins, np.uint64(seed), row_start, row_stop, origin)


def _phase(p, seed, step, phase, spins, row_start, row_stop, origin=0) -> None:
    kernels.half_sweep(spins, phase, row_start, row_stop, np.uint64(seed), np.uint64(step),
                       _bounds(p["T"], p["h"], p["dim"], p["algorithm"]), origin)


def _measure(p, spins, row_start, row_stop, out, origin=0) -> None:
    bonds, magnetization = kernels.bonds_and_magnetization(spins, row_start, row_stop)
    out[_ENERGY] = kernels.energy_of(bonds, magnetization, p["h"])
    out[_MAGNETIZATION] = magnetization


def _reduce(p, sums: np.ndarray) -> Reduction:
    sites = p["L"] ** p["dim"]
    beta = 1.0 / p["T"]
    e = sums[:, _ENERGY] / sites
    m = sums[:, _MAGNETIZATION] / sites
    moments = np.column_stack([e, np.abs(m), e * e, m * m, m ** 4])  # e, |m|, e^2, m^2, m^4
    energy, absolute = blocking(e), blocking(np.abs(m))
    block = max(energy.block_size, absolute.block_size, blocking(m * m).block_size)
    blocks = block_means(moments, min(block, len(e) // 2))
    n = len(e)

    def jackknifed(estimator):
        value, stderr = jackknife(blocks, estimator)
        with np.errstate(invalid="ignore", divide="ignore"):  # a small lattice's block may have <m^2> = 0: nan
            per_block = estimator(blocks)
        return ResultValue(per_block, Estimate(value, stderr, n, ""), "jackknife")

    results = {
        "energy_per_site": ResultValue.blocked(blocks[:, 0], energy, n, "J"),
        "abs_magnetization_per_site": ResultValue.blocked(blocks[:, 1], absolute, n),
        "binder": jackknifed(lambda b: 1.0 - b[..., 4] / (3.0 * b[..., 3] ** 2)),
        "specific_heat": jackknifed(lambda b: sites * beta**2 * (b[..., 2] - b[..., 0] ** 2)),
        "susceptibility": jackknifed(lambda b: sites * beta * (b[..., 3] - b[..., 1] ** 2)),
    }
    for name, units in (("specific_heat", "k_B"), ("susceptibility", "1/J")):
        value = results[name]
        results[name] = value._replace(estimate=value.estimate._replace(units=units))
    sweeps = np.arange(p["thermalize"], p["thermalize"] + n, dtype=np.int64)
    series = {
        "energy_per_site": SeriesValue(e, None, "sweep", sweeps, "sweeps", "J", "energy per site after each sweep"),
        "magnetization_per_site": SeriesValue(m, None, "sweep", sweeps, "sweeps", "",
                                              "magnetisation per site after each sweep"),
    }
    return Reduction(results, series)


def _check(p) -> None:
    if p["L"] % 2:
        raise ValueError(f"L must be even (got {p['L']}): the checkerboard update needs two colours on a periodic lattice")
    if p["L"] ** p["dim"] > _MAX_SITES:
        raise ValueError(f"L**dim must be at most 2**34 sites (got {p['L']}**{p['dim']})")


#: One site update plus its share of the measurement, one core [s] (BENCHMARKS.md: 1.12 flips/ns kernel,
#: 0.78 flips/ns whole serial runs, 2-core machine).
SECONDS_PER_SITE_SWEEP = 1.3e-9


def flip_intensity(dim: int) -> Intensity:
    """A flip attempt: a quarter of a Philox call (one 32-bit word); no floating point.

    Bytes: each half-sweep reads a line and its 2*(dim-1) neighbour lines and
    writes the line back, i.e. 2*dim bytes per site, and updates half the
    sites: 4*dim bytes per attempt (from cache for lattices that fit in it).
    """
    return Intensity(bytes=4.0 * dim, philox=0.25)


def _cost(p) -> float:
    """Estimated seconds of the whole run on one core (for ``workers = auto``)."""
    return (p["thermalize"] + p["sweeps"]) * p["L"] ** p["dim"] * SECONDS_PER_SITE_SWEEP


def _warm() -> None:
    for dim in (2, 3):
        spins = np.empty((2,) * dim, dtype=np.int8)
        kernels.hot_start(spins, np.uint64(1), 0, 2)
        kernels.cold_start(spins, 0, 2)
        kernels.half_sweep(spins, 0, 0, 2, np.uint64(1), np.uint64(0), _bounds(2.0, 0.0, dim, "metropolis"))
        kernels.energy_of(*kernels.bonds_and_magnetization(spins, 0, 2), 0.0)


MODEL = LockstepModel(
    extended_by="sweeps",
    name="ising",
    doc="2D square / 3D cubic Ising model, checkerboard Metropolis or heat-bath, periodic, J=1",
    params=(
        Param("dim", int, 2, choices=(2, 3), doc="lattice dimension: 2 (square) or 3 (simple cubic)"),
        Param("L", int, 64, ge=2, le=65536, units="sites", doc="linear size, even; N = L**dim sites"),
        Param("T", float, 2.269, gt=0, units="J/k_B", doc="temperature"),
        Param("h", float, 0.0, units="J", doc="magnetic field"),
        Param("sweeps", int, 10_000, ge=16, le=2**40, units="sweeps", doc="measured sweeps"),
        Param("thermalize", int, 1_000, ge=0, le=2**40, units="sweeps", doc="sweeps before measuring"),
        Param("algorithm", str, "metropolis", choices=("metropolis", "heatbath"), doc="single-spin update"),
        Param("start", str, "hot", choices=("hot", "cold"), doc="initial spins: random (hot) or all +1 (cold)"),
    ),
    results=(
        Result("energy_per_site", "J", "<E>/N"),
        Result("abs_magnetization_per_site", "", "<|M|>/N"),
        Result("binder", "", "U4 = 1 - <m^4> / (3 <m^2>^2)"),
        Result("specific_heat", "k_B", "N beta^2 (<e^2> - <e>^2), per site"),
        Result("susceptibility", "1/J", "N beta (<m^2> - <|m|>^2), per site"),
    ),
    default_partitions=lambda p: min(p["L"], 16),
    rows=lambda p: p["L"],
    state_shape=_shape,
    state_dtype=np.int8,
    phases=2,
    steps=lambda p: p["thermalize"] + p["sweeps"],
    measured_from=lambda p: p["thermalize"],
    observables=("energy", "magnetization"),
    init=_init,
    phase=_phase,
    measure=_measure,
    reduce=_reduce,
    warm=_warm,
    work_unit="sweeps",
    rate=lambda p: ("flips", p["L"] ** p["dim"]),  # attempted spin flips: G flips/s = flips/ns
    check=_check,
    cost=_cost,
    intensity=lambda p: flip_intensity(p["dim"]),
    halo=lambda p: Halo(rows=1),  # a site's neighbours in the rows next to its own
    reference_lines=lambda p: {"T": (ONSAGER_TC, "Onsager Tc")} if p["dim"] == 2 else {},
    references=(f"Onsager: Tc = 2/ln(1+sqrt 2) = {ONSAGER_TC!r}; 3D: Kc = 0.221654626",
                "exact enumeration of the periodic 4 x 4 lattice (all 2^16 states): <E>/N, <|m|>, U4"),
)
