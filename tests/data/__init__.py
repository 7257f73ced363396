"""Files the tests read (not tests themselves)."""
