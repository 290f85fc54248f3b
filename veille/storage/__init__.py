"""Storage: the database is the source of truth for schedules, identity and delivery state."""
