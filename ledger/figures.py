"""Every figure of the programme about claims and points, defined once (docs/claims.md, "Figures").

The officials' dashboard (api/pages), the village month report (the API, as JSON, CSV and XLSX) and the village
leaderboards all read these functions; none of them counts anything itself. The loaders fetch plain rows; the
figures are pure pandas functions of those rows, so they are tested without a database.

Months are the county's (County.timezone, Asia/Shanghai by default): a month runs from its first day at 00:00
county time to the next month's first day at 00:00, and every timestamp is placed in it after conversion.

- participation: households with at least one claim *submitted* in the month that stands (approved or settled;
  not pending, rejected, expired or revoked), out of the households.
- points_by_matter: those same standing claims of the month, by matter: claims and points.
- claims_by_status: every claim submitted in the month, by its status now.
- on_time (按时办结率): claims whose review ended in the month (`decided_at`): decided by an official (approved or
  rejected, whatever became of them later) or expired undecided. On time: decided by an official less than the
  county's `overdue_hours` after submission, the very moment the review queue marks a claim overdue. An expired
  claim is never on time; an automatic approval had no review and is left out. The median decision time is over
  the officials' decisions.
- by_village (the dashboard, per village, this month): each village's reviews that ended in the month as
  `on_time` counts them (decided, on time, rate), and its claims sent up to the township supervisor in the month
  (`escalated_at`, ledger/claims/escalation.py), with how many of those are still undecided now.
- leaderboard: a household's points *settled* in the period less its deductions in force recorded in it.

- village concerns (docs/concerns.md, "Figures"): per village, category and month, the reports received, each
  step (accept, dispatch, resolve) done in the month and whether it was done by the deadline recorded when it
  opened, the closed loop (closed with the reporter's evaluation), satisfaction, the median time to resolve, and
  what is open and late at the moment asked.

Redemption by partner reads vouchers, so it lives a layer up, in `redemption/figures.py`, with the month report
and the dashboard tables that put it beside these.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy import func, literal, or_, union_all
from sqlalchemy import select as sa_select  # wider than sqlmodel.select (at most four columns typed)
from sqlmodel import Session, col, select

from ledger.catalogue.models import Matter
from ledger.claims.models import Claim, ClaimStatus, Deduction, DeductionStatus
from ledger.claims.notice import household_names
from ledger.claims.rules import local, period_bounds
from ledger.concerns.models import (
    OPEN_STATUSES,
    ClosedBy,
    Concern,
    ConcernCategory,
    ConcernEvent,
    ConcernStatus,
)
from ledger.core import exports, paging
from ledger.core.base import row_id, table_of
from ledger.core.errors import Invalid
from ledger.identity.models import Role
from ledger.identity.principal import Principal, visible_villages
from ledger.tenancy import County, Household, Township, Village, VillageNotFound

MONTHS = 12  # the dashboard's window: this month and the eleven before it
STANDING = (ClaimStatus.APPROVED.value, ClaimStatus.SETTLED.value)
REVIEWED = (
    ClaimStatus.APPROVED.value,
    ClaimStatus.SETTLED.value,
    ClaimStatus.REJECTED.value,
    ClaimStatus.REVOKED.value,
)
AUTOMATIC = "system:auto"  # Claim.decided_by of an automatic approval (ledger/claims/service.py)
CLAIM_COLUMNS = [
    "claim_id",
    "household_id",
    "village_id",
    "matter_code",
    "matter_zh",
    "matter_en",
    "points",
    "status",
    "submitted_at",
    "decided_at",
    "decided_by",
    "settled_at",
]
PARTICIPATION = ["month", "households", "participating", "rate"]
POINTS_BY_MATTER = ["matter_code", "matter_zh", "matter_en", "claims", "points"]
ON_TIME = ["month", "decided", "on_time", "rate", "median_hours"]
CLAIMS_BY_STATUS = ["status", "claims"]
ESCALATION_COLUMNS = ["claim_id", "village_id", "status", "escalated_at"]
BY_VILLAGE = ["village_id", "village", "decided", "on_time", "rate", "escalated", "escalated_waiting"]
REPORT_CSV = ["section", "item", "measure", "value"]  # the month report as one long table


# --- scope: which villages, which county ------------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """The villages a figure covers, and the county whose time zone counts its months and whose policy says
    when a review is late."""

    county: County
    villages: list[Village]
    village_id: int | None = None
    township_id: int | None = None
    townships: tuple[tuple[int, str], ...] = ()  # townships whose own concerns (no village) the figures cover

    @property
    def village_ids(self) -> list[int]:
        return [v.id for v in self.villages if v.id is not None]

    @property
    def township_ids(self) -> list[int]:
        return [t for t, _ in self.townships]

    def units(self) -> list[tuple[int, str]]:
        """The rows of the concern figures: each village (its id), then each township's own concerns (the
        township's id, negated: a key of its own), with their names."""
        return [(row_id(v.id), v.name) for v in self.villages] + [(-t, name) for t, name in self.townships]

    @property
    def timezone(self) -> str:
        return self.county.timezone

    def query(self) -> dict[str, int]:
        """The query parameters that name this scope again (for chart and download links)."""
        found = {"village_id": self.village_id, "township": self.township_id}
        return {k: v for k, v in found.items() if v is not None}


def scope_of(
    session: Session, who: Principal, *, village_id: int | None = None, township_id: int | None = None
) -> Scope:
    """The villages the person sees (an official's own, the whole county for its admin and auditors), narrowed to
    one village or township; `VillageNotFound` when that leaves none."""
    villages = visible_villages(session, who)
    if village_id is not None:
        villages = [v for v in villages if v.id == village_id]
        if not villages:
            raise VillageNotFound("No such village among yours.", village_id=village_id)
    if township_id is not None:
        villages = [v for v in villages if v.township_id == township_id]
        if not villages:
            raise VillageNotFound("No village of that township among yours.", township_id=township_id)
    return Scope(
        county=_county(session, who.county_id),
        villages=villages,
        village_id=village_id,
        township_id=township_id,
        townships=() if village_id is not None else _own_townships(session, who, township_id),
    )


def _own_townships(session: Session, who: Principal, township_id: int | None) -> tuple[tuple[int, str], ...]:
    """The townships whose own concerns (a township's code, no village) `who` sees: the county's for its admin and
    auditors, a supervisor's own townships; narrowed to one."""
    if who.role in (Role.COUNTY_ADMIN, Role.AUDITOR):
        where = col(Township.county_id) == who.county_id
    elif who.township_ids:
        where = col(Township.id).in_(sorted(who.township_ids))
    else:
        return ()
    found = session.execute(sa_select(col(Township.id), col(Township.name)).where(where).order_by(col(Township.id)))
    return tuple((int(t), str(name)) for t, name in found.all() if township_id is None or t == township_id)


def village_scope(session: Session, village: Village) -> Scope:
    return Scope(county=_county(session, village.county_id), villages=[village], village_id=village.id)


def _county(session: Session, county_id: int) -> County:
    county = session.get(County, county_id)
    if county is None:
        raise LookupError(f"county {county_id} is gone")  # a village or principal always names its county
    return county


# --- periods (county time) -------------------------------------------------------------------------------------


def month_bounds(month: str, timezone: str) -> tuple[datetime, datetime]:
    """The month written YYYY-MM as UTC instants [start, end) of the county's calendar."""
    try:
        first = datetime.strptime(month + "-01", "%Y-%m-%d")
    except ValueError as exc:
        raise Invalid("month is written YYYY-MM.", field="month") from exc
    return period_bounds(first.replace(day=15, tzinfo=ZoneInfo(timezone)), timezone, "month")


def months_until(now: datetime, timezone: str, count: int = MONTHS) -> list[str]:
    """The last `count` months (YYYY-MM, county time), oldest first, ending with the one `now` is in."""
    current = pd.Timestamp(local(now, timezone)).tz_localize(None).to_period("M")
    return [str(current - i) for i in range(count - 1, -1, -1)]


def span(months: Sequence[str], timezone: str) -> tuple[datetime, datetime]:
    """UTC bounds [start, end) of consecutive months, oldest first."""
    return month_bounds(months[0], timezone)[0], month_bounds(months[-1], timezone)[1]


def period_of(at: datetime, timezone: str, period: str) -> tuple[str, datetime, datetime]:
    """The label and UTC bounds of the month, quarter or year (county time) that `at` falls in."""
    day = local(at, timezone)
    if period == "month":
        start, end = period_bounds(at, timezone, "month")
        return day.strftime("%Y-%m"), start, end
    if period == "year":
        start, end = period_bounds(at, timezone, "year")
        return day.strftime("%Y"), start, end
    if period == "quarter":
        first_month = 3 * ((day.month - 1) // 3) + 1
        start, _ = period_bounds(day.replace(month=first_month, day=15), timezone, "month")
        _, end = period_bounds(day.replace(month=first_month + 2, day=15), timezone, "month")
        return f"{day.year}-Q{(day.month - 1) // 3 + 1}", start, end
    raise Invalid("period is month, quarter or year.", field="period")


def month_of(moments: pd.Series, timezone: str) -> pd.Series:
    """Each moment's month (YYYY-MM) in county time; NaN where there is no moment."""
    return pd.to_datetime(moments, utc=True).dt.tz_convert(ZoneInfo(timezone)).dt.strftime("%Y-%m")


def _within(moments: pd.Series, start: datetime, end: datetime) -> pd.Series:
    at = pd.to_datetime(moments, utc=True)
    return (at >= pd.Timestamp(start)) & (at < pd.Timestamp(end))


# --- loading ---------------------------------------------------------------------------------------------------


def load_claims(session: Session, village_ids: Sequence[int], start: datetime, end: datetime) -> pd.DataFrame:
    """The villages' claims submitted or decided in [start, end) (columns CLAIM_COLUMNS, times in UTC)."""
    if not village_ids:
        return _claims_frame([])
    rows = (
        session.connection()
        .execute(
            sa_select(
                col(Claim.id),
                col(Claim.household_id),
                col(Claim.village_id),
                col(Matter.code),
                col(Matter.name_zh),
                col(Matter.name_en),
                col(Claim.points),
                col(Claim.status),
                col(Claim.submitted_at),
                col(Claim.decided_at),
                col(Claim.decided_by),
                col(Claim.settled_at),
            )
            .join(Matter, col(Matter.id) == col(Claim.matter_id))
            .where(*_claims_within(village_ids, start, end))
        )
        .all()
    )
    return _claims_frame([tuple(r) for r in rows])


def _claims_within(village_ids: Sequence[int], start: datetime, end: datetime) -> tuple[Any, ...]:
    """`load_claims`'s claims: the villages' claims submitted or decided in [start, end)."""
    return (
        col(Claim.village_id).in_(village_ids),
        or_(
            (col(Claim.submitted_at) >= start) & (col(Claim.submitted_at) < end),
            (col(Claim.decided_at) >= start) & (col(Claim.decided_at) < end),
        ),
    )


def claims_version(session: Session, village_ids: Sequence[int], start: datetime, end: datetime) -> tuple[Any, ...]:
    """What changes whenever a claim `load_claims` reads (or `load_escalations`, for claims of the window) is
    added or changes: per status, how many, the last id, the last decision, settlement and escalation, and how
    many were settled or sent up. A claim only moves forward (pending, then decided, then settled or revoked), so
    any change to the rows moves one of these. One aggregate query, far cheaper than the rows themselves."""
    if not village_ids:
        return ()
    rows = session.connection().execute(
        sa_select(
            col(Claim.status),
            func.count(),
            func.max(col(Claim.id)),
            func.sum(col(Claim.points)),
            func.max(col(Claim.decided_at)),
            func.count(col(Claim.decided_by)),
            func.count(col(Claim.settled_at)),
            func.max(col(Claim.settled_at)),
            func.count(col(Claim.escalated_at)),
            func.max(col(Claim.escalated_at)),
        )
        .where(*_claims_within(village_ids, start, end))
        .group_by(col(Claim.status))
        .order_by(col(Claim.status))
    )
    return tuple(tuple(r) for r in rows.all())


def _claims_frame(rows: list[tuple[Any, ...]]) -> pd.DataFrame:
    claims = pd.DataFrame(rows, columns=CLAIM_COLUMNS)
    for column in ("submitted_at", "decided_at", "settled_at"):
        claims[column] = pd.to_datetime(claims[column], utc=True)
    return claims


def load_escalations(session: Session, village_ids: Sequence[int], start: datetime, end: datetime) -> pd.DataFrame:
    """The villages' claims sent up to the township supervisor in [start, end) (columns ESCALATION_COLUMNS)."""
    rows: list[tuple[Any, ...]] = []
    if village_ids:
        found = session.connection().execute(
            sa_select(col(Claim.id), col(Claim.village_id), col(Claim.status), col(Claim.escalated_at)).where(
                col(Claim.village_id).in_(village_ids),
                col(Claim.escalated_at) >= start,
                col(Claim.escalated_at) < end,
            )
        )
        rows = [tuple(r) for r in found.all()]
    escalations = pd.DataFrame(rows, columns=ESCALATION_COLUMNS)
    escalations["escalated_at"] = pd.to_datetime(escalations["escalated_at"], utc=True)
    return escalations


def household_count(session: Session, village_ids: Sequence[int]) -> int:
    if not village_ids:
        return 0
    found = session.exec(select(func.count()).select_from(Household).where(col(Household.village_id).in_(village_ids)))
    return int(found.one())


# --- the figures (pure) ----------------------------------------------------------------------------------------


def participation(claims: pd.DataFrame, *, households: int, months: Sequence[str], timezone: str) -> pd.DataFrame:
    """month, households, participating, rate (0..1, 4 places): households with a standing claim submitted in
    the month."""
    standing = claims[claims["status"].isin(STANDING)]
    counts = standing.groupby(month_of(standing["submitted_at"], timezone))["household_id"].nunique()
    table = pd.DataFrame({"month": list(months)})
    table["households"] = households
    table["participating"] = table["month"].map(counts).fillna(0).astype("int64")
    table["rate"] = (table["participating"] / households).round(4) if households else 0.0
    return table[PARTICIPATION]


def points_by_matter(claims: pd.DataFrame, *, start: datetime, end: datetime) -> pd.DataFrame:
    """matter_code, matter_zh, matter_en, claims, points: the standing claims submitted in [start, end), most
    points first."""
    standing = claims[claims["status"].isin(STANDING) & _within(claims["submitted_at"], start, end)]
    table = (
        standing.groupby(["matter_code", "matter_zh", "matter_en"], as_index=False)
        .agg(claims=("claim_id", "count"), points=("points", "sum"))
        .sort_values(["points", "matter_code"], ascending=[False, True], ignore_index=True)
    )
    return table.astype({"claims": "int64", "points": "int64"})[POINTS_BY_MATTER]


def claims_by_status(claims: pd.DataFrame, *, start: datetime, end: datetime) -> pd.DataFrame:
    """status, claims: every claim submitted in [start, end), by its status now."""
    table = (
        claims[_within(claims["submitted_at"], start, end)]
        .groupby("status", as_index=False)
        .agg(claims=("claim_id", "count"))
        .sort_values("status", ignore_index=True)
    )
    return table.astype({"claims": "int64"})[CLAIMS_BY_STATUS]


def _reviews(claims: pd.DataFrame, *, timezone: str, overdue_hours: int) -> pd.DataFrame:
    """The reviews that ended, as the on-time rate counts them: decided by an official (approved or rejected,
    whatever became of them later) or expired undecided; each with the month it ended in (`decided_at`), whether
    an official decided it, the hours it took (officials' decisions only) and whether it was on time."""
    by_official = claims["status"].isin(REVIEWED) & (claims["decided_by"] != AUTOMATIC)
    expired = claims["status"] == ClaimStatus.EXPIRED.value
    ended = claims[(by_official | expired) & claims["decided_at"].notna()].copy()
    hours = (ended["decided_at"] - ended["submitted_at"]).dt.total_seconds() / 3600
    ended["month"] = month_of(ended["decided_at"], timezone)
    ended["by_official"] = ended["status"] != ClaimStatus.EXPIRED.value
    ended["hours"] = hours.where(ended["by_official"])
    ended["on_time"] = ended["by_official"] & (hours < overdue_hours)
    return ended


def _rates(on_time: pd.Series, decided: pd.Series) -> pd.Series:
    """on_time / decided, 4 places; None (not NaN) where nothing was decided."""
    return pd.Series([round(o / d, 4) if d else None for o, d in zip(on_time, decided, strict=True)], dtype=object)


def on_time(claims: pd.DataFrame, *, months: Sequence[str], timezone: str, overdue_hours: int) -> pd.DataFrame:
    """month, decided, on_time, rate (None where no review ended), median_hours (of the officials' decisions,
    None where there was none): the reviews that ended in each month."""
    ended = _reviews(claims, timezone=timezone, overdue_hours=overdue_hours)
    grouped = ended.groupby("month").agg(
        decided=("claim_id", "count"), on_time=("on_time", "sum"), median_hours=("hours", "median")
    )
    table = pd.DataFrame({"month": list(months)})
    table["decided"] = table["month"].map(grouped["decided"]).fillna(0).astype("int64")
    table["on_time"] = table["month"].map(grouped["on_time"]).fillna(0).astype("int64")
    medians = table["month"].map(grouped["median_hours"])
    table["rate"] = _rates(table["on_time"], table["decided"])
    table["median_hours"] = pd.Series([None if pd.isna(m) else round(float(m), 2) for m in medians], dtype=object)
    return table[ON_TIME]


def by_village(
    claims: pd.DataFrame,
    escalations: pd.DataFrame,
    villages: Sequence[tuple[int, str]],
    *,
    month: str,
    timezone: str,
    overdue_hours: int,
) -> pd.DataFrame:
    """village_id, village, decided, on_time, rate (None where no review ended), escalated, escalated_waiting: per
    village (in the order given), the month's reviews exactly as `on_time` counts them, and the claims sent up to
    the township supervisor in the month (`escalations`: ESCALATION_COLUMNS), of which still pending now."""
    ended = _reviews(claims, timezone=timezone, overdue_hours=overdue_hours)
    reviews = (
        ended[ended["month"] == month]
        .groupby("village_id")
        .agg(decided=("claim_id", "count"), on_time=("on_time", "sum"))
    )
    start, end = month_bounds(month, timezone)
    sent_up = escalations[_within(escalations["escalated_at"], start, end)].assign(
        waiting=lambda frame: frame["status"] == ClaimStatus.PENDING.value
    )
    escalated = sent_up.groupby("village_id").agg(escalated=("claim_id", "count"), waiting=("waiting", "sum"))
    table = pd.DataFrame(list(villages), columns=["village_id", "village"])
    for column, source, name in (
        ("decided", reviews, "decided"),
        ("on_time", reviews, "on_time"),
        ("escalated", escalated, "escalated"),
        ("escalated_waiting", escalated, "waiting"),
    ):
        table[column] = table["village_id"].map(source[name]).fillna(0).astype("int64")
    table["rate"] = _rates(table["on_time"], table["decided"])
    return table[BY_VILLAGE]


def leaderboard(entries: pd.DataFrame, names: dict[int, str], households: Sequence[int]) -> pd.DataFrame:
    """rank, household_id, name, points: households ranked by net points (ties share a rank). `entries` has
    columns household_id, points (negative for deductions)."""
    totals = entries.groupby("household_id")["points"].sum() if len(entries) else pd.Series(dtype="int64")
    table = pd.DataFrame({"household_id": list(households)})
    table["points"] = table["household_id"].map(totals).fillna(0).astype("int64")
    table["name"] = table["household_id"].map(names).fillna("?")
    table["rank"] = table["points"].rank(method="min", ascending=False).astype("int64")
    return table.sort_values(["rank", "household_id"], ignore_index=True)[["rank", "household_id", "name", "points"]]


# --- the month report ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MonthReport:
    """One month of a scope: the dashboard's row of that month, and the village report (JSON, CSV, XLSX)."""

    village_id: int | None
    month: str  # 2026-11
    households: int
    participating: int
    participation_rate: float
    decided: int  # reviews that ended in the month
    decided_on_time: int
    on_time_rate: float | None
    median_decision_hours: float | None
    points_by_matter: pd.DataFrame
    claims_by_status: pd.DataFrame
    extra: dict[str, pd.DataFrame] = field(default_factory=dict)  # further tables (redemption by partner)

    def summary(self) -> dict[str, Any]:
        return {
            "village_id": self.village_id,
            "month": self.month,
            "households": self.households,
            "participating": self.participating,
            "participation_rate": self.participation_rate,
            "decided": self.decided,
            "decided_on_time": self.decided_on_time,
            "on_time_rate": self.on_time_rate,
            "median_decision_hours": self.median_decision_hours,
        }

    def tables(self) -> dict[str, pd.DataFrame]:
        return {
            "summary": pd.DataFrame([self.summary()]),
            "points_by_matter": self.points_by_matter,
            "claims_by_status": self.claims_by_status,
            **self.extra,
        }


def month_report(
    claims: pd.DataFrame, *, households: int, month: str, timezone: str, overdue_hours: int, village_id: int | None
) -> MonthReport:
    """The month's figures from the scope's claims (columns CLAIM_COLUMNS)."""
    start, end = month_bounds(month, timezone)
    taking_part = participation(claims, households=households, months=[month], timezone=timezone).iloc[0]
    reviews = on_time(claims, months=[month], timezone=timezone, overdue_hours=overdue_hours).iloc[0]
    return MonthReport(
        village_id=village_id,
        month=month,
        households=households,
        participating=int(taking_part["participating"]),
        participation_rate=float(taking_part["rate"]),
        decided=int(reviews["decided"]),
        decided_on_time=int(reviews["on_time"]),
        on_time_rate=_number(reviews["rate"]),
        median_decision_hours=_number(reviews["median_hours"]),
        points_by_matter=points_by_matter(claims, start=start, end=end),
        claims_by_status=claims_by_status(claims, start=start, end=end),
    )


def _number(value: Any) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def scope_month(session: Session, scope: Scope, month: str) -> MonthReport:
    start, end = month_bounds(month, scope.timezone)
    return month_report(
        load_claims(session, scope.village_ids, start, end),
        households=household_count(session, scope.village_ids),
        month=month,
        timezone=scope.timezone,
        overdue_hours=scope.county.overdue_hours,
        village_id=scope.village_id,
    )


def to_csv(report: MonthReport, words: exports.Words = exports.KEYS) -> bytes:
    """One long table (CSV has one sheet): section, item, measure, value. Each row of each table gives a row per
    number, its item being the row's first column shown (the month, a matter, a status, a partner)."""
    rows: list[tuple[str, Any, str, Any]] = []
    for name, table in report.tables().items():
        for record in exports.worded(table, words, name).to_dict(orient="records"):
            (_, item), *measures = record.items()
            rows += [(words.name(name), item, str(measure), value) for measure, value in measures]
    return exports.csv_bytes(pd.DataFrame(rows, columns=[words.name(column) for column in REPORT_CSV]))


def to_xlsx(report: MonthReport, words: exports.Words = exports.KEYS) -> bytes:
    """One sheet per table."""
    return exports.xlsx_bytes(
        {words.name(name): exports.worded(table, words, name) for name, table in report.tables().items()}
    )


# --- the dashboard's claim figures (twelve months) -----------------------------------------------------------


def dashboard_claims(session: Session, scope: Scope, now: datetime) -> tuple[list[str], pd.DataFrame]:
    """The dashboard's months and the claims its figures read."""
    months = months_until(now, scope.timezone)
    start, end = span(months, scope.timezone)
    return months, load_claims(session, scope.village_ids, start, end)


def participation_by_month(session: Session, scope: Scope, now: datetime) -> pd.DataFrame:
    months, claims = dashboard_claims(session, scope, now)
    households = household_count(session, scope.village_ids)
    return participation(claims, households=households, months=months, timezone=scope.timezone)


def points_by_matter_window(session: Session, scope: Scope, now: datetime) -> pd.DataFrame:
    months, claims = dashboard_claims(session, scope, now)
    start, end = span(months, scope.timezone)
    return points_by_matter(claims, start=start, end=end)


def on_time_by_month(session: Session, scope: Scope, now: datetime) -> pd.DataFrame:
    months, claims = dashboard_claims(session, scope, now)
    return on_time(claims, months=months, timezone=scope.timezone, overdue_hours=scope.county.overdue_hours)


def villages_month(session: Session, scope: Scope, month: str) -> pd.DataFrame:
    """The scope's villages' figures in the month (YYYY-MM, county time): `by_village`."""
    start, end = month_bounds(month, scope.timezone)
    return by_village(
        load_claims(session, scope.village_ids, start, end),
        load_escalations(session, scope.village_ids, start, end),
        [(row_id(v.id), v.name) for v in scope.villages],
        month=month,
        timezone=scope.timezone,
        overdue_hours=scope.county.overdue_hours,
    )


def villages_this_month(session: Session, scope: Scope, now: datetime) -> pd.DataFrame:
    """The dashboard's per-village table: month, then `by_village` of the month `now` is in (county time)."""
    month = months_until(now, scope.timezone, 1)[0]
    return villages_month(session, scope, month).assign(month=month)[["month", *BY_VILLAGE]]


# --- leaderboards ----------------------------------------------------------------------------------------------


def village_leaderboard(session: Session, village: Village, *, period: str, at: datetime) -> tuple[str, pd.DataFrame]:
    """The label of the month, quarter or year around `at` and the village's households ranked in it."""
    assert village.id is not None
    label, start, end = period_of(at, _county(session, village.county_id).timezone, period)
    claims = session.exec(
        select(Claim.household_id, Claim.points).where(
            Claim.village_id == village.id,
            Claim.status == ClaimStatus.SETTLED.value,
            col(Claim.settled_at) >= start,
            col(Claim.settled_at) < end,
        )
    ).all()
    deductions = session.exec(
        select(Deduction.household_id, Deduction.points).where(
            Deduction.village_id == village.id,
            Deduction.status == DeductionStatus.IN_FORCE.value,
            col(Deduction.recorded_at) >= start,
            col(Deduction.recorded_at) < end,
        )
    ).all()
    entries = pd.DataFrame(
        [(h, p) for h, p in claims] + [(h, -p) for h, p in deductions], columns=["household_id", "points"]
    )
    households = session.exec(select(Household.id).where(Household.village_id == village.id)).all()
    return label, leaderboard(entries, household_names(session, village), [h for h in households if h is not None])


@dataclass(frozen=True, slots=True)
class Leader:
    rank: int  # households with the same points share a rank
    household_id: int
    name: str
    points: int


def village_leaderboard_page(
    session: Session,
    village: Village,
    *,
    period: str,
    at: datetime,
    cursor: str | None = None,
    limit: int = paging.PAGE,
    household_id: int | None = None,
) -> tuple[str, list[Leader], str | None, Leader | None]:
    """`village_leaderboard` a page at a time, counted and ranked in SQL so that only the rows shown are read: the
    period's label, the leaders after `cursor` (by points, then household id), the next page's cursor, and the
    row of `household_id` (the caller's own household) wherever it ranks."""
    assert village.id is not None
    label, start, end = period_of(at, _county(session, village.county_id).timezone, period)
    key = paging.decode(cursor, int, int)
    limit = paging.bounded(limit)
    # every household of the village at nought, its settled claims and its deductions, summed per household: one
    # union grouped, with no join for a planner to misjudge on a village whose statistics are not gathered yet
    moves = union_all(
        sa_select(col(Household.id).label("hid"), literal(0).label("pts")).where(
            col(Household.village_id) == village.id
        ),
        sa_select(col(Claim.household_id).label("hid"), col(Claim.points).label("pts")).where(
            col(Claim.village_id) == village.id,
            col(Claim.status) == ClaimStatus.SETTLED.value,
            col(Claim.settled_at) >= start,
            col(Claim.settled_at) < end,
        ),
        sa_select(col(Deduction.household_id).label("hid"), (-col(Deduction.points)).label("pts")).where(
            col(Deduction.village_id) == village.id,
            col(Deduction.status) == DeductionStatus.IN_FORCE.value,
            col(Deduction.recorded_at) >= start,
            col(Deduction.recorded_at) < end,
        ),
    ).subquery()
    points = func.sum(moves.c.pts)
    ranked = (
        sa_select(
            moves.c.hid.label("household_id"),
            points.label("points"),
            func.rank().over(order_by=points.desc()).label("rank"),
        )
        .group_by(moves.c.hid)
        .subquery()
    )
    query = sa_select(ranked.c.rank, ranked.c.household_id, ranked.c.points)
    if key is not None:
        after_points, after_id = int(key[0]), int(key[1])
        query = query.where(
            or_(
                ranked.c.points < after_points,
                (ranked.c.points == after_points) & (ranked.c.household_id > after_id),
            )
        )
    rows = [
        (int(r), int(h), int(p))
        for r, h, p in session.execute(
            query.order_by(ranked.c.points.desc(), ranked.c.household_id).limit(limit + 1)
        ).all()
    ]
    page = paging.cut(rows, limit, lambda row: (row[2], row[1]))
    own = None
    if household_id is not None:
        own = (
            next((row for row in rows if row[1] == household_id), None)
            or session.execute(
                sa_select(ranked.c.rank, ranked.c.household_id, ranked.c.points).where(
                    ranked.c.household_id == household_id
                )
            ).first()
        )
    wanted = {h for _, h, _ in page.rows} | ({int(own[1])} if own is not None else set())
    names = household_names(session, village, wanted)
    leaders = [Leader(r, h, names.get(h, "?"), p) for r, h, p in page.rows]
    mine = Leader(int(own[0]), int(own[1]), names.get(int(own[1]), "?"), int(own[2])) if own is not None else None
    return label, leaders, page.next_cursor, mine


# --- village concerns (docs/concerns.md, "Figures") ------------------------------------------------------------

CONCERN_COLUMNS = [
    "concern_id",
    "village_id",
    "category_id",
    "status",
    "created_at",
    "closed_at",
    "closed_by",
    "step_due_at",
]
STEP_COLUMNS = ["concern_id", "village_id", "category_id", "action", "at", "due_at", "created_at", "satisfied"]
TRANSITION_ACTIONS = ("submit", "accept", "dispatch", "return", "resolve", "evaluate", "reopen", "auto_close", "merge")
TIMED_STEPS = {"accept": "accepted", "dispatch": "dispatched", "resolve": "resolved"}  # action: what the figure says
EVALUATIONS = ("evaluate", "reopen")  # the reporter's word: closing it, or (not satisfied, the first time) reopening
CONCERN_COUNTS = [
    "received",
    "merged",
    "accepted",
    "accepted_on_time",
    "dispatched",
    "dispatched_on_time",
    "resolved",
    "resolved_on_time",
    "closed",
    "closed_with_evaluation",
    "evaluated",
    "satisfied",
]
CONCERN_RATES = [
    "accepted_on_time_rate",
    "dispatched_on_time_rate",
    "resolved_on_time_rate",
    "closed_loop_rate",
    "satisfaction_rate",
]
CONCERN_MONTH = ["month", *CONCERN_COUNTS, *CONCERN_RATES, "median_hours_to_resolve"]
CONCERN_FIGURES = [
    "village_id",
    "village",
    "category_code",
    "category_zh",
    "category_en",
    *CONCERN_MONTH,
    "open_now",
    "overdue_now",
]
CONCERNS_OPEN = ["village_id", "village", "open_now", "overdue_now"]
CATEGORY_COLUMNS = ["category_id", "category_code", "category_zh", "category_en"]


def _concerns_of(village_ids: Sequence[int], township_ids: Sequence[int] = ()) -> Any:
    """The concerns of these villages, and the townships' own (no village)."""
    villages = col(Concern.village_id).in_(village_ids)
    if not township_ids:
        return villages
    return or_(villages, col(Concern.village_id).is_(None) & col(Concern.township_id).in_(township_ids))


def _unit(village: Any, township: Any) -> Any:
    """A concern's row key: its village, or its township's id negated for a township's own concern."""
    return func.coalesce(village, -township)


def load_concerns(
    session: Session, village_ids: Sequence[int], start: datetime, end: datetime, township_ids: Sequence[int] = ()
) -> pd.DataFrame:
    """The villages' (and the townships' own) concerns received or closed in [start, end), and every one open now
    (columns CONCERN_COLUMNS, times in UTC; `village_id` is the township's id negated for a township's own)."""
    rows: list[tuple[Any, ...]] = []
    if village_ids or township_ids:
        found = session.connection().execute(
            sa_select(
                col(Concern.id),
                _unit(col(Concern.village_id), col(Concern.township_id)),
                col(Concern.category_id),
                col(Concern.status),
                col(Concern.created_at),
                col(Concern.closed_at),
                col(Concern.closed_by),
                col(Concern.step_due_at),
            ).where(
                _concerns_of(village_ids, township_ids),
                or_(
                    (col(Concern.created_at) >= start) & (col(Concern.created_at) < end),
                    (col(Concern.closed_at) >= start) & (col(Concern.closed_at) < end),
                    col(Concern.status).in_([s.value for s in OPEN_STATUSES]),
                ),
            )
        )
        rows = [tuple(r) for r in found.all()]
    concerns = pd.DataFrame(rows, columns=CONCERN_COLUMNS)
    for column in ("created_at", "closed_at", "step_due_at"):
        concerns[column] = pd.to_datetime(concerns[column], utc=True)
    return concerns


def load_steps(
    session: Session, village_ids: Sequence[int], start: datetime, end: datetime, township_ids: Sequence[int] = ()
) -> pd.DataFrame:
    """The steps taken in [start, end) on the villages' concerns that the figures time or count (accept, dispatch,
    resolve; evaluate and reopen), each with the deadline recorded when its step opened: the `due_at` of the
    concern's transition event just before it (overdue and escalation events, which open no step, are passed
    over). Columns STEP_COLUMNS, times in UTC; `satisfied` is the concern's last evaluation."""
    rows: list[tuple[Any, ...]] = []
    if village_ids or township_ids:
        event, concern = table_of(ConcernEvent), table_of(Concern)
        opened = func.lag(event.c.due_at).over(partition_by=event.c.concern_id, order_by=event.c.id)
        timeline = (
            sa_select(
                event.c.concern_id,
                _unit(concern.c.village_id, concern.c.township_id).label("village_id"),
                concern.c.category_id,
                event.c.action,
                event.c.at,
                opened.label("due_at"),
                concern.c.created_at,
                concern.c.satisfied,
            )
            .join(concern, concern.c.id == event.c.concern_id)
            .where(
                _concerns_of(village_ids, township_ids),
                concern.c.created_at < end,
                # closing is a concern's last step: one closed before the window has no step in it
                or_(concern.c.closed_at.is_(None), concern.c.closed_at >= start),
                event.c.action.in_(TRANSITION_ACTIONS),
            )
            .subquery()
        )
        found = session.connection().execute(
            sa_select(*timeline.c).where(
                timeline.c.action.in_([*TIMED_STEPS, *EVALUATIONS]),
                timeline.c.at >= start,
                timeline.c.at < end,
            )
        )
        rows = [tuple(r) for r in found.all()]
    steps = pd.DataFrame(rows, columns=STEP_COLUMNS)
    for column in ("at", "due_at", "created_at"):
        steps[column] = pd.to_datetime(steps[column], utc=True)
    return steps


def load_categories(session: Session, county_id: int) -> pd.DataFrame:
    """The county's concern categories (columns CATEGORY_COLUMNS), in the order they were made."""
    found = session.connection().execute(
        sa_select(
            col(ConcernCategory.id),
            col(ConcernCategory.code),
            col(ConcernCategory.name_zh),
            col(ConcernCategory.name_en),
        )
        .where(col(ConcernCategory.county_id) == county_id)
        .order_by(col(ConcernCategory.id))
    )
    return pd.DataFrame([tuple(r) for r in found.all()], columns=CATEGORY_COLUMNS)


def concerns_version(session: Session, scope: Scope, now: datetime) -> tuple[Any, ...]:
    """Everything the concern figures of the scope (its tables and charts, as of `now`) are computed from,
    cheaply: the months shown, the villages and categories by name, and per status how many concerns, the last
    id and the sum of their versions (every move bumps a concern's version), and how many are late now."""
    months = months_until(now, scope.timezone)
    ids, townships = scope.village_ids, scope.township_ids
    statuses: tuple[tuple[Any, ...], ...] = ()
    late = 0
    if ids or townships:
        found = session.connection().execute(
            sa_select(col(Concern.status), func.count(), func.max(col(Concern.id)), func.sum(col(Concern.version)))
            .where(_concerns_of(ids, townships))
            .group_by(col(Concern.status))
            .order_by(col(Concern.status))
        )
        statuses = tuple(tuple(r) for r in found.all())
        late = int(
            session.connection().scalar(
                sa_select(func.count()).where(
                    _concerns_of(ids, townships),
                    col(Concern.status).in_([s.value for s in OPEN_STATUSES]),
                    col(Concern.step_due_at) < now,
                )
            )
            or 0
        )
    categories = load_categories(session, scope.county.id or 0)
    return (
        tuple(months),
        tuple(scope.units()),
        scope.timezone,
        tuple(categories.itertuples(index=False, name=None)),
        statuses,
        late,
    )


def _step_months(steps: pd.DataFrame, timezone: str) -> pd.DataFrame:
    """The steps, each with its month (county time), whether it was on time (done at or before the deadline
    recorded when it opened; a step opened with no deadline cannot be late), its hours since the concern was
    received, and, for an evaluation, whether the reporter was satisfied (a reopening never is)."""
    steps = steps.copy()
    steps["month"] = month_of(steps["at"], timezone)
    steps["on_time"] = steps["due_at"].isna() | (steps["at"] <= steps["due_at"])
    steps["hours"] = (steps["at"] - steps["created_at"]).dt.total_seconds() / 3600
    steps["pleased"] = (steps["action"] == "evaluate") & (steps["satisfied"].fillna(False).astype(bool))
    return steps


def _concern_counts(concerns: pd.DataFrame, steps: pd.DataFrame, by: list[str], timezone: str) -> pd.DataFrame:
    """Per `by` and month (county time), the counts of CONCERN_COUNTS and the median hours to resolve."""
    keys = [*by, "month"]
    received = concerns[concerns["created_at"].notna()].assign(
        month=lambda f: month_of(f["created_at"], timezone), merged=lambda f: f["status"] == ConcernStatus.MERGED.value
    )
    closed = concerns[concerns["closed_at"].notna()].assign(
        month=lambda f: month_of(f["closed_at"], timezone),
        evaluated=lambda f: f["closed_by"] == ClosedBy.EVALUATION.value,
    )
    timed = _step_months(steps, timezone)
    parts = [
        received.groupby(keys).agg(received=("concern_id", "count"), merged=("merged", "sum")),
        closed.groupby(keys).agg(closed=("concern_id", "count"), closed_with_evaluation=("evaluated", "sum")),
    ]
    for action, name in TIMED_STEPS.items():
        done = timed[timed["action"] == action]
        parts.append(done.groupby(keys).agg(**{name: ("concern_id", "count"), f"{name}_on_time": ("on_time", "sum")}))
    said = timed[timed["action"].isin(EVALUATIONS)]
    parts.append(said.groupby(keys).agg(evaluated=("concern_id", "count"), satisfied=("pleased", "sum")))
    resolved = timed[timed["action"] == "resolve"]
    parts.append(resolved.groupby(keys).agg(median_hours_to_resolve=("hours", "median")))
    table = pd.concat(parts, axis=1)
    for column in CONCERN_COUNTS:
        table[column] = table[column].fillna(0).astype("int64")
    return table


def _with_rates(table: pd.DataFrame) -> pd.DataFrame:
    """The rates of CONCERN_RATES (0..1, 4 places; None where nothing was counted) and the median rounded."""
    table = table.copy()
    for rate, done, good in (
        ("accepted_on_time_rate", "accepted", "accepted_on_time"),
        ("dispatched_on_time_rate", "dispatched", "dispatched_on_time"),
        ("resolved_on_time_rate", "resolved", "resolved_on_time"),
        ("closed_loop_rate", "closed", "closed_with_evaluation"),
        ("satisfaction_rate", "evaluated", "satisfied"),
    ):
        table[rate] = _rates(table[good], table[done]).values
    medians = table["median_hours_to_resolve"]
    table["median_hours_to_resolve"] = pd.Series(
        [None if pd.isna(m) else round(float(m), 2) for m in medians], dtype=object, index=table.index
    )
    return table


def concerns_now(concerns: pd.DataFrame, by: list[str], now: datetime) -> pd.DataFrame:
    """Per `by`: open_now (a step is still for staff to take: submitted, accepted, dispatched, returned,
    reopened) and overdue_now (of those, past the deadline of that step at `now`)."""
    open_now = concerns[concerns["status"].isin([s.value for s in OPEN_STATUSES])].assign(
        late=lambda f: f["step_due_at"].notna() & (f["step_due_at"] < pd.Timestamp(now))
    )
    return open_now.groupby(by).agg(open_now=("concern_id", "count"), overdue_now=("late", "sum"))


def concern_figures(
    concerns: pd.DataFrame,
    steps: pd.DataFrame,
    villages: Sequence[tuple[int, str]],
    categories: pd.DataFrame,
    *,
    month: str,
    timezone: str,
    now: datetime,
) -> pd.DataFrame:
    """CONCERN_FIGURES: per village (in the order given) and category (in `categories`' order, CATEGORY_COLUMNS)
    the month's figures (docs/concerns.md, "Figures") and what is open and late at `now`; a village and category
    with nothing to count are left out."""
    by = ["village_id", "category_id"]
    counts = _concern_counts(concerns, steps, by, timezone)
    counts = counts[counts.index.get_level_values("month") == month].droplevel("month")
    table = counts.join(concerns_now(concerns, by, now), how="outer")
    grid = pd.MultiIndex.from_product([[v for v, _ in villages], categories["category_id"].tolist()], names=by)
    table = table.reindex(grid).reset_index()
    for column in [*CONCERN_COUNTS, "open_now", "overdue_now"]:
        table[column] = table[column].fillna(0).astype("int64")
    table = table[(table[[*CONCERN_COUNTS, "open_now"]] != 0).any(axis=1)]
    table = _with_rates(table.reset_index(drop=True))
    table["month"] = month
    table["village"] = table["village_id"].map(dict(villages))
    table = table.merge(categories, on="category_id", how="left")
    return _township_rows(table[CONCERN_FIGURES])


def concerns_by_month(
    concerns: pd.DataFrame, steps: pd.DataFrame, *, months: Sequence[str], timezone: str
) -> pd.DataFrame:
    """CONCERN_MONTH: the scope's figures of each month, all villages and categories together."""
    counts = _concern_counts(concerns, steps, [], timezone)
    table = counts.reindex(list(months))
    for column in CONCERN_COUNTS:
        table[column] = table[column].fillna(0).astype("int64")
    table = _with_rates(table.rename_axis("month").reset_index())
    return table[CONCERN_MONTH]


def concerns_open(concerns: pd.DataFrame, villages: Sequence[tuple[int, str]], now: datetime) -> pd.DataFrame:
    """CONCERNS_OPEN: per village (in the order given), its concerns open and late at `now`."""
    found = concerns_now(concerns, ["village_id"], now)
    table = pd.DataFrame(list(villages), columns=["village_id", "village"])
    for column in ("open_now", "overdue_now"):
        table[column] = table["village_id"].map(found[column]).fillna(0).astype("int64")
    return _township_rows(table[CONCERNS_OPEN])


def _township_rows(table: pd.DataFrame) -> pd.DataFrame:
    """A township's own concerns are a row named by the township, with no village id (their key was the
    township's id negated)."""
    table = table.copy()
    table["village_id"] = pd.Series(
        [int(k) if k > 0 else None for k in table["village_id"]], dtype=object, index=table.index
    )
    return table


def scope_concerns(session: Session, scope: Scope, month: str, now: datetime) -> pd.DataFrame:
    """The concern figures of one month (YYYY-MM, county time) of the scope, per village and category."""
    start, end = month_bounds(month, scope.timezone)
    return concern_figures(
        load_concerns(session, scope.village_ids, start, end, scope.township_ids),
        load_steps(session, scope.village_ids, start, end, scope.township_ids),
        scope.units(),
        load_categories(session, row_id(scope.county.id)),
        month=month,
        timezone=scope.timezone,
        now=now,
    )


def concerns_this_month(session: Session, scope: Scope, now: datetime) -> pd.DataFrame:
    """The dashboard's concern table: `scope_concerns` of the month `now` is in."""
    return scope_concerns(session, scope, months_until(now, scope.timezone, 1)[0], now)


def concerns_months(session: Session, scope: Scope, now: datetime) -> pd.DataFrame:
    """The dashboard's twelve months of concerns (`concerns_by_month`)."""
    months = months_until(now, scope.timezone)
    start, end = span(months, scope.timezone)
    return concerns_by_month(
        load_concerns(session, scope.village_ids, start, end, scope.township_ids),
        load_steps(session, scope.village_ids, start, end, scope.township_ids),
        months=months,
        timezone=scope.timezone,
    )


def concerns_open_now(session: Session, scope: Scope, now: datetime) -> pd.DataFrame:
    """The dashboard's open and late concerns per village, at `now`."""
    start, end = month_bounds(months_until(now, scope.timezone, 1)[0], scope.timezone)
    return concerns_open(load_concerns(session, scope.village_ids, start, end, scope.township_ids), scope.units(), now)


CONCERN_TABLES: dict[str, Any] = {
    "concerns": concerns_this_month,  # a table: per village and category, this month
    "concerns_by_month": concerns_months,  # a chart: received and on time, twelve months
    "concerns_open": concerns_open_now,  # a chart: open and late per village, now
}


def concern_report(session: Session, scope: Scope, month: str, now: datetime) -> dict[str, pd.DataFrame]:
    """The concern figures of one month of the scope, as the API and its files give them: `concerns_summary`
    (one row: the scope's month, all villages and categories together, with what is open and late now) and
    `concerns` (per village and category, `scope_concerns`)."""
    rows = scope_concerns(session, scope, month, now)
    start, end = month_bounds(month, scope.timezone)
    summary = concerns_by_month(
        load_concerns(session, scope.village_ids, start, end, scope.township_ids),
        load_steps(session, scope.village_ids, start, end, scope.township_ids),
        months=[month],
        timezone=scope.timezone,
    ).assign(open_now=int(rows["open_now"].sum()), overdue_now=int(rows["overdue_now"].sum()))
    return {"concerns_summary": summary, "concerns": rows}


def concerns_csv(report: dict[str, pd.DataFrame], words: exports.Words = exports.KEYS) -> bytes:
    """The per village and category table (CSV has one sheet; its rows add up to the summary)."""
    return exports.csv_bytes(exports.worded(report["concerns"], words, "concerns"))


def concerns_xlsx(report: dict[str, pd.DataFrame], words: exports.Words = exports.KEYS) -> bytes:
    """One sheet per table: the summary, then per village and category."""
    return exports.xlsx_bytes({words.name(name): exports.worded(table, words, name) for name, table in report.items()})
