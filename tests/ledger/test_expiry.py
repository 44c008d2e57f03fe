"""Points expiry (ledger/expiry.py): off by default; when on, settled points lapse N months after they settle,
oldest first, by journal transfers to the village's expiry account; households are warned 30 days before."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlmodel import col

from api.app import create_app
from ledger import expiry, jobs
from ledger.claims.rules import local
from ledger.core.base import utcnow
from ledger.core.db import unit_of_work
from ledger.core.outbox import Notification
from ledger.identity.models import Role, User
from ledger.identity.service import set_password
from ledger.journal import accounts, queries
from ledger.journal import service as journal
from ledger.journal.models import AccountKind, JournalTransaction
from ledger.journal.verify import verify
from ledger.tenancy import County, Household
from tests import factories
from tests.api.conftest import PASSWORD, bearer, make_settings, password_token
from tests.conftest import ON_POSTGRES
from tests.factories import id_of, not_none

TZ = "Asia/Shanghai"


@dataclass(frozen=True)
class Place:
    village: factories.VillageFixture
    household: int
    points: int  # the household's settled points account
    notice: int


@pytest.fixture
def place(engine: Engine) -> Place:
    with unit_of_work(engine) as session:
        village = factories.create_village(session)
        household, points = factories.create_household(session, village.village_id)
        notice = id_of(accounts.of_household(session, household, AccountKind.NOTICE))
    return Place(village, household, points, notice)


def expiry_on(engine: Engine, place: Place, months: int = 12) -> None:
    with unit_of_work(engine) as session:
        not_none(session.get(County, place.village.county_id)).points_expiry_months = months


def settle(engine: Engine, place: Place, points: int, at: datetime) -> None:
    """A claim's points approved into notice and settled into the household account at `at`."""
    with unit_of_work(engine) as session:
        journal.transfer(
            session,
            debit=place.village.issuance,
            credit=place.notice,
            amount=points,
            reason="garbage_sorting",
            actor="user:1",
            effective_at=at,
        )
        journal.transfer(
            session,
            debit=place.notice,
            credit=place.points,
            amount=points,
            reason="garbage_sorting",
            actor="system:notice",
            effective_at=at,
        )


def spend(engine: Engine, place: Place, points: int, *, pending: bool = False) -> int:
    with unit_of_work(engine) as session:
        return journal.transfer(
            session,
            debit=place.points,
            credit=place.village.penalty,
            amount=points,
            reason="voucher_hold" if pending else "voucher_used",
            actor="user:2",
            pending=pending,
        ).id


def months_ago(months: int, now: datetime | None = None) -> datetime:
    return (now or utcnow()) - timedelta(days=round(months * 30.44))


def available(engine: Engine, account_id: int) -> int:
    with unit_of_work(engine) as session:
        return queries.balance(session, account_id).available


def posted(engine: Engine, account_id: int) -> int:
    with unit_of_work(engine) as session:
        return queries.balance(session, account_id).posted


def expire(engine: Engine, now: datetime | None = None) -> int:
    with unit_of_work(engine) as session:
        return expiry.expire_due(session, now or utcnow())


def warn(engine: Engine, now: datetime | None = None) -> int:
    with unit_of_work(engine) as session:
        return expiry.warn_due(session, now or utcnow())


def told(engine: Engine, household: int, kind: str) -> list[dict[str, Any]]:
    with unit_of_work(engine) as session:
        return [
            n.payload
            for n in session.scalars(
                select(Notification)
                .where(col(Notification.household_id) == household, col(Notification.kind) == kind)
                .order_by(col(Notification.id))
            ).all()
        ]


def assert_verified(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        report = verify(session)
    assert report.ok, [str(p) for p in report.problems]


# --- the calendar --------------------------------------------------------------------------------------------


def test_add_months_keeps_the_date_or_takes_the_months_last_day() -> None:
    assert expiry.add_months(date(2025, 3, 15), 12) == date(2026, 3, 15)
    assert expiry.add_months(date(2025, 1, 31), 1) == date(2025, 2, 28)
    assert expiry.add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)
    assert expiry.add_months(date(2024, 2, 29), 12) == date(2025, 2, 28)
    assert expiry.add_months(date(2025, 11, 30), 3) == date(2026, 2, 28)
    assert expiry.add_months(date(2026, 3, 31), -1) == date(2026, 2, 28)


@pytest.mark.parametrize("timezone", [TZ, "America/New_York"])
@pytest.mark.parametrize("months", [1, 12, 13])
def test_the_cutoff_is_exactly_the_end_of_each_last_day(timezone: str, months: int) -> None:
    """Every day for three years: points of the newest date before the cut-off had their last day before today,
    points of the next date did not, and the cut-off never moves back."""
    start = datetime(2024, 1, 1, 12, tzinfo=local(utcnow(), timezone).tzinfo)
    previous = None
    for n in range(3 * 366):
        now = local(start, timezone) + timedelta(days=n)
        cut = expiry.cutoff(now, timezone, months)
        today = local(now, timezone).date()
        newest_lapsed = local(cut - timedelta(microseconds=1), timezone).date()
        assert local(cut, timezone).time().hour == 0  # a local midnight
        assert expiry.add_months(newest_lapsed, months) < today
        assert expiry.add_months(newest_lapsed + timedelta(days=1), months) >= today
        assert previous is None or cut >= previous
        previous = cut


def test_points_settled_on_a_date_are_spendable_to_the_end_of_that_date_months_later() -> None:
    settled = datetime(2025, 3, 15, 2, 0, tzinfo=local(utcnow(), TZ).tzinfo)  # 10:00 in Shanghai
    assert expiry.last_day(settled, TZ, 12) == date(2026, 3, 15)
    last_moment = datetime(2026, 3, 15, 23, 59, tzinfo=local(settled, TZ).tzinfo)
    assert settled >= expiry.cutoff(last_moment, TZ, 12)  # not lapsed on its last day
    assert settled < expiry.cutoff(last_moment + timedelta(minutes=1), TZ, 12)  # lapsed at midnight


# --- expiring ------------------------------------------------------------------------------------------------


def test_off_by_default_nothing_lapses(engine: Engine, place: Place) -> None:
    settle(engine, place, 10, months_ago(30))
    report = jobs.tick(engine)
    assert (report.expired_points_households, report.expiry_warnings) == (0, 0)
    assert available(engine, place.points) == 10
    assert posted(engine, place.village.expiry) == 0
    assert told(engine, place.household, "points_expired") == []


def test_points_older_than_the_setting_lapse_and_recent_ones_stay(engine: Engine, place: Place) -> None:
    expiry_on(engine, place, 12)
    settle(engine, place, 10, months_ago(13))
    settle(engine, place, 5, months_ago(1))
    with unit_of_work(engine) as session:
        seq_before = not_none(session.get(Household, place.household)).record_seq
    report = jobs.tick(engine)
    assert report.expired_points_households == 1 and "expire_points" not in report.skipped
    assert available(engine, place.points) == 5
    assert posted(engine, place.village.expiry) == 10
    assert told(engine, place.household, "points_expired") == [
        {"points": 10, "settled_before": local(expiry.cutoff(utcnow(), TZ, 12), TZ).date().isoformat()}
    ]
    with unit_of_work(engine) as session:
        tx = session.scalars(select(JournalTransaction).where(col(JournalTransaction.reason) == "points_expired")).one()
        assert tx.meta is not None
        assert tx.actor == "system:expiry" and tx.meta["months"] == 12 and "cutoff" in tx.meta
        assert not_none(session.get(Household, place.household)).record_seq == seq_before + 1
    # a second run, and a tick, find nothing more
    assert expire(engine) == 0
    assert jobs.tick(engine).expired_points_households == 0
    assert available(engine, place.points) == 5
    assert_verified(engine)


def test_spending_takes_the_oldest_points_first(engine: Engine, place: Place) -> None:
    expiry_on(engine, place, 12)
    settle(engine, place, 10, months_ago(14))
    spend(engine, place, 6)  # from the 10 old points: 4 of them are left
    settle(engine, place, 8, months_ago(2))
    assert expire(engine) == 1
    assert available(engine, place.points) == 8  # the recent points, untouched
    assert posted(engine, place.village.expiry) == 4
    assert expire(engine) == 0
    assert_verified(engine)


def test_spending_more_than_the_old_points_leaves_nothing_to_lapse(engine: Engine, place: Place) -> None:
    expiry_on(engine, place, 12)
    settle(engine, place, 10, months_ago(14))
    settle(engine, place, 8, months_ago(2))
    spend(engine, place, 12)  # all 10 old points, and 2 recent ones
    assert expire(engine) == 0
    assert available(engine, place.points) == 6
    assert posted(engine, place.village.expiry) == 0


def test_earlier_expiries_and_deductions_count_as_used(engine: Engine, place: Place) -> None:
    expiry_on(engine, place, 12)
    settle(engine, place, 10, months_ago(25))
    settle(engine, place, 7, months_ago(13))
    settle(engine, place, 3, months_ago(1))
    with unit_of_work(engine) as session:  # a deduction takes what the balance allows
        journal.take_available(
            session, debit=place.points, credit=place.village.penalty, amount=2, reason="littering", actor="user:9"
        )
    assert expire(engine) == 1
    assert posted(engine, place.village.expiry) == 15  # 17 old points less the 2 the deduction took
    assert available(engine, place.points) == 3
    assert expire(engine) == 0


def test_points_held_by_a_pending_hold_are_not_expired(engine: Engine, place: Place) -> None:
    expiry_on(engine, place, 12)
    settle(engine, place, 10, months_ago(13))
    settle(engine, place, 5, months_ago(1))
    hold = spend(engine, place, 4, pending=True)  # a voucher holds 4 of the old points
    assert available(engine, place.points) == 11
    assert expire(engine) == 1
    assert posted(engine, place.village.expiry) == 6
    with unit_of_work(engine) as session:
        b = queries.balance(session, place.points)
    assert (b.posted, b.pending_debit, b.available) == (9, 4, 5)  # the hold is intact, the recent 5 spendable
    assert expire(engine) == 0
    with unit_of_work(engine) as session:  # the voucher is cancelled: what it held is old, and lapses
        journal.void_pending(session, pending_id=hold, actor="user:2")
    assert expire(engine) == 1
    assert available(engine, place.points) == 5
    assert posted(engine, place.village.expiry) == 10
    assert_verified(engine)


def test_a_used_hold_was_spending(engine: Engine, place: Place) -> None:
    expiry_on(engine, place, 12)
    settle(engine, place, 10, months_ago(13))
    settle(engine, place, 5, months_ago(1))
    hold = spend(engine, place, 4, pending=True)
    with unit_of_work(engine) as session:
        journal.post_pending(session, pending_id=hold, actor="user:2")
    assert expire(engine) == 1
    assert posted(engine, place.village.expiry) == 6
    assert available(engine, place.points) == 5
    assert expire(engine) == 0


@pytest.mark.skipif(not ON_POSTGRES, reason="a second writer during the step: SQLite serialises writers")
def test_a_spend_committed_while_the_step_runs_is_counted(
    engine: Engine, place: Place, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The step reads every household first and each one again under the journal's lock: a spend committed in
    between takes the oldest points, so fewer lapse."""
    expiry_on(engine, place, 12)
    settle(engine, place, 10, months_ago(13))
    settle(engine, place, 5, months_ago(1))
    read = expiry._standings
    calls: list[Any] = []

    def read_then_spend(*args: Any, **kwargs: Any) -> Any:
        found = read(*args, **kwargs)
        if not calls:
            spend(engine, place, 4)  # another connection, committed before the step locks anything
        calls.append(found)
        return found

    monkeypatch.setattr(expiry, "_standings", read_then_spend)
    assert expire(engine) == 1
    assert calls[0][0].due == 10 and calls[1][0].due == 6
    assert (posted(engine, place.village.expiry), available(engine, place.points)) == (6, 5)


def test_only_counties_with_expiry_on_and_only_their_households(engine: Engine, place: Place) -> None:
    with unit_of_work(engine) as session:
        other = factories.create_village(session)
        other_household, other_points = factories.create_household(session, other.village_id)
    other_place = Place(other, other_household, other_points, 0)
    settle(engine, place, 10, months_ago(13))
    with unit_of_work(engine) as session:
        notice = id_of(accounts.of_household(session, other_household, AccountKind.NOTICE))
    settle(engine, Place(other, other_household, other_points, notice), 10, months_ago(13))
    expiry_on(engine, other_place, 24)
    assert expire(engine) == 0  # 13 months is not 24; the first county has expiry off
    expiry_on(engine, other_place, 12)
    assert expire(engine) == 1
    assert (available(engine, place.points), available(engine, other_points)) == (10, 0)


def test_a_reversed_expiry_gives_the_points_a_fresh_start(engine: Engine, place: Place) -> None:
    expiry_on(engine, place, 12)
    settle(engine, place, 10, months_ago(13))
    assert expire(engine) == 1
    with unit_of_work(engine) as session:
        tx = session.scalars(select(JournalTransaction).where(col(JournalTransaction.reason) == "points_expired")).one()
        journal.reverse(session, transaction_id=id_of(tx), actor="user:admin", reason="expiry_undone")
    assert expire(engine) == 0
    assert available(engine, place.points) == 10
    assert expire(engine, utcnow() + timedelta(days=370)) == 1  # a year after the reversal they lapse
    assert available(engine, place.points) == 0
    assert_verified(engine)


# --- warning -------------------------------------------------------------------------------------------------


def test_a_household_is_warned_once_thirty_days_before(engine: Engine, place: Place) -> None:
    expiry_on(engine, place, 12)
    now = utcnow()
    first = now - timedelta(days=365 - 10)  # lapses in about 10 days
    settle(engine, place, 7, first)
    settle(engine, place, 4, now - timedelta(days=200))  # lapses in about 165 days: not yet
    report = jobs.tick(engine, now=now)
    assert (report.expired_points_households, report.expiry_warnings) == (0, 1)
    day = expiry.last_day(first, TZ, 12).isoformat()
    assert told(engine, place.household, "points_expiring") == [
        {"points": 7, "first_day": day, "last_day": day, "settled_through": first.isoformat()}
    ]
    assert warn(engine, now) == 0
    assert warn(engine, now + timedelta(days=1)) == 0
    spend(engine, place, 2)  # less to lapse: no new warning
    assert warn(engine, now + timedelta(days=2)) == 0
    second = now - timedelta(days=365 - 20)  # newer points come within 30 days: warned again, for all of them
    settle(engine, place, 3, second)
    assert warn(engine, now) == 1
    assert told(engine, place.household, "points_expiring")[-1] == {
        "points": 8,
        "first_day": day,
        "last_day": expiry.last_day(second, TZ, 12).isoformat(),
        "settled_through": second.isoformat(),
    }
    assert warn(engine, now) == 0
    assert available(engine, place.points) == 12  # a warning moves nothing
    assert_verified(engine)


def test_the_warning_names_the_oldest_points_not_used_up(engine: Engine, place: Place) -> None:
    expiry_on(engine, place, 12)
    now = utcnow()
    first, second = now - timedelta(days=355), now - timedelta(days=345)
    settle(engine, place, 7, first)
    settle(engine, place, 3, second)
    settle(engine, place, 4, now - timedelta(days=200))
    spend(engine, place, 8)  # all of the first 7, and 1 of the next 3
    assert warn(engine, now) == 1
    assert told(engine, place.household, "points_expiring") == [
        {
            "points": 2,
            "first_day": expiry.last_day(second, TZ, 12).isoformat(),
            "last_day": expiry.last_day(second, TZ, 12).isoformat(),
            "settled_through": second.isoformat(),
        }
    ]
    assert expire(engine, now + timedelta(days=31)) == 1  # as told: 2 lapse, the 4 recent ones stay
    assert (posted(engine, place.village.expiry), available(engine, place.points)) == (2, 4)


def test_points_already_lapsed_are_expired_not_warned_about(engine: Engine, place: Place) -> None:
    expiry_on(engine, place, 12)
    settle(engine, place, 5, months_ago(13))
    assert warn(engine) == 0
    report = jobs.tick(engine)
    assert (report.expired_points_households, report.expiry_warnings) == (1, 0)
    assert told(engine, place.household, "points_expiring") == []


def test_no_warning_when_the_points_were_spent(engine: Engine, place: Place) -> None:
    expiry_on(engine, place, 12)
    settle(engine, place, 5, utcnow() - timedelta(days=350))
    spend(engine, place, 5)
    assert warn(engine) == 0
    assert expire(engine, utcnow() + timedelta(days=30)) == 0


# --- the county setting --------------------------------------------------------------------------------------


def test_the_county_admin_turns_expiry_on_within_limits(
    engine: Engine, place: Place, tmp_path: Path, database_url: str
) -> None:
    with unit_of_work(engine) as session:
        for username, role in (("admin", Role.COUNTY_ADMIN), ("official", Role.OFFICIAL)):
            user = User(role=role, county_id=place.village.county_id, username=username, display_name=username)
            set_password(user, PASSWORD)
            session.add(user)
    with TestClient(create_app(make_settings(tmp_path, database_url), engine=engine)) as client:
        admin = bearer(password_token(client, "admin"))
        assert client.get("/api/v1/county/policy", headers=admin).json()["points_expiry_months"] == 0
        response = client.patch("/api/v1/county/policy", json={"points_expiry_months": 12}, headers=admin)
        assert response.status_code == 200 and response.json()["points_expiry_months"] == 12
        for bad in (-1, 121, "twelve", 1.5, None):
            response = client.patch("/api/v1/county/policy", json={"points_expiry_months": bad}, headers=admin)
            if bad is None:  # nothing to change
                assert response.status_code == 200 and response.json()["points_expiry_months"] == 12
                continue
            assert response.status_code == 422, bad
            assert response.json()["code"] == "invalid_request"
        official = bearer(password_token(client, "official"))
        assert (
            client.patch("/api/v1/county/policy", json={"points_expiry_months": 0}, headers=official).status_code == 403
        )
        response = client.patch("/api/v1/county/policy", json={"points_expiry_months": 0}, headers=admin)
        assert response.json()["points_expiry_months"] == 0
