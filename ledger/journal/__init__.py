"""The journal: typed accounts, balanced transactions of append-only postings, two-phase transfers,
idempotency keys and a hash chain per village. `service` writes (its SQL is in `store`), `queries` reads,
`verify` proves."""
