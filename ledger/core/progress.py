"""How long work says how far it has got: a domain function that may run for minutes (rescoring a county,
verifying the journal, a backup, a roster import) takes a `Report` and calls it now and then with what it is
doing, how much of it is done and, when known, how much there is. It never decides how often a line is printed
or whether a bar is drawn: the command line does (api/progress.py)."""

from __future__ import annotations

from collections.abc import Callable

# (what, done, total): `what` is a short label ("households scored"), `total` None when not known in advance.
Report = Callable[[str, int, int | None], None]


def silent(what: str, done: int, total: int | None) -> None:
    """The report of a caller that shows nothing (the API, tests)."""
