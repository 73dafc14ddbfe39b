"""Spark's hash partitioning of long keys, computed in Python: which partition `repartition(n, key)`
sends a key to, and keys that land in each partition (to place rows in partitions chosen here).

Spark hashes with Murmur3 x86 32-bit, seed 42 (over a long's two 32-bit halves, low first), and a
row goes to pmod(hash, n). Computed here rather than asked of Spark: a job would be the build's
first, ~1 s on a cold JVM. tests/integration/spark/test_units_frame.py checks it against Spark.
"""

from __future__ import annotations

_MASK32 = 0xFFFFFFFF
_SEED = 42


def partition_keys(n: int) -> list[int]:
    """For each partition p of n, the smallest key >= 0 that `repartition(n, key)` sends to p."""
    keys: dict[int, int] = {}
    key = 0
    while len(keys) < n:
        keys.setdefault(hash_partition(key, n), key)
        key += 1
    return [keys[p] for p in range(n)]


def _rotl32(x: int, r: int) -> int:
    return ((x << r) | (x >> (32 - r))) & _MASK32


def _mix(h1: int, k1: int) -> int:
    k1 = _rotl32((k1 * 0xCC9E2D51) & _MASK32, 15) * 0x1B873593 & _MASK32
    return (_rotl32(h1 ^ k1, 13) * 5 + 0xE6546B64) & _MASK32


def hash_partition(key: int, n: int) -> int:
    """The partition of n that Spark's hash partitioning gives a long key: pmod(hash(key), n)."""
    h1 = _mix(_mix(_SEED, key & _MASK32), (key >> 32) & _MASK32) ^ 8  # 8: the input's length in bytes
    h1 = ((h1 ^ (h1 >> 16)) * 0x85EBCA6B) & _MASK32
    h1 = ((h1 ^ (h1 >> 13)) * 0xC2B2AE35) & _MASK32
    h1 ^= h1 >> 16
    signed = h1 - (1 << 32) if h1 >= 1 << 31 else h1
    return signed % n  # Python's % of a positive n is Spark's pmod
