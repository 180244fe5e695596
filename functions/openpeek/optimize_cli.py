"""`openpeek optimize`: build the embedded vector store's HNSW indexes now (adapters/qdrant/edge_index.py), for every
collection under the data directory or for one. The server builds them by itself past
OPENPEEK_EDGE_INDEX_THRESHOLD unindexed points; this is for a bulk load, or to index before a benchmark.

With an `openpeek serve` running on the data dir (it holds the collections open: Edge locks a shard's write-ahead log
per process), the command asks that server to build (embedded/index_builds.py) and reports its progress until the
builds end; the server keeps answering meanwhile. With no server running, it builds in this process.

A namespace's collection is named by its storage id; the command shows it as its organisation knows it and takes it
either way (namespace_cli.py): `--collection <public id> --org <organisation>`, or `--collection <storage id>`."""

from __future__ import annotations

import argparse
import sys
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from openpeek.namespace_cli import NamespaceNames

PICK_UP_TIMEOUT_S = 60.0  # the server's scheduler looks for requests every few seconds
POLL_EVERY_S = 1.0
STILL_BUILDING_EVERY_S = 15.0


def optimize(args: argparse.Namespace) -> int:
    from openpeek.cli import _settings
    from openpeek.embedded.index_builds import ServerLock
    from openpeek.namespace_cli import NamespaceNames
    from openpeek.runtime import build_table

    settings = _settings(args.data_dir)
    if ServerLock(settings.data_dir).held_elsewhere():
        table = build_table(settings)  # beside the server the table alone is open here, as for `openpeek keys`
        try:
            names = NamespaceNames(table)
            collection = names.storage_id(args.collection, args.org) if args.collection else None
            return _ask_the_running_server(settings.data_dir, collection, names)
        finally:
            table.close()
    return _build_here(args)


def _build_here(args: argparse.Namespace) -> int:
    from openpeek.cli import _services
    from openpeek.namespace_cli import NamespaceNames

    services = _services(args.data_dir)
    try:
        vectors = services.vectors
        if not hasattr(vectors, "optimize"):
            print("openpeek optimize: the vector store is a Qdrant server, which indexes by itself", file=sys.stderr)
            return 0
        names = NamespaceNames(services.table)
        collections = [names.storage_id(args.collection, args.org)] if args.collection else vectors.collections()
        failed = 0
        for collection in collections:
            try:
                result = vectors.optimize(collection)
            except Exception as error:  # noqa: BLE001 - reported per collection; the others still run
                failed += 1
                print(f"openpeek optimize: {names.label(collection)}: failed: {error}", file=sys.stderr)
                continue
            state = vectors.index_state(collection)
            print(f"openpeek optimize: {names.label(collection)}: {_built(result, state)}")
        return 1 if failed else 0
    finally:
        services.close()


def _built(result: dict, state: dict) -> str:
    quantized = f", {state['quantization']} quantized" if state.get("quantization") else ""
    build_s = state.get("last_build_s", state.get("build_s"))
    return (f"{result['indexed_vectors_count']} of {result['points_count']} vectors indexed in {build_s} s"
            f"{quantized}")


def _ask_the_running_server(data_dir, collection: str | None, names: NamespaceNames) -> int:
    from openpeek.embedded.index_builds import BuildRequests

    requests = BuildRequests(data_dir)
    request_id = requests.submit(collection)
    print(f"openpeek optimize: a server is running on {data_dir}; asked it to build "
          f"{names.label(collection) if collection else 'every collection'} (request {request_id})", flush=True)
    submitted = time.monotonic()
    shown: dict[str, str] = {}
    last_note = time.monotonic()
    while True:
        status = requests.status(request_id)
        if status is None:
            if time.monotonic() - submitted > PICK_UP_TIMEOUT_S and requests.withdraw(request_id):
                print(f"openpeek optimize: the server did not pick the request up within {PICK_UP_TIMEOUT_S:.0f} s; "
                      "withdrawn", file=sys.stderr)
                return 1
            time.sleep(POLL_EVERY_S)
            continue
        for name, entry in status["collections"].items():
            if shown.get(name) == entry["state"]:
                continue
            shown[name] = entry["state"]
            if entry["state"] == "building":
                print(f"openpeek optimize: {names.label(name)}: building (the server keeps answering)", flush=True)
            elif entry["state"] == "done":
                print(f"openpeek optimize: {names.label(name)}: {_built(entry, entry)}", flush=True)
            elif entry["state"] == "failed":
                print(f"openpeek optimize: {names.label(name)}: failed: {entry['error']}", file=sys.stderr,
                      flush=True)
        if status["finished_at"]:
            if status["message"]:
                stream = sys.stderr if status["state"] == "failed" else sys.stdout
                print(f"openpeek optimize: {status['message']}", file=stream)
            return 0 if status["state"] == "done" else 1
        if time.monotonic() - last_note > STILL_BUILDING_EVERY_S:
            building = [names.label(name) for name, entry in status["collections"].items()
                        if entry["state"] == "building"]
            elapsed = time.time() - status["started_at"]
            print(f"openpeek optimize: still building {', '.join(building) or '…'} ({elapsed:.0f} s)", flush=True)
            last_note = time.monotonic()
        time.sleep(POLL_EVERY_S)


def add_optimize_command(commands: argparse._SubParsersAction, data_dir_help: str) -> None:
    command = commands.add_parser("optimize", help="build the embedded vector indexes (HNSW) now; a running server "
                                                   "on the data dir is asked to build them")
    command.add_argument("--collection", default=None,
                         help="one namespace's collection: its public id or name with --org, else its storage id "
                              "(the id in brackets where the commands show one); default: all")
    command.add_argument("--org", default=None, help="the organisation (name or id) whose namespace --collection names")
    command.add_argument("--data-dir", default=None, help=data_dir_help)
    command.set_defaults(run=optimize)
