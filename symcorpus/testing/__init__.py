"""Helpers shared by the tests and the benchmarks: small real data made by the project's own code."""
