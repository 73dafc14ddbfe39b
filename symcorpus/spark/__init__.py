"""Thin Spark drivers: run step lists in mapInArrow, deduplicate, split, publish, tokenize.

    session.py     the embedded or cluster SparkSession, progress from task counts
    daemon.py      the local session's Python daemon: workers forked with their imports done
    frames.py      schemas, unit frames, step lists in mapInArrow, sorted shard writing
    build.py       `build`, `dedup`, `filter`, `annotate`: step lists, then dedup -> split -> publish
    dedup.py       exact / same-notes groups, MinHash LSH candidates, verified pairs, representatives
    components.py  connected components by min-label propagation
    split.py       train / valid / test by hash of the duplicate cluster
    publish.py     shards, manifest, accounting check, atomic rename
    cache.py       the parse cache (parses reused by content hash)
    tokenize.py    `tokenize`: token shards of a published version
"""
