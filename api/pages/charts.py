"""The officials' dashboard charts (matplotlib, Agg) and downloads. Only the drawing lives here: every figure is
computed by `ledger/figures.py` and `redemption/figures.py` (defined in docs/claims.md, "Figures"), which the API's
month report and its CSV/XLSX read too.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")

import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from ledger.core import exports  # noqa: E402

CHARTS = ("participation", "points_by_matter", "on_time", "redemption")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


# --- charts ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Labels:
    """The chart's texts, already in the reader's language (the page translates them)."""

    title: str
    y: str
    empty: str
    matter_column: str = "matter_en"  # which name of a matter to show


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
    if len(table) == 0 or (name in ("points_by_matter", "redemption") and table["points"].sum() == 0):
        axes.text(0.5, 0.5, labels.empty, ha="center", va="center", transform=axes.transAxes)
    if name in ("participation", "on_time"):
        axes.tick_params(axis="x", labelrotation=45)
    buffer = io.BytesIO()
    with warnings.catch_warnings(), matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "shanzhi"}):
        warnings.simplefilter("ignore", UserWarning)  # no CJK glyphs here to measure: the browser draws them
        figure.tight_layout()
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    return buffer.getvalue()


# --- downloads -------------------------------------------------------------------------------------------------


def to_csv(name: str, table: pd.DataFrame, words: exports.Words) -> bytes:
    """A dashboard table with its columns and words in the reader's language."""
    return exports.csv_bytes(exports.worded(table, words, name))


def to_xlsx(name: str, table: pd.DataFrame, words: exports.Words) -> bytes:
    return exports.xlsx_bytes({words.name(name): exports.worded(table, words, name)})
