"""Exact running sums, and the Student t interval of a mean: the arithmetic of the corpus tallies.

A finite float is n / 2**j for integers n and j, so a sum of floats is kept exactly as one integer
over a power of two (the finest power among the values added so far), and rounded once when read
(Python's integer division is correctly rounded). Adding values in any order, or merging the sums of
parts, therefore gives the same result to the last bit: a file summarized whole, in halves, or as
Ray parts, gives the same numbers. Scores of 1e-3 to 1e-9 take integers of about 60 to 90 bits.
"""

from __future__ import annotations

import math
from functools import lru_cache
from statistics import NormalDist

LEVEL = 0.95
INTERVAL = "95% Student t interval of the mean per-review score"


def exact(x: float) -> tuple[int, int]:
    """``x`` (finite) as ``(n, j)`` with ``x == n / 2**j`` exactly."""
    n, d = x.as_integer_ratio()
    return n, d.bit_length() - 1


def _plus(total: int, k: int, n: int, j: int) -> tuple[int, int]:
    """``total / 2**k + n / 2**j`` as ``(integer, power)`` over the finer of the two powers."""
    if j > k:
        return (total << (j - k)) + n, j
    return total + (n << (k - j)), k


class Moments:
    """Count, exact sum and exact sum of squares of a stream of finite values; merges exactly."""

    __slots__ = ("n", "s1", "k1", "s2", "k2")

    def __init__(self) -> None:
        self.n = 0
        self.s1 = self.k1 = 0  # the sum is s1 / 2**k1
        self.s2 = self.k2 = 0  # the sum of the (rounded) squares is s2 / 2**k2

    def add(self, x: float) -> None:
        self.n += 1
        self.s1, self.k1 = _plus(self.s1, self.k1, *exact(x))
        self.s2, self.k2 = _plus(self.s2, self.k2, *exact(x * x))

    def merge(self, other: "Moments") -> None:
        self.n += other.n
        self.s1, self.k1 = _plus(self.s1, self.k1, other.s1, other.k1)
        self.s2, self.k2 = _plus(self.s2, self.k2, other.s2, other.k2)

    def total(self) -> float:
        """The sum, rounded once."""
        return self.s1 / (1 << self.k1)

    def mean(self) -> float | None:
        return self.s1 / (self.n << self.k1) if self.n else None

    def interval(self) -> tuple[float, float] | None:
        """The 95 % Student t interval of the mean (None with fewer than two values). The variance is
        computed from the exact sums, so it does not depend on the order either."""
        if self.n < 2:
            return None
        # n * sum(x^2) - sum(x)^2, over 2**(k2 + 2 k1)
        spread = self.n * self.s2 * (1 << 2 * self.k1) - self.s1 * self.s1 * (1 << self.k2)
        variance = max(0.0, spread / ((self.n * (self.n - 1)) << (self.k2 + 2 * self.k1)))
        half = t_quantile(self.n - 1) * math.sqrt(variance / self.n)
        mean = self.s1 / (self.n << self.k1)
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
