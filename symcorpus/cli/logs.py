"""Framework output to a log file: while a command runs, what Spark, Ray, py4j and the JVM print goes
to `data/logs/COMMAND.log`, and only symcorpus's own console reaches the terminal.

Spark's JVM and Ray's processes write to the file descriptors they inherit, not to Python's
`sys.stderr`, so a Python logging filter cannot quiet them: descriptors 1 and 2 are pointed at the
log file (before Spark or Ray start, which then inherit it), and the command's console writes to
copies of the terminal's descriptors. Python-level prints, warnings and logging of the frameworks
follow descriptors 1 and 2 into the log as well. Set `SYMCORPUS_FRAMEWORK_LOGS=terminal` to see
everything on the terminal instead (debugging); `SYMCORPUS_LOG_DIR` moves the log files.

Nothing is redirected when the streams are not the process's own descriptors (a test runner's
captured output), so in-process callers see the output where they expect it.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

LOG_DIR = "data/logs"
_terminal: dict[str, TextIO] = {}  # "stdout" / "stderr" -> the terminal while redirected


def log_dir() -> Path:
    return Path(os.environ.get("SYMCORPUS_LOG_DIR") or LOG_DIR)


def terminal(name: str = "stderr") -> TextIO:
    """The stream our console writes to: the terminal's, also while framework output is redirected."""
    return _terminal.get(name) or getattr(sys, name)


def _own_descriptors() -> bool:
    try:
        return sys.stdout.fileno() == 1 and sys.stderr.fileno() == 2
    except (AttributeError, ValueError, OSError):  # io.UnsupportedOperation is an OSError
        return False


@contextlib.contextmanager
def framework_output_to(log_path: Path) -> Iterator[Path | None]:
    """Send descriptors 1 and 2 (and what Python writes to them) to `log_path` (truncated) while the
    block runs; `terminal()` keeps the terminal. Yields the log path, or None when nothing is
    redirected (asked not to, already redirected, or the streams are not ours)."""
    if os.environ.get("SYMCORPUS_FRAMEWORK_LOGS") == "terminal" or _terminal or not _own_descriptors():
        yield None
        return
    log_path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    streams = {"stdout": os.fdopen(os.dup(saved[1]), "w", buffering=1, encoding=sys.stdout.encoding,
                                   errors="replace"),
               "stderr": os.fdopen(os.dup(saved[2]), "w", buffering=1, encoding=sys.stderr.encoding,
                                   errors="replace")}
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        for fd in (1, 2):
            os.dup2(log, fd)
        _terminal.update(streams)
        yield log_path
    finally:
        _stop_ray()
        sys.stdout.flush()
        sys.stderr.flush()
        _terminal.clear()
        for fd in (1, 2):
            os.dup2(saved[fd], fd)
            os.close(saved[fd])
        os.close(log)
        for stream in streams.values():
            stream.close()


def _stop_ray() -> None:
    """Shut down the Ray this process started or joined, while its output still goes to the log: a
    raylet's warnings reach the driver late (one about the worker processes it had started was
    printed on the terminal after `symcorpus demo`'s summary)."""
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        ray.shutdown()
