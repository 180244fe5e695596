"""Every route of the app has a valid case in the mutation fuzzer's corpus, and every case names a route: a new route
without a fuzz case fails here."""

from __future__ import annotations

import re

from fastapi.routing import APIRoute
from starlette.routing import Route

from openpeek.api.app import create_app

from .mutation import NAMESPACE, valid_cases

# Routes the fuzzer cannot drive, (method, path shape) to the reason. Keep it short: a route belongs here only when no
# request a client could send reaches it meaningfully. Today every route is fuzzed.
NOT_FUZZED: dict[tuple[str, str], str] = {}


def _shape(path: str) -> str:
    """A path with every parameter made anonymous: /v1/buckets/{bucket_identifier} and /v1/buckets/{bucket} match."""
    return re.sub(r"\{[^}]*\}", "{}", path)


def app_routes() -> set[tuple[str, str]]:
    """(method, path shape) of every route the app answers, through included routers at any depth."""
    found: set[tuple[str, str]] = set()

    def walk(routes, prefix: str) -> None:
        for route in routes:
            if isinstance(route, (APIRoute, Route)):
                found.update((method, _shape(prefix + route.path)) for method in route.methods or ())
            elif hasattr(route, "original_router"):  # FastAPI's included router keeps its routes unflattened
                walk(route.original_router.routes, prefix + route.include_context.prefix)
            else:
                raise AssertionError(f"a route of an unknown kind: {route!r}")

    walk(create_app(None).routes, "")
    return found


def fuzzed_routes() -> set[tuple[str, str]]:
    return {(case.method, _shape(case.template)) for case in valid_cases({"namespace": NAMESPACE})}


def test_every_route_has_a_fuzz_case():
    missing = app_routes() - fuzzed_routes() - set(NOT_FUZZED)
    assert not missing, "routes without a valid case in tests/fuzz/mutation.py: " + ", ".join(
        f"{method} {path}" for method, path in sorted(missing, key=lambda item: (item[1], item[0])))


def test_every_fuzz_case_names_a_route_and_every_exemption_is_still_needed():
    routes = app_routes()
    stale = fuzzed_routes() - routes
    assert not stale, f"fuzz cases of routes the app does not have: {sorted(stale)}"
    unneeded = {route for route in NOT_FUZZED if route not in routes or route in fuzzed_routes()}
    assert not unneeded, f"exemptions for routes that are gone or fuzzed after all: {sorted(unneeded)}"
