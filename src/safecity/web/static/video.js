// Video in the browser: shared helpers (HLS playback of recordings, times in the display zone, full
// screen), and the video wall: tiles of live MJPEG streams, instant replay, tours, named layouts.
// No inline scripts (the CSP forbids them): pages declare data-* attributes read here.
"use strict";

const safecityVideo = (function () {
  const REPLAY_S = 30;
  const t = (english) => safecity.text(english);

  // "YYYY-MM-DDTHH:MM:SS" of a moment in the display time zone: what a datetime-local input holds.
  function formatter(zone) {
    const parts = new Intl.DateTimeFormat("en-GB", {
      timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23",
    });
    return (ms) => {
      const p = Object.fromEntries(parts.formatToParts(new Date(ms)).map((x) => [x.type, x.value]));
      return `${p.year}-${p.month}-${p.day}T${p.hour}:${p.minute}:${p.second}`;
    };
  }

  function playlistUrl(cameraId, sinceMs, untilMs) {
    return `/api/v1/cameras/${cameraId}/playback.m3u8?since=${encodeURIComponent(new Date(sinceMs).toISOString())}` +
      `&until=${encodeURIComponent(new Date(untilMs).toISOString())}`;
  }

  // Play recorded video of [sinceMs, untilMs) in `video`. Returns a player whose wallMs() is the wall-clock
  // time of the frame shown (from the playlist's program date-times), and destroy() to stop it.
  function playRecorded(video, cameraId, sinceMs, untilMs, onError) {
    return playPlaylist(video, playlistUrl(cameraId, sinceMs, untilMs), onError);
  }

  // Play the HLS playlist at `url` (a camera's recordings, or a route's across cameras) in `video`.
  function playPlaylist(video, url, onError) {
    let hls = null;
    let fragment = null;
    const player = {
      wallMs() {
        if (!fragment || fragment.programDateTime == null) return null;
        return fragment.programDateTime + (video.currentTime - fragment.start) * 1000;
      },
      destroy() {
        if (hls) hls.destroy();
        hls = null;
        video.removeAttribute("src");
        video.load();
      },
    };
    if (window.Hls && window.Hls.isSupported()) {
      // No worker: the CSP allows scripts from this origin only, not blob: workers.
      hls = new window.Hls({ enableWorker: false });
      hls.on(window.Hls.Events.FRAG_CHANGED, (_e, data) => { fragment = data.frag; });
      hls.on(window.Hls.Events.ERROR, (_e, data) => {
        if (!data.fatal) return;
        const code = data.response && data.response.code;
        onError(code === 404 ? t("Nothing was recorded in that time.") : `${t("Playback failed")} (${data.details}).`);
        hls.destroy();
        hls = null;
      });
      hls.on(window.Hls.Events.MANIFEST_PARSED, () => { video.play().catch(() => {}); });
      hls.loadSource(url);
      hls.attachMedia(video);
    } else if (video.canPlayType("application/vnd.apple.mpegurl")) {
      video.src = url; // Safari plays HLS natively
      video.play().catch(() => {});
    } else {
      onError(t("This browser cannot play HLS video."));
    }
    return player;
  }

  // Full screen for `element`, or back out of it when it already is.
  function toggleFullscreen(element) {
    if (document.fullscreenElement === element) return document.exitFullscreen();
    return element.requestFullscreen().catch(() => {});
  }

  function showFlash(message) {
    const flash = document.getElementById("flash");
    if (!flash) return;
    const box = document.createElement("div");
    box.className = "flash error";
    box.setAttribute("role", "alert");
    box.textContent = message;
    flash.replaceChildren(box);
  }

  async function sendJson(method, url, body) {
    let response;
    try {
      response = await fetch(url, {
        method,
        headers: { "Content-Type": "application/json", "X-CSRF-Token": safecity.csrfToken() },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (_err) {
      showFlash(t("The server could not be reached; try again."));
      return null;
    }
    if (!response.ok) {
      const answer = await response.json().catch(() => ({}));
      showFlash((answer.error && answer.error.message) || t("That did not work; try again."));
      return null;
    }
    return response.status === 204 ? {} : response.json();
  }

  return { REPLAY_S, formatter, playRecorded, playPlaylist, toggleFullscreen, showFlash, sendJson };
})();

(function () {
  const STATUS_POLL_MS = 2000;
  const t = (english) => safecity.text(english);

  function initWall(wall) {
    const page = wall.closest("[data-wall-page]") || wall;
    const cameras = JSON.parse(wall.dataset.cameras || "[]");
    const names = new Map(cameras.map((c) => [c.id, c.name]));
    const widths = JSON.parse(wall.dataset.widths || "{}");
    let presets = JSON.parse(wall.dataset.presets || "[]");
    const canReplay = wall.dataset.canReplay === "yes";
    const local = safecityVideo.formatter(wall.dataset.timezone || "Asia/Karachi");
    const tiles = Array.from(wall.querySelectorAll("[data-tile]"));
    const buttons = Array.from(document.querySelectorAll("[data-layout-choice]"));
    let layout = Number(wall.dataset.layout);
    const state = tiles.map((tile) => ({
      tour: JSON.parse(tile.dataset.tour || "null"), // {camera_ids, seconds} or null
      tourIndex: 0,
      tourTimer: null,
      replay: null, // the recorded player while the tile replays
    }));

    const streamUrl = (id) => `/api/v1/cameras/${id}/live.mjpeg?width=${widths[layout] || 640}`;

    // --- fitting the viewport: the grid takes the height left below it, so every tile is on screen.
    function fit() {
      const rows = Math.ceil(Math.sqrt(layout));
      wall.style.gridTemplateRows = `repeat(${rows}, minmax(0, 1fr))`;
      const top = wall.getBoundingClientRect().top;
      const room = window.innerHeight - Math.max(0, top) - (document.fullscreenElement ? 4 : 12);
      wall.style.height = `${Math.max(rows * 90, room)}px`;
    }
    window.addEventListener("resize", fit);
    document.addEventListener("fullscreenchange", () => {
      const full = document.fullscreenElement === page;
      page.classList.toggle("fullscreen", full);
      document.querySelector("[data-wall-fullscreen]").setAttribute("aria-pressed", String(full));
      requestAnimationFrame(fit);
    });

    function showCamera(i) {
      const tile = tiles[i];
      const id = tile.dataset.camera;
      const link = tile.querySelector("[data-camera-link]");
      link.textContent = id ? names.get(id) || "" : "";
      if (id) link.setAttribute("href", `/cameras/${id}`);
      else link.removeAttribute("href");
      tile.querySelector("img").alt = id ? `${names.get(id) || ""} live` : "";
      const select = tile.querySelector("[data-tile-select]");
      select.value = id || "";
    }

    function setStream(tile, on) {
      const img = tile.querySelector("img");
      const id = tile.dataset.camera;
      const url = id ? streamUrl(id) : "";
      const replaying = state[Number(tile.dataset.tile)].replay !== null;
      if (on && url && !replaying) {
        if (img.getAttribute("src") !== url) img.setAttribute("src", url);
      } else if (img.hasAttribute("src")) {
        img.removeAttribute("src");  // closes the stream: a hidden tile costs nothing
      }
      tile.querySelector("[data-empty]").textContent = id ? t("No live picture") : t("Empty");
    }

    // --- tours: a tile shows each of its cameras in turn.
    function tourLabel(i) {
      const s = state[i];
      tiles[i].querySelector("[data-tour-state]").textContent = s.tour ?
        `${t("Tour")} ${s.tourIndex + 1}/${s.tour.camera_ids.length} · ${s.tour.seconds} s` : "";
      tiles[i].classList.toggle("touring", Boolean(s.tour));
    }

    function runTour(i) {
      const s = state[i];
      clearInterval(s.tourTimer);
      s.tourTimer = null;
      if (s.tour && i < layout) {
        const at = s.tour.camera_ids.indexOf(tiles[i].dataset.camera);
        s.tourIndex = at >= 0 ? at : 0;
        tiles[i].dataset.camera = s.tour.camera_ids[s.tourIndex];
        s.tourTimer = setInterval(() => {
          if (s.replay) return; // a replay holds the tour where it is
          s.tourIndex = (s.tourIndex + 1) % s.tour.camera_ids.length;
          tiles[i].dataset.camera = s.tour.camera_ids[s.tourIndex];
          showCamera(i);
          setStream(tiles[i], true);
          tourLabel(i);
          refreshStatus();
        }, s.tour.seconds * 1000);
      }
      showCamera(i);
      tourLabel(i);
    }

    function render() {
      wall.dataset.layout = String(layout);
      buttons.forEach((b) => b.setAttribute("aria-pressed", String(Number(b.dataset.layoutChoice) === layout)));
      tiles.forEach((tile, i) => {
        tile.hidden = i >= layout;
        if (i >= layout) stopReplay(i);
        runTour(i);
        setStream(tile, i < layout);
      });
      fit();
    }

    function current() {
      return {
        layout,
        camera_ids: tiles.slice(0, layout).map((t) => t.dataset.camera || null),
        tours: state.slice(0, layout).map((s) => s.tour),
      };
    }

    // Saves run one after another, so quick changes cannot overtake each other and the last one wins.
    let saving = Promise.resolve();
    function save() {
      const wanted = current();
      const run = () => safecityVideo.sendJson("PUT", "/api/v1/wall", wanted);
      saving = saving.then(run, run); // a save that failed (offline) does not stop the next one
      return saving;
    }

    // --- instant replay: the tile plays its camera's last 30 seconds, then goes live again.
    function stopReplay(i) {
      const s = state[i];
      if (!s.replay) return;
      s.replay.destroy();
      s.replay = null;
      const tile = tiles[i];
      tile.querySelector("[data-replay]").hidden = true;
      tile.classList.remove("replaying");
      tile.querySelector("[data-mode]").textContent = t("LIVE");
      const button = tile.querySelector("[data-tile-replay]");
      if (button) button.textContent = "⟲ 30 s";
      setStream(tile, i < layout);
    }

    function startReplay(i) {
      const tile = tiles[i];
      const id = tile.dataset.camera;
      if (!id) return;
      const video = tile.querySelector("[data-replay]");
      const now = Date.now();
      state[i].replay = { destroy() {} }; // marks the tile as replaying before the stream closes
      setStream(tile, false);
      tile.classList.add("replaying");
      video.hidden = false;
      tile.querySelector("[data-mode]").textContent = t("REPLAY");
      tile.querySelector("[data-tile-replay]").textContent = "Live";
      state[i].replay = safecityVideo.playRecorded(video, id, now - safecityVideo.REPLAY_S * 1000, now, (message) => {
        tile.querySelector("[data-mode]").textContent = message;
      });
    }

    tiles.forEach((tile, i) => {
      const select = tile.querySelector("[data-tile-select]");
      const chosen = tile.dataset.camera;
      select.replaceChildren(new Option(`— ${t("empty")} —`, ""));
      cameras.forEach((c) => select.add(new Option(c.name, c.id, false, c.id === chosen)));
      select.addEventListener("change", () => {
        stopReplay(i);
        tile.dataset.camera = select.value;
        if (state[i].tour && !state[i].tour.camera_ids.includes(select.value)) {
          state[i].tour = null; // choosing a camera outside the tour ends it
          runTour(i);
        }
        showCamera(i);
        setStream(tile, true);
        refreshStatus();
        save();
      });
      // A camera without a picture answers 503: show the tile as such, and retry once it is online again.
      tile.querySelector("img").addEventListener("error", (e) => {
        e.target.removeAttribute("src");
        tile.dataset.broken = "1";
      });
      const replay = tile.querySelector("[data-tile-replay]");
      if (replay) {
        replay.addEventListener("click", () => (state[i].replay ? stopReplay(i) : startReplay(i)));
        tile.querySelector("[data-replay]").addEventListener("ended", () => stopReplay(i));
      }
      tile.querySelector("[data-tile-fullscreen]").addEventListener("click", () => safecityVideo.toggleFullscreen(tile));
      tile.querySelector("[data-picture]").addEventListener("dblclick", () => safecityVideo.toggleFullscreen(tile));
      tile.querySelector("[data-tile-tour]").addEventListener("click", () => openTour(i));
    });

    buttons.forEach((b) => b.addEventListener("click", () => {
      layout = Number(b.dataset.layoutChoice);
      render();
      refreshStatus();
      save();
    }));

    document.querySelector("[data-wall-fullscreen]").addEventListener("click", () => safecityVideo.toggleFullscreen(page));

    // --- the tour dialog
    const dialog = document.querySelector("[data-tour-dialog]");
    let dialogTile = 0;
    function openTour(i) {
      dialogTile = i;
      const s = state[i];
      const chosen = new Set(s.tour ? s.tour.camera_ids : [tiles[i].dataset.camera].filter(Boolean));
      dialog.querySelector("[data-tour-tile]").textContent = String(i + 1);
      const box = dialog.querySelector("[data-tour-cameras]");
      box.replaceChildren(box.querySelector("legend"));
      cameras.forEach((c) => {
        const label = document.createElement("label");
        label.className = "check";
        const input = document.createElement("input");
        input.type = "checkbox";
        input.value = c.id;
        input.checked = chosen.has(c.id);
        label.append(input, ` ${c.name}`);
        box.append(label);
      });
      dialog.querySelector("[data-tour-seconds]").value = String(s.tour ? s.tour.seconds : 10);
      dialog.showModal();
    }
    dialog.addEventListener("close", () => {
      const i = dialogTile;
      if (dialog.returnValue === "start") {
        const ids = Array.from(dialog.querySelectorAll("[data-tour-cameras] input:checked")).map((x) => x.value);
        const seconds = Math.min(3600, Math.max(5, Number(dialog.querySelector("[data-tour-seconds]").value) || 10));
        if (ids.length < 2) {
          safecityVideo.showFlash(t("A tour needs at least two cameras."));
          return;
        }
        state[i].tour = { camera_ids: ids, seconds };
      } else if (dialog.returnValue === "stop") {
        state[i].tour = null;
      } else {
        return;
      }
      stopReplay(i);
      runTour(i);
      setStream(tiles[i], i < layout);
      refreshStatus();
      save();
    });

    // --- named layouts
    const presetSelect = document.querySelector("[data-preset-select]");
    const presetName = document.querySelector("[data-preset-name]");
    function listPresets() {
      const chosen = presetSelect.value;
      presetSelect.replaceChildren(new Option(t("Saved layouts…"), ""));
      presets.forEach((p) => presetSelect.add(new Option(p.name, p.id, false, p.id === chosen)));
    }
    document.querySelector("[data-preset-save]").addEventListener("click", async () => {
      const name = presetName.value.trim();
      if (!name) {
        presetName.focus();
        safecityVideo.showFlash(t("Give the layout a name first."));
        return;
      }
      const saved = await safecityVideo.sendJson("POST", "/api/v1/wall/layouts", { name, ...current() });
      if (!saved) return;
      presets = presets.filter((p) => p.id !== saved.id && p.name !== saved.name).concat([saved])
        .sort((a, b) => a.name.localeCompare(b.name));
      listPresets();
      presetSelect.value = saved.id;
      presetName.value = "";
    });
    document.querySelector("[data-preset-load]").addEventListener("click", () => {
      const preset = presets.find((p) => p.id === presetSelect.value);
      if (!preset) return;
      tiles.forEach((tile, i) => {
        stopReplay(i);
        tile.dataset.camera = (i < preset.layout && preset.camera_ids[i]) || "";
        state[i].tour = (i < preset.layout && preset.tours[i]) || null;
      });
      layout = preset.layout;
      render();
      refreshStatus();
      save();
    });
    document.querySelector("[data-preset-delete]").addEventListener("click", async () => {
      const preset = presets.find((p) => p.id === presetSelect.value);
      if (!preset) return;
      if (!(await safecityVideo.sendJson("DELETE", `/api/v1/wall/layouts/${preset.id}`))) return;
      presets = presets.filter((p) => p.id !== preset.id);
      presetSelect.value = "";
      listPresets();
    });

    // --- status and clocks
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
        const stateName = status ? status.state : "unknown";
        badge.className = `badge ${stateName}`;
        badge.textContent = stateName === "online" ? `${t("online")} · ${status.fps.toFixed(1)} fps` : t(stateName);
        badge.title = status && status.last_error ? status.last_error : "";
        tile.dataset.frameAt = status && status.last_frame_at ? status.last_frame_at : "";
        if (stateName === "online" && tile.dataset.broken) {
          delete tile.dataset.broken;
          setStream(tile, true);
        }
      });
    }

    // Each tile shows the time of what it shows: the clock while live, the recording's time in a replay.
    function tick() {
      tiles.slice(0, layout).forEach((tile, i) => {
        const clock = tile.querySelector("[data-clock]");
        const replay = state[i].replay;
        const ms = replay && replay.wallMs ? replay.wallMs() : (tile.dataset.camera ? Date.now() : null);
        clock.textContent = ms === null ? "" : local(ms).replace("T", " ");
        if (ms !== null) clock.setAttribute("datetime", new Date(ms).toISOString());
      });
    }

    tiles.forEach((tile) => {
      if (!tile.dataset.camera) tile.querySelector("[data-status]").textContent = "—";
    });
    listPresets();
    render();
    refreshStatus();
    tick();
    setInterval(refreshStatus, STATUS_POLL_MS);
    setInterval(tick, 500);
    if (!canReplay) wall.classList.add("no-replay");
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("[data-wall]").forEach(initWall);
  });
})();
