// The message-lifecycle parts of the dashboard (issue 15): a registered message's panel in the
// lookup (reference, metadata, parts with their statuses, time to final), the lookup by reference,
// and the Stuck and Opt-outs pages. app.js hands in its DOM and formatting helpers.

export function lifecycleViews({ h, api, query, badge, fmtTime, duration, phone, empty, errorBox, lookupLink }) {
  function registrationPanel(msg) {
    if (!msg.registered) {
      return h("p", { class: "muted registration" }, "Not registered",
        msg.reference ? ` · reference echoed by the provider: ${msg.reference}` : "",
        ` · time to final ${duration(msg.time_to_final_s)}`);
    }
    const rows = [
      ["Reference", msg.reference ?? "—"],
      ["To", phone(msg.to)],
      ["From", msg.from ?? "—"],
      ["Sent", fmtTime(msg.sent_at)],
      ["Time to final", duration(msg.time_to_final_s)],
      ["Metadata", msg.metadata ? JSON.stringify(msg.metadata) : "—"],
    ];
    const parts = msg.parts && msg.parts.length
      ? h("table", { class: "parts" },
        h("thead", {}, h("tr", {}, ["Part", "Status", "Final at"].map((t) => h("th", {}, t)))),
        h("tbody", {}, msg.parts.map((p) => h("tr", {},
          h("td", {}, h("code", {}, p.message_id)),
          h("td", {}, badge(p.status), p.synthetic ? h("span", { class: "flag" }, "NO RECEIPT") : null),
          h("td", {}, fmtTime(p.final_at))))))
      : null;
    return h("div", { class: "registration" },
      h("table", { class: "kv" }, rows.map(([k, v]) => h("tr", {}, h("th", {}, k), h("td", {}, v)))),
      msg.partial ? h("p", { class: "flag flag-conflict" }, "PARTLY DELIVERED: some parts failed") : null,
      parts);
  }

  function referenceForm(value) {
    return h("form", { class: "filters", id: "lookup-reference", onsubmit: (ev) => {
      ev.preventDefault();
      location.hash = `#/lookup/reference/${encodeURIComponent(new FormData(ev.target).get("reference").trim())}`;
    } },
    h("label", {}, "Reference ", h("input", { name: "reference", required: true, placeholder: "order-42",
      value: value ?? "" })),
    h("button", { type: "submit" }, "Find messages"));
  }

  async function referenceResults(reference) {
    try {
      const found = await api(`/v1/messages${query({ reference, limit: 100 })}`);
      if (!found.data.length) return empty(`No registered message with reference ${reference}.`);
      return h("table", { class: "events" },
        h("thead", {}, h("tr", {}, ["Connection", "Message", "Status", "Sent", "Time to final"]
          .map((t) => h("th", {}, t)))),
        h("tbody", {}, found.data.map((m) => h("tr", {}, h("td", {}, m.connection),
          h("td", {}, lookupLink(m.connection, m.message_id)), h("td", {}, badge(m.status)),
          h("td", {}, fmtTime(m.sent_at)), h("td", {}, duration(m.time_to_final_s))))));
    } catch (err) {
      return errorBox(err);
    }
  }

  async function stuckView(root) {
    root.replaceChildren(h("h1", {}, "Stuck messages"), h("p", { class: "muted" }, "Loading…"));
    try {
      const rows = (await api(`/v1/stuck${query({ limit: 200 })}`)).data;
      root.replaceChildren(h("h1", {}, "Stuck messages"),
        h("p", { class: "muted" }, "Messages with no final receipt within their connection's final_within: "
          + "smshook marked them expired (no_final_receipt). A real receipt arriving later still replaces it."),
        rows.length ? h("table", { class: "events stuck" },
          h("thead", {}, h("tr", {}, ["Expired", "Connection", "Message", "Reference", "To", "Sent / first seen"]
            .map((t) => h("th", {}, t)))),
          h("tbody", {}, rows.map((r) => h("tr", {}, h("td", {}, fmtTime(r.expired_at)), h("td", {}, r.connection),
            h("td", {}, lookupLink(r.connection, r.part || r.message_id), r.part ? ` (part of ${r.message_id})` : ""),
            h("td", {}, r.reference ?? "—"), h("td", {}, phone(r.to)), h("td", {}, fmtTime(r.started_at))))))
          : empty("No stuck messages."));
    } catch (err) {
      root.replaceChildren(h("h1", {}, "Stuck messages"), errorBox(err));
    }
  }

  async function optoutsView(root, params) {
    const number = params.get("phone") || "";
    const form = h("form", { class: "filters", id: "optout-check", onsubmit: (ev) => {
      ev.preventDefault();
      location.hash = `#/optouts${query({ phone: new FormData(ev.target).get("phone").trim() })}`;
    } },
    h("label", {}, "Phone number ", h("input", { name: "phone", placeholder: "+447700900123", value: number })),
    h("button", { type: "submit" }, "Check"));
    root.replaceChildren(h("h1", {}, "Opt-outs"), form, h("p", { class: "muted" }, "Loading…"));
    try {
      const rows = (await api(`/v1/optouts${query({ phone: number || undefined, include_optins: !!number,
        limit: 200 })}`)).data;
      const table = rows.length ? h("table", { class: "events optouts" },
        h("thead", {}, h("tr", {}, ["Since", "Number", "State", "Sender", "Keyword", "Connection"]
          .map((t) => h("th", {}, t)))),
        h("tbody", {}, rows.map((r) => h("tr", {}, h("td", {}, fmtTime(r.since)),
          h("td", {}, r.phone ? phone(r.phone) : h("span", { class: "muted", title: "erased on request: "
            + "the opt-out stays, kept under a hash of the number" }, r.erased ? "[erased]" : "—")),
          h("td", {}, r.opted_out ? h("span", { class: "badge s-rejected" }, "opted out")
            : h("span", { class: "badge s-delivered" }, "opted in")),
          h("td", {}, r.sender ?? "every sender"), h("td", {}, r.keyword ?? "—"), h("td", {}, r.connection)))))
        : empty(number ? `${number} never opted out.` : "Nobody has opted out.");
      root.replaceChildren(h("h1", {}, "Opt-outs"), form, table);
    } catch (err) {
      root.replaceChildren(h("h1", {}, "Opt-outs"), form, errorBox(err));
    }
  }

  return { registrationPanel, referenceForm, referenceResults, stuckView, optoutsView };
}
