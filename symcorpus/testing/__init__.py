"""Helpers shared by the tests and the benchmarks: small real data made by the project's own code
(corpus replicas, variants, performances, token shards) and local services (an S3-API server). No mocks."""
