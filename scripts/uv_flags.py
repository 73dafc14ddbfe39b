"""Print `uv pip install` flags that say what pip is configured with (index, extra indexes, local
wheel folders, constraints, CA bundle), so that `make` installs from the same places with uv as it
would with pip: uv reads neither pip.conf nor PIP_* variables. Prints nothing where pip is left at
its defaults."""

from __future__ import annotations

import shlex
import subprocess
import sys

# pip's option -> uv's; uv takes a list option once per value.
OPTIONS = {
    "index-url": "--index-url",
    "extra-index-url": "--extra-index-url",
    "find-links": "--find-links",
    "constraint": "--constraint",
    "cert": "--cert",
}


def pip_settings() -> dict[str, list[str]]:
    """pip's settings as `pip config list` shows them ('scope.option='value'' lines, the
    environment's PIP_* variables as ':env:.option'); a later scope's value wins."""
    out = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True).stdout
    settings: dict[str, list[str]] = {}
    for line in out.splitlines():
        key, _, value = line.partition("=")
        option = key.rpartition(".")[2]
        if option in OPTIONS and value:
            settings[option] = shlex.split(value.strip("'\"")) if option != "cert" else [value.strip("'\"")]
    return settings


def main() -> None:
    flags = [f"{OPTIONS[option]}={value}" for option, values in pip_settings().items() for value in values]
    print(" ".join(shlex.quote(f) for f in flags))


if __name__ == "__main__":
    main()
