// Owners' pages: set a place by clicking the map or dragging its marker (the coordinate fields fill in, and
// typing in them moves the marker). Every map is built by safecity.createMap; the click is safecity.pickPlace.
"use strict";

function initPicker(container) {
  const map = safecity.createMap(container);
  if (!map) return;
  const form = container.closest("form");
  const others = JSON.parse(container.dataset.points || "[]");
  const layers = others.map((p) => safecity.dot(map, p.lat, p.lon, p.name, { radius: 5, color: "#93a4b5" }));
  const lat = parseFloat(form.elements.latitude.value);
  const lon = parseFloat(form.elements.longitude.value);
  let marker = null;
  const place = (at) => {
    if (marker) marker.setLatLng(at);
    else {
      marker = L.marker(at, { draggable: true, keyboard: true, title: "Drag to move the place" }).addTo(map);
      marker.on("dragend", () => {
        const to = marker.getLatLng();
        form.elements.latitude.value = to.lat.toFixed(6);
        form.elements.longitude.value = to.lng.toFixed(6);
        container.dataset.placed = "1";
      });
    }
    container.dataset.placed = "1";
  };
  if (!Number.isNaN(lat) && !Number.isNaN(lon)) {
    place([lat, lon]);
    map.setView([lat, lon], 16);
  } else {
    safecity.fit(map, layers, { zoom: 12 });
  }
  safecity.pickPlace(map, form, place);
  for (const name of ["latitude", "longitude"]) {
    form.elements[name].addEventListener("change", () => {
      const a = parseFloat(form.elements.latitude.value);
      const b = parseFloat(form.elements.longitude.value);
      if (!Number.isNaN(a) && !Number.isNaN(b)) {
        place([a, b]);
        map.panTo([a, b]);
      }
    });
  }
  // A map first drawn inside a closed <details> has no size: redraw it when opened.
  const details = container.closest("details");
  if (details) details.addEventListener("toggle", () => map.invalidateSize());
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-place-picker]").forEach(initPicker);
});

// The watch page of an on-request camera: when the grant's window closes, stop the picture and reload
// (the server then refuses, and the page offers a new request).
document.addEventListener("DOMContentLoaded", () => {
  const grant = document.querySelector("[data-grant-ends]");
  if (!grant) return;
  const left = Date.parse(grant.dataset.grantEnds) - Date.now();
  window.setTimeout(() => {
    document.querySelectorAll("[data-testid=live]").forEach((img) => img.remove());
    window.location.reload();
  }, Math.max(0, Math.min(left, 2147483647)));
});

// A live picture that is not there yet (the camera is connecting) is asked for again every 3 s.
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("img[data-retry]").forEach((img) => {
    const source = img.src;
    img.addEventListener("error", () => {
      window.setTimeout(() => {
        const url = new URL(source, window.location.href);
        url.searchParams.set("retry", String(Date.now()));
        img.src = url.toString();
      }, 3000);
    });
  });
});
