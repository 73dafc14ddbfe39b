"""`python -m symcorpus.spark.archive_classes [--force]`: make the local Spark JVM's class-data
archive (spark/class_archive.py) from a small real build; `make` runs it.

The build (a few of music21's files) runs in this process's JVM, started with
-XX:ArchiveClassesAtExit; the JVM writes the archive as it exits (~15 s for ~170 MB), and the file
is moved into place, with the size it was written at, only once that JVM ended cleanly.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

from symcorpus.spark import class_archive


def create(force: bool = False) -> tuple[Path | None, str]:
    """Make the archive (in a process that has not started Spark yet). Returns (archive or None,
    what happened, in a line)."""
    from pyspark.sql import SparkSession

    archive = class_archive.archive_path()
    if archive is None:
        return None, "no java found: no class-data archive made"
    if class_archive.usable(archive) and not force:
        return archive, f"class-data archive already made: {archive}"
    if SparkSession.getActiveSession() is not None:
        return None, "Spark already started in this process: no class-data archive made"
    archive.parent.mkdir(parents=True, exist_ok=True)
    partial = archive.with_name(f".{archive.name}.{os.getpid()}.partial")
    class_archive.dumping = partial
    try:
        exit_code = _small_build()
    finally:
        class_archive.dumping = None
    if exit_code != 0 or not partial.exists():
        partial.unlink(missing_ok=True)
        return None, f"the JVM did not write a class-data archive (exit code {exit_code}); builds run without one"
    size = partial.stat().st_size
    archive.with_suffix(".json").write_text(json.dumps({"bytes": size, "jars": str(class_archive.jars_dir())}))
    os.replace(partial, archive)  # whole, or not there: a JVM never maps a file still being written
    for stale in class_archive.superseded(archive):  # ~170 MB each
        stale.unlink(missing_ok=True)
        stale.with_suffix(".json").unlink(missing_ok=True)
    return archive, f"class-data archive made: {archive} ({size / 2**20:.0f} MB)"


def _small_build() -> int:
    """A build of a few of music21's files (the classes a real build loads), then the JVM's exit,
    during which it writes the archive. Returns the JVM's exit code."""
    from symcorpus.config import load_settings
    from symcorpus.spark.build import build
    from symcorpus.spark.session import spark_session

    settings = load_settings(None)
    settings.ingest.music21.formats = ["abc", "musicxml"]
    settings.ingest.music21.max_files = {"abc": 2, "musicxml": 2}
    settings.ingest.resume = False
    spark = spark_session(settings.spark, "local[2]")
    with tempfile.TemporaryDirectory(prefix="symcorpus-classes-") as tmp:
        build(["music21"], Path(tmp) / "corpus", settings, use_cache=False)
    jvm = spark.sparkContext._gateway.proc  # spark-submit exec'd into the JVM: its Popen
    spark.stop()
    jvm.stdin.close()  # how PySpark's JVM learns that its Python is gone: it exits, writing the archive
    return jvm.wait(timeout=600)


def main() -> None:
    from symcorpus.cli.logs import framework_output_to, log_dir

    force = "--force" in sys.argv[1:]
    if force or not class_archive.usable(class_archive.archive_path()):
        print("archiving the local Spark JVM's classes (once per PySpark and Java install, about a minute)", flush=True)
    with framework_output_to(log_dir() / "class-archive.log"):
        try:
            _, line = create(force)
        except Exception as e:  # noqa: BLE001 - an archive is a speed-up: without one, builds run as before
            line = f"no class-data archive made ({type(e).__name__}: {e}); builds run without one"
    print(line)


if __name__ == "__main__":
    main()
