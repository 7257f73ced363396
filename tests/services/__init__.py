"""Tests of docservice.services: the use cases against the real database."""
