"""Which class-data archive a local JVM is told to map (spark/class_archive.py): only a whole one."""

from __future__ import annotations

import json

import pytest

from symcorpus.spark import class_archive


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv(class_archive.ENV_CACHE, str(tmp_path))
    return tmp_path


def _place(archive, data: bytes, recorded: int | None) -> None:
    archive.parent.mkdir(parents=True, exist_ok=True)
    archive.write_bytes(data)
    if recorded is not None:
        archive.with_suffix(".json").write_text(json.dumps({"bytes": recorded}))


def test_archive_is_keyed_by_pyspark_and_java(cache):
    import pyspark

    archive = class_archive.archive_path()
    assert archive.parent == cache / "jvm"
    assert archive.name.startswith(f"spark-{pyspark.__version__}-") and archive.suffix == ".jsa"


def test_no_archive_no_options(cache):
    assert class_archive.java_options() == ""


def test_a_whole_archive_is_mapped(cache):
    archive = class_archive.archive_path()
    _place(archive, b"x" * 1000, 1000)
    assert class_archive.java_options() == (f" -XX:SharedArchiveFile={archive} -Xlog:cds=off"
                                            " -Xlog:cds+dynamic=off")


@pytest.mark.parametrize("recorded", [2000, None], ids=["truncated", "never-finished"])
def test_a_partial_archive_is_not_mapped(cache, recorded):
    # A JVM that maps a truncated archive dies with a fatal error, so only the size its JVM wrote counts.
    _place(class_archive.archive_path(), b"x" * 1000, recorded)
    assert class_archive.java_options() == ""


def test_archives_nothing_will_map_again_are_superseded(cache, tmp_path):
    # Made for this PySpark's jars folder before (reinstalled), for a folder that is gone (a deleted
    # virtualenv), with no record: superseded. Made for another folder that is still there: kept.
    archive = class_archive.archive_path()
    _place(archive, b"x", None)
    archive.with_suffix(".json").write_text(json.dumps({"bytes": 1, "jars": str(class_archive.jars_dir())}))
    other_venv = tmp_path / "other-venv-jars"
    other_venv.mkdir()
    folders = {"spark-0.0.1-same.jsa": str(class_archive.jars_dir()), "spark-0.0.1-gone.jsa": str(tmp_path / "gone"),
               "spark-0.0.1-other.jsa": str(other_venv), "spark-0.0.1-unrecorded.jsa": None}
    for name, jars in folders.items():
        path = archive.parent / name
        path.write_bytes(b"x")
        if jars is not None:
            path.with_suffix(".json").write_text(json.dumps({"bytes": 1, "jars": jars}))
    stale = {p.name for p in class_archive.superseded(archive)}
    assert stale == {"spark-0.0.1-same.jsa", "spark-0.0.1-gone.jsa", "spark-0.0.1-unrecorded.jsa"}
