"""Activities and their QR codes: what a villager scans to claim points."""
