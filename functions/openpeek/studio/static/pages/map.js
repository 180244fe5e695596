// The cluster map page: loads a run's points in the packed binary form (pages fetched in parallel, drawn as they
// arrive), then the document ids in the background for hover and click; switches runs keeping the camera (runs'
// maps are aligned server-side); search highlights matching points; the legend focuses one cluster.
// window.__studioMap reports what was drawn (render count, points drawn, timings) for tests and benchmarks.
import { useEffect, useRef, useState } from "preact/hooks";
import { get, post, request, ApiError } from "../api.js";
import { html, ErrorBox, Empty, go, count } from "../ui.js";
import { ClusterMap, cssColour } from "../map.js";
import { DocumentView } from "./documents.js";

const POSITION_PAGE = 200000;
const ID_PAGE = 50000;
const MAGIC = [79, 80, 77, 65, 80, 0]; // "OPMAP\0"

export function parsePacked(buffer) {
  const bytes = new Uint8Array(buffer, 0, 12);
  if (!MAGIC.every((b, i) => bytes[i] === b)) throw new Error("The server sent something that is not a packed map");
  const view = new DataView(buffer);
  const length = view.getUint32(8, true);
  const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, 12, length)));
  const start = 12 + length;
  const columns = {};
  for (const c of header.columns) {
    const at = start + c.byte_offset;
    if (c.type === "float32") columns[c.name] = new Float32Array(buffer, at, c.byte_length / 4);
    else if (c.type === "int32") columns[c.name] = new Int32Array(buffer, at, c.byte_length / 4);
    else columns[c.name] = c.byte_length ? new TextDecoder().decode(new Uint8Array(buffer, at, c.byte_length)).split("\n") : [];
  }
  return { header, columns };
}

const stats = () => (window.__studioMap ||= { renders: 0, drawn: 0, total: 0 });

async function fetchPacked(clusterId, runId, offset, limit, include) {
  const response = await request("GET", `/v1/clusters/${encodeURIComponent(clusterId)}/visualization/points`,
    { query: { run_id: runId, offset, limit, include }, raw: true });
  if (response.status === 202) {
    const body = await response.json();
    throw new ApiError(202, { error: { message: `${body.message} (task ${body.task_id})`, code: "map_computing" } });
  }
  const buffer = await response.arrayBuffer();
  stats().bytes = (stats().bytes || 0) + buffer.byteLength;
  return parsePacked(buffer);
}

function emptyData(header) {
  const total = header.total_points;
  return { total, dims: header.n_components, runId: header.run_id, clusterIds: header.cluster_ids, loaded: 0,
           x: new Float32Array(total), y: new Float32Array(total), z: header.n_components === 3 ? new Float32Array(total) : null,
           cluster: new Int32Array(total), ids: null,
           centroids: (header.centroids || []).map((c, index) => ({ ...c, index })) };
}

// Positions first (drawn page by page), ids after: the map is on screen before the ids have arrived.
async function loadBinary(clusterId, runId, onData, onPage) {
  const first = await fetchPacked(clusterId, runId, 0, POSITION_PAGE, "positions");
  const data = emptyData(first.header);
  const arrived = new Set();
  const place = ({ header, columns }) => {
    const at = header.offset;
    data.x.set(columns.x, at); data.y.set(columns.y, at);
    if (data.z) data.z.set(columns.z, at);
    data.cluster.set(columns.cluster, at);
    arrived.add(at);
    let loaded = 0;
    while (arrived.has(loaded) && loaded < data.total) loaded = Math.min(data.total, loaded + POSITION_PAGE);
    const before = data.loaded;
    data.loaded = loaded;
    onPage(data, before, loaded);
  };
  onData(data);
  place(first);
  const rest = [];
  for (let offset = POSITION_PAGE; offset < data.total; offset += POSITION_PAGE) rest.push(offset);
  await Promise.all(rest.map((offset) => fetchPacked(clusterId, runId, offset, POSITION_PAGE, "positions").then(place)));
  return data;
}

// Id pages may come back shorter than asked (the server bounds their bytes): each short page queues the rest of its
// range. Four requests at a time.
async function loadIds(clusterId, data) {
  const ids = new Array(data.total);
  const ranges = [];
  for (let offset = 0; offset < data.total; offset += ID_PAGE) ranges.push([offset, Math.min(data.total, offset + ID_PAGE)]);
  const worker = async () => {
    while (ranges.length) {
      const [start, end] = ranges.shift();
      const { header, columns } = await fetchPacked(clusterId, data.runId, start, end - start, "document_ids");
      columns.document_id.forEach((id, j) => { ids[header.offset + j] = id; });
      if (header.count > 0 && start + header.count < end) ranges.push([start + header.count, end]);
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  data.ids = ids;
}

// The same points through the JSON map (`?compact=true`), for comparison in benchmarks (?transfer=json).
async function loadJson(clusterId, runId, onData, onPage) {
  const response = await request("GET", `/v1/clusters/${encodeURIComponent(clusterId)}/visualization`,
    { query: { run_id: runId, compact: true, max_points: 1000000 }, raw: true });
  const text = await response.text();
  stats().bytes = text.length;
  const body = JSON.parse(text);
  const members = body.members;
  const header = { total_points: members.x.length, n_components: body.n_components, run_id: body.run_id,
                   cluster_ids: body.centroids.map((c) => c.cluster_id),
                   centroids: body.centroids.map((c) => ({ ...c, position: [c.x, c.y, c.z ?? 0] })) };
  const data = emptyData(header);
  const index = new Map(header.cluster_ids.map((id, i) => [id, i]));
  data.x.set(members.x); data.y.set(members.y);
  if (data.z) data.z.set(members.z);
  members.cluster_ids.forEach((id, i) => { data.cluster[i] = id == null ? -1 : index.get(id) ?? -1; });
  data.ids = members.document_ids;
  onData(data);
  data.loaded = data.total;
  onPage(data, 0, data.total);
  return data;
}

function labelText(document) {
  for (const key of ["text", "title", "description", "name", "caption", "content"]) {
    if (typeof document[key] === "string" && document[key]) return document[key];
  }
  const first = Object.entries(document).find(([k, v]) => typeof v === "string" && !["document_id", "collection_id", "created_at", "updated_at"].includes(k));
  return first ? first[1] : "";
}

export function MapPage({ params, namespace }) {
  const canvasRef = useRef(null);
  const overlayRef = useRef(null);
  const mapRef = useRef(null);
  const dataRef = useRef(null);
  const texts = useRef(new Map());
  const [runs, setRuns] = useState([]);
  const [data, setData] = useState(null);
  const [progress, setProgress] = useState(null);
  const [error, setError] = useState(null);
  const [mode, setMode] = useState("2d");
  const [hover, setHover] = useState(null);
  const [opened, setOpened] = useState(null);
  const [query, setQuery] = useState("");
  const [matches, setMatches] = useState(null);
  const [focus, setFocus] = useState(-1);
  const clusterId = params.cluster;

  useEffect(() => {
    if (!clusterId) return undefined;
    const started = performance.now();
    Object.assign(stats(), { renders: 0, drawn: 0, total: 0, firstDrawMs: null, fullDrawMs: null, bytes: 0,
                             transfer: params.transfer === "json" ? "json" : "binary", ready: false });
    let map;
    try {
      map = mapRef.current || new ClusterMap(canvasRef.current, overlayRef.current, {
        onHover: (index, x, y) => setHover(index >= 0 ? { index, x, y } : null),
        onClick: (index) => { const id = dataRef.current?.ids?.[index]; if (id) setOpened(id); },
      });
    } catch (caught) { setError(caught); return undefined; }
    const keepCamera = Boolean(mapRef.current);
    mapRef.current = map;
    window.__studioMapInstance = map;
    map.afterRender = (s) => {
      const st = stats();
      st.renders = s.renders; st.drawn = s.drawn; st.lastRenderMs = s.lastRenderMs;
      if (st.firstDrawMs == null) st.firstDrawMs = performance.now() - started;
      if (st.fullDrawMs == null && s.drawn === st.total && st.total > 0) {
        st.fullDrawMs = performance.now() - started;
        st.fullDrawSinceNavigationMs = performance.now();
        st.bytesAtFullDraw = st.bytes;
      }
    };
    let cancelled = false;
    setError(null);
    setMatches(null);
    setFocus(-1);
    setProgress({ loaded: 0, total: null });
    const onData = (d) => {
      if (cancelled) return;
      dataRef.current = d;
      stats().total = d.total;
      stats().runId = d.runId;
      setData(d);
      map.setData(d, { keepCamera });
      setMode(map.mode);
    };
    const onPage = (d, from, to) => {
      if (cancelled) return;
      if (to > from) map.updateRange(from, to);
      setProgress({ loaded: to, total: d.total });
    };
    const load = params.transfer === "json" ? loadJson : loadBinary;
    load(clusterId, params.run, onData, onPage)
      .then((d) => { if (!cancelled) { stats().ready = true; return d.ids ? null : loadIds(clusterId, d); } return null; })
      .then(() => { if (!cancelled) { stats().idsLoaded = true; setProgress((p) => ({ ...p, ids: true })); } })
      .catch((caught) => !cancelled && setError(caught));
    return () => { cancelled = true; };
  }, [clusterId, params.run, params.transfer]);

  useEffect(() => () => { mapRef.current?.destroy(); mapRef.current = null; }, []);

  useEffect(() => {
    if (!clusterId) return;
    post(`/v1/clusters/${encodeURIComponent(clusterId)}/executions/list`, {}, { query: { limit: 100 } })
      .then((body) => setRuns((body.results || []).filter((r) => r.status === "completed")), () => setRuns([]));
  }, [clusterId]);

  // The hovered document's label text, fetched once per document, a moment after the pointer settles.
  useEffect(() => {
    const id = hover && dataRef.current?.ids?.[hover.index];
    if (!id || texts.current.has(id)) return undefined;
    const timer = setTimeout(() => {
      get(`/v1/documents/${encodeURIComponent(id)}`).then((doc) => { texts.current.set(id, labelText(doc)); setHover((h) => (h ? { ...h } : h)); },
        () => texts.current.set(id, ""));
    }, 120);
    return () => clearTimeout(timer);
  }, [hover?.index]);

  async function search(event) {
    event.preventDefault();
    const map = mapRef.current; const d = dataRef.current;
    if (!map || !d) return;
    const needle = query.trim().toLowerCase();
    if (!needle) { map.setFlags(null); setMatches(null); return; }
    const flags = new Uint8Array(d.total);
    const clusters = new Set(d.centroids.filter((c) => (c.label || c.cluster_id).toLowerCase().includes(needle)).map((c) => c.index));
    let found = 0;
    for (let i = 0; i < d.loaded; i += 1) {
      if (clusters.has(d.cluster[i]) || (d.ids && d.ids[i] && d.ids[i].toLowerCase().includes(needle))) { flags[i] = 1; found += 1; }
    }
    let textHits = 0;
    try {
      const listed = await post("/v1/documents/list", { search: query.trim(), limit: 1000, select: ["document_id"] });
      if (d.ids) {
        const wanted = new Set((listed.results || []).map((r) => r.document_id));
        for (let i = 0; i < d.total; i += 1) if (wanted.has(d.ids[i]) && !flags[i]) { flags[i] = 1; found += 1; textHits += 1; }
      }
    } catch { /* the text part of the search is best effort: labels and ids already matched */ }
    map.setFlags(flags);
    setMatches({ found, clusters: clusters.size, textHits });
  }

  const switchMode = (next) => { mapRef.current?.setMode(next); setMode(mapRef.current?.mode || "2d"); };
  const chooseFocus = (index) => { const next = focus === index ? -1 : index; setFocus(next); mapRef.current?.setFocus(next); };
  if (!clusterId) return html`<${Empty}>Open a map from a cluster's executions on the <a href="#/clusters">Clusters</a> page.</${Empty}>`;
  const hoveredId = hover && data?.ids?.[hover.index];
  const hoveredCluster = hover && data ? data.centroids[data.cluster[hover.index]] : null;
  const legend = data ? [...data.centroids].sort((a, b) => (b.num_members || 0) - (a.num_members || 0)) : [];
  if (data && progress?.loaded === data.total && !data.counted) {
    // Member counts from the points themselves once they are all here (the same as the run's, for a stored run).
    const counts = new Map();
    for (let i = 0; i < data.total; i += 1) counts.set(data.cluster[i], (counts.get(data.cluster[i]) || 0) + 1);
    for (const c of data.centroids) c.num_members = counts.get(c.index) || 0;
    data.counted = true;
  }
  return html`<div class="map-page">
    <div class="map-toolbar">
      <label>Run <select data-testid="run-picker" value=${params.run || data?.runId || ""}
        onChange=${(e) => go("map", { cluster: clusterId, run: e.target.value, transfer: params.transfer })}>
        ${!runs.some((r) => r.run_id === (params.run || data?.runId)) && html`<option value=${params.run || data?.runId || ""}>${params.run || data?.runId || "latest"}</option>`}
        ${runs.map((r) => html`<option value=${r.run_id}>${r.run_name || r.run_id} · ${new Date(r.created_at).toLocaleString()}</option>`)}</select></label>
      <div class="segmented">
        <button class=${mode === "2d" ? "on" : ""} onClick=${() => switchMode("2d")}>2-D</button>
        <button class=${mode === "3d" ? "on" : ""} disabled=${data?.dims !== 3} title=${data?.dims !== 3 ? "this run's map is 2-D" : ""}
          onClick=${() => switchMode("3d")}>3-D</button></div>
      <form onSubmit=${search} class="map-search"><input type="search" placeholder="Search labels, ids, text…" value=${query}
        data-testid="map-search" onInput=${(e) => setQuery(e.target.value)}/><button type="submit" class="small">Search</button></form>
      <span class="muted" data-testid="map-status">${progress?.total ? `${count(progress.loaded)} / ${count(progress.total)} points` : "loading…"}
        ${matches ? ` · ${count(matches.found)} matching` : ""}</span>
    </div>
    <${ErrorBox} error=${error}/>
    <div class="map-body">
      <div class="map-stage">
        <canvas ref=${canvasRef} data-testid="map-canvas"></canvas>
        <div class="map-overlay" ref=${overlayRef}></div>
        ${hover && html`<div class="map-tooltip" style=${`left:${hover.x + 14}px;top:${hover.y + 14}px`}>
          <div><span class="swatch" style=${`background:${cssColour(data.cluster[hover.index])}`}></span>${hoveredCluster?.label || "noise"}</div>
          <div class="mono">${hoveredId || `point ${hover.index}`}</div>
          ${hoveredId && texts.current.get(hoveredId) && html`<div class="tooltip-text">${texts.current.get(hoveredId).slice(0, 240)}</div>`}</div>`}
        ${progress && progress.total && progress.loaded < progress.total && html`<div class="map-progress"><div style=${`width:${(100 * progress.loaded) / progress.total}%`}></div></div>`}
      </div>
      <aside class="map-side">
        ${opened ? html`<${DocumentView} id=${opened} onClose=${() => setOpened(null)}/>` : html`<div class="legend">
          <h4>${legend.length} clusters</h4>
          <ul>${legend.map((c) => html`<li class=${focus === c.index ? "on" : ""} onClick=${() => chooseFocus(c.index)}>
            <span class="swatch" style=${`background:${cssColour(c.index)}`}></span><span class="grow">${c.label || c.cluster_id}</span>
            <span class="muted">${count(c.num_members)}</span></li>`)}</ul>
          <p class="muted hint">Drag to ${mode === "3d" ? "orbit" : "pan"}, scroll to zoom, hover for a document, click to open it.</p></div>`}
      </aside>
    </div>
  </div>`;
}
