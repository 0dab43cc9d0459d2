// The live alert list: new alerts and acknowledgements arrive over Server-Sent Events and update the table.
// Text is only ever inserted with textContent, so an alert's title or note can never become markup.
//
// Two layouts: the alerts page's full table (newest first), and the console's queue (data-layout="queue":
// compact rows ranked as an operator works them, the most severe first, then the longest waiting). Every
// change is announced on the table as an `alerts:changed` event ({alert, before}) for the console to act on.
"use strict";

(function () {
  const SEVERITY = ["info", "low", "medium", "high", "critical"];
  const VERB = { acknowledged: "Acknowledged", dismissed: "Dismissed", resolved: "Resolved" };
  const t = (english) => safecity.text(english);

  function initAlerts(table) {
    const tbody = table.tBodies[0];
    const empty = document.querySelector("[data-testid=no-alerts]");
    const state = document.querySelector("[data-testid=feed-state]");
    const filter = table.dataset.status; // new | acknowledged | dismissed | all
    const canHandle = table.dataset.canHandle === "yes";
    const queue = table.dataset.layout === "queue";
    // sv-SE formats as "2026-11-22 15:04:05", the same as the server's rendering.
    const clock = new Intl.DateTimeFormat("sv-SE", {
      timeZone: table.dataset.zone, year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false,
    });
    const localTime = (iso) => (iso ? clock.format(new Date(iso)) : "—");
    const el = safecity.el;
    const known = new Map(); // id -> the alert's latest state as this table knows it

    function ackForm(alert, withNote) {
      const form = el("form", null, "ack");
      form.setAttribute("hx-post", "/alerts/" + encodeURIComponent(alert.id) + "/ack");
      form.setAttribute("hx-swap", "none");
      if (withNote) {
        const note = el("input");
        note.name = "note";
        note.maxLength = 500;
        note.placeholder = t("Note (optional)");
        note.setAttribute("aria-label", t("Note"));
        form.append(note, " ");
      }
      const button = el("button", t("Acknowledge"));
      button.type = "submit";
      form.append(button);
      return form;
    }

    function dismissForm(alert) {
      const form = el("form", null, "ack");
      form.setAttribute("hx-post", "/alerts/" + encodeURIComponent(alert.id) + "/dismiss");
      form.setAttribute("hx-swap", "none");
      const reason = el("input");
      reason.name = "reason";
      reason.maxLength = 500;
      reason.minLength = 3;
      reason.required = true;
      reason.placeholder = t("Why it is a false alarm");
      reason.setAttribute("aria-label", t("Reason"));
      const button = el("button", t("Dismiss"));
      button.type = "submit";
      form.append(reason, " ", button);
      return form;
    }

    function statusText(alert) {
      if (alert.status === "new") return t("New");
      const who = alert.acknowledged_by_name || t("system");
      return t(VERB[alert.status] || alert.status) + " " + t("by") + " " + who + " " + t("at") + " " + localTime(alert.acknowledged_at);
    }

    function escalationBadge(alert) {
      const names = (alert.escalated_to_users || []).join(", ");
      const badge = el("span", t("Escalated to") + " " + alert.escalated_to_role, "badge escalated");
      badge.title = t("Unacknowledged too long; escalated at") + " " + localTime(alert.escalated_at) +
        (names ? " → " + names : "");
      return badge;
    }

    function tableRow(alert) {
      const tr = el("tr", null, "alert sev-" + Number(alert.severity));
      const sev = el("td");
      sev.append(el("span", t(SEVERITY[alert.severity] || String(alert.severity)), "sev"));
      const when = el("td");
      const time = el("time", localTime(alert.raised_at));
      time.dateTime = alert.raised_at;
      when.append(time);
      if (alert.repeat_count > 1) when.append(" ", el("span", "×" + alert.repeat_count, "meta"));
      const what = el("td");
      const open = el("a", alert.title);
      open.href = "/console?alert=" + encodeURIComponent(alert.id);
      open.title = t("Open on the console");
      what.append(open, el("div", alert.kind + " · " + alert.source, "meta"));
      if (alert.escalated_at) what.append(" ", escalationBadge(alert));
      const status = el("td", statusText(alert));
      if (alert.status !== "new" && alert.ack_note) status.append(el("div", alert.ack_note, "meta"));
      const action = el("td");
      if (alert.status === "new" && canHandle) action.append(ackForm(alert, true), dismissForm(alert));
      tr.append(sev, when, el("td", alert.camera_name || "—"), what, status, action);
      return tr;
    }

    // The console's compact row: severity, what and where, since when, and the two actions.
    function queueRow(alert) {
      const tr = el("tr", null, "alert sev-" + Number(alert.severity) + (alert.escalated_at ? " escalated" : ""));
      const sev = el("td");
      sev.append(el("span", t(SEVERITY[alert.severity] || String(alert.severity)), "sev"));
      const what = el("td", null, "what");
      const title = el("div", alert.title, "title");
      title.dir = "auto"; // an English title keeps its own direction (and its ellipsis at its end) on an Urdu page
      what.append(title);
      const meta = el("div", (alert.camera_name || "—") + " · " + alert.kind, "meta");
      if (alert.repeat_count > 1) meta.append(" · ×" + alert.repeat_count);
      what.append(meta);
      if (alert.escalated_at) what.append(escalationBadge(alert));
      const when = el("td", null, "when");
      const time = el("time", localTime(alert.first_raised_at).slice(11));
      time.dateTime = alert.first_raised_at;
      time.title = t("First raised") + " " + localTime(alert.first_raised_at) + ", " + t("last") + " " + localTime(alert.raised_at);
      when.append(time);
      const action = el("td", null, "act");
      if (alert.status === "new" && canHandle) {
        const dismiss = el("button", t("Dismiss"), "secondary");
        dismiss.type = "button";
        dismiss.dataset.dismissRow = "";
        action.append(ackForm(alert, false), dismiss);
      }
      tr.append(sev, what, when, action);
      return tr;
    }

    function row(alert) {
      const tr = queue ? queueRow(alert) : tableRow(alert);
      tr.id = "alert-" + alert.id;
      tr.dataset.raisedAt = alert.raised_at;
      tr.dataset.firstRaisedAt = alert.first_raised_at;
      tr.dataset.severity = String(alert.severity);
      tr.dataset.status = alert.status;
      if (alert.escalated_at) tr.dataset.escalatedAt = alert.escalated_at;
      known.set(String(alert.id), alert);
      return tr;
    }

    function showEmpty() {
      if (empty) empty.hidden = tbody.rows.length > 0;
    }

    // Queue order: the more severe first, then the one waiting longer.
    function ranksBefore(a, tr) {
      const sevA = Number(a.severity);
      const sevB = Number(tr.dataset.severity);
      if (sevA !== sevB) return sevA > sevB;
      return new Date(a.first_raised_at) < new Date(tr.dataset.firstRaisedAt);
    }

    function place(fresh, alert) {
      if (!queue) {
        tbody.prepend(fresh);
        return;
      }
      const next = Array.from(tbody.rows).find((tr) => tr !== fresh && ranksBefore(alert, tr));
      tbody.insertBefore(fresh, next || null);
    }

    function announce(alert, before) {
      table.dispatchEvent(new CustomEvent("alerts:changed", { detail: { alert, before } }));
    }

    // Insert or update one alert: a repeat moves it (the page: to the top; the queue: to its rank), an
    // acknowledgement updates it in place, and an alert the filter does not show leaves the list.
    function upsert(alert) {
      const id = String(alert.id);
      const before = known.get(id) || null;
      const old = document.getElementById("alert-" + alert.id);
      if (filter !== "all" && alert.status !== filter) {
        if (old) old.remove();
        known.set(id, alert);
        showEmpty();
        announce(alert, before);
        return;
      }
      const fresh = row(alert);
      if (old && (queue || old.dataset.raisedAt === alert.raised_at) && old.dataset.severity === String(alert.severity)) {
        if (old.classList.contains("selected")) fresh.classList.add("selected");
        old.replaceWith(fresh);
      } else {
        const wasSelected = old && old.classList.contains("selected");
        if (old) old.remove();
        if (wasSelected) fresh.classList.add("selected");
        fresh.classList.add("fresh");
        place(fresh, alert);
      }
      if (window.htmx) window.htmx.process(fresh);
      showEmpty();
      announce(alert, before);
    }

    // The stream could not fill a gap: load the list again from the API.
    async function resync() {
      const query = new URLSearchParams({ limit: "200" });
      if (filter !== "all") query.set("status", filter);
      const response = await fetch("/api/v1/alerts?" + query, { headers: { Accept: "application/json" } });
      if (!response.ok) return;
      const alerts = await response.json();
      const selected = tbody.querySelector("tr.selected");
      tbody.replaceChildren();
      alerts.forEach((alert) => {
        const tr = row(alert);
        if (selected && selected.id === tr.id) tr.classList.add("selected");
        place(tr, alert);
      });
      if (window.htmx) window.htmx.process(tbody);
      showEmpty();
      table.dispatchEvent(new CustomEvent("alerts:resynced"));
    }

    // What the server rendered, as the state this table starts from (for telling a change from a repeat).
    Array.from(tbody.rows).forEach((tr) => {
      known.set(tr.id.replace(/^alert-/, ""), {
        id: tr.id.replace(/^alert-/, ""),
        severity: Number(tr.dataset.severity),
        status: tr.dataset.status,
        escalated_at: tr.dataset.escalatedAt || null,
        raised_at: tr.dataset.raisedAt,
        first_raised_at: tr.dataset.firstRaisedAt,
      });
    });

    safecity.liveFeed(table.dataset.feed, {
      after: table.dataset.after,
      handlers: { alert: upsert },
      resync,
      state,
    });

    // This operator's own acknowledgement, from the htmx answer (the feed brings everyone else's).
    document.body.addEventListener("alert-changed", (event) => {
      const alert = event.detail;
      window.setTimeout(() => upsert(alert), 0); // after htmx has finished with the form being replaced
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("table[data-feed]").forEach(initAlerts);
  });
})();
