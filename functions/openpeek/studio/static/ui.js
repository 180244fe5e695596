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
                 PROCESSING: "busy", PENDING: "busy", running: "busy", pending: "busy" }[value] || "muted";
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
