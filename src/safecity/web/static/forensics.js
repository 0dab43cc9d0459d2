// Forensic search and routes: an area drawn on the map with two clicks, the hits' and the route's cameras as
// dots (labels from the server, put in as text by safecity.dot), and a route's recordings in one player.
"use strict";

(function () {
  function areaMap(container) {
    if (container.dataset.drawn) return;
    container.dataset.drawn = "yes";
    const map = safecity.createMap(container);
    if (!map) return;
    const cameras = JSON.parse(container.dataset.forensicAreaMap || "[]");
    safecity.fit(map, cameras.map((c) => safecity.dot(map, c.lat, c.lon, c.label, { radius: 5, color: "#555" })));
    const input = document.querySelector("[data-area-input]");
    const text = document.querySelector("[data-area-text]");
    let rectangle = null;
    let corner = null;
    let drawing = false;
    function show(bounds) {
      if (rectangle) rectangle.remove();
      rectangle = bounds ? L.rectangle(bounds, { color: "#c0392b", weight: 2, fill: false }).addTo(map) : null;
      const value = bounds ? [bounds.getSouth(), bounds.getWest(), bounds.getNorth(), bounds.getEast()].map((v) => v.toFixed(6)).join(",") : "";
      input.value = value;
      text.textContent = value;
    }
    if (input.value) {
      const [s, w, n, e] = input.value.split(",").map(Number);
      show(L.latLngBounds([s, w], [n, e]));
    }
    document.querySelector("[data-draw-area]").addEventListener("click", () => { drawing = true; corner = null; container.classList.add("drawing"); });
    document.querySelector("[data-clear-area]").addEventListener("click", () => show(null));
    map.on("click", (e) => {
      if (!drawing) return;
      if (!corner) { corner = e.latlng; return; }
      show(L.latLngBounds(corner, e.latlng));
      drawing = false;
      container.classList.remove("drawing");
    });
  }

  function dots(container, data, line) {
    if (container.dataset.drawn) return;
    container.dataset.drawn = "yes";
    const map = safecity.createMap(container);
    if (!map) return;
    const points = JSON.parse(data || "[]");
    const markers = points.map((p) => safecity.dot(map, p.lat, p.lon, p.label, { radius: 6, color: "#c0392b" }));
    if (line && points.length > 1) L.polyline(points.map((p) => [p.lat, p.lon]), { color: "#c0392b", weight: 3 }).addTo(map);
    safecity.fit(map, markers);
  }

  // Only the filters of what is searched for are shown.
  function filters(form) {
    const what = form.querySelector("input[name=what]:checked");
    form.querySelectorAll("[data-for]").forEach((el) => { el.hidden = !what || el.dataset.for !== what.value; });
  }

  function drawAll() {
    // Ticks are placed here: the CSP allows no inline styles.
    document.querySelectorAll(".forensic-timeline .tick[data-left]").forEach((tick) => { tick.style.left = `${tick.dataset.left}%`; });
    document.querySelectorAll("[data-forensic-area-map]").forEach(areaMap);
    document.querySelectorAll("[data-forensic-map]").forEach((c) => dots(c, c.dataset.forensicMap, false));
    document.querySelectorAll("[data-route-map]").forEach((c) => dots(c, c.dataset.routeMap, true));
    document.querySelectorAll("[data-route-playlist]").forEach((video) => {
      if (video.dataset.playing) return;
      video.dataset.playing = "yes";
      safecityVideo.playPlaylist(video, video.dataset.routePlaylist, (message) => safecityVideo.showFlash(message));
    });
    document.querySelectorAll(".forensic-form").forEach((form) => {
      filters(form);
      if (!form.dataset.watched) {
        form.dataset.watched = "yes";
        form.addEventListener("change", () => filters(form));
      }
    });
  }
  document.addEventListener("DOMContentLoaded", drawAll);
  document.addEventListener("htmx:afterSettle", drawAll); // the results arrive by htmx
})();
