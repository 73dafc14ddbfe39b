"""Test helpers that build real inputs: corpus replicas and local services (no mocks)."""
