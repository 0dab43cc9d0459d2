// The units map: one circle per unit with a known position, coloured by its status.
// Text is only ever inserted with textContent, so a call sign can never become markup.
"use strict";

(function () {
  const COLOURS = {
    available: "#2e7d32", dispatched: "#d35400", en_route: "#a87a00",
    on_scene: "#c62828", returning: "#1f6fb5", off_duty: "#607d8b",
  };

  function initUnitsMap(el) {
    if (typeof L === "undefined") return;
    const units = JSON.parse(el.dataset.units || "[]");
    const map = L.map(el, { attributionControl: false });
    const tiles = document.body.dataset.tiles;
    if (tiles) L.tileLayer(tiles, { maxZoom: 19 }).addTo(map);
    const markers = units.map((u) => {
      const label = document.createElement("span");
      label.textContent = u.call_sign + " · " + u.agency + " · " + u.status.replace("_", " ");
      const colour = COLOURS[u.status] || "#000";
      return L.circleMarker([u.lat, u.lon], { radius: 7, color: colour, fillColor: colour, fillOpacity: 0.8 })
        .bindTooltip(label).addTo(map);
    });
    if (markers.length) map.fitBounds(L.featureGroup(markers).getBounds().pad(0.2));
    else map.setView([34.0151, 71.5249], 11);
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("[data-units]").forEach(initUnitsMap);
  });
})();
