// The only way the studio talks to openpeek: the public API, with the key the user signed in with. The key and the
// chosen namespace live in sessionStorage, so they end with the browser tab and are never written to disk.
const KEY = "openpeek.key";
const NAMESPACE = "openpeek.namespace";

export const session = {
  get key() { return sessionStorage.getItem(KEY); },
  set key(value) { value ? sessionStorage.setItem(KEY, value) : sessionStorage.removeItem(KEY); },
  get namespace() { return sessionStorage.getItem(NAMESPACE); },
  set namespace(value) { value ? sessionStorage.setItem(NAMESPACE, value) : sessionStorage.removeItem(NAMESPACE); },
};

export class ApiError extends Error {
  constructor(status, body) {
    const message = body?.error?.message
      || (Array.isArray(body?.detail) ? body.detail.map((d) => `${(d.loc || []).join(".")}: ${d.msg}`).join("; ") : null)
      || `HTTP ${status}`;
    super(message);
    this.status = status;
    this.body = body;
  }
}

function headers(extra = {}, namespaced = true) {
  const out = { ...extra };
  if (session.key) out.Authorization = `Bearer ${session.key}`;
  if (namespaced && session.namespace) out["X-Namespace"] = session.namespace;
  return out;
}

export async function request(method, path, { body, query, namespaced = true, raw = false, signal } = {}) {
  const url = new URL(path, location.origin);
  for (const [name, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(name, value);
  }
  const init = { method, headers: headers(body !== undefined ? { "Content-Type": "application/json" } : {}, namespaced),
                 signal };
  if (body !== undefined) init.body = JSON.stringify(body);
  const response = await fetch(url, init);
  if (raw && response.ok) return response;
  const text = await response.text();
  let parsed = null;
  try { parsed = text ? JSON.parse(text) : null; } catch { parsed = { error: { message: text.slice(0, 200) } }; }
  if (!response.ok) throw new ApiError(response.status, parsed);
  return raw ? { response, body: parsed } : parsed;
}

export const get = (path, options) => request("GET", path, options);
export const post = (path, body, options = {}) => request("POST", path, { ...options, body: body ?? {} });
export const patch = (path, body, options = {}) => request("PATCH", path, { ...options, body });
export const del = (path, options) => request("DELETE", path, options);

// Which routes this server has, from its own OpenAPI document: pages for resources another release adds ask this
// first, so an older server shows "not available" without a failing request (a 404 still counts as not available).
let routes = null;
export async function serverHas(path) {
  if (!routes) {
    routes = fetch("/openapi.json").then((r) => r.json()).then((doc) => new Set(Object.keys(doc.paths || {})))
      .catch(() => new Set());
  }
  return (await routes).has(path);
}

export const notAvailable = (error) => error instanceof ApiError && (error.status === 404 || error.status === 405);
