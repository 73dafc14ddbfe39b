"""Crash isolation without Spark: real deaths (a segfault, an abort, a memory budget, a child killed
from outside, a record that never returns) on one chosen file of a batch, through `run_local`.

Each test takes a few seconds: 25 small MIDI files, batches of 8, one forked child for them all
(and one more per death).
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from symcorpus import schema
from symcorpus.config import Settings
from symcorpus.music.abc_text import split_tunes
from symcorpus.music.convert import to_midi
from symcorpus.steps import faults, run_local

from tests.conftest import M21
from tests.processes import wait_for

CHOSEN = "tune05.mid"


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("guard")
    for tune in split_tunes((M21 / "airdsAirs/book2.abc").read_bytes())[:24]:
        (root / f"tune{tune.index:02d}.mid").write_bytes(to_midi(tune.content, "abc"))
    (root / "truncated.mid").write_bytes((root / "tune01.mid").read_bytes()[:40])
    return root


def settings(**ingest) -> Settings:
    s = Settings()
    s.spark.arrow_batch_size = 8
    for key, value in ingest.items():
        setattr(s.ingest, key, value)
    return s


def by_path(rows: list[dict]) -> dict[str, dict]:
    return {r["path"]: r for r in rows}


@pytest.fixture(scope="module")
def undisturbed(source) -> dict[str, dict]:
    rows, _ = run_local([str(source)], settings(isolate_records=False))
    return by_path(rows)


@pytest.fixture
def fault(monkeypatch, source):
    """Set a fault on the chosen file (as SYMCORPUS_TEST_FAULT would, read at import)."""
    content_id = hashlib.sha256((source / CHOSEN).read_bytes()).hexdigest()

    def set_fault(spec: str) -> None:
        monkeypatch.setattr(faults, "FAULTS", faults.parse_faults(spec.replace("<id>", content_id)))

    return set_fault


def assert_only_chosen_differs(rows: list[dict], undisturbed: dict[str, dict]) -> dict:
    got = by_path(rows)
    assert got.keys() == undisturbed.keys()
    for path, row in got.items():
        if path != CHOSEN:
            assert row == undisturbed[path], path  # every other record exactly as without isolation
    return got[CHOSEN]


def test_isolated_rows_equal_rows_in_process(source, undisturbed):
    rows, _ = run_local([str(source)], settings())
    assert by_path(rows) == undisturbed


@pytest.mark.parametrize("action, error", [("segv", "crashed: signal 11 (SIGSEGV)"),
                                           ("abort", "crashed: signal 6 (SIGABRT)")])
def test_a_file_that_kills_its_process_is_one_error_row(source, undisturbed, fault, action, error):
    fault(f"{action}:<id>")
    rows, counts = run_local([str(source)], settings())
    chosen = assert_only_chosen_differs(rows, undisturbed)
    assert (chosen["status"], chosen["stage"], chosen["error"]) == (schema.STATUS_ERROR, "parse", error)
    assert counts["parse"]["errors"] == {"bad_midi": 1, "crashed": 1}


def test_memory_budget_makes_out_of_memory(source, undisturbed, fault):
    fault("oom:<id>")
    rows, _ = run_local([str(source)], settings(max_record_memory=256 * 2**20))
    chosen = assert_only_chosen_differs(rows, undisturbed)
    assert chosen["status"] == schema.STATUS_ERROR and chosen["error"].startswith("out_of_memory:")


def test_a_child_killed_from_outside_costs_nothing(source, undisturbed, fault, tmp_path):
    marker = tmp_path / "held"
    fault(f"hold:<id>:{marker}")
    killed = []

    def killer() -> None:
        pid = int(wait_for(lambda: marker.exists() and marker.read_text().split()).pop(0))
        os.kill(pid, signal.SIGKILL)  # the isolated child, as an operator's kill -9 would
        killed.append(pid)

    thread = threading.Thread(target=killer)
    thread.start()
    rows, _ = run_local([str(source)], settings())
    thread.join()
    assert killed and killed[0] != os.getpid()
    assert by_path(rows) == undisturbed  # one death is a second try, not an error row


def test_a_record_that_never_returns_is_killed_as_a_timeout(source, undisturbed, fault, tmp_path):
    fault(f"hold:<id>:{tmp_path / 'held'}")
    # 3 s: every other record takes a few ms, and must not be killed for a stall on a busy machine.
    rows, _ = run_local([str(source)], settings(hard_timeout_s=3.0))
    chosen = assert_only_chosen_differs(rows, undisturbed)
    assert chosen["error"] == "timeout: still running after 3 s, killed"


def _batches_through(isolated, source: Path, size: int) -> list[dict]:
    from symcorpus.sources.listing import list_sources
    from symcorpus.steps.read import Read

    s = settings()
    listed = list_sources([str(source)], s.ingest)
    pieces = list(Read(s.ingest.max_bytes, listed.contexts).run(vars(u) for u in listed.all_units()))
    assert len(pieces) > 2 * size
    return [row for i in range(0, len(pieces), size) for row in isolated.run(pieces[i : i + size]).to_pylist()]


def test_one_child_serves_every_batch_until_a_record_kills_it(source, undisturbed, fault):
    from symcorpus.steps import build_steps, guard

    with guard.Isolated(build_steps(settings()), guard.Bounds()) as isolated:
        rows = _batches_through(isolated, source, 8)
        assert isolated.forks == 1  # four batches, one child
    assert by_path(rows) == undisturbed
    fault("segv:<id>")
    with guard.Isolated(build_steps(settings()), guard.Bounds()) as isolated:
        rows = _batches_through(isolated, source, 5)  # the chosen file is in the second batch
        # One child until the chosen record, one for its second try, one for the rest.
        assert isolated.forks == 3
    assert assert_only_chosen_differs(rows, undisturbed)["error"] == "crashed: signal 11 (SIGSEGV)"


def test_a_child_grown_past_its_bound_is_ended_after_its_batch(source, undisturbed, monkeypatch):
    from symcorpus.steps import build_steps, guard

    monkeypatch.setattr(guard, "MAX_CHILD_GROWTH", -2**40)  # every child counts as grown too much
    with guard.Isolated(build_steps(settings()), guard.Bounds()) as isolated:
        rows = _batches_through(isolated, source, 8)
        assert isolated.forks == 4  # a child per batch
    assert by_path(rows) == undisturbed


def test_faults_fire_only_when_named_exactly():
    assert faults.parse_faults(None) == () and faults.parse_faults("") == ()
    for bad in ["segv", "segv:abc", "segv:" + "0" * 63, "hold:" + "0" * 64, "explode:" + "0" * 64, "kill:"]:
        with pytest.raises(ValueError):
            faults.parse_faults(bad)
    both = faults.parse_faults("segv:" + "a" * 64 + ",kill:publish-swap")
    assert [f.action for f in both] == ["segv", "kill"]


def test_a_compressed_score_that_unpacks_past_max_bytes_is_too_large_unread():
    import io
    import zipfile

    from symcorpus.music.parse import Limits
    from symcorpus.steps import Parse, Piece

    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("score.xml", b"<score-partwise>" + b" " * (4 * 2**20) + b"</score-partwise>")
    content = packed.getvalue()
    assert len(content) < 2**20 // 10  # small on disk, 4 MiB unpacked
    piece = Piece({"status": "pending", "id": hashlib.sha256(content).hexdigest(), "source": "s", "path": "bomb.mxl",
                   "format": "musicxml", "content": content})
    list(Parse(Limits(max_bytes=2**20)).run([piece]))
    assert piece.row["error"].startswith("too_large: unpacks to 4194") and piece.row["stage"] == "parse"


WARM_CHILD = """
import json, sys
from symcorpus import schema
from symcorpus.config import Settings
from symcorpus.sources.listing import list_sources
from symcorpus.steps import build_steps, guard
from symcorpus.steps.base import chain
from symcorpus.steps.read import Read
from symcorpus.steps.rows import to_batch

settings = Settings()
listed = list_sources([sys.argv[1]], settings.ingest)
pieces = list(Read(settings.ingest.max_bytes, listed.contexts).run(vars(u) for u in listed.all_units()))
steps = build_steps(settings)
guard._warm_up(steps, pieces)
before = set(sys.modules)
rows = [p.row for p in chain(pieces, steps)]  # what a forked child does with the batch
to_batch(rows, schema.PIECES)
print(json.dumps({"imported": sorted(set(sys.modules) - before),
                  "ok": sorted(r["format"] for r in rows if r["status"] == "ok")}))
"""


def test_a_child_imports_nothing_its_parent_has_not(source, tmp_path):
    """The worker's warm-up imports what the batch's steps and the rows' conversion import lazily
    (pyarrow's pandas, music21 for MusicXML, numpy's FFT), so no forked child pays for it again."""
    for name in ("tune01.mid", "tune02.mid"):
        (tmp_path / name).write_bytes((source / name).read_bytes())
    (tmp_path / "airs.abc").write_bytes(b"\n\n".join(t.content for t in split_tunes(
        (M21 / "airdsAirs/book2.abc").read_bytes())[:3]))
    (tmp_path / "chorale.mxl").write_bytes((M21 / "bach/bwv66.6.mxl").read_bytes())
    # A fresh interpreter: this test process has imported everything long ago.
    done = subprocess.run([sys.executable, "-c", WARM_CHILD, str(tmp_path)], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[3], check=True)
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["ok"] == ["abc", "abc", "abc", "midi", "midi", "musicxml"]
    assert report["imported"] == []


FROZEN_PARENT = """
import gc, json, sys
from symcorpus.config import Settings
from symcorpus.sources.listing import list_sources
from symcorpus.steps import build_steps, guard
from symcorpus.steps.read import Read

settings = Settings()
listed = list_sources([sys.argv[1]], settings.ingest)
pieces = list(Read(settings.ingest.max_bytes, listed.contexts).run(vars(u) for u in listed.all_units()))
steps = build_steps(settings)
bounds = guard.Bounds(settings.ingest.max_record_memory, settings.ingest.hard_timeout_s)
counts = []
for daemon_froze in (False, True):
    if daemon_froze:
        gc.freeze()  # what spark/daemon.py does before it forks its workers
    with guard.Isolated(steps, bounds) as isolated:
        rows = isolated.run(pieces)
    counts.append(gc.get_freeze_count())
print(json.dumps({"rows": rows.num_rows, "frozen": counts}))
"""


def test_a_heap_frozen_before_the_steps_stays_frozen(source, tmp_path):
    """A worker forked by spark/daemon.py inherits a frozen heap: forking a child must not hand it back
    to the collector (PySpark's worker collects after every task), while a process that had frozen
    nothing is left with nothing frozen."""
    for name in ("tune01.mid", "tune02.mid"):
        (tmp_path / name).write_bytes((source / name).read_bytes())
    done = subprocess.run([sys.executable, "-c", FROZEN_PARENT, str(tmp_path)], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[3], check=True)
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["rows"] == 2
    assert report["frozen"][0] == 0 and report["frozen"][1] > 10_000
