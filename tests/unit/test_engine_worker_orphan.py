"""The engine worker process ends when the server that started it dies without closing anything (kill -9), even in
the middle of a job, when it reads nothing from the server that could tell it so."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.slow

BUSY_WORKER = """
import os, time
from openpeek.engine.stdin_jobs import PARENT_ENV, exit_when_orphaned
exit_when_orphaned(int(os.environ[PARENT_ENV]), every_s=0.1)
time.sleep(600)  # a long job: nothing read from the server meanwhile
"""
STARTS_A_WORKER = f"""
import os, subprocess, sys
from openpeek.engine.stdin_jobs import PARENT_ENV
worker = subprocess.Popen([sys.executable, "-c", {BUSY_WORKER!r}], stdin=subprocess.DEVNULL,
                          env={{**os.environ, PARENT_ENV: str(os.getpid())}})
print(worker.pid, flush=True)
sys.stdin.read()  # stays alive until killed
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for our purpose (it holds no memory); its parent (init) reaps it.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ")[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_the_engine_worker_exits_when_its_server_is_killed():
    server = subprocess.Popen([sys.executable, "-c", STARTS_A_WORKER], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, env=os.environ.copy())
    worker_pid = int(server.stdout.readline())
    assert alive(worker_pid)
    server.send_signal(signal.SIGKILL)
    server.wait()
    deadline = time.monotonic() + 60  # a bound on the wait, not a measurement
    while alive(worker_pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    survived = alive(worker_pid)
    state = open(f"/proc/{worker_pid}/stat").read()[:60] if survived else ""
    if survived:
        os.kill(worker_pid, signal.SIGKILL)
    assert not survived, state
