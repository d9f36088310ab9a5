"""Physics against independent references, tolerances from the run's own standard error.

References:
* pure absorber (c = 0), normal incidence: transmission = exp(-thickness) (Beer-Lambert);
* rod model on a half-space: reflection = (1 - k)/(1 + k), k = sqrt(1 - c)
  (e.g. Wing, "An Introduction to Transport Theory", 1962, ch. 2);
* 3D isotropic scattering, half-space, normal incidence: albedo 1 - H(1) sqrt(1 - c),
  with Chandrasekhar's H-function solved here from its integral equation
  (S. Chandrasekhar, "Radiative Transfer", 1960, ch. V);
* pi: exact, with stderr = 4 sqrt(q(1-q)/n), q = pi/4, i.e. 1.6422/sqrt(n).
"""
import math

import numpy as np
import pytest

import simcore

SIGMAS = 4.0


def _run(tmp_path, model, **params):
    return simcore.run(model, executor="process", workers=2, out=str(tmp_path / "out.h5"), **params)


@pytest.mark.parametrize("thickness", [0.5, 1.0, 3.0])
def test_pure_absorber_transmission_is_exp_minus_thickness(tmp_path, thickness):
    res = _run(tmp_path, "transport", histories=400_000, thickness=thickness, scatter_ratio=0.0)
    expected = math.exp(-thickness)
    assert abs(res.mean("transmission") - expected) <= SIGMAS * res.stderr("transmission")
    assert res.mean("reflection") == 0.0  # nothing scatters back


@pytest.mark.parametrize("c", [0.3, 0.7, 0.95])
def test_rod_model_half_space_albedo(tmp_path, c):
    res = _run(tmp_path, "transport", histories=400_000, thickness=math.inf, scatter_ratio=c, directions="rod")
    k = math.sqrt(1.0 - c)
    expected = (1.0 - k) / (1.0 + k)
    assert abs(res.mean("reflection") - expected) <= SIGMAS * res.stderr("reflection")
    assert res.mean("transmission") == 0.0


def chandrasekhar_h(c: float, mu: float, nodes: int = 200) -> float:
    """H(mu) of isotropic scattering with albedo c: H(mu) = 1 / (1 - c/2 mu int_0^1 H(t)/(mu+t) dt)."""
    x, w = np.polynomial.legendre.leggauss(nodes)
    t, w = (x + 1) / 2, w / 2
    h = np.ones(nodes)
    for _ in range(10_000):
        updated = 1.0 / (1.0 - 0.5 * c * t * np.sum(w * h / (t[:, None] + t[None, :]), axis=1))
        if np.max(np.abs(updated - h)) < 1e-14:
            break
        h = updated
    return 1.0 / (1.0 - 0.5 * c * mu * np.sum(w * h / (mu + t)))


@pytest.mark.parametrize("c", [0.5, 0.9])
def test_h_function_satisfies_its_exact_zeroth_moment(c):
    """Exact zeroth moment of H (Chandrasekhar 1960, ch. V): int_0^1 H dmu = (2/c)(1 - sqrt(1 - c))."""
    x, w = np.polynomial.legendre.leggauss(64)
    moment = sum(wi / 2 * chandrasekhar_h(c, (xi + 1) / 2) for xi, wi in zip(x, w))
    assert abs(moment - 2 / c * (1 - math.sqrt(1 - c))) < 1e-6


@pytest.mark.parametrize("c", [0.5, 0.9])
def test_3d_half_space_albedo_matches_chandrasekhar(tmp_path, c):
    res = _run(tmp_path, "transport", histories=1_000_000, thickness=math.inf, scatter_ratio=c, seed=31)
    expected = 1.0 - chandrasekhar_h(c, 1.0) * math.sqrt(1.0 - c)
    assert abs(res.mean("reflection") - expected) <= SIGMAS * res.stderr("reflection")


@pytest.mark.parametrize("incidence, directions", [("normal", "3d"), ("isotropic", "3d"), ("normal", "rod")])
def test_every_history_ends_in_exactly_one_outcome(tmp_path, incidence, directions):
    histories = 123_457
    res = _run(tmp_path, "transport", histories=histories, thickness=1.5, scatter_ratio=0.6,
               incidence=incidence, directions=directions)
    counts = [res.mean(name) * histories for name in ("reflection", "transmission", "absorption")]
    assert all(float(c).is_integer() for c in counts)
    assert sum(int(c) for c in counts) == histories  # integer tallies add up exactly
    assert abs(sum(res.mean(n) for n in ("reflection", "transmission", "absorption")) - 1.0) <= 4e-16


def test_collision_density_integrates_to_mean_collisions(tmp_path):
    """Pure absorber: each history collides at most once, at depth with density exp(-x)."""
    res = _run(tmp_path, "transport", histories=200_000, thickness=2.0, scatter_ratio=0.0, bins=20)
    density, err, depth = (res.series(n) for n in ("collision_density", "collision_density_stderr", "depth"))
    width = depth[1] - depth[0]
    exact = (np.exp(-(depth - width / 2)) - np.exp(-(depth + width / 2))) / width
    assert np.all(np.abs(density - exact) <= SIGMAS * err + 1e-12)
    assert abs(density.sum() * width - res.mean("absorption")) < 1e-12


def test_pi_within_four_sigma_and_stderr_as_predicted(tmp_path):
    samples = 200_000_000
    res = _run(tmp_path, "pi", samples=samples)
    assert abs(res.mean("pi") - math.pi) <= SIGMAS * res.stderr("pi")
    predicted = 1.6422 / math.sqrt(samples)
    assert abs(res.stderr("pi") / predicted - 1.0) < 0.10
