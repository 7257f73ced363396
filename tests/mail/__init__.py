"""Tests of composing and delivering mail."""
