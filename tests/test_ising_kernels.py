"""Ising kernels: exact enumeration at L=4, partition independence, the random-number
contract against a plain-Python reference, and limiting cases.

Reference for the validation: exact enumeration of the 2^16 states of the
periodic 4 x 4 lattice, computed here (a finite-size result: Onsager's
infinite-lattice values do not apply at L=4).  Monte Carlo means must agree
within 4 standard errors from a blocking analysis (Binder cumulant: jackknife
over blocks).
"""
import math

import numba
import numpy as np
import pytest

from simcore import rng
from simcore.blocking import block_means, blocking, jackknife
from simcore.models import ising_kernels as ik

from .support.ising_exact import exact_l4

SEED = np.uint64(20240611)
BOUNDS = {"metropolis": ik.metropolis_bounds, "heatbath": ik.heatbath_bounds}


def _full_sweeps(spins, seed, first_sweep, sweeps, bounds):
    """Both colours over all rows, ``sweeps`` times, as a single worker does it."""
    rows = spins.shape[0]
    for sweep in range(first_sweep, first_sweep + sweeps):
        for colour in (0, 1):
            ik.half_sweep(spins, colour, 0, rows, seed, np.uint64(sweep), bounds)


@numba.njit
def _series(spins, seed, first_sweep, sweeps, bounds, h):
    """Sweep the lattice; return E/N, m, m^2, m^4 after each sweep, shape (sweeps, 4)."""
    rows = spins.shape[0]
    out = np.empty((sweeps, 4))
    for t in range(sweeps):
        sweep = np.uint64(first_sweep + t)
        for colour in range(2):
            ik.half_sweep(spins, colour, 0, rows, seed, sweep, bounds)
        m = ik.magnetization(spins, 0, rows) / spins.size
        out[t, 0] = ik.energy(spins, h, 0, rows) / spins.size
        out[t, 1] = m
        out[t, 2] = m * m
        out[t, 3] = m**4
    return out


# --------------------------------------------------------------------------- exact enumeration, L = 4


def test_exact_enumeration_matches_known_l4_values():
    # ground state E/N = -2, m = 1; infinite temperature limit E/N -> 0
    cold = exact_l4(0.05)
    assert cold["energy_per_site"] == pytest.approx(-2.0, abs=1e-12)
    assert cold["abs_magnetization_per_site"] == pytest.approx(1.0, abs=1e-12)
    assert cold["binder"] == pytest.approx(2.0 / 3.0, abs=1e-12)
    assert abs(exact_l4(1e6)["energy_per_site"]) < 1e-5


def _binder(means):
    return 1.0 - means[..., 1] / (3.0 * means[..., 0] ** 2)


@pytest.mark.parametrize("algorithm", ["metropolis", "heatbath"])
@pytest.mark.parametrize("temperature", [2.269, 3.0])
def test_l4_matches_exact_enumeration(algorithm, temperature):
    exact = exact_l4(temperature)
    spins = np.empty((4, 4), dtype=np.int8)
    ik.hot_start(spins, SEED, 0, 4)
    bounds = BOUNDS[algorithm](1.0 / temperature, 0.0, 2)
    _series(spins, SEED, 0, 1000, bounds, 0.0)  # thermalise
    series = _series(spins, SEED, 1000, 2**19, bounds, 0.0)

    energy = blocking(series[:, 0])
    abs_m = blocking(np.abs(series[:, 1]))
    block_size = max(blocking(series[:, 2]).block_size, blocking(series[:, 3]).block_size)
    binder, binder_err = jackknife(block_means(series[:, 2:4], block_size), _binder)

    for name, value, stderr in (("energy_per_site", energy.mean, energy.stderr),
                                ("abs_magnetization_per_site", abs_m.mean, abs_m.stderr),
                                ("binder", binder, binder_err)):
        assert 0 < stderr < 5e-3, name
        assert abs(value - exact[name]) <= 4 * stderr, (name, value, exact[name], stderr)
    assert energy.plateau and abs_m.plateau


# --------------------------------------------------------------------------- partition independence


def _partitioned_sweeps(spins, seed, sweeps, bounds, ranges):
    """Like _full_sweeps, but each half-sweep is done range by range (lockstep workers)."""
    for sweep in range(sweeps):
        for colour in (0, 1):
            for start, stop in ranges:
                ik.half_sweep(spins, colour, start, stop, seed, np.uint64(sweep), bounds)


@pytest.mark.parametrize("dim", [2, 3])
@pytest.mark.parametrize("algorithm", ["metropolis", "heatbath"])
def test_result_does_not_depend_on_row_partition(dim, algorithm):
    size, ranges = 16, ((0, 3), (3, 8), (8, 16))
    bounds = BOUNDS[algorithm](1.0 / 4.0, 0.3, dim)
    whole = np.empty((size,) * dim, dtype=np.int8)
    ik.hot_start(whole, SEED, 0, size)
    parts = np.empty_like(whole)
    for start, stop in reversed(ranges):
        ik.hot_start(parts, SEED, start, stop)
    assert np.array_equal(parts, whole)

    _full_sweeps(whole, SEED, 0, 7, bounds)
    _partitioned_sweeps(parts, SEED, 7, bounds, ranges)
    assert np.array_equal(parts, whole)
    assert 0 < np.count_nonzero(whole == 1) < whole.size  # something happened


def _windows(whole, ranges):
    """Each range's rows of ``whole`` with one halo row on either side (periodically), and its origin."""
    size = whole.shape[0]
    return [(np.take(whole, np.arange(start - 1, stop + 1) % size, axis=0), (start - 1) % size)
            for start, stop in ranges]


def _fill_halos(windows):
    """Each window's halo rows from its neighbours' own rows, as the MPI ranks exchange them."""
    for k, (window, _) in enumerate(windows):
        window[0] = windows[k - 1][0][-2]
        window[-1] = windows[(k + 1) % len(windows)][0][1]


@pytest.mark.parametrize("dim", [2, 3])
@pytest.mark.parametrize("ranges", [((0, 3), (3, 8), (8, 16)), ((0, 16),), ((0, 9), (9, 16))])
def test_windows_of_rows_with_a_halo_give_the_whole_lattices_bits(dim, ranges):
    """What a rank of a distributed run holds (its rows, one halo row each side) sweeps and measures as the
    whole lattice does: the same random numbers by lattice site, the colours by lattice coordinates."""
    size = 16
    bounds = ik.metropolis_bounds(1.0 / 3.0, 0.3, dim)
    whole = np.empty((size,) * dim, dtype=np.int8)
    ik.hot_start(whole, SEED, 0, size)
    windows = [(np.zeros((stop - start + 2,) + whole.shape[1:], dtype=np.int8), (start - 1) % size)
               for start, stop in ranges]
    for window, origin in windows:
        ik.hot_start(window, SEED, 1, len(window) - 1, origin)
    _fill_halos(windows)
    assert all(np.array_equal(w, expected) for (w, _), (expected, _) in zip(windows, _windows(whole, ranges)))
    for sweep in range(5):
        for colour in (0, 1):
            ik.half_sweep(whole, colour, 0, size, SEED, np.uint64(sweep), bounds)
            for window, origin in windows:
                ik.half_sweep(window, colour, 1, len(window) - 1, SEED, np.uint64(sweep), bounds, origin)
            _fill_halos(windows)
    assert np.array_equal(np.concatenate([w[1:-1] for w, _ in windows]), whole)
    assert sum(ik.bonds_and_magnetization(w, 1, len(w) - 1)[0] for w, _ in windows) == \
        ik.bonds_and_magnetization(whole, 0, size)[0]


@pytest.mark.parametrize("dim", [2, 3])
def test_measurements_add_up_over_a_row_partition(dim):
    size, ranges = 16, ((0, 3), (3, 8), (8, 16))
    spins = np.empty((size,) * dim, dtype=np.int8)
    ik.hot_start(spins, SEED, 0, size)
    h = 0.5  # dyadic: the partial energies add up exactly
    assert sum(ik.energy(spins, h, a, b) for a, b in ranges) == ik.energy(spins, h, 0, size)
    assert sum(ik.magnetization(spins, a, b) for a, b in ranges) == ik.magnetization(spins, 0, size)
    assert ik.magnetization(spins, 0, size) == spins.sum()


def test_half_sweep_touches_only_its_rows_and_colour():
    size = 16
    before = np.empty((size, size), dtype=np.int8)
    ik.hot_start(before, SEED, 0, size)
    after = before.copy()
    ik.half_sweep(after, 1, 3, 8, SEED, np.uint64(0), ik.heatbath_bounds(0.1, 0.0, 2))
    i, j = np.indices(before.shape)
    untouched = ((i + j) % 2 == 0) | (i < 3) | (i >= 8)
    assert np.array_equal(after[untouched], before[untouched])
    assert not np.array_equal(after, before)


# --------------------------------------------------------------------------- the random-number contract


@numba.njit
def _words(seed, stream, counter):
    return rng.random_words(seed, stream, counter)


def _site_word(seed, shape, index, counter):
    """The 32-bit word of a site: stream = linear index of its block of 8, word (j % 8) // 2."""
    site = int(np.ravel_multi_index(index, shape))
    j = index[-1]
    words = _words(seed, np.uint64(site - j % 8), np.uint64(counter))
    return int(words[(j % 8) // 2])


def _reference_half_sweep(spins, colour, seed, sweep, beta, h, probability):
    """One half-sweep site by site in plain Python, from the contract in the module docstring."""
    size = spins.shape[0]
    for index in np.ndindex(spins.shape):
        if sum(index) % 2 != colour:
            continue
        nsum = 0
        for axis in range(spins.ndim):
            for step in (-1, 1):
                other = list(index)
                other[axis] = (other[axis] + step) % size
                nsum += int(spins[tuple(other)])
        s = int(spins[index])
        u = _site_word(seed, spins.shape, index, 2 * sweep + colour) / 2.0**32
        if u < probability(beta, 2.0 * s * (nsum + h)):
            spins[index] = -s


def _metropolis(beta, de):
    return min(1.0, math.exp(-beta * de))


def _heatbath(beta, de):
    return 1.0 / (1.0 + math.exp(beta * de))


@pytest.mark.parametrize("dim, size", [(2, 2), (2, 6), (2, 10), (3, 4)])
@pytest.mark.parametrize("algorithm, probability", [("metropolis", _metropolis), ("heatbath", _heatbath)])
def test_kernel_follows_the_documented_keying_and_acceptance(dim, size, algorithm, probability):
    beta, h = 0.45, -0.3
    shape = (size,) * dim
    hot_bits = [_site_word(SEED, shape, index, ik.HOT_START_COUNTER) >> (31 - index[-1] % 2) & 1
                for index in np.ndindex(shape)]
    reference = (2 * np.array(hot_bits, dtype=np.int8) - 1).reshape(shape)
    spins = np.empty_like(reference)
    ik.hot_start(spins, SEED, 0, size)
    assert np.array_equal(spins, reference)

    bounds = BOUNDS[algorithm](beta, h, dim)
    for sweep in range(3):
        for colour in (0, 1):
            _reference_half_sweep(reference, colour, SEED, sweep, beta, h, probability)
            ik.half_sweep(spins, colour, 0, size, SEED, np.uint64(sweep), bounds)
            assert np.array_equal(spins, reference), (sweep, colour)


def test_hot_start_is_random_and_depends_on_the_seed():
    a = np.empty((64, 64), dtype=np.int8)
    b = np.empty_like(a)
    ik.hot_start(a, SEED, 0, 64)
    ik.hot_start(b, SEED + np.uint64(1), 0, 64)
    assert abs(a.mean()) < 5 / 64  # 5 sigma
    assert abs(np.mean(a == b) - 0.5) < 5 * 0.5 / 64


# --------------------------------------------------------------------------- limits and tables


@pytest.mark.parametrize("dim", [2, 3])
def test_cold_lattice_energy_is_minus_dim_per_site(dim):
    spins = np.empty((8,) * dim, dtype=np.int8)
    ik.cold_start(spins, 0, 8)
    assert np.all(spins == 1)
    assert ik.energy(spins, 0.0, 0, 8) == -dim * spins.size
    assert ik.energy(spins, 0.25, 0, 8) == -(dim + 0.25) * spins.size
    assert ik.magnetization(spins, 0, 8) == spins.size


@pytest.mark.parametrize("dim", [2, 3])
@pytest.mark.parametrize("algorithm", ["metropolis", "heatbath"])
@pytest.mark.parametrize("h", [0.0, 0.5])
def test_cold_start_stays_ordered_at_low_temperature(dim, algorithm, h):
    spins = np.empty((8,) * dim, dtype=np.int8)
    ik.cold_start(spins, 0, 8)
    _full_sweeps(spins, SEED, 0, 100, BOUNDS[algorithm](1.0 / 0.1, h, dim))
    assert np.all(spins == 1)


def test_bounds_encode_the_flip_probabilities():
    top = np.uint32(2**32 - 1)
    beta = 1.0 / 2.269
    metropolis = ik.metropolis_bounds(beta, 0.0, 2)
    assert len(metropolis) == 10 and len(ik.metropolis_bounds(beta, 0.0, 3)) == 14
    # index: s = -1 then +1, neighbour sum -4, -2, 0, 2, 4; dE = 2 s nsum
    assert metropolis[2:8] == (top,) * 6
    assert metropolis[0] == metropolis[9] == math.ceil(2**32 * math.exp(-8 * beta)) - 1
    assert metropolis[1] == metropolis[8] == math.ceil(2**32 * math.exp(-4 * beta)) - 1
    heatbath = ik.heatbath_bounds(beta, 0.0, 2)
    assert heatbath[2] == heatbath[7] == 2**31 - 1  # dE = 0: p = 1/2
    assert all(isinstance(b, np.uint32) for b in metropolis + heatbath)
    # no overflow at very low temperature; p below 2**-32 gives the smallest bound
    for bounds in (ik.metropolis_bounds(1e4, -3.0, 3), ik.heatbath_bounds(1e4, -3.0, 3)):
        assert bounds[0] == 0 and bounds[7] == top  # s = -1 and +1 with nsum = -6: dE = 18 and -18


@pytest.mark.parametrize("shape, rows", [((5, 5), (0, 5)), ((4, 6, 4), (0, 4)), ((4, 4), (2, 5)), ((4, 4), (3, 2))])
def test_bad_lattice_or_row_range_is_refused(shape, rows):
    with pytest.raises(ValueError):
        ik.half_sweep(np.ones(shape, dtype=np.int8), 0, *rows, SEED, np.uint64(0), ik.metropolis_bounds(0.4, 0.0, 2))
