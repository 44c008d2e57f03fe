"""Importing a county's roster: compare the file with the county's records, then apply the differences at once.

All or nothing: the whole file is checked first (ledger/roster/checks.py, then against the records); with any
problem nothing is written and the report lists every one. Households are matched by their code (户号) within the
county, members by name within their household, or by phone: a phone seen in another household than before is
that person moving there (and within the same household, that person renamed). Households and members the file
no longer lists are reported as missing, never deleted. Importing the same file again changes nothing.

Writing is in bulk (SQLAlchemy Core, executemany in chunks), never an ORM object per row: a county of 100 000
households is one import. One summary line goes to the change log (ledger/core/audit.py), with the counts and
the file's SHA-256. Imports of one county are serialised on the county row.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, bindparam, exists, insert, literal, select, update
from sqlmodel import Session, col

from ledger import tenancy
from ledger.core import audit
from ledger.core.base import table_of, utcnow
from ledger.core.errors import Invalid, NotFound
from ledger.core.progress import Report as Progress
from ledger.core.progress import silent
from ledger.identity import service as identity
from ledger.identity.models import Role, User
from ledger.identity.principal import Principal
from ledger.journal.models import Account, AccountBalance, AccountKind
from ledger.roster import checks
from ledger.roster.checks import Problems
from ledger.roster.files import ADDRESS, CODE, COLUMNS, HOUSE_NUMBER, NAME, PHONE, RELATION, TOWNSHIP, VILLAGE
from ledger.tenancy import County, Household, Person, Township, Village

CHUNK = 2000  # rows per executemany and per IN list
CHECKED = "roster rows checked"  # what `apply` reports progress of, then…
WRITTEN = "roster parts written"  # …this (households added, changed, people changed, added, accounts)
HOUSEHOLD, PERSON, USER = table_of(Household), table_of(Person), table_of(User)
ACCOUNT, BALANCE = table_of(Account), table_of(AccountBalance)


@dataclass
class Report:
    """What an import found and did (or, in a dry run or with problems, would do)."""

    dry_run: bool
    sha256: str
    rows: int = 0
    applied: bool = False
    households: dict[str, int] = field(default_factory=lambda: {"added": 0, "changed": 0, "unchanged": 0, "missing": 0})
    members: dict[str, int] = field(
        default_factory=lambda: {"added": 0, "changed": 0, "unchanged": 0, "moved": 0, "missing": 0}
    )
    missing_households: list[str] = field(default_factory=list)
    missing_members: list[dict[str, str]] = field(default_factory=list)
    new_places: list[dict[str, str | None]] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)
    problems: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "applied": self.applied,
            "sha256": self.sha256,
            "rows": self.rows,
            "households": dict(self.households),
            "members": dict(self.members),
            "missing_households": list(self.missing_households),
            "missing_members": list(self.missing_members),
            "new_places": list(self.new_places),
            "ignored_columns": list(self.ignored_columns),
            "problems": list(self.problems),
        }


def apply(
    session: Session,
    *,
    county_id: int,
    table: pd.DataFrame,
    dry_run: bool,
    create_places: bool,
    actor: str,
    by: Principal | None,
    progress: Progress = silent,
) -> Report:
    """Check `table` (from `read_file`) against the county's records and, unless `dry_run` or a problem was found,
    apply the differences. `by`: the county admin importing (None from the command line); they may not change the
    household they live in (conflict of interest). Returns the report either way. `progress` hears of the rows
    checked, then of the parts of the import written (households added, changed, people…)."""
    county = _lock_county(session, county_id)
    progress(CHECKED, 0, len(table))
    report = Report(dry_run=dry_run, sha256=str(table.attrs.get("sha256") or _digest(table)))
    report.ignored_columns = [str(c) for c in table.columns if c not in COLUMNS]
    missing_columns = [c for c in COLUMNS if c not in table.columns]
    if missing_columns:
        report.problems = [
            {"row": 1, "column": c, "code": "column_missing", "message": f"The header row has no column {c}."}
            for c in missing_columns
        ]
        return report

    frame = checks.clean(table)
    report.rows = len(frame)
    problems = Problems([])
    checks.check(frame, problems)
    conn = session.connection()
    places = _places(conn, county_id, frame, create_places, report, problems)
    plan = _Plan.make(conn, county_id, frame, places, problems)
    plan.count(report)
    report.problems = _as_records(problems.table())
    progress(CHECKED, len(table), len(table))
    if report.problems:
        return report
    if by is not None:
        by.refuse_own(*plan.touched_households(), what="The roster changes your own household")
    if dry_run:
        return report

    village_ids = _create_places(session, county, places, create_places)
    now = utcnow()
    plan.write(conn, county_id, village_ids, now, progress)
    report.applied = True
    audit.record(
        session,
        county_id=county_id,
        actor=actor,
        action="roster.import",
        target_type="roster",
        target_id=report.sha256,
        after={
            "file": table.attrs.get("filename"),
            "sha256": report.sha256,
            "rows": report.rows,
            "households": report.households,
            "members": report.members,
            "new_places": len(report.new_places),
        },
    )
    return report


class CountyNotFound(NotFound):
    code = "county_not_found"


class RosterHasProblems(Invalid):
    """The import found problems and wrote nothing; `report` (the detail) lists every one by row."""

    code = "roster_has_problems"

    def __init__(self, report: Report) -> None:
        super().__init__(
            f"The roster has {len(report.problems)} problem(s); nothing was imported. Correct them and import again.",
            report=report.as_dict(),
        )


def _lock_county(session: Session, county_id: int) -> County:
    """The county, its row locked until the end of the transaction on PostgreSQL: one import at a time per county
    (SQLite has one writer anyway)."""
    query = select(County).where(col(County.id) == county_id)
    if session.connection().dialect.name == "postgresql":
        query = query.with_for_update()
    county = session.scalars(query).first()
    if county is None:
        raise CountyNotFound("No such county.", county_id=county_id)
    return county


def _digest(table: pd.DataFrame) -> str:
    return hashlib.sha256(pd.util.hash_pandas_object(table, index=True).to_numpy().tobytes()).hexdigest()


def _as_records(problems: pd.DataFrame) -> list[dict[str, Any]]:
    return [
        {"row": int(row), "column": column, "code": code, "message": message}
        for row, column, code, message in problems.itertuples(index=False, name=None)
    ]


def _chunks(items: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


# --- places ---------------------------------------------------------------------------------------------------


@dataclass
class Places:
    """Each (township, village) pair of the file and the village id it names; None for a village to create."""

    villages: dict[tuple[str, str], int | None]
    new_townships: list[str]


def _places(
    conn: Connection, county_id: int, frame: pd.DataFrame, create: bool, report: Report, problems: Problems
) -> Places:
    townships = dict(
        conn.execute(select(col(Township.name), col(Township.id)).where(col(Township.county_id) == county_id)).all()
    )
    villages = {
        (township_id, name): village_id
        for township_id, name, village_id in conn.execute(
            select(col(Village.township_id), col(Village.name), col(Village.id)).where(
                col(Village.county_id) == county_id
            )
        ).all()
    }
    pairs = frame[[TOWNSHIP, VILLAGE]].drop_duplicates()
    known: dict[tuple[str, str], int | None] = {}
    new_townships: list[str] = []
    unknown_townships: list[str] = []
    unknown_villages: list[tuple[str, str]] = []
    for township, village in pairs.itertuples(index=False, name=None):  # one pass per place, not per row
        if township == "" or village == "":
            continue
        township_id = townships.get(township)
        if township_id is None:
            if township not in new_townships and township not in unknown_townships:
                (new_townships if create else unknown_townships).append(township)
                if create:
                    report.new_places.append({"township": township, "village": None})
        village_id = villages.get((township_id, village)) if township_id is not None else None
        if village_id is None:
            if create:
                report.new_places.append({"township": township, "village": village})
                known[(township, village)] = None
            elif township_id is not None:
                unknown_villages.append((township, village))
        else:
            known[(township, village)] = village_id

    problems.add(frame.index[frame[TOWNSHIP] == ""], TOWNSHIP, "unknown_township", "The township (乡镇) is empty.")
    problems.add(frame.index[frame[VILLAGE] == ""], VILLAGE, "unknown_village", "The village (村) is empty.")
    if unknown_townships:
        rows = frame.index[frame[TOWNSHIP].isin(unknown_townships)]
        problems.add(
            rows,
            TOWNSHIP,
            "unknown_township",
            "The county has no township " + frame[TOWNSHIP] + " (check the spelling, or import with new places).",
        )
    if unknown_villages:
        pair = pd.MultiIndex.from_frame(frame[[TOWNSHIP, VILLAGE]])
        rows = frame.index[pair.isin(unknown_villages)]
        problems.add(
            rows,
            VILLAGE,
            "unknown_village",
            "Township "
            + frame[TOWNSHIP]
            + " has no village "
            + frame[VILLAGE]
            + " (check the spelling, or import with new places).",
        )
    return Places(known, new_townships)


def _create_places(session: Session, county: County, places: Places, create: bool) -> dict[tuple[str, str], int]:
    """Create the new townships and villages (each village with its accounts, as tenancy makes them); returns the
    village id of every (township, village) pair of the file."""
    ids = {pair: village_id for pair, village_id in places.villages.items() if village_id is not None}
    wanted = [pair for pair, village_id in places.villages.items() if village_id is None]
    if not wanted:
        return ids
    assert create, "a village to create without create_places"
    assert county.id is not None
    townships = {t.name: t for t in session.scalars(select(Township).where(col(Township.county_id) == county.id)).all()}
    township_codes = _free_codes(session, Township, f"{county.code}-t")
    for name in places.new_townships:
        townships[name] = tenancy.create_township(session, county=county, code=next(township_codes), name=name)
    village_codes = _free_codes(session, Village, f"{county.code}-v")
    for township_name, village_name in wanted:
        village = tenancy.create_village(
            session, township=townships[township_name], code=next(village_codes), name=village_name
        )
        assert village.id is not None
        ids[(township_name, village_name)] = village.id
    return ids


def _free_codes(session: Session, model: type[Township] | type[Village], prefix: str) -> Iterator[str]:
    """Codes `prefix` + number that no county has taken (codes are unique across counties), in order."""
    taken = set(session.scalars(select(col(model.code)).where(col(model.code).startswith(prefix, autoescape=True))))
    n = 0
    while True:
        n += 1
        if (code := f"{prefix}{n:03d}") not in taken:
            yield code


# --- comparing the file with the records ------------------------------------------------------------------------


def _none(series: pd.Series) -> pd.Series:
    """Empty text as a missing value, as the tables keep it."""
    return series.where(series != "", None)


def _in_chunks(conn: Connection, query: Any, column: Any, values: Iterable[Any]) -> list[Any]:
    found: list[Any] = []
    items = list(values)
    for part in _chunks(items):
        found.extend(conn.execute(query.where(column.in_(part))).all())
    return found


@dataclass
class _Plan:
    """The differences between the file and the records, as tables ready to write."""

    new_households: pd.DataFrame  # code, village key, house_number, address, name
    household_updates: pd.DataFrame  # id, house_number, address, name (changed households only)
    unchanged_households: int
    missing_households: list[str]
    members: pd.DataFrame  # one row per file row: person id (existing) or none, and the values it gets
    missing_members: pd.DataFrame  # id, household_id, code, name, is_head
    person_updates: pd.DataFrame  # id, household_id, code, name, relation, phone, is_head, phone_changed/added, moved
    users: pd.DataFrame  # villager accounts of the county's people: id, person_id, active
    known: pd.DataFrame  # the file's rows of people in the records: moved, phone_changed, changed
    touched: set[int]  # existing households the import changes (members in, out or changed; fields; head)
    added_people: pd.DataFrame = field(default_factory=pd.DataFrame)  # once written: id, phone, name

    @classmethod
    def make(cls, conn: Connection, county_id: int, frame: pd.DataFrame, places: Places, problems: Problems) -> _Plan:
        rows = frame[(frame[CODE] != "") & (frame[NAME] != "")]
        # Households of the file (their values from their first rows that give them)
        filled = rows.assign(house_number=_none(rows[HOUSE_NUMBER]), address=_none(rows[ADDRESS]), first_row=rows.index)
        by_code = filled.groupby(CODE, sort=False)
        households = by_code.agg(
            township=(TOWNSHIP, "first"),
            village=(VILLAGE, "first"),
            house_number=("house_number", "first"),
            address=("address", "first"),
            first_row=("first_row", "min"),
        )
        heads = filled[filled["is_head"]].drop_duplicates(CODE).set_index(CODE)[NAME]
        households["head"] = heads.reindex(households.index)
        households["village_id"] = [
            places.villages.get(pair, -1) for pair in zip(households["township"], households["village"], strict=True)
        ]

        # The county's households, and codes of the file used in other counties
        existing = _frame(
            conn,
            select(
                col(Household.id),
                col(Household.code),
                col(Household.village_id),
                col(Household.house_number),
                col(Household.address),
                col(Household.name),
                col(Household.closed_at),
            ).where(col(Household.county_id) == county_id),
            ["id", "code", "db_village_id", "db_house_number", "db_address", "db_name", "closed_at"],
        )
        elsewhere = {
            code
            for (code,) in _in_chunks(
                conn,
                select(col(Household.code)).where(col(Household.county_id) != county_id),
                col(Household.code),
                households.index.difference(pd.Index(existing["code"])),
            )
        }
        if elsewhere:
            problems.add(
                rows.index[rows[CODE].isin(elsewhere)],
                CODE,
                "code_taken",
                "This household number (户号) is used by another county.",
            )

        joined = households.join(existing.set_index("code"), how="left")
        is_new = joined["id"].isna()
        old = joined[~is_new]
        closed = old[old["closed_at"].notna()]
        problems.add(
            pd.Index(closed["first_row"]),
            CODE,
            "household_closed",
            "This household is closed: take it out of the roster.",
        )
        moved_village = old[(old["village_id"] != old["db_village_id"]) & (old["village_id"] != -1)]
        problems.add(
            pd.Index(moved_village["first_row"]),
            VILLAGE,
            "household_village_changed",
            "This household belongs to another village in the records; a household cannot change village.",
        )

        # The county's people and their villager accounts
        people = _frame(
            conn,
            select(
                col(Person.id),
                col(Person.household_id),
                col(Household.code),
                col(Person.name),
                col(Person.phone),
                col(Person.relation),
                col(Person.is_head),
            )
            .join(Household, col(Household.id) == col(Person.household_id))
            .where(col(Household.county_id) == county_id),
            ["id", "household_id", "code", "name", "phone", "relation", "is_head"],
        )
        people["is_head"] = people["is_head"].astype(bool)
        users = _frame(
            conn,
            select(col(User.id), col(User.person_id), col(User.active)).where(
                col(User.county_id) == county_id, col(User.role) == Role.VILLAGER
            ),
            ["id", "person_id", "active"],
        )

        # Members: by name within the household, then by phone (a move, or a rename within the household)
        members = rows[[CODE, NAME, RELATION, "phone", "is_head"]].copy()
        members["row"] = members.index
        members["relation"] = _none(members[RELATION])
        by_name = people.drop_duplicates(["code", "name"]).set_index(["code", "name"])["id"]
        members["person_id"] = by_name.reindex(pd.MultiIndex.from_frame(members[[CODE, NAME]])).to_numpy()
        claimed = set(members["person_id"].dropna().astype(int))
        unclaimed = people[~people["id"].isin(claimed) & people["phone"].notna()].set_index("phone")["id"]
        no_match = members["person_id"].isna() & members["phone"].notna()
        by_phone = unclaimed.reindex(members.loc[no_match, "phone"]).to_numpy()
        members.loc[no_match, "person_id"] = by_phone

        # A phone held in the records by someone the file leaves where they are: taken
        holders = people[people["phone"].notna()].set_index("phone")[["id", "code", "name"]]
        holder = holders.reindex(members["phone"])
        holder.index = members.index
        person_of_row = members["person_id"]
        holder_rows_file = holder["id"].isin(claimed)  # the holder is listed by name: its phone changes
        taken = members["phone"].notna() & holder["id"].notna() & (holder["id"] != person_of_row) & ~holder_rows_file
        problems.add(
            members.index[taken.to_numpy()],
            PHONE,
            "phone_taken",
            "This phone belongs to "
            + holder["name"].astype(str)
            + " of household "
            + holder["code"].astype(str)
            + " in the records, whom this file does not list elsewhere with another phone.",
        )
        phones = members.loc[members["phone"].notna(), "phone"]
        if len(phones):
            outside = _in_chunks(
                conn,
                select(col(Person.phone))
                .join(Household, col(Household.id) == col(Person.household_id))
                .where(col(Household.county_id) != county_id),
                col(Person.phone),
                phones.unique(),
            )
            if outside:
                held = {phone for (phone,) in outside}
                problems.add(
                    phones.index[phones.isin(held)],
                    PHONE,
                    "phone_taken",
                    "This phone belongs to a person of another county.",
                )

        # The values each existing person gets, against what they have
        household_ids = joined["id"]
        members["household_id"] = household_ids.reindex(members[CODE]).to_numpy()
        current = people.set_index("id")
        known = members[members["person_id"].notna()].copy()
        known["person_id"] = known["person_id"].astype(int)
        before = current.reindex(known["person_id"])
        before.index = known.index
        known["moved"] = (before["household_id"] != known["household_id"]).to_numpy()
        known["phone_changed"] = ~_same(before["phone"], known["phone"])
        known["phone_added"] = known["phone_changed"] & before["phone"].isna().to_numpy()
        known["changed"] = (
            known["moved"]
            | known["phone_changed"]
            | (before["name"] != known[NAME])
            | ~_same(before["relation"], known["relation"])
            | (before["is_head"] != known["is_head"])
        )

        # People of the file's households whom the file does not list: missing (kept; no longer head)
        listed_households = set(household_ids.dropna().astype(int))
        in_file = people["household_id"].isin(listed_households)
        missing = people[in_file & ~people["id"].isin(set(known["person_id"]))]

        updates = known[known["changed"]]
        person_updates = pd.DataFrame(
            {
                "id": updates["person_id"],
                "household_id": updates["household_id"],  # none yet for a household this file adds
                "code": updates[CODE],
                "name": updates[NAME],
                "relation": updates["relation"],
                "phone": updates["phone"],
                "is_head": updates["is_head"],
                "phone_changed": updates["phone_changed"],
                "phone_added": updates["phone_added"],
                "moved": updates["moved"],
            }
        )
        dropped_heads = missing[missing["is_head"]]
        person_updates = pd.concat(
            [
                person_updates,
                pd.DataFrame(
                    {
                        "id": dropped_heads["id"],
                        "household_id": dropped_heads["household_id"],
                        "code": dropped_heads["code"],
                        "name": dropped_heads["name"],
                        "relation": dropped_heads["relation"],
                        "phone": dropped_heads["phone"],
                        "is_head": False,
                        "phone_changed": False,
                        "phone_added": False,
                        "moved": False,
                    }
                ),
            ],
            ignore_index=True,
        )

        # Households: the fields the roster keeps, and the head
        head_changed = set(
            updates.loc[updates["is_head"] & ~_was_head(before, updates), "household_id"].dropna().astype(int)
        )
        head_changed |= set(members.loc[members["person_id"].isna() & members["is_head"], "household_id"].dropna())
        head_changed |= set(dropped_heads["household_id"])
        old = joined[joined["id"].notna()].copy()
        old["id"] = old["id"].astype(int)
        fields_changed = ~_same(old["house_number"], old["db_house_number"]) | ~_same(old["address"], old["db_address"])
        renamed = old["id"].isin(head_changed)
        old["name"] = np.where(renamed, old["head"].str[:1] + "家", old["db_name"])
        changed_households = old[fields_changed | renamed | (old["name"] != old["db_name"])]
        household_updates = changed_households[["id", "house_number", "address", "name"]]

        new = joined[is_new].copy()
        new["name"] = new["head"].str[:1] + "家"
        new_households = new.reset_index(names="code")[
            ["code", "township", "village", "house_number", "address", "name"]
        ]

        all_in_file = set(households.index)
        missing_households = sorted(
            str(code)
            for code in existing.loc[existing["closed_at"].isna() & ~existing["code"].isin(all_in_file), "code"]
        )

        touched = set(changed_households["id"])
        touched |= set(members.loc[members["person_id"].isna(), "household_id"].dropna().astype(int))
        touched |= set(updates["household_id"].dropna().astype(int))
        touched |= set(before.loc[updates.index, "household_id"].dropna().astype(int))  # moved out of
        return cls(
            new_households=new_households,
            household_updates=household_updates,
            unchanged_households=len(old) - len(changed_households),
            missing_households=missing_households,
            members=members,
            missing_members=missing,
            person_updates=person_updates,
            users=users,
            known=known,
            touched=touched,
        )

    def touched_households(self) -> list[int]:
        return sorted(int(h) for h in self.touched)

    def count(self, report: Report) -> None:
        known = self.known
        report.households.update(
            added=len(self.new_households),
            changed=len(self.household_updates),
            unchanged=self.unchanged_households,
            missing=len(self.missing_households),
        )
        report.members.update(
            added=int(self.members["person_id"].isna().sum()),
            moved=int(known["moved"].sum()) if len(known) else 0,
            changed=int((known["changed"] & ~known["moved"]).sum()) if len(known) else 0,
            unchanged=int((~known["changed"]).sum()) if len(known) else 0,
            missing=len(self.missing_members),
        )
        report.missing_households = self.missing_households
        report.missing_members = [
            {"household": str(code), "name": str(name)}
            for code, name in self.missing_members[["code", "name"]].itertuples(index=False, name=None)
        ]

    # --- writing ----------------------------------------------------------------------------------------------

    def write(
        self,
        conn: Connection,
        county_id: int,
        village_ids: dict[tuple[str, str], int],
        now: Any,
        progress: Progress = silent,
    ) -> None:
        progress(WRITTEN, 0, 5)
        new_ids = self._insert_households(conn, county_id, village_ids, now)
        progress(WRITTEN, 1, 5)
        self._update_households(conn)
        progress(WRITTEN, 2, 5)
        self._update_people(conn, new_ids)
        progress(WRITTEN, 3, 5)
        self._insert_people(conn, county_id, new_ids, now)
        progress(WRITTEN, 4, 5)
        self._villager_accounts(conn, county_id, now)
        progress(WRITTEN, 5, 5)

    def _insert_households(
        self, conn: Connection, county_id: int, village_ids: dict[tuple[str, str], int], now: Any
    ) -> dict[str, int]:
        new = self.new_households
        if new.empty:
            return {}
        villages = [village_ids[pair] for pair in zip(new["township"], new["village"], strict=True)]
        rows = [
            {
                "county_id": county_id,
                "village_id": village_id,
                "code": code,
                "name": name,
                "house_number": house_number,
                "address": address,
                "created_at": now,
                "closed_at": None,
                "record_seq": 0,
            }
            for code, name, house_number, address, village_id in zip(
                new["code"], new["name"], _objects(new["house_number"]), _objects(new["address"]), villages, strict=True
            )
        ]
        _insert_many(conn, HOUSEHOLD, rows)
        # Their ids, by code (a plain executemany is many times faster than one returning ids row by row)
        added = set(new["code"])
        ids = {
            code: household_id
            for household_id, code in conn.execute(
                select(HOUSEHOLD.c.id, HOUSEHOLD.c.code).where(HOUSEHOLD.c.county_id == county_id)
            ).all()
            if code in added
        }
        # Each household's two accounts (settled points, points in notice) and their zero balances
        accounts = [
            {
                "kind": kind.value,
                "code": f"{row['code']}:{suffix}",
                "county_id": county_id,
                "village_id": row["village_id"],
                "household_id": ids[row["code"]],
                "partner_id": None,
                "created_at": now,
            }
            for row in rows
            for kind, suffix in ((AccountKind.HOUSEHOLD, "points"), (AccountKind.NOTICE, "notice"))
        ]
        _insert_many(conn, ACCOUNT, accounts)
        # One statement: a zero balance for each account of the county that has none yet (the new ones; every other
        # account got its balance row in the transaction that opened it)
        without_balance = ~exists().where(BALANCE.c.account_id == ACCOUNT.c.id)
        conn.execute(
            insert(BALANCE).from_select(
                ["account_id", "posted", "pending_debit", "pending_credit", "earned", "updated_at"],
                select(
                    ACCOUNT.c.id,
                    literal(0),
                    literal(0),
                    literal(0),
                    literal(0),
                    literal(now, type_=BALANCE.c.updated_at.type),
                ).where(ACCOUNT.c.county_id == county_id, ACCOUNT.c.household_id.is_not(None), without_balance),
            )
        )
        return ids

    def _update_households(self, conn: Connection) -> None:
        changes = [
            {"b_id": int(i), "house_number": h, "address": a, "name": n}
            for i, h, a, n in zip(
                self.household_updates["id"],
                _objects(self.household_updates["house_number"]),
                _objects(self.household_updates["address"]),
                self.household_updates["name"],
                strict=True,
            )
        ]
        statement = (
            update(HOUSEHOLD)
            .where(HOUSEHOLD.c.id == bindparam("b_id"))
            .values(house_number=bindparam("house_number"), address=bindparam("address"), name=bindparam("name"))
        )
        for part in _chunks(changes):
            conn.execute(statement, list(part))

    def _update_people(self, conn: Connection, new_households: dict[str, int]) -> None:
        """Two passes, so that no moment holds a phone twice or two heads in a household: first every changing
        person lets go of their phone and headship, then each takes what the file gives them."""
        updates = self.person_updates
        if updates.empty:
            return
        ids = [int(i) for i in updates["id"]]
        release = update(PERSON).where(PERSON.c.id == bindparam("b_id")).values(phone=None, is_head=False)
        for part in _chunks([{"b_id": i} for i in ids]):
            conn.execute(release, list(part))
        take = (
            update(PERSON)
            .where(PERSON.c.id == bindparam("b_id"))
            .values(
                household_id=bindparam("household_id"),
                name=bindparam("name"),
                relation=bindparam("relation"),
                phone=bindparam("phone"),
                is_head=bindparam("is_head"),
            )
        )
        rows = [
            {"b_id": i, "household_id": h, "name": n, "relation": r, "phone": p, "is_head": bool(head)}
            for i, h, n, r, p, head in zip(
                ids,
                [
                    int(h) if pd.notna(h) else new_households[c]
                    for h, c in zip(updates["household_id"], updates["code"], strict=True)
                ],
                updates["name"],
                _objects(updates["relation"]),
                _objects(updates["phone"]),
                updates["is_head"],
                strict=True,
            )
        ]
        for part in _chunks(rows):
            conn.execute(take, list(part))

    def _insert_people(self, conn: Connection, county_id: int, new_households: dict[str, int], now: Any) -> None:
        added = self.members[self.members["person_id"].isna()]
        if added.empty:
            self.added_people = pd.DataFrame(columns=["id", "phone", "name"])
            return
        household_ids = [
            int(h) if pd.notna(h) else new_households[code]
            for h, code in zip(added["household_id"], added[CODE], strict=True)
        ]
        rows = [
            {
                "household_id": h,
                "name": n,
                "phone": p,
                "relation": r,
                "is_head": bool(head),
                "created_at": now,
            }
            for h, n, p, r, head in zip(
                household_ids,
                added[NAME],
                _objects(added["phone"]),
                _objects(added["relation"]),
                added["is_head"],
                strict=True,
            )
        ]
        _insert_many(conn, PERSON, rows)
        # Their ids: a new member is the only one of their name in their household (checked), and was not there
        written = _frame(
            conn,
            select(PERSON.c.id, PERSON.c.household_id, PERSON.c.name)
            .join(HOUSEHOLD, HOUSEHOLD.c.id == PERSON.c.household_id)
            .where(HOUSEHOLD.c.county_id == county_id, PERSON.c.created_at == now),
            ["id", "household_id", "name"],
        )
        wanted = pd.DataFrame(
            {"household_id": household_ids, "name": added[NAME].to_numpy(), "phone": [r["phone"] for r in rows]}
        )
        self.added_people = wanted.merge(written, on=["household_id", "name"], how="left")

    def _villager_accounts(self, conn: Connection, county_id: int, now: Any) -> None:
        """Every member with a phone signs in as a villager: new phones get an account (or their old one back), a
        changed phone or a move ends the account's sign-ins, a removed phone disables it."""
        accounts = self.users.set_index("person_id")
        updates = self.person_updates
        with_phone = pd.concat(
            [
                updates.loc[updates["phone"].notna(), ["id", "name"]],
                self.added_people.loc[self.added_people["phone"].notna(), ["id", "name"]],
            ]
        )
        has_account = with_phone["id"].isin(accounts.index)
        create = with_phone[~has_account]
        if len(create):
            rows = [
                {
                    "role": Role.VILLAGER.value,
                    "county_id": county_id,
                    "username": None,
                    "display_name": name,
                    "password_hash": None,
                    "password_is_default": False,
                    "person_id": int(person_id),
                    "partner_id": None,
                    "active": True,
                    "created_at": now,
                    "locale": None,
                    "elder_mode": False,
                    "must_change_password": False,
                    "sign_ins_valid_from": None,
                }
                for person_id, name in zip(create["id"], create["name"], strict=True)
            ]
            _insert_many(conn, USER, rows)
        # A phone given back to a member whose sign-in the roster disabled (its phone was removed) brings it back;
        # a sign-in disabled by the county admin for another reason stays disabled whatever else changes
        given_back = updates.loc[updates["phone_added"].astype(bool), "id"]
        reopen = accounts.reindex(given_back).dropna(subset=["id"])
        reopen_ids = [int(i) for i in reopen.loc[~reopen["active"].astype(bool), "id"]]
        ended_people = updates.loc[updates["phone_changed"] | updates["moved"], "id"]
        ended = accounts.reindex(ended_people).dropna(subset=["id"])
        end_ids = [int(i) for i in ended["id"]]
        removed = updates.loc[updates["phone"].isna() & updates["phone_changed"], "id"]
        disable_ids = [int(i) for i in accounts.reindex(removed).dropna(subset=["id"])["id"]]
        active = update(USER).where(USER.c.id == bindparam("b_id")).values(active=bindparam("active"))
        for ids, value in ((reopen_ids, True), (disable_ids, False)):
            for part in _chunks(ids):
                conn.execute(active, [{"b_id": i, "active": value} for i in part])
        for part in _chunks(end_ids):
            identity.end_sign_ins_of(conn, list(part), now)


def _frame(conn: Connection, query: Any, columns: list[str]) -> pd.DataFrame:
    """A query's rows as a table, built column by column (much faster than row by row for 350 000 rows)."""
    found = conn.execute(query).all()
    values = list(zip(*found, strict=True)) if found else [() for _ in columns]
    return pd.DataFrame({name: pd.Series(list(v), dtype=object) for name, v in zip(columns, values, strict=True)})


def _insert_many(conn: Connection, table: Any, rows: list[dict[str, Any]]) -> None:
    """Insert rows with the driver's executemany, in chunks: one compiled statement, each value through its column's
    bind processor (a moment as SQLite stores it), not SQLAlchemy's per-row parameter building, which costs more
    than the insert itself at this size. Every row names the same columns."""
    if not rows:
        return
    names = list(rows[0])
    dialect = conn.dialect
    compiled = insert(table).values({name: bindparam(name) for name in names}).compile(dialect=dialect)
    processors: dict[str, Callable[[Any], Any]] = {}
    for name in names:
        processor = table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        if processor is not None:  # the same few values (one moment, true and false) over and over: once each
            processors[name] = functools.lru_cache(maxsize=64)(processor)
    order = list(compiled.positiontup) if compiled.positiontup is not None else names
    for part in _chunks(rows):
        columns = [
            list(map(processors[name], (row[name] for row in part)))
            if name in processors
            else [row[name] for row in part]
            for name in order
        ]
        params: list[Any] = list(zip(*columns, strict=True))
        if compiled.positiontup is None:  # a driver taking named parameters (psycopg)
            params = [dict(zip(order, values, strict=True)) for values in params]
        conn.exec_driver_sql(str(compiled), params)


def _same(a: pd.Series, b: pd.Series) -> pd.Series:
    """Equal, or both missing (a missing value equals no value, not even another missing one, in pandas)."""
    left, right = a.to_numpy(dtype=object), b.to_numpy(dtype=object)
    same: np.ndarray[Any, Any] = (left == right) | (pd.isna(left) & pd.isna(right))
    return pd.Series(same, index=a.index, dtype=bool)


def _was_head(before: pd.DataFrame, updates: pd.DataFrame) -> pd.Series:
    was: pd.Series = before.loc[updates.index, "is_head"].astype(bool)
    return was


def _objects(series: pd.Series) -> list[Any]:
    """Values for the database: a missing value as None."""
    return [None if pd.isna(v) else v for v in series.to_numpy(dtype=object)]
