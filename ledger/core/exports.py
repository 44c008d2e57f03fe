"""CSV and XLSX files: the one place the service writes a table that a spreadsheet opens.

A spreadsheet runs a cell that starts with `=`, `+`, `-` or `@` (or a tab or carriage return before one) as a
formula, so an offer title like `=HYPERLINK(…)` typed by a partner would be live in the county admin's file. Every
text cell (and column name) that starts with one of them is written with a leading apostrophe, as OWASP advises:
it shows as typed and never runs. Numbers stay numbers (a deduction of -5 is a number, not a formula).
tests/api/test_exports.py checks that no module writes CSV or XLSX past these functions.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pandas as pd

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> Any:
    """The value as a spreadsheet may safely read it: text that could start a formula gets an apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def safe(table: pd.DataFrame) -> pd.DataFrame:
    """A copy of the table with every text cell and column name neutralised; other cells as they were."""
    return table.map(neutralise).rename(columns=neutralise)


def csv_bytes(table: pd.DataFrame) -> bytes:
    """UTF-8 with a BOM, so that a spreadsheet reads the Chinese; lines end in CRLF (RFC 4180), so that a field
    holding a carriage return is quoted rather than read as the end of its row."""
    return safe(table).to_csv(index=False, lineterminator="\r\n").encode("utf-8-sig")


def write_csv(table: pd.DataFrame, path: Path) -> None:
    safe(table).to_csv(path, index=False, lineterminator="\r\n")


def xlsx_bytes(tables: dict[str, pd.DataFrame]) -> bytes:
    """One sheet per table (names cut to Excel's 31 characters)."""
    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        for name, table in tables.items():
            safe(table).to_excel(writer, sheet_name=name[:31], index=False)
    return buffer.getvalue()
