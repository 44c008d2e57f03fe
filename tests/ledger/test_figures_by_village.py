"""The dashboard's per-village figure (ledger/figures.py: by_village, docs/claims.md "Figures"): each village's
reviews as the on-time rate counts them, and its claims sent up to the township supervisor in the month."""

from __future__ import annotations

import pandas as pd

from ledger import figures
from tests.ledger.test_figures import TZ, claims

# November 2026 in the county (Asia/Shanghai): 2026-10-31T16:00Z to 2026-11-30T16:00Z.
CLAIMS = claims(
    # village 1 (the helper's): decided in 2 h and in 30 h; one still pending
    (1, 10, "sorting", 2, "settled", "2026-11-02T08:00Z", "2026-11-02T10:00Z", "official", "2026-11-09T10:00Z"),
    (2, 11, "sorting", 2, "approved", "2026-11-20T08:00Z", "2026-11-21T14:00Z", "official", None),
    (3, 12, "sorting", 2, "pending", "2026-11-25T08:00Z", None, None, None),
)


def escalations(*rows: tuple[int, int, str, str]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=figures.ESCALATION_COLUMNS)
    frame["escalated_at"] = pd.to_datetime(frame["escalated_at"], utc=True)
    return frame


def test_each_village_gets_its_on_time_rate_and_what_was_sent_up_in_the_month() -> None:
    sent_up = escalations(
        (2, 1, "approved", "2026-11-21T08:30Z"),  # sent up, then decided
        (3, 1, "pending", "2026-11-26T08:30Z"),  # sent up, still waiting
        (9, 1, "pending", "2026-10-30T08:30Z"),  # October's (county time)
        (8, 1, "pending", "2026-11-30T16:30Z"),  # 1 December in the county: December's
    )
    table = figures.by_village(
        CLAIMS, sent_up, [(1, "East"), (2, "West")], month="2026-11", timezone=TZ, overdue_hours=24
    )
    assert list(table.columns) == figures.BY_VILLAGE
    assert table.to_dict(orient="records") == [
        {
            "village_id": 1,
            "village": "East",
            "decided": 2,
            "on_time": 1,
            "rate": 0.5,
            "escalated": 2,
            "escalated_waiting": 1,
        },
        {
            "village_id": 2,
            "village": "West",
            "decided": 0,
            "on_time": 0,
            "rate": None,  # no review ended: no rate, not 0 %
            "escalated": 0,
            "escalated_waiting": 0,
        },
    ]


def test_the_rate_of_a_village_is_the_on_time_figure_of_that_village() -> None:
    rows = figures.by_village(
        CLAIMS, escalations(), [(1, "East")], month="2026-11", timezone=TZ, overdue_hours=48
    ).iloc[0]
    alone = figures.on_time(CLAIMS, months=["2026-11"], timezone=TZ, overdue_hours=48).iloc[0]
    assert (rows["decided"], rows["on_time"], rows["rate"]) == (alone["decided"], alone["on_time"], alone["rate"])
    assert rows["rate"] == 1.0  # 30 h is in time when the county gives 48 h


def test_an_empty_scope_has_no_rows() -> None:
    empty = figures.by_village(CLAIMS.iloc[0:0], escalations(), [], month="2026-11", timezone=TZ, overdue_hours=24)
    assert list(empty.columns) == figures.BY_VILLAGE and len(empty) == 0
