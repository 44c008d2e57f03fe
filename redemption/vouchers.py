"""Vouchers and health-check bookings: points held when redeemed, posted to the partner when used, given back
when cancelled, expired or missed.

One redemption, in order (one unit of work): the Idempotency-Key; the household row locked (its per-period limit
is counted under that lock); the offer's checks; the stock taken with one conditional update (then the slot, for
a health check); the points held by a **pending** journal transfer from the household's account to the partner's
clearing account of its village; the voucher with its code, PIN and QR key; an `issued` event naming the hold.

Using it locks the voucher row first, so of many cashiers pressing at once exactly one finds it active; the
journal's one-resolution-per-pending rule stands behind that. Every later change locks in the same order —
voucher, offer, slot, then the village's chain head (inside the journal) — so no two of them wait on each other.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

from sqlalchemy import (
    JSON,
    Connection,
    DateTime,
    bindparam,
    exists,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlmodel import Session, col

from ledger.claims.rules import period_bounds
from ledger.core import failures, idempotency, outbox
from ledger.core.base import as_utc, row_id, table_of, utcnow
from ledger.core.errors import Conflict, Forbidden, Invalid, NotFound
from ledger.core.idempotency import Outcome
from ledger.core.outbox import Notification
from ledger.identity.models import Partner, PartnerVillage, Role
from ledger.identity.principal import Principal
from ledger.journal import accounts
from ledger.journal import service as journal
from ledger.journal.errors import AccountNotFound
from ledger.journal.models import Account, AccountKind
from ledger.tenancy import County, Household, Village, refuse_closed
from redemption import access, offers, webhooks
from redemption.models import (
    HealthSlot,
    LimitPeriod,
    Offer,
    OfferKind,
    OfferVillage,
    Voucher,
    VoucherEvent,
    VoucherEventKind,
    VoucherStatus,
    WebhookDelivery,
)
from scoring import ratings

VOUCHER = table_of(Voucher)
SLOT = table_of(HealthSlot)
CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I: read aloud and typed by hand
CODE_LENGTH = 16  # 80 bits
QR_PREFIX = "SZV1"
MAX_PIN_FAILURES = 5
MAX_QUANTITY = 10
BOOKING_GRACE = timedelta(days=1)  # a clinic has this long after the slot ends to mark attendance
EARLY_ARRIVAL = timedelta(hours=4)  # and may mark it attended from this long before the slot starts
STEP_EXPIRE = "expire_vouchers"  # the name of the scheduled step (redemption/schedule.py)


class VoucherNotFound(NotFound):
    code = "voucher_not_found"


class SlotNotFound(NotFound):
    code = "slot_not_found"


class SlotFull(Conflict):
    code = "slot_full"


class SlotPassed(Conflict):
    code = "slot_passed"


class WrongOfferKind(Invalid):
    code = "wrong_offer_kind"


class ProofRequired(Invalid):
    code = "pin_or_qr_required"


class WrongPin(Forbidden):
    code = "wrong_pin"


class PinLocked(Conflict):
    code = "voucher_pin_locked"


class AlreadyUsed(Conflict):
    code = "voucher_already_used"


class VoucherExpired(Conflict):
    code = "voucher_expired"


class VoucherClosed(Conflict):
    """Cancelled, or a booking that was missed."""

    code = "voucher_closed"


class AmountTooLarge(Invalid):
    code = "amount_exceeds_value"


class TooLateToCancel(Conflict):
    code = "too_late_to_cancel"


class TooEarly(Conflict):
    code = "booking_not_started"


def qr_text(voucher: Voucher | Seen) -> str:
    """What the voucher's QR code says: the code and a key that stands for the PIN when scanned."""
    return f"{QR_PREFIX}:{voucher.code}:{voucher.qr_key}"


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normal_code(code: str) -> str:
    """Codes are typed by hand: spaces and dashes are ignored, letters may be lower case."""
    return code.replace(" ", "").replace("-", "").upper()


# --- what an operation answers with --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Step:
    """One event of a voucher's history, as its answer shows it."""

    event: str
    at: datetime
    points: int
    value_fen: int
    transaction_id: int
    actor: str


@dataclass(frozen=True, slots=True)
class SlotSeen:
    id: int
    offer_id: int
    starts_at: datetime
    ends_at: datetime
    place: str
    capacity: int
    booked: int


@dataclass(frozen=True, slots=True)
class Seen:
    """A voucher as it stands after redeeming or using it, with all its answer shows (the offer's title, the
    partner's name, the slot, the history), read in the operation's unit of work: the answer is built after the
    commit, with no lock held and no database read."""

    id: int
    code: str
    pin: str
    qr_key: str
    kind: str
    county_id: int
    village_id: int
    household_id: int
    offer_id: int
    partner_id: int
    slot_id: int | None
    quantity: int
    points: int
    value_fen: int
    remaining_points: int
    remaining_fen: int
    status: str
    hold_id: int | None
    expires_at: datetime
    created_at: datetime
    created_by: str
    closed_at: datetime | None
    closed_by: str | None
    pin_failures: int
    offer_title: str
    partner_name: str
    no_show_penalty_points: int
    slot: SlotSeen | None
    history: tuple[Step, ...]


OFFER = table_of(Offer)
EVENT = table_of(VoucherEvent)
PARTNER = table_of(Partner)
HOUSEHOLD = table_of(Household)
COUNTY = table_of(County)
ACCOUNT = table_of(Account)
PARTNER_VILLAGE = table_of(PartnerVillage)
OFFER_VILLAGE = table_of(OfferVillage)
NOTIFICATION = table_of(Notification)
WEBHOOK = table_of(WebhookDelivery)
_SEEN_COLUMNS = (
    *(VOUCHER.c[name] for name in Seen.__slots__ if name in VOUCHER.c),
    OFFER.c.title.label("offer_title"),
    PARTNER.c.name.label("partner_name"),
    OFFER.c.no_show_penalty_points,
)
_SEEN_FROM = VOUCHER.join(OFFER, OFFER.c.id == VOUCHER.c.offer_id).join(PARTNER, PARTNER.c.id == VOUCHER.c.partner_id)
# A voucher with its offer's title and its partner's name; locked (FOR UPDATE OF voucher only) to be used
_LOCK_BY_CODE = (
    select(*_SEEN_COLUMNS)
    .select_from(_SEEN_FROM)
    .where(VOUCHER.c.code == bindparam("code"))
    .with_for_update(of=VOUCHER)
)
_BY_ID = select(*_SEEN_COLUMNS).select_from(_SEEN_FROM).where(VOUCHER.c.id == bindparam("voucher"))
_HISTORY = (
    select(EVENT.c.event, EVENT.c.at, EVENT.c.points, EVENT.c.value_fen, EVENT.c.transaction_id, EVENT.c.actor)
    .where(EVENT.c.voucher_id == bindparam("voucher"))
    .order_by(EVENT.c.id)
)
_SLOT = select(
    SLOT.c.id, SLOT.c.offer_id, SLOT.c.starts_at, SLOT.c.ends_at, SLOT.c.place, SLOT.c.capacity, SLOT.c.booked
)


def _seen(conn: Connection, row: Any, history: tuple[Step, ...] | None = None) -> Seen:
    """A `Seen` of a row of `_SEEN_COLUMNS`, reading its history (unless given) and its slot."""
    if history is None:
        history = tuple(Step(*step) for step in conn.execute(_HISTORY, {"voucher": row.id}))
    slot = None
    if row.slot_id is not None:
        slot = SlotSeen(*conn.execute(_SLOT.where(SLOT.c.id == row.slot_id)).one())
    return Seen(**{name: getattr(row, name) for name in _ROW_FIELDS}, slot=slot, history=history)


_ROW_FIELDS = tuple(name for name in Seen.__slots__ if name not in ("slot", "history"))


def seen_by_id(session: Session, voucher_id: int) -> Seen | None:
    row = session.connection().execute(_BY_ID, {"voucher": voucher_id}).first()
    return None if row is None else _seen(session.connection(), row)


# --- redeeming -----------------------------------------------------------------------------------------------

# The household, locked first (its per-period limit is counted under that lock), with its county's time zone
_LOCK_HOUSEHOLD = (
    select(HOUSEHOLD.c.id, HOUSEHOLD.c.county_id, HOUSEHOLD.c.village_id, HOUSEHOLD.c.closed_at, COUNTY.c.timezone)
    .join(COUNTY, COUNTY.c.id == HOUSEHOLD.c.county_id)
    .where(HOUSEHOLD.c.id == bindparam("household"))
    .with_for_update(of=HOUSEHOLD)
)
# The offer, its partner, whether both serve the household's village, and the two accounts of the hold
_OFFER_FOR = (
    select(
        OFFER,
        PARTNER.c.name.label("partner_name"),
        or_(
            ~exists().where(PARTNER_VILLAGE.c.partner_id == OFFER.c.partner_id),
            exists().where(
                PARTNER_VILLAGE.c.partner_id == OFFER.c.partner_id, PARTNER_VILLAGE.c.village_id == bindparam("village")
            ),
        ).label("partner_serves"),
        or_(
            ~exists().where(OFFER_VILLAGE.c.offer_id == OFFER.c.id),
            exists().where(OFFER_VILLAGE.c.offer_id == OFFER.c.id, OFFER_VILLAGE.c.village_id == bindparam("village")),
        ).label("offer_listed"),
        select(ACCOUNT.c.id)
        .where(ACCOUNT.c.household_id == bindparam("household"), ACCOUNT.c.kind == AccountKind.HOUSEHOLD)
        .scalar_subquery()
        .label("own_account"),
        select(ACCOUNT.c.id)
        .where(
            ACCOUNT.c.partner_id == OFFER.c.partner_id,
            ACCOUNT.c.village_id == bindparam("village"),
            ACCOUNT.c.kind == AccountKind.PARTNER_CLEARING,
        )
        .scalar_subquery()
        .label("clearing_account"),
    )
    .join(PARTNER, PARTNER.c.id == OFFER.c.partner_id)
    .where(OFFER.c.id == bindparam("offer"))
)
_INSERT_VOUCHER = insert(VOUCHER).returning(VOUCHER.c.id)
_INSERT_EVENT = insert(EVENT)
# After the hold, on PostgreSQL: the voucher, its `issued` event and the key's result in one statement (one round
# trip while the village's chain head is locked)
_PG_ISSUE = text("""
WITH new_voucher AS (
    INSERT INTO voucher (code, pin, qr_key, county_id, village_id, household_id, offer_id, partner_id, kind, slot_id,
                         quantity, points, value_fen, remaining_points, remaining_fen, status, hold_id, expires_at,
                         created_at, created_by, pin_failures)
    VALUES (:code, :pin, :qr_key, :county_id, :village_id, :household_id, :offer_id, :partner_id, :kind, :slot_id,
            :quantity, :points, :value_fen, :remaining_points, :remaining_fen, :status, :hold_id, :expires_at,
            :created_at, :created_by, 0)
    RETURNING id
), new_event AS (
    INSERT INTO voucher_event (voucher_id, county_id, village_id, partner_id, event, transaction_id, points, value_fen,
                               actor, at)
    SELECT id, :county_id, :village_id, :partner_id, 'issued', :hold_id, :points, :value_fen, :created_by, :at
    FROM new_voucher
), settled_key AS (
    UPDATE idempotency_record SET result = json_build_object('voucher', (SELECT id FROM new_voucher))
    WHERE scope = :key_scope AND key = :key
)
SELECT id FROM new_voucher
""").bindparams(
    bindparam("expires_at", type_=DateTime(timezone=True)),
    bindparam("created_at", type_=DateTime(timezone=True)),
    bindparam("at", type_=DateTime(timezone=True)),
)


def redeem(
    session: Session,
    who: Principal,
    *,
    offer_id: int,
    quantity: int = 1,
    slot_id: int | None = None,
    idempotency_key: str | None = None,
    now: datetime | None = None,
) -> Outcome[Seen]:
    """A member of a household redeems its points for an offer; a replay of the same key gives the first voucher.

    The key is reserved first and its result is stored in the same statement as the voucher (on PostgreSQL), not
    through `idempotency.run`, which would add a round trip while the village's chain head is locked."""
    if who.role != Role.VILLAGER or who.household_id is None:
        raise Forbidden("A member of the household redeems its points.")
    now = now or utcnow()
    request = {"op": "redeem", "offer": offer_id, "quantity": quantity, "slot": slot_id}
    key, earlier = idempotency.begin(session, actor=who.actor, key=idempotency_key, request=request)
    if earlier is not None:
        voucher_id = (earlier.result or {}).get("voucher")
        replay = seen_by_id(session, voucher_id) if isinstance(voucher_id, int) else None
        if replay is None:
            raise idempotency.IdempotencyConflict("This Idempotency-Key was already used for another kind of request.")
        return Outcome(replay, replayed=True)
    conn = session.connection()
    household = conn.execute(_LOCK_HOUSEHOLD, {"household": who.household_id}).one()
    refuse_closed(household)
    offer = conn.execute(
        _OFFER_FOR, {"offer": offer_id, "village": household.village_id, "household": household.id}
    ).first()
    if offer is None or offer.county_id != household.county_id:
        raise offers.OfferNotFound("No such offer.", offer_id=offer_id)
    if offer.kind == OfferKind.LOAN:
        raise WrongOfferKind("A loan is applied for, not redeemed: use /api/v1/loan-applications.", field="offer_id")
    if not 1 <= quantity <= MAX_QUANTITY or (offer.kind == OfferKind.HEALTH_CHECK and quantity != 1):
        raise Invalid(f"quantity is 1 to {MAX_QUANTITY} (1 for a health check).", field="quantity")
    if (offer.kind == OfferKind.HEALTH_CHECK) != (slot_id is not None):
        raise Invalid("A health check is booked into a slot (slot_id); a voucher has none.", field="slot_id")
    offers.refuse_unless_open(offer, household.county_id, served=offer.partner_serves and offer.offer_listed, now=now)
    if offer.min_grade is not None:
        offers.check_grade(offer, ratings.current(session, household.id, now=now).grade)
    period = (
        None if offer.limit_period == LimitPeriod.EVER else period_bounds(now, household.timezone, offer.limit_period)
    )
    taken = offers.count_in(
        session,
        Voucher,
        household_id=household.id,
        offer_id=offer.id,
        period=period,
        quantity=Voucher.quantity,
        excluded=(VoucherStatus.CANCELLED,),
    )
    offers.check_limit(offer, taken, quantity)
    offers.take_stock(session, offer, quantity)
    assert offer.cost_points is not None
    assert offer.value_fen is not None
    slot = None
    if slot_id is not None:
        slot = _book_slot(session, offer.id, slot_id, now)
        expires_at = as_utc(slot.ends_at) + BOOKING_GRACE
    else:
        expires_at = min(now + timedelta(days=offer.voucher_days), as_utc(offer.valid_until))
    if offer.own_account is None:
        raise AccountNotFound("This household has no household account.", household_id=household.id)
    clearing = offer.clearing_account
    if clearing is None:  # the partner's first voucher in this village
        partner, village = session.get(Partner, offer.partner_id), session.get(Village, household.village_id)
        assert partner is not None
        assert village is not None
        clearing = offers.clearing_account(session, partner, village)
    points, value = offer.cost_points * quantity, offer.value_fen * quantity
    hold = journal.transfer(
        session,
        debit=offer.own_account,
        credit=clearing,
        amount=points,
        reason="voucher_hold",
        actor=who.actor,
        pending=True,
        meta={"offer": offer.id, "slot": slot_id},
    )
    row: dict[str, Any] = {
        "code": new_code(),
        "pin": f"{secrets.randbelow(10**6):06d}",
        "qr_key": secrets.token_urlsafe(24)[:32],
        "county_id": household.county_id,
        "village_id": household.village_id,
        "household_id": household.id,
        "offer_id": offer.id,
        "partner_id": offer.partner_id,
        "kind": offer.kind,
        "slot_id": slot_id,
        "quantity": quantity,
        "points": points,
        "value_fen": value,
        "remaining_points": points,
        "remaining_fen": value,
        "status": VoucherStatus.ACTIVE.value,
        "hold_id": hold.id,
        "expires_at": expires_at,
        "created_at": now,
        "created_by": who.actor,
    }
    issued = Step(VoucherEventKind.ISSUED.value, hold.created_at, points, value, hold.id, who.actor)
    voucher_id = _write_issue(session, row, issued, key)
    voucher = Seen(
        id=voucher_id,
        **row,
        closed_at=None,
        closed_by=None,
        pin_failures=0,
        offer_title=offer.title,
        partner_name=offer.partner_name,
        no_show_penalty_points=offer.no_show_penalty_points,
        slot=None if slot is None else SlotSeen(*(getattr(slot, f) for f in SlotSeen.__slots__)),
        history=(issued,),
    )
    if voucher.kind == OfferKind.HEALTH_CHECK:
        _tell_partner(session, voucher, "booking.created")
    return Outcome(voucher)


def _write_issue(session: Session, row: dict[str, Any], issued: Step, key: idempotency.Key | None) -> int:
    """Write the voucher, its `issued` event and the key's result; returns the voucher's id."""
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        return int(
            conn.execute(
                _PG_ISSUE,
                {**row, "at": issued.at, "key_scope": key.scope if key else None, "key": key.key if key else None},
            ).scalar_one()
        )
    voucher_id = int(conn.execute(_INSERT_VOUCHER, {**row, "pin_failures": 0}).scalar_one())
    conn.execute(_INSERT_EVENT, _event_row(voucher_id, SimpleNamespace(**row), issued))
    idempotency.record_result(session, key, {"voucher": voucher_id})
    return voucher_id


def _event_row(voucher_id: int, place: Any, step: Step) -> dict[str, Any]:
    """The row of a voucher's event; `place` (a row, a `Seen`) gives its county, village and partner."""
    return {
        "voucher_id": voucher_id,
        "county_id": place.county_id,
        "village_id": place.village_id,
        "partner_id": place.partner_id,
        "event": step.event,
        "transaction_id": step.transaction_id,
        "points": step.points,
        "value_fen": step.value_fen,
        "actor": step.actor,
        "at": step.at,
    }


def _book_slot(session: Session, offer_id: int, slot_id: int, now: datetime) -> SlotSeen:
    """Take a place in the slot (locked), as the booking's answer shows it."""
    conn = session.connection()
    slot = conn.execute(_SLOT.where(SLOT.c.id == slot_id).with_for_update()).first()
    if slot is None or slot.offer_id != offer_id:
        raise SlotNotFound("No such slot of this health check.", slot_id=slot_id)
    if as_utc(slot.starts_at) <= now:
        raise SlotPassed("This slot has already begun.", slot_id=slot_id)
    booked = conn.execute(_BOOK, {"slot": slot_id}).first()
    if booked is None:
        raise SlotFull("This slot is fully booked.", slot_id=slot_id)
    return replace(SlotSeen(*slot), booked=booked.booked)


_BOOK = (
    update(SLOT)
    .where(SLOT.c.id == bindparam("slot"), SLOT.c.booked < SLOT.c.capacity)
    .values(booked=SLOT.c.booked + 1)
    .returning(SLOT.c.booked)
)


# --- using ---------------------------------------------------------------------------------------------------


def consume(
    session: Session,
    who: Principal,
    *,
    code: str,
    pin: str | None = None,
    qr: str | None = None,
    amount_fen: int | None = None,
    now: datetime | None = None,
) -> Seen:
    """A merchant or clinic uses a voucher of its own, proven by the household's PIN or the scanned QR code.
    Without `amount_fen` (or with the whole remaining value) the hold is posted; with less, that part is paid
    and the rest stays held on the voucher, usable until it is used up or expires (`rest_points`)."""
    access.require_cashier(who)
    voucher = access.usable_voucher(who, _locked_seen(session, code), code)
    _check_proof(voucher, pin=pin, qr=qr)
    now = now or utcnow()
    _check_usable(session, voucher, now)
    if amount_fen is not None:
        if voucher.kind != OfferKind.VOUCHER:
            raise Invalid("A health check is used whole.", field="amount")
        if amount_fen <= 0 or amount_fen > voucher.remaining_fen:
            raise AmountTooLarge(
                f"The voucher has {voucher.remaining_fen / 100:.2f} yuan left.",
                field="amount",
                remaining=voucher.remaining_fen / 100,
            )
    return _use(session, voucher, who.actor, amount_fen, now)


def attended(session: Session, who: Principal, *, code: str, now: datetime | None = None) -> Seen:
    """The clinic marks a booking attended: the hold is posted, as when a voucher is used. Not before the day of
    the slot (someone may come a little early, not a week early)."""
    access.require_clinic(who, "A clinic manages its bookings.")
    voucher = access.own_booking(who, _locked_seen(session, code), code)
    now = now or utcnow()
    _check_usable(session, voucher, now)
    assert voucher.slot is not None
    if now < as_utc(voucher.slot.starts_at) - EARLY_ARRIVAL:
        raise TooEarly(
            "A booking is marked attended on the day of its slot.",
            voucher_code=voucher.code,
            starts_at=as_utc(voucher.slot.starts_at).isoformat(),
        )
    return _use(session, voucher, who.actor, None, now)


def rest_points(voucher: Voucher | Seen, rest_fen: int) -> int:
    """The points that stand for `rest_fen` of a voucher's value: its points in proportion to its face value,
    rounded half up, and at least one while any value is left, so the rest of a part-used voucher is always held
    (and goes back to the household if it expires). Computed from the voucher's totals, not step by step, so
    many small uses pay the partner exactly what one use of the same value would."""
    if rest_fen <= 0:
        return 0
    exact = (2 * voucher.points * rest_fen + voucher.value_fen) // (2 * voucher.value_fen)
    return min(max(1, exact), voucher.remaining_points)


def _use(session: Session, voucher: Seen, actor: str, amount_fen: int | None, now: datetime) -> Seen:
    """Post the hold (or pay a part and hold the rest again), then write the voucher's new state, its `consumed`
    event, the household's notification and the partner's webhook: in one statement on PostgreSQL, the one
    round trip made between the journal's write and the commit."""
    assert voucher.hold_id is not None
    value = amount_fen if amount_fen is not None else voucher.remaining_fen
    rest_fen = voucher.remaining_fen - value
    rest = rest_points(voucher, rest_fen)
    points = voucher.remaining_points - rest
    status, closed_at, closed_by, hold_id = voucher.status, voucher.closed_at, voucher.closed_by, voucher.hold_id
    at = None
    if rest_fen == 0:  # used up: the hold is posted
        tx = journal.post_pending(session, pending_id=voucher.hold_id, actor=actor, reason="voucher_used")
        status, closed_at, closed_by = VoucherStatus.USED.value, tx.created_at, actor
    elif points == 0:  # too small a part to move a point: the hold stands as it is, and the event names it
        tx, at = journal.get_transaction(session, voucher.hold_id), now
    else:  # release the hold, pay the part, hold the rest again
        held = journal.get_transaction(session, voucher.hold_id)
        (debit, _), (credit, _) = sorted(((leg.account_id, leg.amount) for leg in held.postings), key=lambda x: x[1])
        journal.void_pending(session, pending_id=voucher.hold_id, actor=actor, reason="voucher_part_used")
        tx = journal.transfer(
            session,
            debit=debit,
            credit=credit,
            amount=points,
            reason="voucher_used",
            actor=actor,
            meta={"voucher": voucher.code},
        )
        held_again = journal.transfer(
            session,
            debit=debit,
            credit=credit,
            amount=rest,
            reason="voucher_hold",
            actor=actor,
            pending=True,
            meta={"voucher": voucher.code},
        )
        hold_id = held_again.id
    step = Step(VoucherEventKind.CONSUMED.value, at or tx.created_at, points, value, tx.id, actor)
    after = replace(
        voucher,
        status=status,
        closed_at=closed_at,
        closed_by=closed_by,
        hold_id=hold_id,
        remaining_points=rest,
        remaining_fen=rest_fen,
        history=(*voucher.history, step),
    )
    note = outbox.notification_row(
        county_id=after.county_id,
        household_id=after.household_id,
        kind="voucher_used",
        code=after.code,
        points=points,
        value_yuan=value / 100,
        where=after.partner_name,
        remaining_yuan=after.remaining_fen / 100,
    )
    hook = webhooks.delivery_row(
        partner_id=after.partner_id,
        county_id=after.county_id,
        event="booking.attended" if after.kind == OfferKind.HEALTH_CHECK else "voucher.consumed",
        data=_partner_data(after, value_fen=value, points=points),
    )
    _write_use(session.connection(), after, step, note, hook)
    return after


_USE_VOUCHER = (
    update(VOUCHER)
    .where(VOUCHER.c.id == bindparam("v_id"))
    .values(
        status=bindparam("v_status"),
        closed_at=bindparam("v_closed_at"),
        closed_by=bindparam("v_closed_by"),
        hold_id=bindparam("v_hold_id"),
        remaining_points=bindparam("v_remaining_points"),
        remaining_fen=bindparam("v_remaining_fen"),
    )
)
_INSERT_NOTIFICATION = insert(NOTIFICATION)
_INSERT_WEBHOOK = insert(WEBHOOK)
_PG_USE = text("""
WITH used AS (
    UPDATE voucher SET status = :v_status, closed_at = :v_closed_at, closed_by = :v_closed_by, hold_id = :v_hold_id,
                       remaining_points = :v_remaining_points, remaining_fen = :v_remaining_fen
    WHERE id = :v_id
), new_event AS (
    INSERT INTO voucher_event (voucher_id, county_id, village_id, partner_id, event, transaction_id, points, value_fen,
                               actor, at)
    VALUES (:v_id, :county_id, :village_id, :partner_id, :event, :transaction_id, :points, :value_fen, :actor, :at)
), new_notification AS (
    INSERT INTO notification (county_id, household_id, kind, payload, created_at, attempts, next_attempt_at)
    VALUES (:county_id, :household_id, :n_kind, :n_payload, :n_created_at, 0, :n_created_at)
)
INSERT INTO webhook_delivery (id, partner_id, county_id, event, payload, created_at, attempts, next_attempt_at)
VALUES (:w_id, :partner_id, :county_id, :w_event, :w_payload, :w_created_at, 0, :w_created_at)
""").bindparams(
    bindparam("v_closed_at", type_=DateTime(timezone=True)),
    bindparam("at", type_=DateTime(timezone=True)),
    bindparam("n_created_at", type_=DateTime(timezone=True)),
    bindparam("w_created_at", type_=DateTime(timezone=True)),
    bindparam("n_payload", type_=JSON),
    bindparam("w_payload", type_=JSON),
)


def _write_use(conn: Connection, voucher: Seen, step: Step, note: dict[str, Any], hook: dict[str, Any]) -> None:
    used = {
        "v_id": voucher.id,
        "v_status": voucher.status,
        "v_closed_at": voucher.closed_at,
        "v_closed_by": voucher.closed_by,
        "v_hold_id": voucher.hold_id,
        "v_remaining_points": voucher.remaining_points,
        "v_remaining_fen": voucher.remaining_fen,
    }
    event = _event_row(voucher.id, voucher, step)
    if conn.dialect.name == "postgresql":
        conn.execute(
            _PG_USE,
            {
                **used,
                **{k: v for k, v in event.items() if k != "voucher_id"},
                "household_id": voucher.household_id,
                "n_kind": note["kind"],
                "n_payload": note["payload"],
                "n_created_at": note["created_at"],
                "w_id": hook["id"],
                "w_event": hook["event"],
                "w_payload": hook["payload"],
                "w_created_at": hook["created_at"],
            },
        )
        return
    conn.execute(_USE_VOUCHER, used)
    conn.execute(_INSERT_EVENT, event)
    conn.execute(_INSERT_NOTIFICATION, note)
    conn.execute(_INSERT_WEBHOOK, hook)


def record_pin_failure(session: Session, code: str) -> int:
    """Count a wrong PIN (in its own unit of work: the failed request rolls back). Returns the failures so far."""
    result = session.execute(
        update(VOUCHER)
        .where(VOUCHER.c.code == bindparam("v_code"))
        .values(pin_failures=VOUCHER.c.pin_failures + 1)
        .returning(VOUCHER.c.pin_failures),
        {"v_code": normal_code(code)},
    ).scalar()
    return int(result or 0)


def _check_proof(voucher: Voucher | Seen, *, pin: str | None, qr: str | None) -> None:
    if qr is not None:
        prefix, _, rest = qr.strip().partition(":")
        code, _, key = rest.partition(":")
        if prefix != QR_PREFIX or normal_code(code) != voucher.code or not hmac.compare_digest(key, voucher.qr_key):
            raise WrongPin("This QR code is not this voucher's.", voucher_code=voucher.code)
        return
    if pin is None:
        raise ProofRequired("Enter the household's PIN or scan the voucher's QR code.", field="pin")
    if voucher.pin_failures >= MAX_PIN_FAILURES:
        raise PinLocked("Too many wrong PINs: scan the voucher's QR code instead.", voucher_code=voucher.code)
    if not hmac.compare_digest(pin.strip(), voucher.pin):
        raise WrongPin(
            "Wrong PIN.", voucher_code=voucher.code, attempts_left=max(MAX_PIN_FAILURES - voucher.pin_failures - 1, 0)
        )


def _check_usable(session: Session, voucher: Voucher | Seen, now: datetime) -> None:
    if voucher.status == VoucherStatus.USED:
        if isinstance(voucher, Seen):
            where: str | None = voucher.partner_name
        else:
            partner = session.get(Partner, voucher.partner_id)
            where = partner.name if partner else None
        raise AlreadyUsed(
            f"This voucher was already used, at {where or 'a partner'} "
            f"on {as_utc(voucher.closed_at or now).isoformat()}.",
            voucher_code=voucher.code,
            used_at=as_utc(voucher.closed_at or now).isoformat(),
            used_where=where,
            used_by=voucher.closed_by,
        )
    if voucher.status == VoucherStatus.EXPIRED or (
        voucher.status == VoucherStatus.ACTIVE and as_utc(voucher.expires_at) <= now
    ):
        raise VoucherExpired(
            "This voucher has expired; its points went back to the household.",
            voucher_code=voucher.code,
            expired_at=as_utc(voucher.expires_at).isoformat(),
        )
    if voucher.status != VoucherStatus.ACTIVE:
        raise VoucherClosed(
            f"This voucher is {voucher.status}.", voucher_code=voucher.code, current_status=voucher.status
        )


# --- giving points back --------------------------------------------------------------------------------------


def cancel(session: Session, who: Principal, *, code: str, now: datetime | None = None) -> Voucher:
    """The household gives back an unused voucher (or what is left of it), or cancels a booking up to the
    offer's cut-off before the slot."""
    voucher = access.cancellable_voucher(who, _locked(session, code), code)
    now = now or utcnow()
    _check_usable(session, voucher, now)
    offer = session.get(Offer, voucher.offer_id)
    assert offer is not None
    if voucher.slot_id is not None:
        slot = session.get(HealthSlot, voucher.slot_id)
        assert slot is not None
        cutoff = as_utc(slot.starts_at) - timedelta(hours=offer.cancel_hours)
        if now >= cutoff:
            raise TooLateToCancel(
                f"A booking can be cancelled until {offer.cancel_hours} hours before its slot.",
                voucher_code=voucher.code,
                cutoff=cutoff.isoformat(),
            )
        session.execute(update(SLOT).where(SLOT.c.id == slot.id).values(booked=SLOT.c.booked - 1))
    _release(session, voucher, VoucherStatus.CANCELLED, VoucherEventKind.CANCELLED, who.actor, now)
    _tell_partner(session, voucher, "booking.cancelled" if voucher.slot_id else "voucher.cancelled")
    return voucher


def no_show(session: Session, who: Principal, *, code: str, now: datetime | None = None) -> Voucher:
    """The clinic marks a booking missed, once its slot has begun: the hold is voided, and the offer's
    penalty (if any) taken as far as the balance allows."""
    voucher = _own_booking(session, who, code)
    now = now or utcnow()
    _check_usable(session, voucher, now)
    slot = session.get(HealthSlot, voucher.slot_id)
    offer = session.get(Offer, voucher.offer_id)
    assert slot is not None
    assert offer is not None
    if now < as_utc(slot.starts_at):
        raise TooEarly("A booking is marked missed only once its slot has begun.", voucher_code=voucher.code)
    _release(
        session,
        voucher,
        VoucherStatus.NO_SHOW,
        VoucherEventKind.NO_SHOW,
        who.actor,
        now,
        give_back=False,
        penalty_points=offer.no_show_penalty_points,
    )
    if offer.no_show_penalty_points > 0:
        own = accounts.of_household(session, voucher.household_id)
        penalty = accounts.of_village(session, voucher.village_id, AccountKind.PENALTY)
        taken = journal.take_available(
            session,
            debit=row_id(own.id),
            credit=row_id(penalty.id),
            amount=offer.no_show_penalty_points,
            reason="no_show_penalty",
            actor=who.actor,
            meta={"voucher": voucher.code},
        )
        if taken is not None:
            _event(
                session,
                voucher,
                VoucherEventKind.PENALTY,
                taken,
                points=max(leg.amount for leg in taken.postings),
                value=0,
                actor=who.actor,
            )
    _tell_partner(session, voucher, "booking.no_show")
    return voucher


def expire_due(session: Session, now: datetime, *, limit: int = 500) -> int:
    """The scheduled step: every active voucher past its time is expired and its points go back."""
    due = session.execute(
        select(col(Voucher.id), col(Voucher.county_id), col(Voucher.slot_id))
        .where(col(Voucher.status) == VoucherStatus.ACTIVE, col(Voucher.expires_at) <= now)
        .order_by(col(Voucher.id))
        .limit(limit)
    ).all()
    expired = 0
    for voucher_id, county_id, slot_id in due:
        # Each in a savepoint of its own: one whose hold was resolved by hand is skipped and recorded
        # (ledger/core/failures.py), and the others expire.
        with failures.item(
            session,
            step=STEP_EXPIRE,
            kind="voucher" if slot_id is None else "booking",
            record_id=voucher_id,
            county_id=county_id,
        ):
            voucher = session.scalars(select(Voucher).where(Voucher.id == voucher_id).with_for_update()).one()
            if voucher.status != VoucherStatus.ACTIVE or as_utc(voucher.expires_at) > now:
                continue  # used or cancelled since the list was read
            _release(
                session,
                voucher,
                VoucherStatus.EXPIRED,
                VoucherEventKind.EXPIRED,
                "system:expiry",
                now,
                give_back=voucher.slot_id is None,
            )
            _tell_partner(session, voucher, "voucher.expired" if voucher.slot_id is None else "booking.expired")
            session.flush()
            expired += 1
    return expired


def _release(
    session: Session,
    voucher: Voucher,
    status: VoucherStatus,
    event: VoucherEventKind,
    actor: str,
    now: datetime,
    *,
    give_back: bool = True,
    penalty_points: int = 0,
) -> None:
    """Void (or expire) the hold: the points held go back to the household. The stock comes back too if the
    voucher was never used in part. The household is told, with the missed booking's penalty where there is one."""
    assert voucher.hold_id is not None
    if give_back and voucher.remaining_fen == voucher.value_fen:
        offers.give_back_stock(session, voucher.offer_id, voucher.quantity)
    if status == VoucherStatus.EXPIRED:
        tx = journal.expire_pending(session, pending_id=voucher.hold_id, now=now)
    else:
        tx = journal.void_pending(session, pending_id=voucher.hold_id, actor=actor, reason=f"voucher_{status}")
    points, value = voucher.remaining_points, voucher.remaining_fen
    voucher.status, voucher.closed_at, voucher.closed_by = status, tx.created_at, actor
    session.flush()
    _event(session, voucher, event, tx, points=points, value=value, actor=actor)
    outbox.tell(
        session,
        county_id=voucher.county_id,
        household_id=voucher.household_id,
        kind=f"voucher_{status}",
        code=voucher.code,
        points_returned=points,
        **({"penalty_points": penalty_points} if penalty_points else {}),
    )


# --- reading -------------------------------------------------------------------------------------------------


def _locked_seen(session: Session, code: str) -> Seen | None:
    """The voucher of this code, locked, as its answer shows it (with its history, read before any other lock)."""
    if not isinstance(code, str) or len(code) > 40:
        return None
    conn = session.connection()
    row = conn.execute(_LOCK_BY_CODE, {"code": normal_code(code)}).first()
    return None if row is None else _seen(conn, row)


def _locked(session: Session, code: str) -> Voucher | None:
    if not isinstance(code, str) or len(code) > 40:
        return None
    return session.scalars(select(Voucher).where(col(Voucher.code) == normal_code(code)).with_for_update()).first()


def _own_booking(session: Session, who: Principal, code: str) -> Voucher:
    access.require_clinic(who, "A clinic manages its bookings.")
    return access.own_booking(who, _locked(session, code), code)


def find(session: Session, who: Principal, code: str) -> Voucher:
    """A voucher as its household or its partner sees it (`redemption.access.find_voucher`)."""
    return access.find_voucher(session, who, code)


def history(session: Session, voucher_id: int) -> list[VoucherEvent]:
    return list(
        session.scalars(
            select(VoucherEvent).where(col(VoucherEvent.voucher_id) == voucher_id).order_by(col(VoucherEvent.id))
        )
    )


def of_household(session: Session, household_id: int, status: str | None = None) -> list[Voucher]:
    query = select(Voucher).where(col(Voucher.household_id) == household_id)
    if status:
        query = query.where(col(Voucher.status) == status)
    return list(session.scalars(query.order_by(col(Voucher.id).desc())))


def of_partner(
    session: Session, partner_id: int, *, status: str | None = None, slot_id: int | None = None, limit: int = 200
) -> list[Voucher]:
    query = select(Voucher).where(col(Voucher.partner_id) == partner_id)
    if status:
        query = query.where(col(Voucher.status) == status)
    if slot_id is not None:
        query = query.where(col(Voucher.slot_id) == slot_id)
    return list(session.scalars(query.order_by(col(Voucher.id).desc()).limit(limit)))


# --- slots ---------------------------------------------------------------------------------------------------


def add_slot(
    session: Session,
    who: Principal,
    *,
    offer_id: int,
    starts_at: datetime,
    ends_at: datetime,
    place: str,
    capacity: int,
) -> HealthSlot:
    access.require_clinic(who, "A clinic publishes its slots.")
    offer = offers.own_offer(session, who, offer_id)
    if offer.kind != OfferKind.HEALTH_CHECK:
        raise WrongOfferKind("Slots belong to a health-check offer.", field="offer_id")
    if as_utc(ends_at) <= as_utc(starts_at):
        raise Invalid("A slot ends after it starts.", field="ends_at")
    slot = HealthSlot(
        offer_id=offer_id,
        partner_id=offer.partner_id,
        county_id=offer.county_id,
        starts_at=starts_at,
        ends_at=ends_at,
        place=place,
        capacity=capacity,
        created_by=who.actor,
    )
    session.add(slot)
    session.flush()
    return slot


def slots(session: Session, offer_id: int, *, upcoming_from: datetime | None = None) -> list[HealthSlot]:
    query = select(HealthSlot).where(col(HealthSlot.offer_id) == offer_id)
    if upcoming_from is not None:
        query = query.where(col(HealthSlot.starts_at) > upcoming_from)
    return list(session.scalars(query.order_by(col(HealthSlot.starts_at))))


# --- events --------------------------------------------------------------------------------------------------


def _event(
    session: Session,
    voucher: Voucher,
    kind: VoucherEventKind,
    tx: journal.TxRecord,
    *,
    points: int,
    value: int,
    actor: str,
    at: datetime | None = None,
) -> None:
    """One row of the voucher's history, naming its journal transaction and, unless `at` says otherwise (a use
    that moved no point), dated by it."""
    session.add(
        VoucherEvent(
            voucher_id=row_id(voucher.id),
            county_id=voucher.county_id,
            village_id=voucher.village_id,
            partner_id=voucher.partner_id,
            event=kind,
            transaction_id=tx.id,
            points=points,
            value_fen=value,
            actor=actor,
            at=at or tx.created_at,
        )
    )
    session.flush()


def _tell_partner(session: Session, voucher: Voucher | Seen, event: str, **extra: int) -> None:
    webhooks.enqueue(
        session,
        partner_id=voucher.partner_id,
        county_id=voucher.county_id,
        event=event,
        data=_partner_data(voucher, **extra),
    )


def _partner_data(voucher: Voucher | Seen, **extra: int) -> dict[str, Any]:
    """What a partner's webhook says of a voucher."""
    return {
        "code": voucher.code,
        "kind": voucher.kind,
        "offer_id": voucher.offer_id,
        "status": voucher.status,
        "village_id": voucher.village_id,
        "slot_id": voucher.slot_id,
        "points": voucher.points,
        "value_fen": voucher.value_fen,
        "remaining_fen": voucher.remaining_fen,
        **extra,
    }
