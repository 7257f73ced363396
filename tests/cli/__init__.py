"""Tests of the docservice command."""
