"""Use cases. Services take a session and never commit: their caller's unit of work does."""
