// StreamSpace dashboard: lists the caller's sessions from the bridge's
// WebSocket feeds. The token stays in sessionStorage (this tab only) and
// travels in Sec-WebSocket-Protocol, never in a URL.
"use strict";

const tokenKey = "streamspace.token";
const namespaceKey = "streamspace.namespace";
const $ = (id) => document.getElementById(id);
let sockets = [];
let retry = 0;

function base64url(text) {
  const bytes = new TextEncoder().encode(text);
  let binary = "";
  bytes.forEach((b) => { binary += String.fromCharCode(b); });
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function setStatus(state, text) {
  const el = $("status");
  el.dataset.state = state;
  el.textContent = text;
}

function feedURL(path) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const ns = sessionStorage.getItem(namespaceKey);
  return scheme + "//" + location.host + path + (ns ? "?namespace=" + encodeURIComponent(ns) : "");
}

function open(path, onMessage) {
  const token = sessionStorage.getItem(tokenKey);
  const ws = new WebSocket(feedURL(path), ["streamspace.v1", "base64url.bearer.authorization.k8s.io." + base64url(token)]);
  ws.onmessage = (ev) => onMessage(JSON.parse(ev.data));
  ws.onclose = (ev) => {
    if (!sockets.includes(ws)) return; // closed on purpose
    if (ev.code === 4401 || ev.code === 4403) {
      setStatus("error", "refused");
      $("error").textContent = ev.reason || "the API refused this token";
      return;
    }
    setStatus("disconnected", "reconnecting…");
    const delay = Math.min(30000, 1000 * Math.pow(1.5, retry++));
    setTimeout(connect, delay);
  };
  ws.onerror = () => { $("error").textContent = "the feed " + path + " failed (wrong token or namespace?)"; };
  return ws;
}

function text(value) { return value === undefined || value === null ? "" : String(value); }

// safeURL keeps only http(s) links: a session URL never becomes a
// javascript: link.
function safeURL(value) {
  try {
    const u = new URL(value);
    return u.protocol === "https:" || u.protocol === "http:" ? u.href : "";
  } catch (e) {
    return "";
  }
}

function cell(tr, value) {
  const td = document.createElement("td");
  td.textContent = text(value);
  tr.appendChild(td);
  return td;
}

function renderSessions(msg) {
  const body = $("sessions").querySelector("tbody");
  body.replaceChildren();
  for (const s of msg.sessions) {
    const tr = document.createElement("tr");
    tr.dataset.name = s.name;
    cell(tr, s.name);
    cell(tr, s.user);
    cell(tr, s.template);
    cell(tr, s.state);
    const phase = cell(tr, "");
    const badge = document.createElement("span");
    badge.className = "phase";
    badge.dataset.phase = text(s.status.phase || "Pending");
    badge.textContent = badge.dataset.phase;
    phase.appendChild(badge);
    cell(tr, s.activeConnections);
    const link = cell(tr, "");
    const href = safeURL(s.status.url);
    if (href) {
      const a = document.createElement("a");
      a.href = href;
      a.target = "_blank";
      a.rel = "noopener noreferrer";
      a.textContent = "open";
      a.title = href;
      link.appendChild(a);
    }
    const created = cell(tr, s.createdAt ? new Date(s.createdAt).toLocaleString() : "");
    created.title = text(s.createdAt);
    body.appendChild(tr);
  }
  $("count").textContent = String(msg.count);
  $("empty").hidden = msg.sessions.length > 0;
}

function renderMetrics(msg) {
  const m = msg.metrics;
  const rows = [["Running", m.sessions.running], ["Hibernated", m.sessions.hibernated], ["Sessions", m.sessions.total],
    ["Active connections", m.activeConnections], ["Templates", m.templates], ["Repositories", m.repositories]];
  const dl = $("metrics");
  dl.replaceChildren();
  for (const [k, v] of rows) {
    const item = document.createElement("div");
    const dt = document.createElement("dt"); dt.textContent = k;
    const dd = document.createElement("dd"); dd.textContent = text(v);
    item.append(dt, dd);
    dl.append(item);
  }
}

function disconnect() {
  const old = sockets;
  sockets = [];
  old.forEach((ws) => ws.close(1000));
}

function connect() {
  disconnect();
  if (!sessionStorage.getItem(tokenKey)) { setStatus("disconnected", "no token"); return; }
  $("error").textContent = "";
  setStatus("disconnected", "connecting…");
  sockets = [
    open("/api/v1/ws/sessions", (msg) => {
      if (msg.type === "sessions_update") { retry = 0; setStatus("live", "live"); renderSessions(msg); }
      if (msg.type === "error") { $("error").textContent = msg.error; }
    }),
    open("/api/v1/ws/cluster", (msg) => { if (msg.type === "metrics_update") renderMetrics(msg); }),
  ];
}

$("login").addEventListener("submit", (ev) => {
  ev.preventDefault();
  sessionStorage.setItem(tokenKey, $("token").value.trim());
  sessionStorage.setItem(namespaceKey, $("namespace").value.trim());
  $("token").value = "";
  retry = 0;
  connect();
});
$("logout").addEventListener("click", () => {
  sessionStorage.removeItem(tokenKey);
  disconnect();
  setStatus("disconnected", "no token");
  $("sessions").querySelector("tbody").replaceChildren();
  $("empty").hidden = false;
});
$("namespace").value = sessionStorage.getItem(namespaceKey) || "";
connect();
