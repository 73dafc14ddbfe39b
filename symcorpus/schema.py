"""Arrow schemas of every table symcorpus publishes, and the schema version they carry.

Bump SCHEMA_VERSION when a published column changes meaning or type; adding a column is a minor bump.
"""

from __future__ import annotations

import pyarrow as pa

from symcorpus.music.abc_text import HEADER_FIELDS
from symcorpus.music.features import FEATURES
from symcorpus.music.labels import LABELS

# Labels a source may state for its pieces (the `source_labels` column), in column order.
SOURCE_LABEL_NAMES = ("period", "composer", "instrumentation", "genre", "mood")
JOIN_NOTE = pa.struct([pa.field("name", pa.string()), pa.field("key", pa.string()), pa.field("matched", pa.bool_())])

# 1.1: metadata, annotation and quality columns; status "rejected".
# 1.2: what a source ships with its pieces: source_meta, source_caption, license, source_labels
#      (added columns, null for files without metadata; nothing else changed).
# 1.3: `labels` gains period_from, composer_from, instrumentation_from, genre_from ("source" when the
#      label rests on `source_labels`, "inferred" when on the file; null with the label). Added
#      fields: a label of a piece without source labels is what 1.2 gave.
# 1.4: tempo_bpm and instruments null when the file never declared them; features gain tempo_source,
#      tempo_used_bpm and the tempo estimate of performed pieces.
SCHEMA_VERSION = "1.4"

ABC_HEADER = pa.struct([pa.field(name, pa.string()) for name in HEADER_FIELDS.values()])

# Where each record came from, and its bytes.
_RECORD_FIELDS = [
    pa.field("id", pa.string(), nullable=False),  # sha256 hex of `content`
    pa.field("source", pa.string(), nullable=False),
    pa.field("path", pa.string(), nullable=False),  # file, archive member, "#tune" for ABC tunes
    pa.field("format", pa.string()),  # midi | abc | musicxml | humdrum
    pa.field("size_bytes", pa.int64()),
    pa.field("content", pa.binary()),
]

# What came with a record from its source (sources/: corpus adapters, Parquet rows, manifests, WebDataset
# sidecars); all null for a file that came alone. Never overwritten by annotation: `caption` and
# `labels` are symcorpus's own, these are the source's.
SOURCE_LABELS = pa.struct([pa.field(name, pa.string()) for name in SOURCE_LABEL_NAMES])
_SOURCE_FIELDS = [
    pa.field("source_meta", pa.string()),  # JSON object: the source's own fields, by where they came from
    pa.field("source_caption", pa.string()),  # a caption shipped with the data (MidiCaps, XMIDI's)
    pa.field("license", pa.string()),  # as the source states it (PDMX's `license`)
    pa.field("source_labels", SOURCE_LABELS),  # period, composer, instrumentation, genre, mood as stated
]

SOURCE_COLUMNS = tuple(f.name for f in _SOURCE_FIELDS)

# Columns that need only the parse (music/notes.py `summarize`).
_PARSE_FIELDS = [
    pa.field("n_tracks", pa.int32()),
    pa.field("n_notes", pa.int64()),
    pa.field("duration_seconds", pa.float64()),
    pa.field("duration_quarters", pa.float64()),
    pa.field("tempo_bpm", pa.float64()),  # declared, at the first note; null when the file sets none
    pa.field("n_tempo_changes", pa.int32()),
    pa.field("time_signature", pa.string()),
    pa.field("key_signature", pa.string()),  # declared (MIDI key signature, ABC K:), never estimated
    pa.field("instruments", pa.list_(pa.string())),  # General MIDI names, drums excluded; null: no program set
    pa.field("has_drums", pa.bool_()),
    pa.field("ticks_per_beat", pa.int32()),
    pa.field("abc", ABC_HEADER),  # ABC header fields; null for other formats
    pa.field("score_midi", pa.binary()),  # the notes as MIDI for non-MIDI formats; for MIDI null, or the SMF inside an .rmi
    pa.field("notes_hash", pa.string()),  # equal for the same notes (music/fingerprint.py)
    pa.field("title", pa.string()),  # declared: ABC T:, score metadata; null for MIDI
    pa.field("composer", pa.string()),  # declared, as written (labels.composer is the canonical name)
]

# Columns the annotate step adds (music/annotate.py), and the quality filter's score.
_ANNOTATION_FIELDS = [
    pa.field("key", pa.string()),  # estimated from the notes alone, e.g. "D minor"
    pa.field("key_confidence", pa.float64()),  # best profile correlation minus the runner-up's
    pa.field("features", FEATURES),  # music/features.py
    # period, composer, instrumentation, genre, origin, tempo_word, length_class, and <first four>_from
    pa.field("labels", LABELS),
    pa.field("tags", pa.string()),  # JSON: every fact the caption states
    pa.field("caption", pa.string()),
    pa.field("quality_score", pa.float64()),  # in [0, 1] (music/quality.py)
]

# Fingerprints the dedup stage needs and the corpus does not publish.
_FINGERPRINT_FIELDS = [
    pa.field("minhash", pa.binary()),  # uint32 little-endian, bands x rows of them
    pa.field("lsh_bands", pa.list_(pa.int64())),
]

CORPUS = pa.schema(
    _RECORD_FIELDS
    + _SOURCE_FIELDS
    + _PARSE_FIELDS
    + _ANNOTATION_FIELDS
    + [
        pa.field("dedup_cluster", pa.string()),  # id of the cluster's representative (this piece)
        pa.field("split", pa.string()),  # by hash of dedup_cluster: duplicates never straddle splits
    ]
)

ERRORS = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("path", pa.string(), nullable=False),
        pa.field("format", pa.string()),
        pa.field("size_bytes", pa.int64()),
        pa.field("stage", pa.string()),  # ingest | parse
        pa.field("error", pa.string()),  # "<reason code>: <what happened>"
    ]
)

REJECTS = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("path", pa.string(), nullable=False),
        pa.field("format", pa.string()),
        pa.field("reason", pa.string()),  # the rule's code (music/quality.py RULES)
        pa.field("detail", pa.string()),  # the measured value against the threshold
    ]
)

DUPLICATES = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("path", pa.string(), nullable=False),
        pa.field("format", pa.string()),
        pa.field("representative_id", pa.string()),
        pa.field("cluster_id", pa.string()),
        pa.field("kind", pa.string()),  # exact | notes | near
        pa.field("similarity", pa.float64()),  # 1.0 for exact and notes; estimated Jaccard for near
    ]
)

# What the parse stage emits: every record once, with its outcome. The build splits it into the
# corpus, rejects and errors tables; skipped files (not music) are counted but are not records.
STATUS_OK, STATUS_ERROR, STATUS_REJECTED, STATUS_SKIPPED = "ok", "error", "rejected", "skipped"
PIECES = pa.schema(
    [pa.field("status", pa.string(), nullable=False)]
    + _RECORD_FIELDS
    + _SOURCE_FIELDS
    + _PARSE_FIELDS
    + _ANNOTATION_FIELDS
    + _FINGERPRINT_FIELDS
    + [
        # (join, key, matched) per metadata join of the record's source: the join report's input
        pa.field("joins", pa.list_(JOIN_NOTE)),
        pa.field("stage", pa.string()),  # the step that stopped the record (steps/)
        pa.field("error", pa.string()),
        pa.field("reason", pa.string()),
        pa.field("detail", pa.string()),
        pa.field("reused", pa.bool_()),  # the parse came from the parse cache
        pa.field("resumed", pa.bool_()),  # taken from a finished batch of an interrupted run (steps/resume.py)
    ]
)

# A parse cache row (spark/cache.py): what the parse of one record's bytes gave, kept by content
# hash so a later build parses only new records. Annotation is not cached (cheap, path-dependent).
PARSE_CACHE = pa.schema(
    [pa.field("status", pa.string(), nullable=False)]
    + [f for f in _RECORD_FIELDS if f.name in ("id", "format", "size_bytes")]
    + _PARSE_FIELDS
    + _FINGERPRINT_FIELDS
    + [pa.field("stage", pa.string()), pa.field("error", pa.string())]
)

# A unit of ingest work: one file, one archive member, or one whole streamed (tar) archive.
UNITS = pa.schema(
    [
        pa.field("source", pa.string(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),  # a key of sources.READERS: file | zip | tar | parquet ...
        pa.field("container", pa.string(), nullable=False),  # directory root, archive or Parquet file
        pa.field("member", pa.string(), nullable=False),  # path inside it ("" for a whole tar)
        pa.field("size", pa.int64(), nullable=False),
        pa.field("params", pa.string()),  # JSON: what the reader needs beyond the location (sources/base.py Unit)
    ]
)

# Token shards (`symcorpus tokenize`): one row per chunk of a piece, and the pieces left out.
TOKENS = pa.schema([
    pa.field("id", pa.string(), nullable=False),  # the corpus row
    pa.field("chunk", pa.int32(), nullable=False),  # 0.. in order: a long piece is cut at bar lines
    pa.field("tokens", pa.list_(pa.int32())),  # music tokens only
    pa.field("n_tokens", pa.int32()),
    pa.field("conditions", pa.list_(pa.int32())),  # condition tokens from the piece's labels
])
TOKEN_REJECTS = pa.schema([
    pa.field("id", pa.string(), nullable=False),
    pa.field("split", pa.string()),
    pa.field("reason", pa.string()),
    pa.field("detail", pa.string()),
])
