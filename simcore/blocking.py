"""Error bars for the mean of a correlated time series: blocking and jackknife.

Successive samples of a Markov chain (energy per sweep, magnetisation ...) are
correlated, so ``std / sqrt(n)`` underestimates the error of their mean.  The
blocking (binning) transformation of Flyvbjerg and Petersen replaces the series
by the means of neighbouring pairs, again and again.  The naive standard error
of the blocked series grows with the level until the blocks are longer than
the correlation time, then stays on a plateau: that plateau is the standard
error of the mean.  The level where the plateau starts is chosen with the
automatic test of Jonsson, which checks that the blocks left are uncorrelated.

Next to the error, :func:`integrated_autocorrelation_time` gives a series'
integrated autocorrelation time (Sokal's windowed estimator) and so its
effective sample size: an independent check, since a series that drifts
(not yet stationary) shows a time comparable to its length.

Functions of several means (the Binder cumulant ``1 - <m^4> / (3 <m^2>^2)``, a
specific heat) get their error from a jackknife over blocks long enough to be
independent (:func:`block_means`, :func:`jackknife`).

References
----------
H. Flyvbjerg and H. G. Petersen, "Error estimates on averages of correlated
data", J. Chem. Phys. 91, 461 (1989), doi:10.1063/1.457480.
A. D. Sokal, "Monte Carlo methods in statistical mechanics: foundations and
new algorithms", in Functional Integration (Springer, 1997), section 3,
doi:10.1007/978-1-4899-0319-8_6.
M. Jonsson, "Standard error estimation by an automated blocking method",
Phys. Rev. E 98, 043304 (2018), doi:10.1103/PhysRevE.98.043304.
B. Efron and C. Stein, "The jackknife estimate of variance", Ann. Stat. 9, 586
(1981), doi:10.1214/aos/1176345462.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

#: Probability with which a level whose blocks are uncorrelated passes Jonsson's test.
CONFIDENCE = 0.99


class BlockingEstimate(NamedTuple):
    """Mean of a series and its standard error from the plateau of the binning curve.

    ``curve[k]`` is the naive standard error after k blockings (blocks of 2**k
    samples); ``block_size`` is that of the level chosen (``2**level``);
    ``plateau`` is False when no level passed the test and the last one was used.
    ``autocorrelation_time`` is :func:`integrated_autocorrelation_time` of the
    series [samples], and ``effective_samples`` the length divided by it.
    """

    mean: float
    stderr: float
    block_size: int
    curve: np.ndarray
    plateau: bool
    autocorrelation_time: float = 1.0
    effective_samples: float = 0.0


def _halve(x: np.ndarray) -> np.ndarray:
    """Means of neighbouring pairs (a last odd sample is dropped)."""
    pairs = x.shape[0] // 2
    return 0.5 * (x[0:2 * pairs:2] + x[1:2 * pairs:2])


def binning_curve(samples) -> tuple[np.ndarray, np.ndarray]:
    """Naive standard error of the mean at each blocking level, and the lag-1 test terms.

    Parameters
    ----------
    samples : 1-D array-like, the time series (>= 4 samples)

    Returns
    -------
    (stderr, terms): ``stderr[k] = sqrt(var_k / (n_k - 1))`` for the n_k blocks of
    2**k samples (var_k with 1/n_k), and ``terms[k] = n_k (gamma_k / var_k)**2``
    with gamma_k the lag-1 autocovariance of those blocks, which is close to a
    chi-square variable with one degree of freedom when they are uncorrelated.
    Levels go on while at least 2 blocks are left.
    """
    x = np.asarray(samples, dtype=np.float64)
    if x.ndim != 1 or x.shape[0] < 4:
        raise ValueError(f"blocking needs a 1-D series of at least 4 samples (got shape {x.shape})")
    mean = x.mean()
    stderr, terms = [], []
    while x.shape[0] >= 2:
        n = x.shape[0]
        deviation = x - mean
        variance = np.dot(deviation, deviation) / n
        gamma = np.dot(deviation[:-1], deviation[1:]) / n
        stderr.append(np.sqrt(variance / (n - 1)))
        terms.append(n * (gamma / variance) ** 2 if variance > 0 else 0.0)
        x = _halve(x)
    return np.array(stderr), np.array(terms)


def blocking(samples, confidence: float = CONFIDENCE) -> BlockingEstimate:
    """Mean and standard error of the mean of a correlated series (automated blocking).

    The level chosen is the first k whose statistic ``M_k = sum_{i>=k} terms[i]``
    (see :func:`binning_curve`) is below the ``confidence`` quantile of a
    chi-square law with as many degrees of freedom as levels summed (Jonsson 2018).

    Parameters
    ----------
    samples : 1-D array-like, the time series [any unit]; at least 4 samples,
        ideally hundreds of correlation times
    confidence : float in (0, 1), the test's acceptance probability

    Returns
    -------
    :class:`BlockingEstimate`, mean and stderr in the unit of the samples.
    """
    from scipy import stats  # 0.9 s to import: only where a series is reduced, not at every CLI start

    x = np.asarray(samples, dtype=np.float64)
    curve, terms = binning_curve(x)
    tail_sums = np.cumsum(terms[::-1])[::-1]
    quantiles = stats.chi2.ppf(confidence, np.arange(len(terms), 0, -1))
    passed = np.flatnonzero(tail_sums < quantiles)
    level = int(passed[0]) if passed.size else len(terms) - 1
    tau = integrated_autocorrelation_time(x)
    return BlockingEstimate(float(x.mean()), float(curve[level]), 2**level, curve, bool(passed.size), tau,
                            len(x) / tau)


#: Sokal's window: the sum of the autocorrelation function stops at the first lag M >= WINDOW * tau(M).
WINDOW = 5.0


def integrated_autocorrelation_time(samples, window: float = WINDOW) -> float:
    """Integrated autocorrelation time ``tau = 1 + 2 sum_{t>=1} rho(t)`` of a series [samples].

    ``rho`` is the normalised autocorrelation function (by FFT); the sum runs
    up to the first lag M with M >= ``window`` * tau(M) (Sokal's automatic
    window; emcee's default).  Independent samples give tau = 1; the error of
    the mean is about ``std * sqrt(tau / n)`` and ``n / tau`` is the effective
    sample size.  A constant series gives 1.
    """
    x = np.asarray(samples, dtype=np.float64)
    if x.ndim != 1 or x.shape[0] < 4:
        raise ValueError(f"an autocorrelation time needs a 1-D series of at least 4 samples (got shape {x.shape})")
    n = x.shape[0]
    size = 1 << (2 * n - 1).bit_length()  # zero-padded past 2n (no wrap-around) to a power of 2 (a fast FFT)
    spectrum = np.fft.rfft(x - x.mean(), n=size)
    autocovariance = np.fft.irfft(spectrum * np.conj(spectrum), n=size)[:n]
    if not autocovariance[0] > 0:
        return 1.0
    taus = 2.0 * np.cumsum(autocovariance / autocovariance[0]) - 1.0
    inside = np.arange(n) < window * taus
    lag = int(np.argmin(inside)) if not inside.all() else n - 1
    return float(max(taus[lag], 1.0 / n))


def block_means(samples, block_size: int) -> np.ndarray:
    """Means of consecutive blocks of ``block_size`` samples along the first axis.

    ``samples`` may hold several observables as columns (shape (n, k)); a last
    incomplete block is dropped.  Returns shape (n // block_size,) or (n // block_size, k).
    """
    x = np.asarray(samples, dtype=np.float64)
    blocks = x.shape[0] // block_size
    if block_size < 1 or blocks < 2:
        raise ValueError(f"need at least 2 blocks of {block_size} samples (got {x.shape[0]} samples)")
    return x[:blocks * block_size].reshape(blocks, block_size, *x.shape[1:]).mean(axis=1)


def jackknife(blocks, estimator: Callable[[np.ndarray], np.ndarray]) -> tuple[float, float]:
    """Value and jackknife standard error of a function of the means of several observables.

    Parameters
    ----------
    blocks : array (n_blocks, k), block means of k observables, blocks long
        enough to be independent (e.g. from :func:`block_means` with the
        ``block_size`` of :func:`blocking`)
    estimator : maps means (..., k) to values (...), vectorised over the
        leading axes, e.g. ``lambda m: 1 - m[..., 1] / (3 * m[..., 0] ** 2)``

    Returns
    -------
    (estimator(mean of all blocks), sqrt((n-1)/n sum_i (theta_i - mean theta)^2))
    where theta_i is the estimator with block i left out.
    """
    b = np.asarray(blocks, dtype=np.float64)
    n = b.shape[0]
    if b.ndim != 2 or n < 2:
        raise ValueError(f"jackknife needs block means of shape (n_blocks >= 2, k) (got {b.shape})")
    total = b.sum(axis=0)
    leave_one_out = estimator((total - b) / (n - 1))
    spread = leave_one_out - leave_one_out.mean()
    return float(estimator(total / n)), float(np.sqrt((n - 1) / n * np.dot(spread, spread)))
