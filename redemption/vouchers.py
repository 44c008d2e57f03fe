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
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, bindparam, select, update
from sqlmodel import Session, col

from ledger.core import failures, idempotency, outbox
from ledger.core.base import as_utc, row_id, table_of, utcnow
from ledger.core.errors import Conflict, Forbidden, Invalid, NotFound
from ledger.core.idempotency import Outcome
from ledger.identity.models import Partner, Role
from ledger.identity.principal import Principal
from ledger.journal import accounts
from ledger.journal import service as journal
from ledger.journal.models import AccountKind
from ledger.tenancy import Household, refuse_closed
from redemption import access, offers, webhooks
from redemption.models import (
    HealthSlot,
    Offer,
    OfferKind,
    Voucher,
    VoucherEvent,
    VoucherEventKind,
    VoucherStatus,
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


def qr_text(voucher: Voucher) -> str:
    """What the voucher's QR code says: the code and a key that stands for the PIN when scanned."""
    return f"{QR_PREFIX}:{voucher.code}:{voucher.qr_key}"


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normal_code(code: str) -> str:
    """Codes are typed by hand: spaces and dashes are ignored, letters may be lower case."""
    return code.replace(" ", "").replace("-", "").upper()


# --- redeeming -----------------------------------------------------------------------------------------------


def redeem(
    session: Session,
    who: Principal,
    *,
    offer_id: int,
    quantity: int = 1,
    slot_id: int | None = None,
    idempotency_key: str | None = None,
    now: datetime | None = None,
) -> Outcome[Voucher]:
    """A member of a household redeems its points for an offer; a replay of the same key gives the first voucher."""
    if who.role != Role.VILLAGER or who.household_id is None:
        raise Forbidden("A member of the household redeems its points.")

    now = now or utcnow()

    def issue() -> Voucher:
        household = session.scalars(
            select(Household).where(col(Household.id) == who.household_id).with_for_update()
        ).one()
        refuse_closed(household)
        offer = session.get(Offer, offer_id)
        if offer is None or offer.county_id != household.county_id:
            raise offers.OfferNotFound("No such offer.", offer_id=offer_id)
        if offer.kind == OfferKind.LOAN:
            raise WrongOfferKind(
                "A loan is applied for, not redeemed: use /api/v1/loan-applications.", field="offer_id"
            )
        if not 1 <= quantity <= MAX_QUANTITY or (offer.kind == OfferKind.HEALTH_CHECK and quantity != 1):
            raise Invalid(f"quantity is 1 to {MAX_QUANTITY} (1 for a health check).", field="quantity")
        if (offer.kind == OfferKind.HEALTH_CHECK) != (slot_id is not None):
            raise Invalid("A health check is booked into a slot (slot_id); a voucher has none.", field="slot_id")
        partner, village = offers.check_open(session, offer, household, now=now)
        if offer.min_grade is not None:
            offers.check_grade(offer, ratings.current(session, row_id(household.id), now=now).grade)
        taken = offers.count_in(
            session,
            Voucher,
            household_id=row_id(household.id),
            offer_id=row_id(offer.id),
            period=offers.period_of(session, offer, household.county_id, now),
            quantity=Voucher.quantity,
            excluded=(VoucherStatus.CANCELLED,),
        )
        offers.check_limit(offer, taken, quantity)
        offers.take_stock(session, offer, quantity)
        assert offer.cost_points is not None
        assert offer.value_fen is not None
        if slot_id is not None:
            slot = _book_slot(session, offer, slot_id, now)
            expires_at = as_utc(slot.ends_at) + BOOKING_GRACE
        else:
            expires_at = min(now + timedelta(days=offer.voucher_days), as_utc(offer.valid_until))
        points, value = offer.cost_points * quantity, offer.value_fen * quantity
        own = accounts.of_household(session, row_id(household.id))
        hold = journal.transfer(
            session,
            debit=row_id(own.id),
            credit=offers.clearing_account(session, partner, village),
            amount=points,
            reason="voucher_hold",
            actor=who.actor,
            pending=True,
            meta={"offer": offer.id, "slot": slot_id},
        )
        voucher = Voucher(
            code=new_code(),
            pin=f"{secrets.randbelow(10**6):06d}",
            qr_key=secrets.token_urlsafe(24)[:32],
            county_id=household.county_id,
            village_id=household.village_id,
            household_id=row_id(household.id),
            offer_id=row_id(offer.id),
            partner_id=row_id(partner.id),
            kind=offer.kind,
            slot_id=slot_id,
            quantity=quantity,
            points=points,
            value_fen=value,
            remaining_points=points,
            remaining_fen=value,
            hold_id=hold.id,
            expires_at=expires_at,
            created_at=now,
            created_by=who.actor,
        )
        session.add(voucher)
        session.flush()
        _event(session, voucher, VoucherEventKind.ISSUED, hold, points=points, value=value, actor=who.actor)
        if voucher.kind == OfferKind.HEALTH_CHECK:
            _tell_partner(session, voucher, "booking.created")
        return voucher

    return idempotency.run(
        session,
        actor=who.actor,
        key=idempotency_key,
        request={"op": "redeem", "offer": offer_id, "quantity": quantity, "slot": slot_id},
        stored=_VOUCHER,
        operation=issue,
    )


_VOUCHER = idempotency.row(Voucher, "voucher")


def _book_slot(session: Session, offer: Offer, slot_id: int, now: datetime) -> HealthSlot:
    slot = session.scalars(select(HealthSlot).where(col(HealthSlot.id) == slot_id).with_for_update()).first()
    if slot is None or slot.offer_id != offer.id:
        raise SlotNotFound("No such slot of this health check.", slot_id=slot_id)
    if as_utc(slot.starts_at) <= now:
        raise SlotPassed("This slot has already begun.", slot_id=slot_id)
    booked = session.execute(
        update(SLOT).where(SLOT.c.id == slot_id, SLOT.c.booked < SLOT.c.capacity).values(booked=SLOT.c.booked + 1)
    )
    if cast("CursorResult[Any]", booked).rowcount != 1:  # an UPDATE answers with a cursor result
        raise SlotFull("This slot is fully booked.", slot_id=slot_id)
    return slot


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
) -> Voucher:
    """A merchant or clinic uses a voucher of its own, proven by the household's PIN or the scanned QR code.
    Without `amount_fen` (or with the whole remaining value) the hold is posted; with less, that part is paid
    and the rest stays held on the voucher, usable until it is used up or expires (`rest_points`)."""
    access.require_cashier(who)
    voucher = access.usable_voucher(who, _locked(session, code), code)
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


def attended(session: Session, who: Principal, *, code: str, now: datetime | None = None) -> Voucher:
    """The clinic marks a booking attended: the hold is posted, as when a voucher is used. Not before the day of
    the slot (someone may come a little early, not a week early)."""
    voucher = _own_booking(session, who, code)
    now = now or utcnow()
    _check_usable(session, voucher, now)
    slot = session.get(HealthSlot, voucher.slot_id)
    assert slot is not None
    if now < as_utc(slot.starts_at) - EARLY_ARRIVAL:
        raise TooEarly(
            "A booking is marked attended on the day of its slot.",
            voucher_code=voucher.code,
            starts_at=as_utc(slot.starts_at).isoformat(),
        )
    return _use(session, voucher, who.actor, None, now)


def rest_points(voucher: Voucher, rest_fen: int) -> int:
    """The points that stand for `rest_fen` of a voucher's value: its points in proportion to its face value,
    rounded half up, and at least one while any value is left, so the rest of a part-used voucher is always held
    (and goes back to the household if it expires). Computed from the voucher's totals, not step by step, so
    many small uses pay the partner exactly what one use of the same value would."""
    if rest_fen <= 0:
        return 0
    exact = (2 * voucher.points * rest_fen + voucher.value_fen) // (2 * voucher.value_fen)
    return min(max(1, exact), voucher.remaining_points)


def _use(session: Session, voucher: Voucher, actor: str, amount_fen: int | None, now: datetime) -> Voucher:
    assert voucher.hold_id is not None
    value = amount_fen if amount_fen is not None else voucher.remaining_fen
    rest_fen = voucher.remaining_fen - value
    rest = rest_points(voucher, rest_fen)
    points = voucher.remaining_points - rest
    at = None
    if rest_fen == 0:  # used up: the hold is posted
        tx = journal.post_pending(session, pending_id=voucher.hold_id, actor=actor, reason="voucher_used")
        voucher.status, voucher.closed_at, voucher.closed_by = VoucherStatus.USED, tx.created_at, actor
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
        voucher.hold_id = held_again.id
    voucher.remaining_points, voucher.remaining_fen = rest, rest_fen
    session.flush()
    _event(session, voucher, VoucherEventKind.CONSUMED, tx, points=points, value=value, actor=actor, at=at)
    partner = session.get(Partner, voucher.partner_id)
    outbox.tell(
        session,
        county_id=voucher.county_id,
        household_id=voucher.household_id,
        kind="voucher_used",
        code=voucher.code,
        points=points,
        value_yuan=value / 100,
        where=partner.name if partner else None,
        remaining_yuan=voucher.remaining_fen / 100,
    )
    _tell_partner(
        session,
        voucher,
        "booking.attended" if voucher.kind == OfferKind.HEALTH_CHECK else "voucher.consumed",
        value_fen=value,
        points=points,
    )
    return voucher


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


def _check_proof(voucher: Voucher, *, pin: str | None, qr: str | None) -> None:
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


def _check_usable(session: Session, voucher: Voucher, now: datetime) -> None:
    if voucher.status == VoucherStatus.USED:
        partner = session.get(Partner, voucher.partner_id)
        raise AlreadyUsed(
            f"This voucher was already used, at {partner.name if partner else 'a partner'} "
            f"on {as_utc(voucher.closed_at or now).isoformat()}.",
            voucher_code=voucher.code,
            used_at=as_utc(voucher.closed_at or now).isoformat(),
            used_where=partner.name if partner else None,
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


def _tell_partner(session: Session, voucher: Voucher, event: str, **extra: int) -> None:
    data = {
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
    webhooks.enqueue(session, partner_id=voucher.partner_id, county_id=voucher.county_id, event=event, data=data)
