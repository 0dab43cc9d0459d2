// safecity page behaviour. No inline scripts (the CSP forbids them): pages declare data-* attributes.
"use strict";

function initMap(el) {
  if (typeof L === "undefined") return;
  const points = JSON.parse(el.dataset.map || "[]");
  const map = L.map(el, { attributionControl: false });
  const tiles = document.body.dataset.tiles;
  if (tiles) L.tileLayer(tiles, { maxZoom: 19 }).addTo(map);  // optional: police networks often have none
  const colours = { district: "#1f5fa8", station: "#b03030", site: "#2e7d32" };
  const markers = points.map((p) =>
    L.circleMarker([p.lat, p.lon], { radius: p.kind === "district" ? 8 : 5, color: colours[p.kind] || "#333" })
      .bindTooltip(p.name, { permanent: p.kind === "district", direction: "right" })
      .addTo(map));
  if (markers.length) map.fitBounds(L.featureGroup(markers).getBounds().pad(0.2));
  else map.setView([34.0151, 71.5249], 8);
  const form = document.getElementById("place-form");
  if (form) {
    map.on("click", (e) => {
      form.elements.latitude.value = e.latlng.lat.toFixed(6);
      form.elements.longitude.value = e.latlng.lng.toFixed(6);
    });
  }
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-map]").forEach(initMap);
});
