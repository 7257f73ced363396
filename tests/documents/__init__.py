"""Tests of docservice.documents: templates, rendering, LibreOffice conversion."""
