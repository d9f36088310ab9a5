"""Post-processing of sweep results: where two noisy curves cross.

The classic use is the Binder cumulant U4(T) of two lattice sizes, whose
crossing estimates the critical temperature (Binder, Z. Phys. B 43, 119
(1981)); the same finite-size crossing is how LAMMPS and HOOMD-blue users
locate transitions from a temperature sweep.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .stats import Estimate


def _root(x: np.ndarray, ya: np.ndarray, yb: np.ndarray, weights: np.ndarray, degree: int) -> float:
    """The crossing of the weighted polynomial fits of ya and yb inside [x.min(), x.max()] (nan if none)."""
    centre = x.mean()
    difference = np.polyfit(x - centre, ya - yb, degree, w=weights)
    roots = np.roots(difference)
    inside = [r.real + centre for r in roots
              if abs(r.imag) < 1e-12 and x.min() <= r.real + centre <= x.max()]
    if len(inside) != 1:
        return float("nan")
    return float(inside[0])


def crossing(x, ya, ea, yb, eb, *, degree: int = 2, resamples: int = 2000, seed: int = 0) -> Estimate:
    """Where curve a crosses curve b, with a standard error from a parametric bootstrap.

    Parameters
    ----------
    x : abscissae (e.g. temperatures [J/k_B]) shared by both curves, independent points
    ya, ea, yb, eb : the two curves' values and standard errors at ``x``
    degree : degree of the polynomial fitted (weighted least squares) to ``ya - yb``
    resamples : bootstrap resamples, each drawing every point from N(value, stderr)
    seed : seed of the bootstrap's numpy generator

    Returns
    -------
    Estimate of the crossing abscissa (mean = the fit to the data; stderr =
    the bootstrap spread).  Raises ValueError if the fitted difference does
    not change sign exactly once inside the range of ``x``, or if more than
    5 % of the resamples lose the crossing (the data cannot place it).
    """
    x, ya, ea, yb, eb = (np.asarray(v, dtype=np.float64) for v in (x, ya, ea, yb, eb))
    weights = 1.0 / np.hypot(ea, eb)
    best = _root(x, ya, yb, weights, degree)
    if np.isnan(best):
        raise ValueError(f"the curves do not cross exactly once in [{x.min():g}, {x.max():g}]")
    rng = np.random.default_rng(seed)
    draws = np.array([_root(x, rng.normal(ya, ea), rng.normal(yb, eb), weights, degree) for _ in range(resamples)])
    lost = np.isnan(draws).mean()
    if lost > 0.05:
        raise ValueError(f"{100 * lost:.0f} % of the bootstrap resamples do not cross in the range: "
                         "the errors are too large to place the crossing")
    return Estimate(best, float(np.nanstd(draws, ddof=1)), len(x))


def sweep_crossings(res, x: str, y: str, by: str) -> list[tuple[Any, Any, Estimate]]:
    """Crossings of the curves ``y(x)`` of a sweep's results, one curve per value of ``by``.

    For consecutive values (a, b) of ``by`` in increasing order, the crossing
    of y(x | by=a) with y(x | by=b), as :func:`crossing` finds it from the
    series ``y`` and ``y + "_stderr"``.  E.g. ``sweep_crossings(res, "T",
    "binder", "L")`` gives the Binder-cumulant crossings of successive sizes.
    """
    groups = res.series(by)
    values = sorted(set(groups.tolist()))
    found = []
    for a, b in zip(values, values[1:]):
        in_a, in_b = groups == a, groups == b
        found.append((a, b, crossing(res.series(x)[in_a], res.series(y)[in_a], res.series(f"{y}_stderr")[in_a],
                                     res.series(y)[in_b], res.series(f"{y}_stderr")[in_b])))
    return found
