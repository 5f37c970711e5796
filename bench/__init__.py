"""Benchmarks: synthetic tenants and a scan through the fake ARM server (not part of the test suite)."""
