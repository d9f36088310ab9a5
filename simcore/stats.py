"""Mergeable statistics: estimates with standard errors from raw sums.

Following OpenMC's tallies, files keep the raw sums (count, sum, sum of
squares) and the mean and standard error of the mean are derived from them,
so merging partitions stays exact and happens in a fixed order.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np


class Estimate(NamedTuple):
    """A mean with its standard error; prints as ``0.4032 ± 0.0011`` (an exact value as ``0.000272 ± 0``)."""

    mean: float
    stderr: float
    n: int
    units: str = ""

    def __str__(self) -> str:
        if self.stderr == 0:  # an exact value (e.g. the largest drift of a deterministic run)
            text = f"{self.mean:.6g} ± 0"
        else:
            digits = _significant_digits(self.stderr)
            text = f"{self.mean:.{digits}f} ± {self.stderr:.{digits}f}"
        return f"{text} {self.units}".rstrip()


def _significant_digits(stderr: float) -> int:
    """Decimals that show two significant digits of the standard error."""
    if not stderr > 0 or not math.isfinite(stderr):
        return 6
    return max(0, min(15, 1 - int(math.floor(math.log10(stderr)))))


def sum_rows(rows: np.ndarray) -> np.ndarray:
    """Sum the rows of a (P, K) float64 array in partition order 0, 1, ..., P-1.

    The explicit loop fixes the order of float additions, so the total is
    bitwise the same whatever order the partitions finished in.
    """
    total = np.zeros(rows.shape[1], dtype=np.float64)
    for row in rows:
        total += row
    return total


def iid_mean_stderr(total: np.ndarray | float, total_sq: np.ndarray | float, n: float):
    """Mean and standard error of the mean of n independent samples.

    Parameters
    ----------
    total, total_sq : sum of the samples and of their squares
    n : number of samples (>= 2 for a finite error)

    Returns
    -------
    (mean, stderr) with stderr = sqrt(s^2 / n), s^2 the unbiased variance.
    """
    mean = np.asarray(total, dtype=np.float64) / n
    if n < 2:
        return mean, np.full_like(mean, np.inf)
    variance = (np.asarray(total_sq, dtype=np.float64) - n * mean * mean) / (n - 1)
    return mean, np.sqrt(np.maximum(variance, 0.0) / n)
