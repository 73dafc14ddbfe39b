"""Settings of the corpus pipeline: Spark, ingest limits, dedup, quality rules, splits, publishing."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from symcorpus.config.base import Section, SettingsError

DEDUP_LEVELS = ("exact", "notes", "near")
MUSIC21_FORMATS = ("abc", "musicxml", "humdrum", "midi")


@dataclass
class SparkSettings(Section):
    where = "spark"
    master: str = "local[*]"
    driver_memory: str = "4g"
    # Records per Arrow batch handed to the parse function: bounds worker memory for big files.
    # It is also the unit of crash isolation and of resuming (steps/guard.py, steps/resume.py).
    arrow_batch_size: int = 256
    # Attempts of a task before the build fails: a Python worker killed mid-task (the OOM killer, a
    # preempted node) costs one. `local[N]` runs as `local[N, this]` (local mode retries nothing
    # unless asked), and clusters get spark.task.maxFailures.
    max_task_failures: int = 4
    conf: dict[str, Any] = field(default_factory=dict)  # any extra spark.* settings

    def validate(self) -> None:
        self.check(self.arrow_batch_size >= 1, "arrow_batch_size", "must be at least 1")
        self.check(self.max_task_failures >= 1, "max_task_failures", "must be at least 1")


@dataclass
class Music21Settings(Section):
    """Which part of music21's bundled corpus the source `music21` stands for."""

    where = "ingest.music21"
    formats: list[str] = field(default_factory=lambda: ["abc", "musicxml", "humdrum"])
    # At most this many files per format, spread evenly over the sorted list; null = all.
    max_files: dict[str, int | None] = field(default_factory=dict)

    def validate(self) -> None:
        unknown = sorted(set(self.formats) - set(MUSIC21_FORMATS))
        self.check(not unknown, "formats", f"unknown format(s) {', '.join(unknown)}")


@dataclass
class IngestSettings(Section):
    where = "ingest"
    max_bytes: int = 32 * 2**20
    max_notes: int = 2_000_000
    subprocess_timeout_s: float = 20.0
    parse_timeout_s: float = 60.0
    strict_midi: bool = True
    # Partitions are packed by estimated parse cost; these bound one partition's share.
    max_units_per_partition: int = 4000
    min_partitions_per_core: int = 8  # small tasks: stragglers cost less; the progress bar moves as they end
    # Parse cache: earlier builds' parses reused by content hash (spark/cache.py); null = off.
    cache_dir: str | None = None
    # fsspec options for sources in object storage (s3://...), e.g. {endpoint_url: http://host:9000};
    # unset keys come from the AWS_* environment variables. Secret values are masked in manifests.
    storage_options: dict[str, Any] = field(default_factory=dict)
    # Each batch of records runs its steps in a forked child (steps/guard.py): a record that kills
    # its process (segfault, abort, OOM kill) ends as one error row, the rest of the batch is kept.
    isolate_records: bool = True
    # Memory one isolated record may take, in bytes of address space over the child's size at its
    # start: past it the record is an `out_of_memory` error, not a dead executor. 0 = no bound.
    max_record_memory: int = 4 * 2**30
    # An isolated record still running after this long (native code that never returns to Python,
    # so parse_timeout_s cannot stop it) is killed and becomes a `timeout` error row.
    hard_timeout_s: float = 600.0
    # Finished batches are kept next to OUT as they complete (steps/resume.py), so a build killed and
    # started again with the same arguments reuses them; removed once the version is published.
    resume: bool = True
    music21: Music21Settings = field(default_factory=Music21Settings)

    def validate(self) -> None:
        for key in ("max_bytes", "max_notes", "max_units_per_partition", "min_partitions_per_core"):
            self.check(getattr(self, key) >= 1, key, "must be at least 1")
        for key in ("subprocess_timeout_s", "parse_timeout_s", "hard_timeout_s"):
            self.check(getattr(self, key) > 0, key, "must be above 0")
        self.check(self.max_record_memory >= 0, "max_record_memory", "must be 0 (no bound) or more")

    def to_dict(self) -> dict[str, Any]:
        from symcorpus.sources.storage import public_options

        return {**super().to_dict(), "storage_options": public_options(self.storage_options)}

    def limits(self):
        """The per-record bounds the parsers read (music/parse.py Limits)."""
        from symcorpus.music.parse import Limits

        return Limits(max_bytes=self.max_bytes, max_notes=self.max_notes,
                      subprocess_timeout_s=self.subprocess_timeout_s, parse_timeout_s=self.parse_timeout_s,
                      strict_midi=self.strict_midi)


@dataclass
class DedupSettings(Section):
    """Three levels: exact (always), notes and near. See README "Deduplication" for the defaults."""

    where = "dedup"
    levels: list[str] = field(default_factory=lambda: list(DEDUP_LEVELS))
    transpose_invariant: bool = True  # `notes` level: a transposed copy has the same notes
    grid: int = 48  # `notes` level: onsets and durations rounded to 1/48 quarter
    shingle_size: int = 4  # `near` level: tokens per shingle (pitch interval + onset ratio)
    bands: int = 80
    rows: int = 3  # bands x rows = MinHash permutations; centre of the S-curve ~ (1/bands)^(1/rows)
    threshold: float = 0.33  # estimated Jaccard a candidate pair needs to become an edge
    seed: int = 1
    max_bucket_size: int = 64  # larger LSH buckets are joined as stars, not all pairs
    max_iterations: int = 30  # connected-components rounds before giving up

    @property
    def num_perm(self) -> int:
        return self.bands * self.rows

    def validate(self) -> None:
        unknown = sorted(set(self.levels) - set(DEDUP_LEVELS))
        self.check(not unknown, "levels", f"unknown level(s) {', '.join(unknown)}")
        for key in ("grid", "shingle_size", "bands", "rows", "max_bucket_size", "max_iterations"):
            self.check(getattr(self, key) >= 1, key, "must be at least 1")
        self.check(0 < self.threshold <= 1, "threshold", "must be in (0, 1]")


@dataclass
class FilterSettings(Section):
    """Quality rules (music/quality.py): thresholds per rule, then overrides per source name; a
    rule set to false is off. Unset rules keep quality.DEFAULT_RULES."""

    where = "filter"
    rules: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)

    def active(self, source: str | None) -> dict[str, dict[str, Any]]:
        from symcorpus.music.quality import rules_for

        return rules_for(self.rules, self.sources.get(source) if source is not None else None)

    def validate(self) -> None:
        for source in [None, *self.sources]:
            try:
                self.active(source)
            except ValueError as e:
                where = "rules" if source is None else f"sources.{source}"
                raise SettingsError(f"filter.{where}: {e}") from None


@dataclass
class SplitSettings(Section):
    where = "split"
    train: float = 0.98
    valid: float = 0.01
    test: float = 0.01
    seed: str = "symcorpus"  # mixed into the split hash; change it to draw other splits

    def ratios(self) -> dict[str, float]:
        return {"train": self.train, "valid": self.valid, "test": self.test}

    def validate(self) -> None:
        for key, value in self.ratios().items():
            self.check(0 <= value <= 1, key, "must be in [0, 1]")
        total = sum(self.ratios().values())
        if abs(total - 1.0) > 1e-9:
            raise SettingsError(f"split: ratios must add up to 1, they add up to {total:g}")


@dataclass
class PublishSettings(Section):
    where = "publish"
    shard_bytes: int = 128 * 2**20
    compression: str = "zstd"
    # Where a version for an object-store OUT (s3://...) is assembled before it is uploaded
    # (spark/remote.py); null = the system's temporary folder. On a cluster: a folder every
    # executor sees.
    scratch_dir: str | None = None

    def validate(self) -> None:
        self.check(self.shard_bytes >= 1, "shard_bytes", "must be at least 1")
