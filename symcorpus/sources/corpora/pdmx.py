"""PDMX: 254,077 public-domain MuseScore scores as compressed MusicXML, described by `PDMX.csv`
(title, composer, rating, license, genres, subset flags).

Layout, from pnlong/PDMX (`wrangling/full.py`, `wrangling/deduplicate.py`, `utils.py`, README) and
Zenodo record 13763756 (docs/corpora.md):
- folder `PDMX/` with `PDMX.csv`, `mxl/<p>/<c>/<name>.mxl`, `metadata/.../<id>.json`,
  `data/...` (MusicRender JSON), `pdf/`, `mid/`, `subset_paths/<subset>.txt`;
- CSV paths are relative and start with `./`; missing values are `NA`; booleans `True`/`False`;
- columns include `path`, `metadata`, `mxl`, `pdf`, `mid`, `rating`, `n_ratings`, `license`,
  `license_url`, `license_conflict`, `genres` (joined with `-`), `title`, `song_name`,
  `composer_name`, `artist_name`, `complexity`, the dedup columns and the subset flags
  `subset:all`, `subset:rated`, `subset:deduplicated`, `subset:rated_deduplicated`,
  `subset:no_license_conflict`, `subset:all_valid`;
- a score and its metadata JSON are named by different ids and joined through the CSV row, never by
  file name; 42 scores have no mxl.

Options: `subset` (default `all`): only the rows whose `subset:<name>` flag is True are read; mxl
files no row names are read (as files without metadata) only for `all`.
Join `pdmx` by mxl path (the CSV's `mxl`, without `./`): the row's fields, `license`, and the
labels composer (`composer_name`) and genre (the first of `genres`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from typing import Any

from symcorpus.config import IngestSettings
from symcorpus.sources.base import IngestFailure, Listing, Source, SourceError
from symcorpus.sources.corpora import common
from symcorpus.sources.joins import MetaTable

NAME = "pdmx"
CSV = "PDMX.csv"
NA = "NA"


def value(text: str) -> Any:
    """A CSV cell as PDMX wrote it: NA -> None, True/False -> bool, numbers -> numbers."""
    if text == NA or text == "":
        return None
    if text in ("True", "False"):
        return text == "True"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def mxl_key(path: str) -> str:
    return path[2:] if path.startswith("./") else path


def rows_table(source: Source, options: Mapping[str, Any], subset: str) -> tuple[MetaTable, int, set[str]]:
    """The rows of the chosen subset keyed by mxl path; rows left out; mxl paths of every row."""
    table = MetaTable("pdmx", "mxl", CSV, source.name)
    uri = common.require(source, CSV, options, "PDMX")
    try:
        text = common.read_text(uri, options)
    except (OSError, ValueError) as e:
        table.unreadable = f"bad_metadata: {CSV}: {type(e).__name__}: {e}"
        table.failures.append(IngestFailure(source.name, CSV, None, None, table.unreadable))
        return table, 0, set()
    reader = csv.reader(io.StringIO(text))
    header = next(reader, [])
    flag = f"subset:{subset}"
    if flag not in header:
        raise SourceError(f"pdmx: no subset {subset!r} ({CSV} has "
                          f"{', '.join(h.split(':', 1)[1] for h in header if h.startswith('subset:'))})")
    left_out, named = 0, set()
    for cells in reader:
        line = reader.line_num
        if len(cells) != len(header):
            table.failures.append(IngestFailure(source.name, f"{CSV}:{line}", None, None,
                                                f"bad_metadata_line: {len(cells)} fields, the header has {len(header)}"))
            continue
        row = {name: value(cell) for name, cell in zip(header, cells)}
        if not row.get("mxl"):
            continue  # a score PDMX could not convert: no file to read
        named.add(mxl_key(row["mxl"]))
        if row.get(flag) is not True:
            left_out += 1
            continue
        genres = str(row.get("genres") or "").split("-")
        table.add(mxl_key(row["mxl"]), row, None, row.get("license"),
                  {"composer": row.get("composer_name"), "genre": genres[0] or None})
    return table, left_out, named


def list_source(source: Source, settings: IngestSettings, options: Mapping[str, Any]) -> Listing:
    subset = source.options.get("subset", "all")
    table, left_out, named = rows_table(source, options, subset)
    files = common.files_under(source, "mxl", options, (".mxl", ".xml", ".musicxml"))
    keep = [(rel, size) for rel, size in files if rel in table.entries or (subset == "all" and rel not in named)]
    return common.listing(source, common.file_units(source, keep), [(table, mxl_key)],
                          {"subset": subset, "rows_left_out": left_out})
