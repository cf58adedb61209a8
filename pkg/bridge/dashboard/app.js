// StreamSpace dashboard: the caller's sessions, quota, usage, templates and catalog,
// live from the bridge's WebSocket feeds, and the actions a person takes on
// them through the bridge's REST API.
//
// Two ways in. A person signed in with the identity provider has an
// HttpOnly cookie the page never sees; requests carry it, plus the header
// that proves they come from this page. A script-style user types a
// Kubernetes token, kept in sessionStorage (this tab only) and sent in the
// Authorization header or Sec-WebSocket-Protocol, never in a URL.
"use strict";

const tokenKey = "streamspace.token";
const namespaceKey = "streamspace.namespace";
const csrfHeader = "X-StreamSpace-Request";
const $ = (id) => document.getElementById(id);
let sockets = [];
let retry = 0;
let signedIn = false;
let namespace = "";
let refreshTimer = null;
let templatesTimer = null;

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

function showError(text) { $("error").textContent = text || ""; }
function showNotice(text) { $("notice").textContent = text || ""; }

function token() { return sessionStorage.getItem(tokenKey) || ""; }

function withNamespace(path) {
  const sep = path.includes("?") ? "&" : "?";
  return namespace ? path + sep + "namespace=" + encodeURIComponent(namespace) : path;
}

// api calls the bridge's REST API as the person and answers the decoded
// body; a refusal becomes an Error whose message is the API's own words.
async function api(method, path, body) {
  const headers = { "Accept": "application/json" };
  if (signedIn) headers[csrfHeader] = "1";
  else if (token()) headers["Authorization"] = "Bearer " + token();
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(path, {
    method, headers, credentials: "same-origin", cache: "no-store",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let data = null;
  try { data = await res.json(); } catch (e) { data = null; }
  if (res.status === 401 && signedIn) {
    // The sign-in ended (signed out elsewhere, refresh refused): sign in again.
    location.assign("/auth/login");
    throw new Error("your sign-in has ended");
  }
  if (!res.ok) {
    const why = data && (data.error || data.message);
    throw new Error(why || (res.status + " " + res.statusText));
  }
  return data;
}

function feedURL(path) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return scheme + "//" + location.host + withNamespace(path);
}

function open(path, onMessage) {
  const protocols = ["streamspace.v1"];
  if (!signedIn) protocols.push("base64url.bearer.authorization.k8s.io." + base64url(token()));
  const ws = new WebSocket(feedURL(path), protocols);
  ws.onmessage = (ev) => onMessage(JSON.parse(ev.data));
  ws.onclose = (ev) => {
    if (!sockets.includes(ws)) return; // closed on purpose
    if (ev.code === 4401 && signedIn) {
      // The ID token behind the feed expired: /auth/me refreshes the sign-in.
      whoAmI().then((me) => { if (me) connect(); else location.assign("/auth/login"); });
      return;
    }
    if (ev.code === 4401 || ev.code === 4403) {
      setStatus("error", "refused");
      showError(ev.reason || "the API refused this token");
      return;
    }
    setStatus("disconnected", "reconnecting…");
    const delay = Math.min(30000, 1000 * Math.pow(1.5, retry++));
    setTimeout(connect, delay);
  };
  ws.onerror = () => { showError("the feed " + path + " failed (wrong token or namespace?)"); };
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

function button(label, action, onClick) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  b.dataset.action = action;
  b.addEventListener("click", async () => {
    b.disabled = true;
    showError("");
    try { await onClick(); } catch (e) { showError(e.message); } finally { b.disabled = false; }
  });
  return b;
}

function sessionPath(name) { return withNamespace("/api/v1/sessions/" + encodeURIComponent(name)); }

function renderSessions(msg) {
  const body = $("sessions").querySelector("tbody");
  body.replaceChildren();
  for (const s of msg.sessions) {
    const tr = document.createElement("tr");
    tr.dataset.name = s.name;
    const name = cell(tr, s.name);
    if (s.sharedRole) {
      // Someone else's session, shared with this person.
      tr.dataset.shared = s.sharedRole;
      const shared = document.createElement("span");
      shared.className = "shared";
      shared.textContent = "shared · " + text(s.sharedRole);
      shared.title = "shared with you by " + text(s.owner) + " (" + text(s.namespace) + "), as " + text(s.sharedRole);
      name.append(" ", shared);
    }
    cell(tr, s.user);
    cell(tr, s.template);
    cell(tr, s.state);
    const phase = cell(tr, "");
    const badge = document.createElement("span");
    badge.className = "phase";
    badge.dataset.phase = text(s.status.phase || "Pending");
    badge.textContent = badge.dataset.phase;
    if (s.status.message) badge.title = s.status.message;
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
    const actions = cell(tr, "");
    // Hibernating, waking and deleting a shared session are its owner's.
    if (!s.sharedRole) {
      if (s.state === "running") {
        actions.appendChild(button("Hibernate", "hibernate", () => api("PATCH", sessionPath(s.name), { state: "hibernated" })));
      } else if (s.state === "hibernated") {
        actions.appendChild(button("Wake", "wake", () => api("PATCH", sessionPath(s.name), { state: "running" })));
      }
      actions.appendChild(button("Delete", "delete", async () => {
        await api("DELETE", sessionPath(s.name));
        showNotice("Deleted session " + s.name + ".");
      }));
    }
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

async function loadTemplates() {
  const data = await api("GET", withNamespace("/api/v1/templates"));
  const templates = data.templates || [];
  const body = $("templates").querySelector("tbody");
  body.replaceChildren();
  const select = $("start-template");
  const chosen = select.value;
  select.replaceChildren();
  for (const t of templates) {
    const tr = document.createElement("tr");
    tr.dataset.name = t.name;
    cell(tr, t.name);
    cell(tr, t.displayName);
    cell(tr, t.category);
    cell(tr, t.baseImage);
    const valid = cell(tr, t.valid ? "yes" : "no");
    if (t.message) valid.title = t.message;
    body.appendChild(tr);
    const option = document.createElement("option");
    option.value = t.name;
    option.textContent = t.displayName ? t.displayName + " (" + t.name + ")" : t.name;
    option.disabled = !t.valid;
    select.appendChild(option);
  }
  if (chosen) select.value = chosen;
}

async function loadCatalog() {
  const data = await api("GET", "/api/v1/catalog/templates");
  const entries = data.templates || [];
  const body = $("catalog").querySelector("tbody");
  body.replaceChildren();
  for (const c of entries) {
    const tr = document.createElement("tr");
    tr.dataset.name = c.id;
    cell(tr, c.name);
    cell(tr, c.displayName);
    cell(tr, c.category);
    cell(tr, c.repository);
    cell(tr, c.installCount);
    cell(tr, "").appendChild(button("Install", "install", async () => {
      const installed = await api("POST", withNamespace("/api/v1/catalog/templates/" + encodeURIComponent(c.id) + "/install"));
      showNotice("Installed " + text(installed && installed.template && installed.template.name) + " in " + namespace + ".");
      await loadTemplates();
    }));
    body.appendChild(tr);
  }
  $("catalog-empty").hidden = entries.length > 0;
}

// The audit trail, for those RBAC lets read it (administrators): the
// section stays hidden for everyone else.
let auditContinue = "";

function auditQuery() {
  const params = new URLSearchParams({ limit: "50" });
  for (const [key, id] of [["user", "audit-user"], ["resource", "audit-resource"], ["verb", "audit-verb"]]) {
    const v = $(id).value.trim();
    if (v) params.set(key, v);
  }
  return params;
}

async function loadAudit(more) {
  const params = auditQuery();
  if (more && auditContinue) params.set("continue", auditContinue);
  let data;
  try {
    data = await api("GET", "/api/v1/audit?" + params.toString());
  } catch (e) {
    if (!more) $("audit").hidden = true;
    return;
  }
  $("audit").hidden = false;
  const body = $("audit-events").querySelector("tbody");
  if (!more) body.replaceChildren();
  for (const ev of data.events || []) {
    const tr = document.createElement("tr");
    tr.dataset.id = ev.id;
    cell(tr, ev.time);
    cell(tr, ev.user);
    cell(tr, ev.verb);
    cell(tr, ev.resource);
    cell(tr, ev.namespace);
    cell(tr, ev.name);
    cell(tr, ev.code);
    body.appendChild(tr);
  }
  auditContinue = data.continue || "";
  $("audit-more").hidden = !auditContinue;
}

// The person's quota: each limit that applies to them next to what they
// use. It is read again when their sessions change (debounced), and at once
// after a create is refused.
let quotaTimers = [];
let sessionsSeen = null;

// Rows of limits with a usage: the key of the row, its label, the limit
// and the usage in the answer of /api/v1/quota.
const quotaCounts = [
  ["sessions", "Sessions", "maxSessions", "sessions"],
  ["running", "Running", "maxRunningSessions", "runningSessions"],
  ["cpu", "CPU", "cpu", "cpu"],
  ["memory", "Memory", "memory", "memory"],
  ["home-storage", "Home storage", "homeStorage", "homeStorage"],
];
// Rows of limits without a usage.
const quotaMaxima = [
  ["idle-timeout", "Longest idle timeout", "maxIdleTimeout"],
  ["session-duration", "Longest session", "maxSessionDuration"],
];

function scheduleQuota() {
  quotaTimers.forEach(clearTimeout);
  // Admission counts a new session before the feed shows it; after a
  // delete or a hibernation the controller lowers the usage a moment
  // later: read the quota soon, and once more after that.
  quotaTimers = [setTimeout(loadQuota, 500), setTimeout(loadQuota, 5000)];
}

// sessionsChanged tells whether the feed's snapshot differs from the last
// one in what quotas count (which sessions there are, and their states).
function sessionsChanged(sessions) {
  const seen = sessions.map((s) => s.name + "/" + s.state).sort().join(",");
  const changed = sessionsSeen !== null && seen !== sessionsSeen;
  sessionsSeen = seen;
  return changed;
}

async function loadQuota() {
  let data;
  try {
    data = await api("GET", "/api/v1/quota");
  } catch (e) {
    $("quota-limits").replaceChildren();
    $("quota-from").textContent = "";
    $("quota-none").hidden = false;
    $("quota-none").textContent = "Your quota could not be read: " + e.message;
    return;
  }
  renderQuota(data);
}

function renderQuota(data) {
  const eff = data.effective || {};
  const limits = eff.limits || {}, usage = eff.usage || {}, from = eff.from || {};
  const dl = $("quota-limits");
  dl.replaceChildren();
  const row = (key, label, value, quota) => {
    const item = document.createElement("div");
    item.dataset.limit = key;
    if (quota) item.title = "from quota " + quota;
    const dt = document.createElement("dt"); dt.textContent = label;
    const dd = document.createElement("dd"); dd.textContent = value;
    item.append(dt, dd);
    dl.append(item);
  };
  for (const [key, label, limit, used] of quotaCounts) {
    if (limits[limit] === undefined) continue;
    row(key, label, text(usage[used]) + " of " + text(limits[limit]), from[limit]);
  }
  for (const [key, label, limit] of quotaMaxima) {
    if (limits[limit] === undefined) continue;
    row(key, label, text(limits[limit]), from[limit]);
  }
  const names = (data.quotas || []).map((q) => q.name);
  $("quota-none").textContent = "No quota limits you.";
  $("quota-none").hidden = names.length > 0;
  $("quota-from").textContent = names.length === 0 ? "" : (names.length === 1 ? "Quota " : "Quotas ") + names.join(", ") + ".";
}

// Usage: session hours per template over a period, as an inline SVG bar
// chart with each bar's cost, and each user's usage as a table (GET
// /api/v1/usage). It is read again when a session starts or stops running
// (debounced), and every minute while sessions run up hours.
const svgNS = "http://www.w3.org/2000/svg";
let usageTimers = [];
let usageTicker = null;
let usageSeen = null;

function usagePeriod() {
  const v = $("usage-period-select").value;
  return v === "today" ? new Date().toISOString().slice(0, 10) : v;
}

function scheduleUsage() {
  usageTimers.forEach(clearTimeout);
  usageTimers = [setTimeout(loadUsage, 1000)];
}

// phasesChanged tells whether the feed's snapshot differs from the last one
// in what usage counts (which sessions there are, and their phases).
function phasesChanged(sessions) {
  const seen = sessions.map((s) => s.name + "/" + (s.status.phase || "")).sort().join(",");
  const changed = usageSeen !== null && seen !== usageSeen;
  usageSeen = seen;
  return changed;
}

async function loadUsage() {
  const period = usagePeriod();
  const path = "/api/v1/usage" + (period ? "?period=" + encodeURIComponent(period) : "");
  let data;
  try {
    data = await api("GET", withNamespace(path));
  } catch (e) {
    $("usage-chart").replaceChildren($("usage-chart-title"));
    $("usage-table").querySelector("tbody").replaceChildren();
    $("usage-total").textContent = "";
    $("usage-empty").hidden = false;
    $("usage-empty").textContent = "Your usage could not be read: " + e.message;
    return;
  }
  renderUsage(data);
}

function svg(name, attrs, content) {
  const el = document.createElementNS(svgNS, name);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (content !== undefined) el.textContent = content;
  return el;
}

function withCurrency(cost, currency) { return currency ? cost + " " + currency : cost; }

function renderUsage(data) {
  const period = data.period || "";
  $("usage-period").textContent = period === "all" ? "all time" : (period || "this month") + " (UTC)";
  const rows = data.templates || [];
  const chart = $("usage-chart");
  chart.replaceChildren($("usage-chart-title"));
  // One bar per template, as long as its hours relative to the longest;
  // drawn at its own size from the left (preserveAspectRatio), the box
  // as wide as the page.
  const rowHeight = 28, labelWidth = 180, valueWidth = 240, width = 760;
  const barSpace = width - labelWidth - valueWidth;
  const max = rows.reduce((m, r) => Math.max(m, parseFloat(r.hours) || 0), 0);
  const height = rows.length * rowHeight + 8;
  chart.setAttribute("viewBox", "0 0 " + width + " " + height);
  chart.setAttribute("height", String(height));
  rows.forEach((r, i) => {
    const y = 4 + i * rowHeight;
    const hours = parseFloat(r.hours) || 0;
    const barWidth = max > 0 ? Math.max(2, barSpace * hours / max) : 2;
    const value = r.hours + " h · cost " + withCurrency(r.cost, data.currency);
    const g = svg("g", { "class": "usage-bar", "data-template": r.template, "data-hours": r.hours, "data-cost": r.cost });
    g.append(svg("title", {}, r.template + ": " + value + ", " + r.sessions + (r.sessions === 1 ? " session" : " sessions")));
    g.append(svg("text", { "class": "label", x: 8, y: y + 18 }, r.template));
    g.append(svg("rect", { "class": "bar", x: labelWidth, y: y + 4, width: barWidth.toFixed(1), height: rowHeight - 8, rx: 3 }));
    g.append(svg("text", { "class": "value", x: labelWidth + barWidth + 8, y: y + 18 }, value));
    chart.append(g);
  });
  chart.hidden = rows.length === 0;
  $("usage-empty").textContent = "No session has run in this period.";
  $("usage-empty").hidden = rows.length > 0;
  const total = data.total || {};
  $("usage-total").textContent = rows.length === 0 ? "" : "Total " + total.hours + " h, cost " + withCurrency(total.cost, data.currency) +
    (data.measuredAt ? ", up to " + new Date(data.measuredAt).toLocaleString() : "") + ".";
  const body = $("usage-table").querySelector("tbody");
  body.replaceChildren();
  for (const u of data.usages || []) {
    const tr = document.createElement("tr");
    tr.dataset.user = u.user;
    tr.dataset.template = u.template;
    cell(tr, u.user);
    cell(tr, u.template);
    cell(tr, u.sessions);
    cell(tr, u.hours);
    cell(tr, u.cpuCoreHours);
    cell(tr, u.memoryGiBHours);
    cell(tr, withCurrency(u.cost, data.currency));
    body.appendChild(tr);
  }
  $("usage-table").hidden = (data.usages || []).length === 0;
}

function disconnect() {
  const old = sockets;
  sockets = [];
  old.forEach((ws) => ws.close(1000));
}

function connect() {
  disconnect();
  if (!signedIn && !token()) { setStatus("disconnected", "no token"); return; }
  showError("");
  setStatus("disconnected", "connecting…");
  sockets = [
    open("/api/v1/ws/sessions", (msg) => {
      if (msg.type === "sessions_update") {
        retry = 0;
        setStatus("live", "live");
        renderSessions(msg);
        if (sessionsChanged(msg.sessions)) scheduleQuota();
        if (phasesChanged(msg.sessions)) scheduleUsage();
      }
      if (msg.type === "error") { showError(msg.error); }
    }),
    open("/api/v1/ws/cluster", (msg) => { if (msg.type === "metrics_update") renderMetrics(msg); }),
  ];
}

// whoAmI asks the bridge who the page acts as; for a signed-in person it
// also renews the tokens behind the cookie before they expire.
async function whoAmI() {
  const headers = { "Accept": "application/json" };
  if (!signedIn && token()) headers["Authorization"] = "Bearer " + token();
  const res = await fetch("/auth/me", { headers, credentials: "same-origin", cache: "no-store" });
  if (!res.ok) return null;
  return res.json();
}

async function start() {
  const me = await whoAmI();
  if (!me) {
    signedIn = false;
    $("login").hidden = false;
    $("app").hidden = true;
    if (token()) { showError("the API refused the saved token; enter another"); sessionStorage.removeItem(tokenKey); }
    setStatus("disconnected", "no token");
    return;
  }
  signedIn = me.signedIn;
  namespace = sessionStorage.getItem(namespaceKey) || me.namespace || "";
  $("whoami").textContent = (me.name ? me.name + " · " : "") + me.username;
  $("namespace").textContent = namespace || "(no namespace)";
  $("login").hidden = true;
  $("app").hidden = false;
  $("signout").hidden = !signedIn;
  $("forget").hidden = signedIn;
  if (signedIn && !refreshTimer) refreshTimer = setInterval(whoAmI, 60000);
  // Templates have no feed: their validity (checked by the controller
  // after an install) is read again every 10 seconds.
  if (!templatesTimer) templatesTimer = setInterval(() => loadTemplates().catch((e) => showError(e.message)), 10000);
  if (!usageTicker) usageTicker = setInterval(loadUsage, 60000);
  connect();
  await Promise.all([loadTemplates(), loadCatalog(), loadAudit(false), loadQuota(), loadUsage()]).catch((e) => showError(e.message));
}

$("login").addEventListener("submit", (ev) => {
  ev.preventDefault();
  sessionStorage.setItem(tokenKey, $("token").value.trim());
  const ns = $("namespace-input").value.trim();
  if (ns) sessionStorage.setItem(namespaceKey, ns); else sessionStorage.removeItem(namespaceKey);
  $("token").value = "";
  retry = 0;
  start();
});

$("forget").addEventListener("click", () => {
  sessionStorage.removeItem(tokenKey);
  clearInterval(templatesTimer);
  templatesTimer = null;
  quotaTimers.forEach(clearTimeout);
  quotaTimers = [];
  sessionsSeen = null;
  usageTimers.forEach(clearTimeout);
  usageTimers = [];
  clearInterval(usageTicker);
  usageTicker = null;
  usageSeen = null;
  disconnect();
  setStatus("disconnected", "no token");
  $("sessions").querySelector("tbody").replaceChildren();
  $("quota-limits").replaceChildren();
  $("quota-from").textContent = "";
  $("app").hidden = true;
  $("login").hidden = false;
  $("forget").hidden = true;
});

$("start").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  showError("");
  const body = { template: $("start-template").value };
  const name = $("start-name").value.trim();
  if (name) body.name = name;
  $("start-button").disabled = true;
  try {
    const created = await api("POST", withNamespace("/api/v1/sessions"), body);
    showNotice("Started session " + text(created && created.name) + ".");
    $("start-name").value = "";
  } catch (e) {
    // A refusal by a quota names the quota, the limit and the usage.
    showError(e.message);
    loadQuota();
  } finally {
    $("start-button").disabled = false;
  }
});

$("audit-filter").addEventListener("submit", (ev) => {
  ev.preventDefault();
  loadAudit(false);
});
$("audit-more").addEventListener("click", () => loadAudit(true));
$("usage-period-select").addEventListener("change", () => loadUsage());

$("namespace-input").value = sessionStorage.getItem(namespaceKey) || "";
start();
