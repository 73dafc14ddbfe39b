"""Is a generated piece a near-duplicate of a training piece? The dedup stage's fingerprints, queried.

The index holds every piece of a corpus split fingerprinted exactly as the build's Fingerprint step
does (steps/fingerprint.py: MinHash of melodic shingles, LSH band hashes) with the corpus' own dedup
settings from its manifest. A query fingerprints the sample, gathers the pieces that share an LSH
band with it, and returns the one with the highest estimated Jaccard similarity: at or above the
dedup threshold, the sample would have been clustered with it as a near duplicate.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import symusic

from symcorpus.config import DedupSettings
from symcorpus.music.fingerprint import sparse_similarities
from symcorpus.music.notes import note_table
from symcorpus.steps.fingerprint import fingerprints


def corpus_dedup_settings(corpus_dir: Path) -> DedupSettings:
    """The dedup settings a corpus version was built with (its manifest), `near` level on."""
    manifest = Path(corpus_dir) / "manifest.json"
    params = json.loads(manifest.read_text()).get("params", {}).get("dedup", {}) if manifest.is_file() else {}
    known = {k: v for k, v in params.items() if k in DedupSettings.__dataclass_fields__}
    settings = DedupSettings(**known)
    return settings.replace(levels=sorted(set(settings.levels) | {"near"}))


def midi_fingerprint(midi: bytes, settings: DedupSettings) -> tuple[np.ndarray, np.ndarray]:
    """(signature as uint32, LSH band hashes) of MIDI bytes."""
    score = symusic.Score.from_midi(midi)
    columns = fingerprints(note_table(score), int(score.ticks_per_quarter), settings)
    return np.frombuffer(columns["minhash"], dtype="<u4"), np.asarray(columns["lsh_bands"], dtype=np.int64)


@dataclass
class Match:
    id: str | None  # the most similar indexed piece among those sharing a band (None: no candidate)
    similarity: float  # its estimated Jaccard similarity (0 without a candidate)


@dataclass
class CorpusIndex:
    settings: DedupSettings
    ids: list[str] = field(default_factory=list)
    signatures: np.ndarray | None = None  # (pieces, num_perm) uint32
    buckets: dict[int, list[int]] = field(default_factory=lambda: defaultdict(list))

    @classmethod
    def from_corpus(cls, corpus_dir: str | Path, split: str = "train") -> CorpusIndex:
        """Every piece of `split` of a published corpus version (or testing/shards' layout)."""
        corpus_dir = Path(corpus_dir)
        index = cls(corpus_dedup_settings(corpus_dir))
        folder = corpus_dir / "corpus" / split
        signatures = []
        for shard in sorted(folder.glob("*.parquet")):
            for batch in pq.ParquetFile(shard).iter_batches(columns=["id", "format", "content", "score_midi"]):
                for row in batch.to_pylist():
                    midi = row["content"] if row["format"] == "midi" else row["score_midi"]
                    if midi is None:
                        continue
                    try:
                        signature, bands = midi_fingerprint(midi, index.settings)
                    except Exception:  # a piece we cannot read back cannot be copied from either
                        continue
                    index.add(row["id"], signature, bands, signatures)
        if not index.ids:
            raise FileNotFoundError(f"no pieces with notes in {folder} to check samples against")
        index.signatures = np.stack(signatures)
        return index

    def add(self, piece_id: str, signature: np.ndarray, bands: np.ndarray, signatures: list[np.ndarray]) -> None:
        for band in bands.tolist():
            self.buckets[band].append(len(self.ids))
        self.ids.append(piece_id)
        signatures.append(signature)

    def nearest(self, midi: bytes) -> Match:
        """The indexed piece most like the MIDI among those sharing an LSH band with it."""
        signature, bands = midi_fingerprint(midi, self.settings)
        candidates = sorted({i for band in bands.tolist() for i in self.buckets.get(band, ())})
        if not candidates:
            return Match(None, 0.0)
        similarity = sparse_similarities(self.signatures[candidates], signature[None, :])
        best = int(np.argmax(similarity))
        return Match(self.ids[candidates[best]], float(similarity[best]))
