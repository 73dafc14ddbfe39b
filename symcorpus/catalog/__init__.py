"""A DuckDB catalog over published corpus versions: register, query, dataset cards, diffs.

The catalog is one DuckDB file holding a `versions` table and views over each version's Parquet
shards; no row of a corpus is copied into it.
"""

from symcorpus.catalog.db import DEFAULT_DB, CatalogError, Version, connect, register_version, version_names

__all__ = ["DEFAULT_DB", "CatalogError", "Version", "connect", "register_version", "version_names"]
