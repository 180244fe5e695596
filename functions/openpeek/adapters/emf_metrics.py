"""The Metrics port as CloudWatch embedded metric format (EMF) lines: on stdout in a Lambda, where CloudWatch Logs turns
them into metrics; appended to a file in the embedded runtime's data folder (a server's stdout may be a pipe nobody
drains), rotated at FILE_MAX_BYTES.

Each value is written when it is recorded (one EMF line per value), so a value is never lost with a thread or a
process that ends without flushing, and both runtimes write the same lines. The line is built here rather than by
Powertools' metric set: one metric with one dimension is a fixed shape, and its per-line schema validation cost more
than the rest of a retriever call's bookkeeping. (The handlers' own invocation metrics go through Powertools' Metrics,
handlers/bootstrap.py.)"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Callable

SERVICE_NAME = "openpeek"
FILE_MAX_BYTES = 10 * 1024 * 1024
FILE_BACKUPS = 3


def metrics_namespace() -> str:
    """`openpeek/<environment>` as the stacks set it; `openpeek/local` on a laptop."""
    return os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or f"{SERVICE_NAME}/local"


def _stdout_line(line: str) -> None:
    sys.stdout.write(line + "\n")


class RotatingLines:
    """Lines appended to `path` (each flushed as it is written), the file rotated to path.1 … path.N past max_bytes."""

    def __init__(self, path: Path, *, max_bytes: int = FILE_MAX_BYTES, backups: int = FILE_BACKUPS) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._path = path
        self._max_bytes = max_bytes
        self._backups = backups
        self._lock = threading.Lock()
        self._file = open(path, "a", encoding="utf-8")
        self._size = self._file.tell()

    def __call__(self, line: str) -> None:
        data = line + "\n"
        with self._lock:
            if self._size + len(data) > self._max_bytes and self._size:
                self._rotate()
            self._file.write(data)
            self._file.flush()
            self._size += len(data)

    def close(self) -> None:
        with self._lock:
            self._file.close()

    def _rotate(self) -> None:
        self._file.close()
        for number in range(self._backups - 1, 0, -1):
            older = self._path.with_name(f"{self._path.name}.{number}")
            if older.exists():
                older.replace(self._path.with_name(f"{self._path.name}.{number + 1}"))
        if self._backups:
            self._path.replace(self._path.with_name(f"{self._path.name}.1"))
        else:
            self._path.unlink(missing_ok=True)
        self._file = open(self._path, "a", encoding="utf-8")
        self._size = 0


def file_writer(path: Path) -> Callable[[str], None]:
    return RotatingLines(path)


class EmfMetrics:
    def __init__(self, namespace: str | None = None, write: Callable[[str], None] | None = None) -> None:
        self._namespace = namespace or metrics_namespace()
        self._service = os.environ.get("POWERTOOLS_SERVICE_NAME") or SERVICE_NAME
        self._write = write or _stdout_line

    def close(self) -> None:
        close = getattr(self._write, "close", None)
        if close is not None:
            close()

    def count(self, name: str, value: int = 1) -> None:
        self._record(name, "Count", value)

    def milliseconds(self, name: str, value: float) -> None:
        self._record(name, "Milliseconds", value)

    def _record(self, name: str, unit: str, value: float) -> None:
        self._write(json.dumps({
            "_aws": {"Timestamp": int(time.time() * 1000), "CloudWatchMetrics": [{
                "Namespace": self._namespace, "Dimensions": [["service"]], "Metrics": [{"Name": name, "Unit": unit}]}]},
            "service": self._service, name: [float(value)],
        }, separators=(",", ":")))
