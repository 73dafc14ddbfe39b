"""A class-data archive for the local Spark JVM: the classes a build loads (Spark's, Scala's,
Arrow's, Parquet's), parsed and verified once and then mapped by every later local session.

A build's JVM loads some 22,000 classes, 15,000 of them from jar files (the rest it generates as it
runs), and it parses and verifies them again in every command: about 5 s of CPU on this project's
2-core machine, taken from the cores the Python workers parse on (BENCHMARKS.md, "ABC
collections"). Java's application class-data sharing keeps them in a file the JVM maps instead:

    python -m symcorpus.spark.archive_classes   # once per PySpark and Java install; `make` runs it

That command (spark/archive_classes.py) makes the archive from a small real build (a few of
music21's files) in a JVM started with -XX:ArchiveClassesAtExit, which writes the archive as it exits
(~15 s for ~170 MB). The file is moved into place only after that JVM ended cleanly, and used only at
the size it was written: a truncated archive crashes the JVM that maps it. Archives are keyed by the
PySpark version and the java binary, so an upgrade of either makes the next run build without one
until it is made again; a JVM whose class path does not match the archive's ignores it (its warning
switched off). Only local sessions use it: a cluster's executors start their own JVMs elsewhere.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

ENV_CACHE = "SYMCORPUS_CACHE"  # where symcorpus keeps per-machine caches (default ~/.cache/symcorpus)

dumping: Path | None = None  # set while archive_classes runs its build: the JVM writes the archive there


def cache_dir() -> Path:
    base = os.environ.get(ENV_CACHE) or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "symcorpus"
    return Path(base)


def java_binary() -> Path | None:
    """The java that spark-submit starts: JAVA_HOME's, else the first on PATH."""
    home = os.environ.get("JAVA_HOME")
    found = Path(home) / "bin" / "java" if home else (Path(p) if (p := shutil.which("java")) else None)
    return found.resolve() if found is not None and found.exists() else None


def archive_path() -> Path | None:
    """Where this PySpark and this java's archive lives (None: no java found)."""
    import pyspark

    java = java_binary()
    if java is None:
        return None
    stat = java.stat()
    key = hashlib.sha256(f"{java}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:12]
    return cache_dir() / "jvm" / f"spark-{pyspark.__version__}-{key}.jsa"


def _written_size(archive: Path) -> int | None:
    try:
        return json.loads(archive.with_suffix(".json").read_text())["bytes"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def usable(archive: Path | None) -> bool:
    """The archive is there, whole (at the size its JVM wrote)."""
    if archive is None:
        return False
    try:
        return archive.stat().st_size == _written_size(archive)
    except OSError:
        return False


def java_options() -> str:
    """Options for a local session's JVM: map the archive when there is a whole one; while
    archive_classes runs, write one at exit."""
    if dumping is not None:
        return f" -XX:ArchiveClassesAtExit={dumping}"
    archive = archive_path()
    if not usable(archive):
        return ""
    return f" -XX:SharedArchiveFile={archive} -Xlog:cds=off -Xlog:cds+dynamic=off"
