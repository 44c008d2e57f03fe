"""The one idempotency wrapper (ledger/core/idempotency.py: run): a replay gives the first result without running the
operation again, a key reused for another request is refused, a failed operation leaves the key free."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from ledger.core import idempotency
from ledger.core.db import unit_of_work
from ledger.core.errors import Invalid

COUNTER: idempotency.Stored[int] = idempotency.Stored(
    save=lambda value: {"n": value}, load=lambda _session, earlier: int((earlier.result or {})["n"])
)


class Calls:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> int:
        self.count += 1
        return self.count * 10


def run(session: Session, operation: Any, *, key: str | None, request: dict[str, Any]) -> idempotency.Outcome[int]:
    return idempotency.run(session, actor="user:1", key=key, request=request, stored=COUNTER, operation=operation)


def test_a_replay_gives_the_first_result_without_running_again(engine: Engine) -> None:
    calls = Calls()
    with unit_of_work(engine) as session:
        first = run(session, calls, key="k1", request={"op": "x", "a": 1})
    with unit_of_work(engine) as session:
        again = run(session, calls, key="k1", request={"a": 1, "op": "x"})
    assert (first, again) == (idempotency.Outcome(10), idempotency.Outcome(10, replayed=True))
    assert calls.count == 1


def test_without_a_key_the_operation_runs_every_time(engine: Engine) -> None:
    calls = Calls()
    with unit_of_work(engine) as session:
        assert [run(session, calls, key=None, request={}).value for _ in range(2)] == [10, 20]


def test_a_key_reused_for_another_request_is_refused(engine: Engine) -> None:
    calls = Calls()
    with unit_of_work(engine) as session:
        run(session, calls, key="k2", request={"op": "x", "a": 1})
    with unit_of_work(engine) as session, pytest.raises(idempotency.IdempotencyConflict) as refused:
        run(session, calls, key="k2", request={"op": "x", "a": 2})
    assert refused.value.code == "idempotency_key_reused"
    assert calls.count == 1


def test_a_failed_operation_leaves_the_key_free(engine: Engine) -> None:
    def refuse() -> int:
        raise Invalid("no")

    with pytest.raises(Invalid), unit_of_work(engine) as session:
        run(session, refuse, key="k3", request={"op": "x"})
    with unit_of_work(engine) as session:
        assert run(session, Calls(), key="k3", request={"op": "x"}) == idempotency.Outcome(10)


def test_a_row_is_replayed_by_its_id_and_a_key_of_another_kind_is_refused(engine: Engine) -> None:
    from ledger.claims.models import Claim, Dispute

    with unit_of_work(engine) as session:
        parsed = idempotency.key_for("user:1", "k4", {"op": "y"})
        assert idempotency.reserve(session.connection(), parsed) is None
        idempotency.record_result(session, parsed, {"claim": 12345})
    with unit_of_work(engine) as session, pytest.raises(idempotency.IdempotencyConflict):
        idempotency.run(
            session,
            actor="user:1",
            key="k4",
            request={"op": "y"},
            stored=idempotency.row(Dispute, "dispute"),
            operation=lambda: pytest.fail("a replay does not run the operation"),
        )
    made = Claim(
        id=7, county_id=1, village_id=1, household_id=1, matter_id=1, points=5, period_key="once", entered_by="user:1"
    )
    assert idempotency.row(Claim, "claim").save(made) == {"claim": 7}
