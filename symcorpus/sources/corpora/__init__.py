"""Known-corpus adapters: one module per corpus, each reading the corpus's published layout and
joining its metadata (the module docstrings cite where each layout fact comes from). Each has a
NAME and a `list_source(source, settings, storage_options) -> Listing`.

    lakh        Lakh MIDI: lmd_full/<h>/<md5>.mid + md5_to_paths.json, match_scores.json (+ MidiCaps captions)
    midicaps    MidiCaps: train.json captions joined to its files by `location`
    gigamidi    GigaMIDI: WebDataset shards + metadata JSON, or the Parquet release
    aria-midi   Aria-MIDI: <file_id>_<segment>.mid + metadata.json
    xmidi       XMIDI: XMIDI_<emotion>_<genre>_<ID>.midi (+ captions keyed by file name)
    pdmx        PDMX: mxl/ + PDMX.csv
"""

from __future__ import annotations

from symcorpus.sources.corpora import aria_midi, gigamidi, lakh, midicaps, pdmx, xmidi

ADAPTERS = {m.NAME: m for m in (lakh, midicaps, gigamidi, aria_midi, xmidi, pdmx)}
