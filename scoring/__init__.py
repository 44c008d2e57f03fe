"""Credit ratings built from the settled ledger: features (pure pandas), versioned scorecards, immutable ratings,
the household's consent, the partner banks' lookups and loan outcomes, calibration and validation."""
