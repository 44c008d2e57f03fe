"""The county's roster: one row per household member, read from a CSV or XLSX file and applied all or nothing.

    table = roster.read_file(content, filename)
    report = roster.apply(session, county_id=…, table=table, dry_run=…, create_places=…, actor=…, by=…)
    roster.template("xlsx")

The format and the rules for a county clerk: docs/roster.md.
"""

from ledger.roster.files import COLUMNS, RosterUnreadable, read_file, template
from ledger.roster.importing import Report, RosterHasProblems, apply

__all__ = ["COLUMNS", "Report", "RosterHasProblems", "RosterUnreadable", "apply", "read_file", "template"]
