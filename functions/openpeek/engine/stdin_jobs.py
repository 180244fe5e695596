"""`python -m openpeek.engine.stdin_jobs`: the embedded runtime's long-lived engine process. Reads one job per line on
stdin ({"input": dir, "output": dir}) and answers one line on stdout, prefixed with MARKER so that anything a library
prints there is ignored: {"status": "ok", "summary": ...} | {"status": "refused" | "crashed", "error": ...}."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import traceback
from pathlib import Path

MARKER = "OPENPEEK-ENGINE "


def answer(message: dict) -> None:
    sys.stdout.write(MARKER + json.dumps(message, default=str) + "\n")
    sys.stdout.flush()


def exit_when_orphaned(parent: int, every_s: float = 0.5) -> None:
    """End this process once its server is gone: a server killed outright (kill -9, OOM) closes no pipe this process
    is reading while a job runs, and the job could hold gigabytes for minutes. An orphan is re-parented, so its
    parent id changes."""
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(every_s)
        os._exit(3)

    threading.Thread(target=watch, name="openpeek-engine-orphan-watch", daemon=True).start()


PARENT_ENV = "OPENPEEK_ENGINE_PARENT"
"""The server's process id, passed by the server: read from os.getppid() after this module's imports, it could
already be the id of whatever adopted this process."""


def main() -> int:
    exit_when_orphaned(int(os.environ.get(PARENT_ENV) or os.getppid()))
    from openpeek.engine.processing import run_job

    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        input_dir, output_dir = Path(request["input"]), Path(request["output"])
        try:
            files = sorted(input_dir.glob("*.parquet"))
            if not files:
                raise ValueError(f"no *.parquet input in {input_dir}")
            job_file = input_dir / "job.json"
            parameters = json.loads(job_file.read_text()) if job_file.exists() else {}
            answer({"status": "ok", "summary": run_job(files, parameters, output_dir)})
        except ValueError as error:  # the engine's input errors: the user's to fix
            answer({"status": "refused", "error": str(error)})
        except Exception as error:  # noqa: BLE001 - the job fails; this process lives on for the next one
            answer({"status": "crashed", "error": f"{type(error).__name__}: {error}",
                    "traceback": traceback.format_exc()[-1500:]})
    return 0


if __name__ == "__main__":
    sys.exit(main())
