"""Tests of the coordinators' desk: dashboard, placement pages, deadlines, API."""
