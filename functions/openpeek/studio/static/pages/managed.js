// Buckets, objects, collections and batches: the managed-content half of the API. Each page lists through the SDK's
// route; a server without those routes (older releases) gets a clear "not available" instead of an error.
import { useState } from "preact/hooks";
import { post, serverHas, notAvailable } from "../api.js";
import { html, useLoad, ErrorBox, Loading, Empty, Json, NotAvailable, NeedsNamespace, Badge, when, go } from "../ui.js";

const KINDS = {
  buckets: { title: "Buckets", route: "/v1/buckets/list", probe: "/v1/buckets/list", id: "bucket_id", name: "bucket_name",
             columns: [["description", "Description"], ["object_count", "Objects"], ["created_at", "Created"]] },
  collections: { title: "Collections", route: "/v1/collections/list", probe: "/v1/collections/list", id: "collection_id",
                 name: "collection_name", columns: [["document_count", "Documents"], ["lifecycle_state", "Lifecycle"], ["created_at", "Created"]] },
  batches: { title: "Batches", route: "/v1/batches/list", probe: "/v1/batches/list", id: "batch_id", name: "batch_id",
             columns: [["bucket_id", "Bucket"], ["status", "Status"], ["created_at", "Created"]] },
  objects: { title: "Objects", route: (p) => `/v1/buckets/${encodeURIComponent(p.bucket)}/objects/list`,
             probe: "/v1/buckets/{bucket_identifier}/objects/list", id: "object_id", name: "object_id",
             columns: [["key_prefix", "Prefix"], ["status", "Status"], ["created_at", "Created"]] },
};

function cell(key, value) {
  if (key === "status" || key === "lifecycle_state") return html`<${Badge} value=${value ?? "—"}/>`;
  if (key === "created_at") return when(value);
  return typeof value === "object" && value !== null ? JSON.stringify(value) : String(value ?? "—");
}

export function ManagedPage({ page, params, namespace }) {
  const kind = KINDS[page];
  const [open, setOpen] = useState(null);
  const { data, error, loading } = useLoad(async () => {
    if (!namespace) return null;
    if (!(await serverHas(kind.probe))) return { unavailable: true };
    try {
      return await post(typeof kind.route === "function" ? kind.route(params) : kind.route, {}, { query: { limit: 100 } });
    } catch (caught) {
      if (notAvailable(caught)) return { unavailable: true };
      throw caught;
    }
  }, [page, namespace, params.bucket]);
  if (!namespace) return html`<${NeedsNamespace}/>`;
  if (loading) return html`<${Loading} what=${kind.title.toLowerCase()}/>`;
  if (error) return html`<${ErrorBox} error=${error}/>`;
  if (data.unavailable) return html`<${NotAvailable} what=${kind.title}/>`;
  const rows = data.results || [];
  return html`<div class="stack"><div class="card">
    <h3>${kind.title}${page === "objects" ? ` in ${params.bucket}` : ""}</h3>
    ${!rows.length ? html`<${Empty}>No ${kind.title.toLowerCase()} in ${namespace} yet.</${Empty}>`
      : html`<table class="table" data-testid=${`${page}-table`}><thead><tr><th>Name</th><th>Id</th>${kind.columns.map(([, label]) => html`<th>${label}</th>`)}<th></th></tr></thead>
        <tbody>${rows.map((row) => html`<tr class="clickable" onClick=${() => setOpen(row)}>
          <td>${row[kind.name]}</td><td class="mono">${row[kind.id]}</td>${kind.columns.map(([key]) => html`<td>${cell(key, row[key])}</td>`)}
          <td>${page === "buckets" && html`<button class="small" onClick=${(e) => { e.stopPropagation(); go("objects", { bucket: row.bucket_id }); }}>Objects</button>`}</td></tr>`)}</tbody></table>`}
  </div>${open && html`<div class="card"><div class="card-head"><h3>${open[kind.name]}</h3>
    <button class="link" onClick=${() => setOpen(null)}>close</button></div><${Json} value=${open}/></div>`}</div>`;
}
