"""A concern's life through the services: every step, every refusal (wrong role, wrong village, wrong step,
evaluation by someone else, a handler's non-member), duplicates, anonymity and the lists each role sees."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlmodel import col

from ledger.concerns import access, lifecycle, service, setup
from ledger.concerns.lifecycle import TRANSITIONS, Transition
from ledger.concerns.models import Concern, ConcernFollower, ConcernPlace
from ledger.core.base import as_utc, utcnow
from ledger.core.errors import DomainError
from ledger.core.outbox import Notification
from ledger.identity.models import Role, User
from ledger.tenancy import Person
from tests import factories
from tests.ledger.concerns.conftest import World, at

id_of = factories.id_of


def refused(code: str, call: object, *args: object, **kwargs: object) -> DomainError:
    with pytest.raises(DomainError) as caught:
        call(*args, **kwargs)  # type: ignore[operator]
    assert caught.value.code == code, caught.value.message
    return caught.value


def test_the_table_names_every_transition_once() -> None:
    assert set(TRANSITIONS) == set(Transition)
    assert TRANSITIONS[Transition.REOPEN].opens == "dispatch"
    assert TRANSITIONS[Transition.AUTO_CLOSE].notification == "concern_closed"


def test_a_hazard_from_report_to_the_reporters_satisfied_evaluation(world: World) -> None:
    start = utcnow()
    concern = world.report(now=start)
    assert concern.status == "submitted" and concern.village_id == world.village.village_id
    assert concern.reporter_household_id == world.homes[0] and concern.channel == "app"
    assert at(concern.step_due_at) > start
    service.accept(world.session, world.officials[0], id_of(concern))
    service.dispatch(world.session, world.officials[0], id_of(concern), handler_id=world.handler_id, note="urgent")
    assert concern.status == "dispatched" and concern.handler_id == world.handler_id
    assigned = world.session.scalars(select(Notification).where(col(Notification.kind) == "concern_assigned")).all()
    assert [n.payload["user_id"] for n in assigned] == [world.handler_member.user_id]
    photo = world.photo(world.handler_member, world.village.village_id)
    service.resolve(
        world.session, world.handler_member, id_of(concern), note="Filled", judgement="real", evidence_ids=(photo,)
    )
    assert concern.status == "resolved" and concern.judgement == "real" and concern.resolution_note == "Filled"
    service.evaluate(world.session, world.villagers[0], id_of(concern), satisfied=True, comment="Thanks")
    assert (concern.status, concern.closed_by, concern.satisfied) == ("closed", "evaluation", True)
    assert concern.step_due_at is None and concern.version == 5
    steps = [(e.action, e.from_status, e.to_status) for e in world.events(concern)]
    assert steps == [
        ("submit", None, "submitted"),
        ("accept", "submitted", "accepted"),
        ("dispatch", "accepted", "dispatched"),
        ("resolve", "dispatched", "resolved"),
        ("reward", "resolved", "resolved"),  # a real hazard: its reporter's points (test_concern_rewards.py)
        ("evaluate", "resolved", "closed"),
    ]
    assert [e.due_at is not None for e in world.events(concern)] == [True, True, True, True, False, False]
    assert world.told(world.homes[0]) == [
        "concern_accepted",
        "concern_dispatched",
        "concern_resolved",
        "claim_approved",
        "concern_closed",
    ]


def test_no_notification_names_the_reporter(world: World) -> None:
    concern = world.resolved(anonymous=True)
    payloads = world.session.scalars(select(col(Notification.payload))).all()
    assert payloads
    for payload in payloads:
        assert set(payload) <= {"concern_id", "status", "user_id"}
        assert payload["concern_id"] == concern.id


def test_a_second_accept_is_the_wrong_step(world: World) -> None:
    concern = world.report()
    service.accept(world.session, world.officials[0], id_of(concern))
    error = refused("concern_wrong_step", service.accept, world.session, world.officials[1], id_of(concern))
    assert error.detail["concern_status"] == "accepted"
    refused(
        "concern_wrong_step",
        service.evaluate,
        world.session,
        world.villagers[0],
        id_of(concern),
        satisfied=True,
        comment=None,
    )
    assert [e.action for e in world.events(concern)] == ["submit", "accept"]


def test_who_may_accept_and_dispatch(world: World) -> None:
    concern = world.report()
    cid = id_of(concern)
    refused("forbidden", service.accept, world.session, world.villagers[0], cid)  # the reporter: no
    refused("forbidden", service.accept, world.session, world.auditor, cid)  # reads only
    refused("concern_not_found", service.accept, world.session, world.other_official, cid)  # another village
    refused("concern_not_found", service.accept, world.session, world.handler_member, cid)  # not dispatched to it
    service.accept(world.session, world.supervisor, cid)  # the township supervisor may
    refused("forbidden", service.dispatch, world.session, world.auditor, cid, handler_id=world.handler_id)
    refused("handler_not_found", service.dispatch, world.session, world.admin, cid, handler_id=10**6)
    setup.set_handler_active(world.session, world.admin, world.handler_id, active=False)
    refused("handler_inactive", service.dispatch, world.session, world.admin, cid, handler_id=world.handler_id)
    setup.set_handler_active(world.session, world.admin, world.handler_id, active=True)
    service.dispatch(world.session, world.admin, cid, handler_id=world.handler_id)
    assert concern.status == "dispatched"


def test_only_a_member_of_the_handler_returns_or_resolves(world: World) -> None:
    concern = world.dispatched()
    cid = id_of(concern)
    photo = world.photo(world.officials[0])
    refused("not_the_handler", service.return_, world.session, world.officials[0], cid, reason="not ours")
    refused(
        "not_the_handler",
        service.resolve,
        world.session,
        world.officials[0],
        cid,
        note="done",
        judgement="real",
        evidence_ids=(photo,),
    )
    refused("concern_text_required", service.return_, world.session, world.handler_member, cid, reason="  ")
    service.return_(world.session, world.handler_member, cid, reason="Not a road we keep")
    assert concern.status == "returned" and concern.handler_id is None
    assert world.events(concern)[-1].handler_id == world.handler_id  # the timeline keeps whose it was
    # returned: the handler can still read it (it was theirs once), but not act
    assert access.visible_concern(world.session, world.handler_member, cid) is concern
    refused("concern_wrong_step", service.return_, world.session, world.handler_member, cid, reason="again")
    service.dispatch(world.session, world.officials[1], cid, handler_id=world.handler_id)
    assert world.told(world.homes[0])[-2:] == ["concern_returned", "concern_dispatched"]


def test_a_resolution_needs_a_note_a_judgement_and_one_to_three_photos_of_the_handlers_own(world: World) -> None:
    concern = world.dispatched()
    cid = id_of(concern)
    member = world.handler_member
    photos = tuple(world.photo(member) for _ in range(4))
    args = {"note": "done", "judgement": "real"}
    refused("concern_photo_required", service.resolve, world.session, member, cid, evidence_ids=(), **args)
    refused("concern_too_many_photos", service.resolve, world.session, member, cid, evidence_ids=photos, **args)
    refused(
        "evidence_not_yours",
        service.resolve,
        world.session,
        member,
        cid,
        evidence_ids=(world.photo(world.villagers[0]),),
        **args,
    )
    refused(
        "invalid", service.resolve, world.session, member, cid, note="x", judgement="maybe", evidence_ids=photos[:1]
    )
    refused(
        "concern_text_required",
        service.resolve,
        world.session,
        member,
        cid,
        note="",
        judgement="real",
        evidence_ids=photos[:1],
    )
    assert concern.status == "dispatched"
    service.resolve(world.session, member, cid, note="done", judgement="real", evidence_ids=photos[:3])
    assert concern.status == "resolved"


def test_not_satisfied_reopens_once_to_the_supervisor_and_then_closes(world: World) -> None:
    concern = world.resolved()
    cid = id_of(concern)
    refused("not_the_reporter", service.evaluate, world.session, world.officials[0], cid, satisfied=True, comment=None)
    refused("concern_not_found", service.evaluate, world.session, world.villagers[1], cid, satisfied=True, comment=None)
    service.evaluate(world.session, world.villagers[0], cid, satisfied=False, comment="Still a hole")
    assert (concern.status, concern.level, concern.reopened) == ("reopened", 1, True)
    assert concern.step_due_at is not None
    # gone up to the supervisor: the village's officials no longer dispatch it
    refused("forbidden", service.dispatch, world.session, world.officials[0], cid, handler_id=world.handler_id)
    service.dispatch(world.session, world.supervisor, cid, handler_id=world.handler_id)
    service.resolve(
        world.session,
        world.handler_member,
        cid,
        note="Filled properly",
        judgement="real",
        evidence_ids=(world.photo(world.handler_member),),
    )
    service.evaluate(world.session, world.villagers[0], cid, satisfied=False, comment="Still not right")
    assert (concern.status, concern.closed_by, concern.satisfied) == ("closed", "evaluation", False)
    assert "concern_reopened" in world.told(world.homes[0])


def test_a_report_told_in_person_is_evaluated_by_a_village_official_not_of_the_handler(world: World) -> None:
    report = service.Report(
        category_code="environment",
        kind="complaint",
        text="Rubbish by the pond",
        channel="in_person",
        reporter_household_id=world.homes[1],
    )
    concern = service.report(world.session, world.officials[0], report, idempotency_key=None).value
    assert (concern.channel, concern.reporter_household_id, concern.reporter_user_id) == (
        "in_person",
        world.homes[1],
        None,
    )
    assert concern.entered_by == world.officials[0].actor
    refused(
        "invalid",
        service.report,
        world.session,
        world.officials[0],
        service.Report(category_code="environment", kind="complaint", text="x", reporter_household_id=world.homes[1]),
        idempotency_key=None,
    )
    cid = id_of(concern)
    service.accept(world.session, world.officials[0], cid)
    service.dispatch(world.session, world.officials[0], cid, handler_id=world.handler_id)
    service.resolve(
        world.session,
        world.handler_member,
        cid,
        note="Cleared",
        judgement="real",
        evidence_ids=(world.photo(world.handler_member),),
    )
    setup.set_members(
        world.session,
        world.admin,
        world.handler_id,
        [world.handler_member.user_id or 0, world.officials[1].user_id or 0],
    )
    refused("not_the_reporter", service.evaluate, world.session, world.officials[1], cid, satisfied=True, comment=None)
    service.evaluate(world.session, world.officials[0], cid, satisfied=True, comment="She is happy")
    assert concern.status == "closed"


def test_a_person_with_no_household_is_recorded_by_name(world: World) -> None:
    report = service.Report(
        category_code="other",
        kind="question",
        text="When is the clinic open?",
        channel="phone",
        village_id=world.village.village_id,
        reporter_name="王大妈",
        reporter_phone="13800000000",
    )
    concern = service.report(world.session, world.officials[0], report, idempotency_key=None).value
    assert (concern.reporter_household_id, concern.reporter_name) == (None, "王大妈")
    refused(
        "village_not_found",
        service.report,
        world.session,
        world.officials[0],
        service.Report(**{**report.__dict__, "village_id": world.other_village}),
        idempotency_key=None,
    )


def test_staff_never_act_on_their_own_households_concern(world: World) -> None:
    person = Person(household_id=world.homes[0], name="Official at home")
    world.session.add(person)
    world.session.flush()
    user = world.session.get(User, world.officials[1].user_id)
    assert user is not None
    user.person_id = person.id
    world.session.flush()
    own = factories.principal_of(world.session, id_of(user))
    concern = world.report(0)
    refused("conflict_of_interest", service.accept, world.session, own, id_of(concern))
    service.accept(world.session, world.officials[0], id_of(concern))
    refused("conflict_of_interest", service.dispatch, world.session, own, id_of(concern), handler_id=world.handler_id)


def test_report_checks(world: World) -> None:
    session = world.session
    place = ConcernPlace(village_id=world.other_village, name="Bridge")
    session.add(place)
    session.flush()
    refused("concern_text_required", world.report, text="   ")
    refused("concern_text_required", world.report, text="x" * 1001)
    refused("category_not_found", world.report, category_code="nope")
    refused("invalid", world.report, kind="rant")
    refused("place_not_found", world.report, place_id=id_of(place))
    refused("invalid", world.report, lat=91.0, lon=10.0)
    refused("invalid", world.report, lat=30.0)
    photos = tuple(world.photo(world.villagers[0]) for _ in range(4))
    refused("concern_too_many_photos", world.report, evidence_ids=photos)
    refused("evidence_not_yours", world.report, evidence_ids=(world.photo(world.villagers[1]),))
    refused("village_not_found", world.report, village_id=10**6)
    concern = world.report(evidence_ids=photos[:3], text="  trimmed  ")
    assert concern.text == "trimmed"
    category = setup.categories(session, world.village.county_id)[0]
    setup.set_category(session, world.admin, id_of(category), active=False)
    refused("category_not_found", world.report, category_code=category.code)


def test_a_report_with_its_key_is_written_once(world: World) -> None:
    report = service.Report(category_code="other", kind="suggestion", text="More benches")
    first = service.report(world.session, world.villagers[0], report, idempotency_key="k-1")
    again = service.report(world.session, world.villagers[0], report, idempotency_key="k-1")
    assert again.replayed and again.value.id == first.value.id
    refused(
        "idempotency_key_reused",
        service.report,
        world.session,
        world.villagers[0],
        service.Report(category_code="other", kind="suggestion", text="Fewer benches"),
        idempotency_key="k-1",
    )
    assert world.session.scalars(select(col(Concern.id))).all() == [first.value.id]


def test_a_report_near_an_open_one_is_merged_and_its_household_follows(world: World) -> None:
    place = setup.add_place(world.session, world.officials[0], village_id=world.village.village_id, name="Old bridge")
    first = world.report(0, place_id=id_of(place))
    second = world.report(1, place_id=id_of(place), text="The bridge railing is broken")
    assert (second.status, second.merged_into_id) == ("merged", first.id)
    assert [e.action for e in world.events(second)] == ["submit", "merge"]
    assert world.events(second)[-1].actor_role == "system"
    assert world.session.get(ConcernFollower, (id_of(first), world.homes[1])) is not None
    # by position: within the county's 100 m, same category
    near = world.report(2, lat=30.0, lon=120.0)
    nearer = world.report(1, lat=30.0005, lon=120.0)  # about 55 m
    far = world.report(1, lat=30.01, lon=120.0)  # about 1.1 km
    other_kind = world.report(1, lat=30.0, lon=120.0, category_code="environment", kind="complaint")
    assert nearer.merged_into_id == near.id
    assert far.status == other_kind.status == "submitted"
    # the follower sees the concern and is told of its steps; it does not see who reported it
    assert access.visible_concern(world.session, world.villagers[1], id_of(first)) is first
    assert not access.shows_reporter(world.session, world.villagers[1], first)
    service.accept(world.session, world.officials[0], id_of(first))
    assert world.told(world.homes[1])[-1] == "concern_accepted"
    assert world.told(world.homes[1]).count("concern_merged") == 2
    # a report made after the first is closed (or more than 30 days later) is a concern of its own
    later = world.report(2, place_id=id_of(place), now=utcnow() + timedelta(days=31))
    assert later.status == "submitted"


def test_merging_by_hand(world: World) -> None:
    first, second, closed = world.report(0), world.report(1), world.resolved(2)
    service.evaluate(world.session, world.villagers[2], id_of(closed), satisfied=True, comment=None)
    refused("merge_into_self", service.merge, world.session, world.officials[0], id_of(second), into_id=id_of(second))
    refused(
        "merge_target_closed", service.merge, world.session, world.officials[0], id_of(second), into_id=id_of(closed)
    )
    refused("forbidden", service.merge, world.session, world.auditor, id_of(second), into_id=id_of(first))
    refused("concern_not_found", service.merge, world.session, world.officials[0], id_of(second), into_id=10**6)
    service.merge(world.session, world.officials[0], id_of(second), into_id=id_of(first))
    assert (second.status, second.merged_into_id, second.step_due_at) == ("merged", first.id, None)
    assert world.told(world.homes[1]) == ["concern_merged"]
    refused("concern_wrong_step", service.merge, world.session, world.officials[0], id_of(second), into_id=id_of(first))


def test_who_sees_which_concern(world: World) -> None:
    mine = world.report(0)
    township = service.report(
        world.session,
        world.villagers[0],
        service.Report(
            category_code="other", kind="question", text="Township road", township_id=world.village.township_id
        ),
        idempotency_key=None,
    ).value
    assert township.village_id is None
    elsewhere = service.report(
        world.session,
        world.outsider,
        service.Report(category_code="other", kind="question", text="Elsewhere"),
        idempotency_key=None,
    ).value
    ids = {id_of(mine), id_of(township), id_of(elsewhere)}

    def seen(who: object) -> set[int]:
        return {id_of(c) for c in access.concern_page(world.session, who, limit=200).rows}  # type: ignore[arg-type]

    assert seen(world.villagers[0]) == {id_of(mine), id_of(township)}
    assert seen(world.villagers[1]) == set()
    assert seen(world.officials[0]) == {id_of(mine)}
    assert seen(world.other_official) == {id_of(elsewhere)}
    assert seen(world.supervisor) == ids
    assert seen(world.admin) == seen(world.auditor) == ids
    assert seen(world.handler_member) == set()
    service.accept(world.session, world.officials[0], id_of(mine))
    service.dispatch(world.session, world.officials[0], id_of(mine), handler_id=world.handler_id)
    assert seen(world.handler_member) == {id_of(mine)}
    for who in (world.villagers[1], world.other_official, world.outsider):
        refused("concern_not_found", access.visible_concern, world.session, who, id_of(mine))
    refused("concern_not_found", access.visible_concern, world.session, world.officials[0], id_of(township))
    assert access.visible_concern(world.session, world.supervisor, id_of(township)) is township
    # filters
    page = access.concern_page(world.session, world.admin, status="dispatched")
    assert [c.id for c in page.rows] == [mine.id]
    assert access.concern_page(world.session, world.admin, handler_id=world.handler_id).rows == [mine]
    assert (
        access.concern_page(world.session, world.villagers[0], overdue=True, now=utcnow() + timedelta(days=30)).rows
        == []
    )
    late = access.concern_page(world.session, world.admin, overdue=True, now=utcnow() + timedelta(days=30)).rows
    assert {id_of(c) for c in late} == ids


def test_the_list_pages_without_gaps(world: World) -> None:
    made = [id_of(world.report(n % 3, text=f"Report {n}")) for n in range(7)]
    seen: list[int] = []
    cursor = None
    while True:
        page = access.concern_page(world.session, world.officials[0], cursor=cursor, limit=3)
        seen += [id_of(c) for c in page.rows]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == sorted(made, reverse=True)


def test_an_anonymous_reporter_is_shown_to_nobody_but_their_household(world: World) -> None:
    concern = world.dispatched(anonymous=True)
    assert access.shows_reporter(world.session, world.villagers[0], concern)
    for who in (world.officials[0], world.supervisor, world.admin, world.auditor, world.handler_member):
        assert not access.shows_reporter(world.session, who, concern)
        events = access.visible_events(world.session, who, concern)
        assert [access.shown_actor(who, e) for e in events][0] is None  # the reporter's own step
    named = world.dispatched(1)
    assert access.shows_reporter(world.session, world.officials[0], named)
    assert access.shows_reporter(world.session, world.handler_member, named)
    events = access.visible_events(world.session, world.villagers[0], concern)
    assert [access.shown_actor(world.villagers[0], e) for e in events] == [None, None, None]
    assert [access.shown_actor(world.admin, e) for e in events][1:] == [world.officials[0].actor] * 2


def test_deadlines_open_with_each_step(world: World) -> None:
    start = utcnow()
    concern = world.report(now=start)
    first_due = at(concern.step_due_at)
    service.accept(world.session, world.officials[0], id_of(concern), now=start + timedelta(minutes=1))
    assert as_utc(at(concern.step_due_at)) > as_utc(first_due)
    concern.overdue_at = start
    service.dispatch(world.session, world.officials[0], id_of(concern), handler_id=world.handler_id, now=start)
    assert [concern.overdue_at] == [None]  # a new step: not late
    assert as_utc(at(world.events(concern)[-1].due_at)) == as_utc(at(concern.step_due_at))


def test_move_refuses_what_the_table_does_not_allow(world: World) -> None:
    concern = world.report()
    with pytest.raises(lifecycle.ConcernWrongStep):
        lifecycle.move(world.session, concern, Transition.RESOLVE, actor="x", actor_role=Role.OFFICIAL, now=utcnow())
    assert concern.status == "submitted"
