"""Crash isolation: records taken through the step list in a forked child, so a record
that kills its process ends as one error row and every other record is kept.

Native code can take a process down where Python cannot catch it: a parser that segfaults or aborts
on a malformed file, the kernel's OOM killer on a pathological one. In a Spark task that process is
the Python worker, and its death fails the whole task. Here the worker forks a child that takes
the task's records through the steps, batch after batch:

  - the child starts with its first batch already in memory (copy-on-write: not serialised); each
    later batch reaches it pickled through a pipe. It runs exactly the steps an in-process run
    would, and sends its rows back as Arrow IPC through another pipe, a few at a time, with an
    empty batch when a batch is done;
  - before a record enters the steps, and before each step, the child writes the record's and the
    step's index into a page shared with the parent (a memory write, no system call per record);
  - when the child dies, waitpid says how (the signal, the exit status) and the shared page says
    which record, in which step. A record that kills two children (a second try tells a file that
    crashes the parser from a child killed from outside) becomes an error row of that step:
    `crashed: signal 11 (SIGSEGV)`, `out_of_memory: ...`, `timeout: ...`. A fresh child takes the
    rest of the batch, and the batches after it; rows the dead child had not sent yet are computed
    again, so every other record ends exactly as in an undisturbed run.

The same code runs in Spark's Python workers (steps/batches.py `run_steps`, what mapInArrow runs)
and in `steps.run_local`. Its cost is one fork per task (and per death), a pickled copy of the
input and an Arrow copy of the output rows: bench/guard_overhead.py measures it against the steps
in process.

Bounds the child runs under:
  memory  RLIMIT_AS at the child's size when a batch starts plus `max_record_memory`: an allocation
          past it fails (a MemoryError in Python, numpy, symusic), which the step makes an `out_of_memory`
          row (steps/base.py). The child also raises its oom_score_adj, so when the machine runs
          out of memory the kernel's OOM killer takes the child (one record) before the worker (a
          task); a SIGKILL that the cgroup counts as an OOM kill is `out_of_memory` too.
  time    a record still running after `hard_timeout_s` (native code that never returns to Python,
          so the parsers' own SIGALRM limits cannot fire) is killed by the parent: `timeout`.
  parent  PR_SET_PDEATHSIG: a child dies with its worker, so a killed task leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import hashlib
import mmap
import os
import pickle
import resource
import signal
import struct
import sys
import threading
import time
import traceback
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import pyarrow as pa
import symusic

from symcorpus import schema
from symcorpus.music.parse import preload
from symcorpus.steps import faults
from symcorpus.steps.base import PENDING, Piece, Step, chain
from symcorpus.steps.rows import to_batch

# The shared page: the index of the record in the steps (-1: between records), the index of the
# step it is in, and when the record entered (time.monotonic, the same clock in both processes).
SLOT = struct.Struct("<qqd")
FLUSH_ROWS = 64  # rows per message to the parent: what a death costs again, at most
# A child whose resident memory grew by more than this over its parent's is ended after its batch
# (glibc and the allocators keep what they freed): a pathological record's memory is not held for
# the rest of the task.
MAX_CHILD_GROWTH = 1 * 2**30
EXIT_OUT_OF_MEMORY, EXIT_BUG = 75, 70
OOM_SCORE_ADJ = 1000  # the child is the first the OOM killer takes: it holds one batch, not a task

_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


@dataclass(frozen=True)
class Bounds:
    """What one isolated record may take (config: ingest.max_record_memory, ingest.hard_timeout_s)."""

    max_record_memory: int = 4 * 2**30  # bytes of address space over the child's start; 0 = no bound
    hard_timeout_s: float = 600.0


class IsolationError(RuntimeError):
    """The isolated steps failed in a way no record explains: a bug, so the task fails."""


class Death(NamedTuple):
    index: int  # the record in the steps when the child died; -1: none
    step: int
    error: str  # "<reason>: <detail>"
    final: bool  # no second try: the cause would repeat (a time or memory bound)


def available() -> bool:
    return hasattr(os, "fork")


def die_with_parent(sig: int = signal.SIGKILL) -> None:
    """Have the kernel send `sig` to this process when its parent dies (Linux; elsewhere nothing)."""
    if _libc is not None:
        _libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)


class Isolated:
    """Batches of records through the steps in forked children: one child serves batch after batch
    until it dies or the batches end (`close`), and a death forks a fresh one.

    The first child starts with its batch in memory; later batches reach it pickled through a pipe
    (a few ms for 256 Lakh-size records). A child per batch paid its warm-up again on every batch:
    the pages of the worker's heap it writes to are copied one by one, so it ran its first records
    slower (bench/guard_overhead.py).
    """

    def __init__(self, steps: Sequence[Step], bounds: Bounds):
        self.steps, self.bounds = list(steps), bounds
        self.forks = 0  # children started: one, plus one per death
        self._child: _Child | None = None

    def __enter__(self) -> Isolated:
        return self

    def __exit__(self, *exc) -> None:
        self.close(kill=exc[0] is not None)

    def run(self, pieces: list[Piece]) -> pa.Table:
        """The pieces through the steps: one row per piece, in order (schema.PIECES)."""
        _warm_up(self.steps, pieces)
        todo = list(range(len(pieces)))
        received: list[tuple[list[int], list[pa.RecordBatch]]] = []  # (indices, their rows) per try
        crashed: dict[int, dict] = {}
        deaths: Counter = Counter()
        blind = 0
        while todo:
            batches, death = self._through_child(pieces, todo)
            n = sum(b.num_rows for b in batches)
            if batches:
                received.append((todo[:n], batches))
            todo = todo[n:]
            if death is None:
                if todo:
                    raise IsolationError(f"the isolated child was done with {len(todo)} records left")
                if self._child.growth() > MAX_CHILD_GROWTH:
                    self.close()  # what a large record made it allocate goes back to the machine
                break
            if death.index in todo:
                blind = 0
                deaths[death.index] += 1
                if death.final or deaths[death.index] >= 2:
                    piece = pieces[death.index]
                    piece.fail(self.steps[death.step].name, death.error)
                    crashed[death.index] = piece.row
                    todo.remove(death.index)
            else:  # between records (killed from outside, or while sending): not a record's doing
                blind = blind + 1 if n == 0 else 0
                if blind >= 2:
                    raise IsolationError(f"isolated children die outside any record ({death.error})")
        return _in_order(len(pieces), received, crashed)

    def _through_child(self, pieces: list[Piece], todo: list[int]) -> tuple[list[pa.RecordBatch], Death | None]:
        """What a child sent for the records `todo`; how it died, or None when it is done with them."""
        if self._child is None:
            self._child = _Child.fork(pieces, todo, self.steps, self.bounds)
            self.forks += 1
        else:
            self._child.send(pieces, todo)
        batches, done = self._child.receive()
        if done:
            return batches, None
        child, self._child = self._child, None
        return batches, child.reap()

    def close(self, kill: bool = False) -> None:
        """End the child: it exits when its input closes (or at once, `kill`)."""
        if self._child is not None:
            child, self._child = self._child, None
            child.end(kill)


_warmed: set[tuple[str, ...]] = set()
_preloaded: set[str] = set()


def _warm_up(steps: Sequence[Step], pieces: list[Piece]) -> None:
    """Build here, once, what the steps build on first use, so that every child inherits it instead
    of building it again, and losing it, once per batch (measured: ~0.3 s of CPU per child for
    pyarrow's import of pandas alone, ~1 s for music21's on a MusicXML batch). Two parts: the
    libraries the batch's formats import lazily (music/parse.preload), and one run of the steps and
    of the rows' conversion on a small score of our own (the composer catalog, MinHash permutations,
    caption phrases, rule tables, pyarrow's conversions)."""
    for fmt in {piece.row.get("format") for piece in pieces} - _preloaded:
        _preloaded.add(fmt)
        preload(fmt)
    names = tuple(step.name for step in steps)
    if not names or names in _warmed:
        return
    _warmed.add(names)
    score = symusic.Score(480)
    track = symusic.Track("warm-up", 0, False)
    for i, pitch in enumerate([60, 62, 64, 65, 67, 69, 71, 72] * 8):
        track.notes.append(symusic.Note(i * 480, 480, pitch, 80))
    score.tracks.append(track)
    midi = score.dumps_midi()
    status = PENDING if PENDING in steps[0].takes else schema.STATUS_OK
    piece = Piece({"status": status, "id": hashlib.sha256(midi).hexdigest(), "source": "warm-up",
                   "path": "warm-up.mid", "format": "midi", "size_bytes": len(midi), "content": midi})
    to_batch([p.row for p in chain([piece], steps)], schema.PIECES)


def _in_order(n: int, received: list[tuple[list[int], list[pa.RecordBatch]]], crashed: dict[int, dict]) -> pa.Table:
    batches = [b for _, bs in received for b in bs]
    if not crashed and len(received) <= 1:
        return pa.Table.from_batches(batches, schema.PIECES)
    indices = [i for idx, _ in received for i in idx] + sorted(crashed)
    batches.append(to_batch([crashed[i] for i in sorted(crashed)], schema.PIECES))
    table = pa.Table.from_batches(batches, schema.PIECES)
    position = {index: p for p, index in enumerate(indices)}
    return table.take([position[i] for i in range(n)])


class _Child:
    """The parent's side of one forked child: its pipes, the page it notes records in, its watchdog."""

    def __init__(self, pid: int, slot: mmap.mmap, to_child: int, from_child: int, bounds: Bounds, oom_kills: int):
        self.pid, self.slot, self.bounds = pid, slot, bounds
        self.oom_kills = oom_kills  # the cgroup's OOM kills before the current batch
        self.start_rss = _statm("self", RESIDENT)  # the parent's, which the child starts with
        self._sink = os.fdopen(to_child, "wb")
        self._stream = os.fdopen(from_child, "rb")
        self._reader: pa.ipc.RecordBatchStreamReader | None = None
        self.watchdog = _Watchdog(pid, slot, bounds.hard_timeout_s)
        self.watchdog.start()

    @classmethod
    def fork(cls, pieces: list[Piece], todo: list[int], steps: Sequence[Step], bounds: Bounds) -> _Child:
        """A child that starts on the records `todo` of `pieces`, already in its memory."""
        slot = mmap.mmap(-1, SLOT.size)  # anonymous and shared: the child's writes are the parent's reads
        SLOT.pack_into(slot, 0, -1, 0, 0.0)
        batch_read, batch_write = os.pipe()
        rows_read, rows_write = os.pipe()
        oom_kills = _oom_kills()
        parent = os.getpid()
        # Frozen, the objects the child inherits are left alone by its garbage collector: a collection
        # would touch (and so copy) every page of the parent's heap. Measured here: fork and a
        # collection in the child took 301 ms unfrozen, 45 ms frozen.
        # A heap already frozen (spark/daemon.py freezes its own before forking its workers) stays
        # frozen: unfreezing, which cannot be partial, handed the daemon's ~180K objects back to the
        # collector, and PySpark's worker runs a full collection after every task (~100 ms each).
        # The worker's objects frozen here are freed as usual when their references go; only cycles
        # among them would stay (the frozen count measured the same after each of 16 tasks).
        inherited_freeze = gc.get_freeze_count() > 0
        gc.freeze()
        pid = os.fork()
        if pid == 0:  # the child: never returns
            os.close(batch_write)
            os.close(rows_read)
            os._exit(_serve(pieces, todo, steps, bounds, slot, batch_read, rows_write, parent))
        if not inherited_freeze:
            gc.unfreeze()
        os.close(batch_read)
        os.close(rows_write)
        return cls(pid, slot, batch_write, rows_read, bounds, oom_kills)

    def send(self, pieces: list[Piece], todo: list[int]) -> None:
        """The next records for the child (a dead child's closed pipe shows in `receive`)."""
        self.oom_kills = _oom_kills()
        try:
            pickle.dump((todo, [pieces[i] for i in todo]), self._sink, protocol=pickle.HIGHEST_PROTOCOL)
            self._sink.flush()
        except BrokenPipeError:
            pass

    def receive(self) -> tuple[list[pa.RecordBatch], bool]:
        """Rows until the child says its records are done (True), or until its stream ends or is cut
        by its death (False)."""
        batches: list[pa.RecordBatch] = []
        try:
            if self._reader is None:
                self._reader = pa.ipc.open_stream(self._stream)
            while (batch := self._reader.read_next_batch()).num_rows:
                batches.append(batch)
            return batches, True  # an empty batch: done
        except (StopIteration, pa.ArrowInvalid, OSError, EOFError):
            return batches, False

    def growth(self) -> int:
        """Bytes of resident memory the child holds over what it started with."""
        return _statm(str(self.pid), RESIDENT) - self.start_rss

    def reap(self) -> Death:
        """How the child died (it is gone: its stream ended)."""
        status = self._wait()
        index, step, _ = SLOT.unpack_from(self.slot)
        death = _death(status, index, step, self.watchdog.fired, self.oom_kills, self.bounds)
        if death is None:
            raise IsolationError("the isolated child exited before its records were done")
        return death

    def end(self, kill: bool) -> None:
        if kill:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            self._sink.close()  # the child's next read ends: it exits
        self._wait()

    def _wait(self) -> int:
        for stream in (self._sink, self._stream):
            with contextlib.suppress(OSError):
                stream.close()
        _, status = os.waitpid(self.pid, 0)
        self.watchdog.stop()
        return status


def _death(status: int, index: int, step: int, timed_out: bool, oom_kills: int, bounds: Bounds) -> Death | None:
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
        return None
    if timed_out:
        return Death(index, step, f"timeout: still running after {bounds.hard_timeout_s:g} s, killed", True)
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig == signal.SIGKILL and _oom_kills() > oom_kills:
            return Death(index, step, "out_of_memory: killed by the kernel's OOM killer", True)
        return Death(index, step, f"crashed: signal {sig} ({signal.Signals(sig).name})", False)
    code = os.WEXITSTATUS(status)
    if code == EXIT_OUT_OF_MEMORY:
        return Death(index, step, "out_of_memory: the record needed more memory than it may use", True)
    if code == EXIT_BUG:
        raise IsolationError("the isolated steps raised an error outside any step (traceback on stderr)")
    return Death(index, step, f"crashed: exit status {code}", False)


class _Watchdog(threading.Thread):
    """Kills the child when one record has run past the hard time limit."""

    def __init__(self, pid: int, slot: mmap.mmap, limit_s: float):
        super().__init__(daemon=True)
        self.pid, self.slot, self.limit_s = pid, slot, limit_s
        self.done = threading.Event()
        self.fired = False

    def run(self) -> None:
        while not self.done.wait(min(self.limit_s / 4, 5.0)):
            index, _, entered = SLOT.unpack_from(self.slot)
            if index >= 0 and time.monotonic() - entered > self.limit_s:
                self.fired = True
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid, signal.SIGKILL)
                return

    def stop(self) -> None:
        self.done.set()
        self.join()


# --------------------------------------------------------------------------------------------------
# In the child


def _serve(pieces: Sequence[Piece] | dict[int, Piece], todo: list[int], steps: Sequence[Step], bounds: Bounds,
           slot: mmap.mmap, read_fd: int, write_fd: int, parent: int) -> int:
    """Run the steps over `todo`, then over each batch the parent sends, until its pipe closes:
    rows go back as they finish, and an empty batch ends each batch's rows. The exit status says
    how it went."""
    try:
        die_with_parent()
        if os.getppid() != parent:  # the parent died before the line above took effect
            return 1
        faults.worker_pid = parent
        _be_first_for_the_oom_killer()
        with (os.fdopen(read_fd, "rb") as source, os.fdopen(write_fd, "wb") as sink,
              pa.ipc.new_stream(sink, schema.PIECES) as writer):
            while True:
                if bounds.max_record_memory:  # a record's budget counts from the batch's start
                    _limit_address_space(bounds.max_record_memory)
                _send_rows(_tracked(pieces, todo, steps, slot), slot, writer, sink)
                writer.write_batch(to_batch([], schema.PIECES))
                sink.flush()
                pieces = todo = None  # the batch can go before the next one comes
                try:
                    todo, sent = pickle.load(source)
                except EOFError:  # the parent has no more
                    return 0
                pieces = dict(zip(todo, sent))
    except MemoryError:
        return EXIT_OUT_OF_MEMORY
    except BrokenPipeError:  # the parent is gone
        return 1
    except BaseException:
        traceback.print_exc()
        sys.stderr.flush()
        return EXIT_BUG


def _send_rows(pieces: Iterator[Piece], slot: mmap.mmap, writer: pa.ipc.RecordBatchStreamWriter, sink) -> None:
    rows: list[dict] = []
    for piece in pieces:
        rows.append(piece.row)
        piece.release()
        SLOT.pack_into(slot, 0, -1, 0, 0.0)
        if len(rows) >= FLUSH_ROWS:
            writer.write_batch(to_batch(rows, schema.PIECES))
            sink.flush()
            rows = []
    if rows:
        writer.write_batch(to_batch(rows, schema.PIECES))


def _tracked(pieces: Sequence[Piece] | dict[int, Piece], todo: list[int], steps: Sequence[Step], slot: mmap.mmap) -> Iterator[Piece]:
    """The steps chained lazily (one record in them at a time), noting the record and the step."""

    def entering(stream: Iterator[Piece], step_index: int) -> Iterator[Piece]:
        for piece in stream:
            struct.pack_into("<q", slot, 8, step_index)
            yield piece

    def records() -> Iterator[Piece]:
        for i in todo:
            SLOT.pack_into(slot, 0, i, 0, time.monotonic())
            yield pieces[i]

    stream: Iterator[Piece] = records()
    for j, step in enumerate(steps):
        stream = step.run(entering(stream, j) if j else stream)
    return stream


SIZE, RESIDENT = 0, 1  # fields of /proc/<pid>/statm


def _statm(pid: str, field: int) -> int:
    """A process's total (SIZE) or resident (RESIDENT) memory in bytes (Linux /proc; 0 elsewhere)."""
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[field]) * resource.getpagesize()
    except (OSError, IndexError, ValueError):
        return 0


def _limit_address_space(budget: int) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = _statm("self", SIZE) + budget
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _be_first_for_the_oom_killer() -> None:
    try:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write(str(OOM_SCORE_ADJ))
    except OSError:  # not Linux, or not allowed: the bound above still holds
        pass


def _oom_kills() -> int:
    """How many processes the kernel's OOM killer took in this process's cgroup (v2); 0 if unknown."""
    try:
        with open("/proc/self/cgroup") as f:
            path = next(line.split("::", 1)[1].strip() for line in f if line.startswith("0::"))
        with open(f"/sys/fs/cgroup{path.rstrip('/')}/memory.events") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("oom_kill "))
    except (OSError, StopIteration, ValueError, IndexError):
        return 0
