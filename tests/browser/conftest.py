"""A live `openpeek serve` with seeded data, and headless Chromium (Debian's package) driven by Playwright.

Chromium runs with the flags this machine needs offline (no background networking, no component updates) and WebGL
through SwiftShader (software), as on a CI runner without a GPU. Every page a test opens records console errors and
uncaught exceptions; the test fails on any. Screenshots go to test-artifacts/studio/ (git-ignored)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.api.conftest import server  # noqa: F401  (the live server fixture)
from tests.browser.seed import cluster_and_wait, create_retriever, upsert_topics

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--use-angle=swiftshader", "--enable-unsafe-swiftshader"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "studio"


@pytest.fixture(scope="module")
def api(server):  # noqa: F811
    base, key, _ = server
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def seeded(server, api):  # noqa: F811
    """A bring-your-own-vectors namespace with 120 documents, a retriever, and a completed 2-D and 3-D cluster run."""
    api.post("/v1/namespaces/standalone", json={
        "namespace_id": "topics", "vector_configs": [{"name": "emb", "dimension": 16}]}).raise_for_status()
    upsert_topics(api, "topics")
    retriever = create_retriever(api, "topics")
    cluster_id, run_id = cluster_and_wait(api, "topics")
    spatial_id, spatial_run = cluster_and_wait(api, "topics", vis_n_components=3, name="topics in 3-D")
    return {"namespace": "topics", "retriever_id": retriever["retriever_id"], "cluster_id": cluster_id,
            "run_id": run_id, "spatial_id": spatial_id, "spatial_run": spatial_run}


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


class Console:
    """What a page reported: console errors and uncaught exceptions."""

    def __init__(self, page) -> None:
        self.errors: list[str] = []
        page.on("console", lambda message: message.type == "error" and self.errors.append(message.text))
        page.on("pageerror", lambda error: self.errors.append(f"uncaught: {error}"))


@pytest.fixture
def page(browser, server):  # noqa: F811
    """A fresh browser context (fresh sessionStorage) whose only reachable host is the test server."""
    base, _, _ = server
    context = browser.new_context(viewport={"width": 1400, "height": 860}, base_url=base)
    outside: list[str] = []

    def only_local(route):
        if route.request.url.startswith(base):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", only_local)
    opened = context.new_page()
    console = Console(opened)
    opened.console = console
    yield opened
    context.close()
    assert not outside, f"the page tried to reach other hosts: {outside}"
    assert not console.errors, f"console errors: {console.errors}"


def shoot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path
