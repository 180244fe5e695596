// Small shared pieces: htm bound to preact, a hook for loading data, and the widgets every page uses.
import { h } from "preact";
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import htm from "htm";
import { ApiError } from "./api.js";

export const html = htm.bind(h);

export function useLoad(load, deps) {
  const [state, setState] = useState({ loading: true, data: null, error: null });
  const generation = useRef(0);
  const reload = useCallback(() => {
    const mine = ++generation.current;
    setState((s) => ({ ...s, loading: true }));
    Promise.resolve().then(load).then(
      (data) => mine === generation.current && setState({ loading: false, data, error: null }),
      (error) => mine === generation.current && setState({ loading: false, data: null, error }));
  }, deps);
  useEffect(reload, [reload]);
  return { ...state, reload };
}

export function ErrorBox({ error }) {
  if (!error) return null;
  const code = error instanceof ApiError ? error.body?.error?.code : null;
  return html`<div class="error" role="alert"><strong>${error instanceof ApiError ? `Error ${error.status}` : "Error"}</strong>
    ${code ? html` <code>${code}</code>` : ""}: ${error.message}</div>`;
}

export function Loading({ what = "" }) {
  return html`<div class="loading">Loading${what ? ` ${what}` : ""}…</div>`;
}

export function Json({ value, collapsed = false }) {
  const text = JSON.stringify(value, null, 2);
  return collapsed ? html`<details><summary>JSON</summary><pre class="json">${text}</pre></details>`
                   : html`<pre class="json">${text}</pre>`;
}

export function Badge({ value }) {
  const tone = { COMPLETED: "ok", completed: "ok", ready: "ok", FAILED: "bad", failed: "bad", CANCELED: "muted",
                 PROCESSING: "busy", PENDING: "busy", running: "busy", pending: "busy", delivered: "ok", dead: "bad" }[value] || "muted";
  return html`<span class=${`badge ${tone}`}>${value}</span>`;
}

export function Empty({ children }) {
  return html`<div class="empty">${children}</div>`;
}

export function NotAvailable({ what }) {
  return html`<div class="notice" data-testid="not-available">
    <strong>${what} are not available on this server.</strong>
    <p>This openpeek release does not serve these routes yet; the page works as soon as a server that has them does.</p>
  </div>`;
}

export function NeedsNamespace() {
  return html`<div class="notice">Pick a namespace first (top right, or on the <a href="#/namespaces">Namespaces</a> page).</div>`;
}

export const when = (iso) => (iso ? new Date(iso).toLocaleString() : "—");
export const count = (n) => (n === null || n === undefined ? "—" : Number(n).toLocaleString());

export function go(page, params = {}) {
  const search = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== ""));
  location.hash = `#/${page}${search.toString() ? `?${search}` : ""}`;
}

// A document's own fields as a compact list; the system fields (ids, timestamps, lineage) behind a disclosure.
const SYSTEM = new Set(["namespace_id", "internal_id", "collection_id", "source_type", "created_at", "updated_at",
                        "document_id", "score", "vectors", "acl", "metadata"]);
export function Fields({ document }) {
  const own = Object.entries(document).filter(([key]) => !SYSTEM.has(key));
  const system = Object.fromEntries(Object.entries(document).filter(([key]) => SYSTEM.has(key) && key !== "vectors"));
  return html`<dl class="fields">${own.map(([key, value]) => html`<dt>${key}</dt>
    <dd>${typeof value === "object" && value !== null ? JSON.stringify(value) : String(value)}</dd>`)}</dl>
    <details class="system"><summary>system fields</summary><pre class="json">${JSON.stringify(system, null, 2)}</pre></details>`;
}
