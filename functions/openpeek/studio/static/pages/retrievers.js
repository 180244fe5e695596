// Retrievers and the playground: the form is generated from the retriever's input_schema (each input's type picks its
// control), and a run shows every result's score and payload with each stage's timing.
import { useState } from "preact/hooks";
import { get, post } from "../api.js";
import { html, useLoad, ErrorBox, Loading, Empty, Json, Fields, NeedsNamespace } from "../ui.js";

function control(name, spec, value, set) {
  const common = { name, id: `input-${name}`, required: Boolean(spec.required), "data-input": name };
  switch (spec.type) {
    case "boolean":
      return html`<input type="checkbox" ...${common} required=${false} checked=${Boolean(value)} onChange=${(e) => set(e.target.checked)}/>`;
    case "number": case "float": case "integer":
      return html`<input type="number" step=${spec.type === "integer" ? 1 : "any"} ...${common} value=${value ?? ""}
        onInput=${(e) => set(e.target.value)}/>`;
    case "array": case "object":
      return html`<textarea rows="3" ...${common} placeholder=${spec.type === "array" ? "[0.1, 0.2, …] (JSON)" : "{ } (JSON)"}
        value=${value ?? ""} onInput=${(e) => set(e.target.value)}></textarea>`;
    case "date": case "datetime":
      return html`<input type=${spec.type === "date" ? "date" : "datetime-local"} ...${common} value=${value ?? ""}
        onInput=${(e) => set(e.target.value)}/>`;
    case "text":
      return html`<textarea rows="2" ...${common} value=${value ?? ""} onInput=${(e) => set(e.target.value)}></textarea>`;
    default:
      return html`<input type="text" ...${common} value=${value ?? ""} placeholder=${spec.type === "string" ? "" : spec.type}
        onInput=${(e) => set(e.target.value)}/>`;
  }
}

function coerce(spec, raw) {
  if (raw === undefined || raw === "") return undefined;
  if (["number", "float"].includes(spec.type)) return Number(raw);
  if (spec.type === "integer") return parseInt(raw, 10);
  if (["array", "object"].includes(spec.type)) return JSON.parse(raw);
  if (spec.type === "datetime" && raw) return new Date(raw).toISOString();
  return raw;
}

function Results({ result }) {
  const stages = Object.entries(result.stage_statistics?.stages || {});
  return html`<div class="card" data-testid="playground-results">
    <div class="card-head"><h3>${result.documents.length} result${result.documents.length === 1 ? "" : "s"}</h3>
      <span class="muted">${result.stage_statistics?.total_time_ms ?? "?"} ms in all</span></div>
    <table class="table timings"><thead><tr><th>Stage</th><th>Kind</th><th>In</th><th>Out</th><th>Time</th></tr></thead>
      <tbody>${stages.map(([name, s]) => html`<tr data-testid="stage-timing"><td>${name}</td><td>${s.metadata?.stage_id || ""}</td>
        <td>${s.input_count}</td><td>${s.output_count}</td><td>${s.duration_ms} ms</td></tr>`)}</tbody></table>
    <ol class="results">${result.documents.map((d) => {
      const { document_id, score } = d;
      return html`<li data-testid="result">
        <div class="result-head"><span class="score">${typeof score === "number" ? score.toFixed(4) : score}</span>
          <a href=${`#/documents?doc=${encodeURIComponent(document_id)}`} class="mono">${document_id}</a></div>
        <${Fields} document=${d}/></li>`; })}</ol>
  </div>`;
}

function Playground({ retriever }) {
  const schema = retriever.input_schema || {};
  const [values, setValues] = useState({});
  const [limit, setLimit] = useState(10);
  const [result, setResult] = useState(null);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  async function run(event) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const inputs = {};
      for (const [name, spec] of Object.entries(schema)) {
        const value = coerce(spec, values[name]);
        if (value !== undefined) inputs[name] = value;
      }
      setResult(await post(`/v1/retrievers/${encodeURIComponent(retriever.retriever_id)}/execute`,
                           { inputs, limit: Number(limit) }));
    } catch (caught) {
      setError(caught instanceof SyntaxError ? new Error(`An input is not valid JSON: ${caught.message}`) : caught);
      setResult(null);
    } finally {
      setBusy(false);
    }
  }
  return html`<div class="stack">
    <form class="card form" onSubmit=${run} data-testid="playground">
      <div class="card-head"><h3>Playground: ${retriever.retriever_name}</h3><span class="mono muted">${retriever.retriever_id}</span></div>
      ${Object.keys(schema).length === 0 && html`<p class="muted">This retriever takes no inputs.</p>`}
      ${Object.entries(schema).map(([name, spec]) => html`<label class="field">
        <span>${name}${spec.required ? " *" : ""} <em class="muted">${spec.type}</em></span>
        ${control(name, spec, values[name], (v) => setValues({ ...values, [name]: v }))}
        ${spec.description && html`<small class="muted">${spec.description}</small>`}</label>`)}
      <div class="row"><label>Results <input type="number" min="1" max="1000" value=${limit} onInput=${(e) => setLimit(e.target.value)}/></label>
        <button type="submit" disabled=${busy}>${busy ? "Running…" : "Run retriever"}</button></div>
      <${ErrorBox} error=${error}/>
      <${Json} value=${{ stages: retriever.stages }} collapsed/>
    </form>
    ${result && html`<${Results} result=${result}/>`}
  </div>`;
}

export function RetrieversPage({ namespace, params }) {
  const { data, error, loading } = useLoad(() => (namespace ? get("/v1/retrievers", { query: { limit: 100 } }) : null),
                                           [namespace]);
  if (!namespace) return html`<${NeedsNamespace}/>`;
  if (loading) return html`<${Loading} what="retrievers"/>`;
  if (error) return html`<${ErrorBox} error=${error}/>`;
  const retrievers = data.results || data.retrievers || [];
  const chosen = retrievers.find((r) => r.retriever_id === params.id || r.retriever_name === params.id);
  return html`<div class="split">
    <div class="card list">
      <h3>Retrievers</h3>
      ${!retrievers.length ? html`<${Empty}>No retrievers in ${namespace}. Create one with <code>POST /v1/retrievers</code>.</${Empty}>`
        : html`<ul class="pick">${retrievers.map((r) => html`<li class=${chosen === r ? "active" : ""}>
          <a href=${`#/retrievers?id=${encodeURIComponent(r.retriever_id)}`} data-testid="retriever-link">${r.retriever_name}</a>
          <small class="muted">${(r.stages || []).length} stage${(r.stages || []).length === 1 ? "" : "s"}</small></li>`)}</ul>`}
    </div>
    <div class="grow">${chosen ? html`<${Playground} key=${chosen.retriever_id} retriever=${chosen}/>`
      : html`<${Empty}>Pick a retriever to open its playground.</${Empty}>`}</div>
  </div>`;
}
