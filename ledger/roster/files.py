"""The roster file: its columns, reading a CSV or XLSX file into a table of text, and the empty template.

One row per household member, under Chinese headers in this order (docs/roster.md). Every cell is read as text,
as the clerk typed it: a phone or a household number that a spreadsheet stored as a number is written back as
its digits (13800000001, not 13800000001.0). The table keeps the spreadsheet's row numbers (the header is row 1)
in its index, so every problem names the row the clerk sees.
"""

from __future__ import annotations

import hashlib
import io
from typing import Any, Literal

import pandas as pd

from ledger.core import exports
from ledger.core.errors import Invalid

TOWNSHIP, VILLAGE, CODE, HOUSE_NUMBER, ADDRESS, NAME, RELATION, PHONE = (
    "乡镇",
    "村",
    "户号",
    "门牌号",
    "地址",
    "姓名",
    "与户主关系",
    "手机号",
)
COLUMNS = (TOWNSHIP, VILLAGE, CODE, HOUSE_NUMBER, ADDRESS, NAME, RELATION, PHONE)
HEAD = "户主"  # the relation that makes a member the head of the household
TEXT_COLUMNS = (CODE, HOUSE_NUMBER, PHONE)  # typed as text in the template, so 0012 stays 0012
XLSX_MEDIA = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class RosterUnreadable(Invalid):
    code = "file_unreadable"


def read_file(content: bytes, filename: str) -> pd.DataFrame:
    """The roster as a table of text, indexed by spreadsheet row (the header is row 1). Headers are trimmed; every
    column of the file is kept (apply names the ones it ignores). `attrs` holds the file's SHA-256 and name.
    CSV: UTF-8 (with or without a BOM), or GBK as older spreadsheets save it. XLSX: the first sheet."""
    name = filename.lower().strip()
    try:
        if name.endswith(".csv"):
            table = _read_csv(content)
        elif name.endswith(".xlsx"):
            table = _read_xlsx(content)
        else:
            raise RosterUnreadable("The roster must be a .xlsx or .csv file.", filename=filename)
    except RosterUnreadable:
        raise
    except Exception as error:  # whatever a damaged or foreign file makes a reader raise
        raise RosterUnreadable(
            "The file cannot be read as a roster: save it again as .xlsx or as .csv (UTF-8).", filename=filename
        ) from error
    table.columns = pd.Index([str(column).strip() for column in table.columns])
    table.index = pd.RangeIndex(2, len(table) + 2, name="row")
    table.attrs["sha256"] = hashlib.sha256(content).hexdigest()
    table.attrs["filename"] = filename
    return table


def _read_csv(content: bytes) -> pd.DataFrame:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return pd.read_csv(
                io.BytesIO(content),
                dtype=str,
                keep_default_na=False,
                skip_blank_lines=False,
                encoding=encoding,
            )
        except UnicodeDecodeError:
            continue
    raise RosterUnreadable("The file is neither UTF-8 nor GBK text: save it again as .csv (UTF-8).")


def _read_xlsx(content: bytes) -> pd.DataFrame:
    from python_calamine import CalamineWorkbook

    book = CalamineWorkbook.from_filelike(io.BytesIO(content))
    rows: list[list[Any]] = book.get_sheet_by_index(0).to_python(skip_empty_area=False)
    if not rows:
        raise RosterUnreadable("The first sheet of the file is empty.")
    width = len(rows[0])
    header = [_text(cell) for cell in rows[0]]
    body = pd.DataFrame([row[:width] for row in rows[1:]], columns=header, dtype=object)
    return body.apply(lambda column: column.map(_text)) if len(body) else body.astype(str)


def _text(cell: Any) -> str:
    """A cell as the clerk typed it: whole numbers without a decimal point, nothing for an empty cell."""
    if cell is None:
        return ""
    if isinstance(cell, float):
        return str(int(cell)) if cell.is_integer() else repr(cell)
    if isinstance(cell, bool):
        return "是" if cell else "否"
    return str(cell)


def template(format: Literal["csv", "xlsx"]) -> bytes:  # noqa: A002
    """The empty roster: the headers in order, no rows (an example household would be imported as a real one;
    docs/roster.md shows one). The XLSX file types its number columns as text."""
    table = pd.DataFrame(columns=list(COLUMNS))
    if format == "csv":
        return exports.csv_bytes(table)
    return exports.xlsx_bytes({"花名册": table}, text_columns=TEXT_COLUMNS)
