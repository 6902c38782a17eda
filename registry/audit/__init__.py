"""The audit trail: an append-only, hash-chained log of every action, and its exports."""
