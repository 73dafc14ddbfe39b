"""A Ray started while framework output is redirected is shut down before the terminal gets its
descriptors back (cli/logs.py): its raylet's late warnings land in the log, not after a command's
summary. Checked in a child process whose descriptors 1 and 2 are files, as a terminal would be."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

CHILD = textwrap.dedent("""
    import sys
    from pathlib import Path
    import ray
    from symcorpus.cli.logs import framework_output_to, terminal
    from symcorpus.train.ray_connect import connect_ray

    with framework_output_to(Path(sys.argv[1])) as log:
        assert log is not None
        connect_ray(num_cpus=1, include_dashboard=False)
        assert ray.get(ray.remote(lambda: 6 * 7).remote()) == 42
        terminal("stdout").write("our summary\\n")
    print("ray still up after the block:", ray.is_initialized())
""")


def test_ray_started_inside_the_block_is_shut_down_inside_it(tmp_path: Path):
    log = tmp_path / "demo.log"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])}
    env.pop("SYMCORPUS_FRAMEWORK_LOGS", None)
    proc = subprocess.run([sys.executable, "-c", CHILD, str(log)], capture_output=True, text=True, env=env,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout == "our summary\nray still up after the block: False\n"
    assert proc.stderr == ""  # nothing of Ray's reached the terminal
    assert log.stat().st_size > 0  # Ray's start-up lines went to the log instead
