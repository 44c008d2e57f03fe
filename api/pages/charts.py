"""The officials' dashboard: its figures (pandas tables from plain SQL rows) and their charts (matplotlib, Agg).

Every figure is limited to the villages the signed-in person sees (`Principal.sees_village`: an official's own
villages, the whole county for the county admin and auditors), optionally narrowed to one village or township.
Months are counted in the county's time zone (County.timezone), as the rest of the programme counts them.

- participation: per month, households with at least one claim approved in that month (still approved or
  settled) out of the households of the villages.
- points_by_matter: points of the claims approved in the last twelve months, by matter.
- on_time: per month, claims decided (approved or rejected) within the county's review time (overdue_hours).
- redemption: vouchers issued in the last twelve months, by partner (cancelled ones left out).
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import matplotlib

matplotlib.use("Agg")

import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from sqlalchemy import func, select  # noqa: E402
from sqlmodel import Session  # noqa: E402

from ledger import exports, reports  # noqa: E402
from ledger.base import utcnow  # noqa: E402
from ledger.catalogue.models import Matter  # noqa: E402
from ledger.claims.models import Claim, ClaimStatus  # noqa: E402
from ledger.identity.models import Partner  # noqa: E402
from ledger.identity.principal import Principal  # noqa: E402
from ledger.tenancy import (  # noqa: E402
    County,
    Household,
    Village,
    VillageNotFound,  # noqa: E402
)
from redemption.models import Voucher, VoucherStatus  # noqa: E402

CHARTS = ("participation", "points_by_matter", "on_time", "redemption")
MONTHS = 12
APPROVED = (ClaimStatus.APPROVED.value, ClaimStatus.SETTLED.value)
DECIDED = (ClaimStatus.APPROVED.value, ClaimStatus.SETTLED.value, ClaimStatus.REJECTED.value, ClaimStatus.REVOKED.value)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass(frozen=True)
class Scope:
    """The villages a dashboard covers, and the county whose time zone counts its months."""

    county: County
    villages: list[Village]
    village_id: int | None
    township_id: int | None

    @property
    def village_ids(self) -> list[int]:
        return [v.id for v in self.villages if v.id is not None]

    @property
    def timezone(self) -> str:
        return self.county.timezone

    def query(self) -> dict[str, int]:
        """The query string that names this scope again (for chart and download links)."""
        found = {"village_id": self.village_id, "township": self.township_id}
        return {k: v for k, v in found.items() if v is not None}


def visible_villages(session: Session, who: Principal) -> list[Village]:
    rows = session.scalars(select(Village).where(Village.county_id == who.county_id).order_by(Village.id)).all()
    return [v for v in rows if who.sees_village(v.id, v.county_id)]  # type: ignore[arg-type]


def scope_of(
    session: Session, who: Principal, *, village_id: int | None = None, township_id: int | None = None
) -> Scope:
    villages = visible_villages(session, who)
    if village_id is not None:
        villages = [v for v in villages if v.id == village_id]
        if not villages:
            raise VillageNotFound("No such village among yours.", village_id=village_id)
    if township_id is not None:
        villages = [v for v in villages if v.township_id == township_id]
        if not villages:
            raise VillageNotFound("No village of that township among yours.", township_id=township_id)
    county = session.get(County, who.county_id)
    assert county is not None
    return Scope(county=county, villages=villages, village_id=village_id, township_id=township_id)


# --- periods -------------------------------------------------------------------------------------------------


def months(timezone: str, now: datetime, count: int = MONTHS) -> list[str]:
    """The last `count` months (YYYY-MM, county time), oldest first, ending with this one."""
    current = pd.Timestamp(now).tz_convert(ZoneInfo(timezone)).tz_localize(None).to_period("M")
    return [str(current - i) for i in range(count - 1, -1, -1)]


def window_start(timezone: str, now: datetime, count: int = MONTHS) -> datetime:
    return reports.month_bounds(months(timezone, now, count)[0], timezone)[0]


def _month_of(column: pd.Series, timezone: str) -> pd.Series:
    return pd.to_datetime(column, utc=True).dt.tz_convert(ZoneInfo(timezone)).dt.strftime("%Y-%m")


# --- loading -------------------------------------------------------------------------------------------------

CLAIMS = [
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
]


def claims_since(session: Session, scope: Scope, since: datetime) -> pd.DataFrame:
    if not scope.village_ids:
        return pd.DataFrame(columns=CLAIMS)
    rows = (
        session.connection()
        .execute(
            select(
                Claim.id,
                Claim.household_id,
                Claim.village_id,
                Matter.code,
                Matter.name_zh,
                Matter.name_en,
                Claim.points,
                Claim.status,
                Claim.submitted_at,
                Claim.decided_at,
            )
            .join(Matter, Matter.id == Claim.matter_id)
            .where(
                Claim.village_id.in_(scope.village_ids),  # type: ignore[attr-defined]
                Claim.decided_at >= since,
            )  # type: ignore[operator]
        )
        .all()
    )
    return pd.DataFrame([tuple(r) for r in rows], columns=CLAIMS)


def household_count(session: Session, scope: Scope) -> int:
    if not scope.village_ids:
        return 0
    return int(
        session.scalar(select(func.count()).select_from(Household).where(Household.village_id.in_(scope.village_ids)))
        or 0
    )  # type: ignore[attr-defined]


# --- the figures -----------------------------------------------------------------------------------------------


def participation(session: Session, scope: Scope, now: datetime | None = None) -> pd.DataFrame:
    """month, households, participating, rate (0..1)."""
    now = now or utcnow()
    labels = months(scope.timezone, now)
    claims = claims_since(session, scope, window_start(scope.timezone, now))
    approved = claims[claims["status"].isin(APPROVED)].copy()
    approved["month"] = _month_of(approved["decided_at"], scope.timezone)
    counts = approved.groupby("month")["household_id"].nunique()
    households = household_count(session, scope)
    table = pd.DataFrame({"month": labels})
    table["households"] = households
    table["participating"] = table["month"].map(counts).fillna(0).astype("int64")
    table["rate"] = (table["participating"] / households).round(4) if households else 0.0
    return table


def participating_this_month(table: pd.DataFrame) -> int:
    return int(table["participating"].iloc[-1]) if len(table) else 0


def points_by_matter(session: Session, scope: Scope, now: datetime | None = None) -> pd.DataFrame:
    """matter_code, matter_zh, matter_en, claims, points: claims approved in the last twelve months."""
    now = now or utcnow()
    claims = claims_since(session, scope, window_start(scope.timezone, now))
    approved = claims[claims["status"].isin(APPROVED)]
    table = (
        approved.groupby(["matter_code", "matter_zh", "matter_en"], as_index=False)
        .agg(claims=("claim_id", "count"), points=("points", "sum"))
        .sort_values(["points", "matter_code"], ascending=[False, True], ignore_index=True)
    )
    return table.astype({"claims": "int64", "points": "int64"})


def on_time(session: Session, scope: Scope, now: datetime | None = None) -> pd.DataFrame:
    """month, decided, on_time, rate (None where nothing was decided): within the county's overdue hours."""
    now = now or utcnow()
    labels = months(scope.timezone, now)
    claims = claims_since(session, scope, window_start(scope.timezone, now))
    decided = claims[claims["status"].isin(DECIDED)].copy()
    decided["month"] = _month_of(decided["decided_at"], scope.timezone)
    hours = (
        pd.to_datetime(decided["decided_at"], utc=True) - pd.to_datetime(decided["submitted_at"], utc=True)
    ).dt.total_seconds() / 3600
    decided["on_time"] = hours <= scope.county.overdue_hours
    grouped = decided.groupby("month").agg(decided=("claim_id", "count"), on_time=("on_time", "sum"))
    table = pd.DataFrame({"month": labels})
    table["decided"] = table["month"].map(grouped["decided"]).fillna(0).astype("int64")
    table["on_time"] = table["month"].map(grouped["on_time"]).fillna(0).astype("int64")
    table["rate"] = [round(o / d, 4) if d else None for o, d in zip(table["on_time"], table["decided"], strict=True)]
    return table


REDEMPTION = ["partner", "kind", "vouchers", "used", "points", "value_yuan"]


def redemption(session: Session, scope: Scope, now: datetime | None = None) -> pd.DataFrame:
    """partner, kind, vouchers, used, points, value_yuan: vouchers issued in the last twelve months."""
    now = now or utcnow()
    if not scope.village_ids:
        return pd.DataFrame(columns=REDEMPTION)
    rows = (
        session.connection()
        .execute(
            select(Partner.name, Partner.kind, Voucher.status, Voucher.points, Voucher.value_fen)
            .join(Partner, Partner.id == Voucher.partner_id)
            .where(
                Voucher.village_id.in_(scope.village_ids),  # type: ignore[attr-defined]
                Voucher.created_at >= window_start(scope.timezone, now),  # type: ignore[operator]
                Voucher.status != VoucherStatus.CANCELLED.value,
            )
        )
        .all()
    )
    vouchers = pd.DataFrame([tuple(r) for r in rows], columns=["partner", "kind", "status", "points", "value_fen"])
    vouchers["used"] = vouchers["status"] == VoucherStatus.USED.value
    table = (
        vouchers.groupby(["partner", "kind"], as_index=False)
        .agg(
            vouchers=("status", "count"), used=("used", "sum"), points=("points", "sum"), value_fen=("value_fen", "sum")
        )
        .sort_values(["points", "partner"], ascending=[False, True], ignore_index=True)
    )
    table["value_yuan"] = (table["value_fen"] / 100).round(2)
    return table.astype({"vouchers": "int64", "used": "int64", "points": "int64"})[REDEMPTION]


FIGURES = {
    "participation": participation,
    "points_by_matter": points_by_matter,
    "on_time": on_time,
    "redemption": redemption,
}


def table_of(name: str, session: Session, scope: Scope, now: datetime | None = None) -> pd.DataFrame:
    return FIGURES[name](session, scope, now)


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


def to_csv(table: pd.DataFrame) -> bytes:
    return exports.csv_bytes(table)


def to_xlsx(name: str, table: pd.DataFrame) -> bytes:
    return reports.to_xlsx({name: table})
