// Clusters: definitions, their executions (runs) with status and metrics, the groups of a run, and the map.
import { useState } from "preact/hooks";
import { get, post } from "../api.js";
import { html, useLoad, ErrorBox, Loading, Empty, Badge, NeedsNamespace, when, count, go } from "../ui.js";

function Executions({ cluster }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const { data, loading, error: loadError, reload } = useLoad(
    () => post(`/v1/clusters/${encodeURIComponent(cluster.cluster_id)}/executions/list`, {}, { query: { limit: 50 } }),
    [cluster.cluster_id]);
  async function execute() {
    setBusy(true);
    setError(null);
    try {
      await post(`/v1/clusters/${encodeURIComponent(cluster.cluster_id)}/execute`, {});
      go("tasks");
    } catch (caught) { setError(caught); } finally { setBusy(false); }
  }
  const runs = data?.results || [];
  return html`<div class="card">
    <div class="card-head"><h3>${cluster.cluster_name} <span class="muted">${cluster.algorithm}</span></h3>
      <div><button class="small" onClick=${execute} disabled=${busy}>Execute now</button>
        <button class="small" onClick=${reload}>Refresh</button></div></div>
    <${ErrorBox} error=${error || loadError}/>
    ${loading ? html`<${Loading}/>` : !runs.length ? html`<${Empty}>Never executed.</${Empty}>`
      : html`<table class="table" data-testid="execution-table"><thead><tr><th>Run</th><th>Status</th><th>Clusters</th><th>Points</th><th>Silhouette</th><th>Created</th><th></th></tr></thead>
        <tbody>${runs.map((r) => html`<tr><td class="mono">${r.run_name || r.run_id}</td><td><${Badge} value=${r.status}/></td>
          <td>${count(r.num_clusters)}</td><td>${count(r.num_points)}</td>
          <td>${r.metrics?.silhouette_score != null ? r.metrics.silhouette_score.toFixed(3) : "—"}</td><td>${when(r.created_at)}</td>
          <td>${r.status === "completed" && html`<button class="small" data-testid="open-map"
            onClick=${() => go("map", { cluster: cluster.cluster_id, run: r.run_id })}>Open map</button>`}</td></tr>`)}</tbody></table>`}
  </div>`;
}

export function ClustersPage({ namespace, params }) {
  const { data, error, loading } = useLoad(() => (namespace ? get("/v1/clusters", { query: { limit: 100 } }) : null),
                                           [namespace]);
  if (!namespace) return html`<${NeedsNamespace}/>`;
  if (loading) return html`<${Loading} what="clusters"/>`;
  if (error) return html`<${ErrorBox} error=${error}/>`;
  const clusters = data.results || [];
  const chosen = clusters.find((c) => c.cluster_id === params.id) || clusters[0];
  return html`<div class="split">
    <div class="card list"><h3>Clusters</h3>
      ${!clusters.length ? html`<${Empty}>No clusters in ${namespace}. Create one with <code>POST /v1/clusters</code>.</${Empty}>`
        : html`<ul class="pick">${clusters.map((c) => html`<li class=${chosen === c ? "active" : ""}>
          <a href=${`#/clusters?id=${c.cluster_id}`}>${c.cluster_name}</a> <${Badge} value=${c.status || "DRAFT"}/></li>`)}</ul>`}</div>
    <div class="grow">${chosen && html`<${Executions} key=${chosen.cluster_id} cluster=${chosen}/>`}</div>
  </div>`;
}
