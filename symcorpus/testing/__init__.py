"""Helpers used only by tests and benchmarks: variants of real pieces, reference estimators."""
