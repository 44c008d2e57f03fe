"""The ledger's foundation: settings, engine and units of work, errors, idempotency, outbox, job failures,
rate windows and file exports. It imports no domain package."""
