"""Subprocess helpers shared by the benchmark phases."""

from __future__ import annotations

import subprocess
from typing import IO


def stop(proc: subprocess.Popen, log_file: IO) -> None:
    """Ask ``proc`` to end (SIGTERM), kill it if it is still there after 20 s; close its log."""
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log_file.close()
