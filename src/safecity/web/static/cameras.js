// Camera maps: each camera as a dot with a wedge showing where it looks. Works with no map tiles.
"use strict";

const VIEW_RANGE_M = 80;  // how far a wedge reaches on the map; a drawing aid, not the camera's real range
const COLOURS = { approved: "#2e7d32", pending: "#f9a825", rejected: "#c62828" };

function wedge(lat, lon, bearing, fov) {
  const toRad = Math.PI / 180;
  const mPerDegLat = 111320;
  const mPerDegLon = 111320 * Math.cos(lat * toRad);
  const points = [[lat, lon]];
  const steps = Math.max(2, Math.ceil(fov / 10));
  for (let i = 0; i <= steps; i++) {
    const angle = (bearing - fov / 2 + (fov * i) / steps) * toRad;
    points.push([lat + (VIEW_RANGE_M * Math.cos(angle)) / mPerDegLat, lon + (VIEW_RANGE_M * Math.sin(angle)) / mPerDegLon]);
  }
  return points;
}

function initCameraMap(el) {
  if (typeof L === "undefined") return;
  const cameras = JSON.parse(el.dataset.cameraMap || "[]");
  const map = L.map(el, { attributionControl: false });
  const tiles = document.body.dataset.tiles;
  if (tiles) L.tileLayer(tiles, { maxZoom: 19 }).addTo(map);  // optional: police networks often have none
  const layers = [];
  for (const c of cameras) {
    const colour = c.enabled ? COLOURS[c.approval] || "#4ea1ff" : "#777";
    if (c.bearing !== null && c.fov !== null) {
      layers.push(L.polygon(wedge(c.lat, c.lon, c.bearing, Math.min(c.fov, 359)), { color: colour, weight: 1, fillOpacity: 0.25 }).addTo(map));
    }
    const dot = L.circleMarker([c.lat, c.lon], { radius: 5, color: colour, fillOpacity: 0.9 }).bindTooltip(c.name).addTo(map);
    dot.on("click", () => { window.location.href = c.href; });
    layers.push(dot);
  }
  if (layers.length) map.fitBounds(L.featureGroup(layers).getBounds().pad(0.3), { maxZoom: 18 });
  else map.setView([34.0151, 71.5249], 12);
  const form = document.getElementById("camera-form");
  if (form && !form.querySelector("fieldset[disabled]")) {
    let marker = null;
    map.on("click", (e) => {
      form.elements.latitude.value = e.latlng.lat.toFixed(6);
      form.elements.longitude.value = e.latlng.lng.toFixed(6);
      if (marker) marker.setLatLng(e.latlng);
      else marker = L.circleMarker(e.latlng, { radius: 6, color: "#4ea1ff" }).addTo(map);
    });
  }
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-camera-map]").forEach(initCameraMap);
});
