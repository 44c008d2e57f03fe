"""Progress of long commands: the rendering of ledger/core/progress.Report on the command line.

`reporter(quiet=...)` yields the Report a command passes to the domain:
- on a terminal, a rich progress bar per kind of work (`what`), with its counts and the time left;
- without one (cron, systemd, a pipe), a plain line on stderr when a kind of work starts, then at most every
  `every` seconds or each tenth of the total, whichever comes first, and when it is done;
- with `quiet`, nothing.
The command itself prints its one-line summary on stdout afterwards, quiet or not; errors always go to stderr.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from ledger.core.progress import Report, silent

EVERY_SECONDS = 10.0  # a plain line at most this often…
TENTHS = 10  # …or each time another tenth of the total is done, whichever comes first


@contextmanager
def reporter(
    *,
    quiet: bool = False,
    console: Console | None = None,
    every: float = EVERY_SECONDS,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[Report]:
    if quiet:
        yield silent
        return
    console = console or Console(stderr=True)
    if console.is_terminal:
        with _bar(console, clock) as report:
            yield report
        return
    yield _Lines(console, every, clock)


@contextmanager
def _bar(console: Console, clock: Callable[[], float]) -> Iterator[Report]:
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("[progress.percentage]{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        TextColumn("elapsed,"),
        TimeRemainingColumn(),
        TextColumn("left"),
        console=console,
        get_time=clock,
    )
    tasks: dict[str, TaskID] = {}

    def report(what: str, done: int, total: int | None) -> None:
        if what not in tasks:
            tasks[what] = progress.add_task(what, total=total)
        progress.update(tasks[what], completed=done, total=total)

    with progress:
        yield report


@dataclass
class _Seen:
    at: float  # when its last line was printed
    tenth: int  # how many tenths of the total were done at that line


class _Lines:
    """Plain progress lines: `households scored: 20000 of 80000 (25%)`."""

    def __init__(self, console: Console, every: float, clock: Callable[[], float]) -> None:
        self.console, self.every, self.clock = console, every, clock
        self.seen: dict[str, _Seen] = {}

    def __call__(self, what: str, done: int, total: int | None) -> None:
        now = self.clock()
        tenth = min(done, total) * TENTHS // total if total else 0
        last = self.seen.get(what)
        if last is not None and now - last.at < self.every and tenth <= last.tenth:
            return
        self.seen[what] = _Seen(now, tenth)
        of = f" of {total} ({done / total:.0%})" if total else ""
        self.console.print(f"{what}: {done}{of}", markup=False, highlight=False, soft_wrap=True)
