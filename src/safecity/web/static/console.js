// The operator console: the map of cameras, open incidents and units (units move as they report), and the
// selected alert's camera with the escalation form. The alert list itself is alerts.js's live table.
"use strict";

(function () {
  const UNIT_COLOURS = { available: "#1f5fa8" };
  const REFRESH_MS = 5000;

  async function getJson(url) {
    const response = await fetch(url);
    return response.ok ? response.json() : [];
  }

  function initMap(console_) {
    const el = console_.querySelector("[data-console-map]");
    const map = el && safecity.createMap(el);
    if (!map) return;
    const cameras = safecity.cluster(map, "cameras");
    const incidents = safecity.cluster(map, "incidents");
    const units = safecity.cluster(map, "units");
    const alerting = safecity.cluster(map, "alerts");
    safecity.fit(map, []); // the default view until the first refresh places something
    let fitted = false;

    function dot(layer, lat, lon, colour, label, radius) {
      return safecity.dot(layer, lat, lon, label, { radius, color: colour, fillOpacity: 0.8 });
    }

    async function refresh() {
      const [cams, open, fleet, raised] = await Promise.all([
        getJson("/api/v1/cameras"),
        getJson("/api/v1/incidents?limit=200"),
        getJson("/api/v1/units"),
        getJson("/api/v1/alerts?status=new&limit=200"),
      ]);
      cameras.clearLayers();
      incidents.clearLayers();
      units.clearLayers();
      alerting.clearLayers();
      const markers = [];
      // A click on a camera opens its camera page; on an incident, the incident; on an alert, the alert here.
      cams.forEach((c) => markers.push(safecity.link(dot(cameras, c.latitude, c.longitude, "#2e7d32", c.name, 5),
        "/cameras/" + encodeURIComponent(c.id))));
      open
        .filter((i) => i.status !== "resolved" && i.status !== "closed")
        .forEach((i) => markers.push(safecity.link(dot(incidents, i.latitude, i.longitude, "#c62828", i.number + " " + i.title, 9),
          "/incidents/" + encodeURIComponent(i.id))));
      // New alerts stand where their camera is.
      const where = new Map(cams.map((c) => [c.id, c]));
      raised.forEach((a) => {
        const cam = a.camera_id && where.get(a.camera_id);
        if (!cam) return;
        const marker = safecity.dot(alerting, cam.latitude, cam.longitude, "⚠ " + a.title,
          { radius: 8, color: "#d84315", weight: 3, fillOpacity: 0.9, className: "map-alert" });
        markers.push(safecity.link(marker, "/console?alert=" + encodeURIComponent(a.id)));
      });
      fleet.forEach((u) =>
        markers.push(dot(units, u.latitude, u.longitude, UNIT_COLOURS[u.status] || "#f9a825", u.call_sign + " · " + u.status, 7)));
      // Fitted once, to the first things placed; later refreshes leave the operator's view alone.
      if (!fitted && markers.some(Boolean)) {
        safecity.fit(map, markers);
        fitted = true;
      }
    }
    refresh();
    window.setInterval(refresh, REFRESH_MS);
  }

  function initSelection(console_) {
    const panel = console_.querySelector("[data-selected]");
    const title = console_.querySelector("[data-selected-title]");
    const video = console_.querySelector("[data-selected-video]");
    const form = console_.querySelector("[data-escalate]");
    const result = console_.querySelector("[data-escalated]");
    const canWatch = console_.dataset.canWatch === "yes";
    let selected = null;

    console_.querySelector("table[data-feed]").addEventListener("click", async (event) => {
      const row = event.target.closest("tr.alert");
      if (!row || event.target.closest("form")) return; // the acknowledge form keeps its own clicks
      const id = row.id.replace(/^alert-/, "");
      const response = await fetch("/api/v1/alerts/" + encodeURIComponent(id));
      if (!response.ok) return;
      selected = await response.json();
      console_.querySelectorAll("tr.selected").forEach((r) => r.classList.remove("selected"));
      row.classList.add("selected");
      panel.hidden = false;
      title.textContent = selected.title;
      video.replaceChildren();
      if (selected.camera_id && canWatch) {
        const img = document.createElement("img");
        img.alt = "Live view of " + (selected.camera_name || "the camera");
        img.src = "/api/v1/cameras/" + encodeURIComponent(selected.camera_id) + "/live.mjpeg?width=640";
        video.append(img);
      }
      // An analytics alert also shows what the analytics saw: its event's snapshot, boxes drawn.
      const eventId = selected.source === "analytics" && selected.detail && selected.detail.event_id;
      if (eventId) {
        const figure = document.createElement("figure");
        const shot = document.createElement("img");
        shot.alt = "What the analytics saw";
        shot.dataset.testid = "alert-snapshot";
        shot.src = "/api/v1/events/" + encodeURIComponent(eventId) + "/snapshot.jpg";
        const caption = document.createElement("figcaption");
        caption.textContent = "What the analytics saw (" + (selected.detail.rule_name || "rule") + ")";
        figure.append(shot, caption);
        video.append(figure);
      }
      // A hotlist alert shows the plate crop beside the listed plate, what to do, and the hit to judge.
      const hit = selected.source === "hotlists" && selected.detail && selected.detail.hit_id && selected.detail;
      if (hit) {
        const figure = document.createElement("figure");
        const crop = document.createElement("img");
        crop.alt = "The plate as the camera read it";
        crop.dataset.testid = "hit-crop";
        crop.src = "/api/v1/hotlists/hits/" + encodeURIComponent(hit.hit_id) + "/crop.jpg";
        const caption = document.createElement("figcaption");
        caption.textContent = "Read " + hit.read_plate + " · listed " + hit.listed_plate + " on " + hit.list_name +
          (hit.entry_reason ? " (" + hit.entry_reason + ")" : "");
        const todo = document.createElement("p");
        todo.textContent = hit.instructions || "";
        const review = document.createElement("a");
        review.href = "/hotlists/hits/" + encodeURIComponent(hit.hit_id);
        review.textContent = "Review the hit";
        figure.append(crop, caption, todo, review);
        video.append(figure);
      }
      if (result) result.textContent = "";
    });

    if (!form) return;
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (!selected) return;
      const response = await fetch("/api/v1/alerts/" + encodeURIComponent(selected.id) + "/escalate", {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": safecity.csrfToken() },
        body: JSON.stringify({ category: form.elements.category.value, priority: Number(form.elements.priority.value) }),
      });
      const body = await response.json().catch(() => ({}));
      result.replaceChildren();
      if (!response.ok) {
        result.textContent = (body.error && body.error.message) || "The alert could not be escalated.";
        return;
      }
      const link = document.createElement("a");
      link.href = "/incidents/" + encodeURIComponent(body.id);
      link.textContent = "Incident " + body.number + " opened";
      result.append(link);
    });
  }

  // Incidents other agencies shared with the user's agency, wherever they are (refreshed with the map).
  function initShared(console_) {
    const table = console_.querySelector("[data-shared]");
    if (!table) return;
    async function refresh() {
      const shared = await getJson("/api/v1/shared-incidents");
      if (!shared.length) return;
      table.tBodies[0].replaceChildren(
        ...shared.map((i) => {
          const tr = document.createElement("tr");
          const link = document.createElement("a");
          link.href = "/incidents/" + encodeURIComponent(i.id);
          link.textContent = i.number;
          const cells = [link, String(i.priority), i.status.replace("_", " "), i.title];
          cells.forEach((content) => {
            const td = document.createElement("td");
            td.append(content);
            tr.append(td);
          });
          return tr;
        }),
      );
    }
    refresh();
    window.setInterval(refresh, REFRESH_MS);
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("[data-console]").forEach((console_) => {
      initMap(console_);
      initSelection(console_);
      initShared(console_);
    });
  });
})();
