"""Headless Chromium (Debian's `chromium`, installed by `make browser`) for tests that look at a page
as a person would: the DOM after the page's scripts ran, and a screenshot. No ports, a fresh profile
per call, no network (--virtual-time-budget lets audio and images load before the dump)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
         "--hide-scrollbars", "--virtual-time-budget=15000")


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        raise RuntimeError("chromium is not installed: run `make browser` (Debian's chromium package)")
    return found


def _run(page: Path, *args: str, timeout_s: float = 120.0) -> str:
    with tempfile.TemporaryDirectory(prefix="symcorpus-chromium-") as profile:
        proc = subprocess.run([chromium(), *FLAGS, f"--user-data-dir={profile}", *args, page.resolve().as_uri()],
                              capture_output=True, text=True, timeout=timeout_s, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"chromium exited {proc.returncode}: {proc.stderr[-2000:]}")
    return proc.stdout


def page_dom(page: Path) -> str:
    """The page's DOM as serialised after its scripts ran."""
    return _run(page, "--dump-dom")


def page_screenshot(page: Path, png: Path, width: int = 1280, height: int = 2400) -> Path:
    _run(page, f"--window-size={width},{height}", f"--screenshot={png.resolve()}")
    return png


class Elements(HTMLParser):
    """Every start tag of a DOM as (tag, attributes)."""

    def __init__(self, dom: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.feed(dom)

    def handle_starttag(self, tag, attrs) -> None:
        self.tags.append((tag, dict(attrs)))

    def of(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for t, attrs in self.tags if t == tag]
