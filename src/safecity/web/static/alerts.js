// The live alert list: new alerts and acknowledgements arrive over Server-Sent Events and update the table.
// Text is only ever inserted with textContent, so an alert's title or note can never become markup.
"use strict";

(function () {
  const SEVERITY = ["info", "low", "medium", "high", "critical"];

  function initAlerts(table) {
    const tbody = table.tBodies[0];
    const empty = document.querySelector("[data-testid=no-alerts]");
    const state = document.querySelector("[data-testid=feed-state]");
    const filter = table.dataset.status; // new | acknowledged | all
    const canHandle = table.dataset.canHandle === "yes";
    // sv-SE formats as "2026-11-22 15:04:05", the same as the server's rendering.
    const clock = new Intl.DateTimeFormat("sv-SE", {
      timeZone: table.dataset.zone, year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false,
    });
    const localTime = (iso) => (iso ? clock.format(new Date(iso)) : "—");
    const el = safecity.el;

    function ackForm(alert) {
      const form = el("form", null, "ack");
      form.setAttribute("hx-post", "/alerts/" + encodeURIComponent(alert.id) + "/ack");
      form.setAttribute("hx-swap", "none");
      const note = el("input");
      note.name = "note";
      note.maxLength = 500;
      note.placeholder = "Note (optional)";
      note.setAttribute("aria-label", "Note");
      const button = el("button", "Acknowledge");
      button.type = "submit";
      form.append(note, " ", button);
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
      reason.placeholder = "Why it is a false alarm";
      reason.setAttribute("aria-label", "Reason");
      const button = el("button", "Dismiss");
      button.type = "submit";
      form.append(reason, " ", button);
      return form;
    }

    function row(alert) {
      const tr = el("tr", null, "alert sev-" + Number(alert.severity));
      tr.id = "alert-" + alert.id;
      tr.dataset.raisedAt = alert.raised_at;
      const sev = el("td");
      sev.append(el("span", SEVERITY[alert.severity] || String(alert.severity), "sev"));
      const when = el("td");
      const time = el("time", localTime(alert.raised_at));
      time.dateTime = alert.raised_at;
      when.append(time);
      if (alert.repeat_count > 1) when.append(" ", el("span", "×" + alert.repeat_count, "meta"));
      const what = el("td", alert.title);
      what.append(el("div", alert.kind + " · " + alert.source, "meta"));
      const status = el("td");
      if (alert.status !== "new") {
        const verb = alert.status === "dismissed" ? "Dismissed" : "Acknowledged";
        status.textContent = verb + " by " + alert.acknowledged_by_name + " at " + localTime(alert.acknowledged_at);
        if (alert.ack_note) status.append(el("div", alert.ack_note, "meta"));
      } else {
        status.textContent = "New";
      }
      const action = el("td");
      if (alert.status === "new" && canHandle) action.append(ackForm(alert), dismissForm(alert));
      tr.append(sev, when, el("td", alert.camera_name || "—"), what, status, action);
      return tr;
    }

    function showEmpty() {
      if (empty) empty.hidden = tbody.rows.length > 0;
    }

    // Insert or update one alert: a repeat moves it to the top, an acknowledgement updates it in place,
    // and an alert the filter does not show leaves the list.
    function upsert(alert) {
      const old = document.getElementById("alert-" + alert.id);
      if (filter !== "all" && alert.status !== filter) {
        if (old) old.remove();
        showEmpty();
        return;
      }
      const fresh = row(alert);
      if (old && old.dataset.raisedAt === alert.raised_at) {
        old.replaceWith(fresh);
      } else {
        if (old) old.remove();
        fresh.classList.add("fresh");
        tbody.prepend(fresh);
      }
      if (window.htmx) window.htmx.process(fresh);
      showEmpty();
    }

    // The stream could not fill a gap: load the list again from the API.
    async function resync() {
      const query = new URLSearchParams({ limit: "200" });
      if (filter !== "all") query.set("status", filter);
      const response = await fetch("/api/v1/alerts?" + query, { headers: { Accept: "application/json" } });
      if (!response.ok) return;
      const alerts = await response.json();
      tbody.replaceChildren(...alerts.map(row));
      if (window.htmx) window.htmx.process(tbody);
      showEmpty();
    }

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
