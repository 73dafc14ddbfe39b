"""Framework output goes to the log file, the command's own console to the terminal (cli/logs.py):
checked in a child process whose descriptors 1 and 2 are files, as a terminal would be."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

CHILD = textwrap.dedent("""
    import os, subprocess, sys, warnings
    from pathlib import Path
    from symcorpus.cli.logs import framework_output_to, terminal

    with framework_output_to(Path(sys.argv[1])) as log:
        assert log is not None
        os.write(2, b"native stderr of a framework\\n")  # a JVM or raylet writes to the descriptor
        subprocess.run(["sh", "-c", "echo child process output; echo child stderr >&2"], check=True)
        print("a framework's print")
        warnings.warn("a framework's warning")
        terminal("stderr").write("our progress line\\n")
        terminal("stdout").write("our result line\\n")
    print("after the block")
""")


def test_framework_output_goes_to_the_log_and_ours_to_the_terminal(tmp_path: Path):
    log = tmp_path / "logs" / "demo.log"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])}
    env.pop("SYMCORPUS_FRAMEWORK_LOGS", None)
    proc = subprocess.run([sys.executable, "-c", CHILD, str(log)], capture_output=True, text=True, env=env,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "our progress line\n"
    assert proc.stdout == "our result line\nafter the block\n"
    logged = log.read_text()
    for line in ("native stderr of a framework", "child process output", "child stderr", "a framework's print",
                 "a framework's warning"):
        assert line in logged
    assert "our" not in logged


def test_nothing_is_redirected_when_asked_or_when_streams_are_not_the_descriptors(tmp_path: Path):
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3]),
           "SYMCORPUS_FRAMEWORK_LOGS": "terminal"}
    child = CHILD.replace("assert log is not None", "assert log is None")
    proc = subprocess.run([sys.executable, "-c", child, str(tmp_path / "x.log")], capture_output=True, text=True,
                          env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "native stderr of a framework" in proc.stderr and not (tmp_path / "x.log").exists()
    # in this process pytest has replaced sys.stdout: nothing is redirected
    from symcorpus.cli.logs import framework_output_to

    with framework_output_to(tmp_path / "y.log") as log:
        assert log is None
    assert not (tmp_path / "y.log").exists()
