"""Exact sums of doubles: the same bits in any order and any split, so any decomposition of a sum agrees.

A float sum depends on its order; a sum spread over ranks that own
different atoms cannot keep one order.  An *accumulator* holds a sum
exactly (Kulisch's long accumulator): ``LIMBS`` int64 limbs of 32 bits,
limb j weighing 2^(32 j - 1075), so every finite double is an integer
number of limb units and adding one is three integer additions; three
counts (+inf, -inf, NaN) follow the values that are not finite.
Accumulators add as integer arrays (``a + b``, or MPI's SUM on int64), in
any order, and :func:`rounded` turns one into the double nearest its exact
sum (ties to even): the correctly rounded sum, a function of the set of
values alone.  Each limb takes fewer than 2^32 a value, so up to 2^31
values can go into one accumulator.
"""
from __future__ import annotations

import numba
import numpy as np

from ._jit import JIT_FLAGS

#: Limbs of the magnitude (covering 2^-1075 .. 2^1024 and the carries) and the three counts after them.
MAGNITUDE = 68
POSITIVE_INFINITY, NEGATIVE_INFINITY, NOT_A_NUMBER = MAGNITUDE, MAGNITUDE + 1, MAGNITUDE + 2
LIMBS = MAGNITUDE + 3

_LOW32 = np.uint64(0xFFFFFFFF)
_FRACTION = np.uint64((1 << 52) - 1)
_HIDDEN = np.uint64(1 << 52)


def accumulator(*shape: int) -> np.ndarray:
    """A zero accumulator (or an array of them: ``shape`` + (LIMBS,)), int64."""
    return np.zeros((*shape, LIMBS), dtype=np.int64)


@numba.njit(inline="always", **JIT_FLAGS)
def add(acc, x):
    """Add the double ``x`` to the accumulator ``acc`` exactly."""
    bits = np.uint64(np.float64(x).view(np.uint64))
    field = (bits >> np.uint64(52)) & np.uint64(0x7FF)
    negative = (bits >> np.uint64(63)) != np.uint64(0)
    if field == np.uint64(0x7FF):
        if bits & _FRACTION:
            acc[NOT_A_NUMBER] += 1
        elif negative:
            acc[NEGATIVE_INFINITY] += 1
        else:
            acc[POSITIVE_INFINITY] += 1
        return
    mantissa = bits & _FRACTION
    if field:
        mantissa |= _HIDDEN
    else:
        field = np.uint64(1)  # subnormal: the exponent of the smallest normal, no hidden bit
    limb = field >> np.uint64(5)
    shift = field & np.uint64(31)
    low = np.int64((mantissa << shift) & _LOW32)
    middle = np.int64((mantissa >> (np.uint64(32) - shift)) & _LOW32)
    top = np.int64((mantissa >> np.uint64(32)) >> (np.uint64(32) - shift))
    k = np.int64(limb)
    if negative:
        acc[k] -= low
        acc[k + 1] -= middle
        acc[k + 2] -= top
    else:
        acc[k] += low
        acc[k + 1] += middle
        acc[k + 2] += top


#: Accumulators :func:`add_all` fills in turn: consecutive values of one exponent would otherwise wait on
#: each other's additions to the same limbs.
_INTERLEAVED = 4


@numba.njit(**JIT_FLAGS)
def add_all(acc, values, a, b):
    """Add values[a:b] to ``acc`` exactly."""
    lanes = np.zeros((_INTERLEAVED, LIMBS), dtype=np.int64)
    i = a
    while i + _INTERLEAVED <= b:
        for lane in range(_INTERLEAVED):
            add(lanes[lane], values[i + lane])
        i += _INTERLEAVED
    for j in range(i, b):
        add(lanes[0], values[j])
    for lane in range(_INTERLEAVED):
        acc += lanes[lane]


@numba.njit(**JIT_FLAGS)
def _normalized(acc):
    """The magnitude limbs with carries propagated, each in [0, 2^32), and the sign (-1, 0 or 1)."""
    limbs = acc[:MAGNITUDE].copy()
    for j in range(MAGNITUDE - 1):
        carry = limbs[j] >> 32  # arithmetic: floor division by 2^32
        limbs[j] -= carry << 32
        limbs[j + 1] += carry
    sign = 1
    if limbs[MAGNITUDE - 1] < 0:
        sign = -1
        for j in range(MAGNITUDE):
            limbs[j] = -limbs[j]
        for j in range(MAGNITUDE - 1):
            carry = limbs[j] >> 32
            limbs[j] -= carry << 32
            limbs[j + 1] += carry
    top = MAGNITUDE - 1
    while top >= 0 and limbs[top] == 0:
        top -= 1
    return limbs, (0 if top < 0 else sign), top


@numba.njit(**JIT_FLAGS)
def rounded(acc):
    """The double nearest the exact sum in ``acc`` (ties to even); inf or NaN as IEEE addition would give."""
    if acc[NOT_A_NUMBER] or (acc[POSITIVE_INFINITY] and acc[NEGATIVE_INFINITY]):
        return np.nan
    if acc[POSITIVE_INFINITY]:
        return np.inf
    if acc[NEGATIVE_INFINITY]:
        return -np.inf
    limbs, sign, top = _normalized(acc)
    if sign == 0:
        return 0.0
    if top <= 1 and (limbs[1] >> 22) == 0:  # below 2^54 units (2^-1021): multiples of 2^-1074, subnormals too
        units = (limbs[1] << 32) | limbs[0]
        half, odd = units >> 1, units & 1
        if odd and (half & 1):  # exactly halfway between two multiples: to the even one
            half += 1
        return sign * np.ldexp(np.float64(half), -1074)
    width = 0  # bits of the top limb
    while width < 32 and (limbs[top] >> width) != 0:
        width += 1
    below1 = np.uint64(limbs[top - 1]) if top >= 1 else np.uint64(0)
    below2 = np.uint64(limbs[top - 2]) if top >= 2 else np.uint64(0)
    w = np.uint64(width)
    window = ((np.uint64(limbs[top]) << (np.uint64(64) - w)) | (below1 << (np.uint64(32) - w))
              | (below2 >> w))  # the 64 bits from the leading one down
    sticky = (below2 & ((np.uint64(1) << w) - np.uint64(1))) != np.uint64(0)
    for j in range(top - 2):
        sticky = sticky or limbs[j] != 0
    kept = window >> np.uint64(11)
    rest = window & np.uint64(0x7FF)
    if rest > np.uint64(0x400) or (rest == np.uint64(0x400) and (sticky or (kept & np.uint64(1)))):
        kept += np.uint64(1)
    exponent = 32 * top + width - 1 - 52 - 1075  # of the last kept bit
    return sign * np.ldexp(np.float64(kept), exponent)


@numba.njit(**JIT_FLAGS)
def exact_sum(values, a, b):
    """The correctly rounded sum of values[a:b], whatever their order."""
    acc = np.zeros(LIMBS, dtype=np.int64)
    add_all(acc, values, a, b)
    return rounded(acc)
