"""Progress on stderr: the live bar in a terminal, plain lines in a log, and movement within a batch."""

from __future__ import annotations

from rich.console import Console

from saliency_cli.cli.progress import LOG_EVERY_S, LogProgress, make_progress
from saliency_cli.engine import prepare
from saliency_cli.records import Review
from saliency_cli.runners.local import LocalRunner
from saliency_cli.settings import make_settings


def console() -> Console:
    return Console(record=True, width=120, force_terminal=False, color_system=None)


def test_make_progress_columns_with_and_without_total():
    con = console()
    progress = make_progress(con, 10)
    task = progress.add_task("explaining", total=10)
    progress.advance(task, 3)
    con.print(progress.make_tasks_table(progress.tasks))
    line = con.export_text()
    assert "3/10 rows" in line and "rows/s" in line and "ETA" in line
    assert "\u2501" in line  # the bar

    progress = make_progress(con, None)
    task = progress.add_task("explaining", total=None)
    progress.advance(task, 1234)
    con.print(progress.make_tasks_table(progress.tasks))
    line = con.export_text()
    assert "1,234 rows" in line and "rows/s" in line and "ETA" not in line and "\u2501" not in line


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_log_lines_every_tenth_of_the_rows_and_every_thirty_seconds():
    lines, clock = [], Clock()
    log = LogProgress(lines.append, 200, clock)
    for rows in range(1, 200):  # within the first 30 s: a line at each tenth only
        clock.now += 0.125
        log.update(rows, 0.0)
    assert [line.split(",")[0] for line in lines] == [f"progress: {n}/200 rows written" for n in range(20, 200, 20)]
    assert lines[0] == "progress: 20/200 rows written, 10% of the work, 8 rows/s, 0:00:02 elapsed"
    lines.clear()
    log = LogProgress(lines.append, None, clock)  # the number of rows unknown (stdin): by time only
    log.update(5, 0.0)
    clock.now += LOG_EVERY_S - 1
    log.update(6, 0.0)
    assert lines == []
    clock.now += 1
    log.update(7, 0.0)
    assert lines == [f"progress: 7 rows written, {7 / LOG_EVERY_S:.3g} rows/s, 0:00:30 elapsed"]


def test_a_batch_in_progress_counts_in_the_log_percentage():
    lines, clock = [], Clock()
    log = LogProgress(lines.append, 15, clock)
    clock.now += LOG_EVERY_S
    log.update(0, 6.0)  # one batch of 15 rows, 40 % of its work done
    assert lines == ["progress: 0/15 rows written, 40% of the work, -- rows/s, 0:00:30 elapsed"]


def test_the_local_runner_reports_work_within_a_batch(tiny_lm):
    told: list[float] = []
    ctx = prepare(tiny_lm, make_settings(["ig", "occlusion"], options={"steps": 8}, batch_size=8,
                                         max_memory=1 << 20, faithfulness=True))
    reviews = [Review(str(i), f"review number {i} is fine and the battery lasts", i) for i in range(1, 9)]
    results = list(LocalRunner(ctx, in_batch=told.append).results(reviews))
    assert len(results) == 8
    within = told[:-1]
    assert len(within) > 3 and told[-1] == 0.0  # several steps within the one batch, then cleared
    assert within == sorted(within) and 0 < within[0] and within[-1] < 8  # rows' worth, never the whole batch
    assert within[-1] > 4  # the estimate is of the right size: most of the batch is counted before it ends


def test_the_share_of_the_work_reads_100_percent_only_when_every_row_is_written():
    lines, clock = [], Clock()
    log = LogProgress(lines.append, 200, clock)
    clock.now += LOG_EVERY_S
    log.update(192, 7.99)  # the last batch all but done: 99.995 % of the work
    assert lines[-1].startswith("progress: 192/200 rows written, 99% of the work,")
    clock.now += 1
    log.update(200, 0.0)
    assert lines[-1].startswith("progress: 200/200 rows written, 100% of the work,")
