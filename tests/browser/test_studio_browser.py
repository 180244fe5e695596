"""The studio in a real browser (headless Chromium through Playwright) against a live embedded server: sign in, create
a namespace, browse and filter documents, run a retriever from the playground, follow tasks, open the cluster map and
check that it drew every point, and the offline API reference. Any console error fails the test (conftest)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from tests.browser.conftest import shoot
from tests.browser.seed import execute_and_wait

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# Predicates are functions, not strings: the studio's Content-Security-Policy forbids evaluating strings, and the
# tests run under it.
MAP_READY = ("() => window.__studioMap && window.__studioMap.total > 0 && window.__studioMap.drawn === "
             "window.__studioMap.total && window.__studioMap.idsLoaded === true")


def sign_in(page, key: str) -> None:
    page.goto("/studio/")
    page.fill("input[name=api_key]", key)
    page.click("button[type=submit]")
    page.wait_for_selector("[data-testid=create-namespace]")


def use_namespace(page, name: str) -> None:
    page.select_option("[data-testid=namespace-picker]", name)


def test_sign_in_refuses_a_wrong_key_and_keeps_the_key_in_session_storage_only(page, server):
    _, key, _ = server
    page.goto("/studio/")
    page.fill("input[name=api_key]", "sk_not_a_real_key_at_all_0000000000")
    # The 401 is the answer the page shows, not a failure of the page: its console line is expected here alone.
    page.click("button[type=submit]")
    page.wait_for_selector("text=That key was not accepted.")
    page.console.errors = [e for e in page.console.errors if "401" not in e]
    sign_in(page, key)
    assert page.evaluate("sessionStorage.getItem('openpeek.key')") == key
    assert page.evaluate("localStorage.length") == 0
    assert key not in page.evaluate("document.cookie")


def test_create_a_namespace_and_see_its_details(page, server):
    _, key, _ = server
    sign_in(page, key)
    page.fill("input[name=namespace_name]", "studio-made")
    page.fill("[data-testid=create-namespace] input[type=number]", "8")
    page.click("text=Create namespace")
    page.wait_for_selector("[data-testid=namespace-details]")
    assert page.locator("[data-testid=namespace-details] h3").inner_text() == "studio-made"
    assert page.locator("[data-testid=document-count]").inner_text() == "0"
    page.wait_for_selector("[data-testid=namespace-table] >> text=studio-made")
    assert page.locator("[data-testid=namespace-picker]").input_value() == "studio-made"
    shoot(page, "namespaces")


def test_documents_browser_filters_pages_and_opens_a_document(page, server, seeded):
    _, key, _ = server
    sign_in(page, key)
    use_namespace(page, seeded["namespace"])
    page.goto("/studio/#/documents")
    page.wait_for_selector("[data-testid=document-table]")
    assert page.locator("[data-testid=document-table] tbody tr").count() == 20
    first_page = page.locator("[data-testid=document-table] tbody tr td.mono").all_inner_texts()
    page.click("[data-testid=next-page]")
    page.wait_for_selector("text=page 2")
    page.wait_for_function("() => document.querySelector('[data-testid=document-table] tbody td.mono').innerText "
                           f"!== {json.dumps(first_page[0])}")
    assert not set(first_page) & set(page.locator("[data-testid=document-table] tbody tr td.mono").all_inner_texts())
    page.fill("[data-filter=field]", "topic")
    page.fill("[data-filter=value]", "volcano")
    page.click("text=Apply filters")
    page.wait_for_selector("text=page 1")
    page.wait_for_function("() => [...document.querySelectorAll('[data-testid=document-table] tbody td.mono')]"
                           ".every((td) => td.innerText.startsWith('volcano-'))")
    page.locator("[data-testid=document-table] tbody tr").first.click()
    page.wait_for_selector("[data-testid=document-view] table")
    view = page.locator("[data-testid=document-view]").inner_text()
    assert "volcano" in view and "emb" in view and "16" in view  # payload and the vector's summary
    shoot(page, "documents")


def test_retriever_playground_runs_the_form_built_from_input_schema(page, server, seeded):
    _, key, _ = server
    sign_in(page, key)
    use_namespace(page, seeded["namespace"])
    page.goto(f"/studio/#/retrievers?id={seeded['retriever_id']}")
    page.wait_for_selector("[data-testid=playground]")
    assert page.locator("[data-input=vector]").evaluate("e => e.tagName") == "TEXTAREA"  # an array input
    page.fill("[data-input=vector]", json.dumps([0.0, 3.0] + [0.0] * 14))  # the "volcano" topic's direction
    page.click("text=Run retriever")
    page.wait_for_selector("[data-testid=playground-results]")
    results = page.locator("[data-testid=result]")
    assert results.count() == 10
    assert all(text.startswith("volcano-") for text in results.locator(".result-head a").all_inner_texts())
    scores = [float(s) for s in results.locator(".score").all_inner_texts()]
    assert scores == sorted(scores, reverse=True) and scores[0] > 0.9
    timing = page.locator("[data-testid=stage-timing]").inner_text()
    assert "feature_search" in timing and "ms" in timing
    shoot(page, "playground")


LIT_PIXELS = """() => {
    const source = document.querySelector('[data-testid=map-canvas]');
    const copy = document.createElement('canvas'); copy.width = source.width; copy.height = source.height;
    const context = copy.getContext('2d'); context.drawImage(source, 0, 0);
    const pixels = context.getImageData(0, 0, copy.width, copy.height).data;
    const seen = new Map();
    for (let i = 0; i < pixels.length; i += 4) {
      const key = `${pixels[i] >> 4},${pixels[i + 1] >> 4},${pixels[i + 2] >> 4}`;
      seen.set(key, (seen.get(key) || 0) + 1);
    }
    return [...seen.entries()].sort((a, b) => b[1] - a[1]).slice(1);
}"""


def test_three_d_map_orbits_and_keeps_drawing(page, server, seeded):
    _, key, _ = server
    sign_in(page, key)
    use_namespace(page, seeded["namespace"])
    page.goto(f"/studio/#/map?cluster={seeded['spatial_id']}&run={seeded['spatial_run']}")
    page.wait_for_function(MAP_READY, timeout=30_000)
    page.click("text=3-D")
    page.wait_for_function("() => window.__studioMapInstance.mode === '3d'")
    before = page.evaluate("window.__studioMap.renders")
    box = page.locator("[data-testid=map-canvas]").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] / 2 + 120, box["y"] + box["height"] / 2 + 40, steps=8)
    page.mouse.up()
    page.wait_for_function(f"() => window.__studioMap.renders > {before}")
    assert page.evaluate("window.__studioMap.drawn") == 120
    assert sum(count for _, count in page.evaluate(LIT_PIXELS)) > 300, "the 3-D map is blank"
    shoot(page, "cluster-map-3d")


def test_cluster_map_draws_every_point_and_hover_search_and_click_work(page, server, seeded):
    _, key, _ = server
    sign_in(page, key)
    use_namespace(page, seeded["namespace"])
    page.goto(f"/studio/#/clusters?id={seeded['cluster_id']}")
    page.locator("[data-testid=open-map]").first.click()
    page.wait_for_function(MAP_READY, timeout=30_000)
    drawn = page.evaluate("window.__studioMap")
    assert drawn["total"] == 120 and drawn["drawn"] == 120 and drawn["renders"] >= 1
    assert drawn["transfer"] == "binary"
    # The canvas itself, read back: besides the background, points in at least three distinct colours.
    lit = page.evaluate(LIT_PIXELS)
    assert sum(count for _, count in lit) > 300, "the canvas is blank"
    assert len([c for c, n in lit if n > 20]) >= 3, f"points of three clusters expected, saw {lit[:6]}"
    labels = page.locator(".map-label").all_inner_texts()
    assert len(labels) == 3 and any("Magma" in label or "Lava" in label or "Eruption" in label for label in labels)
    screenshot = shoot(page, "cluster-map")
    assert screenshot.stat().st_size > 10_000

    # Hover over a drawn point: the tooltip names the document and shows its label text.
    point = page.evaluate("""() => { const m = window.__studioMapInstance; const d = m.data;
        return m.project(d.x[0], d.y[0], 0); }""")
    box = page.locator("[data-testid=map-canvas]").bounding_box()
    page.mouse.move(box["x"] + point[0], box["y"] + point[1])
    page.wait_for_selector(".map-tooltip .tooltip-text")
    tooltip = page.locator(".map-tooltip").inner_text()
    assert "note" in tooltip

    # Search: the matching points are flagged (and counted); clicking a point opens its document.
    page.fill("[data-testid=map-search]", "volcano")
    page.click(".map-search button")
    page.wait_for_selector("[data-testid=map-status] >> text=40 matching")
    shoot(page, "cluster-map-search")
    page.mouse.click(box["x"] + point[0], box["y"] + point[1])
    page.wait_for_selector("[data-testid=document-view] table")


def test_cluster_map_switches_runs_and_keeps_the_view(page, server, seeded, api):
    later = execute_and_wait(api, seeded["namespace"], seeded["cluster_id"])
    _, key, _ = server
    sign_in(page, key)
    use_namespace(page, seeded["namespace"])
    page.goto(f"/studio/#/map?cluster={seeded['cluster_id']}&run={seeded['run_id']}")
    page.wait_for_function(MAP_READY, timeout=30_000)
    zoom = page.evaluate("window.__studioMapInstance.camera.zoom")
    page.wait_for_selector(f"[data-testid=run-picker] option[value={later}]", state="attached")
    page.select_option("[data-testid=run-picker]", later)
    page.wait_for_function(f"() => window.__studioMap.runId === '{later}' && window.__studioMap.drawn === 120")
    # The re-run's map is aligned onto the first one server-side; the studio keeps the camera where it was.
    assert page.evaluate("window.__studioMapInstance.camera.zoom") == zoom
    assert sum(count for _, count in page.evaluate(LIT_PIXELS)) > 300


def test_tasks_page_and_not_yet_available_resources(page, server, seeded):
    _, key, _ = server
    sign_in(page, key)
    use_namespace(page, seeded["namespace"])
    page.goto("/studio/#/tasks")
    page.wait_for_selector("[data-testid=task-table] >> text=COMPLETED")
    completed = page.locator("[data-testid=task-table] .badge.ok").count()
    # Execute a cluster from the studio: the tasks page follows the new task live until it completes.
    page.goto(f"/studio/#/clusters?id={seeded['cluster_id']}")
    page.click("text=Execute now")
    page.wait_for_selector("text=live — refreshing every second", timeout=15_000)
    shoot(page, "tasks-live")
    page.wait_for_selector("text=live — refreshing every second", state="detached", timeout=120_000)
    assert page.locator("[data-testid=task-table] .badge.ok").count() == completed + 1
    shoot(page, "tasks")
    for resource in ("buckets", "collections", "batches"):
        page.goto(f"/studio/#/{resource}")
        notice = page.wait_for_selector("[data-testid=not-available], [data-testid=%s-table], .empty" % resource)
        assert notice.is_visible()
    page.goto("/studio/#/webhooks")
    page.wait_for_selector("text=No webhooks in this namespace")


def test_webhooks_page_shows_the_delivery_log(page, server, seeded, api):
    """A real delivery: a receiver on this machine, a webhook on document.created, one upsert."""
    received: list[bytes] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's naming)
            received.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    receiver = HTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    try:
        created = api.post("/v1/webhooks", headers={"X-Namespace": seeded["namespace"]}, json={
            "webhook_name": "studio-hook", "url": f"http://127.0.0.1:{receiver.server_port}/hook",
            "events": ["document.created"]}).raise_for_status().json()
        api.post(f"/v1/namespaces/{seeded['namespace']}/documents/upsert", json={"documents": [
            {"document_id": "hooked-1", "vectors": {"emb": [1.0] + [0.0] * 15}, "payload": {"text": "hook"}}]}
        ).raise_for_status()
        _, key, _ = server
        sign_in(page, key)
        use_namespace(page, seeded["namespace"])
        for _ in range(40):  # delivery runs in the background; the page is reopened as a person would refresh it
            page.goto(f"/studio/#/webhooks?id={created['webhook_id']}")
            page.wait_for_selector("[data-testid=delivery-table], .card .empty")
            if page.locator("[data-testid=delivery-table]").count():
                break
            page.wait_for_timeout(250)
        row = page.locator("[data-testid=delivery-table] tbody tr").first.inner_text()
        assert "document.created" in row and "delivered" in row and "204" in row
        assert received, "the receiver got nothing"
        shoot(page, "webhooks")
    finally:
        receiver.shutdown()


def test_api_reference_pages_load_offline_with_the_authorize_button(page, server):
    _, key, _ = server
    page.goto("/docs")
    page.wait_for_selector(".swagger-ui .btn.authorize")
    # Authorize with the key, then "Try it out" on a route that needs it: the call goes out with the bearer token.
    page.click(".swagger-ui .btn.authorize")
    page.fill(".modal-ux input[type=text], .modal-ux input[type=password]", key)
    page.click(".modal-ux .auth-btn-wrapper .btn.authorize")
    page.click(".modal-ux .btn-done")
    operation = page.locator("#operations-Namespaces-list_namespaces_get_v1_namespaces_get")
    operation.locator(".opblock-summary").click()
    operation.locator(".try-out__btn").click()
    operation.locator(".execute").click()
    page.wait_for_selector("#operations-Namespaces-list_namespaces_get_v1_namespaces_get .live-responses-table "
                           ".response-col_status >> text=200")
    page.wait_for_selector('.opblock-summary-path[data-path="/v1/namespaces"]', state="attached")
    shoot(page, "docs")
    page.goto("/redoc")
    page.wait_for_selector("redoc >> text=openpeek", timeout=30_000)
