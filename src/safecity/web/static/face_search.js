// Face search: the area to search drawn on a map of the cameras (safecity.areaMap), and the cameras where
// the faces found were seen on a map. Labels come from the server and are only ever put in as text
// (safecity.dot).
"use strict";

(function () {
  function faceMap(container) {
    if (container.dataset.drawn) return;
    container.dataset.drawn = "yes";
    const map = safecity.createMap(container);
    if (!map) return;
    const points = JSON.parse(container.dataset.faceMap || "[]");
    const markers = points.map((p) => safecity.dot(map, p.lat, p.lon, p.label, { radius: 6, color: "#7a3fb0" }));
    safecity.fit(map, markers);
  }

  function drawAll() {
    document.querySelectorAll("[data-area-map]").forEach(safecity.areaMap);
    document.querySelectorAll("[data-face-map]").forEach(faceMap);
  }
  document.addEventListener("DOMContentLoaded", drawAll);
  document.addEventListener("htmx:afterSettle", drawAll); // the results arrive by htmx
})();
