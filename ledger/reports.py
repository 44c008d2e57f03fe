"""Participation figures for officials and the village leaderboards. The queries load plain rows; the figures
are pure pandas functions of those rows (`month_report`, `leaderboard`), so they are tested without a database.
Exports (CSV, XLSX) are pandas too."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy import select
from sqlmodel import Session

from ledger import exports
from ledger.catalogue.models import Matter
from ledger.claims.models import Claim, ClaimStatus, Deduction, DeductionStatus
from ledger.claims.notice import household_names
from ledger.claims.rules import local, period_bounds
from ledger.errors import Invalid
from ledger.tenancy import County, Household, Village

ON_TIME_HOURS = 24
CLAIM_COLUMNS = ["claim_id", "household_id", "matter", "points", "status", "submitted_at", "decided_at", "settled_at"]


@dataclass(frozen=True)
class MonthReport:
    village_id: int
    month: str  # 2026-11
    households: int
    participating: int  # households with at least one claim settled in the month
    participation_rate: float
    on_time_rate: float | None  # share of claims decided in the month that were decided within 24 h
    median_decision_hours: float | None
    points_by_matter: pd.DataFrame  # matter, claims, points (approved in the month, still standing)
    claims_by_status: pd.DataFrame  # status, claims (submitted in the month)

    def summary(self) -> dict[str, Any]:
        return {
            "village_id": self.village_id,
            "month": self.month,
            "households": self.households,
            "participating": self.participating,
            "participation_rate": self.participation_rate,
            "on_time_rate": self.on_time_rate,
            "median_decision_hours": self.median_decision_hours,
        }


def month_report(
    claims: pd.DataFrame, *, households: int, village_id: int, month: str, start: datetime, end: datetime
) -> MonthReport:
    """The month's figures from the village's claims (columns CLAIM_COLUMNS, times in UTC)."""
    claims = claims.copy()
    for column in ("submitted_at", "decided_at", "settled_at"):
        claims[column] = pd.to_datetime(claims[column], utc=True)

    def within(column: str) -> pd.Series:
        return (claims[column] >= start) & (claims[column] < end)

    settled = claims[within("settled_at")]
    participating = int(settled["household_id"].nunique())
    decided = claims[
        within("decided_at")
        & claims["status"].isin([ClaimStatus.APPROVED, ClaimStatus.SETTLED, ClaimStatus.REJECTED, ClaimStatus.REVOKED])
    ]
    hours = (decided["decided_at"] - decided["submitted_at"]).dt.total_seconds() / 3600
    approved = claims[within("decided_at") & claims["status"].isin([ClaimStatus.APPROVED, ClaimStatus.SETTLED])]
    by_matter = (
        approved.groupby("matter", as_index=False)
        .agg(claims=("claim_id", "count"), points=("points", "sum"))
        .sort_values(["points", "matter"], ascending=[False, True], ignore_index=True)
    )
    by_status = (
        claims[within("submitted_at")]
        .groupby("status", as_index=False)
        .agg(claims=("claim_id", "count"))
        .sort_values("status", ignore_index=True)
    )
    return MonthReport(
        village_id=village_id,
        month=month,
        households=households,
        participating=participating,
        participation_rate=round(participating / households, 4) if households else 0.0,
        on_time_rate=round(float((hours <= ON_TIME_HOURS).mean()), 4) if len(hours) else None,
        median_decision_hours=round(float(hours.median()), 2) if len(hours) else None,
        points_by_matter=by_matter,
        claims_by_status=by_status,
    )


def leaderboard(entries: pd.DataFrame, names: dict[int, str], households: list[int]) -> pd.DataFrame:
    """Households ranked by net points in the period (settled claims less deductions), ties sharing a rank.
    `entries` has columns household_id, points (negative for deductions)."""
    totals = entries.groupby("household_id")["points"].sum() if len(entries) else pd.Series(dtype="int64")
    table = pd.DataFrame({"household_id": households})
    table["points"] = table["household_id"].map(totals).fillna(0).astype("int64")
    table["name"] = table["household_id"].map(names).fillna("?")
    table["rank"] = table["points"].rank(method="min", ascending=False).astype("int64")
    return table.sort_values(["rank", "household_id"], ignore_index=True)[["rank", "household_id", "name", "points"]]


# --- loading -------------------------------------------------------------------------------------------------


def month_bounds(month: str, timezone: str) -> tuple[datetime, datetime]:
    try:
        first = datetime.strptime(month + "-01", "%Y-%m-%d")
    except ValueError as exc:
        raise Invalid("month is written YYYY-MM.", field="month") from exc
    return period_bounds(first.replace(day=15, tzinfo=ZoneInfo(timezone)), timezone, "month")


def village_claims(session: Session, village_id: int) -> pd.DataFrame:
    rows = (
        session.connection()
        .execute(
            select(
                Claim.id,
                Claim.household_id,
                Matter.code,
                Claim.points,
                Claim.status,
                Claim.submitted_at,
                Claim.decided_at,
                Claim.settled_at,
            )
            .join(Matter, Matter.id == Claim.matter_id)
            .where(Claim.village_id == village_id)
        )
        .all()
    )
    return pd.DataFrame([tuple(r) for r in rows], columns=CLAIM_COLUMNS)


def village_month(session: Session, village: Village, month: str) -> MonthReport:
    county = session.get(County, village.county_id)
    assert county is not None
    assert village.id is not None
    start, end = month_bounds(month, county.timezone)
    households = len(session.scalars(select(Household.id).where(Household.village_id == village.id)).all())
    return month_report(
        village_claims(session, village.id),
        households=households,
        village_id=village.id,
        month=month,
        start=start,
        end=end,
    )


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
        last = day.replace(month=first_month + 2, day=15)
        _, end = period_bounds(last, timezone, "month")
        return f"{day.year}-Q{(day.month - 1) // 3 + 1}", start, end
    raise Invalid("period is month, quarter or year.", field="period")


def village_leaderboard(session: Session, village: Village, *, period: str, at: datetime) -> tuple[str, pd.DataFrame]:
    county = session.get(County, village.county_id)
    assert county is not None
    assert village.id is not None
    label, start, end = period_of(at, county.timezone, period)
    claims = (
        session.connection()
        .execute(
            select(Claim.household_id, Claim.points).where(
                Claim.village_id == village.id,
                Claim.status == ClaimStatus.SETTLED,
                Claim.settled_at >= start,
                Claim.settled_at < end,
            )  # type: ignore[operator]
        )
        .all()
    )
    deductions = (
        session.connection()
        .execute(
            select(Deduction.household_id, Deduction.points).where(
                Deduction.village_id == village.id,
                Deduction.status == DeductionStatus.IN_FORCE,
                Deduction.recorded_at >= start,
                Deduction.recorded_at < end,
            )
        )
        .all()
    )
    entries = pd.DataFrame(
        [(h, p) for h, p in claims] + [(h, -p) for h, p in deductions], columns=["household_id", "points"]
    )
    households = list(session.scalars(select(Household.id).where(Household.village_id == village.id)).all())
    return label, leaderboard(entries, household_names(session, village), households)  # type: ignore[arg-type]


# --- exports -------------------------------------------------------------------------------------------------


def report_tables(report: MonthReport) -> dict[str, pd.DataFrame]:
    summary = pd.DataFrame([report.summary()])
    return {
        "summary": summary,
        "points_by_matter": report.points_by_matter,
        "claims_by_status": report.claims_by_status,
    }


def to_csv(report: MonthReport) -> bytes:
    """One long table: section, key, value (CSV has one sheet)."""
    rows = [("summary", k, v) for k, v in report.summary().items()]
    rows += [
        ("points_by_matter", f"{r.matter}", f"{r.claims} claims, {r.points} points")
        for r in report.points_by_matter.itertuples()
    ]
    rows += [("claims_by_status", f"{r.status}", r.claims) for r in report.claims_by_status.itertuples()]
    return exports.csv_bytes(pd.DataFrame(rows, columns=["section", "key", "value"]))


def to_xlsx(tables: dict[str, pd.DataFrame]) -> bytes:
    return exports.xlsx_bytes(tables)
