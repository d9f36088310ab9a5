"""Exact sums against Python's rational arithmetic: correctly rounded, and the same in any order and split."""
from fractions import Fraction

import numpy as np
import pytest

from simcore import exactsum


def reference(values) -> float:
    """The correctly rounded sum, by exact rational arithmetic (float() of a Fraction rounds to nearest even)."""
    return float(sum((Fraction(float(v)) for v in values), Fraction(0)))


def summed(values) -> float:
    values = np.ascontiguousarray(values, dtype=np.float64)
    return exactsum.exact_sum(values, 0, len(values))


def wide(rng, n):
    """Values of both signs over most of the double range, with cancellations."""
    magnitudes = np.ldexp(rng.random(n) + 0.5, rng.integers(-1070, 1000, n))
    values = magnitudes * rng.choice([-1.0, 1.0], n)
    return np.concatenate([values, -values[: n // 3], rng.normal(size=n // 2)])


@pytest.mark.parametrize("case", ["normal", "wide", "cancelling", "subnormal", "large"])
def test_sums_are_correctly_rounded(case):
    rng = np.random.default_rng(7)
    values = {
        "normal": rng.normal(size=5000) * 3.0 + 1.0,
        "wide": wide(rng, 3000),
        "cancelling": np.concatenate([[1e300, 1.0, -1e300, 2.0**-60], rng.normal(size=50) * 1e-20]),
        "subnormal": np.ldexp(rng.integers(-2**40, 2**40, 2000).astype(np.float64), -1074 - 30),
        "large": np.full(1000, 1.5e305) * rng.choice([-1.0, 1.0], 1000) + 1e290,
    }[case]
    assert summed(values) == reference(values)


def test_halfway_cases_round_to_even():
    assert summed([1.0, 2.0**-53]) == 1.0  # exactly half an ulp above 1: stays at the even 1
    assert summed([1.0 + 2.0**-52, 2.0**-53]) == 1.0 + 2.0**-51  # half an ulp above an odd: up
    assert summed([1.0, 2.0**-53, 2.0**-200]) == 1.0 + 2.0**-52  # a hair above half: up
    assert summed([5e-324, 5e-324, -5e-324]) == 5e-324
    assert summed([-0.0, -0.0]) == 0.0 and summed([]) == 0.0


def test_order_and_split_do_not_change_the_bits():
    rng = np.random.default_rng(3)
    values = np.concatenate([wide(rng, 1000), rng.normal(size=4000)])
    values = values[np.abs(values) < 1e3]  # comparable magnitudes: every order rounds differently
    expected = reference(values)
    assert summed(values[::-1]) == expected and summed(rng.permutation(values)) == expected
    assert sum(values.tolist()) != expected  # a float sum would not do: the test could fail
    pieces = np.array_split(rng.permutation(values), 7)
    total = exactsum.accumulator()
    for piece in pieces:
        part = exactsum.accumulator()
        exactsum.add_all(part, piece, 0, len(piece))
        total += part
    assert exactsum.rounded(total) == expected


def test_values_that_are_not_finite_give_what_ieee_addition_gives():
    assert summed([1.0, np.inf, 5.0]) == np.inf
    assert summed([-np.inf, 1e308, 1e308]) == -np.inf
    assert np.isnan(summed([np.inf, -np.inf])) and np.isnan(summed([1.0, np.nan]))
    assert summed([1e308, 1e308]) == np.inf  # the exact sum overflows a double
