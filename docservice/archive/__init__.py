"""Blob and archive stores, and the audit trail."""
