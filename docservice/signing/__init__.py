"""Signing: dev PKI, one-shot certificates, timestamps, PAdES signatures, the seal, validation."""
