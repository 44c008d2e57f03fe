"""The county's structure and people, one change at a time, for the county admin (docs/people.md).

- `places`: townships and villages;
- `households`: households and their members (the head, moves, phones and the villager sign-in that goes with a
  phone);
- `closing`: closing a household;
- `phones`: what a mainland mobile number is;
- `access`: who may restructure what (the county admin of the county, never for their own household).

Every change writes its row in the change log (`ledger/core/audit.py`) in the same transaction. The roster import
(bulk) keeps to the same rules.
"""
