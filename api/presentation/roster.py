"""A roster import's report, for the API and the page alike."""

from __future__ import annotations

from typing import Any

from api.schemas.roster import RosterReportOut
from ledger import roster


def report_out(report: roster.Report | dict[str, Any]) -> RosterReportOut:
    return RosterReportOut.model_validate(report if isinstance(report, dict) else report.as_dict())
