// Plate search and journeys: the sightings on a map; a journey's route as numbered stops joined in time
// order. Labels come from the server and are only ever put in as text (safecity.dot, textContent).
"use strict";

(function () {
  const ROUTE = "#1f5fa8";

  function searchMap(container) {
    const map = safecity.createMap(container);
    if (!map) return;
    const points = JSON.parse(container.dataset.plateMap || "[]");
    const markers = points.map((p) => safecity.dot(map, p.lat, p.lon, p.label, { radius: 6, color: "#b03030" }));
    safecity.fit(map, markers);
  }

  // A numbered marker: a div icon holding its number as a text element, never as markup.
  function stop(map, point, number) {
    const icon = L.divIcon({ className: "stop-number", iconSize: [22, 22], html: safecity.el("span", number) });
    const marker = L.marker([point.lat, point.lon], { icon, keyboard: false }).addTo(map);
    marker.bindTooltip(safecity.el("span", number + ". " + point.label));
    return marker;
  }

  function journeyMap(container) {
    const map = safecity.createMap(container);
    if (!map) return;
    const points = JSON.parse(container.dataset.journeyMap || "[]");
    const line = points.length > 1 ? L.polyline(points.map((p) => [p.lat, p.lon]), { color: ROUTE, weight: 3 }).addTo(map) : null;
    const markers = points.map((p, i) => stop(map, p, i + 1));
    safecity.fit(map, markers.concat(line ? [line] : []));
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("[data-plate-map]").forEach(searchMap);
    document.querySelectorAll("[data-journey-map]").forEach(journeyMap);
  });
})();
