"""How a long command shows its progress: a bar on a terminal, plain lines at an interval without one, nothing
when quiet. The renderer alone here; the commands that use it in tests/test_cli.py."""

from __future__ import annotations

import io

from rich.console import Console

from api.progress import reporter


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def plain() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=False, width=200), out


def test_without_a_terminal_a_line_every_tenth_of_the_work_and_at_its_end() -> None:
    console, out = plain()
    with reporter(console=console, clock=Clock()) as report:
        for done in range(0, 1001):  # called for every item: far too often to print each
            report("households scored", done, 1000)
    lines = out.getvalue().splitlines()
    assert lines[0] == "households scored: 0 of 1000 (0%)"
    assert lines[-1] == "households scored: 1000 of 1000 (100%)"
    assert len(lines) == 11  # 0 %, 10 %, … 100 %
    assert "households scored: 500 of 1000 (50%)" in lines


def test_without_a_terminal_slow_work_prints_a_line_every_ten_seconds() -> None:
    console, out = plain()
    clock = Clock()
    with reporter(console=console, clock=clock) as report:
        for done in range(0, 100):  # 100 s for 1 % of a big county
            report("transactions checked", done, 10_000)
            clock.now += 1
        report("account balances checked", 0, None)  # a total not known: a line that it started
    lines = out.getvalue().splitlines()
    assert lines[:2] == ["transactions checked: 0 of 10000 (0%)", "transactions checked: 10 of 10000 (0%)"]
    assert len([line for line in lines if line.startswith("transactions")]) == 10
    assert lines[-1] == "account balances checked: 0"


def test_quiet_prints_nothing() -> None:
    console, out = plain()
    with reporter(quiet=True, console=console) as report:
        report("households scored", 10, 10)
    assert out.getvalue() == ""


def test_on_a_terminal_a_bar_with_counts_and_the_time_left() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120, color_system=None)
    clock = Clock()
    with reporter(console=console, clock=clock) as report:
        report("households scored", 0, 400)
        clock.now = 10
        report("households scored", 100, 400)
        clock.now = 20
        report("households scored", 200, 400)  # 100 every 10 s: 20 s left
    last = out.getvalue().split("\r")[-1]
    assert "households scored ━━━━━━━━━━━━━━━━━━━━" in last  # the bar, half drawn
    assert "200/400" in last and "50%" in last  # the counts
    assert "0:00:20 elapsed, 0:00:20 left" in last  # time taken, time left
    assert "households scored: 200 of 400" not in out.getvalue()  # not the plain lines
