// The video wall: tiles of live MJPEG streams, the layout and cameras saved per user, status refreshed live.
"use strict";

const STATUS_POLL_MS = 2000;

function showFlash(message) {
  const flash = document.getElementById("flash");
  if (!flash) return;
  const box = document.createElement("div");
  box.className = "flash error";
  box.setAttribute("role", "alert");
  box.textContent = message;
  flash.replaceChildren(box);
}

function initWall(wall) {
  const cameras = JSON.parse(wall.dataset.cameras || "[]");
  const widths = JSON.parse(wall.dataset.widths || "{}");
  const tiles = Array.from(wall.querySelectorAll("[data-tile]"));
  const buttons = Array.from(document.querySelectorAll("[data-layout-choice]"));
  let layout = Number(wall.dataset.layout);

  const streamUrl = (id) => `/api/v1/cameras/${id}/live.mjpeg?width=${widths[layout] || 640}`;

  function setStream(tile, on) {
    const img = tile.querySelector("img");
    const id = tile.dataset.camera;
    const url = id ? streamUrl(id) : "";
    if (on && url) {
      if (img.getAttribute("src") !== url) img.setAttribute("src", url);
    } else if (img.hasAttribute("src")) {
      img.removeAttribute("src");  // closes the stream: a hidden tile costs nothing
    }
    tile.querySelector("[data-empty]").textContent = id ? "No live picture" : "Empty";
  }

  function render() {
    wall.dataset.layout = String(layout);
    buttons.forEach((b) => b.setAttribute("aria-pressed", String(Number(b.dataset.layoutChoice) === layout)));
    tiles.forEach((tile, i) => {
      tile.hidden = i >= layout;
      setStream(tile, i < layout);
    });
  }

  // Saves run one after another, so quick changes cannot overtake each other and the last one wins.
  let saving = Promise.resolve();
  function save() {
    saving = saving.then(saveNow, saveNow);
    return saving;
  }

  async function saveNow() {
    const ids = tiles.slice(0, layout).map((t) => t.dataset.camera || null);
    const response = await fetch("/api/v1/wall", {
      method: "PUT",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": safecity.csrfToken() },
      body: JSON.stringify({ layout, camera_ids: ids }),
    });
    if (!response.ok) {
      const body = await response.json().catch(() => ({}));
      showFlash((body.error && body.error.message) || "The wall could not be saved.");
    }
  }

  tiles.forEach((tile) => {
    const select = tile.querySelector("[data-tile-select]");
    const chosen = tile.dataset.camera;
    select.replaceChildren(new Option("— empty —", ""));
    cameras.forEach((c) => select.add(new Option(c.name, c.id, false, c.id === chosen)));
    select.addEventListener("change", () => {
      tile.dataset.camera = select.value;
      tile.querySelector("img").alt = select.value ? `${select.selectedOptions[0].text} live` : "";
      setStream(tile, true);
      refreshStatus();
      save();
    });
    // A camera without a picture answers 503: show the tile as such, and retry once it is online again.
    tile.querySelector("img").addEventListener("error", (e) => {
      e.target.removeAttribute("src");
      tile.dataset.broken = "1";
    });
  });

  buttons.forEach((b) => b.addEventListener("click", () => {
    layout = Number(b.dataset.layoutChoice);
    render();
    refreshStatus();
    save();
  }));

  async function refreshStatus() {
    const shown = tiles.slice(0, layout).filter((t) => t.dataset.camera);
    if (!shown.length) return;
    const query = new URLSearchParams();
    new Set(shown.map((t) => t.dataset.camera)).forEach((id) => query.append("camera_id", id));
    let statuses;
    try {
      const response = await fetch(`/api/v1/cameras/status?${query}`, { headers: { Accept: "application/json" } });
      if (!response.ok) return;
      statuses = await response.json();
    } catch (_err) {
      return;  // the next poll tries again
    }
    const byId = new Map(statuses.map((s) => [s.camera_id, s]));
    shown.forEach((tile) => {
      const status = byId.get(tile.dataset.camera);
      const badge = tile.querySelector("[data-status]");
      const state = status ? status.state : "unknown";
      badge.className = `badge ${state}`;
      badge.textContent = state === "online" ? `online · ${status.fps.toFixed(1)} fps` : state;
      badge.title = status && status.last_error ? status.last_error : "";
      if (state === "online" && tile.dataset.broken) {
        delete tile.dataset.broken;
        setStream(tile, true);
      }
    });
  }

  tiles.forEach((tile) => {
    if (!tile.dataset.camera) tile.querySelector("[data-status]").textContent = "—";
  });
  render();
  refreshStatus();
  setInterval(refreshStatus, STATUS_POLL_MS);
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-wall]").forEach(initWall);
});
