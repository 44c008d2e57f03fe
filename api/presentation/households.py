"""A household's points (balance, past balance, statement), its printable card, and what it was told, as the API
(and the pages) show them. Whether the caller may see the household, `ledger.identity.principal` decides first."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from api import i18n
from api.schemas import BalanceAsOfOut, BalanceOut, EntryOut, StatementOut
from api.schemas.claims import HouseholdCardOut, NotificationOut
from ledger.activities import codes, render
from ledger.core import paging
from ledger.core.outbox import Notification
from ledger.core.settings import Settings
from ledger.journal import accounts, queries
from ledger.journal.models import AccountKind
from ledger.tenancy import Household, Person, Village


def balance_out(session: Session, household_id: int, as_of: datetime | None = None) -> BalanceOut | BalanceAsOfOut:
    """Settled, in notice, pending in, held, available and earned points; or (as_of) the posted balance then."""
    account = accounts.of_household(session, household_id)
    assert account.id is not None
    if as_of is not None:
        return BalanceAsOfOut(
            household_id=household_id, as_of=as_of, posted=queries.posted_as_of(session, account.id, as_of)
        )
    b = queries.balance(session, account.id)
    notice_account = accounts.of_household(session, household_id, AccountKind.NOTICE)
    assert notice_account.id is not None
    notice = queries.balance(session, notice_account.id)
    return BalanceOut(
        household_id=household_id,
        posted=b.posted,
        in_notice=notice.posted,
        pending_in=b.pending_credit + notice.pending_credit,
        held=b.pending_debit,
        available=b.available,
        earned=b.earned + notice.earned,
    )


def balances_out(session: Session, household_ids: list[int]) -> dict[int, BalanceOut]:
    """`current_balance_out` of many households, in one query (a page of the household list)."""
    found = queries.household_balances(session, household_ids)
    shown = {}
    for household_id in household_ids:
        b = found[(household_id, AccountKind.HOUSEHOLD.value)]
        notice = found[(household_id, AccountKind.NOTICE.value)]
        shown[household_id] = BalanceOut(
            household_id=household_id,
            posted=b.posted,
            in_notice=notice.posted,
            pending_in=b.pending_credit + notice.pending_credit,
            held=b.pending_debit,
            available=b.available,
            earned=b.earned + notice.earned,
        )
    return shown


def current_balance_out(session: Session, household_id: int) -> BalanceOut:
    shown = balance_out(session, household_id)
    assert isinstance(shown, BalanceOut)
    return shown


def statement_out(
    session: Session,
    household_id: int,
    *,
    limit: int = 50,
    cursor: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    reason: str | None = None,
    status: queries.Status | None = None,
) -> StatementOut:
    """Newest first; `next_cursor` names the older entries."""
    account = accounts.of_household(session, household_id)
    assert account.id is not None
    page = queries.statement(
        session, account.id, limit=limit, cursor=cursor, since=since, until=until, reason=reason, status=status
    )
    return StatementOut(
        household_id=household_id,
        entries=[EntryOut.model_validate(e, from_attributes=True) for e in page.entries],
        next_cursor=page.next_cursor,
    )


def card_svg(session: Session, keys: codes.Keys, settings: Settings, household: Household, locale: str) -> bytes:
    """The household's printable card, in the reader's language: scanning its QR code in the official console
    picks the household."""
    assert household.id is not None
    village = session.get(Village, household.village_id)
    assert village is not None
    token = codes.sign_household(keys, household_id=household.id)
    url = f"{settings.base_url.rstrip('/')}/h/{token}"
    return render.household_card_svg(
        url=url,
        household=household.name,
        house_number=(
            i18n.text(locale, "House number %(number)s", number=household.house_number)
            if household.house_number
            else ""
        ),
        village=village.name,
        code=i18n.text(locale, "Household number %(code)s", code=household.code),
        show=i18n.text(locale, "Show this card to claim points"),
    )


def card_out(session: Session, household: Household) -> HouseholdCardOut:
    """The household behind a scanned card, with its members, for entering a proxy claim."""
    members = session.scalars(
        select(Person).where(col(Person.household_id) == household.id).order_by(col(Person.id))
    ).all()
    assert household.id is not None
    return HouseholdCardOut(
        household_id=household.id,
        code=household.code,
        name=household.name,
        house_number=household.house_number,
        members=[{"person_id": m.id, "name": m.name, "head": m.is_head} for m in members],
    )


def notification_page(
    session: Session, household_id: int | None, *, cursor: str | None = None, limit: int = paging.PAGE
) -> paging.Page[NotificationOut]:
    """What the household was told, newest first, a page at a time after `cursor`."""
    query = select(Notification).where(col(Notification.household_id) == household_id)
    page = paging.by_id(session, query, col(Notification.id), cursor=cursor, limit=limit)
    return paging.Page([NotificationOut.model_validate(n, from_attributes=True) for n in page.rows], page.next_cursor)


def notifications_out(session: Session, household_id: int | None, *, limit: int = 50) -> list[NotificationOut]:
    """What the household was told, newest first."""
    rows = session.scalars(
        select(Notification)
        .where(col(Notification.household_id) == household_id)
        .order_by(col(Notification.id).desc())
        .limit(limit)
    ).all()
    return [NotificationOut.model_validate(n, from_attributes=True) for n in rows]
