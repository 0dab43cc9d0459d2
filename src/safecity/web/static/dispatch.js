// The units map: one circle per unit with a known position, coloured by its status.
"use strict";

(function () {
  const COLOURS = {
    available: "#2e7d32", dispatched: "#d35400", en_route: "#a87a00",
    on_scene: "#c62828", returning: "#1f6fb5", off_duty: "#607d8b",
  };

  function initUnitsMap(el) {
    const map = safecity.createMap(el);
    if (!map) return;
    const units = JSON.parse(el.dataset.units || "[]");
    const markers = units.map((u) => {
      const colour = COLOURS[u.status] || "#000";
      return safecity.dot(map, u.lat, u.lon, u.call_sign + " · " + u.agency + " · " + u.status.replace("_", " "),
        { radius: 7, color: colour, fillColor: colour, fillOpacity: 0.8 });
    });
    safecity.fit(map, markers, { zoom: 11 });
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("[data-units]").forEach(initUnitsMap);
  });
})();
