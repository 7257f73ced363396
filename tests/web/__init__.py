"""Tests of docservice.web: the signers' and coordinators' pages over HTTP."""
