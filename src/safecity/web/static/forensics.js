// Forensic search and routes: an area drawn on the map (safecity.areaMap), the hits' and the route's cameras as
// dots (labels from the server, put in as text by safecity.dot), and a route's recordings in one player.
"use strict";

(function () {
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
    document.querySelectorAll("[data-area-map]").forEach(safecity.areaMap);
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
