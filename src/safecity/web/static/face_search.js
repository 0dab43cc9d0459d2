// Face search: the cameras where the faces found were seen, on a map. Labels come from the server and are
// only ever put in as text (safecity.dot).
"use strict";

(function () {
  function faceMap(container) {
    const map = safecity.createMap(container);
    if (!map) return;
    const points = JSON.parse(container.dataset.faceMap || "[]");
    const markers = points.map((p) => safecity.dot(map, p.lat, p.lon, p.label, { radius: 6, color: "#7a3fb0" }));
    safecity.fit(map, markers);
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("[data-face-map]").forEach(faceMap);
  });
})();
