"""Signing: dev PKI, one-shot certificates, timestamps, PAdES signatures, the seal, validation."""

from docservice.signing import speedups

speedups.install()
