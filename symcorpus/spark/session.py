"""Starting Spark (embedded local[*] or a cluster), and showing its progress.

What kills processes does not end a build: a failed task is tried again up to
spark.max_task_failures times (local mode too, where Spark retries nothing unless the master says
`local[N, attempts]`).

A killed driver leaves nothing behind: PySpark's JVM exits when the driver's end of its stdin
closes, its Python daemon exits when the JVM's does and SIGHUPs its workers, each worker dies with
its daemon (spark/frames.py) and each isolated child with its worker (steps/guard.py).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import threading
from pathlib import Path
from collections.abc import Callable, Iterator

from symcorpus.config import SparkSettings


_LOCAL = re.compile(r"local(?:\[\s*([0-9]+|\*)\s*\])?")


def with_retries(master: str, attempts: int) -> str:
    """`local`, `local[N]` or `local[*]` as `local[N,attempts]`; any other master as given (a
    cluster reads spark.task.maxFailures, and `local[N,F]` already says how many)."""
    match = _LOCAL.fullmatch(master.strip())
    if match is None:
        return master
    return f"local[{match.group(1) or 1},{attempts}]"


def spark_session(settings: SparkSettings, master: str | None = None):
    """A SparkSession for `master` (default: params' spark.master). Reuses an active session.

    Spark's Python workers must run this interpreter, or they import another environment's packages.
    """
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    # Each Python worker already has a core; BLAS threads on top oversubscribe it (small matrix
    # products in chords/keys ran 10-50x slower with OpenBLAS threading on a busy machine).
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    arrow_pool = use_arrow_pool()
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    master = master or settings.master
    local = master.startswith("local")  # one JVM, on this machine, running symcorpus' own Python
    if local:
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # no "hostname resolves to loopback" warning
    log_config = Path(__file__).with_name("log4j2.properties")
    builder = (
        SparkSession.builder.master(with_retries(master, settings.max_task_failures))
        .appName("symcorpus")
        .config("spark.task.maxFailures", str(settings.max_task_failures))
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.memory", settings.driver_memory)
        .config("spark.driver.extraJavaOptions",
                f"-Dlog4j.configurationFile=file:{log_config}" + (local_java_options() if local else ""))
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", str(settings.arrow_batch_size))
        .config("spark.sql.shuffle.partitions", "8")
        .config("spark.sql.adaptive.enabled", "true")
        .config("spark.sql.parquet.compression.codec", "zstd")
        # Python-side tracebacks instead of a bare "worker crashed" when native code faults.
        .config("spark.python.worker.faulthandler.enabled", "true")
        .config("spark.executorEnv.PYSPARK_PYTHON", os.environ["PYSPARK_PYTHON"])
        .config("spark.executorEnv.OPENBLAS_NUM_THREADS", "1")
        .config("spark.executorEnv.OMP_NUM_THREADS", "1")
    )
    if arrow_pool:
        builder = builder.config(f"spark.executorEnv.{ARROW_POOL_VARIABLE}", arrow_pool)
    if local:
        # Workers forked with their imports done (spark/daemon.py); a cluster's executors keep
        # PySpark's own daemon, as symcorpus may not be installed beside their Python.
        builder = builder.config("spark.python.daemon.module", "symcorpus.spark.daemon")
    for key, value in settings.conf.items():
        builder = builder.config(key, str(value))
    logging.getLogger("py4j").setLevel(logging.ERROR)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


# pyarrow's default allocator (mimalloc in its wheels) left the workers of Lakh-size builds with
# 290-460 MB more peak memory than jemalloc on both machines this VM has run on; on one of them it
# also spent 2-3x jemalloc's system CPU on the staged rows' round trip, at a cost that varied from
# one process to the next (BENCHMARKS.md, "Arrow's allocator"). Arrow reads the variable when a
# process first allocates.
ARROW_POOL_VARIABLE = "ARROW_DEFAULT_MEMORY_POOL"


def use_arrow_pool() -> str | None:
    """jemalloc as Arrow's allocator in this process and, through the variable, in the Spark
    workers it starts; the allocator the user chose, if they set the variable; None where this
    pyarrow was built without jemalloc (the default stays)."""
    import pyarrow as pa

    chosen = os.environ.get(ARROW_POOL_VARIABLE)
    if chosen:
        return chosen
    try:
        pool = pa.jemalloc_memory_pool()
    except NotImplementedError:
        return None
    pa.set_memory_pool(pool)  # this process may have allocated already: the variable is read once
    os.environ[ARROW_POOL_VARIABLE] = "jemalloc"
    return "jemalloc"


# In local mode one JVM is driver and executor, on the cores that the Python workers parse on, and
# it does little data work (planning, light rows, shuffles of ids and hashes). Its optimising JIT
# compiler and the concurrent collector's threads took about a core's worth of time from them: on a
# build of 2,000 Lakh-size files on local[1], the JVM used 64 CPU seconds with the defaults and 26 s
# with the quick compiler alone and the serial collector (measured at d1c98aa, 2026-12-02).
LOCAL_JVM_OPTIONS = " -XX:TieredStopAtLevel=1 -XX:+UseSerialGC"


def local_java_options() -> str:
    """The local JVM's options: the quick compiler and serial collector, and the class-data archive
    when one was made (spark/class_archive.py)."""
    from symcorpus.spark import class_archive

    return LOCAL_JVM_OPTIONS + class_archive.java_options()


class NoProgress:
    """Stands in for a rich Progress when the caller wants none (library use, tests)."""

    def add_task(self, *args, **kwargs) -> int:
        return 0

    def update(self, *args, **kwargs) -> None:
        pass


@contextlib.contextmanager
def stage_progress(progress, description: str) -> Iterator[None]:
    """Drive a progress bar from the active Spark session's task counts while the block runs jobs."""
    from pyspark.sql import SparkSession

    session = SparkSession.getActiveSession()
    task = progress.add_task(description, total=None)
    if session is None:  # nothing to watch
        yield
        progress.update(task, total=1, completed=1)
        return
    tracker = session.sparkContext.statusTracker()

    def update() -> None:
        total = completed = 0
        for stage_id in tracker.getActiveStageIds():
            info = tracker.getStageInfo(stage_id)
            if info is not None:
                total += info.numTasks
                completed += info.numCompletedTasks
        if total:
            progress.update(task, total=total, completed=completed)

    try:
        with polling(update, 0.25, last=False):
            yield
    finally:
        progress.update(task, total=1, completed=1)


@contextlib.contextmanager
def polling(update: Callable[[], None], every_s: float, last: bool = True) -> Iterator[None]:
    """Call `update` every `every_s` seconds from a thread while the block runs (and once more after
    it when `last`): how a progress bar follows jobs that report only through Spark."""
    stop = threading.Event()

    def poll() -> None:
        while not stop.wait(every_s):
            update()

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        if last:
            update()
