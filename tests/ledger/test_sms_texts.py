"""The text messages: every kind of notification the code queues has a text (or an explicit decision not to send
one), each text fits one SMS segment as a provider's template, and says things in the glossary's words."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from ledger.claims.lifecycle import TRANSITIONS
from ledger.claims.models import DisputeKind, DisputeStatus
from ledger.concerns import lifecycle as concerns
from ledger.sms import texts
from redemption.models import ApplicationStatus, VoucherStatus

ROOT = Path(__file__).resolve().parents[2]
SHANGHAI = ZoneInfo("Asia/Shanghai")

# A kind computed in the code (not written as a string where it is told): the kinds it can be, read from the
# code's own tables and enums. A new computed kind not listed here fails the test below: give it a line here
# and a text in ledger/sms/texts.py.
COMPUTED: dict[tuple[str, str], set[str]] = {
    ("ledger/claims/lifecycle.py", "step.notification"): {
        s.notification for s in TRANSITIONS.values() if s.notification
    },
    ("ledger/claims/disputes.py", "f'{dispute.kind}_{dispute.status}'"): {
        f"{kind}_{status}" for kind in DisputeKind for status in DisputeStatus if status != DisputeStatus.OPEN
    },
    ("ledger/claims/escalation.py", "TOLD"): {"claim_escalated"},
    ("ledger/concerns/deadlines.py", "TOLD_OVERDUE"): {"concern_overdue"},
    ("ledger/concerns/lifecycle.py", "kind"): {s.notification for s in concerns.TRANSITIONS.values() if s.notification},
    ("ledger/concerns/lifecycle.py", "ASSIGNED"): {concerns.ASSIGNED},
    ("ledger/expiry.py", "EXPIRED"): {"points_expired"},
    ("ledger/expiry.py", "EXPIRING"): {"points_expiring"},
    ("redemption/vouchers.py", "f'voucher_{status}'"): {
        f"voucher_{status}" for status in VoucherStatus if status not in (VoucherStatus.ACTIVE, VoucherStatus.USED)
    },
    ("redemption/loans.py", "f'loan_{application.status}'"): {f"loan_{status}" for status in ApplicationStatus},
}


def told_kinds() -> set[str]:
    """Every kind `outbox.tell` (or `outbox.notification_row`, a notification written with other rows in one
    statement) is called with anywhere in the product's code."""
    kinds: set[str] = set()
    unknown = []
    for package in ("ledger", "scoring", "redemption", "api"):
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if not (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr in ("tell", "notification_row")
                    and isinstance(node.func.value, ast.Name)
                    and node.func.value.id == "outbox"
                ):
                    continue
                [kind] = [k.value for k in node.keywords if k.arg == "kind"]
                where = (str(path.relative_to(ROOT)), ast.unparse(kind))
                if isinstance(kind, ast.Constant) and isinstance(kind.value, str):
                    kinds.add(kind.value)
                elif where in COMPUTED:
                    kinds |= COMPUTED[where]
                else:
                    unknown.append(where)
    assert not unknown, f"notifications of a kind this test cannot read: {unknown} (add them to COMPUTED)"
    return kinds


def test_every_kind_of_notification_has_a_text_or_a_decision() -> None:
    kinds = told_kinds()
    assert len(kinds) > 25  # the scan found the calls (claims, disputes, vouchers, loans, expiry, sign-in …)
    missing = kinds - set(texts.TEXTS) - set(texts.NOT_BY_SMS)
    assert not missing, f"kinds of notification without a text message or a decision: {sorted(missing)}"
    assert not set(texts.TEXTS) & set(texts.NOT_BY_SMS)
    # and no text for a kind nobody tells (a renamed kind would leave its text behind)
    assert set(texts.TEXTS) - {texts.CODE} <= kinds


@pytest.mark.parametrize("kind", sorted(texts.TEXTS))
def test_each_text_is_one_segment_of_a_template_with_short_numbered_variables(kind: str) -> None:
    text = texts.TEXTS[kind]
    numbers = [int(n) for n in re.findall(r"\{(\d+)\}", text.body)]
    assert numbers == list(range(1, len(numbers) + 1)), "variables numbered {1}, {2} … in order, each once"
    assert len(text.widths) == len(numbers)
    assert all(0 < width <= 12 for width in text.widths)
    longest = text.render(["字" * w for w in text.widths], sign_name="字" * texts.MAX_SIGN_NAME)
    assert len(longest) <= texts.SEGMENT, longest
    assert not re.search(r"https?:|www\.|\.cn|\.com", text.body)  # no links
    for word in ("到账", "驳回", "冻结", "券码", "密码", "优惠券", "审批通过申报", "分数", "商家", "您的家庭"):
        assert word not in text.body, f"{word} is not a word of docs/glossary.md"


SAMPLES = {
    "claim_approved": (
        {"claim_id": 12, "points": 5, "notice_until": "2026-11-30T17:00:00+00:00"},
        ["12", "5", "12月1日"],
    ),
    "points_expiring": (
        {"points": 30, "first_day": "2026-12-01", "last_day": "2026-12-31", "settled_through": "2025-12-31"},
        ["30", "12月1日", "12月31日"],
    ),
    "voucher_used": (
        {
            "code": "K7QX-2M9P-4421",
            "points": 10,
            "value_yuan": 50.5,
            "where": "李家村便民超市有限公司分店",
            "remaining_yuan": 0,
        },
        ["4421", "李家村便民超市有限…", "50.50", "0"],
    ),
    "loan_approved": ({"bank": "县农商银行", "amount_yuan": 30000, "status": "approved"}, ["县农商银行", "30000"]),
    "claim_escalated": ({"user_id": 3, "claim_ids": [4, 5, 6]}, ["3"]),
    "concern_resolved": ({"concern_id": 1234, "status": "resolved"}, ["1234"]),
}


@pytest.mark.parametrize("kind", sorted(SAMPLES))
def test_a_text_reads_its_notification_in_the_countys_time_and_words(kind: str) -> None:
    payload, expected = SAMPLES[kind]
    params = texts.TEXTS[kind].params(payload, SHANGHAI)
    assert params == expected
    assert all(len(p) <= w for p, w in zip(params, texts.TEXTS[kind].widths, strict=True))


def test_a_voucher_text_never_carries_the_full_voucher_number() -> None:
    code = "K7QX-2M9P-4421"
    for kind in ("voucher_used", "voucher_expired", "voucher_cancelled", "voucher_no_show"):
        rendered = texts.TEXTS[kind].render(
            texts.TEXTS[kind].params(
                {"code": code, "points_returned": 3, "value_yuan": 1, "remaining_yuan": 0}, SHANGHAI
            )
        )
        assert code not in rendered and "2M9P" not in rendered and "4421" in rendered


def test_the_texts_docs_sms_md_shows_are_those_sent() -> None:
    """A county registers its templates from docs/sms.md: each text it shows must be the one Shanzhi sends."""
    rows = re.findall(r"^\| `([a-z_]+)` \| ([^|]+?) \|", (ROOT / "docs" / "sms.md").read_text(encoding="utf-8"), re.M)
    shown = {name: body for name, body in rows if name in texts.TEXTS}
    assert len(shown) >= 8
    for name, body in shown.items():
        assert body == texts.TEXTS[name].body, name
