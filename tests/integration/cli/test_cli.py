"""The `symcorpus` command as a user runs it: clear one-line errors, and a real build."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import M21

SYMCORPUS = [sys.executable, "-m", "symcorpus.cli"]


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200"}
    # The timeout guards against a hang; it is no measure of speed (a loaded machine is slow).
    return subprocess.run(SYMCORPUS + list(args), capture_output=True, text=True, cwd=cwd, env=env, timeout=900)


def assert_one_line_error(proc: subprocess.CompletedProcess, words: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and words in lines[0], proc.stderr


def test_missing_source_is_one_clear_line(tmp_path):
    assert_one_line_error(run("build", str(tmp_path / "nope"), "--out", str(tmp_path / "out")), "source not found")


def test_unsupported_source_file(tmp_path):
    (tmp_path / "song.mid").write_bytes(b"MThd")
    assert_one_line_error(run("build", str(tmp_path / "song.mid"), "--out", str(tmp_path / "o")), "neither a directory")


def test_existing_output_without_overwrite(tmp_path):
    (tmp_path / "out").mkdir()
    assert_one_line_error(run("build", str(tmp_path), "--out", str(tmp_path / "out")), "output exists")


def test_unknown_params_key(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text("ingest:\n  max_byts: 10\n")
    assert_one_line_error(run("build", str(tmp_path), "--out", str(tmp_path / "o"), "--params", str(params)),
                          "unknown key(s) max_byts")


def test_missing_params_file(tmp_path):
    assert_one_line_error(run("build", str(tmp_path), "--out", str(tmp_path / "o"), "--params", str(tmp_path / "p.yaml")),
                          "params file not found")


def test_build_command_publishes_and_prints_a_summary(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "reels.abc").write_bytes((M21 / "nottingham-dataset/reelsa-c.abc").read_bytes())
    (src / "chorale.krn").write_bytes((M21 / "bach/bwv281.krn").read_bytes())
    (src / "broken.mid").write_bytes(b"MThd\x00\x00\x00\x06garbage")
    params = tmp_path / "params.yaml"
    params.write_text("spark:\n  master: local[1]\n  driver_memory: 1g\n")
    proc = run("build", str(src), "--out", str(tmp_path / "out"), "--params", str(params))
    assert proc.returncode == 0, proc.stderr
    assert "input 4 = kept 3 + duplicates 0 + rejected 0 + errors 1" in proc.stderr
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["counts"]["kept"] == 3 and manifest["counts"]["errors"] == 1
    assert manifest["params"]["spark"]["master"] == "local[1]"
