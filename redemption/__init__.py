"""Vouchers, bookings, loans and settlement on top of the ledger (later issues)."""
