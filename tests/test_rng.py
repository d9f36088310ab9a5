"""Philox4x32-10: Random123 known-answer vectors and a statistical smoke test."""
import numba
import numpy as np
import pytest
from scipy import stats

from simcore import rng


@numba.njit
def _philox(c0, c1, c2, c3, k0, k1):
    return rng.philox4x32(c0, c1, c2, c3, k0, k1)


# Random123 kat_vectors, philox4x32 with 10 rounds: counter[4] key[2] -> output[4]
KAT = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
]


@pytest.mark.parametrize("counter, key, expected", KAT)
def test_known_answer_vectors(counter, key, expected):
    assert tuple(int(x) for x in _philox(*counter, *key)) == expected


def test_words_split_seed_stream_counter_into_key_and_counter():
    @numba.njit
    def words(seed, stream, counter):
        return rng.random_words(seed, stream, counter)

    # counter = (0x85a308d3 << 32 | 0x243f6a88), stream = (0x03707344 << 32 | 0x13198a2e), key likewise
    got = words(np.uint64(0x299F31D0A4093822), np.uint64(0x0370734413198A2E), np.uint64(0x85A308D3243F6A88))
    assert tuple(int(x) for x in got) == KAT[2][2]


def _uniforms(seed, stream, n):
    out = np.empty(n)
    rng.fill_uniform(np.uint64(seed), np.uint64(stream), np.uint64(0), out)
    return out


def test_uniforms_lie_in_unit_interval_and_are_uniform():
    u = _uniforms(7, 0, 1_000_000)
    assert u.min() >= 0.0 and u.max() < 1.0
    counts, _ = np.histogram(u, bins=100, range=(0, 1))
    assert stats.chisquare(counts).pvalue > 1e-4
    assert stats.kstest(u, "uniform").pvalue > 1e-4


def test_streams_and_seeds_are_uncorrelated():
    n = 200_000
    a, b, c = _uniforms(7, 0, n), _uniforms(7, 1, n), _uniforms(8, 0, n)
    for x, y in ((a, b), (a, c)):
        r = np.corrcoef(x, y)[0, 1]
        assert abs(r) < 5 / np.sqrt(n)
    lag1 = np.corrcoef(a[:-1], a[1:])[0, 1]
    assert abs(lag1) < 5 / np.sqrt(n)


def test_exponential_and_isotropic_helpers_have_the_right_moments():
    u = _uniforms(3, 5, 400_000)

    @numba.njit
    def transform(u):
        e = np.empty(u.size)
        mu = np.empty(u.size)
        for i in range(u.size):
            e[i] = rng.exponential(u[i])
            mu[i] = rng.isotropic_cosine(u[i])
        return e, mu

    e, mu = transform(u)
    n = u.size
    assert abs(e.mean() - 1.0) < 5 / np.sqrt(n)          # Exp(1): mean 1, sd 1
    assert abs(mu.mean()) < 5 * np.sqrt(1 / 3 / n)        # U(-1,1): mean 0, var 1/3
    assert stats.kstest(e, "expon").pvalue > 1e-4

    @numba.njit
    def directions(u):
        out = np.empty((u.size // 2, 3))
        for i in range(u.size // 2):
            out[i] = rng.isotropic_direction(u[2 * i], u[2 * i + 1])
        return out

    d = directions(u)
    np.testing.assert_allclose(np.linalg.norm(d, axis=1), 1.0, rtol=1e-12)
    assert np.all(np.abs(d.mean(axis=0)) < 5 * np.sqrt(1 / 3 / len(d)))



@numba.njit
def _word_uniforms(words):
    out = np.empty(words.shape[0])
    for i in range(words.shape[0]):
        out[i] = rng._word_uniform(words[i])
    return out


def test_uniform_quad32_is_each_word_times_two_to_minus_32():
    """The signed-conversion path of uniform_quad32 is exact: word * 2**-32 for every word, edges included."""
    edges = np.array([0, 1, 2**31 - 1, 2**31, 2**31 + 1, 2**32 - 2, 2**32 - 1], dtype=np.uint64)
    words = np.concatenate([edges, np.random.default_rng(5).integers(0, 2**32, 10_000, dtype=np.uint64)])
    np.testing.assert_array_equal(_word_uniforms(words), words.astype(np.float64) / 2**32)
    first = numba.njit(lambda: rng.uniform_quad32(np.uint64(3), np.uint64(4), np.uint64(5)))()
    words = numba.njit(lambda: rng.random_words(np.uint64(3), np.uint64(4), np.uint64(5)))()
    assert first == tuple(float(w) / 2**32 for w in words)
