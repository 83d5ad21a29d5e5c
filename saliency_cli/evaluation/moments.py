"""Exact running sums, and the Student t interval of a mean: the arithmetic of the corpus tallies.

Every finite float is an integer multiple of 2**-1074 (the smallest subnormal), so a sum of floats is
kept exactly as a Python integer in those units, and rounded once when read (Python's integer
division is correctly rounded). Adding values in any order, or merging the sums of parts, therefore
gives the same result to the last bit: a file summarized whole, in halves, or as Ray parts, gives
the same numbers.
"""

from __future__ import annotations

import math
from functools import lru_cache
from statistics import NormalDist

LEVEL = 0.95
INTERVAL = "95% Student t interval of the mean per-review score"
UNIT = 1074  # a float x is exactly exact(x) * 2**-UNIT
ONE = 1 << UNIT


def exact(x: float) -> int:
    """``x`` (finite) as an integer number of 2**-1074 units, exactly."""
    n, d = x.as_integer_ratio()
    return n << (UNIT + 1 - d.bit_length())


class Moments:
    """Count, exact sum and exact sum of squares of a stream of finite values; merges exactly."""

    __slots__ = ("n", "s1", "s2")

    def __init__(self) -> None:
        self.n = 0
        self.s1 = 0  # sum of the values, in 2**-1074 units
        self.s2 = 0  # sum of the (rounded) squares, in the same units

    def add(self, x: float) -> None:
        self.n += 1
        self.s1 += exact(x)
        self.s2 += exact(x * x)

    def merge(self, other: "Moments") -> None:
        self.n += other.n
        self.s1 += other.s1
        self.s2 += other.s2

    def total(self) -> float:
        """The sum, rounded once."""
        return self.s1 / ONE

    def mean(self) -> float | None:
        return self.s1 / (self.n << UNIT) if self.n else None

    def interval(self) -> tuple[float, float] | None:
        """The 95 % Student t interval of the mean (None with fewer than two values). The variance is
        computed from the exact sums, so it does not depend on the order either."""
        if self.n < 2:
            return None
        spread = self.n * self.s2 * ONE - self.s1 * self.s1  # n * sum(x^2) - sum(x)^2, in 2**-2148 units
        variance = max(0.0, spread / ((self.n * (self.n - 1)) << (2 * UNIT)))
        half = t_quantile(self.n - 1) * math.sqrt(variance / self.n)
        mean = self.s1 / (self.n << UNIT)
        return mean - half, mean + half


def _two_sided(t: float, df: int) -> float:
    """P(|T| < t) for Student's t with ``df`` degrees of freedom (the finite series of Abramowitz and
    Stegun 26.7.3-4, exact for integer ``df``)."""
    theta = math.atan(t / math.sqrt(df))
    s, c2 = math.sin(theta), math.cos(theta) ** 2
    if df % 2:
        term, total = math.cos(theta), 0.0
        for j in range(1, (df - 1) // 2 + 1):
            total += term
            term *= c2 * (2 * j) / (2 * j + 1)
        return 2 / math.pi * (theta + s * total) if df > 1 else 2 * theta / math.pi
    term, total = 1.0, 0.0
    for j in range(1, df // 2 + 1):
        total += term
        term *= c2 * (2 * j - 1) / (2 * j)
    return s * total


@lru_cache(maxsize=None)
def t_quantile(df: int, level: float = LEVEL) -> float:
    """The two-sided ``level`` quantile of Student's t: bisection on the exact distribution below 100
    degrees of freedom, the Cornish-Fisher expansion (error under 1e-10) from there."""
    if df < 1:
        raise ValueError("degrees of freedom must be at least 1")
    if df >= 100:
        z = NormalDist().inv_cdf(0.5 + level / 2)
        v = float(df)
        return (z + (z**3 + z) / (4 * v) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * v**2)
                + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * v**3)
                + (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / (92160 * v**4))
    lo, hi = 0.0, 1.0
    while _two_sided(hi, df) < level:
        hi *= 2
    for _ in range(200):
        mid = (lo + hi) / 2
        if mid in (lo, hi):
            break
        lo, hi = (mid, hi) if _two_sided(mid, df) < level else (lo, mid)
    return hi
