"""Submitting a claim: a villager with the code they scanned, or an official entering it for someone without a
smartphone (a proxy claim). One order for every claim:

1. the Idempotency-Key (a replay returns the claim the first request made);
2. the code: signature, then the activity's window or the rotating code's step (or, for a rotating code that has
   changed since, the scan ticket this device got when it opened the code: it proves the scan time);
3. locks: the activity (capacity) and then the household (caps, one claim per period), so two claims that
   compete for a place or a cap are decided one after the other;
4. the household is of the activity's village, the rule is in force, one claim per period, capacity, caps
   (`_check_household`), then the evidence is there and is the household's own;
5. fraud signals (flags, never refusals);
6. the claim row and its journal transfer: pending in the household's notice account, or posted there at once
   when the matter approves automatically, the code was shown live and the claim has no flag (for a live code:
   a device id, a location inside the activity's geofence, no other household from that device with that code).

Any refusal raises before anything is written, and the unit of work rolls back whatever was. `check` runs steps 2
and 4 but the evidence without locking or writing anything, so the claim page can say before the photo is taken
that a claim would be refused, and why.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, case, func, insert, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased, make_transient_to_detached
from sqlmodel import Session, col

from ledger.activities import access as activity_access
from ledger.activities import codes
from ledger.activities.models import Activity
from ledger.catalogue import service as catalogue
from ledger.catalogue.models import Evidence, Matter, Review
from ledger.claims import access, fraud, lifecycle, rules
from ledger.claims.models import OPEN_STATUSES, Claim, ClaimEvidence, EvidenceFile, ScanTicketUse
from ledger.core import idempotency
from ledger.core.base import as_utc, row_id, table_of, utcnow
from ledger.core.errors import Conflict, Forbidden, Invalid, NotFound, ReasonRequired
from ledger.core.idempotency import Outcome
from ledger.identity.models import Role
from ledger.identity.principal import Principal
from ledger.tenancy import County, Household, HouseholdClosed, HouseholdNotFound, Person, refuse_closed

MAX_PHOTOS = 3
_WHEN = {"once": "", "day": " today", "week": " this week", "month": " this month"}


class ActivityWithdrawn(Conflict):
    code = "activity_withdrawn"


class CodeExpired(Conflict):
    code = "code_expired"  # a rotating code whose 30-second step is past: scan the screen again


class ActivityOver(CodeExpired):
    code = "activity_over"  # the activity's window has closed: its code earns nothing any more


class ScanTicketInvalid(Invalid):
    code = "scan_ticket_invalid"  # not a ticket of ours, or not this device's


class ScanTicketUsed(Conflict):
    code = "scan_ticket_used"  # a scan ticket makes one claim


class NotYetOpen(Conflict):
    code = "not_yet_open"


class OutsideVillage(Forbidden):
    code = "outside_village"


class AlreadyClaimed(Conflict):
    code = "already_claimed"


class CapacityFull(Conflict):
    code = "capacity_full"


class EvidenceRequired(Invalid):
    code = "evidence_required"


class EvidenceNotYours(Forbidden):
    code = "evidence_not_yours"


class TooManyPhotos(Invalid):
    code = "too_many_photos"


class ClaimNotFound(NotFound):
    code = "claim_not_found"


class NotAClaimant(Forbidden):
    code = "not_a_claimant"


class ActivityNotYours(NotFound):
    code = "activity_not_found"


class SecondOfficialNeeded(Forbidden):
    code = "second_official_needed"


class NotAReward(Invalid):
    code = "not_a_reward"


@dataclass(frozen=True, slots=True)
class Details:
    """What a claimant may add to a claim."""

    evidence_ids: tuple[int, ...] = ()
    lat: float | None = None
    lon: float | None = None
    note: str | None = None
    device: str | None = None  # the client's device id, as sent; only its hash is kept
    scan_ticket: str | None = None  # what opening a live rotating code gave this device (codes.sign_ticket)


@dataclass(frozen=True, slots=True)
class Scan:
    """When the code was scanned: now, or the step a scan ticket proves. `ticket`: the ticket that proves it."""

    moment: datetime
    ticket: codes.ScanTicket | None = None


def submit_by_code(
    session: Session,
    who: Principal,
    keys: codes.Keys,
    *,
    token: str,
    details: Details,
    idempotency_key: str | None,
    now: datetime | None = None,
) -> Outcome[Claim]:
    """A villager's claim for their household, with the code they scanned."""
    if who.role != Role.VILLAGER or who.household_id is None:
        raise NotAClaimant("Only a villager claims with a code, for their own household.")
    household_id = who.household_id
    now = now or utcnow()
    request = {"op": "claim", "token": token, **_details_request(details)}

    def submit() -> Claim:
        code = _activity_code(keys, token)
        scan = _scan(session, keys, code, details, now)
        place = _activity(session, code.activity_id, lock=True)
        live = _check_code(place.activity, code, scan.moment)
        if scan.ticket is not None:
            _use_ticket(session, scan.ticket, household_id=household_id, now=now)
        claim = _submit(
            session,
            place,
            household_id=household_id,
            person_id=who.person_id,
            actor=who.actor,
            proxy=False,
            live=live,
            details=details,
            now=now,
            code_step=code.step,
        )
        return claim

    return idempotency.run(
        session, actor=who.actor, key=idempotency_key, request=request, stored=_CLAIM, operation=submit
    )


def _activity_code(keys: codes.Keys, token: str) -> codes.ActivityCode:
    code = codes.read(keys, token)
    if not isinstance(code, codes.ActivityCode):
        raise codes.CodeInvalid("This is a household card, not an activity's code.", field="token")
    return code


def check(
    session: Session,
    who: Principal,
    keys: codes.Keys,
    *,
    token: str,
    device: str | None = None,
    scan_ticket: str | None = None,
    now: datetime | None = None,
) -> None:
    """Would this villager's claim with this code be taken now? Raises the refusal the claim would get, but for
    the evidence, which comes with the claim. Reads only and locks nothing; the claim itself checks again."""
    if who.role != Role.VILLAGER or who.household_id is None:
        raise NotAClaimant("Only a villager claims with a code, for their own household.")
    now = now or utcnow()
    code = _activity_code(keys, token)
    scan = _scan(session, keys, code, Details(device=device, scan_ticket=scan_ticket), now)
    place = _activity(session, code.activity_id, lock=False)
    _check_code(place.activity, code, scan.moment)
    _check_household(session, place, household_id=who.household_id, now=now, lock=False)


def scan_ticket(
    session: Session, keys: codes.Keys, *, token: str, device: str, now: datetime | None = None
) -> str | None:
    """What opening a code gives the device: a scan ticket when it is a live rotating code of an open activity,
    else None. The ticket proves when this device scanned, so a claim sent after signing in still counts."""
    now = now or utcnow()
    try:
        code = _activity_code(keys, token)
        if code.step is None:
            return None
        place = _activity(session, code.activity_id, lock=False)
        if not place.activity.rotating:
            return None
        _check_code(place.activity, code, now)
    except (codes.CodeInvalid, ActivityWithdrawn, CodeExpired, NotYetOpen):
        return None
    return codes.sign_ticket(keys, activity_id=code.activity_id, step=code.step, bound_to=device_hash(device))


def device_hash(device: str) -> str:
    """Only this is kept of a device id, and a scan ticket is bound to it."""
    return hashlib.sha256(device.encode()).hexdigest()


def submit_proxy(
    session: Session,
    who: Principal,
    *,
    activity_id: int,
    household_id: int,
    person_id: int | None,
    details: Details,
    idempotency_key: str | None,
    now: datetime | None = None,
) -> Outcome[Claim]:
    """An official enters a claim for a household of their village (picked by its card). A second official
    approves it; it is never approved automatically. Never for the official's own household."""
    if who.role != Role.OFFICIAL:
        raise Forbidden("Only a village official enters a claim for someone else.")
    check_not_own(who, household_id)
    now = now or utcnow()
    request = {
        "op": "proxy_claim",
        "activity": activity_id,
        "household": household_id,
        "person": person_id,
        **_details_request(details),
    }

    def submit() -> Claim:
        place = _activity(session, activity_id, lock=True)
        if not activity_access.runs(who, place.activity):
            raise ActivityNotYours("No such activity in your villages.", activity_id=activity_id)
        _check_window(place.activity, now)
        _check_person(session, person_id, household_id)
        claim = _submit(
            session,
            place,
            household_id=household_id,
            person_id=person_id,
            actor=who.actor,
            proxy=True,
            live=False,
            details=details,
            now=now,
        )
        return claim

    return idempotency.run(
        session, actor=who.actor, key=idempotency_key, request=request, stored=_CLAIM, operation=submit
    )


def submit_award(
    session: Session,
    who: Principal,
    *,
    household_id: int,
    matter_code: str,
    reason: str,
    person_id: int | None,
    details: Details,
    idempotency_key: str | None,
    now: datetime | None = None,
) -> Outcome[Claim]:
    """An official (or the county admin) awards a household of their village the points of a catalogue matter,
    saying why. An award is a claim entered by the official, so every rule of claims holds: the matter's caps
    count it, its evidence is what the matter asks for (photos the official sent), it waits on the notice board
    (open to objections) and settles like any claim, and nobody awards their own household. Worth more than the
    county's `award_second_official_points`, it stays pending until another official approves it; otherwise the
    entering official's word approves it at once, into notice."""
    if who.role not in (Role.OFFICIAL, Role.COUNTY_ADMIN):
        raise Forbidden("Only officials award points.")
    if not isinstance(reason, str) or not reason.strip() or len(reason) > 500:
        raise ReasonRequired(
            "Say why the household is awarded (up to 500 characters): the village sees it.", field="reason"
        )
    now = now or utcnow()
    request = {
        "op": "award",
        "household": household_id,
        "matter": matter_code,
        "reason": reason.strip(),
        "person": person_id,
        **_details_request(details),
    }

    def submit() -> Claim:
        household = _locked_household(session, household_id)
        if household is None or not access.may_act_for(who, household):
            raise HouseholdNotFound("No such household in your villages.", household_id=household_id)
        check_not_own(who, household_id)
        return _award(
            session,
            who,
            household,
            matter_code=matter_code,
            reason=reason.strip(),
            person_id=person_id,
            details=details,
            hold=False,
            now=now,
        )

    return idempotency.run(
        session, actor=who.actor, key=idempotency_key, request=request, stored=_CLAIM, operation=submit
    )


def submit_report_award(
    session: Session,
    who: Principal,
    *,
    household_id: int,
    matter_code: str,
    reason: str,
    evidence_ids: tuple[int, ...],
    now: datetime | None = None,
) -> Claim:
    """The award a useful report earns (ledger/concerns/rewards.py): the staff member who confirmed the report
    awards the reporting household the matter's points, with the photos they sent of it. Every rule of an award
    holds (the matter in force, its caps, the household open, the notice board and its objections, the second
    official above the county's threshold), except that the resolving staff member need not be an official of the
    household's village: confirming the report is the ground. For their own household the award is still
    written, but waits for another official's decision (it is never approved on their word)."""
    if who.role not in (Role.OFFICIAL, Role.COUNTY_ADMIN):
        raise Forbidden("Only staff confirm a report.")
    now = now or utcnow()
    household = _locked_household(session, household_id)
    if household is None or household.county_id != who.county_id:
        raise HouseholdNotFound("No such household in this county.", household_id=household_id)
    own = who.role != Role.VILLAGER and who.household_id == household_id
    return _award(
        session,
        who,
        household,
        matter_code=matter_code,
        reason=reason,
        person_id=None,
        details=Details(evidence_ids=evidence_ids),
        hold=own,
        now=now,
    )


def _locked_household(session: Session, household_id: int) -> Household | None:
    return session.scalars(select(Household).where(col(Household.id) == household_id).with_for_update()).first()


def _award(
    session: Session,
    who: Principal,
    household: Household,
    *,
    matter_code: str,
    reason: str,
    person_id: int | None,
    details: Details,
    hold: bool,
    now: datetime,
) -> Claim:
    """An award's own checks and its claim, for a household already locked: the household open, the person its
    member, the matter a reward in force, its caps, its evidence; approved on the entering official's word unless
    it needs a second official (or `hold`: it waits for another official in any case)."""
    refuse_closed(household)
    assert household.id is not None
    _check_person(session, person_id, household.id)
    matter = catalogue.current(
        session, county_id=household.county_id, village_id=household.village_id, code=matter_code
    )
    if matter.points <= 0:
        raise NotAReward("This matter takes points; record it as a deduction.", field="matter_code")
    if not catalogue.in_force(matter, now):
        raise catalogue.MatterInactive("This matter is not in force.", matter_code=matter_code)
    county = session.get(County, household.county_id)
    assert county is not None
    rules.check_caps(_caps(matter), _claims_in_periods(session, household.id, matter, county.timezone, now))
    photos = _evidence(
        session,
        matter,
        household_id=household.id,
        actor=who.actor,
        proxy=True,
        live=False,
        ids=details.evidence_ids,
    )
    claim = Claim(
        county_id=household.county_id,
        village_id=household.village_id,
        household_id=household.id,
        person_id=person_id,
        activity_id=None,
        matter_id=row_id(matter.id),
        points=matter.points,
        period_key=rules.period_key(now, county.timezone, "day"),
        proxy=True,
        award_reason=reason,
        entered_by=who.actor,
        submitted_at=now,
        note=details.note,
        flags=[],
    )
    approve = not hold and not needs_second_official(claim, county)
    _write(session, claim, photos, approve_by=who.actor if approve else None, now=now)
    return claim


def needs_second_official(claim: Claim, county: County) -> bool:
    """A proxy claim always; an award when it is worth more than the county's threshold."""
    if claim.award_reason is None:
        return claim.proxy
    return claim.points > county.award_second_official_points


def check_not_own(who: Principal, household_id: int) -> None:
    """Conflict of interest: staff never act for the household they live in (User.person_id → its household)."""
    who.refuse_own(household_id)


# --- the steps ----------------------------------------------------------------------------------------------


def _check_person(session: Session, person_id: int | None, household_id: int) -> None:
    if person_id is not None:
        person = session.get(Person, person_id)
        if person is None or person.household_id != household_id:
            raise Invalid("That person is not a member of this household.", field="person_id")


def _details_request(details: Details) -> dict[str, Any]:
    return {"evidence": sorted(details.evidence_ids), "lat": details.lat, "lon": details.lon, "note": details.note}


_CLAIM = idempotency.row(Claim, "claim")


@dataclass(frozen=True, slots=True)
class Place:
    """An activity, locked for a claim, with the rule version it awards, its county, and the id of the newest
    version of that rule in the activity's village (the same id unless the rule was edited since)."""

    activity: Activity
    matter: Matter
    county: County
    newest_matter_id: int


# A claim's reads are built once: every scan runs them (see docs/benchmarks.md).
_newer = aliased(Matter)
_NEWEST_MATTER = (
    select(col(_newer.id))
    .where(
        col(_newer.county_id) == col(Matter.county_id),
        col(_newer.code) == col(Matter.code),
        or_(col(_newer.village_id).is_(None), col(_newer.village_id) == col(Activity.village_id)),
    )
    .order_by(col(_newer.village_id).is_(None), col(_newer.version).desc())
    .limit(1)
    .correlate(Matter, Activity)
    .scalar_subquery()
)
_PLACE_READ = (
    select(Activity, Matter, County, _NEWEST_MATTER.label("newest_matter_id"))
    .join(Matter, col(Matter.id) == col(Activity.matter_id))
    .join(County, col(County.id) == col(Activity.county_id))
    .where(col(Activity.id) == bindparam("activity_id"))
)
_PLACE = _PLACE_READ.with_for_update(of=Activity)
_HOUSEHOLD_READ = select(col(Household.village_id), col(Household.closed_at)).where(
    col(Household.id) == bindparam("household_id")
)
_HOUSEHOLD = _HOUSEHOLD_READ.with_for_update()
_EARLIER = select(col(Claim.id), col(Claim.submitted_at)).where(
    col(Claim.activity_id) == bindparam("activity_id"),
    col(Claim.household_id) == bindparam("household_id"),
    col(Claim.period_key) == bindparam("period"),
)
_TAKEN = (
    select(func.count())
    .select_from(Claim)
    .where(
        col(Claim.activity_id) == bindparam("activity_id"),
        col(Claim.period_key) == bindparam("period"),
        col(Claim.status).in_(OPEN_STATUSES),
    )
)


def _activity(session: Session, activity_id: int, *, lock: bool) -> Place:
    row = session.execute(_PLACE if lock else _PLACE_READ, {"activity_id": activity_id}).first()
    if row is None:
        raise codes.CodeInvalid("This code is not one of ours, or it was damaged; scan it again.", field="token")
    place = Place(*row)
    # A unit of work holds its rows weakly: keep these until it ends, so that what comes after (the journal's
    # reason, the answer) finds them in it instead of loading them again.
    session.info.setdefault("claim_places", []).append(place)
    if not place.activity.active:
        raise ActivityWithdrawn("This activity was withdrawn by the village.", activity_id=activity_id)
    return place


def _scan(session: Session, keys: codes.Keys, code: codes.ActivityCode, details: Details, now: datetime) -> Scan:
    """When the code was scanned. A rotating code that has changed since counts at the step its scan ticket
    proves, if this device holds one for this very code, made at most codes.TICKET_SECONDS ago, not used yet."""
    if code.step is None or abs(codes.step_of(now) - code.step) <= 1 or not details.scan_ticket:
        return Scan(now)
    if not details.device:
        raise ScanTicketInvalid("A scan ticket is good only with the device it was given to.", field="scan_ticket")
    try:
        ticket = codes.read_ticket(keys, details.scan_ticket, bound_to=device_hash(details.device))
    except codes.CodeInvalid:
        raise ScanTicketInvalid(
            "This scan ticket was not given to this device; scan the code again.", field="scan_ticket"
        ) from None
    if (ticket.activity_id, ticket.step) != (code.activity_id, code.step) or (
        codes.step_of(now) - ticket.step
    ) * codes.STEP_SECONDS > codes.TICKET_SECONDS:
        raise CodeExpired("This code has changed since it was scanned; scan the screen again.")
    if session.get(ScanTicketUse, ticket.id) is not None:
        raise ScanTicketUsed("This scan was used for a claim already; scan the screen again.")
    return Scan(codes.start_of(ticket.step), ticket)


def _use_ticket(session: Session, ticket: codes.ScanTicket, *, household_id: int, now: datetime) -> None:
    """Mark the ticket used; the row's key refuses a second use, also one racing this one."""
    try:
        with session.begin_nested():
            session.add(
                ScanTicketUse(
                    ticket_id=ticket.id, activity_id=ticket.activity_id, household_id=household_id, used_at=now
                )
            )
            session.flush()
    except IntegrityError:
        raise ScanTicketUsed("This scan was used for a claim already; scan the screen again.") from None


def _check_code(activity: Activity, code: codes.ActivityCode, now: datetime) -> bool:
    """Check the scanned code against its activity; True when it is a live (rotating) code."""
    if activity.rotating:
        if code.step is None:
            raise codes.CodeInvalid(
                "This activity's code is shown live by an official; scan the screen.", field="token"
            )
        if abs(codes.step_of(now) - code.step) > 1:
            raise CodeExpired("This code has changed since it was scanned; scan the screen again.")
        _check_window(activity, now)
        return True
    if (
        code.step is not None
        or code.starts_at is None
        or code.ends_at is None
        or (codes.minutes(code.starts_at), codes.minutes(code.ends_at))
        != (codes.minutes(activity.starts_at), codes.minutes(activity.ends_at))
    ):
        raise codes.CodeInvalid("This code does not belong to the activity as it stands now.", field="token")
    _check_window(activity, now)
    return False


def _check_window(activity: Activity, now: datetime) -> None:
    if now < as_utc(activity.starts_at):
        raise NotYetOpen("This activity is not open for claims yet.", opens_at=as_utc(activity.starts_at).isoformat())
    if now >= as_utc(activity.ends_at):
        raise ActivityOver(
            "This activity is over; its code no longer earns points.", ended_at=as_utc(activity.ends_at).isoformat()
        )


def _check_household(session: Session, place: Place, *, household_id: int, now: datetime, lock: bool) -> str:
    """May this household claim at this activity now (evidence aside)? Returns the period the claim counts in."""
    activity, matter, county = place.activity, place.matter, place.county
    # Core reads on the unit's connection: nothing of the claim is written yet, so there is nothing to autoflush
    conn = session.connection()
    household = conn.execute(_HOUSEHOLD if lock else _HOUSEHOLD_READ, {"household_id": household_id}).first()
    village_id = household.village_id if household is not None else None
    if village_id != activity.village_id:
        raise OutsideVillage("This activity is for another village's households.", village_id=activity.village_id)
    if household is not None and household.closed_at is not None:
        raise HouseholdClosed("This household was closed: it claims no more.", household_id=household_id)
    newest = matter if place.newest_matter_id == matter.id else session.get(Matter, place.newest_matter_id)
    if newest is None or not catalogue.in_force(newest, now):
        raise catalogue.MatterInactive("This matter is not in force any more.", matter_code=matter.code)
    period = rules.period_key(now, county.timezone, activity.period)
    earlier = conn.execute(
        _EARLIER, {"activity_id": activity.id, "household_id": household_id, "period": period}
    ).first()
    if earlier is not None:
        raise AlreadyClaimed(
            f"Your household has already claimed this activity{_WHEN[activity.period]}.",
            claim_id=earlier.id,
            claimed_at=as_utc(earlier.submitted_at).isoformat(),
        )
    if activity.capacity is not None:
        taken = conn.execute(_TAKEN, {"activity_id": activity.id, "period": period}).scalar()
        if (taken or 0) >= activity.capacity:
            raise CapacityFull("All places of this activity are taken.", capacity=activity.capacity)
    rules.check_caps(_caps(matter), _claims_in_periods(session, household_id, matter, county.timezone, now))
    return period


def _submit(
    session: Session,
    place: Place,
    *,
    household_id: int,
    person_id: int | None,
    actor: str,
    proxy: bool,
    live: bool,
    details: Details,
    now: datetime,
    code_step: int | None = None,
) -> Claim:
    activity, matter = place.activity, place.matter
    assert activity.id is not None
    period = _check_household(session, place, household_id=household_id, now=now, lock=True)
    photos = _evidence(
        session, matter, household_id=household_id, actor=actor, proxy=proxy, live=live, ids=details.evidence_ids
    )
    device = device_hash(details.device) if details.device else None
    code_step = code_step if live else None
    flags = fraud.signals(
        session,
        household_id=household_id,
        activity=activity,
        device=device,
        lat=details.lat,
        lon=details.lon,
        photos=photos,
        code_step=code_step,
        now=now,
    )
    auto = live and not proxy and matter.review == Review.AUTO and not flags
    claim = Claim(
        county_id=activity.county_id,
        village_id=activity.village_id,
        household_id=household_id,
        person_id=person_id,
        activity_id=activity.id,
        matter_id=row_id(matter.id),
        points=matter.points,
        period_key=period,
        proxy=proxy,
        entered_by=actor,
        submitted_at=now,
        lat=details.lat,
        lon=details.lon,
        note=details.note,
        device=device,
        code_step=code_step,
        flags=flags,
    )
    _write(session, claim, photos, approve_by="system:auto" if auto else None, now=now)
    return claim  # what the lifecycle changed on it is written when the unit of work flushes


CLAIM = table_of(Claim)
_CLAIM_COLUMNS = tuple(column.name for column in CLAIM.columns if column.name != "id")
_INSERT_CLAIM = insert(CLAIM).returning(CLAIM.c.id)
_LINK_PHOTO = insert(table_of(ClaimEvidence))


def _write(
    session: Session,
    claim: Claim,
    photos: list[EvidenceFile],
    *,
    approve_by: str | None,
    now: datetime,
) -> None:
    """The claim row, its photos and its journal transfer into the notice account (ledger/claims/lifecycle.py):
    posted at once and approved by `approve_by`, or pending until an official decides (timing out after the
    county's review days)."""
    if session.new:  # rows it names that this unit of work has not written yet (a household, a photo)
        session.flush()
    conn = session.connection()
    # The row in one prebuilt insert, instead of the unit of work's flush; the object then joins the unit as a
    # row already written, so what the lifecycle changes on it is flushed as an update.
    claim.id = conn.execute(_INSERT_CLAIM, {name: getattr(claim, name) for name in _CLAIM_COLUMNS}).scalar_one()
    make_transient_to_detached(claim)
    session.add(claim)
    if photos:
        conn.execute(_LINK_PHOTO, [{"claim_id": claim.id, "evidence_id": photo.id} for photo in photos])
    if approve_by is not None:
        lifecycle.move(session, claim, lifecycle.Transition.SUBMIT_APPROVED, by=approve_by, now=now)
    else:
        lifecycle.move(session, claim, lifecycle.Transition.SUBMIT, by=claim.entered_by, now=now)


def _evidence(
    session: Session, matter: Matter, *, household_id: int, actor: str, proxy: bool, live: bool, ids: tuple[int, ...]
) -> list[EvidenceFile]:
    if len(ids) > MAX_PHOTOS:
        raise TooManyPhotos(f"A claim carries at most {MAX_PHOTOS} photos.", field="evidence_ids")
    if matter.evidence == Evidence.PHOTO and not ids:
        raise EvidenceRequired("This matter needs a photo: take one and send it with the claim.", field="evidence_ids")
    if matter.evidence == Evidence.WITNESS and not (live or proxy):
        raise EvidenceRequired("This matter needs an official as witness: scan the code an official shows live.")
    photos = list(session.scalars(select(EvidenceFile).where(col(EvidenceFile.id).in_(ids))).all()) if ids else []
    by_id = {p.id: p for p in photos}
    for evidence_id in ids:
        photo = by_id.get(evidence_id)
        mine = photo is not None and (photo.household_id == household_id or (proxy and photo.uploaded_by == actor))
        if not mine or photo is None or photo.purged_at is not None:  # a deleted photo proves nothing any more
            raise EvidenceNotYours("A photo of this claim was not sent by your household.", evidence_id=evidence_id)
    return photos


def _caps(matter: Matter) -> dict[str, int | None]:
    return {"day": matter.cap_day, "week": matter.cap_week, "month": matter.cap_month, "year": matter.cap_year}


def _claims_in_periods(
    session: Session, household_id: int, matter: Matter, timezone: str, now: datetime
) -> dict[str, int]:
    """How many live claims of this matter (any version) the household has in the day, week, month and year."""
    caps = _caps(matter)
    units = [unit for unit in rules.UNITS if caps[unit] is not None]
    if not units:
        return {}
    bounds = {unit: rules.period_bounds(now, timezone, unit) for unit in units}
    earliest = min(start for start, _ in bounds.values())
    columns = [
        func.coalesce(func.sum(case((col(Claim.submitted_at) >= start, 1), else_=0)), 0).label(unit)
        for unit, (start, _) in bounds.items()
    ]
    row = (
        session.connection()
        .execute(
            select(*columns)
            .select_from(Claim)
            .join(Matter, col(Matter.id) == col(Claim.matter_id))
            .where(
                col(Claim.household_id) == household_id,
                col(Matter.code) == matter.code,
                col(Claim.status).in_(OPEN_STATUSES),
                col(Claim.submitted_at) >= earliest,
            )
        )
        .one()
    )
    return {unit: int(row._mapping[unit]) for unit in units}


def get(session: Session, claim_id: int) -> Claim:
    claim = session.get(Claim, claim_id)
    if claim is None:
        raise ClaimNotFound("No such claim.", claim_id=claim_id)
    return claim
