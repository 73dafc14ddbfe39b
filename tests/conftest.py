"""Shared fixtures: one embedded Spark for the session, and real files from music21's corpus.

MIDI files are made from music21's ABC tunes by the project's own converter (music/convert.py).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from symcorpus.music.abc_text import split_tunes
from symcorpus.music.convert import to_midi
from symcorpus.sources.music21 import corpus_root as music21_corpus_root
from symcorpus.config import Settings

M21 = music21_corpus_root()

# Ray renices its worker processes to 15; beside the other xdist workers' Spark executors (nice 0)
# they would get a few percent of a core, and a Ray Data read that takes 13 s alone took 190 s.
os.environ.setdefault("RAY_worker_niceness", "0")
# The tests start dozens of short-lived Spark JVMs on small data, where the JIT's optimising tier and
# parallel GC threads cost more CPU than they save (a 4-file CLI build under load: 51-58 s -> 45-48 s).
os.environ.setdefault("SPARK_SUBMIT_OPTS", "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC")

# Small real files of each format (MusicXML and Humdrum are slow to parse, so few and small).
ABC_FILES = ["nottingham-dataset/reelsa-c.abc", "josquin/laPlusDesPlus.abc", "josquin/milleRegrets.abc"]
MUSICXML_FILES = ["bach/bwv10.7.mxl", "bach/bwv1.6.mxl"]
HUMDRUM_FILES = ["bach/bwv281.krn", "bach/bwv366.krn"]


def make_settings(**ingest) -> Settings:
    settings = Settings()
    settings.spark.master = "local[2]"
    settings.spark.driver_memory = "2g"
    for key, value in ingest.items():
        setattr(settings.ingest, key, value)
    return settings


@pytest.fixture(scope="session")
def spark():
    from symcorpus.spark.session import spark_session

    session = spark_session(make_settings().spark)
    yield session
    session.stop()


@pytest.fixture(scope="session")
def midi_from_abc() -> list[tuple[str, bytes]]:
    """Twelve real MIDI files: the first tunes of a music21 ABC collection, converted by our code."""
    tunes = split_tunes((M21 / "airdsAirs/book2.abc").read_bytes())[:12]
    return [(f"book2_tune{t.index:02d}.mid", to_midi(t.content, "abc")) for t in tunes]


@pytest.fixture(scope="session")
def real_dir(tmp_path_factory, midi_from_abc) -> Path:
    """A directory of real files in every format, nested, plus one non-music file."""
    root = tmp_path_factory.mktemp("real")
    for rel in ABC_FILES + MUSICXML_FILES + HUMDRUM_FILES:
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(M21 / rel, target)
    (root / "midi" / "nested").mkdir(parents=True)
    for i, (name, data) in enumerate(midi_from_abc):
        folder = root / "midi" / ("nested" if i % 3 == 0 else "")
        (folder / name).write_bytes(data)
    # Recognised by content alone: a MIDI file without an extension (another tune of the book).
    tune = split_tunes((M21 / "airdsAirs/book2.abc").read_bytes())[40]
    (root / "midi" / "no_extension").write_bytes(to_midi(tune.content, "abc"))
    (root / "README.txt").write_text("not music\n")
    return root


# `make test` runs two pytest-xdist workers, one per core: the machine is CPU-bound throughout, and
# a third worker only added contention (pytest 683 and 700 s with three, 646 s with two; four were
# slower still). --dist loadgroup keeps each test file on one worker (its module fixtures, e.g.
# builds, run once), and every file that starts Ray shares one group, so no two Ray instances (and
# no `ray stop` of the two-node test) ever overlap.
RAY_FILES = {"test_dvc", "test_logs_ray", "test_ray_cluster", "test_tokenize_job", "test_train"}


def xdist_group(item) -> str:
    module = item.module.__name__.rsplit(".", 1)[-1]
    return "ray" if module in RAY_FILES else module


# tryfirst: xdist reads the marks in its own modifyitems hook, which would otherwise run before this one.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    for item in items:
        if "integration" in item.path.parts:  # tests/integration/...: the slow tier
            item.add_marker(pytest.mark.integration)
        item.add_marker(pytest.mark.xdist_group(xdist_group(item)))
    # No order of our own: xdist starts the groups with the most tests first. Ordering them by their
    # time instead (the Ray group and the big builds first) made CI runs slower (649 and 706 s of
    # pytest against 633 s): the machine is CPU-bound throughout, and the long groups then all start
    # their JVMs and Ray at once.
