"""Importing a county's roster (ledger/roster): a generated county of N households (about 3.5 members each, 20
townships, 400 villages) as CSV and as XLSX, into an empty county on SQLite and, with --database, PostgreSQL.

Each measurement runs in a fresh process, so its peak memory is its own:

  bare   pandas reading the CSV (python-calamine reading the XLSX): the floor any import of the file stands on
  ours   read_file + apply, places created, every household, member, account, balance and villager sign-in
         written, one transaction; then the same file again (nothing to change), and the XLSX file into a fresh
         database

After each import the ledger is verified as `shanzhi verify` does (chains and balances) and the rows are counted.

Ends with:  roster_import households_per_s=<n> peak_rss_mb=<n>   (the CSV, first import, SQLite)
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from multiprocessing.queues import Queue
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from openpyxl import Workbook  # noqa: E402
from scratch import postgres_schema  # noqa: E402
from sqlalchemy import func, select  # noqa: E402
from sqlmodel import col  # noqa: E402

from ledger import roster, tenancy  # noqa: E402
from ledger.core import exports, migrations  # noqa: E402
from ledger.core.base import row_id  # noqa: E402
from ledger.core.db import make_engine, unit_of_work  # noqa: E402
from ledger.identity.models import User  # noqa: E402
from ledger.journal import verify  # noqa: E402
from ledger.journal.models import Account  # noqa: E402
from ledger.roster.files import COLUMNS  # noqa: E402

TOWNSHIPS, VILLAGES_PER_TOWNSHIP = 20, 20
SURNAMES = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈")
GIVEN = list("建国秀英小明丽华军强伟芳敏静磊洋勇艳杰娟涛明超霞平刚桂兰红梅玉珍凤云")
RELATIONS = ["配偶", "子", "女", "父", "母", "孙子", "孙女", "儿媳"]


def generate(households: int, seed: int = 16) -> pd.DataFrame:
    """The roster: one row per member, heads first in each household; about 3.5 members per household, every head
    and two in three other members with a phone."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 7, size=households)  # 1..6, mean 3.5
    household = np.repeat(np.arange(households), sizes)
    position = np.arange(len(household)) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    village = household % (TOWNSHIPS * VILLAGES_PER_TOWNSHIP)
    township = village // VILLAGES_PER_TOWNSHIP
    surname = np.array(SURNAMES)[household % len(SURNAMES)]
    given = np.array([a + b for a in GIVEN for b in GIVEN])
    # distinct within a household: the member's position picks its given name
    names = pd.Series(surname) + pd.Series(given[(household * 7 + position * 13) % len(given)])
    has_phone = (position == 0) | (rng.random(len(household)) < 2 / 3)
    phones = pd.Series([f"13{n:09d}" for n in range(len(household))]).where(has_phone, "")
    table = pd.DataFrame(
        {
            "乡镇": pd.Series([f"第{t + 1}镇" for t in range(TOWNSHIPS)]).to_numpy()[township],
            "村": pd.Series([f"第{v + 1}村" for v in range(TOWNSHIPS * VILLAGES_PER_TOWNSHIP)]).to_numpy()[village],
            "户号": pd.Series([f"B{h:06d}" for h in range(households)]).to_numpy()[household],
            "门牌号": (household % 500 + 1).astype(str),
            "地址": "",
            "姓名": names.to_numpy(),
            "与户主关系": np.where(position == 0, "户主", np.array(RELATIONS)[position % len(RELATIONS)]),
            "手机号": phones.to_numpy(),
        },
        columns=list(COLUMNS),
    )
    return table


def write_xlsx(table: pd.DataFrame, path: Path) -> None:
    """openpyxl in write-only mode (streamed): the generator's own, not the service's, writer."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet("花名册")
    sheet.append(list(table.columns))
    for row in table.itertuples(index=False, name=None):
        sheet.append(list(row))
    book.save(path)


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _bare(path: str, out: Queue[tuple[float, int, float]]) -> None:
    started = time.perf_counter()
    if path.endswith(".csv"):
        rows = len(pd.read_csv(path, dtype=str, keep_default_na=False))
    else:
        from python_calamine import CalamineWorkbook

        rows = len(CalamineWorkbook.from_path(path).get_sheet_by_index(0).to_python()) - 1
    out.put((time.perf_counter() - started, rows, peak_mb()))


def _prepare(url: str) -> None:
    engine = make_engine(url)
    migrations.upgrade(engine)
    with unit_of_work(engine) as session:
        tenancy.create_county(session, code="bench", name="基准县")
    engine.dispose()


def _ours(url: str, path: str, out: Queue[tuple[float, dict[str, Any], float]]) -> None:
    engine = make_engine(url)
    started = time.perf_counter()
    table = roster.read_file(Path(path).read_bytes(), Path(path).name)
    read = time.perf_counter() - started
    with unit_of_work(engine) as session:
        county = session.scalars(select(tenancy.County).where(col(tenancy.County.code) == "bench")).one()
        report = roster.apply(
            session,
            county_id=row_id(county.id),
            table=table,
            dry_run=False,
            create_places=True,
            actor="bench",
            by=None,
        )
    seconds = time.perf_counter() - started
    result = report.as_dict()
    result["seconds_reading"] = read
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result["cpu_seconds"] = usage.ru_utime + usage.ru_stime  # this process only: what the import costs, however
    # busy the machine is (the wall clock also counts waiting for a core)
    out.put((seconds, result, peak_mb()))
    engine.dispose()


def check(url: str) -> tuple[bool, int, int, int]:
    """The ledger verified (`shanzhi verify`: chains and balances); households, accounts and villager sign-ins."""
    engine = make_engine(url)
    with unit_of_work(engine) as session:
        ok = verify.verify(session).ok
        households = session.scalar(select(func.count()).select_from(tenancy.Household)) or 0
        accounts = session.scalar(select(func.count()).select_from(Account)) or 0
        users = session.scalar(select(func.count()).select_from(User)) or 0
    engine.dispose()
    return ok, households, accounts, users


def expect(condition: bool, what: str) -> None:
    if not condition:
        raise SystemExit(f"roster_import: expected {what}")


def measure(target: Callable[..., None], *args: object) -> tuple[float, Any, float]:
    """Run target in a fresh process: (seconds, its answer, peak memory in MB)."""
    ctx = multiprocessing.get_context("spawn")
    out: Queue[tuple[float, Any, float]] = ctx.Queue()
    process = ctx.Process(target=target, args=(*args, out))
    process.start()
    result = out.get()
    process.join()
    return result


def run(
    label: str, fresh: Callable[[str], Any], csv_path: Path, xlsx_path: Path, households: int
) -> tuple[float, float]:
    """Import the CSV into a fresh county, again, then the XLSX into another fresh one; returns the first
    import's households per second and peak RSS."""
    results: list[tuple[float, float]] = []
    for name, path, again in (("CSV", csv_path, True), ("XLSX", xlsx_path, False)):
        with fresh(f"{label.lower()}_{name.lower()}") as url:
            _prepare(url)
            seconds, report, rss = measure(_ours, url, str(path))
            expect(report["applied"] and not report["problems"], f"imported without problems: {report['problems'][:5]}")
            ok, found, accounts, users = check(url)
            expect(ok, "the ledger verifies after the import")
            expect(found == households, f"{households} households in the database, found {found}")
            print(
                f"  {label} ours {name:4} import       {seconds:8.1f} s  {households / seconds:8.0f} households/s  "
                f"(CPU {report['cpu_seconds']:.1f} s; reading {report['seconds_reading']:.1f} s; "
                f"{report['members']['added']} members, {accounts} "
                f"accounts, {users} sign-ins; verified; peak {rss:.0f} MB)"
            )
            results.append((households / seconds, rss))
            if again:
                seconds, report, rss = measure(_ours, url, str(path))
                expect(
                    report["households"]["unchanged"] == households and report["members"]["changed"] == 0,
                    "the same file again changes nothing",
                )
                print(
                    f"  {label} ours {name:4} same again   {seconds:8.1f} s  {households / seconds:8.0f} households/s  "
                    f"(nothing to change; CPU {report['cpu_seconds']:.1f} s; peak {rss:.0f} MB)"
                )
    return results[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--households", type=int, default=100_000)
    parser.add_argument("--small", action="store_true", help="2 000 households: a quick run for CI")
    parser.add_argument("--database", help="a PostgreSQL URL: run there too")
    args = parser.parse_args()
    households = 2_000 if args.small else args.households
    print(f"roster_import: {households} households, {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        table = generate(households)
        csv_path, xlsx_path = folder / "roster.csv", folder / "roster.xlsx"
        csv_path.write_bytes(exports.csv_bytes(table))
        write_xlsx(table, xlsx_path)
        print(
            f"  generated {len(table)} members in {time.perf_counter() - started:.0f} s: CSV "
            f"{csv_path.stat().st_size / 2**20:.1f} MB, XLSX {xlsx_path.stat().st_size / 2**20:.1f} MB"
        )
        for path in (csv_path, xlsx_path):
            seconds, rows, rss = measure(_bare, str(path))
            reader = "pandas read_csv" if path.suffix == ".csv" else "calamine to_python"
            print(f"  bare {reader:20}  {seconds:8.1f} s  ({rows} rows, peak {rss:.0f} MB)")

        def sqlite(name: str) -> Any:
            return _path_url(folder / f"{name}.db")

        per_s, rss = run("SQLite", sqlite, csv_path, xlsx_path, households)
        if args.database:

            def postgres(name: str) -> Any:
                return postgres_schema(args.database, f"roster_{name}_{os.getpid()}")

            pg_per_s, pg_rss = run("PostgreSQL", postgres, csv_path, xlsx_path, households)
            print(f"  PostgreSQL: roster_import households_per_s={pg_per_s:.0f} peak_rss_mb={pg_rss:.0f}")
    print(f"roster_import households_per_s={per_s:.0f} peak_rss_mb={rss:.0f}")


class _path_url:  # noqa: N801 - used as a context manager like postgres_schema
    def __init__(self, path: Path) -> None:
        self.url = f"sqlite:///{path}"

    def __enter__(self) -> str:
        return self.url

    def __exit__(self, *exc: object) -> None:
        return None


if __name__ == "__main__":
    main()
