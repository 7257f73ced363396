"""Tests of docservice.signing: real crypto, real tools, nothing mocked."""
