"""The officials' dashboard charts (matplotlib, Agg) and downloads. Only the drawing lives here: every figure is
computed by `ledger/figures.py` and `redemption/figures.py` (defined in docs/claims.md, "Figures"), which the API's
month report and its CSV/XLSX read too.

Tables and charts are kept (`Drawn`, one per app, so per database), keyed by the version of the data they are
computed from (`redemption.figures.dashboard_version`: one cheap aggregate query): a chart is drawn once per change
of its data (a claim submitted or decided, a voucher given, a new month), not once per request.
"""

from __future__ import annotations

import io
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

import matplotlib

matplotlib.use("Agg")

import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
from sqlmodel import Session  # noqa: E402

from ledger import figures  # noqa: E402
from ledger.core import exports  # noqa: E402
from ledger.core.base import utcnow  # noqa: E402
from redemption import figures as redemption_figures  # noqa: E402

CHARTS = ("participation", "points_by_matter", "on_time", "redemption")
CONCERN_CHARTS = ("concerns_by_month", "concerns_open")  # village concerns: drawn in the dashboard's own section
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


# --- charts ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Labels:
    """The chart's texts, already in the reader's language (the page translates them)."""

    title: str
    y: str
    empty: str
    matter_column: str = "matter_en"  # which name of a matter to show
    series: tuple[str, ...] = ()  # the legend's names of a chart with several series, in the order drawn


def chart_svg(name: str, table: pd.DataFrame, labels: Labels) -> bytes:
    """One chart as SVG, text kept as text (svg.fonttype none) so the browser draws Chinese in its own fonts."""
    figure = Figure(figsize=(8, 4), dpi=100)
    axes = figure.subplots()
    axes.set_title(labels.title)
    axes.set_ylabel(labels.y)
    if name == "participation":
        axes.plot(table["month"], table["rate"] * 100, marker="o", color="#8a1c14")
        axes.set_ylim(0, 100)
    elif name == "on_time":
        rates = [None if r is None or pd.isna(r) else r * 100 for r in table["rate"]]
        axes.bar(table["month"], [0 if r is None else r for r in rates], color="#1d5e2a")
        axes.set_ylim(0, 100)
    elif name == "points_by_matter":
        axes.barh(table[labels.matter_column][::-1], table["points"][::-1], color="#8a1c14")
    elif name == "redemption":
        axes.barh(table["partner"][::-1], table["points"][::-1], color="#0b4a9e")
    elif name == "concerns_by_month":
        _concerns_by_month(axes, table, labels)
    elif name == "concerns_open":
        _concerns_open(axes, table, labels)
    if len(table) == 0 or (name in ("points_by_matter", "redemption") and table["points"].sum() == 0):
        axes.text(0.5, 0.5, labels.empty, ha="center", va="center", transform=axes.transAxes)
    if name in ("participation", "on_time", "concerns_by_month"):
        axes.tick_params(axis="x", labelrotation=45)
    buffer = io.BytesIO()
    with warnings.catch_warnings(), matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "shanzhi"}):
        warnings.simplefilter("ignore", UserWarning)  # no CJK glyphs here to measure: the browser draws them
        figure.tight_layout()
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    return buffer.getvalue()


def _concerns_by_month(axes: Any, table: pd.DataFrame, labels: Labels) -> None:
    """Reports received per month (bars, left) and the share of each step done on time (lines, right, in %; no
    point where no step of that kind was done). `labels.series`: received, then the three steps."""
    names = (*labels.series, "", "", "", "")[:4]
    axes.bar(table["month"], table["received"], color="#c9b79c", label=names[0])
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))  # reports are whole
    rates = axes.twinx()
    rates.set_ylim(0, 105)
    rates.set_ylabel("%")
    for column, colour, name in zip(
        ("accepted_on_time_rate", "dispatched_on_time_rate", "resolved_on_time_rate"),
        ("#8a1c14", "#0b4a9e", "#1d5e2a"),
        names[1:],
        strict=True,
    ):
        values = [float("nan") if r is None or pd.isna(r) else float(r) * 100 for r in table[column]]
        rates.plot(table["month"], values, marker="o", color=colour, label=name)
    handles = [*axes.get_legend_handles_labels()[0], *rates.get_legend_handles_labels()[0]]
    if any(names):
        axes.legend(handles=handles, loc="upper left", fontsize="small")
    if len(table) and table["received"].sum() == 0 and table["accepted"].sum() == 0:
        axes.text(0.5, 0.5, labels.empty, ha="center", va="center", transform=axes.transAxes)


def _concerns_open(axes: Any, table: pd.DataFrame, labels: Labels) -> None:
    """Per village, concerns open now and, of those, overdue now (side by side). `labels.series`: open, overdue."""
    names = (*labels.series, "", "")[:2]
    rows = list(range(len(table)))[::-1]
    axes.barh([r + 0.2 for r in rows], table["open_now"], height=0.4, color="#0b4a9e", label=names[0])
    axes.barh([r - 0.2 for r in rows], table["overdue_now"], height=0.4, color="#8a1c14", label=names[1])
    axes.set_yticks(rows, list(table["village"]))
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    if any(names):
        axes.legend(loc="best", fontsize="small")
    if len(table) and table["open_now"].sum() == 0:
        axes.text(0.5, 0.5, labels.empty, ha="center", va="center", transform=axes.transAxes)


# --- kept tables and charts -------------------------------------------------------------------------------------


class Drawn:
    """The last `size` tables and charts made, by key (the data's version among it), least recently used first
    out. A change of the data makes a new key, so nothing is ever served from an older version; entries of older
    versions just age out. Shared by the threads of one process."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self.made = 0  # how many were made (not found): for the tests
        self._kept: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, make: Callable[[], Any]) -> Any:
        with self._lock:
            if key in self._kept:
                self._kept.move_to_end(key)
                return self._kept[key]
        value = make()  # outside the lock: two threads may make the same one once each, never a wrong one
        with self._lock:
            self.made += 1
            self._kept[key] = value
            while len(self._kept) > self.size:
                self._kept.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._kept.clear()


@dataclass(frozen=True)
class Dashboard:
    """One request's view of the dashboard's data: its scope, the moment and the data's version."""

    drawn: Drawn
    session: Session
    scope: figures.Scope
    now: datetime
    version: Hashable

    @classmethod
    def of(cls, drawn: Drawn, session: Session, scope: figures.Scope) -> Dashboard:
        now = utcnow()
        return cls(drawn, session, scope, now, redemption_figures.dashboard_version(session, scope, now))

    @cached_property
    def concerns_version(self) -> Hashable:
        """The version of the concern figures (`ledger.figures.concerns_version`), asked only when one is shown:
        concerns move on their own, so their tables and charts are kept apart from the claims'."""
        return figures.concerns_version(self.session, self.scope, self.now)

    def version_of(self, name: str) -> Hashable:
        return self.concerns_version if name in figures.CONCERN_TABLES else self.version

    def table(self, name: str) -> pd.DataFrame:
        """A dashboard table (`redemption.figures.dashboard_table`, or a concern table of
        `ledger.figures.CONCERN_TABLES`), computed once per version (a copy: the caller may change it)."""
        if name in figures.CONCERN_TABLES:
            make = figures.CONCERN_TABLES[name]
            kept: pd.DataFrame = self.drawn.get(
                ("table", name, self.concerns_version), lambda: make(self.session, self.scope, self.now)
            )
        else:
            kept = self.drawn.get(
                ("table", name, self.version),
                lambda: redemption_figures.dashboard_table(name, self.session, self.scope, self.now),
            )
        return kept.copy()

    def chart(self, name: str, labels: Labels) -> bytes:
        """A chart as SVG (`chart_svg`), drawn once per version and labels."""
        key = ("chart", name, self.version_of(name), labels)
        svg: bytes = self.drawn.get(key, lambda: chart_svg(name, self.table(name), labels))
        return svg


# --- downloads -------------------------------------------------------------------------------------------------


def to_csv(name: str, table: pd.DataFrame, words: exports.Words) -> bytes:
    """A dashboard table with its columns and words in the reader's language."""
    return exports.csv_bytes(exports.worded(table, words, name))


def to_xlsx(name: str, table: pd.DataFrame, words: exports.Words) -> bytes:
    return exports.xlsx_bytes({words.name(name): exports.worded(table, words, name)})
