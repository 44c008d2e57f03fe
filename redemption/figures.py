"""The figures that read vouchers, and the reports that put them beside the claim figures of `ledger/figures.py`
(docs/claims.md, "Figures"). They live here because vouchers are a layer above the ledger.

- redemption by partner: vouchers and bookings *issued* (`created_at`) in the period, by partner, cancelled ones
  left out (their points went back): how many, how many were used, the points they took, their face value.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import replace
from datetime import datetime

import pandas as pd
from sqlalchemy import func
from sqlalchemy import select as sa_select  # wider than sqlmodel.select (at most four columns typed)
from sqlmodel import Session, col

from ledger import figures
from ledger.core.base import utcnow
from ledger.identity.models import Partner
from ledger.tenancy import Village
from redemption.models import Voucher, VoucherStatus

REDEMPTION = ["partner", "kind", "vouchers", "used", "points", "value_yuan"]
VOUCHER_COLUMNS = ["partner", "kind", "status", "points", "value_fen", "created_at"]


def load_vouchers(session: Session, village_ids: Sequence[int], start: datetime, end: datetime) -> pd.DataFrame:
    """The villages' vouchers issued in [start, end) (columns VOUCHER_COLUMNS)."""
    if not village_ids:
        return pd.DataFrame(columns=VOUCHER_COLUMNS)
    rows = (
        session.connection()
        .execute(
            sa_select(
                col(Partner.name),
                col(Partner.kind),
                col(Voucher.status),
                col(Voucher.points),
                col(Voucher.value_fen),
                col(Voucher.created_at),
            )
            .join(Partner, col(Partner.id) == col(Voucher.partner_id))
            .where(
                col(Voucher.village_id).in_(village_ids),
                col(Voucher.created_at) >= start,
                col(Voucher.created_at) < end,
            )
        )
        .all()
    )
    return pd.DataFrame([tuple(r) for r in rows], columns=VOUCHER_COLUMNS)


def redemption(vouchers: pd.DataFrame) -> pd.DataFrame:
    """partner, kind, vouchers, used, points, value_yuan: the vouchers given, cancelled ones left out, most points
    first."""
    kept = vouchers[vouchers["status"] != VoucherStatus.CANCELLED.value].copy()
    kept["used"] = kept["status"] == VoucherStatus.USED.value
    table = (
        kept.groupby(["partner", "kind"], as_index=False)
        .agg(
            vouchers=("status", "count"), used=("used", "sum"), points=("points", "sum"), value_fen=("value_fen", "sum")
        )
        .sort_values(["points", "partner"], ascending=[False, True], ignore_index=True)
    )
    table["value_yuan"] = (table["value_fen"] / 100).round(2)
    return table.astype({"vouchers": "int64", "used": "int64", "points": "int64"})[REDEMPTION]


def redemption_window(session: Session, scope: figures.Scope, now: datetime) -> pd.DataFrame:
    start, end = figures.span(figures.months_until(now, scope.timezone), scope.timezone)
    return redemption(load_vouchers(session, scope.village_ids, start, end))


# --- the reports -------------------------------------------------------------------------------------------------


def scope_month(session: Session, scope: figures.Scope, month: str) -> figures.MonthReport:
    """Every figure of one month of the scope: the claim figures and redemption by partner."""
    report = figures.scope_month(session, scope, month)
    start, end = figures.month_bounds(month, scope.timezone)
    given = redemption(load_vouchers(session, scope.village_ids, start, end))
    return replace(report, extra={"redemption_by_partner": given})


def village_month(session: Session, village: Village, month: str) -> figures.MonthReport:
    """The village month report (the API's `/villages/{id}/report`, as JSON, CSV and XLSX)."""
    return scope_month(session, figures.village_scope(session, village), month)


Dashboard = Callable[[Session, figures.Scope, datetime], pd.DataFrame]
DASHBOARD: dict[str, Dashboard] = {
    "participation": figures.participation_by_month,
    "points_by_matter": figures.points_by_matter_window,
    "on_time": figures.on_time_by_month,
    "redemption": redemption_window,
    "villages": figures.villages_this_month,  # a table, not a chart: per village, this month
}


def dashboard_table(name: str, session: Session, scope: figures.Scope, now: datetime | None = None) -> pd.DataFrame:
    """One of the dashboard's tables: per month (participation, on time) or over its twelve months (points by
    matter, redemption by partner), the last month being the one `now` (the present) is in."""
    return DASHBOARD[name](session, scope, now or utcnow())


def dashboard_version(session: Session, scope: figures.Scope, now: datetime) -> Hashable:
    """Everything the dashboard's tables (`dashboard_table`, each name, as of `now`) are computed from, cheaply:
    equal versions give equal tables. The months shown and the scope's villages, time zone and overdue hours;
    the households counted; the claims of the twelve months (`figures.claims_version`); the vouchers given in them
    and the county's partners (their names head the redemption chart)."""
    months = figures.months_until(now, scope.timezone)
    start, end = figures.span(months, scope.timezone)
    ids = scope.village_ids
    vouchers: tuple[tuple[object, ...], ...] = ()
    if ids:
        found = session.connection().execute(
            sa_select(col(Voucher.status), func.count(), func.max(col(Voucher.id)), func.sum(col(Voucher.points)))
            .where(col(Voucher.village_id).in_(ids), col(Voucher.created_at) >= start, col(Voucher.created_at) < end)
            .group_by(col(Voucher.status))
            .order_by(col(Voucher.status))
        )
        vouchers = tuple(tuple(r) for r in found.all())
    partners = session.connection().execute(
        sa_select(col(Partner.id), col(Partner.name), col(Partner.kind))
        .where(col(Partner.county_id) == scope.county.id)
        .order_by(col(Partner.id))
    )
    return (
        tuple(months),
        tuple((v.id, v.name) for v in scope.villages),
        scope.timezone,
        scope.county.overdue_hours,
        figures.household_count(session, ids),
        figures.claims_version(session, ids, start, end),
        vouchers,
        tuple(tuple(r) for r in partners.all()),
    )
