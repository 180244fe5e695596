// The documents browser: a filter builder over payload fields (the API's LogicalOperator filter), cursor paging, and a
// document view with its payload and a summary of each vector (dimension, norm, range, first values).
import { useState } from "preact/hooks";
import { get, post } from "../api.js";
import { html, useLoad, ErrorBox, Loading, Empty, Fields, NeedsNamespace, go } from "../ui.js";

const OPERATORS = [["eq", "="], ["ne", "≠"], ["gt", ">"], ["gte", "≥"], ["lt", "<"], ["lte", "≤"], ["in", "in (a, b)"],
                   ["contains", "contains"], ["text", "has words"], ["starts_with", "starts with"], ["exists", "exists"]];
const PAGE = 20;

function typed(raw) {
  const text = raw.trim();
  if (text === "true" || text === "false") return text === "true";
  if (text !== "" && !Number.isNaN(Number(text))) return Number(text);
  return text;
}

export function buildFilter(rows) {
  const conditions = rows.filter((r) => r.field.trim()).map((r) => ({
    field: r.field.trim(), operator: r.operator,
    value: r.operator === "in" ? r.value.split(",").map(typed) : r.operator === "exists" ? true : typed(r.value) }));
  return conditions.length ? { AND: conditions } : null;
}

function vectorSummary(values) {
  if (!Array.isArray(values)) {
    return { kind: "sparse", dimension: values?.indices?.length ?? 0, first: (values?.values || []).slice(0, 6) };
  }
  let norm = 0; let min = Infinity; let max = -Infinity;
  for (const v of values) { norm += v * v; if (v < min) min = v; if (v > max) max = v; }
  return { kind: "dense", dimension: values.length, norm: Math.sqrt(norm), min, max, first: values.slice(0, 6) };
}

export function DocumentView({ id, onClose }) {
  const { data, error, loading } = useLoad(
    () => get(`/v1/documents/${encodeURIComponent(id)}`, { query: { return_vectors: true } }), [id]);
  return html`<div class="card document" data-testid="document-view">
    <div class="card-head"><h3 class="mono">${id}</h3>${onClose && html`<button class="link" onClick=${onClose}>close</button>`}</div>
    ${loading ? html`<${Loading}/>` : error ? html`<${ErrorBox} error=${error}/>` : (() => {
      const { vectors = {}, ...payload } = data;
      return html`<h4>Payload</h4><${Fields} document=${payload}/>
        <h4>Vectors</h4>${!Object.keys(vectors).length ? html`<p class="muted">none stored</p>` : html`
        <table class="table"><thead><tr><th>Index</th><th>Kind</th><th>Dim.</th><th>Norm</th><th>Range</th><th>First values</th></tr></thead>
        <tbody>${Object.entries(vectors).map(([name, value]) => { const s = vectorSummary(value); return html`<tr>
          <td>${name}</td><td>${s.kind}</td><td>${s.dimension}</td><td>${s.norm?.toFixed(4) ?? ""}</td>
          <td>${s.kind === "dense" ? `${s.min.toFixed(3)} … ${s.max.toFixed(3)}` : ""}</td>
          <td class="mono">${s.first.map((v) => v.toFixed(3)).join(", ")}…</td></tr>`; })}</tbody></table>`}`;
    })()}</div>`;
}

function FilterBuilder({ rows, setRows, fields, onApply }) {
  const set = (i, key, value) => setRows(rows.map((r, j) => (j === i ? { ...r, [key]: value } : r)));
  return html`<form class="card form filters" onSubmit=${(e) => { e.preventDefault(); onApply(); }} data-testid="filter-builder">
    <datalist id="payload-fields">${fields.map((f) => html`<option value=${f}/>`)}</datalist>
    ${rows.map((r, i) => html`<div class="row">
      <input list="payload-fields" placeholder="payload field (e.g. category)" value=${r.field} data-filter="field"
        onInput=${(e) => set(i, "field", e.target.value)}/>
      <select value=${r.operator} data-filter="operator" onChange=${(e) => set(i, "operator", e.target.value)}>
        ${OPERATORS.map(([op, label]) => html`<option value=${op}>${label}</option>`)}</select>
      <input placeholder="value" value=${r.value} disabled=${r.operator === "exists"} data-filter="value"
        onInput=${(e) => set(i, "value", e.target.value)}/>
      <button type="button" class="link" onClick=${() => setRows(rows.length > 1 ? rows.filter((_, j) => j !== i) : [{ field: "", operator: "eq", value: "" }])}>×</button>
    </div>`)}
    <div class="row"><button type="button" class="link" onClick=${() => setRows([...rows, { field: "", operator: "eq", value: "" }])}>+ condition (AND)</button>
      <div class="grow"></div><button type="submit">Apply filters</button></div>
  </form>`;
}

export function DocumentsPage({ namespace, params }) {
  const [rows, setRows] = useState([{ field: "", operator: "eq", value: "" }]);
  const [applied, setApplied] = useState(null);
  const [cursors, setCursors] = useState([null]);
  const cursor = cursors[cursors.length - 1];
  const { data, error, loading } = useLoad(() => (namespace
    ? post("/v1/documents/list", { limit: PAGE, include_total: !applied, ...(applied ? { filters: applied } : {}),
                                   ...(cursor ? { cursor } : {}) }) : null), [namespace, applied, cursor]);
  if (!namespace) return html`<${NeedsNamespace}/>`;
  const results = data?.results || [];
  const SYSTEM = ["document_id", "vectors", "namespace_id", "internal_id", "collection_id", "source_type", "created_at", "updated_at"];
  const fields = [...new Set(results.flatMap((d) => Object.keys(d).filter((k) => !SYSTEM.includes(k))))];
  const apply = () => { setApplied(buildFilter(rows)); setCursors([null]); };
  const open = (id) => go("documents", { doc: id });
  return html`<div class="split">
    <div class="grow stack">
      <${FilterBuilder} rows=${rows} setRows=${setRows} fields=${fields} onApply=${apply}/>
      <div class="card">
        <div class="card-head"><h3>Documents ${data?.total_documents != null ? html`<span class="muted">(${data.total_documents.toLocaleString()})</span>` : ""}</h3>
          <div class="pager">
            <button class="small" disabled=${cursors.length < 2} onClick=${() => setCursors(cursors.slice(0, -1))}>← Previous</button>
            <span class="muted">page ${cursors.length}</span>
            <button class="small" disabled=${!data?.pagination?.next_cursor} data-testid="next-page"
              onClick=${() => setCursors([...cursors, data.pagination.next_cursor])}>Next →</button></div></div>
        ${loading && !data ? html`<${Loading}/>` : error ? html`<${ErrorBox} error=${error}/>` : !results.length
          ? html`<${Empty}>No documents${applied ? " match these filters" : ""}.</${Empty}>`
          : html`<table class="table" data-testid="document-table"><thead><tr><th>Document</th>${fields.slice(0, 4).map((f) => html`<th>${f}</th>`)}</tr></thead>
            <tbody>${results.map((d) => html`<tr class="clickable" onClick=${() => open(d.document_id)}>
              <td class="mono">${d.document_id}</td>${fields.slice(0, 4).map((f) => html`<td class="wrap">${
                typeof d[f] === "object" ? JSON.stringify(d[f]) : String(d[f] ?? "")}</td>`)}</tr>`)}</tbody></table>`}
        ${data?.warnings && html`<p class="muted">${data.warnings.join(" ")}</p>`}
      </div>
    </div>
    ${params.doc && html`<div class="side"><${DocumentView} id=${params.doc} onClose=${() => go("documents")}/></div>`}
  </div>`;
}
