// Webhooks and their delivery log (every attempt with its status code).
import { get, post } from "../api.js";
import { html, useLoad, ErrorBox, Loading, Badge, Empty, NeedsNamespace, when, go } from "../ui.js";

function Deliveries({ id }) {
  const { data, error, loading } = useLoad(() => get(`/v1/webhooks/${encodeURIComponent(id)}/deliveries`), [id]);
  if (loading) return html`<${Loading} what="deliveries"/>`;
  if (error) return html`<${ErrorBox} error=${error}/>`;
  const rows = data.results || data.deliveries || [];
  return html`<div class="card"><h3>Delivery log</h3>
    ${!rows.length ? html`<${Empty}>No deliveries yet.</${Empty}>`
      : html`<table class="table" data-testid="delivery-table"><thead><tr><th>When</th><th>Event</th><th>Attempt</th><th>Status</th><th>HTTP</th><th>Time</th><th>Error</th></tr></thead>
        <tbody>${rows.map((d) => html`<tr><td>${when(d.started_at || d.created_at)}</td><td>${d.event_type || d.event}</td>
          <td>${d.attempt ?? ""}</td><td><${Badge} value=${d.status}/></td><td>${d.status_code ?? ""}</td>
          <td>${d.duration_ms != null ? `${d.duration_ms} ms` : ""}</td><td class="wrap">${d.error || ""}</td></tr>`)}</tbody></table>`}</div>`;
}

export function WebhooksPage({ namespace, params }) {
  // A delivery log fills in the background (retries with backoff): reopening the page shows the newest attempts.
  const { data, error, loading } = useLoad(
    () => (namespace ? post("/v1/webhooks/list", {}) : null), [namespace]);
  if (!namespace) return html`<${NeedsNamespace}/>`;
  if (loading) return html`<${Loading} what="webhooks"/>`;
  if (error) return html`<${ErrorBox} error=${error}/>`;
  const hooks = data.results || [];
  return html`<div class="stack"><div class="card"><h3>Webhooks</h3>
    ${!hooks.length ? html`<${Empty}>No webhooks in this namespace. Create them with <code>POST /v1/webhooks</code>.</${Empty}>`
      : html`<table class="table"><thead><tr><th>Name</th><th>URL</th><th>Events</th><th>Active</th><th></th></tr></thead>
        <tbody>${hooks.map((w) => html`<tr><td>${w.webhook_name}</td><td class="mono wrap">${w.url}</td>
          <td>${(w.events || w.event_types || []).join(", ")}</td><td>${String(w.is_active ?? w.enabled ?? true)}</td>
          <td><button class="small" onClick=${() => go("webhooks", { id: w.webhook_id })}>Deliveries</button></td></tr>`)}</tbody></table>`}
  </div>${params.id && html`<${Deliveries} id=${params.id}/>`}</div>`;
}
