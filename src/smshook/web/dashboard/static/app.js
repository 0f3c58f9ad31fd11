// The smshook dashboard: a one-page app with hash routes. Every value shown is put in the page as text
// (never as HTML), and every call goes through api.js with the operator's token.

import { api, ApiError, download, query, stream, token, whenUnauthorized } from "./api.js";
import { lineChart, stackedBar } from "./chart.js";
import { lifecycleViews } from "./lifecycle.js";

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

const present = (nodes) => nodes.flat().filter((n) => n !== null && n !== undefined && n !== false);
const fmtTime = (iso) => (iso ? new Date(iso).toLocaleString() : "—");
const pct = (v) => (v === null || v === undefined ? "—" : `${(100 * v).toFixed(1)}%`);
function duration(s) {
  if (s === null || s === undefined) return "—";
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  if (s < 3600) return `${(s / 60).toFixed(1)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}
// An international number gets its "+"; a short code (Spryng SHORTCODE=4414) has at most 6 digits and none.
const phone = (n) => (n ? (/^\d{1,6}$/.test(n) ? n : `+${n}`) : "—");

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

// -- lists: page after page, date ranges, downloads -------------------------------------------------
// The date range is kept in the URL as ISO UTC (since, until); the inputs show the browser's time.
function localInput(iso) {
  const d = iso ? new Date(iso) : null;
  if (!d || Number.isNaN(d.getTime())) return "";
  return new Date(d.getTime() - d.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
}
function isoOf(local) {
  const d = local ? new Date(local) : null;
  return d && !Number.isNaN(d.getTime()) ? d.toISOString() : "";
}
function rangeFields(params) {
  return [
    h("label", {}, "From ", h("input", { type: "datetime-local", name: "since", value: localInput(params.get("since")) })),
    h("label", {}, "To ", h("input", { type: "datetime-local", name: "until", value: localInput(params.get("until")) })),
  ];
}
const rangeOf = (form) => ({ since: isoOf(form.get("since")), until: isoOf(form.get("until")) });
const rangeOfParams = (params) => ({ since: params.get("since") || "", until: params.get("until") || "" });

// A list read page by page (the API's next_cursor): the first page now, then a "Load more" button.
function pager(path, params, addRows, problems) {
  let cursor = null;
  let loaded = 0;
  const count = h("span", { class: "muted small", role: "status" });
  const more = h("button", { type: "button", class: "more", hidden: true }, "Load more");
  const load = async () => {
    more.disabled = true;
    try {
      const page = await api(`${path}${query({ ...params, cursor })}`);
      addRows(page.data);
      loaded += page.data.length;
      cursor = page.next_cursor;
      more.hidden = !cursor;
      count.textContent = loaded ? `${loaded} shown${cursor ? ", more below" : ""}` : "";
    } catch (err) {
      problems.replaceChildren(errorBox(err));
    } finally {
      more.disabled = false;
    }
  };
  more.addEventListener("click", load);
  return { box: h("div", { class: "pager" }, more, " ", count), load };
}

// "Download CSV / NDJSON" of an export route (GET /v1/export/…) with the page's filters.
function downloads(path, params, name, problems) {
  const button = (format) => h("button", { type: "button", class: "secondary", onclick: async (ev) => {
    ev.target.disabled = true;
    try {
      await download(`${path}${query({ ...params, format })}`, `${name}.${format}`);
    } catch (err) {
      problems.replaceChildren(errorBox(err));
    } finally {
      ev.target.disabled = false;
    }
  } }, `Download ${format.toUpperCase()}`);
  return h("span", { class: "downloads" }, button("csv"), " ", button("ndjson"));
}

const lifecycle = lifecycleViews({ h, api, query, badge, fmtTime, duration, phone, empty, errorBox, lookupLink });

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
    h("td", { class: "nowrap", title: e.received_at }, fmtTime(e.received_at)),
    h("td", {}, e.connection),
    h("td", {}, e.type),
    h("td", { class: "mid" }, e.message_id ? lookupLink(e.connection, e.message_id) : "—"),
    h("td", {}, what),
    h("td", { class: "nowrap" }, e.from || e.to ? `${phone(e.from)} → ${phone(e.to)}` : "—"));
}

async function liveView(root, params) {
  const show = (...nodes) => root.replaceChildren(...present(nodes));
  const conn = params.get("connection") || "";
  const type = params.get("type") || "";
  const range = rangeOfParams(params);
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
    location.hash = `#/live${query({ connection: form.get("connection"), type: form.get("type"), ...rangeOf(form) })}`;
  };
  const datalist = connectionList("conns");
  loadConnections().then((names) => datalist.replaceChildren(...names.map((c) => h("option", { value: c }))),
    () => {});
  const filters = h("form", { class: "filters", onsubmit: apply },
    h("label", {}, "Connection ", h("input", { name: "connection", value: conn, list: "conns", placeholder: "all" })),
    datalist,
    h("label", {}, "Type ", h("select", { name: "type" },
      ["", "status", "inbound"].map((t) => h("option", { value: t, selected: t === type }, t || "all")))),
    ...rangeFields(params),
    h("button", { type: "submit" }, "Filter"), state);
  const filtersNow = { connection: conn, type, ...range };
  const older = pager("/v1/events", { ...filtersNow, limit: 50 }, (rows) => rows.forEach((e) => add(e, false)), problems);
  show(h("h1", {}, "Live feed"), filters,
    h("div", { class: "toolbar" }, downloads("/v1/export/events", filtersNow, "smshook-events", problems)),
    problems, table, emptyNote, older.box);

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
    if (fresh) while (tbody.children.length > Math.max(200, seen.size)) tbody.lastChild.remove();
    emptyNote.hidden = true;
  };
  if (range.until) { // a closed range is history, not live
    state.className = "state";
    state.textContent = "date range: not following new events";
    emptyNote.textContent = "No events in this range.";
  } else {
    cleanup = stream(`/v1/stream${query({ connection: conn, type })}`, {
      onEvent: (e) => add(e, true),
      onState: (s, why) => {
        state.className = `state ${s}`;
        state.textContent = s === "live" ? "● live" : `${s}${why ? `: ${why}` : ""}`;
      },
    });
  }
  await older.load();
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
      h("div", {}, h("b", {}, duration(c.median_time_to_delivery_s)), h("span", {}, "median time to delivery")),
      h("div", {}, h("b", {}, duration(c.p90_time_to_delivery_s)), h("span", {}, "p90 time to delivery"))),
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
  const show = (...nodes) => root.replaceChildren(...present(nodes));
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
  late_final: "late final: a real final receipt after smshook's own expired (no receipt in time) replaced it",
};

function timeline(msg) {
  const effects = msg.effects || {};
  return h("ol", { class: "timeline" }, msg.events.map((e) => {
    const effect = effects[e.id];
    const marked = effect === "late" || effect === "conflict" || effect === "late_final";
    return h("li", { class: `tl ${effect ? `effect-${effect}` : ""} ${e.type}` },
      h("div", { class: "tl-head" },
        e.type === "inbound" ? h("span", { class: "badge s-inbound" }, "reply") : badge(e.status),
        marked ? h("span", { class: `flag flag-${effect}`, title: EFFECT_NOTE[effect] }, effect.toUpperCase()) : null,
        h("span", { class: "muted" }, ` ${fmtTime(e.occurred_at || e.received_at)}`)),
      h("div", { class: "tl-body" },
        e.type === "inbound" ? h("span", { class: "text" }, `“${e.text ?? ""}” from ${phone(e.from)}`)
          : h("span", {}, "provider status ", h("code", {}, e.provider_status ?? "—"),
            e.failure_class ? ` · ${e.failure_class} failure` : ""),
        msg.parts && msg.parts.length ? h("span", { class: "muted" }, ` · part ${e.message_id}`) : null,
        h("span", { class: "muted" }, ` · received ${fmtTime(e.received_at)}`),
        effect && EFFECT_NOTE[effect] ? h("div", { class: "note" }, EFFECT_NOTE[effect]) : null));
  }));
}

function phoneResults(number, range, problems) {
  const tbody = h("tbody");
  const none = empty(`No events from or to ${number}${range.since || range.until ? " in this range" : ""}.`);
  const table = h("table", { class: "events" },
    h("thead", {}, h("tr", {}, ["Received", "Connection", "Type", "Message", "Status / text", "From → to"]
      .map((t) => h("th", {}, t)))), tbody);
  const pages = pager("/v1/events", { phone: number, ...range, limit: 100 }, (rows) => {
    tbody.append(...rows.map(eventRow));
    table.hidden = !tbody.children.length;
    none.hidden = !table.hidden;
  }, problems);
  return { nodes: [h("div", { class: "toolbar" }, downloads("/v1/export/events", { phone: number, ...range },
    "smshook-phone", problems)), problems, table, none, pages.box], load: pages.load };
}

async function lookupView(root, params, rest) {
  const show = (...nodes) => root.replaceChildren(...present(nodes));
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
    const f = new FormData(ev.target);
    location.hash = `#/lookup/phone/${encodeURIComponent(f.get("phone").trim())}${query(rangeOf(f))}`;
  } },
  h("label", {}, "Phone number ", h("input", { name: "phone", required: true, placeholder: "+31612345678",
    value: mode === "phone" ? a : "" })),
  ...rangeFields(mode === "phone" ? params : new URLSearchParams()),
  h("button", { type: "submit" }, "Find events"));
  show(h("h1", {}, "Message lookup"), h("div", { class: "lookup-forms" }, byId, byPhone,
    lifecycle.referenceForm(mode === "reference" ? a : "")), result);
  if (mode === "message" && a && b) {
    try {
      const msg = await api(`/v1/messages/${encodeURIComponent(a)}/${encodeURIComponent(b)}`);
      result.replaceChildren(h("section", { class: "card message" },
        h("header", {}, h("h2", {}, `${msg.message_id}`), h("span", { class: "muted" }, ` on ${msg.connection}`),
          downloads(`/v1/export/messages/${encodeURIComponent(a)}/${encodeURIComponent(b)}`, {},
            `smshook-message-${msg.message_id}`, result)),
        h("p", {}, "Current status ", badge(msg.status), msg.final ? h("span", { class: "muted" }, " (final)") : null,
          msg.conflict ? h("span", { class: "flag flag-conflict" }, "CONFLICTING FINALS") : null,
          h("span", { class: "muted" }, ` · updated ${fmtTime(msg.updated_at)}`)),
        lifecycle.registrationPanel(msg),
        timeline(msg)));
    } catch (err) {
      result.replaceChildren(err.status === 404 ? empty(err.message) : errorBox(err));
    }
  } else if (mode === "reference" && a) {
    result.replaceChildren(await lifecycle.referenceResults(a));
  } else if (mode === "phone" && a) {
    const found = phoneResults(a, rangeOfParams(params), h("div"));
    result.replaceChildren(...present(found.nodes));
    await found.load();
  }
}

// -- quarantine -----------------------------------------------------------------------------------
function rawRequest(r) {
  const head = `${r.method} ${r.path}${r.query ? `?${r.query}` : ""}`;
  const headers = (r.headers || []).map(([k, v]) => `${k}: ${v}`).join("\n");
  // A body that is not UTF-8 is shown as text with each invalid byte written \xNN (body_text), and
  // its exact bytes as base64 on demand.
  const text = r.body_encoding === "base64" ? (r.body_text ?? r.body) : r.body;
  return h("details", { class: "raw" }, h("summary", {}, head),
    h("pre", {}, headers ? `${headers}\n\n${text}` : text),
    r.body_encoding === "base64" ? h("details", { class: "b64" },
      h("summary", {}, "Not valid UTF-8: invalid bytes shown as \\xNN. Show the exact body as base64"),
      h("code", { class: "b64" }, r.body)) : null);
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
  const dismissed = (e) => h("p", { class: "muted dismissed-note" },
    `Dismissed by ${e.dismissed_by} ${fmtTime(e.dismissed_at)}: ${e.dismissed_reason}`);
  const dismiss = dismissForm(q, outcome, (entry) => {
    card.classList.add("dismissed");
    button.disabled = true;
    outcome.replaceChildren(dismissed(entry));
  });
  if (q.dismissed_at) {
    button.disabled = true;
    dismiss.hidden = true;
    outcome.append(dismissed(q));
  }
  const card = h("section", { class: `card quarantine ${q.reprocessed_at ? "reprocessed" : ""} ${q.dismissed_at ? "dismissed" : ""}`, "data-id": q.id },
    h("header", {}, h("h2", {}, q.connection), h("span", { class: "muted" }, ` ${q.provider} · HTTP ${q.http_status}`)),
    h("p", { class: "reason" }, q.reason),
    h("p", { class: "muted" }, `first seen ${fmtTime(q.first_seen)} · last seen ${fmtTime(q.last_seen)} · ` +
      `${q.attempts} attempt(s)${q.reprocessed_at ? ` · re-processed ${fmtTime(q.reprocessed_at)}` : ""}`),
    rawRequest(q.request), h("div", { class: "actions" }, button, dismiss), outcome);
  return card;
}

// "Dismiss": the entry is kept, marked resolved with who and why (DELETE /v1/quarantine/{id}).
function dismissForm(q, outcome, onDone) {
  const who = h("input", { name: "who", required: true, placeholder: "your name", maxlength: 200,
    value: localStorage.getItem("smshook.who") || "" });
  const why = h("input", { name: "why", required: true, placeholder: "why it needs no re-processing", maxlength: 500 });
  const fields = h("span", { class: "dismiss-fields", hidden: true }, who, " ", why, " ",
    h("button", { type: "submit" }, "Confirm dismissal"));
  const open = h("button", { type: "button", class: "dismiss", onclick: () => {
    fields.hidden = false;
    open.hidden = true;
    (who.value ? why : who).focus();
  } }, "Dismiss");
  const form = h("form", { class: "dismiss-form", onsubmit: async (ev) => {
    ev.preventDefault();
    localStorage.setItem("smshook.who", who.value);
    try {
      const entry = await api(`/v1/quarantine/${encodeURIComponent(q.id)}${query({ who: who.value, why: why.value })}`,
        { method: "DELETE" });
      form.hidden = true;
      onDone(entry);
    } catch (err) {
      outcome.replaceChildren(errorBox(err));
    }
  } }, open, fields);
  return form;
}

async function quarantineView(root, params) {
  const show = (...nodes) => root.replaceChildren(...present(nodes));
  const conn = params.get("connection") || "";
  const range = rangeOfParams(params);
  const state = params.get("state") === "all" ? "all" : "open";
  const problems = h("div");
  const list = h("div", { class: "cards" });
  const none = empty(range.since || range.until || conn ? "Nothing in quarantine for these filters."
    : "Nothing in quarantine: every request could be read.");
  none.hidden = true;
  const filters = h("form", { class: "filters", onsubmit: (ev) => {
    ev.preventDefault();
    const f = new FormData(ev.target);
    location.hash = `#/quarantine${query({ connection: f.get("connection"), ...rangeOf(f),
      state: f.get("state") ? "all" : "" })}`;
  } },
  h("label", {}, "Connection ", h("input", { name: "connection", value: conn, placeholder: "all" })),
  ...rangeFields(params),
  h("label", { class: "show-dismissed" }, h("input", { type: "checkbox", name: "state", checked: state === "all",
    onchange: (ev) => ev.target.form.requestSubmit() }),
    " show dismissed"),
  h("button", { type: "submit" }, "Filter"));
  const pages = pager("/v1/quarantine", { connection: conn, ...range, state, limit: 100 }, (rows) => {
    list.append(...rows.map(quarantineCard));
    none.hidden = list.children.length > 0;
  }, problems);
  show(h("h1", {}, "Quarantine"),
    h("p", { class: "muted" }, "Requests smshook could not read, kept raw. Fix the mapping, then re-process; "
      + "or dismiss what needs no re-processing."),
    filters, problems, list, none, pages.box);
  await pages.load();
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

async function rejectedView(root, params) {
  const show = (...nodes) => root.replaceChildren(...present(nodes));
  const conn = params.get("connection") || "";
  const range = rangeOfParams(params);
  const problems = h("div");
  const list = h("div", { class: "cards" });
  const none = empty(range.since || range.until || conn ? "No rejected requests for these filters."
    : "No rejected requests: every signature checked out.");
  none.hidden = true;
  const filters = h("form", { class: "filters", onsubmit: (ev) => {
    ev.preventDefault();
    const f = new FormData(ev.target);
    location.hash = `#/rejected${query({ connection: f.get("connection"), ...rangeOf(f) })}`;
  } },
  h("label", {}, "Connection ", h("input", { name: "connection", value: conn, placeholder: "all" })),
  ...rangeFields(params), h("button", { type: "submit" }, "Filter"));
  const pages = pager("/v1/rejected", { connection: conn, ...range, limit: 100 }, (rows) => {
    list.append(...rows.map(rejectedCard));
    none.hidden = list.children.length > 0;
  }, problems);
  show(h("h1", {}, "Rejected"),
    h("p", { class: "muted" }, "Requests refused by their provider's signature or credential check, secrets masked; " +
      "never stored as events. A URL that differs from the provider's portal means public_url is mis-set."),
    filters, problems, list, none, pages.box);
  await pages.load();
}

// -- subscriptions --------------------------------------------------------------------------------
// The current state in words: paused (or disabled by the receiver's 410), failing (the last attempt
// failed), dead letters waiting for a replay, or healthy.
function subscriptionState(s) {
  const st = s.stats || {};
  if (!s.enabled) return s.disabled_reason ? ["bad", `disabled: ${s.disabled_reason}`] : ["warn", "paused"];
  const failedLast = st.last_error_at && (!st.last_success_at || st.last_error_at > st.last_success_at);
  if (failedLast) return ["bad", "failing"];
  if (st.dead) return ["warn", "dead letters"];
  return ["ok", st.successes ? "healthy" : "no deliveries yet"];
}

function subscriptionActions(s, problems) {
  const st = s.stats || {};
  const act = (label, run) => h("button", { type: "button", class: "secondary", onclick: async (ev) => {
    ev.target.disabled = true;
    try {
      await run();
      route(); // show the new state
    } catch (err) {
      problems.replaceChildren(errorBox(err));
      ev.target.disabled = false;
    }
  } }, label);
  const id = encodeURIComponent(s.id);
  return h("div", { class: "actions" },
    s.enabled
      ? act("Pause", () => api(`/v1/subscriptions/${id}`, { method: "PATCH", body: { enabled: false } }))
      : act("Resume", () => api(`/v1/subscriptions/${id}`, { method: "PATCH", body: { enabled: true } })),
    st.dead ? act(`Replay ${st.dead} dead`, () => api("/v1/replay", { method: "POST",
      body: { subscription_id: s.id, states: ["dead"] } })) : null,
    h("a", { href: `#/subscriptions/${id}`, class: "deliveries-link" }, "Deliveries"));
}

async function subscriptionsView(root, params, rest) {
  if (rest.length) return deliveriesView(root, params, decodeURIComponent(rest[0]));
  const show = (...nodes) => root.replaceChildren(...present(nodes));
  show(h("h1", {}, "Subscriptions"), h("p", { class: "muted" }, "Loading…"));
  const problems = h("div");
  try {
    const rows = (await api("/v1/subscriptions")).data;
    const body = rows.map((s) => {
      const st = s.stats || {};
      const [tone, state] = subscriptionState(s);
      return h("tr", { class: s.enabled ? "" : "disabled", "data-id": s.id },
        h("td", {}, h("b", {}, s.id), h("div", { class: "muted small" }, s.kind === "webhook" ? s.url : `${s.redis_url} ${s.stream}`)),
        h("td", { class: `state-cell ${tone}` }, state),
        h("td", { class: `num ${st.backlog ? "warn" : ""}` }, String(st.backlog ?? 0)),
        h("td", { class: "num" }, String(st.delivered ?? 0)),
        h("td", { class: `num ${st.failures ? "bad" : ""}` }, String(st.failures ?? 0)),
        h("td", { class: `num ${st.dead ? "bad" : ""}` }, String(st.dead ?? 0)),
        h("td", { class: "nowrap last-success" }, fmtTime(st.last_success_at)),
        h("td", { class: "last-failure" }, st.last_error_at
          ? [h("div", { class: "nowrap" }, fmtTime(st.last_error_at)), h("div", { class: "err small" }, st.last_error ?? "")]
          : "—"),
        h("td", { class: "nowrap" }, st.backlog ? fmtTime(st.next_attempt_at) : "—"),
        h("td", {}, subscriptionActions(s, problems)));
    });
    show(h("h1", {}, "Subscriptions"), problems, rows.length
      ? h("div", { class: "scroll" }, h("table", { class: "subs" }, h("thead", {}, h("tr", {},
        ["Subscription", "State", "Backlog", "Delivered", "Failures", "Dead", "Last success", "Last failure",
          "Next attempt", "Actions"].map((t) => h("th", {}, t)))), h("tbody", {}, body)))
      : empty("No subscriptions. Add one in the config file or with POST /v1/subscriptions."));
  } catch (err) {
    show(h("h1", {}, "Subscriptions"), errorBox(err));
  }
}

// One subscription's deliveries: attempts (replays never hide earlier ones), the receiver's last answer,
// the next try, or why it waits (paused, or an earlier event of the message first).
function deliveryRow(d) {
  const tries = d.replays
    ? `${d.attempts} (${d.attempts_since_replay} since the last of ${d.replays} replay${d.replays > 1 ? "s" : ""})`
    : String(d.attempts);
  const answer = d.last_status ? `HTTP ${d.last_status}` : "";
  const next = d.state === "pending" || d.state === "delivering"
    ? (d.waiting ? `waits ${d.waiting}` : fmtTime(d.next_attempt_at)) : "—";
  return h("tr", { "data-id": d.id, class: `d-${d.state}` },
    h("td", {}, h("code", { class: "small" }, d.id)),
    h("td", {}, d.message_id ? lookupLink(d.connection, d.message_id) : h("code", { class: "small" }, d.event_id),
      h("div", { class: "muted small" }, d.connection)),
    h("td", {}, badge(d.state)),
    h("td", { class: "num" }, tries),
    h("td", { class: "answer" }, answer || d.last_error ? [answer, d.last_error && answer ? " · " : "",
      d.last_error ? h("span", { class: "err" }, d.last_error) : ""] : "—"),
    h("td", { class: "next" }, next, d.waiting_for ? h("div", { class: "muted small" }, `after ${d.waiting_for}`) : null),
    h("td", { class: "nowrap" }, fmtTime(d.created_at)),
    h("td", { class: "nowrap" }, fmtTime(d.delivered_at)));
}

async function deliveriesView(root, params, id) {
  const show = (...nodes) => root.replaceChildren(...present(nodes));
  const state = params.get("state") || "";
  const range = rangeOfParams(params);
  const problems = h("div");
  const tbody = h("tbody");
  const none = empty("No deliveries for these filters.");
  none.hidden = true;
  const filters = h("form", { class: "filters", onsubmit: (ev) => {
    ev.preventDefault();
    const f = new FormData(ev.target);
    location.hash = `#/subscriptions/${encodeURIComponent(id)}${query({ state: f.get("state"), ...rangeOf(f) })}`;
  } },
  h("label", {}, "State ", h("select", { name: "state" },
    ["", "pending", "delivering", "delivered", "dead"].map((t) => h("option", { value: t, selected: t === state }, t || "all")))),
  ...rangeFields(params), h("button", { type: "submit" }, "Filter"));
  const table = h("div", { class: "scroll" }, h("table", { class: "deliveries" }, h("thead", {}, h("tr", {},
    ["Webhook id", "Message", "State", "Attempts", "Last answer", "Next try", "Queued", "Delivered"]
      .map((t) => h("th", {}, t)))), tbody));
  const pages = pager(`/v1/subscriptions/${encodeURIComponent(id)}/deliveries`, { state, ...range, limit: 100 },
    (rows) => {
      tbody.append(...rows.map(deliveryRow));
      none.hidden = tbody.children.length > 0;
    }, problems);
  show(h("h1", {}, h("a", { href: "#/subscriptions" }, "Subscriptions"), ` › ${id}`), filters, problems, table, none,
    pages.box);
  await pages.load();
}

// -- routing and the token ------------------------------------------------------------------------
const ROUTES = { live: liveView, connections: connectionsView, lookup: lookupView,
  quarantine: quarantineView, subscriptions: subscriptionsView, rejected: rejectedView,
  stuck: lifecycle.stuckView, optouts: lifecycle.optoutsView };

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
