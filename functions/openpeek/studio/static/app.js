// The studio's shell: sign-in, navigation, the namespace picker and a hash router (#/page?arg=value), so every page
// is a plain URL that reloads to itself and the server serves one HTML file.
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { get, session, ApiError } from "./api.js";
import { html, ErrorBox } from "./ui.js";
import { NamespacesPage } from "./pages/namespaces.js";
import { DocumentsPage } from "./pages/documents.js";
import { RetrieversPage } from "./pages/retrievers.js";
import { TasksPage } from "./pages/tasks.js";
import { WebhooksPage } from "./pages/webhooks.js";
import { ClustersPage } from "./pages/clusters.js";
import { ManagedPage } from "./pages/managed.js";
import { MapPage } from "./pages/map.js";

const PAGES = [
  ["namespaces", "Namespaces", NamespacesPage],
  ["documents", "Documents", DocumentsPage],
  ["retrievers", "Retrievers", RetrieversPage],
  ["clusters", "Clusters", ClustersPage],
  ["tasks", "Tasks", TasksPage],
  ["webhooks", "Webhooks", WebhooksPage],
  ["buckets", "Buckets", ManagedPage],
  ["collections", "Collections", ManagedPage],
  ["batches", "Batches", ManagedPage],
];
const HIDDEN = { map: MapPage, objects: ManagedPage };

function parseHash() {
  const [path, search] = location.hash.replace(/^#\/?/, "").split("?");
  return { page: path || "namespaces", params: Object.fromEntries(new URLSearchParams(search || "")) };
}

function SignIn({ onSignedIn }) {
  const [key, setKey] = useState("");
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  async function submit(event) {
    event.preventDefault();
    setBusy(true);
    session.key = key.trim();
    try {
      await get("/v1/namespaces", { query: { limit: 1 }, namespaced: false });
      onSignedIn();
    } catch (caught) {
      session.key = null;
      setError(caught instanceof ApiError && caught.status === 401 ? new Error("That key was not accepted.") : caught);
    } finally {
      setBusy(false);
    }
  }
  return html`<main class="signin">
    <form onSubmit=${submit} class="card">
      <h1><img src="./favicon.svg" alt="" width="28" height="28"/> openpeek studio</h1>
      <p>Sign in with an API key. It is kept in this browser tab only (sessionStorage) and sent to this server alone.</p>
      <label>API key <input name="api_key" type="password" autocomplete="off" required value=${key}
        onInput=${(e) => setKey(e.target.value)} placeholder="sk_..."/></label>
      <button type="submit" disabled=${busy}>${busy ? "Checking…" : "Sign in"}</button>
      <${ErrorBox} error=${error}/>
      <p class="hint"><code>make run</code> prints the first key; <code>openpeek keys create --org default</code> makes more.</p>
    </form>
  </main>`;
}

function NamespacePicker({ namespace, onChange }) {
  const [names, setNames] = useState([]);
  useEffect(() => {
    get("/v1/namespaces", { query: { limit: 100 }, namespaced: false })
      .then((body) => setNames((body.results || []).map((n) => n.namespace_name)), () => setNames([]));
  }, [namespace]);
  return html`<label class="picker">Namespace
    <select data-testid="namespace-picker" value=${namespace || ""} onChange=${(e) => onChange(e.target.value)}>
      <option value="">—</option>
      ${[...new Set([...(namespace ? [namespace] : []), ...names])].map((n) => html`<option value=${n}>${n}</option>`)}
    </select></label>`;
}

function App() {
  const [signedIn, setSignedIn] = useState(Boolean(session.key));
  const [route, setRoute] = useState(parseHash());
  const [namespace, setNamespace] = useState(session.namespace);
  useEffect(() => {
    const onHash = () => setRoute(parseHash());
    addEventListener("hashchange", onHash);
    return () => removeEventListener("hashchange", onHash);
  }, []);
  if (!signedIn) return html`<${SignIn} onSignedIn=${() => setSignedIn(true)}/>`;
  const chooseNamespace = (name) => { session.namespace = name; setNamespace(name || null); };
  const entry = PAGES.find(([id]) => id === route.page);
  const Page = entry ? entry[2] : HIDDEN[route.page] || NamespacesPage;
  const signOut = () => { session.key = null; session.namespace = null; setSignedIn(false); };
  return html`<div class="shell">
    <nav class="sidebar">
      <a class="brand" href="#/namespaces"><img src="./favicon.svg" alt="" width="22" height="22"/> openpeek</a>
      ${PAGES.map(([id, label]) => html`<a href=${`#/${id}`} class=${route.page === id ? "active" : ""}>${label}</a>`)}
      <div class="spacer"></div>
      <a href="/docs" target="_blank" rel="noopener">API reference</a>
      <button class="link" onClick=${signOut}>Sign out</button>
    </nav>
    <div class="main">
      <header class="topbar">
        <h2>${entry ? entry[1] : route.page === "map" ? "Cluster map" : route.page}</h2>
        <${NamespacePicker} namespace=${namespace} onChange=${chooseNamespace}/>
      </header>
      <section class="content">
        <${Page} key=${`${route.page}:${namespace}`} page=${route.page} params=${route.params} namespace=${namespace}
          chooseNamespace=${chooseNamespace}/>
      </section>
    </div>
  </div>`;
}

const root = document.getElementById("app");
root.replaceChildren();
render(html`<${App}/>`, root);
