// Namespaces: list, create (managed, or bring-your-own-vectors with its vector indexes), details and stats.
import { useState } from "preact/hooks";
import { get, post } from "../api.js";
import { html, useLoad, ErrorBox, Loading, Json, Empty, when, count, go } from "../ui.js";

function CreateNamespace({ onCreated }) {
  const [kind, setKind] = useState("standalone");
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const [vectors, setVectors] = useState([{ name: "embedding", dimension: 384 }]);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  async function submit(event) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const created = kind === "standalone"
        ? await post("/v1/namespaces/standalone", { namespace_id: name, ...(description ? { description } : {}),
            vector_configs: vectors.map((v) => ({ name: v.name, dimension: Number(v.dimension) })) }, { namespaced: false })
        : await post("/v1/namespaces", { namespace_name: name, ...(description ? { description } : {}) },
            { namespaced: false });
      setName("");
      onCreated(created.namespace_name || name);
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  }
  const setVector = (i, field, value) => setVectors(vectors.map((v, j) => (j === i ? { ...v, [field]: value } : v)));
  return html`<form class="card form" onSubmit=${submit} data-testid="create-namespace">
    <h3>New namespace</h3>
    <div class="row">
      <label>Name <input name="namespace_name" required minlength="3" maxlength="64" value=${name}
        onInput=${(e) => setName(e.target.value)} placeholder="products"/></label>
      <label>Kind <select value=${kind} onChange=${(e) => setKind(e.target.value)}>
        <option value="standalone">Bring your own vectors</option><option value="managed">Managed</option></select></label>
      <label class="grow">Description <input value=${description} onInput=${(e) => setDescription(e.target.value)}/></label>
    </div>
    ${kind === "standalone" && html`<div class="vectors">
      ${vectors.map((v, i) => html`<div class="row">
        <label>Vector index <input value=${v.name} required onInput=${(e) => setVector(i, "name", e.target.value)}/></label>
        <label>Dimension <input type="number" min="1" max="65536" value=${v.dimension} required
          onInput=${(e) => setVector(i, "dimension", e.target.value)}/></label>
        ${vectors.length > 1 && html`<button type="button" class="link" onClick=${() => setVectors(vectors.filter((_, j) => j !== i))}>remove</button>`}
      </div>`)}
      <button type="button" class="link" onClick=${() => setVectors([...vectors, { name: "", dimension: 384 }])}>+ another vector index</button>
    </div>`}
    <div><button type="submit" disabled=${busy}>${busy ? "Creating…" : "Create namespace"}</button></div>
    <${ErrorBox} error=${error}/>
  </form>`;
}

function NamespaceDetails({ identifier, onUse }) {
  const { data, error, loading } = useLoad(() => Promise.all([
    get(`/v1/namespaces/${encodeURIComponent(identifier)}`, { namespaced: false }),
    get(`/v1/namespaces/${encodeURIComponent(identifier)}/stats`, { namespaced: false }),
  ]), [identifier]);
  if (loading) return html`<${Loading} what="namespace"/>`;
  if (error) return html`<${ErrorBox} error=${error}/>`;
  const [namespace, stats] = data;
  return html`<div class="card" data-testid="namespace-details">
    <div class="card-head"><h3>${namespace.namespace_name}</h3>
      <button onClick=${() => onUse(namespace.namespace_name)}>Use this namespace</button></div>
    <div class="stats">
      <div><span>Documents</span><strong data-testid="document-count">${count(stats.document_count)}</strong></div>
      <div><span>Vector indexes</span><strong>${(namespace.vector_configs || namespace.feature_extractors || []).length}</strong></div>
      <div><span>Payload indexes</span><strong>${(namespace.payload_indexes || []).length}</strong></div>
      <div><span>Created</span><strong>${when(namespace.created_at)}</strong></div>
    </div>
    <p class="muted">${namespace.namespace_id}${namespace.description ? ` — ${namespace.description}` : ""}</p>
    <${Json} value=${{ namespace, stats }} collapsed/>
  </div>`;
}

export function NamespacesPage({ params, chooseNamespace }) {
  const { data, error, loading, reload } = useLoad(
    () => get("/v1/namespaces", { query: { limit: 100 }, namespaced: false }), []);
  const selected = params.name;
  const created = (name) => { reload(); chooseNamespace(name); go("namespaces", { name }); };
  return html`<div class="stack">
    <${CreateNamespace} onCreated=${created}/>
    ${selected && html`<${NamespaceDetails} identifier=${selected} onUse=${(name) => { chooseNamespace(name); go("documents"); }}/>`}
    <div class="card">
      <h3>Namespaces</h3>
      ${loading ? html`<${Loading}/>` : error ? html`<${ErrorBox} error=${error}/>` : !data.results?.length
        ? html`<${Empty}>No namespaces yet: create one above.</${Empty}>`
        : html`<table class="table" data-testid="namespace-table"><thead><tr><th>Name</th><th>Id</th><th>Documents</th><th>Created</th><th></th></tr></thead>
          <tbody>${data.results.map((n) => html`<tr>
            <td><a href=${`#/namespaces?name=${encodeURIComponent(n.namespace_name)}`}>${n.namespace_name}</a></td>
            <td class="mono">${n.namespace_id}</td><td>${count(n.document_count)}</td><td>${when(n.created_at)}</td>
            <td><button class="small" onClick=${() => chooseNamespace(n.namespace_name)}>Use</button></td></tr>`)}</tbody></table>`}
    </div>
  </div>`;
}
