"""The signed codes behind QR codes: an activity's printed code, its rotating live code, a household's card, and
a village's (or township's) concern code, where anyone reports a problem (随手拍).

A JWT would make a QR code too dense to scan from a poster on a wall, so these are compact: a kind byte, the key
id, a few fixed-width numbers and the first 12 bytes of an HMAC-SHA256, in URL-safe base64 (39 characters for a
printed activity code). The HMAC key for each key id is derived from the server's signing key of that id, so the
codes rotate with the access-token keys: a retired key id makes its codes unreadable.

A scan ticket is made the same way. Opening a live rotating code gives the browser one: the activity, the code's
step and a random nonce, with the MAC also over the device it was given to (`bound_to`, never in the ticket
itself), so it proves "this device opened this code at this step" and nothing more. It is read in the ledger's
claim service, which may not import the web's JWT module; these few bytes also fit a cookie easily.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ledger.core.base import as_utc
from ledger.core.errors import Invalid
from ledger.core.settings import Settings

MAC_BYTES = 12
STEP_SECONDS = 30  # a rotating code changes this often
TICKET_SECONDS = 10 * 60  # a scan ticket lasts this long after its code's step: time to sign in by SMS code
EPOCH = datetime(2020, 1, 1, tzinfo=UTC)  # windows are stored as minutes since this

ACTIVITY, ROTATING, HOUSEHOLD, TICKET, CONCERNS = b"A", b"R", b"H", b"T", b"Q"
_FIELDS = {ACTIVITY: struct.Struct(">III"), ROTATING: struct.Struct(">II"), HOUSEHOLD: struct.Struct(">I")}
_TICKET_FIELDS = {TICKET: struct.Struct(">IIQ")}  # activity, step, nonce; read only by read_ticket
_CONCERN_FIELDS = {CONCERNS: struct.Struct(">BI")}  # 0 a village or 1 a township, its id; read by read_concern_place
_VILLAGE, _TOWNSHIP = 0, 1


class CodeInvalid(Invalid):
    code = "code_invalid"


@dataclass(frozen=True, slots=True)
class Keys:
    current: str
    ring: dict[str, bytes]  # key id -> HMAC key for codes

    @classmethod
    def from_settings(cls, settings: Settings) -> Keys:
        ring = {
            kid: hmac.new(secret.encode(), b"shanzhi:qr-codes:v1", hashlib.sha256).digest()
            for kid, secret in settings.key_ring().items()
            if secret
        }
        return cls(current=settings.jwt_kid, ring=ring)


@dataclass(frozen=True, slots=True)
class ActivityCode:
    activity_id: int
    starts_at: datetime | None = None  # printed codes carry the activity's window
    ends_at: datetime | None = None
    step: int | None = None  # rotating codes carry their 30-second step


@dataclass(frozen=True, slots=True)
class HouseholdCard:
    household_id: int


@dataclass(frozen=True, slots=True)
class ScanTicket:
    """Proof that a device opened a rotating code of this activity during this step."""

    activity_id: int
    step: int
    nonce: int

    @property
    def id(self) -> str:
        return f"{self.nonce:016x}"


@dataclass(frozen=True, slots=True)
class ConcernPlaceCode:
    """A village's (or a township's) concern code: scanning it opens the report form for that place."""

    village_id: int | None = None
    township_id: int | None = None


def minutes(moment: datetime) -> int:
    return int((as_utc(moment) - EPOCH).total_seconds() // 60)


def step_of(moment: datetime) -> int:
    return int(as_utc(moment).timestamp() // STEP_SECONDS)


def start_of(step: int) -> datetime:
    return datetime.fromtimestamp(step * STEP_SECONDS, UTC)


def sign_activity(keys: Keys, *, activity_id: int, starts_at: datetime, ends_at: datetime) -> str:
    return _sign(keys, ACTIVITY, activity_id, minutes(starts_at), minutes(ends_at))


def sign_rotating(keys: Keys, *, activity_id: int, step: int) -> str:
    return _sign(keys, ROTATING, activity_id, step)


def sign_household(keys: Keys, *, household_id: int) -> str:
    return _sign(keys, HOUSEHOLD, household_id)


def sign_concern_place(keys: Keys, *, village_id: int | None = None, township_id: int | None = None) -> str:
    """The printed concern code of a village, or of a township (its concerns belong to no one village). It has no
    window: a poster on the wall stays good as long as the key id it was signed with."""
    if (village_id is None) == (township_id is None):
        raise ValueError("a concern code names a village or a township")
    if village_id is not None:
        return _sign(keys, CONCERNS, _VILLAGE, village_id, fields=_CONCERN_FIELDS)
    assert township_id is not None
    return _sign(keys, CONCERNS, _TOWNSHIP, township_id, fields=_CONCERN_FIELDS)


def read_concern_place(keys: Keys, token: str) -> ConcernPlaceCode:
    """The place a concern code names, once its signature checks out; any other code (an activity's, a
    household card) is refused as not one of ours."""
    scope, place_id = _open(keys, token, _CONCERN_FIELDS)[1]
    if scope == _VILLAGE:
        return ConcernPlaceCode(village_id=place_id)
    if scope == _TOWNSHIP:
        return ConcernPlaceCode(township_id=place_id)
    raise CodeInvalid("This code is not one of ours, or it was damaged; scan it again.", field="token")


def sign_ticket(keys: Keys, *, activity_id: int, step: int, bound_to: str) -> str:
    """A scan ticket for the device `bound_to` names (a hash of its id), with a fresh random nonce."""
    return _sign(keys, TICKET, activity_id, step, secrets.randbits(64), bound_to=bound_to, fields=_TICKET_FIELDS)


def read_ticket(keys: Keys, token: str, *, bound_to: str) -> ScanTicket:
    """The ticket's content, once its MAC checks out for this device; any other device's ticket is refused."""
    activity_id, step, nonce = _open(keys, token, _TICKET_FIELDS, bound_to=bound_to)[1]
    return ScanTicket(activity_id=activity_id, step=step, nonce=nonce)


def scanned(text: str) -> str:
    """The token in what a scanner read: the code's whole URL (…/c/TOKEN, …/h/TOKEN or …/r/TOKEN) or the token
    alone."""
    return text.strip().rstrip("/").rsplit("/", 1)[-1]


def read(keys: Keys, token: str) -> ActivityCode | HouseholdCard:
    """The code's content, once its signature checks out with a key id still in the ring."""
    kind, values = _open(keys, token, _FIELDS)
    if kind == HOUSEHOLD:
        return HouseholdCard(household_id=values[0])
    if kind == ROTATING:
        return ActivityCode(activity_id=values[0], step=values[1])
    return ActivityCode(
        activity_id=values[0],
        starts_at=EPOCH + timedelta(minutes=values[1]),
        ends_at=EPOCH + timedelta(minutes=values[2]),
    )


def _open(
    keys: Keys, token: str, kinds: dict[bytes, struct.Struct], *, bound_to: str = ""
) -> tuple[bytes, tuple[int, ...]]:
    refused = CodeInvalid("This code is not one of ours, or it was damaged; scan it again.", field="token")
    if not isinstance(token, str) or not 8 <= len(token) <= 96:
        raise refused
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        raise refused from None
    if len(raw) < 2 + MAC_BYTES:
        raise refused
    kind, kid_length = raw[:1], raw[1]
    body, mac = raw[:-MAC_BYTES], raw[-MAC_BYTES:]
    fields = kinds.get(kind)
    if fields is None or len(body) != 2 + kid_length + fields.size:
        raise refused
    key = keys.ring.get(body[2 : 2 + kid_length].decode("ascii", "replace"))
    if key is None or not hmac.compare_digest(_mac(key, body, bound_to), mac):
        raise refused
    return kind, fields.unpack(body[2 + kid_length :])


def _sign(
    keys: Keys, kind: bytes, *values: int, bound_to: str = "", fields: dict[bytes, struct.Struct] = _FIELDS
) -> str:
    kid = keys.current.encode("ascii")
    if not kid or len(kid) > 16:
        raise ValueError("the key id for codes is 1 to 16 ASCII characters")
    body = kind + bytes([len(kid)]) + kid + fields[kind].pack(*values)
    return base64.urlsafe_b64encode(body + _mac(keys.ring[keys.current], body, bound_to)).decode().rstrip("=")


def _mac(key: bytes, body: bytes, bound_to: str) -> bytes:
    """The body has a fixed length for its kind, so what it is bound to can follow it without a separator."""
    return hmac.new(key, body + bound_to.encode(), hashlib.sha256).digest()[:MAC_BYTES]


def household_named(keys: Keys, household_id: int | None, household_card: str | None) -> int:
    """The household an official names: by its number, or by the scan of its card's QR code (or both, alike)."""
    if household_card is not None:
        card = read(keys, scanned(household_card))
        if not isinstance(card, HouseholdCard):
            raise CodeInvalid("This is not a household card.", field="household_card")
        if household_id is not None and household_id != card.household_id:
            raise Invalid("household_id and household_card name different households.", field="household_id")
        household_id = card.household_id
    if household_id is None:
        raise Invalid("Name the household (household_id) or scan its card (household_card).", field="household_id")
    return household_id
