"""A year of the demo county's life, played day by day through the services a county uses, each step with the
moment it happened (`now`): villagers claim at the village's standing code for garbage sorting, at a monthly
volunteering morning and at a quarterly meeting with a live code (approved at once); the village official
approves or rejects, mostly within the day, sometimes late, a few times not at all (the claim expires); the
schedule settles approved points after the notice period; officials record deductions; households appeal some
rejections and deductions and the official decides. So the dashboards, leaderboards and ratings read a county a
year in, from its records, with nothing written directly into the journal.

Deterministic (one seeded random generator), and quick: what the services check is checked once per claim, and
nothing else is read per claim."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session

from ledger.activities import codes
from ledger.activities import service as activities
from ledger.activities.models import Activity
from ledger.claims import deductions, disputes, notice, review
from ledger.claims import service as claims
from ledger.claims.models import Claim
from ledger.core.base import row_id
from ledger.identity.principal import Principal
from ledger.tenancy import Village

DAYS = 365  # how far back the history starts
QUIET_DAYS = 2  # the history's claims stop this many days ago; this week's (api/demo.py) are the seed's own
REJECT_REASONS = ["活动签到表上没有您家的名字", "照片与活动不符", "当天未在投放点见到您家"]
DEDUCTION_REASONS = ["在公共通道堆放杂物，经劝说后已清理", "违规占用村道晾晒", "未按约定清理门前水沟"]
APPEAL_REASONS = ["当天我家确实参加了，有邻居可以作证", "杂物是邻居家的，当天已说明"]
MONTHS_ZH = ["一", "二", "三", "四", "五", "六", "七", "八", "九", "十", "十一", "十二"]
# How often a household sorts its garbage at the standing code, a day: a steady household (points to redeem, a
# good rating), and others by how keen they are. Every claim is a few dozen statements through the services, so
# these rates and the households' keenness keep the whole seed to about a thousand claims (each costs ~20 ms).
GARBAGE_STEADY = 0.08
GARBAGE = 0.002
LATE_DECISIONS = 0.1  # of the claims an official decides, those decided a day or two late …
LATE_HOURS = (26.0, 60.0)  # … this many hours after the claim
APPEALS = 0.3  # of the rejections and deductions, those the household appeals
DEDUCTIONS = 1 / 30  # a village's chance of a deduction, a day


@dataclass
class Home:
    """A household of the history: its id, its head signed in, and how keen it is (0 to 1)."""

    household_id: int
    villager: Principal
    zeal: float
    steady: bool = False  # never deducted, never rejected (the households the printed help names)


@dataclass
class Place:
    village: Village
    official: Principal
    homes: list[Home]
    lat: float
    lon: float
    garbage: Activity | None = None
    garbage_token: str = ""
    counts: dict[str, int] = field(default_factory=dict)


def play(
    session: Session,
    keys: codes.Keys,
    places: list[Place],
    *,
    now: datetime,
    timezone: str,
    rng: random.Random,
) -> dict[str, int]:
    """Play DAYS days up to `now`, village by village each day; returns how many of each step were played."""
    zone = ZoneInfo(timezone)
    first_day = (now - timedelta(days=DAYS)).astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0)
    for place in places:
        place.garbage = activities.create(
            session,
            village=place.village,
            matter_code="garbage_sorting",
            title="垃圾分类投放点（去年）",
            place="村口垃圾亭",
            period="day",
            starts_at=first_day,
            ends_at=now - timedelta(days=QUIET_DAYS),
            actor=place.official.actor,
        )
        place.garbage_token = activities.printed_code(keys, place.garbage)
    counts: dict[str, int] = {}
    day = first_day
    last = now - timedelta(days=QUIET_DAYS)
    while day < last:
        for place in places:
            _day(session, keys, place, day, rng, counts, last, now)
        evening = min(day + timedelta(hours=21), now)
        counts["settled"] = counts.get("settled", 0) + notice.settle_due(session, now=evening)
        counts["expired"] = counts.get("expired", 0) + review.expire_overdue(session, now=evening)
        day += timedelta(days=1)
    counts["settled"] += notice.settle_due(session, now=now)
    counts["expired"] += review.expire_overdue(session, now=now)
    return counts


def _count(counts: dict[str, int], name: str) -> None:
    counts[name] = counts.get(name, 0) + 1


def _day(
    session: Session,
    keys: codes.Keys,
    place: Place,
    day: datetime,
    rng: random.Random,
    counts: dict[str, int],
    last: datetime,
    now: datetime,
) -> None:
    """One day of a village: garbage sorted at the standing code (until `last`, where that code ends), the monthly
    volunteering, the quarterly meeting, now and then a deduction. What would follow after `now` (a decision, an
    appeal, its answer) has not happened yet and is left waiting."""
    assert place.garbage is not None
    for home in place.homes:
        if rng.random() < (GARBAGE_STEADY if home.steady else GARBAGE * home.zeal):
            at = day + timedelta(hours=7, minutes=rng.randint(0, 150))
            if at >= last:  # the last day's morning, when seeded in the county's small hours: its code has ended
                continue
            claim = _claim(session, keys, place, home, place.garbage_token, at, counts)
            if claim is not None:
                _decide(session, place, home, claim, at, rng, counts, now)
    if day.day == 15:
        _volunteering(session, keys, place, day, rng, counts, now)
    if day.day == 20 and day.month % 3 == 0:
        _meeting(session, keys, place, day, rng, counts)
    if rng.random() < DEDUCTIONS:
        _deduction(session, place, day, rng, counts, now)


def _claim(
    session: Session,
    keys: codes.Keys,
    place: Place,
    home: Home,
    token: str,
    at: datetime,
    counts: dict[str, int],
    details: claims.Details | None = None,
) -> Claim | None:
    claim = claims.submit_by_code(
        session,
        home.villager,
        keys,
        token=token,
        details=details or claims.Details(),
        idempotency_key=None,
        now=at,
    ).value
    _count(counts, "claims")
    return claim


def _decide(
    session: Session,
    place: Place,
    home: Home,
    claim: Claim,
    at: datetime,
    rng: random.Random,
    counts: dict[str, int],
    now: datetime,
) -> None:
    """The official decides: mostly within the day, sometimes late, a few times never (the claim expires); not
    yet when that moment is after `now` (the claim waits in the queue)."""
    roll = rng.random()
    if roll < 0.02:
        return  # nobody decided: the schedule expires it after the county's review days
    late = roll > 1 - LATE_DECISIONS
    decided = at + timedelta(hours=rng.uniform(*LATE_HOURS) if late else rng.uniform(1, 20))
    if decided >= now:
        return
    if not home.steady and rng.random() < 0.07:
        review.reject(
            session,
            place.official,
            claim_id=row_id(claim.id),
            reason=rng.choice(REJECT_REASONS),
            idempotency_key=None,
            now=decided,
        )
        _count(counts, "rejected")
        if rng.random() < APPEALS:  # the household appeals; the official looks again a few days later
            asked = decided + timedelta(hours=rng.uniform(2, 48))
            _appeal(session, place, home, asked, rng, counts, now, claim_id=row_id(claim.id), upheld_rate=0.5)
        return
    review.approve(session, place.official, claim_id=row_id(claim.id), idempotency_key=None, now=decided)
    _count(counts, "approved")


def _volunteering(
    session: Session,
    keys: codes.Keys,
    place: Place,
    day: datetime,
    rng: random.Random,
    counts: dict[str, int],
    now: datetime,
) -> None:
    """A volunteering morning, once a month: the keen households come; the official approves the next day."""
    starts = day + timedelta(hours=8)
    activity = activities.create(
        session,
        village=place.village,
        matter_code="volunteering",
        title=f"{MONTHS_ZH[day.month - 1]}月河道清洁志愿活动",
        place="村委会门口集合",
        starts_at=starts,
        ends_at=starts + timedelta(hours=6),
        actor=place.official.actor,
    )
    token = activities.printed_code(keys, activity)
    for home in place.homes:
        if home.steady or rng.random() < 0.03 + 0.25 * home.zeal:
            at = starts + timedelta(minutes=rng.randint(10, 300))
            claim = _claim(session, keys, place, home, token, at, counts)
            if claim is not None:
                _decide(session, place, home, claim, at + timedelta(hours=12), rng, counts, now)


def _meeting(
    session: Session, keys: codes.Keys, place: Place, day: datetime, rng: random.Random, counts: dict[str, int]
) -> None:
    """A villagers' meeting each quarter: the official shows a live code in the hall; a phone in the hall is
    approved at once (the matter's review is automatic)."""
    starts = day + timedelta(hours=19)
    activity = activities.create(
        session,
        village=place.village,
        matter_code="village_meeting",
        title="村民代表大会",
        place="村委会会议室",
        starts_at=starts,
        ends_at=starts + timedelta(hours=2),
        rotating=True,
        lat=place.lat,
        lon=place.lon,
        radius_m=200,
        actor=place.official.actor,
    )
    for home in place.homes:
        if home.steady or rng.random() < 0.08 + 0.25 * home.zeal:
            at = starts + timedelta(minutes=rng.randint(1, 100))
            token = activities.live_code(keys, activity, now=at)["token"]
            details = claims.Details(device=f"demo-phone-{home.household_id}", lat=place.lat, lon=place.lon)
            _claim(session, keys, place, home, token, at, counts, details)


def _deduction(
    session: Session, place: Place, day: datetime, rng: random.Random, counts: dict[str, int], now: datetime
) -> None:
    home = rng.choice([h for h in place.homes if not h.steady])
    at = day + timedelta(hours=rng.uniform(9, 17))
    deduction = deductions.record(
        session,
        place.official,
        household_id=home.household_id,
        matter_code="breaking_village_rules",
        reason=rng.choice(DEDUCTION_REASONS),
        evidence_ids=(),
        idempotency_key=None,
        now=at,
    ).value
    _count(counts, "deductions")
    if rng.random() < APPEALS:
        asked = at + timedelta(days=rng.uniform(1, 5))
        _appeal(session, place, home, asked, rng, counts, now, deduction_id=row_id(deduction.id), upheld_rate=0.4)


def _appeal(
    session: Session,
    place: Place,
    home: Home,
    asked: datetime,
    rng: random.Random,
    counts: dict[str, int],
    now: datetime,
    *,
    claim_id: int | None = None,
    deduction_id: int | None = None,
    upheld_rate: float,
) -> None:
    """The household appeals a rejected claim or a deduction at `asked`; the official answers a few days later.
    Either not yet when its moment is after `now` (the appeal waits for its answer)."""
    if asked >= now:
        return
    dispute = disputes.appeal(
        session,
        home.villager,
        claim_id=claim_id,
        deduction_id=deduction_id,
        reason=APPEAL_REASONS[0 if claim_id is not None else 1],
        idempotency_key=None,
        now=asked,
    ).value
    upheld = rng.random() < upheld_rate
    answered = asked + timedelta(days=rng.uniform(1, 3) if claim_id is not None else rng.uniform(1, 4))
    if answered >= now:
        return
    disputes.resolve(
        session,
        place.official,
        dispute_id=row_id(dispute.id),
        upheld=upheld,
        note="已核对签到表" if claim_id is not None else "已到现场核实",
        idempotency_key=None,
        now=answered,
    )
    _count(counts, "appeals")
