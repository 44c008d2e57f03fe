"""Moved: every figure is in `ledger/figures.py` (and `redemption/figures.py` for vouchers and the month report).

These names stay importable from here only so that code written against the old module (on branches merged after
this one) keeps working; import them from `ledger.figures`. Nothing is computed here.
"""

from __future__ import annotations

from ledger.figures import leaderboard, month_bounds, period_of, village_leaderboard

__all__ = ["leaderboard", "month_bounds", "period_of", "village_leaderboard"]
