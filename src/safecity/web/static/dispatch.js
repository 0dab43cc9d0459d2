// The units map: one circle per unit with a known position, coloured by its status.
"use strict";

(function () {
  const COLOURS = {
    available: "#2e7d32", dispatched: "#d35400", en_route: "#a87a00",
    on_scene: "#c62828", returning: "#1f6fb5", off_duty: "#607d8b",
    busy: "#6a1b9a", out_of_service: "#37474f",
  };
  const WORKING = ["dispatched", "en_route", "on_scene", "returning"];
  const LEAVING = ["off_duty", "out_of_service"];

  // A change that takes a unit off its incident, or off the road, is confirmed first. Runs in the capture
  // phase, before htmx sends the form.
  function confirmStatus(event) {
    const form = event.target;
    if (!form.matches || !form.matches("form.unit-status")) return;
    const chosen = form.elements.status.value;
    const label = chosen.replace(/_/g, " ");
    let question = null;
    if (form.dataset.incident && !WORKING.includes(chosen)) {
      question = `${form.dataset.callSign} is working incident ${form.dataset.incident}. Set it ${label}? ` +
        "It is taken off the incident.";
    } else if (LEAVING.includes(chosen)) {
      question = `Set ${form.dataset.callSign} ${label}? It cannot be sent to incidents until it is available again.`;
    }
    if (question && !window.confirm(question)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }
  document.addEventListener("submit", confirmStatus, true);

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
