"""The wheel carries what the code reads at run time: installed in a fresh virtualenv and run outside
the checkout (as a Spark or Ray worker on a cluster runs it), annotating a real tune finds the
composer catalog, so the tune gets its composer and period."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

from symcorpus.music.abc_text import split_tunes

from tests.conftest import M21

ROOT = Path(__file__).resolve().parents[3]

# Run by the fresh venv's python: parse and annotate one ABC tune, print what came out.
ANNOTATE = """
import json, sys
import symcorpus
from symcorpus.music.annotate import annotate_piece
from symcorpus.music.parse import Limits, parse_piece

piece = parse_piece(open(sys.argv[1], "rb").read(), "abc", Limits())
row = annotate_piece(piece, "tune", source="files", path="tune.abc")
print(json.dumps({"file": symcorpus.__file__, "labels": row["labels"]}))
"""


def _run(*args: str, **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run(args, capture_output=True, text=True, **kwargs)
    assert done.returncode == 0, f"{args}\n{done.stdout}\n{done.stderr}"
    return done


@pytest.mark.integration
def test_installed_wheel_finds_its_composer_catalog(tmp_path):
    # Build from a copy of the sources, so the checkout gets no build/ or egg-info; offline, with the
    # setuptools already installed.
    source = tmp_path / "source"
    shutil.copytree(ROOT / "symcorpus", source / "symcorpus", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    wheels = tmp_path / "wheels"
    _run(sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-index", "--no-build-isolation",
         "-w", str(wheels), "-q")
    wheel = next(wheels.glob("symcorpus-*.whl"))

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    # Without the caller's PYTHONPATH: a checkout on it would make pip see symcorpus as installed already.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    _run(sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "-q", str(wheel),
         env=env)
    # The dependencies come from the shared environment without being installed again: a .pth line
    # appends its site-packages to sys.path, after the fresh one, and the .pth files there (the
    # editable install of the checkout) are not processed.
    fresh = Path(_run(str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").stdout.strip())
    shared = {os.path.realpath(sysconfig.get_paths()[k]) for k in ("purelib", "platlib")}
    (fresh / "shared_dependencies.pth").write_text("".join(p + "\n" for p in sorted(shared)))

    # A tune whose C: field names a catalog composer, and nothing else that would (no music21 path).
    tune = next(t for t in split_tunes((M21 / "josquin/laPlusDesPlus.abc").read_bytes()) if b"C: Josquin" in t.content)
    work = tmp_path / "work"
    work.mkdir()
    (work / "tune.abc").write_bytes(tune.content)
    out = json.loads(_run(str(python), "-c", ANNOTATE, "tune.abc", cwd=work, env=env).stdout.splitlines()[-1])

    assert Path(out["file"]).resolve().is_relative_to(env_dir.resolve()), out["file"]
    assert (out["labels"]["composer"], out["labels"]["period"]) == ("Josquin des Prez", "Renaissance")
