"""Text messages leaving Shanzhi: whom a notification goes to, the daily caps, the outbox's sink, and the code.

Whom: a notification of a household goes to its head when the head can sign in (an active villager sign-in), else
to every member who can; one SMS per notification in the usual case, to the person who acts for the household.
Notifications of one account (TO_A_USER in ledger/sms/texts.py: a locked sign-in, claims sent up to a supervisor)
go to the phone of the person that account is linked to. A closed household is told nothing.

Caps (docs/sms.md): texts to one phone and texts of one county per day, counted in the database (ledger/core/
ratelimit.py) so that every process counts against the same ones. A capped notification is put off until the
day is over (outbox.NotYet: delayed, never lost, not counted as a failed attempt); a capped code is refused.

The sink reads the database through the session delivering the notification, inside its savepoint.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from prometheus_client import Counter
from sqlalchemy import select
from sqlmodel import Session, col

from ledger.core import outbox, ratelimit
from ledger.core.base import utcnow
from ledger.core.errors import Throttled, Unavailable
from ledger.core.settings import Settings
from ledger.identity.models import Role, User
from ledger.sms import texts
from ledger.sms.senders import Sender, SmsFailed
from ledger.tenancy import County, Household, Person

log = logging.getLogger("shanzhi.sms")

DAY_SECONDS = 24 * 3600

# Not in any registry here: api/observability.py adds them to the one /metrics shows.
SENT = Counter(
    "shanzhi_sms_sent", "Text messages the provider accepted, by provider and kind", ["provider", "kind"], registry=None
)
FAILED = Counter(
    "shanzhi_sms_failed",
    "Text messages the provider did not take, by provider, kind and error class (timeout, network, the provider's "
    "error family such as LimitExceeded)",
    ["provider", "kind", "error"],
    registry=None,
)
CAPPED = Counter(
    "shanzhi_sms_capped",
    "Text messages held back by a daily cap, by cap (phone or county) and kind",
    ["cap", "kind"],
    registry=None,
)


class PhoneCapped(Throttled):
    code = "sms_phone_capped"


class CountyCapped(Throttled):
    code = "sms_county_capped"


class SmsUnavailable(Unavailable):
    code = "sms_unavailable"


@dataclass(frozen=True)
class Caps:
    per_phone_day: int = 10
    per_county_day: int = 20_000

    @classmethod
    def of(cls, settings: Settings) -> Caps:
        return cls(settings.sms_per_phone_day, settings.sms_per_county_day)


def _phone_key(phone: str) -> str:
    return f"sms:phone:{phone}"


def _county_key(county_id: int) -> str:
    return f"sms:county:{county_id}"


def count(
    session: Session, caps: Caps, *, phone: str | None, county_id: int | None, kind: str, now: datetime | None = None
) -> None:
    """Count one text to `phone` and of `county_id` (either may be None: not counted there). Past a cap:
    PhoneCapped or CountyCapped (with the seconds until the day's count is over), and nothing counted."""
    now = now or utcnow()
    try:
        with session.begin_nested():
            if phone is not None:
                ratelimit.hit(
                    session,
                    _phone_key(phone),
                    limit=caps.per_phone_day,
                    seconds=DAY_SECONDS,
                    what="text messages to this phone",
                    now=now,
                    refusal=PhoneCapped,
                )
            if county_id is not None:
                ratelimit.hit(
                    session,
                    _county_key(county_id),
                    limit=caps.per_county_day,
                    seconds=DAY_SECONDS,
                    what="text messages of this county",
                    now=now,
                    refusal=CountyCapped,
                )
    except PhoneCapped:
        CAPPED.labels(cap="phone", kind=kind).inc()
        raise
    except CountyCapped:
        CAPPED.labels(cap="county", kind=kind).inc()
        raise


def give_back(session: Session, *, phone: str | None, county_id: int | None, now: datetime | None = None) -> None:
    """A counted text the provider did not take: it no longer counts against the caps."""
    now = now or utcnow()
    with session.begin_nested():
        for key in ([_phone_key(phone)] if phone else []) + ([_county_key(county_id)] if county_id else []):
            ratelimit.hit(session, key, limit=1 << 30, seconds=DAY_SECONDS, what="texts", uses=-1, now=now)


def send(sender: Sender, kind: str, phone: str, params: list[str], *, reference: str | None = None) -> str:
    """One text through the provider, counted in /metrics either way."""
    try:
        message = sender.send(phone, kind, params, reference=reference)
    except SmsFailed as error:
        FAILED.labels(provider=sender.provider, kind=kind, error=error.error_class).inc()
        raise
    SENT.labels(provider=sender.provider, kind=kind).inc()
    log.info(
        "sms sent",
        extra={"fields": {"provider": sender.provider, "kind": kind, "phone_tail": phone[-4:], "message_id": message}},
    )
    return message


def county_of_phone(session: Session, phone: str) -> int | None:
    """The county of the villager who signs in with `phone` (None: no such villager)."""
    return session.scalars(
        select(col(User.county_id))
        .join(Person, col(Person.id) == col(User.person_id))
        .where(col(Person.phone) == phone, col(User.role) == Role.VILLAGER, col(User.active).is_(True))
        .limit(1)
    ).first()


def send_code(sender: Sender, phone: str, code: str, minutes: int) -> None:
    """Send a sign-in code now (the caller counted it against the caps). A provider's failure is SmsUnavailable,
    which the API answers with 503: the villager is told to try again, nothing is kept."""
    params = texts.CODE_TEXT.params({"code": code, "minutes": minutes}, ZoneInfo("UTC"))
    try:
        send(sender, texts.CODE, phone, params)
    except SmsFailed as error:
        log.warning("sign-in code not sent", extra={"fields": {"phone_tail": phone[-4:], "error": str(error)}})
        raise SmsUnavailable(
            "The text message with the code could not be sent just now. Try again in a few minutes.",
            retry_after=60,
        ) from None


def recipients(session: Session, notification: outbox.Notification) -> list[str]:
    """The phones a notification goes to (see the module's docstring); empty: nobody can be told by SMS."""
    if notification.kind in texts.TO_A_USER and notification.payload.get("user_id") is not None:
        user = session.get(User, int(notification.payload["user_id"]))
        person = session.get(Person, user.person_id) if user is not None and user.person_id is not None else None
        if user is None or not user.active or person is None or not person.phone:
            return []
        household = session.get(Household, person.household_id)
        return [] if household is None or household.closed_at is not None else [person.phone]
    if notification.household_id is None:
        return []
    household = session.get(Household, notification.household_id)
    if household is None or household.closed_at is not None:
        return []
    members = session.execute(
        select(col(Person.phone), col(Person.is_head))
        .join(User, col(User.person_id) == col(Person.id))
        .where(
            col(Person.household_id) == notification.household_id,
            col(Person.phone).is_not(None),
            col(User.role) == Role.VILLAGER,
            col(User.active).is_(True),
        )
        .order_by(col(Person.id))
    ).all()
    heads = [str(phone) for phone, is_head in members if is_head]
    return heads or [str(phone) for phone, _ in members]


def sink(sender: Sender, caps: Caps, *, capped: bool = True) -> outbox.Sink:
    """The outbox's sink that sends each notification as a text message. A provider's failure that may pass is
    raised (the outbox tries again with backoff); one that will not (an invalid number, no template) is
    outbox.Undeliverable; a cap reached is outbox.NotYet until the day's count is over. `capped` False: caps
    are not counted (the log provider costs nothing)."""

    def deliver(notification: outbox.Notification) -> None:
        session = Session.object_session(notification)
        assert isinstance(session, Session), "a notification is delivered in its session"
        text = texts.text_of(notification.kind)
        if text is None:
            if notification.kind in texts.NOT_BY_SMS:
                outbox.log_sink(notification)
                return
            raise outbox.Undeliverable(f"no text message for the kind {notification.kind!r}")
        phones = recipients(session, notification)
        if not phones:
            log.info(
                "notification told by SMS to nobody (no phone that signs in)",
                extra={"fields": {"id": notification.id, "kind": notification.kind}},
            )
            return
        county = session.get(County, notification.county_id)
        zone = ZoneInfo(county.timezone if county is not None else "Asia/Shanghai")
        try:
            params = text.params(notification.payload, zone)
        except (KeyError, TypeError, ValueError) as error:
            raise outbox.Undeliverable(f"the notification lacks what its text says: {error!r}") from None
        _send_to(session, sender, caps if capped else None, notification, phones, params)

    return deliver


def reference(notification: outbox.Notification, phone: str) -> str:
    """The message's id, the same for every try of this notification to this phone (24 hex digits)."""
    return hashlib.sha256(f"shanzhi-notification:{notification.id}:{phone}".encode()).hexdigest()[:24]


def _send_to(
    session: Session,
    sender: Sender,
    caps: Caps | None,
    notification: outbox.Notification,
    phones: list[str],
    params: list[str],
) -> None:
    """Send to each phone. Delivered once any phone took it (a failure for another is logged and counted, not
    retried: retrying would send the first again); otherwise the first failure decides: retried or not."""
    sent, failures = 0, []
    for phone in phones:
        now = utcnow()
        if caps is not None:
            try:
                count(session, caps, phone=phone, county_id=notification.county_id, kind=notification.kind, now=now)
            except Throttled as refusal:
                if sent:
                    continue
                raise outbox.NotYet(now + timedelta(seconds=refusal.retry_after), refusal.message) from None
        try:
            send(sender, notification.kind, phone, params, reference=reference(notification, phone))
        except SmsFailed as error:
            if caps is not None:
                give_back(session, phone=phone, county_id=notification.county_id, now=now)
            failures.append(error)
            continue
        sent += 1
    if sent or not failures:
        if failures:
            log.warning(
                "notification not sent to every phone of its household",
                extra={"fields": {"id": notification.id, "errors": [str(f) for f in failures]}},
            )
        return
    first = failures[0]
    if any(f.retryable for f in failures):
        raise first
    raise outbox.Undeliverable(str(first))
