"""The base of the house: tenancy, identity and the journal. Imports nothing from the other packages."""
