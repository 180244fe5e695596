"""`openpeek serve` (the embedded runtime), `openpeek demo`, `openpeek reap`, `openpeek autoindex`,
`openpeek keys create|list|revoke`, `openpeek image build-push|base|pin-bases` (image_cli.py)."""

from __future__ import annotations

import argparse
import gc
import os
import sys
import threading
import time
from pathlib import Path

from openpeek.domain.errors import DomainError
from openpeek.domain.failures import DependencyUnavailable
from openpeek.settings import Settings

DEFAULT_ORG = "default"


DATA_DIR_NAME = ".openpeek"


def data_dir_of(requested: str | None, settings: Settings | None = None) -> Path:
    """The one rule every command uses to find the data directory: --data-dir, else $OPENPEEK_DATA_DIR, else the
    .openpeek folder of the current directory or the nearest one above it that has one (so `openpeek keys create`
    run anywhere in the checkout writes the store `make run` serves from its root), else ./.openpeek. Always made
    absolute, so the path printed is the path used."""
    if requested:
        return Path(requested).expanduser().resolve()
    if "OPENPEEK_DATA_DIR" in os.environ:
        return (settings or Settings()).data_dir.expanduser().resolve()
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / DATA_DIR_NAME).is_dir():
            return folder / DATA_DIR_NAME
    return here / DATA_DIR_NAME


def _settings(data_dir: str | None) -> Settings:
    settings = Settings()
    if settings.runtime == "embedded":
        settings = settings.model_copy(update={"data_dir": data_dir_of(data_dir, settings)})
        # On stderr: `keys create` prints only the key on stdout, for scripts.
        print(f"openpeek: data dir {settings.data_dir}", file=sys.stderr, flush=True)
    elif data_dir:
        settings = settings.model_copy(update={"data_dir": Path(data_dir)})
    return settings


def _services(data_dir: str | None):
    from openpeek.runtime import build_services

    return build_services(_settings(data_dir))


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from openpeek.api.app import create_app
    from openpeek.embedded.logs import structured_logging

    structured_logging()
    services = _services(args.data_dir)
    # `openpeek optimize` run beside this server finds the lock and asks this server to build (index_builds.py).
    from openpeek.embedded.index_builds import ServerLock

    server_lock = ServerLock(services.settings.data_dir)
    try:
        server_lock.hold()
    except ValueError as error:
        services.close()
        print(f"openpeek: {error}", file=sys.stderr)
        return 1
    issued = services.organizations.bootstrap(DEFAULT_ORG)
    if issued is not None:
        print(
            f"openpeek: created organisation '{DEFAULT_ORG}' and its API key (shown only once):\n\n"
            f"    {issued.plain_key}\n\n"
            f"Keep it: `export MIXPEEK_API_KEY={issued.plain_key}`. "
            f"More keys: `openpeek keys create --org {DEFAULT_ORG}`.",
            flush=True,
        )
    print(f"openpeek: serving on http://{args.host}:{args.port} (data in {services.settings.data_dir})", flush=True)
    print(f"openpeek: studio on http://{args.host}:{args.port}/studio/ (sign in with an API key); "
          f"API reference on http://{args.host}:{args.port}/docs", flush=True)
    settle_after_warm_up([warm_up_local_model(services), warm_up_engine()])
    if getattr(args, "demo", False):
        load_demo_in_background(services, args.port)
    scheduler = schedule_maintenance(services)
    app = create_app(services, runtime_name="embedded")
    try:
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    finally:
        scheduler.stop()
        services.close()
        server_lock.release()
    return 0


REAP_EVERY_S = 3600  # EventBridge's rate(1 hour) in AWS (stacks/automation.py)
AUTOINDEX_EVERY_S = 6 * 3600  # rate(6 hours)
HEARTBEAT_EVERY_S = 60
CLUSTER_TRIGGERS_EVERY_S = 30


def schedule_maintenance(services):
    """What EventBridge schedules in AWS, on a thread here: the expiry reaper hourly (first run a minute after start,
    so namespaces that expired while the server was down go soon) and the auto-indexer every 6 hours."""
    from openpeek.embedded.scheduler import Scheduler

    scheduler = Scheduler()
    scheduler.every(REAP_EVERY_S, "expiry-reaper", services.expiry.reap, first_after_s=60)
    scheduler.every(AUTOINDEX_EVERY_S, "auto-index", services.auto_index.run, first_after_s=AUTOINDEX_EVERY_S)
    scheduler.every(300, "batch-draft-reaper", services.batches.reap_drafts, first_after_s=300)  # DRAFTs > 30 min
    # A promoted namespace's automatic batches are submitted by worker timers; this catches any whose timer was lost.
    scheduler.every(60, "automatic-batches", services.auto_processing.submit_overdue, first_after_s=60)
    # Tiering: hourly by default (EventBridge rate(1 hour) in AWS); the first run soon after start resumes any
    # transition a previous process left half-done.
    scheduler.every(services.settings.tier_sweep_every_s, "tiering-sweeper", services.tiering_sweeper.sweep,
                    first_after_s=min(30.0, services.settings.tier_sweep_every_s))
    schedule_cluster_triggers(scheduler, services)
    # The heartbeat GET /v1/health/beat reads: a stopped scheduler shows as a beat grown old. The first is written
    # as the scheduler starts, so a server that just started is not reported stopped.
    services.health.record_beat(HEARTBEAT_EVERY_S)
    scheduler.every(HEARTBEAT_EVERY_S, "heartbeat", lambda: services.health.record_beat(HEARTBEAT_EVERY_S),
                    first_after_s=HEARTBEAT_EVERY_S)
    # `openpeek optimize` beside the server: its requests are claimed here, the builds run on threads of their own.
    from openpeek.embedded.index_builds import BuildRequests

    index_build_requests = BuildRequests(services.settings.data_dir)
    scheduler.every(2, "index-build-requests", lambda: index_build_requests.serve_pending(services.vectors))
    scheduler.start()
    return scheduler


def schedule_cluster_triggers(scheduler, services) -> None:
    """Due cluster triggers fire every 30 s here (deployed: the rate(1 minute) rule of stacks/clustering.py)."""
    scheduler.every(CLUSTER_TRIGGERS_EVERY_S, "cluster-triggers", services.cluster_triggers.fire_due,
                    first_after_s=CLUSTER_TRIGGERS_EVERY_S)


def warm_up_local_model(services) -> threading.Thread | None:
    """Load the bundled model and run its first forward pass in the background, so the first text query after
    start-up does not wait seconds for it; requests that arrive meanwhile wait on the model's own load lock. Returns
    the thread, or None when the local model is not usable here."""
    from openpeek.adapters.inference.local_minilm import SERVICE_NAME

    if not any(service.name == SERVICE_NAME and service.usable
               for service in services.inference_gateway.list_services()):
        return None

    def run() -> None:
        try:
            services.inference_gateway.embed_texts(SERVICE_NAME, ["warm up"])
        except Exception as error:  # noqa: BLE001 - a failed warm-up only means the first query loads the model
            print(f"openpeek: warming up {SERVICE_NAME} failed ({error}); it will load on first use", flush=True)

    thread = threading.Thread(target=run, name="openpeek-warm-up", daemon=True)
    thread.start()
    return thread


def settle_after_warm_up(threads: list[threading.Thread | None]) -> None:
    """Once every warm-up has finished: freeze what start-up loaded out of the garbage collector's reach, and print
    one line, since until then the warm-ups compete with requests for the CPU (benchmarks, bench/support.py, and
    operators timing a fresh server wait for it)."""
    started = time.monotonic()

    def wait() -> None:
        for thread in threads:
            if thread is not None:
                thread.join()
        # What is loaded by now (torch, the model, FastAPI, pydantic: ~450k objects) lives as long as the process:
        # moved out of the collector's reach, so a full collection triggered by a burst of requests does not walk it
        # again (~15 ms per 1,000-document upsert measured in bench/upsert_profile.py).
        gc.collect()
        gc.freeze()
        print(f"openpeek: warm-up finished in {time.monotonic() - started:.1f} s", flush=True)

    threading.Thread(target=wait, name="openpeek-warm-up-watch", daemon=True).start()


def warm_up_engine() -> threading.Thread | None:
    """Start the clustering engine's worker process and run a tiny job in it, in the background: importing the
    engine and compiling UMAP take ~20 s once, which the first real cluster run would otherwise wait for."""
    try:
        import pyarrow  # noqa: F401 - the cluster extra is installed with `local`; without it there is no engine here
    except ImportError:
        return None

    def run() -> None:
        import tempfile

        from openpeek.embedded.engine_process import shared_engine_process
        from openpeek.adapters.parquet_frames import ParquetJobFiles

        try:
            with tempfile.TemporaryDirectory(prefix="openpeek-warm-up-") as work:
                folder = Path(work)
                writer = ParquetJobFiles().vector_writer(1)
                for i in range(40):
                    writer.add(f"w{i}", [[float(i % 4 == j) + 0.01 * i for j in range(4)]], None)
                (folder / "part-00000.parquet").write_bytes(writer.flush() or b"")
                (folder / "job.json").write_text('{"mode": "layout", "vis_n_components": 2}')
                shared_engine_process().run("warm-up", folder, folder / "out")
        except Exception as error:  # noqa: BLE001 - the first real run loads the engine instead
            print(f"openpeek: warming up the clustering engine failed ({error})", flush=True)

    thread = threading.Thread(target=run, name="openpeek-engine-warm-up", daemon=True)
    thread.start()
    return thread


def _demo_principal(services):
    from openpeek.services.organizations import Principal

    return Principal(services.organizations.ensure_org(DEFAULT_ORG)["org_id"], "demo")


def load_demo_in_background(services, port: int) -> threading.Thread:
    """`serve --demo`: the demo dataset loaded by the server itself (no second process needs the data dir)."""
    from openpeek import demo

    def run() -> None:
        try:
            summary = demo.load(services, _demo_principal(services), echo=lambda line: print(line, flush=True))
            print(demo.describe(summary, f"http://127.0.0.1:{port}"), flush=True)
        except Exception as error:  # noqa: BLE001 - the server serves on; the demo is an extra
            print(f"openpeek demo: loading failed ({error})", flush=True)

    thread = threading.Thread(target=run, name="openpeek-demo", daemon=True)
    thread.start()
    return thread


def demo(args: argparse.Namespace) -> int:
    """Loads the demo dataset into the data dir (no server may be running on it: use `serve --demo` then)."""
    from openpeek import demo as demo_data

    services = _services(args.data_dir)
    try:
        issued = services.organizations.bootstrap(DEFAULT_ORG)
        if issued is not None:
            print(f"openpeek: created organisation '{DEFAULT_ORG}' and its API key (shown only once):\n\n"
                  f"    {issued.plain_key}\n", flush=True)
        summary = demo_data.load(services, _demo_principal(services))
    finally:
        services.close()
    print(demo_data.describe(summary))
    return 0 if summary.cluster_status in (None, "COMPLETED") else 1


def _organizations(data_dir: str | None):
    """Keys live in the table alone: with OPENPEEK_RUNTIME=aws and OPENPEEK_TABLE_NAME this is the deployed table."""
    from openpeek.runtime import build_organizations

    return build_organizations(_settings(data_dir))


def keys_create(args: argparse.Namespace) -> int:
    organizations = _organizations(args.data_dir)
    org = organizations.ensure_org(args.org, enterprise=args.enterprise)
    issued = organizations.issue_key(org["org_id"], name=args.name)
    print(issued.plain_key)
    return 0


def keys_list(args: argparse.Namespace) -> int:
    organizations = _organizations(args.data_dir)
    org = organizations.find_org(args.org)
    if org is None:
        print(f"openpeek: no organisation named '{args.org}'", file=sys.stderr)
        return 1
    for key in organizations.list_keys(org["org_id"]):
        state = f"revoked {key['revoked_at']}" if key["revoked_at"] else "active"
        print(f"{key['key_id']}\t{key['prefix']}…\t{key['name']}\t{key['created_at']}\t{state}")
    return 0


def keys_revoke(args: argparse.Namespace) -> int:
    organizations = _organizations(args.data_dir)
    org = organizations.find_org(args.org)
    if org is None:
        print(f"openpeek: no organisation named '{args.org}'", file=sys.stderr)
        return 1
    organizations.revoke_key(org["org_id"], args.key_id)
    print(f"revoked {args.key_id}")
    return 0


def reap(args: argparse.Namespace) -> int:
    """One expiry run now (what the hourly schedule does): prints what it found and did."""
    services = _services(args.data_dir)
    try:
        result = services.expiry.reap()
    finally:
        services.close()
    print(f"openpeek reap: {result.found} expired, {result.deleted} deleted, {result.kept} kept (extended), "
          f"{result.already_gone} already gone, {result.failed} failed (retried next run)")
    return 1 if result.failed else 0


def autoindex(args: argparse.Namespace) -> int:
    """One auto-index run now (what the 6-hourly schedule does)."""
    from openpeek.namespace_cli import NamespaceNames  # namespaces shown as `<org>/<public id> [<storage id>]`

    services = _services(args.data_dir)
    try:
        result = services.auto_index.run()
        names = NamespaceNames(services.table)
        for created in result.created:
            print(f"openpeek autoindex: {names.label(created['namespace_id'])}: {created['field']} "
                  f"({created['type']}) indexed")
    finally:
        services.close()
    print(f"openpeek autoindex: {len(result.created)} index(es) created, {len(result.skipped)} field(s) skipped")
    return 0


def tier(args: argparse.Namespace) -> int:
    """One tiering sweep now (what the hourly schedule does): resumes unfinished transitions, demotes idle
    collections, freezes, promotes busy cold ones; prints each move."""
    from openpeek.namespace_cli import NamespaceNames  # namespaces shown as `<org>/<public id> [<storage id>]`

    services = _services(args.data_dir)
    try:
        report = services.tiering_sweeper.sweep()
        names = NamespaceNames(services.table)
        for move in report.moved:
            print(f"openpeek tier: {names.label(move['namespace_id'])}: collection {move['collection_id']}: "
                  f"{move['from']} → {move['to']} ({move['reason']})")
    finally:
        services.close()
    for collection_id in report.resumed:
        print(f"openpeek tier: resumed the transition of {collection_id}")
    for collection_id in report.skipped_rehydrations:
        print(f"openpeek tier: {collection_id} waits for the next sweep (rehydrations limited per sweep)")
    print(f"openpeek tier: {len(report.moved)} moved, {len(report.resumed)} resumed")
    return 0


def parser() -> argparse.ArgumentParser:
    data_dir_help = ("data directory (default: $OPENPEEK_DATA_DIR, else the .openpeek folder here or in the nearest "
                     "folder above that has one, else ./.openpeek)")
    root = argparse.ArgumentParser(prog="openpeek", description="Self-hosted Mixpeek v1 API")
    commands = root.add_subparsers(dest="command", required=True)

    serve_cmd = commands.add_parser("serve", help="run the embedded service")
    serve_cmd.add_argument("--host", default="127.0.0.1")
    serve_cmd.add_argument("--port", type=int, default=8000)
    serve_cmd.add_argument("--data-dir", default=None, help=data_dir_help)
    serve_cmd.add_argument("--demo", action="store_true",
                           help="load the demo dataset (namespace demo-books) in the background if it is not there")
    serve_cmd.set_defaults(run=serve)

    demo_cmd = commands.add_parser("demo", help="load the demo dataset: 231 books, a retriever and a cluster run")
    demo_cmd.add_argument("--data-dir", default=None, help=data_dir_help)
    demo_cmd.set_defaults(run=demo)

    reap_cmd = commands.add_parser("reap", help="delete the namespaces whose expires_at has passed, now")
    reap_cmd.add_argument("--data-dir", default=None, help=data_dir_help)
    reap_cmd.set_defaults(run=reap)

    autoindex_cmd = commands.add_parser("autoindex", help="index the payload fields filtered often, now")
    autoindex_cmd.add_argument("--data-dir", default=None, help=data_dir_help)
    autoindex_cmd.set_defaults(run=autoindex)

    tier_cmd = commands.add_parser("tier", help="move collections between storage tiers by their tiering policy, now")
    tier_cmd.add_argument("--data-dir", default=None, help=data_dir_help)
    tier_cmd.set_defaults(run=tier)

    keys = commands.add_parser("keys", help="manage API keys").add_subparsers(dest="keys_command", required=True)
    create = keys.add_parser("create", help="create an API key; prints only the key")
    create.add_argument("--org", required=True)
    create.add_argument("--enterprise", action="store_true", help="mark the organisation Enterprise")
    create.add_argument("--name", default="default")
    create.add_argument("--data-dir", default=None, help=data_dir_help)
    create.set_defaults(run=keys_create)
    listing = keys.add_parser("list", help="list an organisation's keys")
    listing.add_argument("--org", required=True)
    listing.add_argument("--data-dir", default=None, help=data_dir_help)
    listing.set_defaults(run=keys_list)
    revoke = keys.add_parser("revoke", help="revoke a key by id")
    revoke.add_argument("key_id")
    revoke.add_argument("--org", required=True)
    revoke.add_argument("--data-dir", default=None, help=data_dir_help)
    revoke.set_defaults(run=keys_revoke)

    from openpeek.image_cli import add_image_commands  # `openpeek image build-push | base | pin-bases`

    add_image_commands(commands)

    from openpeek.optimize_cli import add_optimize_command  # `openpeek optimize`

    add_optimize_command(commands, data_dir_help)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.run(args)
    except DomainError as error:
        print(f"openpeek: {error.message}", file=sys.stderr)
        return 2
    except DependencyUnavailable as error:
        if "WouldBlock" in str(error):
            # Qdrant Edge locks each shard's write-ahead log for the process that opened it.
            print("openpeek: the data directory is in use by a running `openpeek serve` (it holds the vector "
                  "shards' locks). Stop the server first, or use the API it serves; `openpeek keys ...` works "
                  "beside it, and `openpeek serve --demo` loads the demo from inside the server.", file=sys.stderr)
        else:
            print(f"openpeek: {error}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
