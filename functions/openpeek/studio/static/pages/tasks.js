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
      : html`<table class="table" data-testid="task-table"><thead><tr><th>Task</th><th>Type</th><th>Status</th><th>Progress</th><th>Created</th><th>Message</th></tr></thead>
        <tbody>${data.results.map((t) => {
          const progress = t.progress ?? t.progress_percentage ?? (t.status === "COMPLETED" ? 100 : LIVE.has(t.status) ? null : 0);
          return html`<tr><td class="mono">${t.task_id}</td><td>${t.task_type}</td><td><${Badge} value=${t.status}/></td>
            <td>${progress === null ? html`<div class="progress indeterminate"><div></div></div>`
              : html`<div class="progress"><div style=${`width:${Math.max(0, Math.min(100, progress))}%`}></div></div>`}</td>
            <td>${when(t.created_at)}</td><td class="wrap">${t.error_message || t.message || ""}</td></tr>`; })}</tbody></table>`}
  </div>`;
}
