"""Jobs that only the tests register: they leave a trace in a file, fail or take their time.

The test process imports this module, and so do the workers (`docservice worker --import`).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from docservice.jobs.registry import job


def _note(path: str, line: str) -> list[str]:
    with Path(path).open("a", encoding="utf-8") as f:
        f.write(f"{line} {os.getpid()} {time.time():.3f}\n")
    return Path(path).read_text(encoding="utf-8").splitlines()


@job("test_touch")
def touch(rt: Any, path: str) -> None:
    """Append one line: what the test counts."""
    _note(path, "ran")


@job("test_fail")
def fail(rt: Any, path: str) -> None:
    """Fail every time, until a file `<path>.stop` exists."""
    _note(path, "attempt")
    if not Path(path + ".stop").exists():
        raise RuntimeError("deliberate failure for the test")


@job("test_slow")
def slow(rt: Any, path: str, seconds: float) -> None:
    """Take `seconds` the first time (long enough to be killed), no time on later runs."""
    lines = _note(path, "started")
    if len(lines) == 1:
        time.sleep(seconds)
    _note(path, "done")
