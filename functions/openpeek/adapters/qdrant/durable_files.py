"""Durability of what the embedded store writes beside Qdrant Edge's own files (the vector sidecar, an index build's
renames): a file's contents, or the entries of a directory after a rename, reach the disk."""

from __future__ import annotations

import os
from pathlib import Path


def fsync_path(path: Path) -> None:
    """fsync a file or a directory by path; an error is the caller's (a write it cannot make durable has failed)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
