"""GigaMIDI: WebDataset tar shards with per-subset metadata JSON, or the Hugging Face Parquet
release with the bytes in a column.

Layout, from Metacreation-Lab/GigaMIDI-Dataset (`GigaMIDI/GigaMIDI.py` loader,
`GigaMIDI/create_gigamidi_dataset.py` builder, `GigaMIDI/README.md`) and the dataset card
`Metacreation/GigaMIDI` (docs/corpora.md):
- subsets `all-instruments-with-drums`, `drums-only`, `no-drums`; splits train/validation/test;
- shards `{subset}/{split}/GigaMIDI_{subset}_{split}_{NNNN}.tar` of `<md5>.mid` members (webdataset
  `ShardWriter`, `__key__` = md5), their count per subset and split in `n_shards.json`;
- metadata `{subset}/metadata_{subset}_{split}.json`: {md5: {...}}, an md5 present only when it has
  metadata: `sid_matches`, `mbid_matches`, `title_scraped`, `artist_scraped`, `genres_scraped`,
  `genres_discogs` / `genres_tagtraum` / `genres_lastfm`, `median_metric_depth`;
- Parquet: `v1.x.x/{split}/*.parquet` (or `v1.0.0/{split}.parquet`), `md5` and the MIDI bytes in
  `music`, the subset in `instrument_category`, plus metadata columns.
- lingyu123-su/Amadeus `_load_tune_in_idx_giga` skips every drums-only file.

Options:
    subsets   subsets to read (default: all three); the AMD recipe leaves out drums-only. Tar shards of
              a subset left out are not listed (the manifest counts them); Parquet rows of one are
              rejects (`source_subset`), since every row has to be read to know its subset.
    splits    splits to read (default: all)

Join `gigamidi` by md5 (the member's file stem) over the chosen subsets' metadata files. A shard
that n_shards.json counts but that is absent is an errors row (`missing_shard`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from symcorpus.config import IngestSettings
from symcorpus.sources import parquet, storage
from symcorpus.sources.archives import archive_units
from symcorpus.sources.base import Listing, Source, SourceError, failure_unit
from symcorpus.sources.corpora import common
from symcorpus.sources.corpora.lakh import md5_of
from symcorpus.sources.joins import MetaTable

NAME = "gigamidi"
SUBSETS = ("all-instruments-with-drums", "drums-only", "no-drums")
SPLITS = ("train", "validation", "test")
SHARD_COUNTS = "n_shards.json"


def _chosen(source: Source, name: str, allowed: tuple[str, ...]) -> list[str]:
    chosen = list(source.options.get(name) or allowed)
    unknown = sorted(set(chosen) - set(allowed))
    if unknown:
        raise SourceError(f"gigamidi: unknown {name} {', '.join(unknown)} (one of {', '.join(allowed)})")
    return [s for s in allowed if s in chosen]


def metadata_table(source: Source, subsets: list[str], splits: list[str], options: Mapping[str, Any]
                   ) -> MetaTable:
    """md5 -> its metadata entry (with the subset and split it was listed under)."""
    table = MetaTable("gigamidi", "md5", "<subset>/metadata_<subset>_<split>.json", source.name)
    for subset in subsets:
        for split in splits:
            rel = f"{subset}/metadata_{subset}_{split}.json"
            uri = storage.join(source.uri, rel)
            if not storage.exists(uri, options):
                continue
            part = MetaTable(table.name, table.key, rel, source.name)
            data = common.load_object(part, uri, options)
            table.failures += part.failures
            if part.unreadable:
                table.unreadable = "; ".join(filter(None, [table.unreadable, part.unreadable]))
            for md5, entry in data.items():
                entry = entry if isinstance(entry, dict) else {"value": entry}
                genres = entry.get("genres_scraped") or []
                table.add(md5.lower(), {**entry, "subset": subset, "split": split}, None, None,
                          {"genre": genres[0] if isinstance(genres, list) and genres else None})
    return table


def shard_listing(source: Source, subsets: list[str], splits: list[str], options: Mapping[str, Any]) -> Listing:
    shard_counts = MetaTable("n_shards", "", SHARD_COUNTS, source.name)  # read, not joined
    counts = common.load_object(shard_counts, storage.join(source.uri, SHARD_COUNTS), options)
    units, missing, left_out = [], common.failure_units([shard_counts]), {}
    present = {rel: size for rel, size in common.files_under(source, "", options, (".tar", ".tar.gz", ".tgz"))}
    for subset in SUBSETS:
        for split in SPLITS:
            expected = int((counts.get(subset) or {}).get(split) or 0)
            names = [f"{subset}/{split}/GigaMIDI_{subset}_{split}_{i:04d}.tar" for i in range(expected)]
            names += sorted(r for r in present if r.startswith(f"{subset}/{split}/") and r not in names)
            if subset not in subsets or split not in splits:
                left_out[f"{subset}/{split}"] = len(names)
                continue
            for rel in names:
                if rel not in present:
                    missing.append(failure_unit(source.name, rel, f"missing_shard: {SHARD_COUNTS} counts {rel}, "
                                                                  "which is not there"))
                    continue
                units += archive_units(source.name, storage.join(source.uri, rel), "tar", present[rel], options, rel)
    table = metadata_table(source, subsets, splits, options)
    return common.listing(source, units + missing, [(table, md5_of)],
                          {"format": "webdataset", "shards_left_out": left_out})


def parquet_listing(source: Source, subsets: list[str], splits: list[str], options: Mapping[str, Any]) -> Listing:
    excluded = [s for s in SUBSETS if s not in subsets]
    params = {"bytes_column": "music", "name_column": "md5", "meta_name": "gigamidi",
              "exclude": {"instrument_category": excluded} if excluded else None,
              "labels": {"genre": "genres_scraped"}}
    view = Source(source.name, source.uri, "parquet", {**params, **source.options})
    units = [u for u in parquet.list_units(view, options)
             if not any(f"/{s}/" in f"/{u.member}" or f"/{s}." in f"/{u.member}" for s in SPLITS if s not in splits)]
    return Listing(units, [], {"format": "parquet", "rows_left_out_as_rejects": excluded})


def list_source(source: Source, settings: IngestSettings, options: Mapping[str, Any]) -> Listing:
    subsets, splits = _chosen(source, "subsets", SUBSETS), _chosen(source, "splits", SPLITS)
    if storage.exists(storage.join(source.uri, SHARD_COUNTS), options):
        return shard_listing(source, subsets, splits, options)
    if any(rel.endswith(parquet.SUFFIX) for rel, _ in storage.list_files(source.uri, options)):
        return parquet_listing(source, subsets, splits, options)
    raise SourceError(f"{source.uri} does not look like GigaMIDI: no {SHARD_COUNTS} (WebDataset shards) and no "
                      "*.parquet files")

