"""`openpeek optimize`: build the embedded vector store's HNSW indexes now (adapters/qdrant/edge_index.py), for every
collection under the data directory or for one. The server builds them by itself past
OPENPEEK_EDGE_INDEX_THRESHOLD unindexed points; this is for a bulk load, or to index before a benchmark.

A running `openpeek serve` holds its collections open (Edge locks a shard's write-ahead log per process): stop it
first, or let it build its index itself."""

from __future__ import annotations

import argparse
import sys


def optimize(args: argparse.Namespace) -> int:
    from openpeek.cli import _services

    services = _services(args.data_dir)
    try:
        vectors = services.vectors
        if not hasattr(vectors, "optimize"):
            print("openpeek optimize: the vector store is a Qdrant server, which indexes by itself", file=sys.stderr)
            return 0
        collections = [args.collection] if args.collection else vectors.collections()
        failed = 0
        for collection in collections:
            try:
                result = vectors.optimize(collection)
            except Exception as error:  # noqa: BLE001 - reported per collection; the others still run
                failed += 1
                print(f"openpeek optimize: {collection}: failed: {error}", file=sys.stderr)
                continue
            state = vectors.index_state(collection)
            print(f"openpeek optimize: {collection}: {result['indexed_vectors_count']} of {result['points_count']} "
                  f"vectors indexed in {state['last_build_s']} s")
        return 1 if failed else 0
    finally:
        services.close()


def add_optimize_command(commands: argparse._SubParsersAction, data_dir_help: str) -> None:
    command = commands.add_parser("optimize", help="build the embedded vector indexes (HNSW) now")
    command.add_argument("--collection", default=None, help="one collection (a namespace's); default: all")
    command.add_argument("--data-dir", default=None, help=data_dir_help)
    command.set_defaults(run=optimize)
