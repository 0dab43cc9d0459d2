// The city traffic map: locations as dots, road segments as lines coloured by congestion, refreshed.
"use strict";

const LEVEL_COLOURS = { free: "#2e7d32", moderate: "#f9a825", heavy: "#c62828", jam: "#6d0000", unknown: "#777" };
const LEVEL_ORDER = ["unknown", "free", "moderate", "heavy", "jam"];
const COUNTING = "#1f6fb5";  // a location that measures no segment

// Each camera's worst level over the segments it measures.
function worstByCamera(segments) {
  const worst = new Map();
  for (const seg of segments) {
    const level = seg.state ? seg.state.level : "unknown";
    const seen = worst.get(seg.camera_id);
    if (seen === undefined || LEVEL_ORDER.indexOf(level) > LEVEL_ORDER.indexOf(seen)) worst.set(seg.camera_id, level);
  }
  return worst;
}

function initTrafficMap(el) {
  const map = safecity.createMap(el);
  if (!map) return;
  const data = JSON.parse(el.dataset.trafficMap || "{}");
  const layers = [];
  const dots = new Map();
  const worst = worstByCamera(data.segments || []);
  for (const loc of data.locations || []) {
    const colour = worst.has(loc.id) ? LEVEL_COLOURS[worst.get(loc.id)] : COUNTING;
    const dot = safecity.dot(map, loc.lat, loc.lon, loc.name, { radius: 6, color: colour, fillOpacity: 0.9 });
    if (dot) {
      safecity.link(dot, loc.href);
      dots.set(loc.id, dot);
      layers.push(dot);
    }
  }
  const lines = new Map();
  for (const seg of data.segments || []) {
    const level = seg.state ? seg.state.level : "unknown";
    const line = L.polyline(seg.path, { color: LEVEL_COLOURS[level] || LEVEL_COLOURS.unknown, weight: 6, opacity: 0.85 });
    line.bindTooltip(safecity.el("span", `${seg.name}: ${level}`));
    line.addTo(map);
    lines.set(seg.id, line);
    layers.push(line);
  }
  safecity.fit(map, layers, { pad: 0.3 });
  const every = Number(el.dataset.refreshS || 30) * 1000;
  async function refresh() {
    try {
      const answer = await fetch("/api/v1/traffic/segments", { headers: { Accept: "application/json" } });
      if (!answer.ok) return;
      const segments = await answer.json();
      for (const [cameraId, level] of worstByCamera(segments)) {
        const dot = dots.get(cameraId);
        if (dot) dot.setStyle({ color: LEVEL_COLOURS[level] || LEVEL_COLOURS.unknown });
      }
      for (const seg of segments) {
        const level = seg.state ? seg.state.level : "unknown";
        const line = lines.get(seg.id);
        if (line) {
          line.setStyle({ color: LEVEL_COLOURS[level] || LEVEL_COLOURS.unknown });
          line.setTooltipContent(safecity.el("span", `${seg.name}: ${level}`));
        }
        const row = document.querySelector(`tr[data-segment="${seg.id}"]`);
        if (row) {
          row.querySelector("[data-level]").textContent = level;
          row.querySelector("[data-flow]").textContent = seg.state ? seg.state.flow_vph : "—";
          row.querySelector("[data-speed]").textContent = seg.state && seg.state.speed_kmh !== null ? seg.state.speed_kmh : "—";
          row.querySelector("[data-stopped]").textContent = seg.state ? seg.state.stopped_lanes.length : 0;
        }
      }
    } catch (err) {
      // the server may be restarting: the next refresh tries again
    }
  }
  setInterval(refresh, every);
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-traffic-map]").forEach(initTrafficMap);
});
