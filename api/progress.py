"""Progress of long commands on the terminal: the rendering of ledger/core/progress.Report.

`reporter(quiet)` yields the Report a command passes to the domain: nothing when quiet, otherwise plain lines."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer

from ledger.core.progress import Report, silent


@contextmanager
def reporter(*, quiet: bool = False) -> Iterator[Report]:
    if quiet:
        yield silent
        return

    def report(what: str, done: int, total: int | None) -> None:
        typer.echo(f"{what}: {done}" + (f" of {total}" if total is not None else ""), err=True)

    yield report
