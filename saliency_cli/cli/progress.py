"""Progress of a run on stderr: a live bar in a terminal (rows, rate, ETA; it moves within a batch as
its chunks finish), plain lines in a log (every 10 % of the rows, or every 30 s), nothing with -q."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Callable

from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, Task, TextColumn, TimeElapsedColumn
from rich.text import Text

LOG_EVERY_S = 30.0  # a log line at least this often while rows are explained
LOG_STEPS = 10  # and at every tenth of the rows, when their number is known


class TerminalProgress:
    """The live bar: finished rows plus the part of the batch in progress that is done."""

    def __init__(self, console: Console, expected: int | None):
        self.bar = make_progress(console, expected)
        self.task = self.bar.add_task("explaining", total=expected)
        self.rows = 0.0
        self.bar.start()

    def update(self, rows: float, within: float) -> None:
        self.bar.update(self.task, completed=rows + within)

    def stop(self) -> None:
        self.bar.stop()


class LogProgress:
    """Plain progress lines for a log: rows written (of the total when known), share of the work done, rows/s, elapsed."""

    def __init__(self, say: Callable[[str], None], expected: int | None, clock: Callable[[], float] = time.monotonic):
        self.say, self.expected, self.clock = say, expected, clock
        self.start = self.last = clock()
        self.step = 0

    def update(self, rows: float, within: float) -> None:
        now = self.clock()
        step = int(LOG_STEPS * (rows + within) / self.expected) if self.expected else 0
        if step > self.step or now - self.last >= LOG_EVERY_S:
            self.step, self.last = max(step, self.step), now
            self.say(self.line(rows, within, now))

    def line(self, rows: float, within: float, now: float) -> str:
        elapsed = now - self.start
        # the share of the work counts the batch in progress, floored: 100% only once every row is written
        done = f"{int(rows):,}/{self.expected:,} rows written, {int(100 * (rows + within) / self.expected)}% of the work" \
            if self.expected else f"{int(rows):,} rows written"
        rate = f"{rows / elapsed:.3g} rows/s" if elapsed > 0 and rows else "-- rows/s"
        return f"progress: {done}, {rate}, {timedelta(seconds=int(elapsed))} elapsed"

    def stop(self) -> None:
        pass


class RowsColumn(ProgressColumn):
    """Rows done, and the total when it is known."""

    def render(self, task: Task) -> Text:
        """``12/100 rows`` or ``12 rows``."""
        done = int(task.completed)
        if task.total is None:
            return Text(f"{done:,} rows", style="progress.download")
        return Text(f"{done:,}/{int(task.total):,} rows", style="progress.download")


class RateColumn(ProgressColumn):
    """Throughput in rows per second."""

    def render(self, task: Task) -> Text:
        """``3.2 rows/s`` (``-- rows/s`` until measured)."""
        speed = task.finished_speed or task.speed
        if speed is None:
            return Text("-- rows/s", style="progress.data.speed")
        return Text(f"{speed:.3g} rows/s" if speed < 1000 else f"{speed:,.0f} rows/s", style="progress.data.speed")


class EtaColumn(ProgressColumn):
    """Estimated time left, labelled; blank when the total is unknown."""

    max_refresh = 0.5

    def render(self, task: Task) -> Text:
        """``ETA 0:01:23``."""
        if task.total is None:
            return Text("")
        remaining = task.time_remaining
        if remaining is None:
            return Text("ETA -:--:--", style="progress.remaining")
        return Text(f"ETA {timedelta(seconds=int(remaining))}", style="progress.remaining")


def make_progress(console: Console, total: int | None) -> Progress:
    """A progress display for explaining rows: rows done (of total), rows/s, ETA and elapsed time."""
    columns: list[ProgressColumn] = [TextColumn("[progress.description]{task.description}")]
    if total is not None:
        columns.append(BarColumn(bar_width=30))
    columns += [RowsColumn(), RateColumn()]
    if total is not None:
        columns.append(EtaColumn())
    columns.append(TimeElapsedColumn())
    return Progress(*columns, console=console, speed_estimate_period=60.0)
