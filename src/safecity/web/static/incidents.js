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
  safecity.pickPlace(map, form, (at) => {
    place(at.lat, at.lng);
    form.dispatchEvent(new Event("change"));  // both coordinates are set now: the pair check clears
  });
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

// The call-taker's form: a location is both coordinates or neither (checked before sending).
function initLocationPair(form) {
  const lat = form.elements.latitude;
  const lon = form.elements.longitude;
  if (!lat || !lon) return;
  const check = () => {
    const half = (lat.value === "") !== (lon.value === "");
    const message = half ? "Give both latitude and longitude, or neither (click the map to set both)." : "";
    (lat.value === "" ? lat : lon).setCustomValidity(message);
    (lat.value === "" ? lon : lat).setCustomValidity("");
  };
  lat.addEventListener("input", check);
  lon.addEventListener("input", check);
  form.addEventListener("change", check);
  check();
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-incident-map]").forEach(initIncidentMap);
  const callForm = document.getElementById("incident-form");
  if (callForm) initLocationPair(callForm);
});

// An incident's page follows the live incident feed: when this incident changes (a unit sent, a unit's
// status, an SOP step, the status, a note), its parts are fetched again and swapped in, so the page is true
// without a reload. A part holding the focus (someone typing) is left alone until the next change.
function followIncident(el) {
  const id = el.dataset.incident;
  const state = document.querySelector("[data-testid=live-state]");
  let fetching = null;
  let again = false;
  async function refresh() {
    if (fetching) { again = true; return; }
    fetching = fetch(window.location.pathname + "?part=live", { headers: { Accept: "text/html" } })
      .then((r) => (r.ok ? r.text() : null))
      .then((html) => {
        if (!html) return;
        const fresh = new DOMParser().parseFromString(html, "text/html");
        document.querySelectorAll("[data-live]").forEach((part) => {
          const next = fresh.querySelector(`[data-live="${part.dataset.live}"]`);
          if (!next || part.contains(document.activeElement)) return;
          part.innerHTML = next.innerHTML;
          if (window.htmx) htmx.process(part);
          initCloseForm(part);
        });
        document.body.dispatchEvent(new CustomEvent("incident-changed"));  // the units panel reloads
      })
      .catch(() => null)
      .finally(() => {
        fetching = null;
        if (again) { again = false; refresh(); }
      });
  }
  safecity.liveFeed(el.dataset.stream, {
    after: el.dataset.after,
    state,
    handlers: { incident: (change) => { if (change.incident_id === id) refresh(); } },
    resync: refresh,
  });
}

// The status form: resolving or closing while SOP steps are open needs the reason for leaving them.
function initCloseForm(root) {
  const form = root.querySelector("#status-form");
  if (!form) return;
  const closing = (form.dataset.closing || "").split(" ");
  const why = form.querySelector("[data-needed-when-closing]");
  const select = form.elements.status;
  if (!why || !select) return;
  const update = () => {
    const needed = closing.includes(select.value);
    why.required = needed;
    why.closest(".open-steps").classList.toggle("active", needed);
  };
  select.addEventListener("change", update);
  update();
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-incident]").forEach(followIncident);
  initCloseForm(document);
});
