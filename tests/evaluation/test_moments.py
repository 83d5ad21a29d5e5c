"""Exact sums that do not depend on the order of the values, and the Student t interval."""

from __future__ import annotations

import math
import random
from fractions import Fraction

import pytest

from saliency_cli.evaluation.moments import Moments, exact, t_quantile

# two-sided 95% quantiles of Student's t (tables; scipy.stats.t.ppf(0.975, df))
T_TABLE = {1: 12.706204736174694, 2: 4.302652729749462, 3: 3.1824463052837078, 5: 2.5705818356363146,
           10: 2.228138851986274, 30: 2.0422724563012378, 99: 1.9842169515864174, 100: 1.9839715185235518,
           1000: 1.9623390808264083}


def values(n: int, seed: int = 0) -> list[float]:
    rng = random.Random(seed)
    return [rng.gauss(0.1, 1) * 10.0 ** rng.randint(-12, 8) for _ in range(n)]


def test_the_sum_is_exact_whatever_the_order_and_however_it_is_split():
    xs = values(2_000)
    want = sum(map(Fraction, xs), Fraction(0))
    forward, backward, halves, other = Moments(), Moments(), Moments(), Moments()
    for x in xs:
        forward.add(x)
    for x in reversed(xs):
        backward.add(x)
    for x in xs[:700]:
        halves.add(x)
    for x in xs[700:]:
        other.add(x)
    halves.merge(other)
    assert Fraction(forward.s1, 2**forward.k1) == want
    assert (forward.s1, forward.k1) == (backward.s1, backward.k1) == (halves.s1, halves.k1)
    assert forward.total() == backward.total() == halves.total() == float(want)
    assert forward.mean() == backward.mean() == halves.mean() and forward.n == halves.n == 2_000
    assert forward.interval() == backward.interval() == halves.interval()
    assert math.fsum(xs) == forward.total() and sum(xs) != forward.total()  # plain float sums do lose bits here


def test_cancellation_and_the_smallest_values_are_exact():
    m = Moments()
    for x in (1e100, 1.0, -1e100, 5e-324, 1e-300):
        m.add(x)
    assert m.total() == 1.0 and Fraction(m.s1, 2**m.k1) == 1 + Fraction(5e-324) + Fraction(1e-300)
    assert exact(-0.5) == (-1, 1) and exact(0.0) == (0, 0) and exact(3.0) == (3, 0)


def test_the_interval_is_mean_plus_minus_t_times_the_standard_error():
    xs = [0.5, 1.5, 2.0, 4.0]
    m = Moments()
    for x in xs:
        m.add(x)
    mean = 2.0
    sd = math.sqrt(sum((x - mean) ** 2 for x in xs) / 3)
    half = T_TABLE[3] * sd / 2
    assert m.interval() == pytest.approx((mean - half, mean + half), abs=1e-12)
    one = Moments()
    one.add(3.0)
    assert one.interval() is None and one.mean() == 3.0 and Moments().mean() is None


@pytest.fixture(autouse=True)
def fresh_quantiles():
    """Quantiles computed in each test, not served from the cache an earlier test filled."""
    t_quantile.cache_clear()


@pytest.mark.parametrize("df, expected", sorted(T_TABLE.items()))
def test_t_quantiles(df, expected):
    assert t_quantile(df) == pytest.approx(expected, abs=1e-9)


def test_two_values_have_an_interval_and_a_small_spread_stays_small():
    m = Moments()
    for x in (0.5, 1.5):
        m.add(x)
    assert m.mean() == 1.0
    half = T_TABLE[1] * math.sqrt(0.5 / 2)
    assert m.interval() == pytest.approx((1.0 - half, 1.0 + half), abs=1e-12)
    tight = Moments()
    for x in (0.25, 0.2501, 0.2499):
        tight.add(x)
    lo, hi = tight.interval()
    assert hi - lo == pytest.approx(2 * T_TABLE[2] * 1e-4 / math.sqrt(3), rel=1e-6)
