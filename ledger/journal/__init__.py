"""The journal: typed accounts, balanced transactions of append-only postings, two-phase transfers,
idempotency keys and a hash chain per village. `service` writes, `queries` reads, `verify` proves."""
