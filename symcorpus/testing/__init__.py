"""Helpers that make test and benchmark data from real pieces (no mocks: real notes, re-shaped)."""
