"""PySpark's Python daemon for local sessions (spark.python.daemon.module): the workers it forks find
pyspark in the installed package, not in its zip, and inherit the thread-free part of their imports.

PySpark's JVM starts a daemon, `python -m pyspark.daemon`, with pyspark.zip, py4j's zip and
spark-core's jar first on PYTHONPATH, and the daemon forks a worker per concurrent task. Each worker
then imported pyspark's worker modules from the zip (compiled from source every time: Python cannot
cache bytecode in a zip; ~0.8 s of CPU), and re-read the directories of the zip and of the jar
(6,000 entries, no Python) when PySpark invalidated the import caches at its first task.

This module runs instead: it drops those archives from sys.path when they belong to the installed
pyspark package (the same modules, importable with their cached bytecode), imports what every
worker imports that starts no thread (PRELOAD), freezes it out of the garbage collector's sight (as
steps/guard.py does before forking: a collection in the forked process would touch, and so copy,
the inherited pages) and hands over to PySpark's daemon. In builds of music21's ABC tunes
alternating the two daemons, the daemons' and workers' own CPU was 7.5-7.7 s with this one against
10.7-11.8 s with PySpark's (BENCHMARKS.md, "ABC collections").
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import sys
from pathlib import Path

# What every task's worker imports, and that starts no thread: PySpark's daemon forks its workers from
# a process of one thread (a lock another thread held at the fork stays locked in the child), and
# pyarrow, so pandas and the steps, start one when imported: each worker imports those itself. A module
# with a `warm_up()` has it run too: the compiled loops over notes (music/loops.py) load in ~0.7 s, once here rather
# than in every worker.
PRELOAD = ("pyspark.worker", "pyspark.sql.pandas.serializers", "numpy", "symusic", "symcorpus.music.loops")


def redundant_entries(path: list[str]) -> list[str]:
    """Entries of `path` that are archives inside an installed pyspark package whose own folder is
    also on `path`: its python/lib zips whose package is installed beside it (pyspark.zip, and
    py4j's when py4j is installed too: the same modules) and its jars/ (Java classes, no Python:
    Spark 4 puts spark-core's jar on the workers' path)."""
    folders = {str(Path(p).resolve()) for p in path if p and Path(p).suffix not in (".zip", ".jar")}
    redundant = []
    for entry in path:
        archive = Path(entry)
        if archive.suffix == ".zip" and archive.parent.name == "lib" and archive.parent.parent.name == "python":
            package = archive.parent.parent.parent
            # pyspark.zip, py4j-<version>-src.zip: the package the zip holds, installed beside pyspark
            holds = package.parent / archive.name.split("-")[0].removesuffix(".zip")
        elif archive.suffix == ".jar" and archive.parent.name == "jars":
            package = archive.parent.parent
            holds = package
        else:
            continue
        if (package.name == "pyspark" and (package / "__init__.py").is_file() and (holds / "__init__.py").is_file()
                and str(package.parent.resolve()) in folders):
            redundant.append(entry)
    return redundant


def main() -> None:
    for entry in redundant_entries(sys.path):
        sys.path.remove(entry)
        # Finding this module already made the archive's importer; invalidating the import caches
        # (PySpark does at a worker's first task) would still re-read its directory.
        sys.path_importer_cache.pop(entry, None)
    # The JVM reads the daemon's port from its stdout: nothing else may be printed there.
    with contextlib.redirect_stdout(sys.stderr):
        for name in PRELOAD:
            try:
                module = importlib.import_module(name)
                if hasattr(module, "warm_up"):
                    module.warm_up()
            except Exception:  # noqa: BLE001 - a worker that needs it imports it, and reports the error
                pass
    gc.freeze()
    from pyspark.daemon import manager

    manager()


if __name__ == "__main__":
    main()
