"""`openpeek optimize` beside a running `openpeek serve`: the CLI hands the build to the server through the data dir.

Qdrant Edge locks a shard's write-ahead log per process, so while a server runs only the server can build a
collection's HNSW index. Rather than a new HTTP route (which would need an administrator credential the CLI does not
have), the CLI and the server meet where both already have authority: the data directory.

- `ServerLock`: `openpeek serve` holds an exclusive flock on `<data_dir>/serve.lock` for its lifetime. The kernel drops
  it when the process dies, however it dies, so "is a server running on this data dir" never reads a stale answer.
- `BuildRequests`: the CLI writes a request (`<data_dir>/index-builds/<id>.request.json`: one collection, or all); the
  server's scheduler claims it (a rename, so exactly one claimer), builds each collection on a thread of its own, and
  rewrites `<id>.status.json` (by rename, never half-written) as each collection goes waiting → building → done |
  failed. The CLI polls that file, prints each change, and exits when every collection is done.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
import time
import uuid
from pathlib import Path
from typing import IO, Any, Callable

LOCK_FILE = "serve.lock"
REQUESTS_DIRECTORY = "index-builds"
FINISHED_KEPT_S = 24 * 3600  # a finished request's files are removed this long after it ended


class ServerLock:
    """The flock `openpeek serve` holds on its data dir."""

    def __init__(self, data_dir: Path) -> None:
        self._path = Path(data_dir) / LOCK_FILE
        self._file: IO[str] | None = None

    def hold(self) -> None:
        """Take the lock for this process's lifetime; ValueError when another server holds it."""
        self._path.parent.mkdir(parents=True, exist_ok=True)
        file = open(self._path, "a+")  # noqa: SIM115 - held open until release()
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            file.close()
            raise ValueError(f"another openpeek server is running on {self._path.parent}") from None
        file.seek(0)
        file.truncate()
        file.write(f"{os.getpid()}\n")
        file.flush()
        self._file = file

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None

    def held_elsewhere(self) -> bool:
        """Whether a running server holds the lock (False while this process holds it)."""
        if self._file is not None or not self._path.exists():
            return False
        with open(self._path, "a+") as file:
            try:
                fcntl.flock(file, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(file, fcntl.LOCK_UN)
            return False


def _write_json(path: Path, value: dict[str, Any]) -> None:
    scratch = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
    scratch.write_text(json.dumps(value))
    os.replace(scratch, path)


class BuildRequests:
    """Index build requests under `<data_dir>/index-builds/`: submitted by the CLI, served by the server."""

    def __init__(self, data_dir: Path) -> None:
        self._directory = Path(data_dir) / REQUESTS_DIRECTORY

    # -- the CLI's side ----------------------------------------------------------------------------------------------

    def submit(self, collection: str | None) -> str:
        """Queue a build of one collection (None: every collection); returns the request's id."""
        self._directory.mkdir(parents=True, exist_ok=True)
        request_id = f"{int(time.time())}-{uuid.uuid4().hex[:8]}"
        _write_json(self._directory / f"{request_id}.request.json",
                    {"request_id": request_id, "collection": collection, "submitted_at": time.time()})
        return request_id

    def status(self, request_id: str) -> dict[str, Any] | None:
        """The request's progress as the server last wrote it; None until the server has claimed it."""
        try:
            return json.loads((self._directory / f"{request_id}.status.json").read_text())
        except FileNotFoundError:
            return None

    def withdraw(self, request_id: str) -> bool:
        """Take back a request nobody claimed (the server did not answer); False when it was claimed meanwhile."""
        try:
            (self._directory / f"{request_id}.request.json").unlink()
            return True
        except FileNotFoundError:
            return False

    # -- the server's side -------------------------------------------------------------------------------------------

    def serve_pending(self, vectors: Any) -> list[str]:
        """The scheduler's job: claim every waiting request and start its builds on a thread; returns their ids.
        Quick: the builds themselves run on the threads (and Edge builds in a child process)."""
        if not self._directory.is_dir():
            return []
        self._forget_finished()
        started = []
        for request_file in sorted(self._directory.glob("*.request.json")):
            claimed = request_file.with_name(request_file.name.replace(".request.json", ".claimed.json"))
            try:
                os.rename(request_file, claimed)
            except FileNotFoundError:
                continue  # withdrawn, or claimed by another pass
            request = json.loads(claimed.read_text())
            build = RequestedBuild(self._directory / f"{request['request_id']}.status.json", request, vectors)
            threading.Thread(target=build.run, name=f"openpeek-index-request-{request['request_id']}",
                             daemon=True).start()
            started.append(request["request_id"])
        return started

    def _forget_finished(self) -> None:
        for status_file in self._directory.glob("*.status.json"):
            try:
                status = json.loads(status_file.read_text())
            except (OSError, ValueError):
                continue
            if status.get("finished_at") and time.time() - status["finished_at"] > FINISHED_KEPT_S:
                for leftover in self._directory.glob(f"{status['request_id']}.*"):
                    leftover.unlink(missing_ok=True)


class RequestedBuild:
    """One request, run by the server: each collection in turn, its progress rewritten after every change."""

    def __init__(self, status_file: Path, request: dict[str, Any], vectors: Any) -> None:
        self._status_file = status_file
        self._vectors = vectors
        self._status: dict[str, Any] = {"request_id": request["request_id"], "state": "running", "collections": {},
                                        "message": None, "started_at": time.time(), "finished_at": None}
        self._request = request

    def run(self) -> None:
        try:
            if not hasattr(self._vectors, "optimize"):
                self._finish("done", "the vector store is a Qdrant server, which indexes by itself")
                return
            wanted = self._request.get("collection")
            if wanted is not None and not self._vectors.collection_exists(wanted):
                self._finish("failed", f"no collection {wanted!r} in this data dir")
                return
            collections = [wanted] if wanted is not None else self._vectors.collections()
            self._status["collections"] = {name: {"state": "waiting"} for name in collections}
            self._save()
            for name in collections:
                self._build(name)
            failed = [name for name, entry in self._status["collections"].items() if entry["state"] == "failed"]
            self._finish("failed" if failed else "done", None)
        except Exception as error:  # noqa: BLE001 - the CLI waiting on this file must hear about it
            self._finish("failed", f"{type(error).__name__}: {error}")

    def _build(self, name: str) -> None:
        entry = self._status["collections"][name]
        entry.update(state="building", started_at=time.time())
        self._save()
        try:
            _wait_while(lambda: self._vectors.index_state(name)["state"] == "building")  # a build the server began
            result = self._vectors.optimize(name)
            state = self._vectors.index_state(name)
            entry.update(state="done", points_count=result["points_count"],
                         indexed_vectors_count=result["indexed_vectors_count"], build_s=state["last_build_s"],
                         quantization=state.get("quantization"))
        except Exception as error:  # noqa: BLE001 - reported per collection; the others still run
            entry.update(state="failed", error=f"{type(error).__name__}: {error}")
        self._save()

    def _finish(self, state: str, message: str | None) -> None:
        self._status.update(state=state, message=message, finished_at=time.time())
        self._save()

    def _save(self) -> None:
        _write_json(self._status_file, self._status)


def _wait_while(condition: Callable[[], bool], every_s: float = 0.5) -> None:
    while condition():
        time.sleep(every_s)
