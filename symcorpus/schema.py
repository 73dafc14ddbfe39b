"""Arrow schemas of every table symcorpus publishes, and the schema version they carry.

Bump SCHEMA_VERSION when a published column changes meaning or type; adding a column is a minor bump.
"""

from __future__ import annotations

import pyarrow as pa

from symcorpus.music.abc_text import HEADER_FIELDS
from symcorpus.music.features import FEATURES
from symcorpus.music.labels import LABELS

SCHEMA_VERSION = "1.2"  # 1.2: tempo_bpm and instruments null when undeclared; features.tempo_*
# 1.1: metadata, annotation and quality columns; status "rejected"

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
    pa.field("labels", LABELS),  # period, composer, instrumentation, genre, origin, tempo_word, length_class
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
    + _PARSE_FIELDS
    + _ANNOTATION_FIELDS
    + _FINGERPRINT_FIELDS
    + [
        pa.field("stage", pa.string()),  # the step that stopped the record (steps/)
        pa.field("error", pa.string()),
        pa.field("reason", pa.string()),
        pa.field("detail", pa.string()),
        pa.field("reused", pa.bool_()),  # the parse came from the parse cache
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
        pa.field("kind", pa.string(), nullable=False),  # file | zip | tar
        pa.field("container", pa.string(), nullable=False),  # directory root or archive path
        pa.field("member", pa.string(), nullable=False),  # path inside it ("" for a whole tar)
        pa.field("size", pa.int64(), nullable=False),
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
