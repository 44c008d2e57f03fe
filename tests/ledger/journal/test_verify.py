"""`verify` catches a hand-edited, deleted or reordered row and names the first transaction it breaks."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError

from ledger.core.db import unit_of_work
from ledger.journal import service as journal
from ledger.journal.verify import verify
from tests import factories
from tests.tamper import drop_append_only_guard


@pytest.fixture
def history(engine: Engine) -> list[int]:
    with unit_of_work(engine) as session:
        village = factories.create_village(session)
        _, account = factories.create_household(session, village.village_id)
        ids = [
            journal.transfer(session, debit=village.issuance, credit=account, amount=n, reason="x", actor="u").id
            for n in (5, 6, 7)
        ]
        hold = journal.transfer(
            session, debit=account, credit=village.penalty, amount=4, reason="h", actor="u", pending=True
        )
        journal.post_pending(session, pending_id=hold.id, actor="u")
        ids.append(journal.reverse(session, transaction_id=ids[0], actor="u", reason="mistake").id)
    return ids


def test_an_untouched_journal_verifies(engine: Engine, history: list[int]) -> None:
    with unit_of_work(engine) as session:
        report = verify(session)
    assert report.ok, [str(p) for p in report.problems]
    assert (report.transactions, report.villages) == (6, 1)


def test_an_edited_amount_names_its_transaction(engine: Engine, history: list[int]) -> None:
    with engine.begin() as conn:
        drop_append_only_guard(conn)
        conn.execute(
            text("UPDATE posting SET amount = amount + 1 WHERE transaction_id = :t AND amount > 0"), {"t": history[1]}
        )
    with unit_of_work(engine) as session:
        report = verify(session)
    assert not report.ok
    assert report.first_bad is not None and report.first_bad.transaction_id == history[1]
    assert any(p.account_id is not None and "posted" in p.what for p in report.problems)


def test_a_deleted_transaction_is_found(engine: Engine, history: list[int]) -> None:
    with engine.begin() as conn:
        drop_append_only_guard(conn)
        conn.execute(text("DELETE FROM posting WHERE transaction_id = :t"), {"t": history[2]})
        conn.execute(text("DELETE FROM journal_transaction WHERE id = :t"), {"t": history[2]})
    with unit_of_work(engine) as session:
        report = verify(session)
    assert report.first_bad is not None
    assert report.first_bad.transaction_id == history[2] + 1  # the next one no longer links


def test_reordered_transactions_are_found(engine: Engine, history: list[int]) -> None:
    a, b = history[0], history[1]
    with engine.begin() as conn:  # swap two sequence numbers through a free one
        drop_append_only_guard(conn)
        conn.execute(text("UPDATE journal_transaction SET chain_seq = 1000 WHERE id = :a"), {"a": a})
        conn.execute(text("UPDATE journal_transaction SET chain_seq = 1 WHERE id = :b"), {"b": b})
        conn.execute(text("UPDATE journal_transaction SET chain_seq = 2 WHERE id = :a"), {"a": a})
    with unit_of_work(engine) as session:
        report = verify(session)
    assert report.first_bad is not None and report.first_bad.transaction_id == b


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE posting SET amount = amount + 1 WHERE transaction_id = :t AND amount > 0",
        "DELETE FROM posting WHERE transaction_id = :t",
        "UPDATE journal_transaction SET reason = 'edited' WHERE id = :t",
        "DELETE FROM journal_transaction WHERE id = :t",
    ],
)
def test_the_database_refuses_to_change_history(engine: Engine, history: list[int], statement: str) -> None:
    with pytest.raises(IntegrityError, match="append-only"), engine.begin() as conn:
        conn.execute(text(statement), {"t": history[1]})
    with unit_of_work(engine) as session:
        assert verify(session).ok
