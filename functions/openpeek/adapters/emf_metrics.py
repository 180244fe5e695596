"""The Metrics port as CloudWatch embedded metric format (EMF) lines, built by Powertools: on stdout in a Lambda, where
CloudWatch Logs turns them into metrics; into a rotating file in the embedded runtime's data folder (a server's stdout
may be a pipe nobody drains).

Each value is written when it is recorded (one EMF line per value), so a value is never lost with a thread or a
process that ends without flushing, and both runtimes write the same lines."""

from __future__ import annotations

import json
import logging
import logging.handlers
import os
import sys
import threading
from pathlib import Path
from typing import Callable

from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

SERVICE_NAME = "openpeek"
FILE_MAX_BYTES = 10 * 1024 * 1024
FILE_BACKUPS = 3


def metrics_namespace() -> str:
    """`openpeek/<environment>` as the stacks set it; `openpeek/local` on a laptop."""
    return os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or f"{SERVICE_NAME}/local"


def _stdout_line(line: str) -> None:
    sys.stdout.write(line + "\n")


def file_writer(path: Path) -> Callable[[str], None]:
    """Lines appended to `path`, rotated at FILE_MAX_BYTES (FILE_BACKUPS old files kept)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sink = logging.getLogger(f"openpeek.metrics.{path}")
    sink.propagate = False  # EMF lines are not log records of the service
    sink.setLevel(logging.INFO)
    if not sink.handlers:
        sink.addHandler(logging.handlers.RotatingFileHandler(path, maxBytes=FILE_MAX_BYTES, backupCount=FILE_BACKUPS,
                                                             encoding="utf-8"))
    return sink.info


class EmfMetrics:
    def __init__(self, namespace: str | None = None, write: Callable[[str], None] | None = None) -> None:
        self._metrics = EphemeralMetrics(namespace=namespace or metrics_namespace(),
                                         service=os.environ.get("POWERTOOLS_SERVICE_NAME") or SERVICE_NAME)
        self._write = write or _stdout_line
        self._lock = threading.Lock()

    def count(self, name: str, value: int = 1) -> None:
        self._record(name, MetricUnit.Count, value)

    def milliseconds(self, name: str, value: float) -> None:
        self._record(name, MetricUnit.Milliseconds, value)

    def _record(self, name: str, unit: MetricUnit, value: float) -> None:
        with self._lock:
            self._metrics.add_metric(name=name, unit=unit, value=value)
            line = json.dumps(self._metrics.serialize_metric_set(), separators=(",", ":"))
            self._metrics.clear_metrics()
        self._write(line)
