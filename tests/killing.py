"""Kill a CLI run with SIGKILL at a seeded random point, for the resume tests of every stage."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Callable

import numpy as np


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "codec2vec.cli", *args]


def kill_at_random_point(command: list[str], started: Callable[[], bool], seed: int, max_delay: float,
                         timeout: float = 120.0) -> bool:
    """Run `command`; once `started()` holds (some work is on disk), wait a delay drawn from
    [0, max_delay) s by `seed`, then SIGKILL the process and its children (workers die with it).
    Returns whether it was still running when killed (False: it finished first)."""
    proc = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + timeout
    while proc.poll() is None and not started() and time.time() < deadline:
        time.sleep(0.01)
    time.sleep(np.random.default_rng(seed).uniform(0.0, max_delay))
    running = proc.poll() is None
    if running:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    return running
