"""Credit ratings built from the settled ledger (later issues)."""
