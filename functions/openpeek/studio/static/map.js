// The cluster map's renderer: every point of a run drawn by WebGL2 in one draw call (positions, cluster index and a
// search flag as vertex attributes; colours from a small palette texture), pan/zoom in 2-D, orbit in 3-D, labels at
// the centroids as HTML over the canvas, and picking by projecting the points on the CPU (a few ms at a million).
// It draws only when something changed (data, camera, hover, search), in the next animation frame.
//
// In 2-D the points are drawn into an offscreen layer twice the size of the view, and each frame shows that layer
// shifted (and scaled while a zoom settles): panning costs one textured rectangle whatever the number of points, and
// the points are drawn again only when the view leaves the layer, the zoom settles or the data, search or focus
// change. With software WebGL a frame of 100,000 points is ~100 ms; a shifted layer is a few ms. 3-D orbits draw
// every point each frame.

const VERTEX = `#version 300 es
in float a_x; in float a_y; in float a_z; in int a_cluster; in uint a_flag;
uniform mat4 u_matrix; uniform float u_size; uniform sampler2D u_palette; uniform int u_hover; uniform int u_searching;
uniform int u_focus;
out vec4 v_color;
void main() {
  gl_Position = u_matrix * vec4(a_x, a_y, a_z, 1.0);
  vec4 colour = a_cluster < 0 ? vec4(0.55, 0.57, 0.62, 0.6) : texelFetch(u_palette, ivec2(a_cluster % 64, 0), 0);
  float size = u_size;
  bool dimmed = (u_searching == 1 && a_flag == 0u) || (u_focus >= 0 && a_cluster != u_focus);
  if (dimmed) { colour = vec4(colour.rgb * 0.35 + 0.1, 0.25); }
  else if (u_searching == 1) { size = max(size * 1.4, size + 2.0); colour = vec4(min(colour.rgb + 0.2, 1.0), 1.0); }
  if (gl_VertexID == u_hover) { size = max(size * 3.0, 9.0); colour = vec4(1.0, 1.0, 1.0, 1.0); }
  gl_PointSize = size;
  v_color = colour;
}`;
const FRAGMENT = `#version 300 es
precision mediump float;
in vec4 v_color; out vec4 out_color;
void main() {
  vec2 d = gl_PointCoord - 0.5;
  float r = dot(d, d);
  if (r > 0.25) discard;
  out_color = vec4(v_color.rgb, v_color.a * (r > 0.16 ? 0.75 : 1.0));
}`;

const COMPOSITE_VERTEX = `#version 300 es
in vec2 a_corner; uniform vec2 u_scale; uniform vec2 u_offset; out vec2 v_uv;
void main() { v_uv = 0.5 + a_corner * u_scale + u_offset; gl_Position = vec4(a_corner, 0.0, 1.0); }`;
const COMPOSITE_FRAGMENT = `#version 300 es
precision mediump float;
in vec2 v_uv; uniform sampler2D u_layer; uniform vec4 u_background; out vec4 out_color;
void main() {
  bool outside = any(lessThan(v_uv, vec2(0.0))) || any(greaterThan(v_uv, vec2(1.0)));
  out_color = outside ? u_background : texture(u_layer, v_uv);
}`;
const BACKGROUND = [0.059, 0.066, 0.09, 1];
const SETTLE_MS = 140;

const BASE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f",
              "#bab0ac", "#1f77b4", "#17becf", "#bcbd22", "#8c564b", "#e377c2", "#2ca02c"];

export function palette(n = 64) {
  const colours = BASE.map((hex) => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)));
  for (let i = colours.length; i < n; i += 1) {
    const hue = (i * 137.508) % 360; const s = 0.62; const l = i % 2 ? 0.58 : 0.48;
    const k = (m) => (m + hue / 30) % 12; const a = s * Math.min(l, 1 - l);
    const f = (m) => l - a * Math.max(-1, Math.min(k(m) - 3, Math.min(9 - k(m), 1)));
    colours.push([f(0), f(8), f(4)].map((v) => Math.round(v * 255)));
  }
  return colours;
}
export const cssColour = (index) => {
  const [r, g, b] = palette()[((index % 64) + 64) % 64];
  return index < 0 ? "#8b919e" : `rgb(${r},${g},${b})`;
};

function link(gl, vertex, fragment) {
  const program = gl.createProgram();
  gl.attachShader(program, compile(gl, gl.VERTEX_SHADER, vertex));
  gl.attachShader(program, compile(gl, gl.FRAGMENT_SHADER, fragment));
  gl.linkProgram(program);
  if (!gl.getProgramParameter(program, gl.LINK_STATUS)) throw new Error(gl.getProgramInfoLog(program));
  return program;
}

function compile(gl, type, source) {
  const shader = gl.createShader(type);
  gl.shaderSource(shader, source);
  gl.compileShader(shader);
  if (!gl.getShaderParameter(shader, gl.COMPILE_STATUS)) throw new Error(gl.getShaderInfoLog(shader));
  return shader;
}

function multiply(a, b) {
  const out = new Float32Array(16);
  for (let c = 0; c < 4; c += 1) for (let r = 0; r < 4; r += 1) {
    out[c * 4 + r] = a[r] * b[c * 4] + a[4 + r] * b[c * 4 + 1] + a[8 + r] * b[c * 4 + 2] + a[12 + r] * b[c * 4 + 3];
  }
  return out;
}

export class ClusterMap {
  constructor(canvas, overlay, { onHover, onClick } = {}) {
    this.canvas = canvas;
    this.overlay = overlay;
    this.onHover = onHover || (() => {});
    this.onClick = onClick || (() => {});
    const gl = canvas.getContext("webgl2", { antialias: false, preserveDrawingBuffer: true, alpha: false });
    if (!gl) throw new Error("This browser has no WebGL2: the map cannot be drawn.");
    this.gl = gl;
    const program = link(gl, VERTEX, FRAGMENT);
    this.program = program;
    this.composite = link(gl, COMPOSITE_VERTEX, COMPOSITE_FRAGMENT);
    this.compositeUni = Object.fromEntries(["u_scale", "u_offset", "u_layer", "u_background"]
      .map((n) => [n, gl.getUniformLocation(this.composite, n)]));
    this.quad = gl.createVertexArray();
    gl.bindVertexArray(this.quad);
    gl.bindBuffer(gl.ARRAY_BUFFER, gl.createBuffer());
    gl.bufferData(gl.ARRAY_BUFFER, new Float32Array([-1, -1, 1, -1, -1, 1, 1, 1]), gl.STATIC_DRAW);
    const corner = gl.getAttribLocation(this.composite, "a_corner");
    gl.enableVertexAttribArray(corner);
    gl.vertexAttribPointer(corner, 2, gl.FLOAT, false, 0, 0);
    gl.bindVertexArray(null);
    this.loc = Object.fromEntries(["a_x", "a_y", "a_z", "a_cluster", "a_flag"].map((n) => [n, gl.getAttribLocation(program, n)]));
    this.uni = Object.fromEntries(["u_matrix", "u_size", "u_palette", "u_hover", "u_searching", "u_focus"]
      .map((n) => [n, gl.getUniformLocation(program, n)]));
    this.vao = gl.createVertexArray();
    this.buffers = {};
    const texture = gl.createTexture();
    this.palette = texture;
    gl.bindTexture(gl.TEXTURE_2D, texture);
    gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA8, 64, 1, 0, gl.RGBA, gl.UNSIGNED_BYTE,
                  new Uint8Array(palette().flatMap(([r, g, b]) => [r, g, b, 235])));
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, gl.NEAREST);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, gl.NEAREST);
    this.mode = "2d";
    this.hover = -1;
    this.focus = -1;
    this.searching = false;
    this.stats = { renders: 0, layerRenders: 0, drawn: 0, lastRenderMs: 0 };
    this.layer = null;
    this.camera = null;
    this._listen();
    this._resize = new ResizeObserver(() => this.requestRender());
    this._resize.observe(canvas);
  }

  // data: {total, dims, x, y, z, cluster (typed arrays of `total`), loaded, centroids: [{label, position, index}]}
  setData(data, { keepCamera = false } = {}) {
    const { gl } = this;
    this.data = data;
    gl.bindVertexArray(this.vao);
    const attach = (name, values, integer, type) => {
      const buffer = this.buffers[name] || (this.buffers[name] = gl.createBuffer());
      gl.bindBuffer(gl.ARRAY_BUFFER, buffer);
      gl.bufferData(gl.ARRAY_BUFFER, values, gl.DYNAMIC_DRAW);
      gl.enableVertexAttribArray(this.loc[name]);
      if (integer) gl.vertexAttribIPointer(this.loc[name], 1, type, 0, 0);
      else gl.vertexAttribPointer(this.loc[name], 1, gl.FLOAT, false, 0, 0);
    };
    attach("a_x", data.x, false);
    attach("a_y", data.y, false);
    if (data.z) attach("a_z", data.z, false);
    else { gl.disableVertexAttribArray(this.loc.a_z); gl.vertexAttrib1f(this.loc.a_z, 0); }
    attach("a_cluster", data.cluster, true, gl.INT);
    this.flags = new Uint8Array(data.total);
    attach("a_flag", this.flags, true, gl.UNSIGNED_BYTE);
    this.searching = false;
    this.hover = -1;
    if (data.dims < 3) this.mode = "2d";
    this.layer = null;
    if (!keepCamera || !this.camera) this.fit();
    this._labels();
    this.requestRender();
  }

  // A page of points arrived (indices start..end of the arrays given to setData): upload just that range.
  updateRange(start, end) {
    const { gl, data } = this;
    for (const [name, values, size] of [["a_x", data.x, 4], ["a_y", data.y, 4], ["a_z", data.z, 4], ["a_cluster", data.cluster, 4]]) {
      if (!values) continue;
      gl.bindBuffer(gl.ARRAY_BUFFER, this.buffers[name]);
      gl.bufferSubData(gl.ARRAY_BUFFER, start * size, values.subarray(start, end));
    }
    if (!this._bounds || start === 0) this.fit();
    this.layer = null;
    this.requestRender();
  }

  setFlags(flags) {
    const { gl } = this;
    this.flags = flags;
    this.searching = Boolean(flags);
    gl.bindBuffer(gl.ARRAY_BUFFER, this.buffers.a_flag);
    gl.bufferData(gl.ARRAY_BUFFER, flags || new Uint8Array(this.data.total), gl.DYNAMIC_DRAW);
    this.layer = null;
    this.requestRender();
  }

  setFocus(clusterIndex) { this.focus = clusterIndex; this.layer = null; this.requestRender(); }

  setMode(mode) { this.mode = this.data?.dims === 3 ? mode : "2d"; this.layer = null; this.fit(); }

  fit() {
    const d = this.data;
    if (!d || !d.loaded) return;
    const lo = [Infinity, Infinity, Infinity]; const hi = [-Infinity, -Infinity, -Infinity];
    const axes = [d.x, d.y, d.z].filter(Boolean);
    const step = Math.max(1, Math.floor(d.loaded / 200000));
    for (let i = 0; i < d.loaded; i += step) {
      for (let a = 0; a < axes.length; a += 1) {
        const v = axes[a][i];
        if (v < lo[a]) lo[a] = v;
        if (v > hi[a]) hi[a] = v;
      }
    }
    if (!Number.isFinite(lo[0])) return;
    this._bounds = { lo, hi };
    const w = this.canvas.clientWidth || 800; const h = this.canvas.clientHeight || 600;
    const centre = lo.map((v, a) => (Number.isFinite(v) ? (v + hi[a]) / 2 : 0));
    const spanX = Math.max(hi[0] - lo[0], 1e-9); const spanY = Math.max(hi[1] - lo[1], 1e-9);
    const radius = Math.max(spanX, spanY, Number.isFinite(hi[2] - lo[2]) ? hi[2] - lo[2] : 0) / 2;
    this.camera = { cx: centre[0], cy: centre[1], cz: centre[2], zoom: 0.78 * Math.min(w / spanX, h / spanY),
                    yaw: 0.6, pitch: 0.35, distance: radius * 3.2, radius };
    this._fitZoom = this.camera.zoom;
    this.layer = null;
    this.requestRender();
  }

  matrix() {
    const w = this.canvas.width; const h = this.canvas.height; const c = this.camera;
    const dpr = window.devicePixelRatio || 1;
    if (this.mode === "2d") {
      const sx = (2 * c.zoom * dpr) / w; const sy = (2 * c.zoom * dpr) / h;
      return new Float32Array([sx, 0, 0, 0, 0, sy, 0, 0, 0, 0, 0, 0, -c.cx * sx, -c.cy * sy, 0, 1]);
    }
    const cy = Math.cos(c.yaw); const sy = Math.sin(c.yaw); const cp = Math.cos(c.pitch); const sp = Math.sin(c.pitch);
    const translate = new Float32Array([1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, -c.cx, -c.cy, -c.cz, 1]);
    const rotY = new Float32Array([cy, 0, -sy, 0, 0, 1, 0, 0, sy, 0, cy, 0, 0, 0, 0, 1]);
    const rotX = new Float32Array([1, 0, 0, 0, 0, cp, sp, 0, 0, -sp, cp, 0, 0, 0, 0, 1]);
    const back = new Float32Array([1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, -c.distance, 1]);
    const f = 1 / Math.tan(Math.PI / 8); const near = c.radius * 0.01; const far = c.distance + c.radius * 10;
    const aspect = w / h;
    const projection = new Float32Array([f / aspect, 0, 0, 0, 0, f, 0, 0, 0, 0, (far + near) / (near - far), -1,
                                         0, 0, (2 * far * near) / (near - far), 0]);
    return multiply(projection, multiply(back, multiply(rotX, multiply(rotY, translate))));
  }

  requestRender() {
    if (this._frame) return;
    this._frame = requestAnimationFrame(() => { this._frame = null; this.render(); });
  }

  render() {
    const { gl, canvas, data } = this;
    const started = performance.now();
    const dpr = window.devicePixelRatio || 1;
    const width = Math.max(1, Math.round(canvas.clientWidth * dpr)); const height = Math.max(1, Math.round(canvas.clientHeight * dpr));
    if (canvas.width !== width || canvas.height !== height) { canvas.width = width; canvas.height = height; }
    gl.bindFramebuffer(gl.FRAMEBUFFER, null);
    gl.viewport(0, 0, width, height);
    gl.clearColor(...BACKGROUND);
    gl.clear(gl.COLOR_BUFFER_BIT);
    if (!data || !data.loaded || !this.camera) return;
    this._matrix = this.matrix();
    if (this.mode === "2d") {
      this._composite(width, height, dpr);
      if (this.hover >= 0 && this.hover < data.loaded) this._points(this._matrix, this.hover, 1, this.hover);
    } else {
      this._points(this._matrix, 0, data.loaded, this.hover);
    }
    this.stats.renders += 1;
    this.stats.drawn = data.loaded;
    this.stats.lastRenderMs = performance.now() - started;
    this._placeLabels();
    if (this.afterRender) this.afterRender(this.stats);
  }

  _points(matrix, first, count, hover) {
    const { gl, data } = this;
    gl.enable(gl.BLEND);
    gl.blendFunc(gl.SRC_ALPHA, gl.ONE_MINUS_SRC_ALPHA);
    gl.useProgram(this.program);
    gl.bindVertexArray(this.vao);
    gl.uniformMatrix4fv(this.uni.u_matrix, false, matrix);
    const dpr = window.devicePixelRatio || 1;
    const size = data.total > 500000 ? 1.6 : data.total > 100000 ? 2.2 : data.total > 10000 ? 3.2 : 6;
    const zoomed = this.mode === "2d" ? Math.min(3, Math.max(1, Math.sqrt(this.camera.zoom / (this._fitZoom || this.camera.zoom)))) : 1;
    gl.uniform1f(this.uni.u_size, size * dpr * zoomed);
    gl.uniform1i(this.uni.u_hover, hover);
    gl.uniform1i(this.uni.u_searching, this.searching ? 1 : 0);
    gl.uniform1i(this.uni.u_focus, this.focus);
    gl.activeTexture(gl.TEXTURE0);
    gl.bindTexture(gl.TEXTURE_2D, this.palette);
    gl.uniform1i(this.uni.u_palette, 0);
    gl.drawArrays(gl.POINTS, first, count);
  }

  // The layer: every point drawn once around the camera's centre, at the camera's zoom.
  _drawLayer(width, height, dpr) {
    const { gl } = this;
    const max = gl.getParameter(gl.MAX_TEXTURE_SIZE);
    const w = Math.min(width * 2, max); const h = Math.min(height * 2, max);
    let layer = this.layer && this.layer.w === w && this.layer.h === h ? this.layer : null;
    if (!layer) {
      if (this._layerTexture) { gl.deleteTexture(this._layerTexture); gl.deleteFramebuffer(this._layerBuffer); }
      this._layerTexture = gl.createTexture();
      gl.bindTexture(gl.TEXTURE_2D, this._layerTexture);
      gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA8, w, h, 0, gl.RGBA, gl.UNSIGNED_BYTE, null);
      for (const [name, value] of [[gl.TEXTURE_MIN_FILTER, gl.LINEAR], [gl.TEXTURE_MAG_FILTER, gl.LINEAR],
                                   [gl.TEXTURE_WRAP_S, gl.CLAMP_TO_EDGE], [gl.TEXTURE_WRAP_T, gl.CLAMP_TO_EDGE]]) {
        gl.texParameteri(gl.TEXTURE_2D, name, value);
      }
      this._layerBuffer = gl.createFramebuffer();
      gl.bindFramebuffer(gl.FRAMEBUFFER, this._layerBuffer);
      gl.framebufferTexture2D(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0, gl.TEXTURE_2D, this._layerTexture, 0);
    }
    const c = this.camera;
    layer = { w, h, cx: c.cx, cy: c.cy, zoom: c.zoom, loaded: this.data.loaded };
    gl.bindFramebuffer(gl.FRAMEBUFFER, this._layerBuffer);
    gl.viewport(0, 0, w, h);
    gl.clearColor(...BACKGROUND);
    gl.clear(gl.COLOR_BUFFER_BIT);
    const sx = (2 * c.zoom * dpr) / w; const sy = (2 * c.zoom * dpr) / h;
    this._points(new Float32Array([sx, 0, 0, 0, 0, sy, 0, 0, 0, 0, 0, 0, -c.cx * sx, -c.cy * sy, 0, 1]), 0, this.data.loaded, -1);
    gl.bindFramebuffer(gl.FRAMEBUFFER, null);
    gl.viewport(0, 0, width, height);
    this.layer = layer;
    this.stats.layerRenders += 1;
  }

  _composite(width, height, dpr) {
    const { gl, camera: c } = this;
    let layer = this.layer;
    const shift = (l) => [(c.cx - l.cx) * l.zoom * dpr, (c.cy - l.cy) * l.zoom * dpr];
    const usable = layer && layer.loaded === this.data.loaded && layer.w === Math.min(width * 2, gl.getParameter(gl.MAX_TEXTURE_SIZE));
    const ratio = usable ? c.zoom / layer.zoom : 1;
    const [dx, dy] = usable ? shift(layer) : [0, 0];
    const inside = usable && Math.abs(dx) + width / 2 / ratio <= layer.w / 2 && Math.abs(dy) + height / 2 / ratio <= layer.h / 2;
    if (!usable || (ratio === 1 && !inside)) {
      this._drawLayer(width, height, dpr);
      layer = this.layer;
    } else if (ratio !== 1) {
      // Mid-zoom: show the layer scaled now, draw it sharp once the wheel settles.
      clearTimeout(this._settle);
      this._settle = setTimeout(() => { this.layer = null; this.requestRender(); }, SETTLE_MS);
    }
    const scale = c.zoom / layer.zoom;
    const [ox, oy] = shift(layer);
    gl.disable(gl.BLEND);
    gl.useProgram(this.composite);
    gl.bindVertexArray(this.quad);
    gl.activeTexture(gl.TEXTURE1);
    gl.bindTexture(gl.TEXTURE_2D, this._layerTexture);
    gl.uniform1i(this.compositeUni.u_layer, 1);
    gl.uniform2f(this.compositeUni.u_scale, width / 2 / scale / layer.w, height / 2 / scale / layer.h);
    gl.uniform2f(this.compositeUni.u_offset, ox / layer.w, oy / layer.h);
    gl.uniform4f(this.compositeUni.u_background, ...BACKGROUND);
    gl.drawArrays(gl.TRIANGLE_STRIP, 0, 4);
    gl.activeTexture(gl.TEXTURE0);
  }

  // Screen position (CSS pixels) of a data point, or null behind the camera.
  project(x, y, z) {
    const m = this._matrix || this.matrix();
    const cw = m[3] * x + m[7] * y + m[11] * z + m[15];
    if (cw <= 0) return null;
    const cx = (m[0] * x + m[4] * y + m[8] * z + m[12]) / cw; const cy = (m[1] * x + m[5] * y + m[9] * z + m[13]) / cw;
    return [(cx + 1) / 2 * this.canvas.clientWidth, (1 - cy) / 2 * this.canvas.clientHeight];
  }

  pick(px, py, radius = 10) {
    const d = this.data;
    if (!d || !d.loaded || !this._matrix) return -1;
    const m = this._matrix; const w = this.canvas.clientWidth; const h = this.canvas.clientHeight;
    const three = this.mode === "3d" && d.z;
    let best = -1; let bestDistance = radius * radius; let bestDepth = Infinity;
    for (let i = 0; i < d.loaded; i += 1) {
      const x = d.x[i]; const y = d.y[i]; const z = three ? d.z[i] : 0;
      const cw = three ? m[3] * x + m[7] * y + m[11] * z + m[15] : 1;
      if (cw <= 0) continue;
      const sx = ((m[0] * x + m[4] * y + m[8] * z + m[12]) / cw + 1) / 2 * w;
      const dx = sx - px;
      if (dx > radius || dx < -radius) continue;
      const sy = (1 - (m[1] * x + m[5] * y + m[9] * z + m[13]) / cw) / 2 * h;
      const distance = dx * dx + (sy - py) * (sy - py);
      if (distance < bestDistance || (distance === bestDistance && cw < bestDepth)) {
        best = i; bestDistance = distance; bestDepth = cw;
      }
    }
    return best;
  }

  _labels() {
    this.overlay.replaceChildren();
    this._labelNodes = (this.data.centroids || []).filter((c) => c.position).map((c) => {
      const node = document.createElement("div");
      node.className = "map-label";
      node.textContent = c.label || c.cluster_id;
      node.style.setProperty("--swatch", cssColour(c.index));
      this.overlay.appendChild(node);
      return [c, node];
    });
  }

  // Labels at the centroids, biggest clusters first; a label that would overlap one already placed is hidden.
  _placeLabels() {
    const placed = [];
    const ordered = [...(this._labelNodes || [])].sort((a, b) => (b[0].num_members || 0) - (a[0].num_members || 0));
    for (const [c, node] of ordered) {
      const [x, y, z = 0] = c.position;
      const at = this.project(x, y, this.mode === "3d" ? z : 0);
      let hidden = !at || (this.focus >= 0 && c.index !== this.focus);
      if (!hidden) {
        if (!node._size) { node.style.display = ""; node._size = [node.offsetWidth, node.offsetHeight]; }
        const [w, h] = node._size;
        const box = [at[0] - w / 2, at[1] - h * 1.4, at[0] + w / 2, at[1] - h * 0.4];
        hidden = placed.some((o) => box[0] < o[2] + 4 && box[2] + 4 > o[0] && box[1] < o[3] + 2 && box[3] + 2 > o[1]);
        if (!hidden) placed.push(box);
      }
      node.style.display = hidden ? "none" : "";
      if (at && !hidden) node.style.transform = `translate(${at[0]}px, ${at[1]}px) translate(-50%, -140%)`;
    }
  }

  _listen() {
    const canvas = this.canvas;
    let drag = null;
    let pending = null;
    canvas.addEventListener("pointerdown", (e) => {
      drag = { x: e.clientX, y: e.clientY, moved: 0 };
      canvas.setPointerCapture(e.pointerId);
    });
    canvas.addEventListener("pointermove", (e) => {
      const rect = canvas.getBoundingClientRect();
      if (drag && this.camera) {
        const dx = e.clientX - drag.x; const dy = e.clientY - drag.y;
        drag.x = e.clientX; drag.y = e.clientY; drag.moved += Math.abs(dx) + Math.abs(dy);
        if (this.mode === "2d") { this.camera.cx -= dx / this.camera.zoom; this.camera.cy += dy / this.camera.zoom; }
        else { this.camera.yaw += dx * 0.006; this.camera.pitch = Math.max(-1.5, Math.min(1.5, this.camera.pitch + dy * 0.006)); }
        this.requestRender();
        return;
      }
      const px = e.clientX - rect.left; const py = e.clientY - rect.top;
      if (pending) { pending.px = px; pending.py = py; return; }
      pending = { px, py };
      requestAnimationFrame(() => {
        const { px: x, py: y } = pending; pending = null;
        const index = this.pick(x, y);
        if (index !== this.hover) { this.hover = index; this.requestRender(); }
        this.onHover(index, x, y);
      });
    });
    canvas.addEventListener("pointerup", (e) => {
      const wasClick = drag && drag.moved < 4;
      drag = null;
      if (wasClick) {
        const rect = canvas.getBoundingClientRect();
        const index = this.pick(e.clientX - rect.left, e.clientY - rect.top);
        if (index >= 0) this.onClick(index);
      }
    });
    canvas.addEventListener("pointerleave", () => { if (this.hover !== -1) { this.hover = -1; this.requestRender(); } this.onHover(-1); });
    canvas.addEventListener("wheel", (e) => {
      e.preventDefault();
      if (!this.camera) return;
      const factor = Math.exp(-e.deltaY * 0.0015);
      if (this.mode === "2d") {
        const rect = canvas.getBoundingClientRect();
        const px = e.clientX - rect.left - rect.width / 2; const py = rect.height / 2 - (e.clientY - rect.top);
        const before = [this.camera.cx + px / this.camera.zoom, this.camera.cy + py / this.camera.zoom];
        this.camera.zoom *= factor;
        this.camera.cx = before[0] - px / this.camera.zoom; this.camera.cy = before[1] - py / this.camera.zoom;
      } else {
        this.camera.distance /= factor;
      }
      this.requestRender();
    }, { passive: false });
  }

  destroy() {
    this._resize.disconnect();
    if (this._frame) cancelAnimationFrame(this._frame);
    const lose = this.gl.getExtension("WEBGL_lose_context");
    if (lose) lose.loseContext();
  }
}
