// The call-taker's form: click the map to set the incident's location (no inline scripts: the CSP forbids them).
"use strict";

function initIncidentMap(el) {
  const map = safecity.createMap(el);
  if (!map) return;
  const form = document.getElementById("incident-form");
  map.setView([parseFloat(el.dataset.lat), parseFloat(el.dataset.lon)], 12);
  let marker = null;
  const place = (lat, lon) => {
    if (marker) marker.setLatLng([lat, lon]);
    else marker = L.marker([lat, lon]).addTo(map);
  };
  safecity.pickPlace(map, form, (at) => place(at.lat, at.lng));
  // Coordinates typed by hand (read out by a caller) move the marker too.
  const typed = () => {
    const lat = parseFloat(form.elements.latitude.value);
    const lon = parseFloat(form.elements.longitude.value);
    if (Number.isFinite(lat) && Number.isFinite(lon)) {
      place(lat, lon);
      map.panTo([lat, lon]);
    }
  };
  form.elements.latitude.addEventListener("change", typed);
  form.elements.longitude.addEventListener("change", typed);
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-incident-map]").forEach(initIncidentMap);
});
