// shopnet dashboard: draws nothing of its own but the denied marks. The picture
// comes from the server (/picture, the same SVG as `shopnet topology --svg`);
// every snapshot from /events restyles it by element id.
// Text reaches the page as textContent, never as markup; every request carries the
// per-run token of the URL `shopnet dashboard` printed (the server refuses it without).
"use strict";

const TOKEN = new URLSearchParams(location.search).get("token") || "";
const SVG_NS = "http://www.w3.org/2000/svg";

function api(path, options = {}) {
  return fetch(path, { ...options, headers: { ...(options.headers || {}), "X-Dashboard-Token": TOKEN } });
}

function withToken(path) {
  return `${path}?token=${encodeURIComponent(TOKEN)}`;
}

// An element with attributes and text (set as text: names never become markup).
function el(tag, attrs = {}, text = null, ns = null) {
  const node = ns ? document.createElementNS(ns, tag) : document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  if (text !== null) node.textContent = text;
  return node;
}

function row(attrs, cells) {
  const tr = el("tr", attrs);
  for (const [text, cls] of cells) tr.append(el("td", cls ? { class: cls } : {}, text));
  return tr;
}

const MARK_SECONDS = 30;  // how long a refused attempt stays drawn on the picture
const $ = (id) => document.getElementById(id);
let layout = null;       // box positions, from /picture
let pictureKey = null;   // which instances the picture shows
let loading = null;

function fmt(value, digits = 1) {
  return value === null || value === undefined ? "–" : Number(value).toFixed(digits);
}

function latency(ms) {
  if (ms === null || ms === undefined) return "–";
  return ms < 1 ? `${Math.round(ms * 1000)} µs` : `${ms.toFixed(ms < 10 ? 2 : 1)} ms`;
}

function edgeId(key) { return key.replace("->", "-"); }

async function loadPicture(key) {
  if (loading) return loading;
  loading = (async () => {
    const resp = await api("/picture", { cache: "no-store" });
    const body = await resp.json();
    // The server's drawing, parsed as SVG (an XML document: no scripts run from it).
    const doc = new DOMParser().parseFromString(body.svg, "image/svg+xml");
    $("picture").replaceChildren(document.importNode(doc.documentElement, true));
    layout = body.layout;
    pictureKey = key;
    $("mode").textContent = body.mode + " mode";
  })().finally(() => { loading = null; });
  return loading;
}

function setText(id, text) {
  const el = $(id);
  if (el && el.textContent !== text) el.textContent = text;
}

function updateNodes(instances) {
  for (const [name, inst] of Object.entries(instances)) {
    const node = $("node-" + name);
    if (!node) continue;
    const kind = [...node.classList].filter((c) => !c.startsWith("health-"));
    node.setAttribute("class", [...kind, "health-" + inst.health].join(" "));
    node.dataset.health = inst.health;
    const restarts = inst.restarts === null ? "–" : String(inst.restarts);
    const cpu = inst.cpu === null ? "–" : fmt(inst.cpu) + "%";
    const mem = inst.memory_mb === null ? "–" : fmt(inst.memory_mb, 0) + " MiB";
    setText("stats-" + name, `${inst.health} · ${cpu} · ${mem} · ↻${restarts}`);
  }
  const world = $("node-world");
  if (world) world.setAttribute("class", "node world health-ready");
  const rows = Object.entries(instances).map(([name, i]) => row({ "data-instance": name }, [
    [name], [i.address], [i.health, `h-${i.health}`], [String(i.restarts ?? "–"), "num"],
    [i.cpu === null ? "–" : fmt(i.cpu) + "%", "num"],
    [i.memory_mb === null ? "–" : fmt(i.memory_mb, 0), "num"],
  ]));
  $("instances").tBodies[0].replaceChildren(...rows);
}

function updateEdges(snapshot) {
  const fw = snapshot.firewall;
  const rows = [];
  for (const key of layout.edges) {
    const id = edgeId(key);
    const flow = snapshot.flows[key];
    const path = $("edge-" + id);
    const label = $("elabel-" + id);
    if (!path || !label) continue;
    const port = label.textContent.split(" ")[0];
    const rate = flow ? flow.rate : null;
    const active = rate !== null && rate > 0;
    path.classList.toggle("active", active);
    label.classList.toggle("active", active);
    path.dataset.rate = rate === null ? "" : String(rate);
    label.textContent = rate === null ? port : `${port} · ${fmt(rate)}/s`;
    const parts = [];
    if (flow && flow.latency_ms !== null) parts.push(latency(flow.latency_ms));
    if (fw && key in fw.connections) parts.push(`${fw.connections[key]} conns`);
    setText("elabel2-" + id, parts.join(" · "));
    const conns = fw && key in fw.connections
      ? `${fw.connections[key]} (${fmt(fw.connection_rates[key] ?? 0)}/s)` : "–";
    rows.push(row({ "data-flow": key }, [
      [key.replace("->", " → ")], [fmt(rate), "num"],
      [latency(flow ? flow.latency_ms : null), "num"], [conns, "num"],
    ]));
  }
  $("flows").tBodies[0].replaceChildren(...rows);
}

function anchor(box, towards) {
  // The middle of the box side that faces `towards`.
  const w = layout.box.w, h = layout.box.h;
  const cx = box.x + w / 2, cy = box.y + h / 2;
  const tx = towards.x + w / 2, ty = towards.y + h / 2;
  if (Math.abs(ty - cy) > h) return [cx, ty > cy ? box.y + h : box.y];
  return [tx > cx ? box.x + w : box.x, cy];
}

function updateDenied(firewall) {
  const group = $("denied-marks");
  const items = [];
  const marks = [];
  const denied = firewall ? firewall.denied : [];
  for (const d of denied) {
    items.push(el("li", { class: d.recent ? "new" : "", "data-source": d.source,
      "data-target": d.target, "data-port": d.port }, `${d.source} → ${d.target}:${d.port} ×${d.packets}`));
    // The picture shows what was refused lately (the list keeps every pair):
    // a burst of probes would otherwise cover it in red for good.
    const a = layout.boxes[d.source], b = layout.boxes[d.target];
    if (!a || !b || d.age > MARK_SECONDS) continue;
    const opacity = Math.max(0.25, 1 - d.age / MARK_SECONDS).toFixed(2);
    const [x1, y1] = anchor(a, b), [x2, y2] = anchor(b, a);
    const mx = (x1 + x2) / 2, my = (y1 + y2) / 2;
    const mark = el("g", { class: "denied-mark", "data-source": d.source,
      "data-target": d.target, "data-port": d.port, opacity }, null, SVG_NS);
    mark.append(
      el("line", { x1, y1, x2, y2 }, null, SVG_NS),
      el("circle", { cx: mx, cy: my, r: 9 }, null, SVG_NS),
      el("path", { d: `M${mx - 4},${my - 4} L${mx + 4},${my + 4} M${mx + 4},${my - 4} L${mx - 4},${my + 4}`,
        stroke: "#fff", "stroke-width": 2.2 }, null, SVG_NS),
      el("text", { x: mx + 13, y: my + 4 }, `:${d.port} ×${d.packets}`, SVG_NS),
      el("title", {}, `${d.source} → ${d.target}:${d.port}: ${d.packets} packets dropped`, SVG_NS));
    marks.push(mark);
  }
  if (group) group.replaceChildren(...marks);
  $("denied-list").replaceChildren(...(items.length ? items :
    [el("li", { class: "muted" }, firewall ? "none" : "no firewall counters in this mode")]));
}

async function onSnapshot(snapshot) {
  if (!layout || (snapshot.picture && snapshot.picture !== pictureKey)) {
    await loadPicture(snapshot.picture);
  }
  $("picture").classList.toggle("stale", Boolean(snapshot.error));
  $("error").hidden = !snapshot.error;
  setText("error", snapshot.error || "");
  setText("updated", "updated " + new Date(snapshot.time * 1000).toLocaleTimeString());
  document.body.dataset.seq = String(snapshot.seq);
  updateNodes(snapshot.instances);
  updateEdges(snapshot);
  updateDenied(snapshot.firewall);
}

function connect() {
  const events = new EventSource(withToken("/events"));
  events.addEventListener("open", () => { setText("live", "live"); $("live").className = "pill on"; });
  events.addEventListener("error", () => { setText("live", "reconnecting"); $("live").className = "pill off"; });
  events.addEventListener("snapshot", (e) => { onSnapshot(JSON.parse(e.data)).catch(console.error); });
}

function showCharts(id, found) {
  const box = $(id);
  if (!found.charts.length) {
    box.textContent = `no charts yet (looked in ${found.where})`;
    return;
  }
  box.className = "";
  box.replaceChildren(el("p", { class: "muted" }, found.run), ...found.charts.map((src) =>
    el("img", { loading: "lazy", alt: src.split("/").pop(), src: withToken(src) })));
}

async function loadPanels() {
  const body = await (await api("/api/panels")).json();
  setText("audit", body.audit.text);
  showCharts("charts-bench", body.charts.bench);
  showCharts("charts-chaos", body.charts.chaos);
}

$("run-isolation").addEventListener("click", async () => {
  const button = $("run-isolation");
  button.disabled = true;
  setText("isolation", "probing every pair …");
  try {
    const body = await (await api("/api/isolation", { method: "POST" })).json();
    setText("isolation", body.error ? body.error.message : body.text);
    $("isolation").className = body.available ? "" : "muted";
  } finally {
    button.disabled = false;
  }
});

// A click on a flow (service → service: their first instances; world: from outside)
// or a denied attempt shows that flow's trace, written with textContent only.
async function showTrace(source, target, port) {
  const out = $("trace");
  out.className = "";
  out.textContent = `tracing ${source} → ${target}${port ? ":" + port : ""} …`;
  try {
    const resp = await api("/api/trace", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ source, target, port }),
    });
    const body = await resp.json();
    out.textContent = body.text;
    out.className = body.available ? "" : "muted";
  } catch (err) {
    out.textContent = `trace failed: ${err}`;
  }
}

$("flows").tBodies[0].addEventListener("click", (e) => {
  const row = e.target.closest("tr[data-flow]");
  if (!row) return;
  const [source, target] = row.dataset.flow.split("->");
  showTrace(source === "world" ? "outside" : source + "-1", target + "-1", null);
});

$("denied-list").addEventListener("click", (e) => {
  const item = e.target.closest("li[data-source]");
  if (item) showTrace(item.dataset.source, item.dataset.target, Number(item.dataset.port) || null);
});

loadPicture(null).then(connect);
loadPanels().catch(console.error);
