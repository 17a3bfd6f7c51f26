// pnut web: the live page.  State comes from /api/v1/events (a snapshot, then changes);
// charts from /api/v1/ups/{server}/{ups}/history; commands and settings go to the API with
// the user's upsd credentials (kept in sessionStorage, sent as HTTP basic).
"use strict";

const state = { servers: [], upses: new Map(), seq: 0, history: new Map() };
const $ = (sel, root = document) => root.querySelector(sel);
const key = (server, ups) => `${server}\u0000${ups}`;
const enc = encodeURIComponent;
const HISTORY_REFRESH_MS = 30000;

const STATUS = [  // [flag, label, severity], first match wins
  ["FSD", "Forced shutdown", "critical"], ["LB", "Low battery", "critical"],
  ["OFF", "Output off", "critical"], ["OB", "On battery", "warning"],
  ["OVER", "Overloaded", "warning"], ["RB", "Replace battery", "warning"],
  ["BYPASS", "On bypass", "warning"], ["ALARM", "Alarm", "warning"],
  ["CAL", "Calibrating", "warning"], ["OL", "On line", "ok"],
];
const BAD_FLAGS = new Set(["LB", "FSD", "OFF", "OVER", "RB"]);
const HOT_FLAGS = new Set(["OB", "DISCHRG", "BYPASS", "ALARM", "CAL", "TRIM", "BOOST"]);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}
const svg = (tag, attrs = {}) => {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
};

function statusOf(ups) {
  if (!ups.up) return { label: "No data", severity: "down" };
  for (const [flag, label, severity] of STATUS) {
    if (ups.status.includes(flag)) return { label, severity };
  }
  return { label: ups.status.join(" ") || "Unknown", severity: "unknown" };
}

function num(ups, name) {
  const v = parseFloat(ups.variables[name]);
  return Number.isFinite(v) ? v : null;
}

function fmtRuntime(s) {
  if (s === null) return "–";
  if (s < 60) return `${Math.round(s)} s`;
  if (s < 3600) return `${Math.round(s / 60)} min`;
  return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
}
// NUT's placeholder when a UPS or variable has no description
const clean = (d) => (d === "Description unavailable" ? "" : d || "");
const fmt = (v, unit, digits = 0) => (v === null ? "–" : `${v.toFixed(digits)} ${unit}`);

// -- rendering -------------------------------------------------------------------
function render() {
  const main = $("#servers");
  $("#empty").hidden = state.upses.size > 0 || state.servers.some((s) => s.error);
  for (const server of state.servers) {
    let section = main.querySelector(`section[data-server="${CSS.escape(server.server)}"]`);
    if (!section) {
      section = el("section", { class: "server", "data-server": server.server },
        el("div", { class: "server-head" }, el("h2", { text: server.server }),
          el("span", { class: "pill" }), el("span", { class: "err" })),
        el("div", { class: "grid" }));
      main.append(section);
    }
    const pill = $(".server-head .pill", section);
    pill.textContent = server.up ? "reachable" : "unreachable";
    pill.className = `pill ${server.up ? "ok" : "critical"}`;
    $(".server-head .err", section).textContent = server.up ? "" : server.error || "";
  }
  for (const ups of state.upses.values()) renderCard(ups);
  renderSummary();
}

function renderSummary() {
  const counts = { ok: 0, warning: 0, critical: 0, down: 0 };
  for (const ups of state.upses.values()) {
    const sev = statusOf(ups).severity;
    counts[sev in counts ? sev : "down"] += 1;
  }
  const box = $("#summary");
  box.replaceChildren();
  const words = { ok: "on line", warning: "warning", critical: "critical", down: "no data" };
  for (const [sev, n] of Object.entries(counts)) {
    if (n) box.append(el("span", { class: `pill ${sev}`, text: `${n} ${words[sev]}` }));
  }
}

function cardFor(ups) {
  const id = key(ups.server, ups.name);
  const grid = $(`section[data-server="${CSS.escape(ups.server)}"] .grid`);
  let card = [...grid.children].find((c) => c.dataset.key === id);
  if (card) return card;
  card = el("article", { class: "card", "data-key": id, "data-server": ups.server, "data-ups": ups.name },
    el("div", { class: "card-head" },
      el("div", {}, el("h3", { text: ups.name }), el("div", { class: "desc" }), el("div", { class: "model" })),
      el("span", { class: "pill status-badge" })),
    el("div", { class: "flags" }),
    el("div", { class: "alarm" }),
    el("div", { class: "charge" }, el("div", { class: "charge-value" }), el("div", { class: "bar" }, el("span"))),
    el("div", { class: "readings" },
      ...[["runtime", "Runtime"], ["load", "Load"], ["input", "Input"], ["output", "Output"]].map(
        ([k, label]) => el("div", { class: `reading ${k}` }, el("div", { class: "k", text: label }), el("div", { class: "v" })))),
    chartNode(),
    el("div", { class: "legend" }, el("span", {}, el("i", { class: "c" }), "charge %"),
      el("span", {}, el("i", { class: "l" }), "load %"), el("span", { class: "span" })),
    el("div", { class: "card-foot" }, el("span", { class: "updated" }),
      el("button", { class: "btn small manage", type: "button", text: "Manage" })));
  $(".manage", card).addEventListener("click", () => openManage(ups.server, ups.name));
  grid.append(card);
  loadHistory(ups.server, ups.name);
  return card;
}

function renderCard(ups) {
  const card = cardFor(ups);
  const st = statusOf(ups);
  card.className = `card ${st.severity}${ups.up ? "" : " down"}`;
  $(".desc", card).textContent = clean(ups.description);
  const model = [ups.variables["device.mfr"] || ups.variables["ups.mfr"],
    ups.variables["device.model"] || ups.variables["ups.model"]].filter(Boolean).join(" ");
  $(".model", card).textContent = model;
  const badge = $(".status-badge", card);
  badge.textContent = st.label;
  badge.className = `pill status-badge ${st.severity}`;
  $(".flags", card).replaceChildren(...ups.status.map((f) => el("span", {
    class: `flag${BAD_FLAGS.has(f) ? " bad" : HOT_FLAGS.has(f) ? " hot" : ""}`, text: f })));
  const alarm = ups.up ? ups.variables["ups.alarm"] || "" : "";
  $(".alarm", card).textContent = alarm ? `⚠ ${alarm}` : "";
  $(".alarm", card).hidden = !alarm;
  const charge = ups.up ? num(ups, "battery.charge") : null;
  const cv = $(".charge-value", card);
  cv.replaceChildren(charge === null ? "–" : `${Math.round(charge)}`, el("small", { text: " %" }));
  const bar = $(".bar", card);
  bar.className = `bar${charge !== null && charge < 25 ? " low" : charge !== null && charge < 60 ? " mid" : ""}`;
  $(".bar > span", card).style.width = `${charge ?? 0}%`;
  const r = (k, text) => { $(`.reading.${k} .v`, card).textContent = ups.up ? text : "–"; };
  r("runtime", fmtRuntime(num(ups, "battery.runtime")));
  r("load", fmt(num(ups, "ups.load"), "%"));
  r("input", fmt(num(ups, "input.voltage"), "V"));
  r("output", fmt(num(ups, "output.voltage"), "V"));
  const foot = $(".updated", card);
  if (ups.up) {
    foot.className = "updated";
    foot.textContent = `updated ${new Date(ups.updated * 1000).toLocaleTimeString()}`;
  } else {
    foot.className = "updated reason";
    foot.textContent = ups.reason || "no data";
  }
  drawChart(card, ups);
}

// -- chart ---------------------------------------------------------------------------
const W = 320, H = 120, PAD_L = 26, PAD_B = 16;

function chartNode() {
  const s = svg("svg", { class: "chart", viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none", role: "img" });
  for (const pct of [0, 50, 100]) {
    const y = yOf(pct);
    s.append(svg("line", { class: "grid-line", x1: PAD_L, x2: W, y1: y, y2: y }));
    const t = svg("text", { x: 0, y: y + 3 });
    t.textContent = `${pct}%`;
    s.append(t);
  }
  s.append(svg("path", { class: "charge-area" }), svg("path", { class: "charge-line" }),
    svg("path", { class: "load-line" }));
  const t0 = svg("text", { class: "t0", x: PAD_L, y: H - 2 });
  const t1 = svg("text", { class: "t1", x: W - 24, y: H - 2 });
  t1.textContent = "now";
  s.append(t0, t1);
  return s;
}
function yOf(pct) { return 4 + (H - PAD_B - 4) * (1 - Math.min(100, Math.max(0, pct)) / 100); }

function drawChart(card, ups) {
  const h = state.history.get(key(ups.server, ups.name));
  const chart = $(".chart", card);
  if (!h || !h.t.length) return;
  const now = Date.now() / 1000;
  const start = Math.min(h.t[0], now - 60);
  const xOf = (t) => PAD_L + (W - PAD_L - 4) * ((t - start) / Math.max(1, now - start));
  const path = (values) => {
    let d = "", pen = false;
    values.forEach((v, i) => {
      if (v === null) { pen = false; return; }
      d += `${pen ? "L" : "M"}${xOf(h.t[i]).toFixed(1)},${yOf(v).toFixed(1)}`;
      pen = true;
    });
    return d;
  };
  const line = path(h["battery.charge"]);
  $(".charge-line", chart).setAttribute("d", line);
  const first = h["battery.charge"].findIndex((v) => v !== null);
  const last = h["battery.charge"].length - 1 - [...h["battery.charge"]].reverse().findIndex((v) => v !== null);
  $(".charge-area", chart).setAttribute("d", first < 0 || h["battery.charge"].includes(null) ? "" :
    `${line}L${xOf(h.t[last]).toFixed(1)},${yOf(0)}L${xOf(h.t[first]).toFixed(1)},${yOf(0)}Z`);
  $(".load-line", chart).setAttribute("d", path(h["ups.load"]));
  const mins = Math.round((now - start) / 60);
  $(".t0", chart).textContent = mins >= 120 ? `-${Math.round(mins / 60)} h` : `-${mins} min`;
  $(".legend .span", card).textContent = `${h.t.length} points`;
}

async function loadHistory(server, ups) {
  try {
    const r = await fetch(`/api/v1/ups/${enc(server)}/${enc(ups)}/history`);
    if (!r.ok) return;
    state.history.set(key(server, ups), await r.json());
    const u = state.upses.get(key(server, ups));
    if (u) renderCard(u);
  } catch (e) { /* next refresh */ }
}

// the live value joins the chart at once, the server's history replaces it on refresh
function appendLive(ups) {
  const h = state.history.get(key(ups.server, ups.name));
  if (!h || !ups.up) return;
  h.t.push(Date.now() / 1000);
  for (const f of ["battery.charge", "ups.load", "battery.runtime", "input.voltage", "output.voltage"]) {
    if (h[f]) h[f].push(num(ups, f));
  }
}

// -- live updates ----------------------------------------------------------------------
function connect() {
  const live = $("#live");
  const es = new EventSource("/api/v1/events");
  es.addEventListener("open", () => { live.className = "live on"; $("#live-text").textContent = "live"; });
  es.addEventListener("error", () => { live.className = "live off"; $("#live-text").textContent = "reconnecting…"; });
  es.addEventListener("snapshot", (ev) => {
    const snap = JSON.parse(ev.data);
    state.seq = snap.seq;
    state.servers = snap.servers;
    state.upses = new Map(snap.upses.map((u) => [key(u.server, u.name), u]));
    for (const card of document.querySelectorAll(".card")) {
      if (!state.upses.has(card.dataset.key)) card.remove();
    }
    render();
  });
  es.addEventListener("change", (ev) => {
    const c = JSON.parse(ev.data);
    if (c.seq <= state.seq) return;
    state.seq = c.seq;
    const id = key(c.server, c.ups);
    if (c.kind === "removed") {
      state.upses.delete(id);
      document.querySelector(`.card[data-key="${CSS.escape(id)}"]`)?.remove();
      renderSummary();
      return;
    }
    const ups = state.upses.get(id) || { server: c.server, name: c.ups, variables: {} };
    Object.assign(ups, { up: c.up, reason: c.reason, status: c.status, description: c.description,
      updated: c.time });
    Object.assign(ups.variables, c.set);
    for (const name of c.unset) delete ups.variables[name];
    state.upses.set(id, ups);
    const server = state.servers.find((s) => s.server === c.server);
    if (server && c.up) { server.up = true; server.error = null; }
    if (server && !c.up && c.reason && !/^[A-Z-]+$/.test(c.reason)) { server.up = false; server.error = c.reason; }
    appendLive(ups);
    render();
  });
}

// -- login, commands, settings ----------------------------------------------------------
const creds = () => JSON.parse(sessionStorage.getItem("pnut-creds") || "null");

function showSession() {
  const c = creds();
  $("#who").hidden = !c;
  $("#who").textContent = c ? `signed in as ${c.user}` : "";
  $("#login-button").hidden = !!c;
  $("#logout-button").hidden = !c;
}

function toast(text, bad = false) {
  const t = $("#toast");
  t.textContent = text;
  t.className = `toast${bad ? " bad" : ""}`;
  t.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.hidden = true; }, 6000);
}

async function api(method, path, body) {
  const c = creds();
  const headers = { "X-Pnut-Page": "1" };
  if (c) headers.Authorization = `Basic ${btoa(unescape(enc(`${c.user}:${c.password}`)))}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const data = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(`${data.error || r.status}: ${data.message || r.statusText}`);
  return data;
}

async function openManage(server, ups) {
  if (!creds()) { openLogin(() => openManage(server, ups)); return; }
  const dialog = $("#manage-dialog");
  $("#manage-title").textContent = `${ups} on ${server}`;
  const body = $("#manage-body");
  body.replaceChildren(el("p", { class: "hint", text: "Loading…" }));
  dialog.showModal();
  let info;
  try { info = await api("GET", `/api/v1/ups/${enc(server)}/${enc(ups)}`); } catch (e) {
    body.replaceChildren(el("p", { class: "reason", text: e.message }));
    return;
  }
  const base = `/api/v1/ups/${enc(server)}/${enc(ups)}`;
  const cmds = el("div", { class: "cmds" });
  for (const cmd of info.commands) {
    const b = el("button", { class: `btn cmd${/off|shutdown|kill/.test(cmd.name) ? " danger" : ""}`,
      type: "button", "data-cmd": cmd.name }, cmd.name, el("span", { class: "d", text: clean(cmd.description) }));
    b.addEventListener("click", async () => {
      if (/off|shutdown/.test(cmd.name) && !confirm(`Send ${cmd.name} to ${ups}?`)) return;
      b.disabled = true;
      try {
        const r = await api("POST", `${base}/command/${enc(cmd.name)}`);
        toast(`${cmd.name}: ${r.result}`, !["SUCCESS", "OK", "PENDING"].includes(r.result));
      } catch (e) { toast(`${cmd.name}: ${e.message}`, true); }
      b.disabled = false;
    });
    cmds.append(b);
  }
  const settings = el("div", { class: "settings" });
  for (const v of info.writable) {
    if (v.error) continue;
    let input;
    if (v.enum) {
      input = el("select", {}, ...v.enum.map((o) => el("option", { value: o, text: o })));
    } else {
      input = el("input", { type: v.type === "NUMBER" ? "number" : "text" });
      if (v.max_length) input.maxLength = v.max_length;
      if (v.ranges && v.ranges.length) { input.min = v.ranges[0].low; input.max = v.ranges.at(-1).high; }
    }
    input.value = v.value;
    input.dataset.var = v.name;
    const save = el("button", { class: "btn small", type: "button", text: "Set" });
    save.addEventListener("click", async () => {
      save.disabled = true;
      try {
        const r = await api("PUT", `${base}/var/${enc(v.name)}`, { value: input.value });
        toast(`${v.name} = ${input.value}: ${r.result}`, !["SUCCESS", "OK", "PENDING"].includes(r.result));
      } catch (e) { toast(`${v.name}: ${e.message}`, true); }
      save.disabled = false;
    });
    settings.append(el("div", { class: "setting" },
      el("div", { class: "n" }, v.name, el("small", { text: clean(v.description) })), input, save));
  }
  body.replaceChildren(
    el("h3", { text: "Instant commands" }), info.commands.length ? cmds : el("p", { class: "hint", text: "none" }),
    el("h3", { text: "Settings" }), info.writable.length ? settings : el("p", { class: "hint", text: "none" }),
    el("h3", { text: "Clients" }), el("p", { class: "hint", text: info.clients.join(", ") || "none logged in" }));
}

function openLogin(then) {
  const dialog = $("#login-dialog");
  dialog.showModal();
  $("#login-user").focus();
  $("#login-form").onsubmit = (ev) => {
    ev.preventDefault();
    sessionStorage.setItem("pnut-creds", JSON.stringify({ user: $("#login-user").value, password: $("#login-password").value }));
    $("#login-password").value = "";
    dialog.close();
    showSession();
    if (then) then();
  };
}

$("#login-button").addEventListener("click", () => openLogin());
$("#login-cancel").addEventListener("click", () => $("#login-dialog").close());
$("#logout-button").addEventListener("click", () => { sessionStorage.removeItem("pnut-creds"); showSession(); });
$("#manage-close").addEventListener("click", () => $("#manage-dialog").close());
showSession();
connect();
setInterval(() => { for (const u of state.upses.values()) loadHistory(u.server, u.name); }, HISTORY_REFRESH_MS);
