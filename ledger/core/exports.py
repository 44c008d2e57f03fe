"""CSV and XLSX files: the one place the service writes a table that a spreadsheet opens.

A spreadsheet runs a cell that starts with `=`, `+`, `-` or `@` (or a tab or carriage return before one) as a
formula, so an offer title like `=HYPERLINK(…)` typed by a partner would be live in the county admin's file. Every
text cell (and column name) that starts with one of them is written with a leading apostrophe, as OWASP advises:
it shows as typed and never runs. Numbers stay numbers (a deduction of -5 is a number, not a formula).
tests/api/test_exports.py checks that no module writes CSV or XLSX past these functions.

A file is read by people in their language, while the tables behind it keep stable English keys (column names,
statuses, kinds). `Words` says how a file names its sheets, sections and columns, which columns it shows and
which cells it writes as words; the domain lays the file out, the presenter (api/presentation/files.py) brings
the words. `KEYS` writes the keys themselves.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, Protocol

import pandas as pd
from openpyxl.utils import get_column_letter

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class Words(Protocol):
    def name(self, key: str, table: str = "") -> str:
        """What a sheet, a section or a label is called (no `table`), or a column of `table`."""
        ...

    def shows(self, column: str, table: str = "") -> bool:
        """Whether the file shows a column (a matter's name in the other language, internal ids: no)."""
        ...

    def cell(self, column: str, value: Any, table: str = "") -> Any:
        """A cell as the reader reads it: a status, a kind or a month as words; numbers stay numbers."""
        ...


class Keys:
    """The stable keys themselves: every column, as it is named in the table."""

    def name(self, key: str, table: str = "") -> str:
        return key

    def shows(self, column: str, table: str = "") -> bool:
        return True

    def cell(self, column: str, value: Any, table: str = "") -> Any:
        return value


KEYS = Keys()


def named(table: pd.DataFrame, words: Words, name: str) -> pd.DataFrame:
    """The columns the file shows of table `name`, under the names the reader reads; the cells as they are."""
    shown = [column for column in table.columns if words.shows(str(column), name)]
    return table[shown].rename(columns=lambda column: words.name(str(column), name))


def worded(table: pd.DataFrame, words: Words, name: str) -> pd.DataFrame:
    """Table `name` as the reader reads it: its columns named, and its cells in words where they are words."""
    cells = table.copy()
    for column in cells.columns:
        cells[column] = cells[column].map(lambda value, column=str(column): words.cell(column, value, name))
    return named(cells, words, name)


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


def xlsx_bytes(tables: dict[str, pd.DataFrame], *, text_columns: tuple[str, ...] = ()) -> bytes:
    """One sheet per table (names cut to Excel's 31 characters). The columns named in `text_columns` are typed as
    text for the rows a person adds (a form to fill in: 0012 stays 0012, a phone stays digits)."""
    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        for name, table in tables.items():
            safe(table).to_excel(writer, sheet_name=name[:31], index=False)
            sheet = writer.sheets[name[:31]]
            for position, column in enumerate(table.columns, start=1):
                if column in text_columns:
                    sheet.column_dimensions[get_column_letter(position)].number_format = "@"
    return buffer.getvalue()
