"""Erasing a person (PIPL art. 47): the county admin deletes what identifies one member of a household.

What goes: their name (a pseudonym, 匿名<id>, takes its place, on the person and on their sign-in), their phone,
the photos and voice notes they sent (the files; the rows stay, marked deleted), their browser sessions, their
one-time codes and the sign-in counts kept under their phone; their sign-in ends at once
(`identity.end_sign_ins`) and is deactivated.

What stays: the household and its records (claims, deductions, vouchers, ratings: they are the household's, and
its other members' too), and the journal whole. The journal never held a name or a phone: a transaction names
its actor as `user:<id>` and its records by id (ledger/journal/chain.py hashes only those), so `shanzhi verify`
passes after an erasure as before it.

The head of a household is erased like any member and stays its head (a household has exactly one); when the
household's name was made from the head's name (王建国家), it is renamed after the pseudonym, and the notice board
names the household 一户村民 whatever the village's policy. Erasing the last member leaves the household as it
is, its points and history kept: closing it (docs/people.md) is a decision of its own.

Refused: a person not of the admin's county (404 `person_not_found`), the admin's own household (403
`conflict_of_interest`), a person already erased (409 `person_already_erased`), a person with an active staff
account (409 `person_is_staff`: their staff account is disabled first, since the staff account stays as the actor
of what it did). The erasure is in the change log (`person.erase`) without the name or phone it removed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import delete, select
from sqlmodel import Session, col

from ledger.claims import evidence
from ledger.claims.models import EvidenceFile
from ledger.concerns import voice
from ledger.concerns.models import ConcernVoice
from ledger.core import audit
from ledger.core.base import utcnow
from ledger.core.errors import Conflict
from ledger.core.ratelimit import RateWindow
from ledger.identity import service as identity
from ledger.identity import throttle
from ledger.identity.models import OtpChallenge, Role, SignInThrottle, User, WebSession
from ledger.identity.principal import Principal
from ledger.people import access
from ledger.tenancy import Household, Person


class PersonAlreadyErased(Conflict):
    code = "person_already_erased"


class PersonIsStaff(Conflict):
    code = "person_is_staff"


def pseudonym(person_id: int) -> str:
    return f"匿名{person_id}"


@dataclass(frozen=True)
class Erased:
    person: Person
    household: Household
    photos_deleted: int
    sign_in_ended: bool


def erase(session: Session, who: Principal, person_id: int, *, upload_dir: Path, now: datetime | None = None) -> Erased:
    """Erase the person's data (see the module's words for what goes and what stays)."""
    now = now or utcnow()
    person = access.person(session, who, person_id)
    household = access.household(session, who, person.household_id)  # locked; refuses the admin's own
    session.refresh(person)
    if person.household_id != household.id:  # moved at this moment: their new household is not locked here
        raise Conflict("This member was moved at the same moment; open their household again.", person_id=person_id)
    if person.erased_at is not None:
        raise PersonAlreadyErased("This person's data was erased already.", person_id=person_id)
    staff = session.scalars(
        select(User).where(col(User.person_id) == person_id, col(User.role) != Role.VILLAGER, col(User.active))
    ).first()
    if staff is not None:
        raise PersonIsStaff(
            "This person has an active staff account: disable it first (it stays as the actor of what it did).",
            person_id=person_id,
        )
    name, phone = person.name, person.phone
    alias = pseudonym(person_id)
    person.name, person.phone, person.erased_at = alias, None, now
    if person.is_head and name and name in household.name:
        household.name = f"{alias}家"
    session.flush()
    villager = session.scalars(
        select(User).where(col(User.person_id) == person_id, col(User.role) == Role.VILLAGER).with_for_update()
    ).first()
    photos = voices = 0
    if villager is not None:
        assert villager.id is not None
        villager.display_name, villager.active = alias, False
        identity.end_sign_ins(session, villager.id)
        session.execute(delete(WebSession).where(col(WebSession.user_id) == villager.id))
        sent = session.scalars(
            select(EvidenceFile).where(
                col(EvidenceFile.uploaded_by) == f"user:{villager.id}", col(EvidenceFile.purged_at).is_(None)
            )
        ).all()
        photos = evidence.delete_photos(session, sent, root=upload_dir, now=now)
        spoken = session.scalars(
            select(ConcernVoice).where(
                col(ConcernVoice.uploaded_by) == f"user:{villager.id}", col(ConcernVoice.purged_at).is_(None)
            )
        ).all()
        voices = voice.delete_voices(session, spoken, root=upload_dir, now=now)
    if phone:
        _forget_phone(session, phone)
    audit.record(
        session,
        county_id=household.county_id,
        actor=who.actor,
        action="person.erase",
        target_type="person",
        target_id=person_id,
        after={
            "household_id": household.id,
            "photos_deleted": photos,
            "voice_notes_deleted": voices,
            "sign_in_ended": villager is not None,
        },
    )
    return Erased(person, household, photos, villager is not None)


def _forget_phone(session: Session, phone: str) -> None:
    """The one-time codes sent to the phone, and the counts kept under it: codes asked for, texts sent, failed
    sign-ins."""
    session.execute(delete(OtpChallenge).where(col(OtpChallenge.phone) == phone))
    account = f"phone:{phone}"  # the account a villager's sign-in is counted under (api/signin.py)
    session.execute(
        delete(SignInThrottle).where(
            (col(SignInThrottle.key) == throttle.account_key(account))
            | col(SignInThrottle.key).startswith(throttle.pair_key(account, ""), autoescape=True)
        )
    )
    # codes asked for (api/signin.py) and texts sent (ledger/sms/delivery.py) to the phone, counted per window
    session.execute(
        delete(RateWindow).where(col(RateWindow.key).in_([f"code-requests:phone:{phone}", f"sms:phone:{phone}"]))
    )
