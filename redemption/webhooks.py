"""Partner webhooks: events written to `webhook_delivery` in the same transaction as the change they tell of, then
delivered by the scheduled job to the partner's URL, signed with the partner's secret, and retried with backoff
until the partner answers 2xx. Delivery is at least once: a crash between sending and recording sends again, with
the same delivery id, which the partner de-duplicates on. A rotated secret keeps signing beside the new one for
OVERLAP, so a receiver can change over without losing an event; a partner may send a delivery again by hand
(`retry`). docs/webhooks.md is the partner's guide.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import socket
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import SplitResult, urlsplit

import httpx
from sqlalchemy import Engine, select
from sqlmodel import Session, col

from ledger.core import audit, failures, outbox, paging
from ledger.core.base import as_utc, table_of, utcnow
from ledger.core.db import unit_of_work
from ledger.core.errors import Conflict, Invalid, NotFound
from ledger.core.outbox import backoff
from ledger.core.settings import Settings, get_settings
from ledger.identity.models import Partner
from redemption.models import WebhookDelivery

log = logging.getLogger("shanzhi.webhooks")

MAX_ATTEMPTS = 12  # about 14.5 hours of trying (see ledger.core.outbox.backoff); then the delivery is left as failed
TIMEOUT_SECONDS = 5.0  # a receiver should answer at once and do its work afterwards
STEP_LIMIT = 50  # deliveries per scheduled run
LEASE = timedelta(minutes=10)  # a leased delivery is left alone this long (more than STEP_LIMIT sends can take)
TOLERANCE_SECONDS = 300
MAX_URL_LENGTH = 500
SIGNATURE_HEADER = "Shanzhi-Signature"
DELIVERY_HEADER = "Shanzhi-Delivery"
EVENT_HEADER = "Shanzhi-Event"
# After a rotation the secret before it still signs (a second v1 in the signature header) this long: time for the
# partner to put the new secret in its receiver. Rotating again within it ends the oldest secret at once.
OVERLAP = timedelta(hours=24)
STEP = "deliver_webhooks"  # the name of the scheduled step (redemption/schedule.py)

Send = Callable[[str, dict[str, str], bytes], int]  # (url, headers, body) -> HTTP status; raises when unreachable
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
NAT64 = ipaddress.ip_network("64:ff9b::/96")
# What the partner reads in a delivery's last_error: never the text of a connection error, which would tell an
# attacker which of our internal ports answer.
COULD_NOT_CONNECT = "could not connect"
ADDRESS_NOT_ALLOWED = "the webhook URL's address is not allowed"


class InvalidWebhookUrl(Invalid):
    code = "invalid_webhook_url"


class WebhookAddressRefused(InvalidWebhookUrl):
    code = "webhook_address_not_allowed"


class DeliveryNotFound(NotFound):
    code = "webhook_delivery_not_found"


class DeliveryAlreadyDelivered(Conflict):
    """A delivery the partner's endpoint has already answered 2xx is not sent again by hand."""

    code = "webhook_delivery_delivered"


def enqueue(session: Session, *, partner_id: int, county_id: int, event: str, data: dict[str, Any]) -> str:
    """Queue one event for a partner in the caller's unit of work; returns its delivery id."""
    row = delivery_row(partner_id=partner_id, county_id=county_id, event=event, data=data)
    session.add(WebhookDelivery(**row))
    return str(row["id"])


def delivery_row(*, partner_id: int, county_id: int, event: str, data: dict[str, Any]) -> dict[str, Any]:
    """The row `enqueue` queues, for a caller that writes it with its own statement (in the same unit of work)."""
    delivery_id = secrets.token_hex(16)
    now = utcnow()
    return {
        "id": delivery_id,
        "partner_id": partner_id,
        "county_id": county_id,
        "event": event,
        "payload": {"id": delivery_id, "event": event, "created_at": now.isoformat(), "data": data},
        "created_at": now,
        "next_attempt_at": now,
    }


# --- signing ---------------------------------------------------------------------------------------------------


def body_of(payload: dict[str, Any]) -> bytes:
    """The bytes sent, and signed: compact JSON in UTF-8."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _digest(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(secret: str | Sequence[str], timestamp: int, body: bytes) -> str:
    """The value of the Shanzhi-Signature header: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>." + body>`, with
    one v1 per secret given (the new one first, then the one it replaced while their overlap lasts)."""
    secrets_ = [secret] if isinstance(secret, str) else list(secret)
    return ",".join([f"t={int(timestamp)}", *(f"v1={_digest(s, int(timestamp), body)}" for s in secrets_)])


def verify(
    secret: str, header_value: str, body: bytes, *, now: datetime | float, tolerance_seconds: int = TOLERANCE_SECONDS
) -> bool:
    """True when the header signs this body with this secret, within `tolerance_seconds` of `now` (a datetime or
    unix seconds). Any v1 in the header may match."""
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header_value.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1":
            signatures.append(value)
    if timestamp is None or not signatures:
        return False
    current = now.timestamp() if isinstance(now, datetime) else float(now)
    if abs(current - timestamp) > tolerance_seconds:
        return False
    expected = _digest(secret, timestamp, body)
    return any(hmac.compare_digest(expected.encode(), s.encode("ascii", "replace")) for s in signatures)


def headers_for(
    delivery_id: str, event: str, secret: str | Sequence[str], timestamp: int, body: bytes
) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        DELIVERY_HEADER: delivery_id,
        EVENT_HEADER: event,
        SIGNATURE_HEADER: sign(secret, timestamp, body),
    }


def signing_secrets(
    secret: str, previous: str | None, previous_until: datetime | None, now: datetime
) -> tuple[str, ...]:
    """The secrets an attempt at `now` is signed with: the partner's secret, and the one it replaced while their
    overlap lasts (until `previous_until`, not included)."""
    if previous and previous_until is not None and now < as_utc(previous_until):
        return (secret, previous)
    return (secret,)


def new_secret() -> str:
    return "whsec_" + secrets.token_hex(24)


# --- delivery --------------------------------------------------------------------------------------------------


def pinned_sender(reach: Reach, *, verify: ssl.SSLContext | bool = True) -> Send:
    """A Send that checks the URL's address again (a name may resolve elsewhere since it was set: DNS rebinding),
    then connects to that very address, naming the host in the Host header and, over TLS, in SNI and the
    certificate check. Redirects are not followed (a 3xx is a failure). `verify`: the certificates trusted (the
    system's by default)."""

    def send(url: str, headers: dict[str, str], body: bytes) -> int:
        target = target_of(url, reach)
        extensions = {"sni_hostname": target.host} if target.tls else {}
        with httpx.Client(timeout=TIMEOUT_SECONDS, follow_redirects=False, verify=verify) as client:
            response = client.post(
                target.connect_to, content=body, headers={**headers, "Host": target.host_header}, extensions=extensions
            )
        return response.status_code

    return send


def failure_text(failure: Exception) -> str:
    """What the partner is told about a send that got no answer."""
    if isinstance(failure, WebhookAddressRefused):
        return ADDRESS_NOT_ALLOWED
    if isinstance(failure, InvalidWebhookUrl):
        return failure.message
    return COULD_NOT_CONNECT


def deliver_due(engine: Engine, now: datetime, *, send: Send | None = None, limit: int = 100) -> int:
    """Send the deliveries that are due; returns how many were delivered (the partner answered 2xx).

    No database transaction is open while a partner's endpoint is called, so a slow receiver holds up nobody's
    writes (on SQLite, everybody's). Three steps: a short transaction leases the due rows (locked with SKIP
    LOCKED on PostgreSQL, then put off by LEASE, so another worker passes them by); the sends; a short
    transaction per row records the answer. A worker that dies between sending and recording leaves the lease
    to run out, and the delivery goes again with the same id.

    A delivery of a partner without a webhook URL (or secret) is not picked: it waits, without using up its
    attempts, until the partner sets a URL. Anything but 2xx, or no answer within TIMEOUT_SECONDS, is a failure,
    tried again after a backoff (30 s doubling, at most 6 h) until MAX_ATTEMPTS; one the partner sent again by
    hand (`retry`) gets one attempt more. Each attempt is signed at the moment it is sent, with the partner's
    secret and, within the overlap after a rotation, the one before it (`signing_secrets`). By default each send
    checks and pins the address (`pinned_sender`) as the service's settings say; the partner reads only a generic
    error, the log has the details."""
    send = send or pinned_sender(Reach.from_settings(get_settings()))
    with unit_of_work(engine) as session:
        rows = session.execute(
            select(
                WebhookDelivery,
                col(Partner.webhook_url),
                col(Partner.webhook_secret),
                col(Partner.webhook_previous_secret),
                col(Partner.webhook_previous_until),
            )
            .join(Partner, col(Partner.id) == col(WebhookDelivery.partner_id))
            .where(
                col(WebhookDelivery.delivered_at).is_(None),
                col(WebhookDelivery.next_attempt_at) <= now,
                (col(WebhookDelivery.attempts) < MAX_ATTEMPTS) | col(WebhookDelivery.retry_requested_at).is_not(None),
                col(Partner.webhook_url).is_not(None),
                col(Partner.webhook_secret).is_not(None),
            )
            .order_by(WebhookDelivery.id)
            .limit(limit)
            .with_for_update(skip_locked=True, of=WebhookDelivery)
        ).all()
        leased = []
        for delivery, url, secret, previous, previous_until in rows:
            delivery.next_attempt_at = now + LEASE
            leased.append(
                (
                    delivery.id,
                    delivery.partner_id,
                    delivery.county_id,
                    delivery.event,
                    body_of(delivery.payload),
                    url,
                    signing_secrets(secret, previous, previous_until, now),
                )
            )
    delivered = 0
    for delivery_id, partner_id, county_id, event, body, url, secret in leased:
        # One delivery that cannot be sent or recorded is skipped and recorded (ledger/core/failures.py); the lease
        # runs out and it goes again later. The others go out.
        try:
            delivered += _deliver_one(engine, now, send, delivery_id, partner_id, event, body, url, secret)
        except Exception as error:  # noqa: BLE001
            with unit_of_work(engine) as session:
                failures.failed(
                    session, step=STEP, kind="webhook_delivery", record_id=delivery_id, county_id=county_id, error=error
                )
    return delivered


def _deliver_one(
    engine: Engine,
    now: datetime,
    send: Send,
    delivery_id: str,
    partner_id: int,
    event: str,
    body: bytes,
    url: str,
    secret: Sequence[str],
) -> int:
    status: int | None = None
    error: str | None = None
    try:
        status = send(url, headers_for(delivery_id, event, secret, int(time.time()), body), body)
    except Exception as failure:  # noqa: BLE001  (unreachable, timed out, refused: try again later)
        error = failure_text(failure)
        log.warning(
            "webhook send failed",
            extra={
                "fields": {
                    "id": delivery_id,
                    "partner_id": partner_id,
                    "failure": f"{type(failure).__name__}: {failure}",
                }
            },
        )
    ok = status is not None and 200 <= status < 300
    if status is not None and not ok:
        error = f"HTTP {status}"
    with unit_of_work(engine) as session:
        delivery = session.get(WebhookDelivery, delivery_id)
        assert delivery is not None
        delivery.attempts += 1
        delivery.last_status, delivery.last_error = status, error
        delivery.retry_requested_at = None
        if ok:
            delivery.delivered_at = now
        else:
            delivery.next_attempt_at = now + backoff(delivery.attempts)
        failures.succeeded(session, step=STEP, kind="webhook_delivery", record_id=delivery_id)
    if not ok:
        log.warning(
            "webhook not delivered", extra={"fields": {"id": delivery_id, "partner_id": partner_id, "error": error}}
        )
    return int(ok)


def deliver_step(engine: Engine, now: datetime) -> int:
    """The scheduled step (redemption/schedule.py), run outside the other steps' transactions."""
    return deliver_due(engine, now, limit=STEP_LIMIT)


# --- the partner's settings ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reach:
    """Where webhooks may go: only https outside dev mode, and never to an address of our own network (loopback,
    private, link-local, shared, multicast, reserved, unspecified) unless the allow-list names its network."""

    https_only: bool = True
    allowed: tuple[Network, ...] = ()

    @classmethod
    def from_settings(cls, settings: Settings) -> Reach:
        return cls(
            https_only=not settings.dev_mode,
            allowed=tuple(ipaddress.ip_network(str(n)) for n in settings.webhook_allowed_networks),
        )

    def permits(self, address: Address) -> bool:
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return all(self._permits_one(a) for a in (address, *embedded(address)))

    def _permits_one(self, address: Address) -> bool:
        if any(address.version == n.version and address in n for n in self.allowed):
            return True
        return address.is_global and not (
            address.is_multicast
            or address.is_reserved
            or address.is_private
            or address.is_loopback
            or address.is_link_local
            or address.is_unspecified
        )


def embedded(address: Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries to (6to4, Teredo, NAT64): each must be allowed too."""
    if not isinstance(address, ipaddress.IPv6Address):
        return []
    found = [a for a in (address.sixtofour, *(address.teredo or ())) if a is not None]
    if address in NAT64:
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return found


def literal(host: str) -> Address | None:
    """The address a host names by itself, in any form a resolver would read: dotted, IPv6 (mapped too), and the
    old decimal, octal, hexadecimal and short IPv4 forms (2130706433, 0177.0.0.1, 0x7f.1, 127.1)."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def addresses_of(host: str, port: int) -> list[Address]:
    if (address := literal(host)) is not None:
        return [address]
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError) as error:
        raise InvalidWebhookUrl("The webhook URL's host could not be resolved.") from error
    return list(dict.fromkeys(ipaddress.ip_address(str(info[4][0]).partition("%")[0]) for info in found))


@dataclass(frozen=True)
class Target:
    """Where a webhook goes: the URL with the checked address in place of the name, and the name for Host/SNI."""

    connect_to: str
    host: str
    host_header: str
    tls: bool


def target_of(url: str, reach: Reach) -> Target:
    """Resolve the URL's host once and check every address it resolves to; raises when any is not allowed."""
    parts = _parts(url)
    scheme = parts.scheme.lower()
    if reach.https_only and scheme != "https":
        raise InvalidWebhookUrl("The webhook URL must be an https:// URL.")
    host = str(parts.hostname)
    if literal(host) is None:
        host = _parsed(url).raw_host.decode("ascii")  # an international name in its IDNA form, as DNS and TLS read it
    addresses = addresses_of(host, parts.port or (443 if scheme == "https" else 80))
    if not addresses or not all(reach.permits(a) for a in addresses):
        raise WebhookAddressRefused(
            "The webhook URL's host is an address of a private, local or reserved network; give a public address."
        )
    parsed = _parsed(url)
    address = addresses[0]
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return Target(
        str(parsed.copy_with(host=str(address))),
        host,
        parsed.netloc.decode("ascii"),
        scheme == "https" and literal(host) is None,
    )


def _parsed(url: str) -> httpx.URL:
    try:
        return httpx.URL(url)
    except (httpx.InvalidURL, UnicodeError) as error:
        raise InvalidWebhookUrl("The webhook URL is not a valid URL.") from error


def _parts(url: str) -> SplitResult:
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises on a port that is not a number in range
    except ValueError as error:
        raise InvalidWebhookUrl("The webhook URL is not a valid URL.") from error
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise InvalidWebhookUrl("The webhook URL must be an http:// or https:// URL with a host.")
    return parts


def check_url(url: str, reach: Reach) -> str:
    """An http or https URL (https only outside dev mode) with a host, at most 500 characters, with no credentials
    in it, whose host resolves only to addresses `reach` permits."""
    url = url.strip()
    if not url or len(url) > MAX_URL_LENGTH:
        raise InvalidWebhookUrl(f"The webhook URL must be 1 to {MAX_URL_LENGTH} characters long.")
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        raise InvalidWebhookUrl("The webhook URL may not contain spaces or control characters.")
    parts = _parts(url)
    if parts.username is not None or parts.password is not None:
        raise InvalidWebhookUrl("Put no user name or password in the webhook URL; the signature proves the sender.")
    target_of(url, reach)
    return url


def _partner(session: Session, partner_id: int) -> Partner:
    partner = session.get(Partner, partner_id, with_for_update=True)
    if partner is None:
        raise NotFound("No such partner.")
    return partner


def set_url(session: Session, partner_id: int, url: str, reach: Reach, *, actor: str) -> tuple[Partner, str | None]:
    """Deliver this partner's events to `url` from now on. Returns the partner and, when it had none, the secret
    made for it (the only time it is shown). The change is in the county's change log (never the secret)."""
    url = check_url(url, reach)
    partner = _partner(session, partner_id)
    before = partner.webhook_url
    partner.webhook_url = url
    created = None
    if partner.webhook_secret is None:
        created = partner.webhook_secret = new_secret()
    session.flush()
    audit.record(
        session,
        county_id=partner.county_id,
        actor=actor,
        action="partner.webhook_url",
        target_type="partner",
        target_id=partner.id,
        before={"webhook_url": before},
        after={"webhook_url": url},
    )
    return partner, created


def rotate_secret(session: Session, partner_id: int, *, actor: str, now: datetime | None = None) -> tuple[Partner, str]:
    """A new secret, in force at once: every later attempt, retries included, is signed with it. The secret it
    replaces signs too, beside it, for OVERLAP from `now` (a second v1 in the signature header); the one before
    that, if its overlap had not run out, ends now. The change log says when (never a secret)."""
    now = now or utcnow()
    partner = _partner(session, partner_id)
    partner.webhook_previous_secret = partner.webhook_secret
    partner.webhook_previous_until = now + OVERLAP if partner.webhook_secret is not None else None
    partner.webhook_secret = new_secret()
    session.flush()
    audit.record(
        session,
        county_id=partner.county_id,
        actor=actor,
        action="partner.webhook_secret",
        target_type="partner",
        target_id=partner.id,
        after={"rotated_at": now.isoformat(), "previous_valid_until": _iso(partner.webhook_previous_until)},
    )
    return partner, partner.webhook_secret


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else as_utc(moment).isoformat()


def previous_valid_until(partner: Partner, now: datetime | None = None) -> datetime | None:
    """Until when the secret before the last rotation still signs; None when it no longer does."""
    until = partner.webhook_previous_until
    if partner.webhook_previous_secret is None or until is None or as_utc(until) <= (now or utcnow()):
        return None
    return as_utc(until)


def retry(session: Session, partner_id: int, delivery_id: str, *, now: datetime | None = None) -> WebhookDelivery:
    """Send a delivery of this partner's again by hand: it is due at once and goes out with the next run of the
    scheduled step, even after its last scheduled attempt (one attempt more). Another partner's delivery looks
    missing; one already delivered is refused."""
    now = now or utcnow()
    delivery = (
        session.scalars(select(WebhookDelivery).where(col(WebhookDelivery.id) == delivery_id).with_for_update()).first()
        if isinstance(delivery_id, str) and len(delivery_id) <= 32
        else None
    )
    if delivery is None or delivery.partner_id != partner_id:
        raise DeliveryNotFound("No such delivery of yours.", delivery_id=delivery_id)
    if delivery.delivered_at is not None:
        raise DeliveryAlreadyDelivered(
            "This delivery has already arrived.",
            delivery_id=delivery_id,
            delivered_at=as_utc(delivery.delivered_at).isoformat(),
        )
    delivery.retry_requested_at = now
    delivery.next_attempt_at = now
    session.flush()
    return delivery


def next_try(delivery: WebhookDelivery) -> datetime | None:
    """When a delivery is tried next: None once delivered, or once it has had its last attempt (and no one asked
    for it again by hand)."""
    if delivery.delivered_at is not None:
        return None
    if delivery.attempts >= MAX_ATTEMPTS and delivery.retry_requested_at is None:
        return None
    return as_utc(delivery.next_attempt_at)


def failing(session: Session, partner_id: int, *, limit: int = 50) -> Sequence[WebhookDelivery]:
    """The partner's deliveries that have failed at least once and not arrived since, newest first."""
    return session.scalars(
        select(WebhookDelivery)
        .where(
            col(WebhookDelivery.partner_id) == partner_id,
            col(WebhookDelivery.delivered_at).is_(None),
            col(WebhookDelivery.attempts) > 0,
        )
        .order_by(col(WebhookDelivery.created_at).desc(), col(WebhookDelivery.id).desc())
        .limit(limit)
    ).all()


def delivery_page(
    session: Session, partner_id: int, *, failed: bool = False, cursor: str | None = None, limit: int = paging.PAGE
) -> paging.Page[WebhookDelivery]:
    """The partner's deliveries (`failed`: those `failing` lists), newest first, a page at a time after `cursor`."""
    query = select(WebhookDelivery).where(col(WebhookDelivery.partner_id) == partner_id)
    if failed:
        query = query.where(col(WebhookDelivery.delivered_at).is_(None), col(WebhookDelivery.attempts) > 0)
    limit = paging.bounded(limit)
    key = paging.decode(cursor, int, str)
    if key is not None:  # the delivery id is random: the moment it was written orders, the id breaks ties
        at, after_id = paging.moment(int(key[0])), str(key[1])
        created = col(WebhookDelivery.created_at)
        query = query.where((created < at) | ((created == at) & (col(WebhookDelivery.id) < after_id)))
    rows = session.scalars(
        query.order_by(col(WebhookDelivery.created_at).desc(), col(WebhookDelivery.id).desc()).limit(limit + 1)
    ).all()
    return paging.cut(rows, limit, lambda d: (paging.micros(as_utc(d.created_at)), d.id))


def recent(session: Session, partner_id: int, *, limit: int = 50) -> Sequence[WebhookDelivery]:
    """The partner's deliveries, newest first."""
    return session.scalars(
        select(WebhookDelivery)
        .where(col(WebhookDelivery.partner_id) == partner_id)
        .order_by(col(WebhookDelivery.created_at).desc(), col(WebhookDelivery.id).desc())
        .limit(limit)
    ).all()


def backlog(session: Session, *, now: datetime | None = None) -> outbox.Backlog:
    """The webhook deliveries not delivered yet, to partners that have a webhook (the others' wait for one): due,
    waiting for a retry, dead (given up after MAX_ATTEMPTS, until the partner asks for it again)."""
    table = table_of(WebhookDelivery).c
    with_hook = select(col(Partner.id)).where(col(Partner.webhook_url).is_not(None))
    return outbox.backlog_of(
        session,
        table,
        trying=(table.attempts < MAX_ATTEMPTS) | table.retry_requested_at.is_not(None),
        now=now or utcnow(),
        where=[table.partner_id.in_(with_hook.scalar_subquery())],
    )
