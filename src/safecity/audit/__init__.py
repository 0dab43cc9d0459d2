"""Hash-chained, append-only audit log of who did what, when, with what outcome and why."""
