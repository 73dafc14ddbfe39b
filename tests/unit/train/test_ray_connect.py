"""The module that Ray imports in every worker process of a local start (for its set-up hook) stays
light: a hook beside the training code made each worker import PyTorch first, ~2 s of CPU each."""

from __future__ import annotations

import subprocess
import sys

from symcorpus.train.ray_connect import connect_ray, quiet_state_api_warning


def test_the_worker_hook_module_imports_neither_torch_nor_ray():
    code = ("import sys, symcorpus.train.ray_connect as m; m.quiet_state_api_warning(); "
            "print(' '.join(n for n in ('torch', 'ray', 'pyarrow', 'numpy') if n in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == []


def test_the_hook_is_the_one_a_local_start_names():
    # connect_ray names the hook by its module path; the function must live there.
    assert quiet_state_api_warning.__module__ == connect_ray.__module__ == "symcorpus.train.ray_connect"
