// Tasks with live progress: the list refreshes every second while any task is still pending or processing.
import { useEffect } from "preact/hooks";
import { post } from "../api.js";
import { html, useLoad, ErrorBox, Loading, Badge, Empty, when } from "../ui.js";

const LIVE = new Set(["PENDING", "PROCESSING", "IN_PROGRESS", "QUEUED"]);

export function TasksPage({ namespace }) {
  const { data, error, loading, reload } = useLoad(
    () => post("/v1/tasks/list", {}, { query: { limit: 100 }, namespaced: Boolean(namespace) }), [namespace]);
  const live = (data?.results || []).some((t) => LIVE.has(t.status));
  useEffect(() => {
    if (!live) return undefined;
    const timer = setTimeout(reload, 1000);
    return () => clearTimeout(timer);
  }, [data, live]);
  if (loading && !data) return html`<${Loading} what="tasks"/>`;
  if (error) return html`<${ErrorBox} error=${error}/>`;
  return html`<div class="card">
    <div class="card-head"><h3>Tasks ${namespace ? `in ${namespace}` : "of the organisation"}</h3>
      <span class="muted">${live ? "live — refreshing every second" : ""}</span></div>
    ${!data.results.length ? html`<${Empty}>No tasks yet. Cluster executions and other long jobs appear here.</${Empty}>`
      : html`<table class="table" data-testid="task-table"><thead><tr><th>Task</th><th>Type</th><th>Status</th><th>Progress</th><th>Created</th><th>Error</th></tr></thead>
        <tbody>${data.results.map((t) => {
          const extra = t.additional_data || {};
          const created = extra.created_at || t.created_at;
          const fraction = [extra.progress, extra.progress_percentage, t.progress].find((v) => typeof v === "number");
          const progress = fraction !== undefined ? (fraction <= 1 ? fraction * 100 : fraction)
            : t.status === "COMPLETED" ? 100 : null;
          const live = LIVE.has(t.status);
          const elapsed = created ? Math.max(0, Math.round((Date.now() - new Date(created).getTime()) / 1000)) : null;
          const error = typeof t.error === "string" ? t.error : t.error?.message || t.error_message || "";
          return html`<tr><td class="mono">${t.task_id}</td><td>${t.task_type}</td><td><${Badge} value=${t.status}/></td>
            <td>${progress === null && live ? html`<div class="progress indeterminate"><div></div></div><small class="muted">${elapsed} s</small>`
              : html`<div class="progress"><div style=${`width:${Math.max(0, Math.min(100, progress || 0))}%`}></div></div>`}</td>
            <td>${when(created)}</td><td class="wrap">${error}</td></tr>`; })}</tbody></table>`}
  </div>`;
}
