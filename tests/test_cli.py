"""The `shanzhi` command as an operator runs it: the demo county, `verify` on it, and the served demo.

These run the installed console script in a child process on a SQLite file of their own.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import httpx

from api.demo import HOUSEHOLD_COUNT
from tests.api.claiming import JPEG
from tests.demo_server import SHANZHI, came_up, environment, free_port, shanzhi
from tests.factories import id_of, not_none


def edit_by_hand(database: Path, sql: str) -> subprocess.CompletedProcess[str]:
    """What an operator with a shell would do: the sqlite3 command line tool (or, without it, Python's)."""
    if shutil.which("sqlite3"):
        return subprocess.run(["sqlite3", str(database), sql], capture_output=True, text=True, check=False)
    try:
        with sqlite3.connect(database) as conn:
            conn.executescript(sql)
    except sqlite3.DatabaseError as error:
        return subprocess.CompletedProcess([], 1, "", str(error))
    return subprocess.CompletedProcess([], 0, "", "")


def test_every_command_explains_itself(tmp_path: Path) -> None:
    for command in (
        ["--help"],
        ["serve", "--help"],
        ["demo", "--help"],
        ["db", "upgrade", "--help"],
        ["db", "downgrade", "--help"],
        ["verify", "--help"],
        ["create-admin", "--help"],
        ["create-partner-client", "--help"],
        ["create-partner-staff", "--help"],
        ["create-open311-client", "--help"],
        ["head", "--help"],
        ["tick", "--help"],
        ["score", "--help"],
        ["calibrate", "--help"],
        ["failures", "--help"],
        ["link-staff", "--help"],
        ["roster-template", "--help"],
        ["roster-import", "--help"],
        ["backup", "--help"],
        ["restore", "--help"],
    ):
        result = shanzhi(*command, cwd=tmp_path, database=tmp_path / "x.db")
        assert result.returncode == 0 and "Usage" in result.stdout, command


def test_verify_passes_on_the_demo_and_names_a_hand_edited_transaction(demo_db: Path, tmp_path: Path) -> None:
    ok = shanzhi("verify", cwd=tmp_path, database=demo_db)
    assert ok.returncode == 0, ok.stderr
    assert "ledger verified" in ok.stdout

    with sqlite3.connect(demo_db) as conn:
        victim = conn.execute("SELECT id FROM journal_transaction ORDER BY id LIMIT 1 OFFSET 99").fetchone()[0]
    edit = f"UPDATE posting SET amount = amount + 10 WHERE transaction_id = {victim} AND amount > 0;"

    refused = edit_by_hand(demo_db, edit)  # the database itself refuses first
    assert refused.returncode != 0 and "append-only" in refused.stdout + refused.stderr
    assert shanzhi("verify", cwd=tmp_path, database=demo_db).returncode == 0

    forced = edit_by_hand(demo_db, "DROP TRIGGER posting_append_only_update; " + edit)
    assert forced.returncode == 0, forced.stderr
    bad = shanzhi("verify", cwd=tmp_path, database=demo_db)
    assert bad.returncode == 1
    assert f"first bad transaction {victim} " in bad.stderr


def test_long_commands_show_progress_lines_without_a_terminal_and_only_the_summary_when_quiet(
    demo_db: Path, tmp_path: Path
) -> None:
    """Run from cron or systemd (no terminal): plain progress lines on stderr, then a one-line summary on stdout.
    With --quiet: the summary alone."""
    checked = shanzhi("verify", cwd=tmp_path, database=demo_db, check=True)
    lines = checked.stderr.splitlines()
    assert re.fullmatch(r"transactions checked: 0 of (\d+) \(0%\)", lines[0]), lines
    total = int(lines[0].split(" of ")[1].split(" ")[0])
    assert f"transactions checked: {total} of {total} (100%)" in lines
    assert any(re.fullmatch(r"account balances checked: (\d+) of \1 \(100%\)", line) for line in lines)
    accounts = _accounts(lines)
    summary = f"checked {total} transactions in 3 villages and {accounts} account balances"
    assert checked.stdout.splitlines() == [summary + ": ledger verified, records verified"]
    quiet = shanzhi("verify", "--quiet", cwd=tmp_path, database=demo_db, check=True)
    assert quiet.stderr == "" and quiet.stdout == checked.stdout

    scored = shanzhi("score", "--county", "demo", cwd=tmp_path, database=demo_db, check=True)
    assert f"households scored: {HOUSEHOLD_COUNT} of {HOUSEHOLD_COUNT} (100%)" in scored.stderr.splitlines()
    assert len(scored.stdout.splitlines()) == 1 and f"of {HOUSEHOLD_COUNT} households" in scored.stdout
    quiet = shanzhi("score", "--county", "demo", "-q", cwd=tmp_path, database=demo_db, check=True)
    assert quiet.stderr == "" and len(quiet.stdout.splitlines()) == 1

    refused = shanzhi("calibrate", "--county", "demo", "--quiet", cwd=tmp_path, database=demo_db)
    assert refused.returncode == 2 and refused.stdout == ""
    assert refused.stderr.strip().startswith("Calibration needs at least 50 finished loans")  # the error alone


def _accounts(lines: list[str]) -> int:
    done = [line for line in lines if line.startswith("account balances checked:") and " of " in line]
    return int(done[-1].split(" of ")[1].split(" ")[0])


def test_create_admin_and_partner_client(demo_db: Path, tmp_path: Path) -> None:
    weak = shanzhi(
        "create-admin", "--username", "root", "--county", "demo", "--password", "admin", cwd=tmp_path, database=demo_db
    )
    assert weak.returncode == 2 and "12 characters" in weak.stderr
    shanzhi(
        "create-admin",
        "--username",
        "root",
        "--county",
        "demo",
        "--password",
        "a long passphrase 42",
        cwd=tmp_path,
        database=demo_db,
        check=True,
    )
    created = shanzhi(
        "create-partner-client",
        "--partner",
        "demo-bank",
        "--county",
        "demo",
        "--scopes",
        "credit:read",
        cwd=tmp_path,
        database=demo_db,
        check=True,
    )
    issued = json.loads(created.stdout.splitlines()[0])
    assert issued["client_id"].startswith("demo-bank-") and len(issued["client_secret"]) >= 40
    with sqlite3.connect(demo_db) as conn:
        stored = conn.execute(
            "SELECT secret_hash FROM partner_client WHERE client_id = ?", (issued["client_id"],)
        ).fetchone()[0]
    assert stored.startswith("$argon2") and issued["client_secret"] not in stored
    with sqlite3.connect(demo_db) as conn:  # in the change log, named by the machine's login, without the secret
        logged = conn.execute(
            "SELECT actor, target_id, after FROM admin_change WHERE action = 'partner_client.create'"
        ).fetchall()
    assert [(actor.startswith("cli:"), target) for actor, target, _ in logged] == [(True, issued["client_id"])]
    assert issued["client_secret"] not in logged[0][2]


def test_create_open311_client_prints_its_key_once_and_keeps_only_its_hash(demo_db: Path, tmp_path: Path) -> None:
    created = shanzhi(
        "create-open311-client", "--county", "demo", "--name", "12345 热线", cwd=tmp_path, database=demo_db, check=True
    )
    issued = json.loads(created.stdout.splitlines()[0])
    assert issued["name"] == "12345 热线" and issued["jurisdiction_id"] == "demo" and len(issued["api_key"]) >= 43
    with sqlite3.connect(demo_db) as conn:
        stored = conn.execute("SELECT key_hash, active FROM open311_client WHERE id = ?", (issued["id"],)).fetchone()
        logged = conn.execute("SELECT actor, after FROM admin_change WHERE action = 'open311_client.create'").fetchall()
    assert stored == (hashlib.sha256(issued["api_key"].encode()).hexdigest(), 1)
    assert len(logged) == 1 and logged[0][0].startswith("cli:") and issued["api_key"] not in logged[0][1]
    nowhere = shanzhi("create-open311-client", "--county", "nowhere", "--name", "x", cwd=tmp_path, database=demo_db)
    assert nowhere.returncode == 2 and "no county" in nowhere.stderr


def test_the_demo_serves_docs_health_and_a_signed_in_balance(served: tuple[str, Path]) -> None:
    base, _ = served
    assert httpx.get(f"{base}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{base}/readyz").json()["status"] == "ready"
    docs = httpx.get(f"{base}/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    phone = "13800000001"  # as the printed help says: the head of household 1
    code = httpx.post(f"{base}/api/v1/auth/otp/request", json={"phone": phone}).json()["dev_code"]
    token = httpx.post(f"{base}/api/v1/auth/otp/verify", json={"phone": phone, "code": code}).json()["access_token"]
    balance = httpx.get(f"{base}/api/v1/households/1/balance", headers={"Authorization": f"Bearer {token}"})
    assert balance.status_code == 200, balance.text
    body = balance.json()
    assert body["household_id"] == 1 and body["available"] == body["posted"] - body["held"]
    assert body["earned"] >= body["posted"] > 0
    other = httpx.get(f"{base}/api/v1/households/2/balance", headers={"Authorization": f"Bearer {token}"})
    assert other.status_code == 404  # another household is not this villager's to see


def test_the_demo_walks_a_claim_from_qr_code_to_settled_points(
    served: tuple[str, Path], seeded: tuple[Path, str], tmp_path: Path
) -> None:
    """What the printed help says to do: sign in by code, send a photo, claim with the printed QR code, an
    official approves, the points are in notice, and `shanzhi tick` after the notice period settles them."""
    base, database = served
    token = not_none(re.search(r"/c/(\S+)", seeded[1])).group(1)
    info = httpx.get(f"{base}/api/v1/codes/{token}")  # what the poster's code is for
    assert info.status_code == 200 and info.json()["evidence"] == "photo"
    phone = "13800000001"
    code = httpx.post(f"{base}/api/v1/auth/otp/request", json={"phone": phone}).json()["dev_code"]
    villager = {
        "Authorization": "Bearer "
        + httpx.post(f"{base}/api/v1/auth/otp/verify", json={"phone": phone, "code": code}).json()["access_token"]
    }
    photo = httpx.post(f"{base}/api/v1/evidence", headers=villager, files={"file": ("yard.jpg", JPEG, "image/jpeg")})
    assert photo.status_code == 201, photo.text
    claimed = httpx.post(
        f"{base}/api/v1/claims",
        headers={**villager, "Idempotency-Key": "demo-1"},
        json={"token": token, "evidence_ids": [photo.json()["id"]]},
    )
    assert claimed.status_code == 201 and claimed.json()["status"] == "pending", claimed.text
    # the demo's own recent history may have points of this household in notice already (a useful report's award)
    noticed_before = httpx.get(f"{base}/api/v1/households/1/balance", headers=villager).json()["in_notice"]
    official = {
        "Authorization": "Bearer "
        + httpx.post(
            f"{base}/api/v1/auth/token",
            data={"grant_type": "password", "username": "official-qingshan", "password": "shanzhi-demo"},
        ).json()["access_token"]
    }
    approved = httpx.post(
        f"{base}/api/v1/claims/{claimed.json()['id']}/approve", headers={**official, "Idempotency-Key": "demo-ok-1"}
    )
    assert approved.status_code == 201 and approved.json()["status"] == "approved", approved.text
    balance = httpx.get(f"{base}/api/v1/households/1/balance", headers=villager).json()
    assert balance["in_notice"] == noticed_before + 3
    settled_before = balance["posted"]
    ticked = shanzhi("tick", "--days-ahead", "8", cwd=tmp_path, database=database, check=True)
    assert "settled" in ticked.stdout
    after = httpx.get(f"{base}/api/v1/households/1/balance", headers=villager).json()
    assert (after["in_notice"], after["posted"]) == (0, settled_before + noticed_before + 3)


def test_score_rates_a_county_and_calibrate_refuses_without_outcomes(demo_db: Path, tmp_path: Path) -> None:
    scored = shanzhi("score", "--county", "demo", cwd=tmp_path, database=demo_db, check=True)
    assert f"of {HOUSEHOLD_COUNT} households" in scored.stdout
    refused = shanzhi(
        "calibrate", "--county", "demo", "--out", str(tmp_path / "report"), cwd=tmp_path, database=demo_db
    )
    assert refused.returncode == 2 and "at least 50 finished loans" in refused.stderr
    unknown = shanzhi("score", "--county", "nowhere", cwd=tmp_path, database=demo_db)
    assert unknown.returncode == 2 and "no county" in unknown.stderr


def test_the_demo_county_came_from_its_roster_and_shows_a_year_of_its_life(demo_db: Path) -> None:
    """The demo's places and people are its roster's (every household with its 户号, house number and address,
    every member with a relation to the head, a villager sign-in for every phone), and its dashboard shows a year
    of claims, decisions and settlements, not just this week's."""
    from sqlalchemy import select
    from sqlmodel import col

    from ledger import figures
    from ledger.core.base import utcnow
    from ledger.core.db import make_engine, unit_of_work
    from ledger.tenancy import Village

    with sqlite3.connect(demo_db) as conn:
        households = conn.execute("SELECT count(*), count(address), count(house_number) FROM household").fetchone()
        heads = conn.execute("SELECT count(*) FROM person WHERE is_head AND relation = '户主'").fetchone()[0]
        unrelated = conn.execute("SELECT count(*) FROM person WHERE relation IS NULL").fetchone()[0]
        phones, villagers = conn.execute(
            "SELECT count(p.phone), count(u.id) FROM person p "
            "LEFT JOIN app_user u ON u.person_id = p.id AND u.role = 'villager'"
        ).fetchone()
    assert households == (HOUSEHOLD_COUNT, HOUSEHOLD_COUNT, HOUSEHOLD_COUNT) and heads == HOUSEHOLD_COUNT
    assert unrelated == 0 and phones == villagers > HOUSEHOLD_COUNT
    with sqlite3.connect(demo_db) as conn:
        imported = conn.execute("SELECT actor, after FROM admin_change WHERE action = 'roster.import'").fetchall()
    assert len(imported) == 1 and json.loads(imported[0][1])["households"]["added"] == HOUSEHOLD_COUNT, imported

    engine = make_engine(f"sqlite:///{demo_db}")
    with unit_of_work(engine) as session:
        for village in session.scalars(select(Village).order_by(col(Village.id))):
            scope = figures.village_scope(session, village)
            taking_part = figures.participation_by_month(session, scope, utcnow())
            on_time = figures.on_time_by_month(session, scope, utcnow())
            # a year in: households took part and officials decided in (nearly) every month of the dashboard
            assert (taking_part["participating"] > 0).sum() >= 11, (village.name, taking_part)
            assert (on_time["decided"] > 0).sum() >= 11, (village.name, on_time)
            assert taking_part["participating"].nunique() > 3  # and the chart is not flat
    engine.dispose()


def test_the_demo_walks_a_rating_from_consent_to_lookup_to_revocation(served: tuple[str, Path]) -> None:
    """A villager with history sees a grade, four reasons and how to improve; grants the demo bank consent; the
    bank's client-credentials token reads the rating; the villager sees the lookup; revoking makes it 403."""
    base, _ = served
    phone = "13800000001"
    code = httpx.post(f"{base}/api/v1/auth/otp/request", json={"phone": phone}).json()["dev_code"]
    villager = {
        "Authorization": "Bearer "
        + httpx.post(f"{base}/api/v1/auth/otp/verify", json={"phone": phone, "code": code}).json()["access_token"]
    }
    mine = httpx.get(f"{base}/api/v1/credit/me", headers=villager).json()
    assert mine["grade"] in ("AAA", "AA", "A", "B", "C") and len(mine["reasons"]) == 4
    assert mine["improve"]["actions"]
    bank_id = httpx.get(f"{base}/api/v1/partners", params={"kind": "bank"}, headers=villager).json()[0]["id"]
    given = httpx.post(
        f"{base}/api/v1/consents",
        headers=villager,
        json={"partner_id": bank_id, "purpose": "loan_preapproval", "scope": "score"},
    ).json()
    bank_token = httpx.post(
        f"{base}/api/v1/auth/token", auth=("demo-bank", "demo-bank-secret"), data={"grant_type": "client_credentials"}
    ).json()["access_token"]
    bank = {"Authorization": f"Bearer {bank_token}"}
    shown = httpx.get(f"{base}/api/v1/credit/households/1", params={"consent_id": given["id"]}, headers=bank)
    assert shown.status_code == 200 and shown.json()["grade"] == mine["grade"]
    log = httpx.get(f"{base}/api/v1/credit/me/lookups", headers=villager).json()
    assert len(log) == 1 and log[0]["purpose"] == "loan_preapproval"
    httpx.post(f"{base}/api/v1/consents/{given['id']}/revoke", headers=villager)
    refused = httpx.get(f"{base}/api/v1/credit/households/1", params={"consent_id": given["id"]}, headers=bank)
    assert refused.status_code == 403 and refused.json()["code"] == "consent_required"


def test_the_demo_plays_redemption_end_to_end_and_the_settlement_reconciles(
    seeded: tuple[Path, str], demo_db: Path
) -> None:
    """What the product's "done when" asks of the demo: a voucher redeemed and used by code and PIN, an expired one
    whose points came back, a health check booked and attended, an A-or-better household's loan pre-approved and
    in the bank's inbox, and the month's settlement reconciled with the ledger, as printed and as stored."""
    from zoneinfo import ZoneInfo

    from sqlalchemy import select
    from sqlmodel import col

    from ledger.core.base import as_utc
    from ledger.core.db import make_engine, unit_of_work
    from ledger.figures import month_bounds
    from ledger.identity.models import Partner
    from ledger.journal import accounts, queries
    from ledger.journal.models import JournalTransaction, TxKind
    from ledger.tenancy import County
    from redemption import loans, settlement, vouchers
    from redemption.models import Voucher, VoucherStatus

    printed = seeded[1].splitlines()
    for code in ("demo-mart", "demo-clinic"):
        [line] = [line for line in printed if line.strip().startswith("settlement") and f" {code}:" in line]
        assert "uses=1" in line and "reconciled=true" in line, line
    assert any("demo-mart used it with code" in line and " PIN " in line for line in printed)
    assert any("pre_approved" in line and "demo-bank's inbox holds 1" in line for line in printed)

    engine = make_engine(f"sqlite:///{demo_db}")
    with unit_of_work(engine) as session:
        partners = {p.code: p for p in session.scalars(select(Partner))}
        mart, clinic, bank = partners["demo-mart"], partners["demo-clinic"], partners["demo-bank"]

        [used] = vouchers.of_partner(session, id_of(mart), status=VoucherStatus.USED)
        assert [e.event for e in vouchers.history(session, id_of(used))] == ["issued", "consumed"]

        [expired] = session.scalars(select(Voucher).where(col(Voucher.status) == VoucherStatus.EXPIRED)).all()
        assert [e.event for e in vouchers.history(session, id_of(expired))] == ["issued", "expired"]
        resolution = session.scalars(
            select(JournalTransaction).where(col(JournalTransaction.pending_id) == expired.hold_id)
        ).one()
        assert resolution.kind == TxKind.EXPIRE_PENDING
        balance = queries.balance(session, id_of(accounts.of_household(session, expired.household_id)))
        assert balance.pending_debit == 0 and balance.available == balance.posted >= expired.points

        [booking] = vouchers.of_partner(session, id_of(clinic), status=VoucherStatus.USED)
        assert booking.slot_id is not None and booking.kind == "health_check"

        [application] = loans.of_partner(session, id_of(bank))
        assert application.status == "pre_approved" and application.decided_automatically
        assert application.grade in ("A", "AA", "AAA")

        first = session.scalars(select(Voucher).where(col(Voucher.household_id) == 1)).all()
        assert [v.status for v in first] == ["active"]  # the printed villager's voucher to look at
        assert queries.balance(session, id_of(accounts.of_household(session, 1))).available >= 60

        county = session.scalars(select(County)).one()
        used_at = as_utc(not_none(used.closed_at)).astimezone(ZoneInfo(county.timezone))
        start, end = month_bounds(f"{used_at:%Y-%m}", county.timezone)  # the month the story was played in
        for partner in partners.values():
            result = settlement.settle(session, id_of(partner), start, end)
            assert result.reconciled, (partner.code, result.summary())
        assert settlement.settle(session, id_of(mart), start, end).points == used.points


def test_more_requests_at_once_than_the_server_has_threads_are_all_answered(served: tuple[str, Path]) -> None:
    """On SQLite every request's unit of work takes the file's writer lock. Requests must queue for it without
    holding a worker thread each, or 40 waiters (the thread pool) starve the one holding the lock of a thread to
    finish on, and the server stops answering."""
    import asyncio

    base, _ = served
    phone = "13800000001"
    code = httpx.post(f"{base}/api/v1/auth/otp/request", json={"phone": phone}).json()["dev_code"]
    token = httpx.post(f"{base}/api/v1/auth/otp/verify", json={"phone": phone, "code": code}).json()["access_token"]

    async def storm() -> list[int | str]:
        limits = httpx.Limits(max_connections=150, max_keepalive_connections=150)
        async with httpx.AsyncClient(
            base_url=base, limits=limits, timeout=60, headers={"Authorization": f"Bearer {token}"}
        ) as http:
            answers = await asyncio.gather(
                *(http.get("/api/v1/households/1/balance") for _ in range(150)), return_exceptions=True
            )
        return [a.status_code if isinstance(a, httpx.Response) else type(a).__name__ for a in answers]

    statuses = asyncio.run(storm())
    assert statuses == [200] * 150, sorted(set(map(str, statuses)))


def test_create_partner_staff_who_then_act_for_their_partner(demo_db: Path, tmp_path: Path) -> None:
    from ledger.core.db import make_engine, unit_of_work
    from ledger.identity import principal
    from ledger.identity.service import check_password

    missing = shanzhi(
        "create-partner-staff",
        "--username",
        "cashier-li",
        "--partner",
        "no-such-shop",
        "--password",
        "a long passphrase 42",
        cwd=tmp_path,
        database=demo_db,
    )
    assert missing.returncode == 2 and "no partner" in missing.stderr
    created = shanzhi(
        "create-partner-staff",
        "--username",
        "cashier-li",
        "--partner",
        "demo-mart",
        "--password",
        "a long passphrase 42",
        cwd=tmp_path,
        database=demo_db,
        check=True,
    )
    assert "merchant staff 'cashier-li'" in created.stdout
    engine = make_engine(f"sqlite:///{demo_db}")
    with unit_of_work(engine) as session:
        user = check_password(session, "cashier-li", "a long passphrase 42")
        assert user is not None and user.role == "partner_staff"
        who = principal.load(session, subject=f"user:{user.id}", role=user.role, scopes=())
        assert (who.role, who.partner_kind) == ("partner", "merchant") and "vouchers:consume" in who.scopes
    engine.dispose()


def test_verify_names_each_record_whose_transactions_were_changed_by_hand(demo_db: Path, tmp_path: Path) -> None:
    """A claim, deduction, voucher or booking whose transaction was posted, voided or reversed through the journal
    service, outside the record's own operation: the journal itself is sound, but verify names the record."""
    from ledger.core.db import make_engine, unit_of_work
    from ledger.journal import service as journal

    ok = shanzhi("verify", cwd=tmp_path, database=demo_db)
    assert ok.returncode == 0 and "records verified" in ok.stdout, ok.stderr
    with sqlite3.connect(demo_db) as conn:

        def one(sql: str) -> Any:
            return conn.execute(sql).fetchone()

        approved = one("SELECT id, approval_tx_id FROM claim WHERE status = 'approved' ORDER BY id")
        pending = one("SELECT id, pending_tx_id FROM claim WHERE status = 'pending' ORDER BY id")
        deduction = one(
            "SELECT id, transaction_id FROM deduction WHERE status = 'in_force' "
            "AND transaction_id IS NOT NULL ORDER BY id"
        )
        voucher = one("SELECT id, hold_id FROM voucher WHERE status = 'active' AND slot_id IS NULL ORDER BY id")
        booking = one(
            "SELECT v.id, e.transaction_id FROM voucher v JOIN voucher_event e ON e.voucher_id = v.id "
            "WHERE v.status = 'used' AND v.slot_id IS NOT NULL AND e.event = 'consumed' ORDER BY v.id"
        )
    engine = make_engine(f"sqlite:///{demo_db}")
    with unit_of_work(engine) as session:
        journal.reverse(session, transaction_id=approved[1], actor="user:by-hand", reason="by_hand")
        journal.post_pending(session, pending_id=pending[1], actor="user:by-hand")
        journal.reverse(session, transaction_id=deduction[1], actor="user:by-hand", reason="by_hand")
        journal.void_pending(session, pending_id=voucher[1], actor="user:by-hand")
        journal.reverse(session, transaction_id=booking[1], actor="user:by-hand", reason="by_hand")
    engine.dispose()

    bad = shanzhi("verify", cwd=tmp_path, database=demo_db)
    assert bad.returncode == 1 and "ledger verified" in bad.stdout  # the journal itself is sound
    named = {line.strip()[2:].split(":")[0] for line in bad.stderr.splitlines() if line.strip().startswith("- ")}
    assert named == {
        f"claim {approved[0]}",
        f"claim {pending[0]}",
        f"deduction {deduction[0]}",
        f"voucher {voucher[0]}",
        f"booking {booking[0]}",
    }, bad.stderr
    assert f"claim {approved[0]}: approved, but its approval transaction {approved[1]} was reversed" in bad.stderr

    # The schedule skips what it cannot do with these records, does the rest, and `failures` lists them.
    ticked = shanzhi("tick", "--days-ahead", "8", cwd=tmp_path, database=demo_db)
    assert ticked.returncode == 0, ticked.stderr
    assert "settle_notice: 1 failed and skipped" in ticked.stdout and "settled 0 claims" not in ticked.stdout
    listed = shanzhi("failures", "--county", "demo", cwd=tmp_path, database=demo_db)
    assert listed.returncode == 1 and f"settle_notice claim {approved[0]}: insufficient_points (1x" in listed.stdout
    assert listed.stdout.splitlines()[-1].endswith("failing")


# --- safe by default (issue 13 §3, §8) ------------------------------------------------------------------------


def test_demo_no_serve_does_not_say_it_is_served(seeded: tuple[Path, str]) -> None:
    printed = seeded[1]
    assert "served at" not in printed and ":8000" not in printed, printed
    assert "Nothing is served" in printed and "shanzhi demo" in printed  # it says how to serve it
    assert "official-qingshan" in printed and "demo-bank-secret" in printed  # and the sign-ins still


def test_a_server_started_with_no_settings_refuses_plainly(tmp_path: Path) -> None:
    """Production is the default: without SHANZHI_ENV and a secret nothing is served, and the operator reads why."""
    port = str(free_port())
    refused = shanzhi(
        "serve",
        "--port",
        port,
        cwd=tmp_path,
        database=tmp_path / "x.db",
        timeout=60,
        SHANZHI_ENV=None,
        SHANZHI_JWT_SECRET=None,
    )
    assert refused.returncode == 2, refused.stderr
    assert "refusing to start: SHANZHI_JWT_SECRET is missing" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert "production" in refused.stderr.splitlines()[0]
    demo = shanzhi("demo", "--no-serve", cwd=tmp_path, database=tmp_path / "x.db", timeout=60, SHANZHI_ENV=None)
    assert demo.returncode == 2 and "SHANZHI_ENV=dev" in demo.stderr and "Traceback" not in demo.stderr


def test_production_refuses_the_demo_county_secrets_and_passwords(demo_db: Path, tmp_path: Path) -> None:
    refused = shanzhi(
        "serve", "--port", str(free_port()), cwd=tmp_path, database=demo_db, timeout=120, SHANZHI_ENV="prod"
    )
    assert refused.returncode == 2, refused.stderr
    assert "default password: admin" in refused.stderr
    assert "partner clients still have the demo's secret: demo-bank, demo-clinic, demo-mart" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_dev_mode_serves_only_on_a_loopback_address(tmp_path: Path) -> None:
    for command in (
        ["serve", "--host", "0.0.0.0"],
        ["serve", "--host", "::"],
        ["serve", "--host", "192.0.2.7"],
        ["demo", "--host", "0.0.0.0"],
        ["serve", "--host", "example.org"],
    ):
        refused = shanzhi(*command, "--port", str(free_port()), cwd=tmp_path, database=tmp_path / "x.db", timeout=60)
        assert refused.returncode == 2, (command, refused.stderr)
        assert "dev mode serves only on a loopback address" in refused.stderr and "Traceback" not in refused.stderr


def test_loopback_addresses_are_those_of_this_machine_alone() -> None:
    from api.cli import loopback

    assert all(map(loopback, ("127.0.0.1", "127.0.0.2", "::1", "localhost", "LOCALHOST", "[::1]")))
    assert not any(map(loopback, ("0.0.0.0", "::", "192.168.1.5", "10.0.0.1", "example.org", "", "::ffff:1.2.3.4")))


def test_serve_logs_its_mode_first(tmp_path: Path) -> None:
    port = free_port()
    server = subprocess.Popen(
        [SHANZHI, "serve", "--port", str(port)],
        cwd=tmp_path,
        env=environment(tmp_path / "fresh.db"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        came_up(f"http://127.0.0.1:{port}", server, seconds=90)  # up, or gone: the log's first line says which
    finally:
        server.terminate()
        _, logged = server.communicate(timeout=30)
    lines = logged.splitlines()
    assert lines and "DEV MODE: not for real data" in json.loads(lines[0])["msg"], logged[:2000]


def test_link_staff_names_the_person_behind_an_official_and_refuses_plainly(demo_db: Path, tmp_path: Path) -> None:
    with sqlite3.connect(demo_db) as conn:
        free = conn.execute(
            "SELECT id FROM person WHERE id NOT IN (SELECT person_id FROM app_user "
            "WHERE person_id IS NOT NULL) ORDER BY id LIMIT 1"
        ).fetchone()[0]
        villager = conn.execute("SELECT person_id FROM app_user WHERE role = 'villager' LIMIT 1").fetchone()[0]
    linked = shanzhi(
        "link-staff", "--username", "official-qingshan", "--person", str(free), cwd=tmp_path, database=demo_db
    )
    assert linked.returncode == 0 and f"is person {free}" in linked.stdout, linked.stderr
    with sqlite3.connect(demo_db) as conn:
        assert conn.execute("SELECT person_id FROM app_user WHERE username = 'official-qingshan'").fetchone()[0] == free
    for args, said in (
        (["--username", "official-zhulin", "--person", str(free)], "person_already_linked"),  # official-qingshan
        (["--username", "official-zhulin", "--person", "999999"], "person_not_found"),
        (["--username", "bank-staff", "--person", str(free)], "not_a_staff_account"),
        (["--username", "nobody", "--person", str(free)], "no user 'nobody'"),
        (["--username", "official-zhulin"], "--person ID or --unlink"),
    ):
        refused = shanzhi("link-staff", *args, cwd=tmp_path, database=demo_db)
        assert refused.returncode == 2 and said in refused.stderr, (args, refused.stderr)
    unlinked = shanzhi("link-staff", "--username", "official-qingshan", "--unlink", cwd=tmp_path, database=demo_db)
    assert unlinked.returncode == 0 and "linked to nobody" in unlinked.stdout
    both = shanzhi(  # a villager with a sign-in of their own may be an official too
        "link-staff", "--username", "official-zhulin", "--person", str(villager), cwd=tmp_path, database=demo_db
    )
    assert both.returncode == 0 and f"is person {villager}" in both.stdout, both.stderr


def test_a_new_county_starts_from_create_admin_with_the_default_catalogue_and_policy(tmp_path: Path) -> None:
    database = tmp_path / "county.db"
    args = ("create-admin", "--county", "jiande", "--county-name", "建德市", "--username", "jd-admin")
    early = shanzhi(*args, "--password", "a long passphrase 42", cwd=tmp_path, database=database)
    assert early.returncode == 2 and "shanzhi db upgrade" in early.stderr and "Traceback" not in early.stderr
    shanzhi("db", "upgrade", cwd=tmp_path, database=database, check=True)
    shanzhi(*args, "--password", "a long passphrase 42", cwd=tmp_path, database=database, check=True)
    with sqlite3.connect(database) as conn:
        county_id, name, notice_days = conn.execute("SELECT id, name, notice_days FROM county").fetchone()
        matters = conn.execute("SELECT count(*) FROM matter WHERE county_id = ?", (county_id,)).fetchone()[0]
        changes = conn.execute("SELECT action, actor FROM admin_change ORDER BY id").fetchall()
    assert name == "建德市" and notice_days == 7 and matters >= 10
    assert [action for action, _ in changes] == ["county.start", "staff.create"]
    assert all(actor.startswith("cli:") for _, actor in changes)


def test_staff_accounts_from_the_command_line(demo_db: Path, tmp_path: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return shanzhi("staff", *args, cwd=tmp_path, database=demo_db)

    added = run("add", "--county", "demo", "--username", "new-official", "--role", "official", "--village",
                "demo-v001", "--village", "demo-v002", "--display-name", "新村干部")  # fmt: skip
    assert added.returncode == 0, added.stderr
    password = not_none(re.search(r"one-time password .*: (\S+)$", added.stdout.strip())).group(1)
    assert len(password) >= 12
    supervisor = run("add", "--county", "demo", "--username", "new-supervisor", "--role", "supervisor",
                     "--township", "demo-t001")  # fmt: skip
    assert supervisor.returncode == 0, supervisor.stderr
    for args, said in (
        (["--username", "x1", "--role", "official"], "staff_places_invalid"),
        (["--username", "x2", "--role", "official", "--village", "nowhere"], "village_not_found"),
        (["--username", "x3", "--role", "supervisor", "--township", "nowhere"], "township_not_found"),
        (["--username", "new-official", "--role", "auditor"], "username_taken"),
        (["--username", "x4", "--role", "boss"], "official, supervisor, auditor or admin"),
    ):
        refused = run("add", "--county", "demo", *args)
        assert refused.returncode == 2 and said in refused.stderr and "Traceback" not in refused.stderr, args
    assert run("add", "--county", "nope", "--username", "x5", "--role", "auditor").returncode == 2

    listed = run("list", "--county", "demo")
    assert listed.returncode == 0, listed.stderr
    lines = {line.split("\t")[0]: line.split("\t") for line in listed.stdout.splitlines()}
    assert lines["new-official"][1:5] == ["official", "demo-v001,demo-v002", "active", "must-change-password"]
    assert lines["new-supervisor"][1:3] == ["supervisor", "demo-t001"]
    assert {"admin", "auditor", "official-zhulin"} <= set(lines) and not any("staff" in name for name in lines)

    with sqlite3.connect(demo_db) as conn:
        old_hash = conn.execute("SELECT password_hash FROM app_user WHERE username = 'official-zhulin'").fetchone()[0]
    reset = run("reset-password", "official-zhulin")
    assert reset.returncode == 0 and "one-time password" in reset.stdout, reset.stderr
    assert run("disable", "official-zhulin").returncode == 0
    with sqlite3.connect(demo_db) as conn:
        hash_now, must, active = conn.execute(
            "SELECT password_hash, must_change_password, active FROM app_user WHERE username = 'official-zhulin'"
        ).fetchone()
        assert hash_now != old_hash and must == 1 and active == 0
    assert run("enable", "official-zhulin").returncode == 0
    last = run("disable", "admin")
    assert last.returncode == 2 and "last_admin" in last.stderr
    assert "no user 'nobody'" in run("disable", "nobody").stderr
    with sqlite3.connect(demo_db) as conn:
        changes = conn.execute(
            "SELECT action, actor, after FROM admin_change WHERE action LIKE 'staff.%' ORDER BY id"
        ).fetchall()
    assert [action for action, _, _ in changes] == [
        "staff.create",
        "staff.create",
        "staff.reset_password",
        "staff.disable",
        "staff.enable",
    ]
    assert all(actor.startswith("cli:") for _, actor, _ in changes)
    assert password not in "".join(after or "" for _, _, after in changes)


def test_the_demo_calendar_marks_two_example_days_and_no_made_up_holidays(demo_db: Path) -> None:
    """The demo county's calendar shows a holiday and a make-up Saturday, both named as examples: Shanzhi ships no
    holiday arrangement of its own (docs/concerns.md, "Deadlines and working time")."""
    from datetime import date

    with sqlite3.connect(demo_db) as conn:
        days = conn.execute("SELECT day, working, name FROM calendar_day ORDER BY day").fetchall()
    assert [(working, name) for _, working, name in days] == [(1, "示例调休（演示数据）"), (0, "示例假日（演示数据）")]
    saturday, monday = (date.fromisoformat(day) for day, _, _ in days)
    assert (saturday.weekday(), monday.weekday(), (monday - saturday).days) == (5, 0, 2)
