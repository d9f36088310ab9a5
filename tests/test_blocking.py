"""Blocking and jackknife error bars against series whose error is known exactly."""
import numpy as np
import pytest
from scipy import signal

from simcore.blocking import binning_curve, block_means, blocking, integrated_autocorrelation_time, jackknife


def _ar1(phi, n, seed):
    """x_t = phi x_(t-1) + e_t, unit normal e, started in the stationary state."""
    noise = np.random.default_rng(seed).normal(size=n)
    start = noise[0] / np.sqrt(1.0 - phi**2)
    return signal.lfilter([1.0], [1.0, -phi], noise[1:], zi=[phi * start])[0]


def test_ar1_stderr_matches_the_exact_value():
    phi, n = 0.9, 2**17
    # variance of the mean of a long AR(1) series: var(x) / n * (1 + phi) / (1 - phi)
    exact = np.sqrt(1.0 / (1.0 - phi**2) / n * (1.0 + phi) / (1.0 - phi))
    naive = np.sqrt(1.0 / (1.0 - phi**2) / n)
    for seed in range(3):
        result = blocking(_ar1(phi, n, seed))
        assert result.plateau
        assert 0.85 < result.stderr / exact < 1.1
        assert result.curve[0] == pytest.approx(naive, rel=0.05)  # level 0: the naive error
        assert 16 <= result.block_size <= 1024


@pytest.mark.parametrize("phi", [0.0, 0.5, 0.8])
def test_ar1_autocorrelation_time_matches_the_exact_value(phi):
    """AR(1): tau = 1 + 2 sum phi^t = (1 + phi) / (1 - phi).  Sokal's estimate with window M ~ 5 tau has a relative
    standard deviation sqrt(2 (2M + 1) / n) (Madras and Sokal 1988): 2 % at tau = 9, n = 2^19; allowed 4 of them."""
    n = 2**19
    exact = (1 + phi) / (1 - phi)
    tolerance = 4 * np.sqrt(2 * (2 * 5 * exact + 1) / n)
    for seed in range(2):
        series = _ar1(phi, n, seed)
        tau = integrated_autocorrelation_time(series)
        assert abs(tau / exact - 1) < tolerance, (tau, exact)
        result = blocking(series)
        assert result.autocorrelation_time == tau and result.effective_samples == pytest.approx(len(series) / tau)


def test_a_drifting_series_shows_an_autocorrelation_time_like_its_length():
    """Not stationary (a relaxation still going on): the effective sample size collapses, and says so."""
    n = 4000
    drifting = np.exp(-np.arange(n) / 1000.0) + 0.01 * np.random.default_rng(1).normal(size=n)
    assert blocking(drifting).effective_samples < 20
    assert integrated_autocorrelation_time(np.full(100, 3.0)) == 1.0  # constant: nothing to correlate


def test_uncorrelated_series_needs_no_blocking():
    x = np.random.default_rng(5).normal(size=10_000)
    result = blocking(x)
    assert result.plateau and result.block_size <= 4
    assert result.stderr == pytest.approx(x.std(ddof=1) / np.sqrt(x.size), rel=0.1)
    curve, _ = binning_curve(x)
    assert curve[0] == pytest.approx(x.std(ddof=1) / np.sqrt(x.size), rel=1e-12)
    assert len(curve) == 13  # 10_000 samples -> 2 blocks after 12 halvings


def test_jackknife_of_a_mean_is_the_standard_error_of_the_block_means():
    blocks = block_means(np.random.default_rng(2).normal(size=(1000, 2)), 10)
    value, stderr = jackknife(blocks, lambda m: m[..., 0])
    assert value == pytest.approx(blocks[:, 0].mean(), rel=1e-12)
    assert stderr == pytest.approx(blocks[:, 0].std(ddof=1) / np.sqrt(len(blocks)), rel=1e-12)


def test_jackknife_of_a_ratio_matches_the_delta_method():
    rng = np.random.default_rng(3)
    a, b = 2.0 + rng.normal(size=4000), 4.0 + rng.normal(size=4000)
    value, stderr = jackknife(block_means(np.column_stack([a, b]), 4), lambda m: m[..., 0] / m[..., 1])
    # delta method for independent a, b: var(a/b) ~ (var a + (a/b)^2 var b) / b^2 / n
    delta = np.sqrt((1.0 + 0.25) / 16.0 / 4000)
    assert value == pytest.approx(a.mean() / b.mean(), rel=1e-12)
    assert stderr == pytest.approx(delta, rel=0.1)


def test_block_means_drop_the_incomplete_last_block():
    assert np.array_equal(block_means(np.arange(7.0), 3), [1.0, 4.0])
    assert block_means(np.ones((9, 3)), 4).shape == (2, 3)


@pytest.mark.parametrize("call", [lambda: blocking([1.0, 2.0, 3.0]), lambda: block_means(np.ones(5), 3),
                                  lambda: jackknife(np.ones((1, 2)), lambda m: m[..., 0])])
def test_too_little_data_is_refused(call):
    with pytest.raises(ValueError):
        call()
