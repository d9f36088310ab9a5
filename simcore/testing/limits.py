"""The limits of one core of this machine, measured in the calling process, and a kernel's fraction of them.

Three ceilings, as in the roofline model (S. Williams, A. Waterman, D.
Patterson, CACM 52(4), 65 (2009), doi:10.1145/1498765.1498785), plus the one
that binds a Monte Carlo kernel's random numbers:

* ``flops_per_s``: peak double-precision rate of fused multiply-adds on
  SIMD registers (an FMA counts 2 flops), from independent FMA chains over a
  small array held in L1;
* ``bytes_per_s``: streaming memory bandwidth, STREAM's triad
  ``a = b + s c`` over three arrays of 128 MiB (24 bytes an element, the
  write-allocate traffic not counted, as in STREAM; J. D. McCalpin,
  https://www.cs.virginia.edu/stream/);
* ``philox_per_s``: Philox4x32-10 calls (four 32-bit words each) when the
  compiler runs independent calls across SIMD lanes, as a kernel does when
  it draws by (stream, counter) in a loop without branches.

A kernel declares what one of its natural units costs (an
:class:`~simcore.models.base.Intensity`: flops, bytes moved, Philox calls);
:func:`roofline` turns its measured rate into a fraction of each ceiling.
The binding limit is the one the kernel uses the most of: the ceiling it
would hit first if it ran faster.
"""
from __future__ import annotations

import functools
import time
from typing import NamedTuple

import numba
import numpy as np

from ..models.base import Intensity
from ..rng import random_words

_FMA_LANES = 128  # doubles: 32 AVX2 or 16 AVX-512 registers' worth, in L1
_FMA_CHAIN = 8  # FMAs per element per pass, so that loads and stores do not bind
_TRIAD_ELEMENTS = 1 << 24  # 128 MiB per array, far beyond any cache
_PHILOX_CALLS = 1 << 24


class MachineLimits(NamedTuple):
    """The ceilings of one core: flop/s, bytes/s and Philox calls/s."""
    flops_per_s: float
    bytes_per_s: float
    philox_per_s: float

    def describe(self) -> str:
        """One line, e.g. ``45.8 GFLOP/s FMA, 22.1 GB/s triad, 0.38 G Philox calls/s``."""
        return (f"{self.flops_per_s / 1e9:.1f} GFLOP/s FMA, {self.bytes_per_s / 1e9:.1f} GB/s triad, "
                f"{self.philox_per_s / 1e9:.3f} G Philox calls/s")


# fastmath "contract" lets LLVM fuse x * m + c into one FMA; no simulation kernel uses it (bitwise results).
@numba.njit(fastmath={"contract"}, cache=True, nogil=True)
def _fma_passes(passes, m, c, x):
    for _ in range(passes):
        for lane in range(x.shape[0]):
            v = x[lane]
            v = v * m + c
            v = v * m + c
            v = v * m + c
            v = v * m + c
            v = v * m + c
            v = v * m + c
            v = v * m + c
            v = v * m + c
            x[lane] = v
    return x.sum()


@numba.njit(cache=True, nogil=True)
def _triad(a, b, c, s):
    for i in range(a.shape[0]):
        a[i] = b[i] + s * c[i]


@numba.njit(cache=True, nogil=True)
def _philox_calls(seed, calls):
    folded = np.uint64(0)
    for counter in range(calls):
        r0, r1, r2, r3 = random_words(seed, np.uint64(7), np.uint64(counter))
        folded ^= r0 ^ r1 ^ r2 ^ r3
    return folded


def fastest_seconds(function, *args, rounds: int = 5) -> float:
    """Seconds of the fastest of ``rounds`` calls, after one call that compiles or loads the kernel."""
    function(*args)
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        function(*args)
        best = min(best, time.perf_counter() - start)
    return best


def measure_limits(rounds: int = 5) -> MachineLimits:
    """Measure the three ceilings now, fastest of ``rounds`` each (about 1.5 s in all)."""
    passes = 200_000
    lanes = np.ones(_FMA_LANES)
    fma_seconds = fastest_seconds(_fma_passes, passes, 0.9999999, 1e-7, lanes, rounds=rounds)
    a, b, c = np.zeros(_TRIAD_ELEMENTS), np.ones(_TRIAD_ELEMENTS), np.ones(_TRIAD_ELEMENTS)
    triad_seconds = fastest_seconds(_triad, a, b, c, 3.0, rounds=rounds)
    philox_seconds = fastest_seconds(_philox_calls, np.uint64(1), _PHILOX_CALLS, rounds=rounds)
    return MachineLimits(
        flops_per_s=2.0 * _FMA_CHAIN * _FMA_LANES * passes / fma_seconds,
        bytes_per_s=24.0 * _TRIAD_ELEMENTS / triad_seconds,
        philox_per_s=_PHILOX_CALLS / philox_seconds,
    )


@functools.lru_cache(maxsize=1)
def machine_limits() -> MachineLimits:
    """:func:`measure_limits`, once per process (a benchmark session measures them beside its kernels)."""
    return measure_limits()


class Roofline(NamedTuple):
    """A kernel's achieved fraction of each ceiling, and the one that binds it."""
    flops: float
    bytes: float
    philox: float

    @property
    def binding(self) -> str:
        """The ceiling with the largest fraction: ``flops``, ``bytes`` or ``philox``."""
        return max(self._fields, key=lambda name: getattr(self, name))

    @property
    def fraction(self) -> float:
        """The fraction of the binding ceiling."""
        return getattr(self, self.binding)


def roofline(units_per_s: float, intensity: Intensity, limits: MachineLimits) -> Roofline:
    """Fractions of ``limits`` that ``units_per_s`` natural units a second use, each costing ``intensity``."""
    return Roofline(
        flops=units_per_s * intensity.flops / limits.flops_per_s,
        bytes=units_per_s * intensity.bytes / limits.bytes_per_s,
        philox=units_per_s * intensity.philox / limits.philox_per_s,
    )
