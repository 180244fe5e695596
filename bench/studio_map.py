"""The studio's cluster map in headless Chromium (Debian's package, software WebGL through SwiftShader):

- time from navigation to the first frame with every point drawn, at 100,000 and 1,000,000 points, with the points
  sent in the packed binary form (`/visualization/points`, the studio's default) against the JSON map
  (`/visualization?compact=true`, the baseline, measured in the same run on the same map);
- frame time while panning at 100,000 points (target: at most 33 ms, 30 frames a second), beside the same pan on
  the run's own 720-point map in the same run (the browser's frame pacing on this machine at the time).

The maps are real runs of a real server: a namespace of topic documents is clustered, then each run's stored map is
replaced by a synthetic one of the wanted size (Gaussian blobs, one per cluster of the run, so labels and colours are
the run's own). Writes docs/studio-map.png (the README's picture) from the 100,000-point map with --screenshot.

    .venv/bin/python bench/studio_map.py [--screenshot]
"""

from __future__ import annotations

import gzip
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.support import live_server  # noqa: E402
from openpeek.adapters.local.folder_blobs import FolderBlobStore  # noqa: E402
from openpeek.services.clustering.steps import points_key  # noqa: E402
from tests.browser.conftest import CHROMIUM, CHROMIUM_FLAGS  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TOPICS = {
    "astronomy": "telescope galaxy orbit nebula", "cooking": "recipe oven simmer garlic",
    "football": "goal striker league referee", "finance": "ledger invoice payment audit",
    "geology": "volcano magma crater basalt", "music": "guitar chord riff amplifier",
    "medicine": "vaccine dosage clinic patient", "sailing": "mast keel harbour regatta",
    "gardening": "compost seedling pruning soil", "chess": "gambit bishop endgame rook",
    "aviation": "runway cockpit altitude airliner", "coffee": "espresso roast barista crema",
}
DIMENSION = 24
READY = "() => window.__studioMap && window.__studioMap.fullDrawMs != null"


def seed(client) -> tuple[str, str]:
    client.post("/v1/namespaces/standalone", json={
        "namespace_id": "atlas", "vector_configs": [{"name": "emb", "dimension": DIMENSION}]}).raise_for_status()
    rng = np.random.default_rng(7)
    documents = []
    for name, words in TOPICS.items():
        centre = rng.normal(0, 1, DIMENSION) * 4
        for number in range(60):
            documents.append({"document_id": f"{name}-{number}",
                              "vectors": {"emb": (centre + rng.normal(0, 0.5, DIMENSION)).tolist()},
                              "payload": {"topic": name, "text": f"{name} {words} note {number}"}})
    client.post("/v1/namespaces/atlas/documents/upsert", json={"documents": documents}).raise_for_status()
    headers = {"X-Namespace": "atlas"}
    cluster = client.post("/v1/clusters", headers=headers, json={"cluster_name": "topics", "vector_config": {
        "feature_uris": ["emb"], "clustering_method": "kmeans", "kmeans_parameters": {"n_clusters": len(TOPICS)}}})
    cluster.raise_for_status()
    namespace_id = client.get("/v1/namespaces/atlas").raise_for_status().json()["namespace_id"]
    return cluster.json()["cluster_id"], namespace_id


def run_once(client, cluster_id: str) -> str:
    headers = {"X-Namespace": "atlas"}
    task = client.post(f"/v1/clusters/{cluster_id}/execute", headers=headers, json={}).raise_for_status().json()
    while task["status"] not in ("COMPLETED", "FAILED", "CANCELED"):
        time.sleep(0.3)
        task = client.get(f"/v1/tasks/{task['task_id']}").raise_for_status().json()
    assert task["status"] == "COMPLETED", task
    return client.get(f"/v1/clusters/{cluster_id}/executions", headers=headers).raise_for_status().json()["run_id"]


def synthetic_map(total: int, cluster_ids: list[str], seed_: int) -> dict:
    """Blobs of different sizes and spreads around a ring, one per cluster, plus a little noise."""
    rng = np.random.default_rng(seed_)
    k = len(cluster_ids)
    weights = rng.uniform(0.5, 1.5, k)
    membership = rng.choice(k, size=total, p=weights / weights.sum())
    angles = np.arange(k) / k * 2 * np.pi + rng.uniform(-0.2, 0.2, k)
    radii = rng.uniform(5, 10, k)
    centres = np.stack([np.cos(angles) * radii, np.sin(angles) * radii], axis=1)
    spreads = rng.uniform(0.35, 0.85, k)
    stretch = rng.uniform(0.6, 1.6, (k, 2))
    xy = centres[membership] + rng.normal(0, 1, (total, 2)) * spreads[membership, None] * stretch[membership]
    noise = rng.random(total) < 0.01
    membership = np.where(noise, -1, membership)
    xy[noise] = rng.uniform(-11, 11, (int(noise.sum()), 2))
    points = {"document_id": [f"doc-{i}" for i in range(total)], "cluster": membership.tolist(),
              "x": xy[:, 0].round(5).tolist(), "y": xy[:, 1].round(5).tolist(), "z": [None] * total,
              "cluster_ids": cluster_ids}
    points["centres"] = {cluster_ids[c]: xy[membership == c].mean(axis=0).tolist() for c in range(k)}
    return points


def open_map(browser, base: str, key: str, cluster_id: str, run_id: str, transfer: str, viewport=(1400, 860)):
    context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]}, base_url=base)
    context.add_init_script(f"sessionStorage.setItem('openpeek.key', {json.dumps(key)});"
                            "sessionStorage.setItem('openpeek.namespace', 'atlas');")
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    started = time.perf_counter()
    page.goto(f"/studio/#/map?cluster={cluster_id}&run={run_id}&transfer={transfer}")
    page.wait_for_function(READY, timeout=300_000, polling=50)
    wall_ms = (time.perf_counter() - started) * 1000
    stats = page.evaluate("window.__studioMap")
    assert stats["drawn"] == stats["total"], stats
    assert not errors, errors
    return context, page, {"navigation_to_full_draw_ms": round(stats["fullDrawSinceNavigationMs"], 1),
                           "wall_ms": round(wall_ms, 1), "bytes": stats["bytesAtFullDraw"], "points": stats["total"]}


PAN = """async (frames) => {
  const canvas = document.querySelector('[data-testid=map-canvas]');
  const box = canvas.getBoundingClientRect();
  let x = box.left + box.width / 2, y = box.top + box.height / 2;
  const fire = (type) => canvas.dispatchEvent(new PointerEvent(type, {clientX: x, clientY: y, pointerId: 1,
                                                                       bubbles: true, isPrimary: true}));
  fire('pointerdown');
  const stamps = [], renders = [];
  await new Promise((done) => {
    let left = frames;
    const step = (now) => {
      stamps.push(now);
      renders.push(window.__studioMapInstance.stats.lastRenderMs);
      x += 3; y += Math.sin(left / 9) * 2; fire('pointermove');
      if (--left > 0) requestAnimationFrame(step); else done();
    };
    requestAnimationFrame(step);
  });
  fire('pointerup');
  const deltas = stamps.slice(1).map((t, i) => t - stamps[i]);
  return {deltas, renders: window.__studioMapInstance.stats.renders};
}"""


def pan(page) -> dict:
    frames = page.evaluate(PAN, 180)["deltas"][10:]
    ordered = sorted(frames)
    return {"frames": len(frames), "p50_ms": round(statistics.median(frames), 1),
            "p95_ms": round(ordered[int(0.95 * len(ordered))], 1), "max_ms": round(ordered[-1], 1),
            "point_layer_draws": page.evaluate("window.__studioMapInstance.stats.layerRenders")}


def main() -> None:
    from playwright.sync_api import sync_playwright

    screenshot = "--screenshot" in sys.argv
    report: dict = {"browser": "Debian chromium, headless, SwiftShader WebGL (software)", "maps": {}}
    with tempfile.TemporaryDirectory(prefix="openpeek-studio-bench-") as work, live_server(Path(work)) as client:
        key = client.headers["Authorization"].split()[1]
        base = str(client.base_url).rstrip("/")
        cluster_id, namespace_id = seed(client)
        blobs = FolderBlobStore(Path(work) / "blobs")
        runs = {}
        for total in (100_000, 1_000_000):
            run_id = run_once(client, cluster_id)
            groups = client.get(f"/v1/clusters/{cluster_id}/groups", headers={"X-Namespace": "atlas"},
                                params={"run_id": run_id}).raise_for_status().json()["groups"]
            points = synthetic_map(total, [g["cluster_id"] for g in groups], seed_=total)
            blobs.put(points_key(namespace_id, cluster_id, run_id),
                      gzip.compress(json.dumps(points).encode(), compresslevel=5), "application/gzip")
            runs[total] = run_id
        small_run = run_once(client, cluster_id)  # its own map, 720 points: the pan's baseline
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
            for total, run_id in runs.items():
                figures = {}
                for transfer in ("binary", "json"):
                    samples = []
                    for attempt in range(3):  # the first binary attempt decodes the stored map on the server
                        context, page, measured = open_map(browser, base, key, cluster_id, run_id, transfer)
                        samples.append(measured)
                        if total == 100_000 and transfer == "binary" and attempt == 2:
                            report["pan_100k"] = pan(page)
                            small, small_page, _ = open_map(browser, base, key, cluster_id, small_run, "binary")
                            report["pan_720_baseline"] = pan(small_page)
                            small.close()
                            if screenshot:
                                page.set_viewport_size({"width": 1280, "height": 760})
                                page.wait_for_timeout(300)
                                page.evaluate("window.__studioMapInstance.fit()")
                                page.wait_for_timeout(500)
                                page.screenshot(path=str(ROOT / "docs" / "studio-map.png"))
                        context.close()
                    first, warm = samples[0], samples[1:]
                    figures[transfer] = {
                        "bytes": first["bytes"],
                        "first_open_ms": first["navigation_to_full_draw_ms"],
                        "warm_open_ms_median": round(statistics.median(s["navigation_to_full_draw_ms"]
                                                                       for s in warm), 1)}
                figures["json_over_binary_warm"] = round(figures["json"]["warm_open_ms_median"]
                                                         / figures["binary"]["warm_open_ms_median"], 2)
                figures["json_over_binary_bytes"] = round(figures["json"]["bytes"] / figures["binary"]["bytes"], 2)
                report["maps"][f"{total:,} points"] = figures
                print(json.dumps({f"{total:,} points": figures}), flush=True)
            browser.close()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
