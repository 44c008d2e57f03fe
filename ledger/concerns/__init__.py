"""Village concerns: reports, their handling with deadlines, and points for useful reports (docs/concerns.md)."""
