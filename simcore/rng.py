"""Counter-based random numbers (Philox4x32-10) usable inside ``@njit`` kernels.

Contract
--------
Every draw is a pure function ``f(key=seed, stream, counter)``:

* ``seed``    -- the run's 64-bit seed; it is the Philox key (two 32-bit words).
* ``stream``  -- a 64-bit identifier of *what* is being simulated: a history
  index, a partition, a lattice site.  It fills the upper counter words.
* ``counter`` -- a 64-bit draw index within the stream, chosen by the kernel.
  It fills the lower counter words.

There is no generator object and no hidden state: a kernel that knows
``(seed, stream, counter)`` reproduces its draws on any worker, any executor,
and after a restart (checkpoints store counters only).  Streams never overlap
because (stream, counter) is the full 128-bit Philox counter.

Reference: J. K. Salmon, M. A. Moraes, R. O. Dror, D. E. Shaw, "Parallel random
numbers: as easy as 1, 2, 3", SC'11, doi:10.1145/2063384.2063405.  Known-answer
vectors from the Random123 distribution are checked in tests/test_rng.py.
"""
from __future__ import annotations

import math

from . import _jit  # noqa: F401  (sets the numba cache dir before numba loads)
import numba
import numpy as np

from ._jit import JIT_FLAGS, tolerate_unwritable_cache

tolerate_unwritable_cache()

_MASK32 = np.uint64(0xFFFFFFFF)
_M0 = np.uint64(0xD2511F53)
_M1 = np.uint64(0xCD9E8D57)
_W0 = np.uint64(0x9E3779B9)  # golden ratio
_W1 = np.uint64(0xBB67AE85)  # sqrt(3) - 1
_SHIFT32 = np.uint64(32)
_SHIFT11 = np.uint64(11)
_TWO_M53 = 1.0 / 9007199254740992.0  # 2**-53
_TWO_M32 = 1.0 / 4294967296.0  # 2**-32

#: Largest seed accepted by :func:`seed_key` (seeds are 64-bit unsigned).
MAX_SEED = 2**64 - 1


@numba.njit(inline="always", **JIT_FLAGS)
def philox4x32(c0, c1, c2, c3, k0, k1):
    """Philox4x32 with 10 rounds: four 32-bit counter words and two key words in,
    four 32-bit words out (each carried in a uint64)."""
    c0 = np.uint64(c0)
    c1 = np.uint64(c1)
    c2 = np.uint64(c2)
    c3 = np.uint64(c3)
    k0 = np.uint64(k0)
    k1 = np.uint64(k1)
    for _ in range(10):
        p0 = _M0 * c0
        p1 = _M1 * c2
        n0 = ((p1 >> _SHIFT32) ^ c1 ^ k0) & _MASK32
        n1 = p1 & _MASK32
        n2 = ((p0 >> _SHIFT32) ^ c3 ^ k1) & _MASK32
        n3 = p0 & _MASK32
        c0, c1, c2, c3 = n0, n1, n2, n3
        k0 = (k0 + _W0) & _MASK32
        k1 = (k1 + _W1) & _MASK32
    return c0, c1, c2, c3


@numba.njit(inline="always", **JIT_FLAGS)
def random_words(seed, stream, counter):
    """Four raw 32-bit words for (seed, stream, counter), all uint64 arguments."""
    seed = np.uint64(seed)
    stream = np.uint64(stream)
    counter = np.uint64(counter)
    return philox4x32(
        counter & _MASK32, counter >> _SHIFT32, stream & _MASK32, stream >> _SHIFT32,
        seed & _MASK32, seed >> _SHIFT32,
    )


@numba.njit(inline="always", **JIT_FLAGS)
def uniform_pair(seed, stream, counter):
    """Two independent doubles uniform on [0, 1) with 53 random bits each."""
    r0, r1, r2, r3 = random_words(seed, stream, counter)
    a = ((r1 << _SHIFT32) | r0) >> _SHIFT11
    b = ((r3 << _SHIFT32) | r2) >> _SHIFT11
    return a * _TWO_M53, b * _TWO_M53


@numba.njit(inline="always", **JIT_FLAGS)
def _word_uniform(word):
    """``word * 2**-32`` exactly, for a word < 2**32 carried in a uint64.

    Converted through a signed 32-bit integer, which SIMD units convert to
    double (AVX2 has no unsigned 64-bit conversion; the direct one runs
    scalar and made pi's darts 1.4 times slower).
    """
    return (np.float64(np.int32(np.int64(word) - 2147483648)) + 2147483648.0) * _TWO_M32


@numba.njit(inline="always", **JIT_FLAGS)
def uniform_quad32(seed, stream, counter):
    """Four doubles uniform on [0, 1) with 32 random bits each (for cheap darts): word * 2**-32."""
    r0, r1, r2, r3 = random_words(seed, stream, counter)
    return _word_uniform(r0), _word_uniform(r1), _word_uniform(r2), _word_uniform(r3)


@numba.njit(inline="always", **JIT_FLAGS)
def exponential(u):
    """Sample of the unit-mean exponential distribution from a uniform u in [0, 1)."""
    return -math.log1p(-u)


@numba.njit(inline="always", **JIT_FLAGS)
def isotropic_cosine(u):
    """Direction cosine mu in [-1, 1) of an isotropic direction, from a uniform u."""
    return 2.0 * u - 1.0


@numba.njit(inline="always", **JIT_FLAGS)
def isotropic_direction(u0, u1):
    """Unit vector (x, y, z) uniform on the sphere, from two uniforms."""
    mu = 2.0 * u0 - 1.0
    phi = 2.0 * math.pi * u1
    s = math.sqrt(max(0.0, 1.0 - mu * mu))
    return s * math.cos(phi), s * math.sin(phi), mu


@numba.njit(**JIT_FLAGS)
def fill_uniform(seed, stream, first_counter, out):
    """Fill ``out`` (float64, even length) with uniforms of counters first_counter, ..."""
    for i in range(out.shape[0] // 2):
        u0, u1 = uniform_pair(seed, stream, first_counter + i)
        out[2 * i] = u0
        out[2 * i + 1] = u1

