"""crossing(): the crossing of two noisy curves and its bootstrap error, against known lines."""
import numpy as np
import pytest

from simcore.analysis import crossing

X = np.linspace(2.0, 2.5, 11)


def _lines(rng, noise):
    """Two straight lines crossing at x = 2.3 (exactly), with Gaussian noise of stderr ``noise``."""
    ya = 0.6 - 0.5 * (X - 2.3) + rng.normal(0, noise, X.size)
    yb = 0.6 - 1.5 * (X - 2.3) + rng.normal(0, noise, X.size)
    return ya, yb


def test_exact_lines_cross_where_they_should():
    ya, yb = _lines(np.random.default_rng(0), 0.0)
    estimate = crossing(X, ya, np.full(X.size, 1e-3), yb, np.full(X.size, 1e-3), degree=1, resamples=200)
    assert abs(estimate.mean - 2.3) < 1e-12


def test_bootstrap_error_matches_the_spread_of_independent_datasets():
    rng = np.random.default_rng(1)
    noise = np.full(X.size, 0.004)
    estimates = [crossing(X, *_pair(rng, noise), degree=2, resamples=300, seed=k) for k in range(60)]
    means = np.array([e.mean for e in estimates])
    typical_error = np.median([e.stderr for e in estimates])
    spread = means.std(ddof=1)
    # 60 datasets: the sample spread is known to ~ +-10 %; allow 30 %
    assert 0.7 < typical_error / spread < 1.3, (typical_error, spread)
    assert abs(means.mean() - 2.3) < 4 * spread / np.sqrt(len(means))


def _pair(rng, noise):
    ya, yb = _lines(rng, noise[0])
    return ya, noise, yb, noise


def test_curves_that_do_not_cross_are_refused():
    with pytest.raises(ValueError, match="do not cross exactly once"):
        crossing(X, X, np.full(X.size, 0.01), X + 1, np.full(X.size, 0.01))
