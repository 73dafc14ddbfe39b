"""A class-data archive for the local Spark JVM: the classes a build loads (Spark's, Scala's,
Arrow's, Parquet's), parsed and verified once and then mapped by every later local session.

A build's JVM loads some 22,000 classes, 15,000 of them from jar files (the rest it generates as it
runs), and it parses and verifies them again in every command: about 4-5 s of CPU on this
project's 2-core machine, taken from the cores the Python workers parse on (BENCHMARKS.md, "The
local JVM with and without its class-data archive"). Java's application class-data sharing keeps
them in a file the JVM maps instead:

    python -m symcorpus.spark.archive_classes   # once per PySpark and Java install; `make` runs it

That command (spark/archive_classes.py) makes the archive from a small real build (a few of
music21's files) in a JVM started with -XX:ArchiveClassesAtExit, which writes the archive as it exits
(~15 s for ~170 MB). The file is moved into place only after that JVM ended cleanly, and used only at
the size it was written: a truncated archive crashes the JVM that maps it. Archives are keyed by the
java binary and the PySpark install (its version, and its jars' paths, sizes and times: the class
path the JVM checks), so another virtualenv or an upgrade runs without one until `make` makes its
own; a JVM that finds its class path unlike the archive's ignores it (its warning switched off).
Only local sessions use it: a cluster's executors start their own JVMs elsewhere.
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


def jars_dir() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent / "jars"


def archive_path() -> Path | None:
    """Where the archive of this PySpark install and this java lives (None: no java found).

    The JVM maps an archive only for the class path it was made with (the jars' paths, sizes and
    times), so the key covers those: another virtualenv, or PySpark reinstalled, gets its own."""
    import pyspark

    java = java_binary()
    if java is None:
        return None
    parts = []
    for path in [java, *sorted(jars_dir().glob("*.jar"))]:
        stat = path.stat()
        parts.append(f"{path}:{stat.st_size}:{stat.st_mtime_ns}")
    key = hashlib.sha256("\n".join(parts).encode()).hexdigest()[:12]
    return cache_dir() / "jvm" / f"spark-{pyspark.__version__}-{key}.jsa"


def _record(archive: Path) -> dict:
    """What was written beside the archive: its size and the jars folder it was made for."""
    try:
        record = json.loads(archive.with_suffix(".json").read_text())
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def superseded(archive: Path) -> list[Path]:
    """Other archives in its folder made for the same jars folder (that PySpark reinstalled or
    upgraded) or for one that is gone (its virtualenv deleted): nothing will map them again."""
    mine = _record(archive).get("jars")
    stale = []
    for other in sorted(archive.parent.glob("spark-*.jsa")):
        jars = _record(other).get("jars")
        if other != archive and (jars is None or jars == mine or not Path(jars).is_dir()):
            stale.append(other)
    return stale


def usable(archive: Path | None) -> bool:
    """The archive is there, whole (at the size its JVM wrote)."""
    if archive is None:
        return False
    try:
        return archive.stat().st_size == _record(archive).get("bytes")
    except OSError:
        return False


def java_options() -> str:
    """Options for a local session's JVM: map the archive when there is a whole one; while
    archive_classes runs, write one at exit."""
    if dumping is not None:
        return f" -XX:ArchiveClassesAtExit={dumping}"
    try:
        archive = archive_path()
    except (OSError, RuntimeError):  # no home folder to keep it in: run without
        return ""
    if not usable(archive):
        return ""
    return f" -XX:SharedArchiveFile={archive} -Xlog:cds=off -Xlog:cds+dynamic=off"
