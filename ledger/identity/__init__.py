"""Who acts: users (villagers, officials, county admins, auditors) and partner organisations with machine clients."""
