"""The text messages: the one-time code, and one text per kind of notification the outbox carries.

Each text is an SMS template as providers approve them: fixed words with numbered variables `{1}`, `{2}` … and each
variable short (a number, a day, a partner's name cut to 10 characters). With the longest variables and the longest
signature (【…】, 12 characters), every text fits in one 70-character segment (tests/ledger/test_sms_texts.py).
A text never carries a link, a reason typed by staff, a full voucher number or a PIN: it says what happened and
where to look (我家积分 on the villager pages); what was written about it is read there, after signing in.

Words are those of docs/glossary.md. A kind no villager should get by SMS is in NOT_BY_SMS with why.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo

Params = Callable[[Mapping[str, Any], ZoneInfo], list[str]]
SEGMENT = 70  # characters of one SMS segment (Chinese), the signature's 【】 included
MAX_SIGN_NAME = 12


@dataclass(frozen=True)
class Text:
    body: str  # the template: words, and {1}, {2} … for the parameters
    params: Params  # the parameters, from the notification's payload and the county's time zone
    widths: tuple[int, ...] = ()  # the most characters each parameter can have

    def render(self, params: list[str], sign_name: str = "") -> str:
        """The message as a phone shows it (what a provider makes of the template)."""
        text = self.body
        for number, value in enumerate(params, start=1):
            text = text.replace(f"{{{number}}}", value)
        return f"【{sign_name}】{text}" if sign_name else text


def _day(value: Any, zone: ZoneInfo) -> str:
    """11月30日, in the county's time."""
    moment = datetime.fromisoformat(str(value))
    if moment.tzinfo is not None:
        moment = moment.astimezone(zone)
    return f"{moment.month}月{moment.day}日"


def _moment(value: Any, zone: ZoneInfo) -> str:
    """11月30日 20:56, in the county's time."""
    moment = datetime.fromisoformat(str(value))
    if moment.tzinfo is not None:
        moment = moment.astimezone(zone)
    return f"{moment.month}月{moment.day}日 {moment:%H:%M}"


def _number(value: Any) -> str:
    return str(int(value or 0))


def _yuan(value: Any) -> str:
    """50 or 50.50 (fen only when there are fen)."""
    amount = round(float(value or 0), 2)
    return f"{amount:.0f}" if amount == int(amount) else f"{amount:.2f}"


def _short(value: Any, width: int = 10) -> str:
    text = " ".join(str(value or "").split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _tail(code: Any) -> str:
    """The last 4 characters of a voucher number: enough for a household to know which; the full number (with
    which, and the PIN, a voucher is used) never travels by SMS."""
    return str(code or "")[-4:]


def _claim(payload: Mapping[str, Any], _: ZoneInfo) -> list[str]:
    return [_number(payload.get("claim_id"))]


def _claim_points(payload: Mapping[str, Any], _: ZoneInfo) -> list[str]:
    return [_number(payload.get("claim_id")), _number(payload.get("points"))]


def _nothing(_payload: Mapping[str, Any], _zone: ZoneInfo) -> list[str]:
    return []


def _voucher_back(payload: Mapping[str, Any], _: ZoneInfo) -> list[str]:
    return [_tail(payload.get("code")), _number(payload.get("points_returned"))]


def _loan(payload: Mapping[str, Any], _: ZoneInfo) -> list[str]:
    return [_short(payload.get("bank")), _yuan(payload.get("amount_yuan"))]


CODE = "otp"  # the one-time code's text: {1} the code, {2} minutes it stays valid
CODE_TEXT = Text(
    "您的登录验证码为{1}，{2}分钟内有效。请勿告诉他人。", lambda p, _: [str(p["code"]), _number(p["minutes"])], (6, 2)
)

_LOAN = "您家向{1}申请的善治贷{2}元"
_CONCERN = "您家反映的诉求（编号{1}）"


def _concern(payload: Mapping[str, Any], _: ZoneInfo) -> list[str]:
    return [_number(payload.get("concern_id"))]


_ID, _PTS, _DAY, _NAME, _YUAN, _TAIL, _MOMENT = 8, 6, 6, 10, 9, 4, 12

TEXTS: Mapping[str, Text] = MappingProxyType(
    {
        CODE: CODE_TEXT,
        "claim_approved": Text(
            "您家申报（编号{1}）的{2}积分已通过，公示至{3}，公示期满后入账。",
            lambda p, z: [*_claim_points(p, z), _day(p["notice_until"], z)],
            (_ID, _PTS, _DAY),
        ),
        "claim_rejected": Text(
            "您家申报（编号{1}）未通过，原因请在“我家积分”中查看。如有不同意见，可以申诉。", _claim, (_ID,)
        ),
        "claim_expired": Text("您家申报（编号{1}）没有按时审核，已失效。可以重新申报，或请找村干部。", _claim, (_ID,)),
        "claim_settled": Text("您家申报（编号{1}）的{2}积分已入账。", _claim_points, (_ID, _PTS)),
        "claim_revoked": Text(
            "您家申报（编号{1}）的{2}积分已撤销，详情请在“我家积分”中查看。", _claim_points, (_ID, _PTS)
        ),
        "deduction_recorded": Text(
            "您家有一笔扣分（{1}积分），详情请在“我家积分”中查看。如有不同意见，可以申诉。",
            lambda p, _: [_number(p.get("points"))],
            (_PTS,),
        ),
        "objection_raised": Text(
            "您家申报（编号{1}）在公示中有人提出异议，村里正在核实，核实前暂不入账。", _claim, (_ID,)
        ),
        "objection_upheld": Text("您家提出的异议经村里核实成立，详情请在“我家积分”中查看。", _nothing),
        "objection_dismissed": Text("您家提出的异议经村里核实不成立，详情请在“我家积分”中查看。", _nothing),
        "appeal_upheld": Text("您家的申诉成立，详情请在“我家积分”中查看。", _nothing),
        "appeal_dismissed": Text("您家的申诉不成立，详情请在“我家积分”中查看。如有疑问，请找村干部。", _nothing),
        "points_expiring": Text(
            "您家有{1}积分将在{2}到{3}陆续失效，请及时兑换。",
            lambda p, z: [_number(p.get("points")), _day(p["first_day"], z), _day(p["last_day"], z)],
            (_PTS, _DAY, _DAY),
        ),
        "points_expired": Text(
            "您家{1}积分已失效（{2}前入账的积分）。",
            lambda p, z: [_number(p.get("points")), _day(p["settled_before"], z)],
            (_PTS, _DAY),
        ),
        "voucher_used": Text(
            "您家的兑换券（券号尾号{1}）已在{2}核销{3}元，还剩{4}元。",
            lambda p, _: [
                _tail(p.get("code")),
                _short(p.get("where")),
                _yuan(p.get("value_yuan")),
                _yuan(p.get("remaining_yuan")),
            ],
            (_TAIL, _NAME, _YUAN, _YUAN),
        ),
        "voucher_expired": Text("您家的兑换券（券号尾号{1}）已过期，{2}积分已退回。", _voucher_back, (_TAIL, _PTS)),
        "voucher_cancelled": Text(
            "您家的兑换券（券号尾号{1}）已取消兑换，{2}积分已退回。", _voucher_back, (_TAIL, _PTS)
        ),
        "voucher_no_show": Text("您家的体检预约（券号尾号{1}）未到场，{2}积分已退回。", _voucher_back, (_TAIL, _PTS)),
        "loan_pre_approved": Text(_LOAN + "已预审通过，银行会联系您。", _loan, (_NAME, _YUAN)),
        "loan_under_review": Text(_LOAN + "正在授信评估。", _loan, (_NAME, _YUAN)),
        "loan_approved": Text(_LOAN + "已审批通过。", _loan, (_NAME, _YUAN)),
        "loan_rejected": Text(_LOAN + "未通过。", _loan, (_NAME, _YUAN)),
        "loan_withdrawn": Text(_LOAN + "已撤回。", _loan, (_NAME, _YUAN)),
        "loan_disbursed": Text(_LOAN + "已放款。", _loan, (_NAME, _YUAN)),
        "loan_repaid": Text(_LOAN + "已还清。", _loan, (_NAME, _YUAN)),
        "loan_overdue": Text(_LOAN + "已逾期，请尽快联系银行。", _loan, (_NAME, _YUAN)),
        "loan_defaulted": Text(_LOAN + "逾期未还，请尽快联系银行。", _loan, (_NAME, _YUAN)),
        "rating_review_answered": Text("您家申请的信用评级复核已有答复，请在“我家信用评级”中查看。", _nothing),
        "sign_in_locked": Text(
            "您的账号因多次登录失败，暂停登录到{1}。如不是您本人在登录，请尽快告诉村干部。",
            lambda p, z: [_moment(p["until"], z)],
            (_MOMENT,),
        ),
        # village concerns (ledger/concerns/lifecycle.py): to the reporter household and its followers
        "concern_accepted": Text(_CONCERN + "已受理，可登录查看办理进度。", _concern, (_ID,)),
        "concern_dispatched": Text(_CONCERN + "已派给处理人办理，可登录查看办理进度。", _concern, (_ID,)),
        "concern_returned": Text(_CONCERN + "正在重新派给合适的处理人，可登录查看办理进度。", _concern, (_ID,)),
        "concern_resolved": Text(_CONCERN + "已办结，请登录查看结果并评价。", _concern, (_ID,)),
        "concern_closed": Text(_CONCERN + "已结案，感谢您的参与。", _concern, (_ID,)),
        "concern_reopened": Text(_CONCERN + "已重新办理，由乡镇督办，可登录查看办理进度。", _concern, (_ID,)),
        "concern_merged": Text(_CONCERN + "与已反映的同一问题合并办理，可登录查看办理进度。", _concern, (_ID,)),
        # to each member of the handler a concern is dispatched to
        "concern_assigned": Text("有一条诉求（编号{1}）派给您办理，请登录及时处理。", _concern, (_ID,)),
        "claim_escalated": Text(
            "有{1}条申报超过办结时限未审核，已上报乡镇，请在审核队列中处理。",
            lambda p, _: [_number(len(p.get("claim_ids") or []))],
            (4,),
        ),
        "concern_overdue": Text(
            "群众诉求（编号{1}）已超过办理时限，已上报上一级，请在诉求队列中尽快处理。",
            lambda p, _: [_number(p.get("concern_id"))],
            (_ID,),
        ),
    }
)

# Kinds told to nobody by SMS, and why (they stay in the outbox and the log, and on the pages).
NOT_BY_SMS: Mapping[str, str] = MappingProxyType({})

# Kinds told to one staff user (the payload's user_id), not to a household: to the phone of the person their
# account is linked to; an account linked to no person is told on its pages only.
TO_A_USER = frozenset({"claim_escalated", "concern_overdue", "sign_in_locked", "concern_assigned"})


def text_of(kind: str) -> Text | None:
    return TEXTS.get(kind)
