// Records pages: where cameras saw a person or a vehicle, as dots on the map. Labels come from the server
// and are only ever put in as text (safecity.dot).
"use strict";

(function () {
  function sightingsMap(container) {
    const map = safecity.createMap(container);
    if (!map) return;
    const points = JSON.parse(container.dataset.recordsMap || "[]");
    const markers = points.map((p) => safecity.dot(map, p.lat, p.lon, p.label, { radius: 6, color: "#b03030" }));
    safecity.fit(map, markers);
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("[data-records-map]").forEach(sightingsMap);
  });
})();
