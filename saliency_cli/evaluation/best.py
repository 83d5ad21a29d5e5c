"""The N best items of a stream by a sort key (smaller is better), kept as the stream goes: memory is
bounded by N, and merging the keepers of parts gives what one pass over the whole would keep, as long
as keys are distinct (callers end their keys with an id to make them so)."""

from __future__ import annotations

import bisect
from typing import Any, Callable, Generic, TypeVar

T = TypeVar("T")


class Best(Generic[T]):
    """Up to ``n`` (key, item) pairs with the smallest keys, smallest first."""

    __slots__ = ("n", "kept")

    def __init__(self, n: int) -> None:
        self.n = n
        self.kept: list[tuple[Any, T]] = []

    def wants(self, key: Any) -> bool:
        """Whether an item with ``key`` would be kept (so callers build items only when they are)."""
        return self.n > 0 and (len(self.kept) < self.n or key < self.kept[-1][0])

    def add(self, key: Any, make: Callable[[], T]) -> None:
        """Keep the item ``make()`` builds (called only then) if ``key`` is among the best."""
        if not self.wants(key):
            return
        bisect.insort(self.kept, (key, make()), key=lambda pair: pair[0])
        del self.kept[self.n:]

    def merge(self, other: "Best[T]") -> None:
        for key, item in other.kept:
            self.add(key, lambda item=item: item)

    def items(self) -> list[T]:
        return [item for _, item in self.kept]
