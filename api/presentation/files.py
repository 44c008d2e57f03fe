"""The words of the files Shanzhi exports, in the reader's language: the village month report, the dashboard's
tables and a partner's settlement, as CSV and XLSX.

The tables behind them keep stable English keys (`ledger/figures.py`, `redemption/figures.py`,
`redemption/settlement.py`); here each key gets the header a reader reads (Chinese for Chinese readers, English
with the English switch, following docs/glossary.md), and the cells that are words (a claim's status, a kind of
partner or offer, a month, a moment, yes or no) are written as such. Numbers stay numbers. Months read as people
say them (2026年11月): the files are for people; a machine reads the JSON of the same routes, which keeps 2026-11.
Internal ids (a village's, a partner's), matter codes, who used a voucher (an account id) and a matter's name in
the other language are left out.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import numpy as np

from api import i18n
from api.i18n import N_

# what a sheet, a section of the long month report or a label is called
NAMES = {
    "summary": N_("Summary"),
    "points_by_matter": N_("Points by matter"),
    "claims_by_status": N_("Claims by status"),
    "redemption_by_partner": N_("Redemption by partner"),
    "participation": N_("Participation rate"),  # the dashboard's tables, one per chart
    "on_time": N_("Claims decided on time"),
    "redemption": N_("Redemption by partner"),
    "uses": N_("Uses of vouchers"),
    "villages": N_("Villages this month"),
    "concerns_summary": N_("All concerns of the month"),  # village concerns (docs/concerns.md, "Figures")
    "concerns": N_("By village and category"),
    "concerns_by_month": N_("Concerns by month"),
    "concerns_open": N_("Open concerns by village"),
    "section": N_("Section"),  # the month report's long CSV: section, item, measure, value
    "item": N_("Item"),
    "measure": N_("Measure"),
    "value": N_("Figure"),
    "total": N_("Total"),  # the settlement's last rows
    "ledger_matches": N_("In the ledger (matches)"),
    "ledger_differs": N_("In the ledger (does not match)"),
}

# a column, by its key, whichever table it is in
COLUMNS = {
    "month": N_("Month"),
    "households": N_("Number of households"),
    "participating": N_("Households taking part"),
    "participation_rate": N_("Participation rate"),
    "decided": N_("Claims decided"),
    "decided_on_time": N_("Decided on time"),
    "on_time": N_("Decided on time"),
    "on_time_rate": N_("Share decided on time"),
    "median_decision_hours": N_("Median hours to decide"),
    "median_hours": N_("Median hours to decide"),
    "matter_zh": N_("Matter"),
    "matter_en": N_("Matter"),
    "claims": N_("Number of claims"),
    "points": N_("Points"),
    "status": N_("Status"),
    "partner": N_("Partner"),
    "kind": N_("Kind of partner"),
    "vouchers": N_("Vouchers issued"),
    "used": N_("Vouchers used"),
    "value_yuan": N_("Value in yuan"),
    "used_at": N_("Used at"),
    "voucher": N_("Voucher number"),
    "offer": N_("Offer"),
    "village": N_("Village"),
    "transaction_id": N_("Ledger entry number"),
    "from": N_("Period starts"),
    "to": N_("Period ends"),
    "uses": N_("Uses"),
    "ledger_points": N_("Points in the ledger"),
    "reconciled": N_("Matches the ledger"),
    "escalated": N_("Sent up to the township supervisor"),
    "escalated_waiting": N_("Of these, still waiting"),
    "category_zh": N_("Concern category"),  # village concerns
    "category_en": N_("Concern category"),
    "received": N_("Concerns received"),
    "merged": N_("Merged as duplicates"),
    "accepted": N_("Concerns accepted"),
    "accepted_on_time": N_("Accepted on time"),
    "accepted_on_time_rate": N_("Share accepted on time"),
    "dispatched": N_("Concerns dispatched"),
    "dispatched_on_time": N_("Dispatched on time"),
    "dispatched_on_time_rate": N_("Share dispatched on time"),
    "resolved": N_("Concerns resolved"),
    "resolved_on_time": N_("Resolved on time"),
    "resolved_on_time_rate": N_("Share resolved on time"),
    "closed": N_("Concerns closed"),
    "closed_with_evaluation": N_("Closed with the reporter's evaluation"),
    "closed_loop_rate": N_("Closed-loop rate"),
    "evaluated": N_("Evaluations"),
    "satisfied": N_("Satisfied evaluations"),
    "satisfaction_rate": N_("Satisfaction rate"),
    "median_hours_to_resolve": N_("Median hours to resolve"),
    "open_now": N_("Open now"),
    "overdue_now": N_("Overdue now"),
}

# a column whose key says something else in one table
COLUMNS_IN = {
    ("participation", "rate"): N_("Participation rate"),
    ("on_time", "rate"): N_("Share decided on time"),
    ("villages", "rate"): N_("Share decided on time"),
    ("uses", "kind"): N_("Kind of offer"),
}

HIDDEN = {"village_id", "partner_id", "matter_code", "category_code", "used_by"}  # ids and codes no reader reads

KINDS = {  # a partner's kind (redemption by partner) and an offer's (a settlement's uses)
    "bank": N_("Bank"),
    "merchant": N_("Merchant"),
    "clinic": N_("Clinic"),
    "voucher": N_("Voucher"),
    "health_check": N_("Health-check booking"),
    "loan": N_("Good-conduct loan"),
}

MOMENTS = {"used_at", "from", "to"}  # ISO moments, in UTC: read in the county's time, with their year


def claim_status(status: str, locale: str) -> str:
    """A claim's status as the review queue and the villager's pages say it."""
    words = {
        "pending": i18n.text_in(locale, "claim", "Waiting for review"),
        "approved": i18n.text_in(locale, "claim", "Approved"),
        "settled": i18n.text_in(locale, "claim", "Settled"),
        "rejected": i18n.text_in(locale, "claim", "Rejected"),
        "expired": i18n.text_in(locale, "claim", "Expired"),
        "revoked": i18n.text_in(locale, "claim", "Revoked"),
    }
    return words.get(status, status)


class FileWords:
    """A file's words in one language (`ledger.core.exports.Words`); moments read in the county's time."""

    def __init__(self, locale: str, timezone: str = "Asia/Shanghai") -> None:
        self.locale = i18n.pick(locale)
        self.timezone = timezone

    def name(self, key: str, table: str = "") -> str:
        if not table:
            return i18n.text(self.locale, NAMES[key]) if key in NAMES else key
        found = COLUMNS_IN.get((table, key)) or COLUMNS.get(key)
        return i18n.text(self.locale, found) if found else key

    def shows(self, column: str, table: str = "") -> bool:
        other = ("matter_en", "category_en") if self.locale == "zh_CN" else ("matter_zh", "category_zh")
        return column not in HIDDEN and column not in other

    def cell(self, column: str, value: Any, table: str = "") -> Any:
        if value is None or isinstance(value, float) and value != value:  # None or NaN: an empty cell
            return value
        if column == "month":
            return i18n.month_key(str(value), self.locale)
        if column == "status" and table == "claims_by_status":
            return claim_status(str(value), self.locale)
        if column == "kind" and value in KINDS:
            return i18n.text(self.locale, KINDS[value])
        if column in MOMENTS:
            return self.moment(str(value))
        if isinstance(value, bool | np.bool_):
            return i18n.text(self.locale, "Yes") if value else i18n.text(self.locale, "No")
        return value

    def moment(self, iso: str) -> str:
        """2026年11月30日 20:56 in the county's time: a file is read later, so always with its year."""
        return i18n.when(datetime.fromisoformat(iso), self.locale, timezone=self.timezone, today=date.min)
