"""One bad record never stops the schedule: one poisoned item in every step of `tick`, and every other item of every
step is still processed; the poisoned ones are skipped, recorded for the auditors and counted in /metrics."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, update
from sqlalchemy.exc import OperationalError
from sqlmodel import col

from ledger.claims import verify as claims_verify
from ledger.claims.models import Claim
from ledger.core import outbox
from ledger.core.base import as_utc, utcnow
from ledger.core.db import unit_of_work
from ledger.core.outbox import Notification
from ledger.identity.models import Partner
from ledger.journal import accounts, queries, verify
from ledger.journal import service as journal
from ledger.journal.models import AccountKind, JournalTransaction
from ledger.tenancy import County, Household
from redemption import schedule, webhooks
from redemption import verify as redemption_verify
from redemption.models import Voucher, WebhookDelivery
from tests import factories
from tests.api.claiming import claim, code_of, decide, new_activity, photo
from tests.api.conftest import World, bearer, client_token, password_token, villager_token
from tests.api.redeeming import give_points, offer, redeem
from tests.factories import id_of, not_none

SECOND_PHONE = "13900000002"  # household A2 in the world fixture
THIRD_PHONE = "13900000003"  # household B1


def _lock_timeout(what: str) -> OperationalError:
    """What a database says when one row stays locked too long (a realistic failure of one item)."""
    return OperationalError(f"poisoned {what}", None, Exception("canceling statement due to lock timeout"))


def _claim(client: TestClient, official: str, villager: str, activity: dict[str, Any]) -> int:
    made = claim(client, villager, code_of(activity), evidence_ids=[photo(client, villager)])
    assert made.status_code == 201, made.text
    return int(made.json()["id"])


def _claim_row(engine: Engine, claim_id: int) -> Claim:
    with unit_of_work(engine) as session:
        row = session.get(Claim, claim_id)
        assert row is not None
        session.expunge(row)
        return row


def _voucher(engine: Engine, code: str) -> Voucher:
    with unit_of_work(engine) as session:
        row = session.scalars(select(Voucher).where(col(Voucher.code) == code)).one()
        session.expunge(row)
        return row


def _health_check(client: TestClient) -> tuple[int, int]:
    """A clinic's health check, approved, with a slot in three days: (offer id, slot id)."""
    made = offer(client, "clinic", kind="health_check", title="体检", value_yuan="80.00", cost_points=60)
    start = utcnow() + timedelta(days=3)
    slot = client.post(
        f"/api/v1/offers/{made['id']}/slots",
        headers=bearer(client_token(client, "clinic")),
        json={
            "starts_at": start.isoformat(),
            "ends_at": (start + timedelta(hours=1)).isoformat(),
            "place": "村卫生室",
            "capacity": 5,
        },
    )
    assert slot.status_code == 201, slot.text
    return int(made["id"]), int(slot.json()["id"])


def _available(engine: Engine, account_id: int) -> int:
    with unit_of_work(engine) as session:
        return queries.balance(session, account_id).available


def _old_points(engine: Engine, household_id: int, points: int, at: datetime) -> None:
    """Points settled long ago (as the expiry tests write them)."""
    with unit_of_work(engine) as session:
        village = not_none(session.get(Household, household_id)).village_id
        journal.transfer(
            session,
            debit=id_of(accounts.of_village(session, village, AccountKind.ISSUANCE)),
            credit=id_of(accounts.of_household(session, household_id)),
            amount=points,
            reason="garbage_sorting",
            actor="test",
            effective_at=at,
        )


def _sample(name: str, step: str) -> float:
    from api.observability import REGISTRY

    return REGISTRY.get_sample_value(name, {"step": step}) or 0.0


def test_one_poisoned_item_in_each_step_stops_nothing_else(
    client: TestClient, world: World, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    official = password_token(client, "official-a")
    first, second = villager_token(client, world.villager_phone), villager_token(client, SECOND_PHONE)
    village = world.village_a.village_id

    # expire_claims: two claims nobody decides; the second's pending transfer was posted by hand.
    lapsing = _claim(client, official, first, new_activity(client, official, village, "volunteering"))
    official_b, third = password_token(client, "official-b"), villager_token(client, THIRD_PHONE)
    posted_by_hand = _claim(client, official_b, third, new_activity(client, official_b, world.village_b.village_id))
    # settle_notice: two approved claims; the second's approval was reversed by hand (the finding).
    approved = new_activity(client, official, village, "courtyard_hygiene")
    settling, reversed_by_hand = _claim(client, official, first, approved), _claim(client, official, second, approved)
    for claim_id in (settling, reversed_by_hand):
        assert decide(client, official, claim_id).status_code == 201
    with unit_of_work(engine) as session:
        journal.post_pending(
            session,
            pending_id=not_none(not_none(session.get(Claim, posted_by_hand)).pending_tx_id),
            actor="user:by-hand",
        )
        journal.reverse(
            session,
            transaction_id=not_none(not_none(session.get(Claim, reversed_by_hand)).approval_tx_id),
            actor="user:by-hand",
            reason="by hand",
        )

    # expire_vouchers: two vouchers past their time; the second's hold was voided by hand (the finding). And two
    # health checks booked and missed past their time; the second's hold was posted by hand.
    give_points(engine, world.household_a1, 160)
    give_points(engine, world.household_a2, 160)
    voucher_offer = offer(client, voucher_days=7, stock=5)
    kept = redeem(client, first, voucher_offer["id"]).json()["code"]
    voided = redeem(client, second, voucher_offer["id"]).json()["code"]
    check, slot = _health_check(client)
    missed = redeem(client, first, check, slot_id=slot).json()["code"]
    posted = redeem(client, second, check, slot_id=slot).json()["code"]
    holds = _voucher(engine, voided).hold_id, _voucher(engine, posted).hold_id
    with unit_of_work(engine) as session:
        journal.void_pending(session, pending_id=not_none(holds[0]), actor="user:by-hand")
        journal.post_pending(session, pending_id=not_none(holds[1]), actor="user:by-hand")

    # expire_transfers: two pending transfers past their timeout; one stays locked too long.
    with unit_of_work(engine) as session:
        issuance = id_of(accounts.of_village(session, village, AccountKind.ISSUANCE))
        b_issuance = id_of(accounts.of_village(session, world.village_b.village_id, AccountKind.ISSUANCE))
        b1 = id_of(accounts.of_household(session, world.household_b1))
        a1 = id_of(accounts.of_household(session, world.household_a1))
        lapsing_tx = journal.transfer(
            session,
            debit=b_issuance,
            credit=b1,
            amount=2,
            reason="x",
            actor="test",
            pending=True,
            timeout=timedelta(hours=1),
        ).id
        stuck_tx = journal.transfer(
            session,
            debit=issuance,
            credit=a1,
            amount=2,
            reason="x",
            actor="test",
            pending=True,
            timeout=timedelta(hours=1),
        ).id

    # expire_points and warn_points_expiry: two households with points lapsed and points about to lapse.
    with unit_of_work(engine) as session:
        not_none(session.get(County, world.village_a.county_id)).points_expiry_months = 12
        (h3, h3_points), (h4, h4_points) = (factories.create_household(session, village) for _ in range(2))
    for household in (h3, h4):
        _old_points(engine, household, 10, utcnow() - timedelta(days=400))
        _old_points(engine, household, 5, utcnow() - timedelta(days=350))

    # deliver_webhooks: two partners' endpoints; one errors.
    with unit_of_work(engine) as session:
        for code in ("mart", "mart2"):
            partner = session.scalars(select(Partner).where(col(Partner.code) == code)).one()
            # straight in the database: the URL's own checks are tests/api/test_webhook_targets.py's
            partner.webhook_url, partner.webhook_secret = f"https://{code}.example/hook", webhooks.new_secret()
            if code == "mart2":
                refused = webhooks.enqueue(
                    session,
                    partner_id=id_of(partner),
                    county_id=partner.county_id,
                    event="offer.decided",
                    data={"offer_id": 1},
                )
    sent: list[str] = []

    def send(url: str, headers: dict[str, str], body: bytes) -> int:
        if "mart2" in url:
            raise OSError("connection reset by peer")
        sent.append(headers[webhooks.EVENT_HEADER])
        return 204

    # The poisons that need the database to fail for one row: a lock held too long.
    real_resolve, real_take, real_tell = journal._resolve, journal.take_available, outbox.tell

    def resolve(session: Any, kind: Any, pending_id: int, *args: Any, **kw: Any) -> Any:
        if pending_id == stuck_tx:
            raise _lock_timeout("pending transfer")
        return real_resolve(session, kind, pending_id, *args, **kw)

    def take_available(session: Any, *, debit: int, **kw: Any) -> Any:
        if debit == h3_points:
            raise _lock_timeout("household")
        return real_take(session, debit=debit, **kw)

    def tell(session: Any, *, household_id: int | None, kind: str, **kw: Any) -> None:
        if household_id == h4 and kind == "points_expiring":
            raise _lock_timeout("notification")
        real_tell(session, household_id=household_id, kind=kind, **kw)

    monkeypatch.setattr(journal, "_resolve", resolve)
    monkeypatch.setattr(journal, "take_available", take_available)
    monkeypatch.setattr(outbox, "tell", tell)
    monkeypatch.setattr(webhooks, "pinned_sender", lambda reach, **kw: send)

    # deliver: the SMS gateway refuses the messages of one household.
    def sink(notification: Notification) -> None:
        if notification.household_id == h3:
            raise OSError("gateway refused the message")

    before = {
        step: _sample("shanzhi_job_failures_total", step)
        for step in (
            "expire_claims",
            "settle_notice",
            "expire_transfers",
            "expire_points",
            "warn_points_expiry",
            "expire_vouchers",
        )
    }
    report = schedule.tick(engine, sink=sink, now=utcnow() + timedelta(days=8))

    # Every other item of every step was processed.
    assert _claim_row(engine, lapsing).status == "expired"
    assert _claim_row(engine, settling).status == "settled"
    assert _voucher(engine, kept).status == "expired" and _voucher(engine, missed).status == "expired"
    assert _available(engine, a1) >= 100
    with unit_of_work(engine) as session:
        lapsed = session.scalars(
            select(col(JournalTransaction.kind)).where(col(JournalTransaction.pending_id) == lapsing_tx)
        ).all()
    assert lapsed == ["expire_pending"]
    assert _available(engine, h4_points) == 5  # its 10 lapsed points went
    with unit_of_work(engine) as session:
        warned = session.scalars(
            select(col(Notification.household_id)).where(col(Notification.kind) == "points_expiring")
        ).all()
        undelivered = session.scalars(
            select(col(Notification.household_id)).where(col(Notification.delivered_at).is_(None))
        ).all()
    assert warned == [h3]
    assert undelivered == [h3]  # everybody else's messages went out, the expiry ones of this tick included
    assert "voucher.expired" in sent
    assert (report.expired_claims, report.settled_claims, report.expired_transfers) == (1, 1, 1)
    assert (report.expired_points_households, report.expiry_warnings, report.done["expire_vouchers"]) == (1, 1, 2)
    assert report.failed_steps == []

    # The poisoned ones were left as they were, and recorded where the auditors see them.
    assert _claim_row(engine, posted_by_hand).status == "pending"
    assert _claim_row(engine, reversed_by_hand).status == "approved"
    assert _voucher(engine, voided).status == "active" and _voucher(engine, posted).status == "active"
    # what the failed item wrote before it failed (its stock given back) was rolled back with it: the savepoint
    issued = client.get(f"/api/v1/offers/{voucher_offer['id']}", headers=bearer(first)).json()["issued"]
    assert issued == 1  # two issued, the expired one's stock came back, the poisoned one's did not
    assert _available(engine, h3_points) == 15
    with unit_of_work(engine) as session:
        assert not_none(session.get(WebhookDelivery, refused)).last_error == webhooks.COULD_NOT_CONNECT
    poisoned = {
        ("expire_claims", "claim", str(posted_by_hand)),
        ("settle_notice", "claim", str(reversed_by_hand)),
        ("expire_transfers", "transaction", str(stuck_tx)),
        ("expire_points", "household", str(h3)),
        ("warn_points_expiry", "household", str(h4)),
        ("expire_vouchers", "voucher", str(_voucher(engine, voided).id)),
        ("expire_vouchers", "booking", str(_voucher(engine, posted).id)),
    }
    auditor = bearer(password_token(client, "auditor"))
    seen = client.get("/api/v1/jobs/failures", headers=auditor)
    assert seen.status_code == 200, seen.text
    assert {(f["step"], f["record_kind"], f["record_id"]) for f in seen.json()} == poisoned
    by_step = {f["step"]: f for f in seen.json() if f["record_kind"] != "booking"}
    assert by_step["settle_notice"]["error_code"] == "insufficient_points"
    assert by_step["expire_vouchers"]["error_code"] == "pending_already_resolved"
    assert by_step["expire_claims"]["error_code"] == "claim_journal_mismatch"
    assert all(f["times"] == 1 and f["resolved_at"] is None for f in seen.json())
    assert report.failed_items == {step: 2 if step == "expire_vouchers" else 1 for step, _, _ in poisoned}
    for step in before:
        assert _sample("shanzhi_job_failures_total", step) == before[step] + report.failed_items[step]

    # `shanzhi verify` names the records whose journal state was changed by hand (and only those).
    with unit_of_work(engine) as session:
        linked = verify.links(session)
        named = {
            (m.record_kind, m.record_id)
            for m in [*claims_verify.check(session, linked), *redemption_verify.check(session, linked)]
        }
    assert named == {
        ("claim", posted_by_hand),
        ("claim", reversed_by_hand),
        ("voucher", _voucher(engine, voided).id),
        ("booking", _voucher(engine, posted).id),
    }

    # The next run tries them again: still failing, counted again, one row each.
    monkeypatch.setattr(journal, "_resolve", real_resolve)  # the lock was let go: this one goes through now
    again = schedule.tick(engine, sink=sink, now=utcnow() + timedelta(days=8))
    assert again.expired_transfers == 1
    rows = {f["step"]: f for f in client.get("/api/v1/jobs/failures", headers=auditor).json()}
    settle = rows["settle_notice"]
    assert settle["times"] == 2 and settle["first_seen"] < settle["last_seen"]
    assert rows["expire_transfers"]["times"] == 1 and rows["expire_transfers"]["resolved_at"] is not None
    open_only = client.get("/api/v1/jobs/failures", params={"open": "true"}, headers=auditor).json()
    assert "expire_transfers" not in {f["step"] for f in open_only} and len(open_only) == len(poisoned) - 1


def test_failures_are_shown_to_the_county_s_auditors_and_admins_only(
    client: TestClient, world: World, engine: Engine
) -> None:
    give_points(engine, world.household_a1, 100)
    first = villager_token(client, world.villager_phone)
    code = redeem(client, first, offer(client, voucher_days=7)["id"]).json()["code"]
    hold = _voucher(engine, code).hold_id
    with unit_of_work(engine) as session:
        journal.void_pending(session, pending_id=not_none(hold), actor="user:by-hand")
    schedule.tick(engine, now=utcnow() + timedelta(days=8))
    for who in ("auditor", "admin"):
        listed = client.get("/api/v1/jobs/failures", headers=bearer(password_token(client, who)))
        assert listed.status_code == 200 and [f["record_kind"] for f in listed.json()] == ["voucher"]
    assert client.get("/api/v1/jobs/failures", headers=bearer(password_token(client, "admin-c"))).json() == []
    refused = client.get("/api/v1/jobs/failures", headers=bearer(password_token(client, "official-a")))
    assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
    assert client.get("/api/v1/jobs/failures", headers=bearer(first)).status_code == 403
    assert client.get("/api/v1/jobs/failures").status_code == 401


def test_a_step_that_fails_as_a_whole_stops_no_other_step(client: TestClient, world: World, engine: Engine) -> None:
    official = password_token(client, "official-a")
    villager = villager_token(client, world.villager_phone)
    claim_id = _claim(client, official, villager, new_activity(client, official, world.village_a.village_id))
    assert decide(client, official, claim_id).status_code == 201
    points = _claim_row(engine, claim_id).points

    def broken(session: Any, now: datetime) -> int:
        session.execute(update(Claim).values(points=Claim.points + 100))  # undone with the step
        raise RuntimeError("the step's own query failed")

    report = schedule.tick(engine, now=utcnow() + timedelta(days=8), steps=[("broken", broken)])
    assert report.failed_steps == ["broken"] and report.settled_claims == 1 and report.delivered == 2
    row = _claim_row(engine, claim_id)
    assert (row.points, row.status) == (points, "settled")
    auditor = bearer(password_token(client, "auditor"))
    listed = client.get("/api/v1/jobs/failures", headers=auditor).json()
    assert [(f["step"], f["record_kind"], f["error_code"]) for f in listed] == [("broken", "step", "RuntimeError")]
    assert listed[0]["resolved_at"] is None

    mended = schedule.tick(engine, now=utcnow() + timedelta(days=8), steps=[("broken", lambda session, now: 0)])
    assert mended.failed_steps == []
    assert client.get("/api/v1/jobs/failures", headers=auditor).json()[0]["resolved_at"] is not None


def test_a_claim_settled_ahead_of_time_is_dated_by_its_journal_entry(
    client: TestClient, world: World, engine: Engine
) -> None:
    """`shanzhi tick --days-ahead 8` runs the schedule as it will be in 8 days: the claim settles, and it says it
    settled when its journal entry did (now), not 8 days from now."""
    official = password_token(client, "official-a")
    villager = villager_token(client, world.villager_phone)
    settled = _claim(client, official, villager, new_activity(client, official, world.village_a.village_id))
    undecided = _claim(
        client, official, villager, new_activity(client, official, world.village_a.village_id, "courtyard_hygiene")
    )
    assert decide(client, official, settled).status_code == 201
    schedule.tick(engine, now=utcnow() + timedelta(days=8))
    after = utcnow()
    for claim_id, moment, tx_field in (
        (settled, "settled_at", "settlement_tx_id"),
        (undecided, "decided_at", "pending_tx_id"),
    ):
        row = _claim_row(engine, claim_id)
        with unit_of_work(engine) as session:
            tx_id = getattr(row, tx_field)
            if tx_field == "pending_tx_id":  # the expiry is the resolution of the claim's pending transfer
                tx_id = session.scalars(
                    select(col(JournalTransaction.id)).where(col(JournalTransaction.pending_id) == tx_id)
                ).one()
            entry = session.get(JournalTransaction, tx_id)
            assert entry is not None
            assert as_utc(getattr(row, moment)) == as_utc(entry.created_at) <= after
    shown = client.get(f"/api/v1/claims/{settled}", headers=bearer(villager)).json()
    assert datetime.fromisoformat(shown["settled_at"]) <= after


def test_verify_names_a_settled_claim_whose_settlement_was_reversed_by_hand(
    client: TestClient, world: World, engine: Engine
) -> None:
    official = password_token(client, "official-a")
    villager = villager_token(client, world.villager_phone)
    claim_id = _claim(client, official, villager, new_activity(client, official, world.village_a.village_id))
    assert decide(client, official, claim_id).status_code == 201
    assert schedule.tick(engine, now=utcnow() + timedelta(days=8)).settled_claims == 1
    with unit_of_work(engine) as session:
        assert claims_verify.check(session, verify.links(session)) == []
        settlement = not_none(not_none(session.get(Claim, claim_id)).settlement_tx_id)
        undone = journal.reverse(session, transaction_id=settlement, actor="user:by-hand", reason="by_hand")
    with unit_of_work(engine) as session:
        assert [str(m) for m in claims_verify.check(session, verify.links(session))] == [
            f"claim {claim_id}: settled, but its settlement transaction {settlement} was reversed "
            f"(transaction {undone.id})"
        ]
