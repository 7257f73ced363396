"""Tests of the verification engine: reader, changes, visual comparison, policy, sandbox."""
