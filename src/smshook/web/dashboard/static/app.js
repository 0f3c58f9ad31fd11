// The smshook dashboard: a one-page app with hash routes. Every value shown is put in the page as text
// (never as HTML), and every call goes through api.js with the operator's token.

import { api, ApiError, query, stream, token, whenUnauthorized } from "./api.js";
import { lineChart, stackedBar } from "./chart.js";

const $ = (sel) => document.querySelector(sel);
const view = $("#view");
let cleanup = () => {};

// -- small DOM helpers ------------------------------------------------------------------------------
function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "class") node.className = v;
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) node.append(c);
  return node;
}

const fmtTime = (iso) => (iso ? new Date(iso).toLocaleString() : "—");
function shortTime(iso) { // today: the time only
  if (!iso) return "—";
  const d = new Date(iso);
  return d.toDateString() === new Date().toDateString() ? d.toLocaleTimeString() : d.toLocaleString();
}
const pct = (v) => (v === null || v === undefined ? "—" : `${(100 * v).toFixed(1)}%`);
function duration(s) {
  if (s === null || s === undefined) return "—";
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  if (s < 3600) return `${(s / 60).toFixed(1)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}
const phone = (n) => (n ? `+${n}` : "—");

function errorBox(err) {
  return h("p", { class: "error", role: "alert" }, err instanceof ApiError ? `Error: ${err.message}` : `${err}`);
}
function empty(text) {
  return h("p", { class: "empty-state" }, text);
}
function badge(status, extra = "") {
  return h("span", { class: `badge s-${status || "none"} ${extra}` }, status || "—");
}
function lookupLink(conn, id) {
  return h("a", { href: `#/lookup/message/${encodeURIComponent(conn)}/${encodeURIComponent(id)}` }, id);
}

// Known connection names, for the pickers (the configured ones and what the page has seen).
const connections = new Set();
async function loadConnections() {
  try {
    const configured = await api("/v1/connections");
    for (const c of configured.data) connections.add(c.connection);
  } catch (err) {
    if (err.status === 401) throw err;
  }
  return [...connections].sort();
}
function connectionList(id) {
  return h("datalist", { id }, [...connections].sort().map((c) => h("option", { value: c })));
}

// -- live feed ------------------------------------------------------------------------------------
function eventRow(e) {
  const what = e.type === "inbound"
    ? h("span", { class: "text" }, e.text ?? "")
    : h("span", {}, badge(e.status), " ", h("code", {}, e.provider_status ?? ""),
      e.failure_class ? h("span", { class: "muted" }, ` ${e.failure_class}`) : null);
  return h("tr", { "data-id": e.id },
    h("td", { class: "nowrap", title: fmtTime(e.received_at) }, shortTime(e.received_at)),
    h("td", {}, e.connection),
    h("td", {}, e.type),
    h("td", { class: "mid" }, e.message_id ? lookupLink(e.connection, e.message_id) : "—"),
    h("td", {}, what),
    h("td", { class: "nowrap" }, e.from || e.to ? `${phone(e.from)} → ${phone(e.to)}` : "—"));
}

async function liveView(root, params) {
  const show = (...nodes) => root.replaceChildren(...nodes.flat());
  const conn = params.get("connection") || "";
  const type = params.get("type") || "";
  const state = h("span", { class: "state connecting" }, "connecting…");
  const tbody = h("tbody");
  const table = h("table", { class: "events" },
    h("thead", {}, h("tr", {}, ["Received", "Connection", "Type", "Message", "Status / text", "From → to"]
      .map((t) => h("th", {}, t)))), tbody);
  const emptyNote = empty("No events yet. They appear here as providers call smshook.");
  const problems = h("div");
  const apply = (ev) => {
    ev.preventDefault();
    const form = new FormData(ev.target);
    location.hash = `#/live${query({ connection: form.get("connection"), type: form.get("type") })}`;
  };
  const datalist = connectionList("conns");
  loadConnections().then((names) => datalist.replaceChildren(...names.map((c) => h("option", { value: c }))),
    () => {});
  const filters = h("form", { class: "filters", onsubmit: apply },
    h("label", {}, "Connection ", h("input", { name: "connection", value: conn, list: "conns", placeholder: "all" })),
    datalist,
    h("label", {}, "Type ", h("select", { name: "type" },
      ["", "status", "inbound"].map((t) => h("option", { value: t, selected: t === type }, t || "all")))),
    h("button", { type: "submit" }, "Filter"), state);
  show(h("h1", {}, "Live feed"), filters, problems, table, emptyNote);

  const seen = new Set();
  const add = (e, fresh) => {
    if (seen.has(e.id)) return;
    seen.add(e.id);
    connections.add(e.connection);
    const row = eventRow(e);
    if (fresh) {
      row.classList.add("fresh");
      tbody.prepend(row);
    } else tbody.append(row);
    while (tbody.children.length > 200) tbody.lastChild.remove();
    emptyNote.hidden = true;
  };
  cleanup = stream(`/v1/stream${query({ connection: conn, type })}`, {
    onEvent: (e) => add(e, true),
    onState: (s, why) => {
      state.className = `state ${s}`;
      state.textContent = s === "live" ? "● live" : `${s}${why ? `: ${why}` : ""}`;
    },
  });
  try {
    const recent = await api(`/v1/events${query({ connection: conn, type, limit: 50 })}`);
    for (const e of recent.data) add(e, false);
  } catch (err) {
    problems.replaceChildren(errorBox(err));
  }
}

// -- connections ----------------------------------------------------------------------------------
function funnel(f) {
  const classes = Object.entries(f.failed_by_class || {});
  const parts = [
    { label: "delivered", value: f.delivered, className: "seg-delivered" },
    ...(classes.length
      ? classes.map(([cls, n]) => ({ label: `failed (${cls})`, value: n, className: `seg-failed-${cls}` }))
      : [{ label: "failed", value: f.failed, className: "seg-failed-permanent" }]),
    { label: "pending", value: f.pending, className: "seg-pending" },
  ];
  return h("div", { class: "funnel" },
    h("div", { class: "funnel-head" }, h("strong", {}, `${f.sent} sent`), " → ",
      h("span", { class: "ok" }, `${f.delivered} delivered`), " / ",
      h("span", { class: "bad" }, `${f.failed} failed`),
      classes.length ? h("span", { class: "muted" }, ` (${classes.map(([c, n]) => `${c} ${n}`).join(", ")})`) : null,
      " / ", h("span", { class: "muted" }, `${f.pending} pending`)),
    stackedBar(parts, "delivery funnel"));
}

function breakdown(name, counts) {
  const rows = Object.entries(counts || {}).sort((a, b) => b[1] - a[1]).slice(0, 6);
  if (!rows.length) return null;
  return h("div", { class: "breakdown" }, h("h4", {}, name),
    h("table", {}, rows.map(([k, v]) => h("tr", {}, h("td", {}, k), h("td", { class: "num" }, String(v))))));
}

function connectionCard(c, stats) {
  if (!c.messages) { // a configured connection that sent nothing in this window: one line
    return h("section", { class: "card connection quiet", "data-connection": c.connection },
      h("header", {}, h("h2", {}, c.connection), h("span", { class: "muted" }, c.provider),
        h("span", { class: "muted" }, " · no sent messages in this window")));
  }
  const since = Date.parse(stats.since);
  const until = Date.parse(stats.until);
  const series = c.series || [];
  const pts = (key) => series.map((p) => ({ t: Date.parse(p.t), v: p[key] }));
  return h("section", { class: "card connection", "data-connection": c.connection },
    h("header", {}, h("h2", {}, c.connection), h("span", { class: "muted" }, c.provider)),
    h("div", { class: "kpis" },
      h("div", {}, h("b", {}, String(c.messages)), h("span", {}, "messages")),
      h("div", {}, h("b", {}, pct(c.delivery_rate)), h("span", {}, "delivery rate")),
      h("div", {}, h("b", {}, duration(c.median_time_to_delivery_s)), h("span", {}, "median time to delivery"))),
    funnel(c.funnel),
    h("div", { class: "charts" },
      h("figure", {}, h("figcaption", {}, "Delivery rate"),
        lineChart({ points: pts("delivery_rate"), since, until, yMax: 1, format: (v) => `${Math.round(v * 100)}%`,
          label: `${c.connection}: delivery rate`, className: "rate" })),
      h("figure", {}, h("figcaption", {}, "Median time to delivery"),
        lineChart({ points: pts("median_time_to_delivery_s"), since, until, format: duration,
          label: `${c.connection}: median time to delivery`, className: "ttd" }))),
    h("div", { class: "breakdowns" }, breakdown("By country", c.by_country), breakdown("By operator", c.by_operator)));
}

// Amazon SNS subscriptions this server saw, and whether it confirmed them (GET /v1/sns/subscriptions).
function snsTable(rows) {
  if (!rows.length) return null;
  return h("section", { class: "card sns" }, h("h2", {}, "Amazon SNS subscriptions"),
    h("table", { class: "subs" }, h("thead", {}, h("tr", {},
      ["Connection", "Topic", "State", "Attempts", "Last error", "Updated"].map((t) => h("th", {}, t)))),
    h("tbody", {}, rows.map((s) => h("tr", { "data-topic": s.topic_arn },
      h("td", {}, s.connection), h("td", {}, s.topic_arn),
      h("td", { class: s.state === "confirmed" ? "ok" : s.state === "pending" ? "warn" : "bad" }, s.state),
      h("td", { class: "num" }, String(s.attempts)), h("td", { class: "err" }, s.last_error || "—"),
      h("td", { class: "nowrap" }, fmtTime(s.updated_at)))))));
}

async function connectionsView(root, params) {
  const show = (...nodes) => root.replaceChildren(...nodes.flat());
  const win = ["hour", "day", "week"].includes(params.get("window")) ? params.get("window") : "day";
  const tabs = h("nav", { class: "tabs" }, ["hour", "day", "week"].map((w) =>
    h("a", { href: `#/connections${query({ window: w })}`, class: w === win ? "active" : "" }, `Last ${w}`)));
  show(h("h1", {}, "Connections"), tabs, h("p", { class: "muted" }, "Loading…"));
  try {
    const stats = await api(`/v1/stats${query({ window: win })}`);
    const cards = stats.connections.map((c) => connectionCard(c, stats));
    const inbound = stats.inbound && Object.keys(stats.inbound).length
      ? h("p", { class: "muted" }, `Inbound messages in this window: ${Object.entries(stats.inbound)
        .map(([k, v]) => `${k} ${typeof v === "object" ? JSON.stringify(v) : v}`).join(", ")}`)
      : null;
    show(h("h1", {}, "Connections"), tabs,
      h("p", { class: "muted" }, `${fmtTime(stats.since)} – ${fmtTime(stats.until)}`),
      cards.length ? cards : empty(`No messages sent in the last ${win}.`), inbound,
      snsTable((await api("/v1/sns/subscriptions")).data));
  } catch (err) {
    show(h("h1", {}, "Connections"), tabs, errorBox(err));
  }
}

// -- message lookup -------------------------------------------------------------------------------
const EFFECT_NOTE = {
  late: "late: arrived after a higher status, kept in the timeline, changed nothing",
  conflict: "conflict: a different final status after the first final one",
  unchanged: "no change",
};

function timeline(msg) {
  const effects = msg.effects || {};
  return h("ol", { class: "timeline" }, msg.events.map((e) => {
    const effect = effects[e.id];
    const marked = effect === "late" || effect === "conflict";
    return h("li", { class: `tl ${effect ? `effect-${effect}` : ""} ${e.type}` },
      h("div", { class: "tl-head" },
        e.type === "inbound" ? h("span", { class: "badge s-inbound" }, "reply") : badge(e.status),
        marked ? h("span", { class: `flag flag-${effect}`, title: EFFECT_NOTE[effect] }, effect.toUpperCase()) : null,
        h("span", { class: "muted" }, ` ${fmtTime(e.occurred_at || e.received_at)}`)),
      h("div", { class: "tl-body" },
        e.type === "inbound" ? h("span", { class: "text" }, `“${e.text ?? ""}” from ${phone(e.from)}`)
          : h("span", {}, "provider status ", h("code", {}, e.provider_status ?? "—"),
            e.failure_class ? ` · ${e.failure_class} failure` : ""),
        h("span", { class: "muted" }, ` · received ${fmtTime(e.received_at)}`),
        effect && EFFECT_NOTE[effect] ? h("div", { class: "note" }, EFFECT_NOTE[effect]) : null));
  }));
}

function phoneResults(number, rows) {
  if (!rows.length) return empty(`No events from or to ${number}.`);
  return h("table", { class: "events" },
    h("thead", {}, h("tr", {}, ["Received", "Connection", "Type", "Message", "Status / text", "From → to"]
      .map((t) => h("th", {}, t)))),
    h("tbody", {}, rows.map(eventRow)));
}

async function lookupView(root, params, rest) {
  const show = (...nodes) => root.replaceChildren(...nodes.flat());
  await loadConnections().catch(() => []);
  const [mode, a, b] = rest.map(decodeURIComponent);
  const result = h("div", { class: "result" });
  const byId = h("form", { class: "filters", id: "lookup-message", onsubmit: (ev) => {
    ev.preventDefault();
    const f = new FormData(ev.target);
    location.hash = `#/lookup/message/${encodeURIComponent(f.get("connection"))}/${encodeURIComponent(f.get("id").trim())}`;
  } },
  h("label", {}, "Connection ", h("input", { name: "connection", list: "lookup-conns", required: true,
    value: mode === "message" ? a : [...connections].sort()[0] ?? "" })),
  connectionList("lookup-conns"),
  h("label", {}, "Message id ", h("input", { name: "id", required: true, value: mode === "message" ? b : "" })),
  h("button", { type: "submit" }, "Look up"));
  const byPhone = h("form", { class: "filters", id: "lookup-phone", onsubmit: (ev) => {
    ev.preventDefault();
    location.hash = `#/lookup/phone/${encodeURIComponent(new FormData(ev.target).get("phone").trim())}`;
  } },
  h("label", {}, "Phone number ", h("input", { name: "phone", required: true, placeholder: "+31612345678",
    value: mode === "phone" ? a : "" })),
  h("button", { type: "submit" }, "Find events"));
  show(h("h1", {}, "Message lookup"), h("div", { class: "lookup-forms" }, byId, byPhone), result);
  if (mode === "message" && a && b) {
    try {
      const msg = await api(`/v1/messages/${encodeURIComponent(a)}/${encodeURIComponent(b)}`);
      result.replaceChildren(h("section", { class: "card message" },
        h("header", {}, h("h2", {}, `${msg.message_id}`), h("span", { class: "muted" }, ` on ${msg.connection}`)),
        h("p", {}, "Current status ", badge(msg.status), msg.final ? h("span", { class: "muted" }, " (final)") : null,
          msg.conflict ? h("span", { class: "flag flag-conflict" }, "CONFLICTING FINALS") : null,
          h("span", { class: "muted" }, ` · updated ${fmtTime(msg.updated_at)}`)),
        timeline(msg)));
    } catch (err) {
      result.replaceChildren(err.status === 404 ? empty(err.message) : errorBox(err));
    }
  } else if (mode === "phone" && a) {
    try {
      const rows = await api(`/v1/events${query({ phone: a, limit: 100 })}`);
      result.replaceChildren(phoneResults(a, rows.data));
    } catch (err) {
      result.replaceChildren(errorBox(err));
    }
  }
}

// -- quarantine -----------------------------------------------------------------------------------
function rawRequest(r) {
  const head = `${r.method} ${r.path}${r.query ? `?${r.query}` : ""}`;
  const headers = (r.headers || []).map(([k, v]) => `${k}: ${v}`).join("\n");
  return h("details", { class: "raw" }, h("summary", {}, head),
    h("pre", {}, headers ? `${headers}\n\n${r.body}` : r.body), r.body_encoding === "base64" ? h("p", { class: "muted" }, "body shown as base64") : null);
}

function quarantineCard(q) {
  const outcome = h("div", { class: "outcome" });
  const done = (result) => outcome.replaceChildren(h("p", { class: "ok" },
    `Re-processed: ${result.events} new event(s), ${result.duplicates} duplicate(s).`));
  const button = h("button", { type: "button", class: "reprocess", onclick: async () => {
    button.disabled = true;
    outcome.replaceChildren(h("p", { class: "muted" }, "Re-processing…"));
    try {
      done(await api(`/v1/quarantine/${encodeURIComponent(q.id)}/reprocess`, { method: "POST" }));
      card.classList.add("reprocessed");
    } catch (err) {
      outcome.replaceChildren(errorBox(err));
      button.disabled = false;
    }
  } }, "Re-process");
  if (q.reprocessed_at) {
    button.disabled = true;
    if (q.reprocess_result) done(q.reprocess_result);
  }
  const card = h("section", { class: `card quarantine ${q.reprocessed_at ? "reprocessed" : ""}`, "data-id": q.id },
    h("header", {}, h("h2", {}, q.connection), h("span", { class: "muted" }, ` ${q.provider} · HTTP ${q.http_status}`)),
    h("p", { class: "reason" }, q.reason),
    h("p", { class: "muted" }, `first seen ${fmtTime(q.first_seen)} · last seen ${fmtTime(q.last_seen)} · ` +
      `${q.attempts} attempt(s)${q.reprocessed_at ? ` · re-processed ${fmtTime(q.reprocessed_at)}` : ""}`),
    rawRequest(q.request), h("div", { class: "actions" }, button), outcome);
  return card;
}

async function quarantineView(root) {
  const show = (...nodes) => root.replaceChildren(...nodes.flat());
  show(h("h1", {}, "Quarantine"), h("p", { class: "muted" }, "Loading…"));
  try {
    const rows = await api("/v1/quarantine?limit=100");
    show(h("h1", {}, "Quarantine"),
      h("p", { class: "muted" }, "Requests smshook could not read, kept raw. Fix the mapping, then re-process."),
      rows.data.length ? rows.data.map(quarantineCard) : empty("Nothing in quarantine: every request could be read."));
  } catch (err) {
    show(h("h1", {}, "Quarantine"), errorBox(err));
  }
}

// -- rejected requests ----------------------------------------------------------------------------
function rejectedCard(r) {
  return h("section", { class: "card rejected", "data-id": r.id },
    h("header", {}, h("h2", {}, r.connection), h("span", { class: "muted" }, ` ${r.provider} · HTTP ${r.http_status} · ${r.reason}`)),
    h("p", { class: "reason" }, r.message),
    h("p", {}, "Checked against ", h("code", { class: "url" }, r.request.url)),
    h("p", { class: "muted" }, `first seen ${fmtTime(r.first_seen)} · last seen ${fmtTime(r.last_seen)} · ${r.attempts} attempt(s)`),
    rawRequest(r.request));
}

async function rejectedView(root) {
  const show = (...nodes) => root.replaceChildren(...nodes.flat());
  show(h("h1", {}, "Rejected"), h("p", { class: "muted" }, "Loading…"));
  try {
    const rows = await api("/v1/rejected?limit=100");
    show(h("h1", {}, "Rejected"),
      h("p", { class: "muted" }, "Requests refused by their provider's signature or credential check, secrets masked; " +
        "never stored as events. A URL that differs from the provider's portal means public_url is mis-set."),
      rows.data.length ? rows.data.map(rejectedCard) : empty("No rejected requests: every signature checked out."));
  } catch (err) {
    show(h("h1", {}, "Rejected"), errorBox(err));
  }
}

// -- subscriptions --------------------------------------------------------------------------------
async function subscriptionsView(root) {
  const show = (...nodes) => root.replaceChildren(...nodes.flat());
  show(h("h1", {}, "Subscriptions"), h("p", { class: "muted" }, "Loading…"));
  try {
    const rows = (await api("/v1/subscriptions")).data;
    const body = rows.map((s) => {
      const st = s.stats || {};
      return h("tr", { class: s.enabled ? "" : "disabled", "data-id": s.id },
        h("td", {}, h("b", {}, s.id), h("div", { class: "muted small" }, s.kind === "webhook" ? s.url : `${s.redis_url} ${s.stream}`)),
        h("td", {}, s.enabled ? "enabled" : `disabled${s.disabled_reason ? `: ${s.disabled_reason}` : ""}`),
        h("td", { class: `num ${st.backlog ? "warn" : ""}` }, String(st.backlog ?? 0)),
        h("td", { class: "num" }, String(st.delivered ?? 0)),
        h("td", { class: `num ${st.failures ? "bad" : ""}` }, String(st.failures ?? 0)),
        h("td", { class: `num ${st.dead ? "bad" : ""}` }, String(st.dead ?? 0)),
        h("td", { class: "err" }, st.last_error ? `${st.last_error} (${fmtTime(st.last_error_at)})` : "—"),
        h("td", { class: "nowrap" }, fmtTime(st.next_attempt_at)));
    });
    show(h("h1", {}, "Subscriptions"), rows.length
      ? h("table", { class: "subs" }, h("thead", {}, h("tr", {},
        ["Subscription", "State", "Backlog", "Delivered", "Failures", "Dead", "Last error", "Next attempt"]
          .map((t) => h("th", {}, t)))), h("tbody", {}, body))
      : empty("No subscriptions. Add one in the config file or with POST /v1/subscriptions."));
  } catch (err) {
    show(h("h1", {}, "Subscriptions"), errorBox(err));
  }
}

// -- routing and the token ------------------------------------------------------------------------
const ROUTES = { live: liveView, connections: connectionsView, lookup: lookupView,
  quarantine: quarantineView, subscriptions: subscriptionsView, rejected: rejectedView };

async function route() {
  cleanup();
  cleanup = () => {};
  const [path, search = ""] = location.hash.replace(/^#\/?/, "").split("?");
  const [name, ...rest] = path.split("/").filter(Boolean);
  const page = ROUTES[name] ? name : "live";
  for (const a of document.querySelectorAll("nav a[data-route]")) a.classList.toggle("active", a.dataset.route === page);
  document.title = `smshook · ${page}`;
  // Each visit renders into its own element: a page left while it still loads writes nowhere.
  const root = h("div", { class: `page page-${page}` });
  view.replaceChildren(root);
  try {
    await ROUTES[page](root, new URLSearchParams(search), rest);
  } catch (err) {
    root.replaceChildren(errorBox(err));
  }
}

function showLogin(message) {
  cleanup();
  cleanup = () => {};
  $("#login").hidden = false;
  view.hidden = true;
  $("#logout").hidden = true;
  const box = $("#login-error");
  box.hidden = !message;
  box.textContent = message || "";
  $("#token").focus();
}

whenUnauthorized((message) => {
  const had = token.get() !== null;
  token.clear();
  showLogin(had ? `The token was refused (${message}).` : "");
});

$("#login-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  token.set($("#token").value.trim());
  $("#token").value = "";
  start();
});
$("#logout").addEventListener("click", () => {
  token.clear();
  showLogin("");
});

async function start() {
  // Does this server want a token, and is ours right? One cheap call tells.
  try {
    await api("/v1/events?limit=1");
  } catch (err) {
    if (err.status === 401) return; // the login form is shown by whenUnauthorized
  }
  $("#login").hidden = true;
  view.hidden = false;
  $("#logout").hidden = token.get() === null;
  route();
}

window.addEventListener("hashchange", () => {
  if ($("#login").hidden) route();
});
start();
