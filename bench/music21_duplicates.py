"""Duplicates across music21's folk collections: builds every ABC tune of music21's corpus and lists
the clusters whose members come from different collections (O'Neill's, Ryan's, Nottingham, Essen...).

    python bench/music21_duplicates.py
"""

from __future__ import annotations

import json
import os
import sys
from collections import defaultdict
from pathlib import Path

import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from symcorpus.cli.logs import framework_output_to  # noqa: E402
from symcorpus.spark.build import build  # noqa: E402
from symcorpus.config import load_settings  # noqa: E402

OUT = Path("bench/out")


def collection(path: str) -> str:
    return path.split("/")[0]


def main() -> None:
    settings = load_settings("params.yaml")
    settings.spark.master = f"local[{os.cpu_count()}]"
    settings.ingest.music21.formats = ["abc"]
    with framework_output_to(OUT / "logs" / "music21_duplicates.log"):  # Spark's and the JVM's lines
        result = build(["music21"], OUT / "music21_abc", settings, overwrite=True, use_cache=False)
    corpus = {r["id"]: r for r in pq.read_table(result.out / "corpus", columns=["id", "path", "abc"]).to_pylist()}
    clusters = defaultdict(list)
    for dup in pq.read_table(result.out / "duplicates").to_pylist():
        clusters[dup["cluster_id"]].append(dup)
    cross = []
    for cluster_id, dups in clusters.items():
        rep = corpus[cluster_id]
        collections = {collection(rep["path"])} | {collection(d["path"]) for d in dups}
        if len(collections) > 1:
            cross.append({"representative": rep["path"], "title": (rep["abc"] or {}).get("title"),
                          "members": [(d["path"], d["kind"], round(d["similarity"], 3)) for d in dups]})
    by_pair = defaultdict(int)
    for c in cross:
        names = sorted({collection(c["representative"])} | {collection(p) for p, _, _ in c["members"]})
        by_pair[" + ".join(names)] += 1
    print(f"{result.counts['input']:,} tunes: {result.counts['kept']:,} kept, "
          f"{result.counts['duplicates']:,} duplicates in {len(clusters):,} clusters; "
          f"{len(cross)} clusters span collections")
    for pair, n in sorted(by_pair.items(), key=lambda kv: -kv[1])[:12]:
        print(f"  {n:4d}  {pair}")
    for c in cross[:10]:
        print(json.dumps(c))
    (OUT / "music21_duplicates.json").write_text(json.dumps({"by_collections": by_pair, "clusters": cross}, indent=1))


if __name__ == "__main__":
    main()
