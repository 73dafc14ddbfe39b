"""PySpark's Python daemon for local sessions (spark.python.daemon.module), with what every task's
worker imports already imported, so the workers it forks inherit it instead of importing it again.

PySpark's JVM starts a daemon, `python -m pyspark.daemon`, with its own pyspark.zip and py4j zip
and spark-core's jar first on PYTHONPATH, and the daemon forks a worker per concurrent task. Each
worker then imported pyspark's worker modules from the zip (compiled from source every time: Python
cannot cache bytecode in a zip; ~0.8 s of CPU), pandas, numpy, pyarrow, symusic and the steps, and
re-read the directories of the zip and of the jar (6,000 entries, no Python) when PySpark
invalidated the import caches at its first task.

This module runs instead: it drops those archives from sys.path when they belong to the installed
pyspark package (the same modules, importable with their cached bytecode), imports the modules the
workers need, freezes them out of the garbage collector's sight (as steps/guard.py does before
forking: a collection in the forked process would touch, and so copy, the inherited pages) and
hands over to PySpark's daemon. In a
build of music21's ABC tunes (3 daemons, 4-5 workers) the daemons' and workers' own CPU went from
10.5-11.2 s to 6.8-7.1 s; the steps' CPU, in the isolated children, is not changed.
"""

from __future__ import annotations

import gc
import importlib
import sys
from pathlib import Path

# What a build's or a tokenize job's tasks import: PySpark's worker side, Arrow and its pandas
# conversions, the parsers and the steps (each step's own lazy imports stay lazy: music21 is only
# for the formats that need it).
PRELOAD = ("pyspark.worker", "pyspark.sql.pandas.serializers", "numpy", "pandas", "pyarrow", "pyarrow.compute",
           "pyarrow.parquet", "symusic", "symcorpus.spark.frames", "symcorpus.spark.progress",
           "symcorpus.spark.tokenize")


def redundant_entries(path: list[str]) -> list[str]:
    """Entries of `path` that are archives inside an installed pyspark package whose own folder is
    also on `path`: its python/lib zips (the same modules as the package's) and its jars/ (Java
    classes, no Python: Spark 4 puts spark-core's jar on the workers' path)."""
    folders = {str(Path(p).resolve()) for p in path if p and Path(p).suffix not in (".zip", ".jar")}
    redundant = []
    for entry in path:
        archive = Path(entry)
        if archive.suffix == ".zip" and archive.parent.name == "lib" and archive.parent.parent.name == "python":
            package = archive.parent.parent.parent
        elif archive.suffix == ".jar" and archive.parent.name == "jars":
            package = archive.parent.parent
        else:
            continue
        if package.name == "pyspark" and (package / "__init__.py").is_file() and str(package.parent.resolve()) in folders:
            redundant.append(entry)
    return redundant


def main() -> None:
    for entry in redundant_entries(sys.path):
        sys.path.remove(entry)
        # Finding this module already made the archive's importer; invalidating the import caches
        # (PySpark does at a worker's first task) would still re-read its directory.
        sys.path_importer_cache.pop(entry, None)
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:  # a worker imports what it needs anyway
            pass
    gc.freeze()
    from pyspark.daemon import manager

    manager()


if __name__ == "__main__":
    main()
