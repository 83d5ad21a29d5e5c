"""Chunk plans: every row once, in order, no chunk over its row limit, and less padding than
filling each chunk to the limit."""

from __future__ import annotations

import random

from saliency_cli.engine.budget import plan_chunks, planned


def padded(lengths, ends):
    return sum((b - a) * max(lengths[a:b]) for a, b in zip([0, *ends[:-1]], ends))


def check(lengths, max_rows, ends):
    assert ends[-1] == len(lengths) and ends == sorted(set(ends)) and ends[0] > 0
    for a, b in zip([0, *ends[:-1]], ends):
        assert b - a <= max(1, max_rows(max(lengths[a:b])))


def test_cuts_where_a_longer_length_begins():
    lengths = [5] * 20 + [30] * 20
    ends = plan_chunks(lengths, lambda n: 1000, overhead=100)
    assert ends == [20, 40]  # 20 x 25 padded tokens saved > one more chunk
    assert plan_chunks(lengths, lambda n: 1000, overhead=10_000) == [40]  # a chunk costs more than the padding


def test_limits_and_even_split():
    lengths = [8] * 100
    ends = plan_chunks(lengths, lambda n: 30, overhead=1)
    check(lengths, lambda n: 30, ends)
    assert ends == [25, 50, 75, 100]


def test_random_plans_beat_greedy_filling():
    rng = random.Random(0)
    for _ in range(20):
        reviews = sorted(rng.randint(3, 120) for _ in range(rng.randint(1, 30)))
        lengths = [n for n in reviews for _ in range(rng.choice((1, 7, 20)))]
        limit = lambda n: max(1, 3000 // n)  # noqa: E731
        ends = plan_chunks(lengths, limit, overhead=64)
        check(lengths, limit, ends)
        greedy, start = [], 0
        while start < len(lengths):
            n = limit(lengths[start])
            while n > 1 and n > limit(lengths[min(len(lengths), start + n) - 1]):
                n -= 1
            start = min(len(lengths), start + n)
            greedy.append(start)
        assert padded(lengths, ends) + 64 * len(ends) <= padded(lengths, greedy) + 64 * len(greedy)


def test_unsorted_lengths_get_plain_chunks_and_planned_sizes():
    ends = plan_chunks([9, 3, 5, 2, 7], lambda n: 2)
    assert ends == [2, 4, 5]
    size = planned(ends)
    assert [size(0, 99), size(2, 99), size(3, 99), size(4, 99)] == [2, 2, 1, 1]
