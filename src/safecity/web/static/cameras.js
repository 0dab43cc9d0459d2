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
  const map = safecity.createMap(el);
  if (!map) return;
  const cameras = JSON.parse(el.dataset.cameraMap || "[]");
  const layers = [];
  for (const c of cameras) {
    const colour = c.enabled ? COLOURS[c.approval] || "#4ea1ff" : "#777";
    if (c.bearing !== null && c.fov !== null) {
      layers.push(L.polygon(wedge(c.lat, c.lon, c.bearing, Math.min(c.fov, 359)), { color: colour, weight: 1, fillOpacity: 0.25 }).addTo(map));
    }
    const dot = safecity.dot(map, c.lat, c.lon, c.name, { radius: 5, color: colour, fillOpacity: 0.9 });
    safecity.link(dot, c.href);
    layers.push(dot);
  }
  safecity.fit(map, layers, { pad: 0.3 });
  const form = document.getElementById("camera-form");
  if (form && !form.querySelector("fieldset[disabled]")) {
    let marker = null;
    safecity.pickPlace(map, form, (at) => {
      if (marker) marker.setLatLng(at);
      else marker = safecity.dot(map, at.lat, at.lng, null, { radius: 6, color: "#4ea1ff" });
    });
  }
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-camera-map]").forEach(initCameraMap);
});
