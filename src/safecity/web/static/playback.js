// The camera page: live view (MJPEG), instant replay and playback of recordings (HLS, via video.js), and a
// zoomable timeline (24 h / hour / 10 min / minute) showing recorded spans, gaps and event markers.
// No inline scripts (the CSP forbids them): the page declares data-* attributes read here.
"use strict";

(function () {
  const STATUS_POLL_MS = 3000;
  const t = (english) => safecity.text(english);
  const PLAY_AHEAD_MS = 12 * 3600 * 1000; // one playlist covers this much from the chosen moment

  function init() {
    const view = document.querySelector("[data-camera-view]");
    if (!view) return;
    const cameraId = view.dataset.cameraId;
    const zone = view.dataset.timezone || "Asia/Karachi";
    const local = safecityVideo.formatter(zone);
    const zooms = JSON.parse(view.dataset.zooms || "{}");
    const canLive = view.dataset.canLive === "yes";
    const canPlayback = view.dataset.canPlayback === "yes";
    const screen = view.querySelector("[data-screen]");
    const img = view.querySelector("[data-live]");
    const video = document.getElementById("player");
    const clock = document.getElementById("clock");
    const modeLabel = view.querySelector("[data-mode]");
    const status = document.getElementById("player-status");
    const empty = view.querySelector("[data-screen-empty]");
    const liveButton = view.querySelector("[data-show-live]");
    const replayButton = view.querySelector("[data-instant-replay]");
    let mode = "none"; // live | replay | playback | none
    let player = null;

    // "2026-11-22T10:00:05" typed in the display zone, as a UTC time in ms (the zone keeps no DST).
    function fromLocal(value) {
      const guess = Date.parse(`${value.length === 16 ? `${value}:00` : value}Z`);
      if (Number.isNaN(guess)) return NaN;
      const offset = Date.parse(`${local(guess)}Z`) - guess;
      return guess - offset;
    }

    function setMode(next, label) {
      mode = next;
      modeLabel.textContent = label;
      screen.dataset.mode = next;
      if (liveButton) liveButton.setAttribute("aria-pressed", String(next === "live"));
      if (replayButton) replayButton.setAttribute("aria-pressed", String(next === "replay"));
      empty.hidden = next !== "none";
    }

    function stopPlayer() {
      if (player) player.destroy();
      player = null;
      if (video) video.hidden = true;
      if (video) delete video.dataset.wallTime;
    }

    function showLive() {
      if (!canLive) return;
      stopPlayer();
      status.textContent = "";
      img.hidden = false;
      img.src = `/api/v1/cameras/${cameraId}/live.mjpeg?width=1280`;
      setMode("live", t("LIVE"));
    }

    function stopLive() {
      if (img && img.hasAttribute("src")) img.removeAttribute("src"); // closes the stream
      if (img) img.hidden = true;
    }

    function play(sinceMs, untilMs, nextMode) {
      if (!canPlayback) return;
      const now = Date.now();
      if (sinceMs >= now) {
        status.textContent = t("That moment has not happened yet.");
        return;
      }
      stopLive();
      stopPlayer();
      status.textContent = "";
      video.hidden = false;
      setMode(nextMode, nextMode === "replay" ? t("REPLAY · last 30 s") : t("PLAYBACK"));
      player = safecityVideo.playRecorded(video, cameraId, sinceMs, Math.max(sinceMs + 1000, untilMs), (message) => {
        status.textContent = message;
      });
    }

    function playFrom(ms) {
      play(ms, Math.min(ms + PLAY_AHEAD_MS, Date.now()), "playback");
      if (timeline) timeline.follow(ms);
    }

    if (img) {
      img.addEventListener("error", () => {
        if (mode !== "live") return;
        img.removeAttribute("src");
        status.textContent = t("No live picture right now: the camera is offline or not running.");
      });
    }
    if (liveButton) liveButton.addEventListener("click", showLive);
    if (replayButton) {
      replayButton.addEventListener("click", () => {
        const now = Date.now();
        play(now - safecityVideo.REPLAY_S * 1000, now, "replay");
        if (timeline) timeline.follow(now - safecityVideo.REPLAY_S * 1000);
      });
    }
    if (video) {
      video.addEventListener("ended", () => {
        if (mode === "replay" && canLive) showLive(); // after the replay, back to live
      });
    }
    view.querySelector("[data-viewer-fullscreen]").addEventListener("click", () => safecityVideo.toggleFullscreen(screen));
    screen.addEventListener("dblclick", () => safecityVideo.toggleFullscreen(screen));

    // --- the timeline ---------------------------------------------------------------------------
    const timeline = canPlayback ? makeTimeline() : null;

    function makeTimeline() {
      const box = view.querySelector("[data-timeline]");
      const track = box.querySelector("[data-track]");
      const ticks = box.querySelector("[data-ticks]");
      const windowLabel = view.querySelector("[data-window]");
      const zoomButtons = Array.from(view.querySelectorAll("[data-zoom]"));
      const markerTable = view.querySelector("[data-markers] tbody");
      const markerCount = view.querySelector("[data-marker-count]");
      const maskedNote = view.querySelector("[data-masked-note]");
      let zoom = view.dataset.zoom in zooms ? view.dataset.zoom : "hour";
      let start = Date.parse(view.dataset.since);
      let loading = 0;
      let cursor = null;

      const length = () => zooms[zoom] * 1000;
      const pct = (ms) => ((ms - start) / length()) * 100;

      function align(ms) {
        // A day starts at local midnight; shorter windows on a whole minute, 10 s or second.
        if (zoom === "day") return fromLocal(`${local(ms).slice(0, 10)}T00:00:00`);
        const step = { hour: 60e3, "10min": 10e3, minute: 1e3 }[zoom];
        return Math.floor(ms / step) * step;
      }

      function label(ms, withDate) {
        const text = local(ms).replace("T", " ");
        return withDate ? text : text.slice(11, zoom === "minute" || zoom === "10min" ? 19 : 16);
      }

      function drawTicks() {
        const steps = { day: 3 * 3600e3, hour: 10 * 60e3, "10min": 60e3, minute: 10e3 };
        const step = steps[zoom];
        ticks.replaceChildren();
        for (let t = Math.ceil(start / step) * step; t <= start + length(); t += step) {
          const tick = document.createElement("span");
          tick.className = "tl-tick";
          tick.style.left = `${pct(t)}%`;
          tick.textContent = label(t, false).slice(0, zoom === "day" ? 5 : undefined);
          ticks.append(tick);
        }
      }

      async function load() {
        const ticket = ++loading;
        const since = new Date(start).toISOString();
        const until = new Date(start + length()).toISOString();
        const fine = zoom === "10min" || zoom === "minute";
        const from = label(start, true).slice(0, fine ? 19 : 16);
        windowLabel.value = `${from} – ${zoom === "day" ? label(start + length(), true).slice(0, 16) : label(start + length(), false)}`;
        zoomButtons.forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.zoom === zoom)));
        drawTicks();
        const q = `since=${encodeURIComponent(since)}&until=${encodeURIComponent(until)}`;
        let spans = [];
        let markers = [];
        try {
          const [s, m] = await Promise.all([
            fetch(`/api/v1/cameras/${cameraId}/timeline?${q}`, { headers: { Accept: "application/json" } }),
            fetch(`/api/v1/cameras/${cameraId}/markers?${q}`, { headers: { Accept: "application/json" } }),
          ]);
          if (s.ok) spans = await s.json();
          if (m.ok) markers = await m.json();
        } catch (_err) {
          status.textContent = t("The timeline could not be loaded; it retries when you move it.");
        }
        if (ticket !== loading) return; // a newer window was asked for meanwhile
        drawTrack(spans, markers);
        listMarkers(markers);
      }

      function drawTrack(spans, markers) {
        track.replaceChildren();
        maskedNote.hidden = !spans.some((span) => span.masked);
        spans.forEach((span) => {
          const a = Date.parse(span.start);
          const b = Date.parse(span.end);
          const el = document.createElement("div");
          el.className = `tl-span ${span.kind}${span.locked ? " locked" : ""}`;
          el.dataset.kind = span.kind;
          el.style.left = `${pct(a)}%`;
          // Short recordings stay visible: at least 2 px.
          el.style.width = `max(2px, ${pct(b) - pct(a)}%)`;
          el.title = `${label(a, true)} – ${label(b, true)}: ${span.kind === "gap" ? "nothing recorded" : span.locked ? "recorded, evidence lock" : "recorded"}`;
          track.append(el);
        });
        markers.forEach((marker) => {
          const at = Date.parse(marker.at);
          const button = document.createElement("button");
          button.type = "button";
          button.className = `tl-marker ${marker.kind} sev-${marker.severity}`;
          button.style.left = `${pct(at)}%`;
          button.dataset.marker = marker.at;
          button.title = `${label(at, true)} · ${marker.label}`;
          button.setAttribute("aria-label", `${marker.label} at ${label(at, true)}`);
          button.addEventListener("click", (event) => {
            event.stopPropagation();
            playFrom(at);
          });
          track.append(button);
        });
        cursor = document.createElement("div");
        cursor.className = "tl-cursor";
        cursor.hidden = true;
        track.append(cursor);
        const now = Date.now();
        if (now > start && now < start + length()) {
          const line = document.createElement("div");
          line.className = "tl-now";
          line.style.left = `${pct(now)}%`;
          line.title = "now";
          track.append(line);
        }
        moveCursor();
      }

      function listMarkers(markers) {
        if (!markerTable) return;
        markerTable.replaceChildren();
        markerCount.textContent = markers.length ? `(${markers.length} ${t("in view")})` : "";
        if (!markers.length) {
          const row = markerTable.insertRow();
          const cell = row.insertCell();
          cell.textContent = t("Nothing in this part of the timeline.");
          return;
        }
        markers.forEach((marker) => {
          const at = Date.parse(marker.at);
          const row = markerTable.insertRow();
          row.className = `sev-${marker.severity}`;
          row.insertCell().textContent = label(at, false);
          const what = row.insertCell();
          const kind = document.createElement("span");
          kind.className = `kind ${marker.kind}`;
          kind.textContent = marker.kind;
          what.append(kind, ` ${marker.label}`);
          if (marker.href) {
            const link = document.createElement("a");
            link.href = marker.href;
            link.textContent = t("open");
            what.append(" · ", link);
          }
          const go = document.createElement("button");
          go.type = "button";
          go.textContent = t("Play");
          go.setAttribute("aria-label", `Play ${marker.label} at ${label(at, true)}`);
          go.addEventListener("click", () => playFrom(at));
          row.insertCell().append(go);
        });
      }

      function moveCursor() {
        const ms = player ? player.wallMs() : null;
        if (!cursor) return;
        if (ms === null || ms < start || ms > start + length()) {
          cursor.hidden = true;
          return;
        }
        cursor.hidden = false;
        cursor.style.left = `${pct(ms)}%`;
      }

      track.addEventListener("click", (event) => {
        const rect = track.getBoundingClientRect();
        playFrom(start + ((event.clientX - rect.left) / rect.width) * length());
      });
      // The mouse wheel zooms in and out around the moment under the pointer.
      const levels = ["day", "hour", "10min", "minute"];
      track.addEventListener("wheel", (event) => {
        const next = levels.indexOf(zoom) + (event.deltaY < 0 ? 1 : -1);
        if (next < 0 || next >= levels.length) return;
        event.preventDefault();
        const rect = track.getBoundingClientRect();
        const ratio = (event.clientX - rect.left) / rect.width;
        const focus = start + ratio * length();
        zoom = levels[next];
        start = zoom === "day" ? align(focus) : align(focus - ratio * length());
        load();
      }, { passive: false });
      zoomButtons.forEach((button) => button.addEventListener("click", () => {
        const focus = (player && player.wallMs()) || start + length() / 2;
        zoom = button.dataset.zoom;
        start = align(focus - length() / 2);
        if (zoom === "day") start = align(focus);
        load();
      }));
      view.querySelectorAll("[data-pan]").forEach((button) => button.addEventListener("click", () => {
        const how = button.dataset.pan;
        if (how === "now") start = align(Date.now() - length() * (zoom === "day" ? 0 : 0.9));
        else start += Number(how) * length() * (zoom === "day" ? 1 : 0.5);
        if (how === "now" && zoom === "day") start = align(Date.now());
        load();
      }));
      const jump = view.querySelector("[data-jump]");
      jump.addEventListener("submit", (event) => {
        event.preventDefault();
        const ms = fromLocal(jump.elements.at.value);
        if (!Number.isNaN(ms)) playFrom(ms);
      });

      load();
      return {
        // Keep the moment being played within the window shown.
        follow(ms) {
          if (ms >= start && ms <= start + length()) return;
          start = zoom === "day" ? align(ms) : align(ms - length() / 2);
          load();
        },
        tick: moveCursor,
      };
    }

    // --- clock, marks and status -----------------------------------------------------------------
    function tick() {
      let ms = null;
      if (mode === "live") ms = Date.now();
      else if (player) ms = player.wallMs();
      clock.textContent = ms === null ? "" : local(ms).replace("T", " ");
      if (video && ms !== null && mode !== "live") video.dataset.wallTime = new Date(ms).toISOString();
      if (timeline) timeline.tick();
    }
    if (video) video.addEventListener("timeupdate", tick);
    setInterval(tick, 250);

    document.querySelectorAll("[data-mark]").forEach((button) => {
      button.addEventListener("click", () => {
        const ms = player ? player.wallMs() : null;
        const input = button.form.elements[button.dataset.mark];
        if (input && ms !== null) input.value = local(ms);
        else status.textContent = t("Play recorded video first: marks take the time being played.");
      });
    });

    const badge = document.querySelector("[data-camera-status]");
    async function refreshStatus() {
      try {
        const response = await fetch(`/api/v1/cameras/status?camera_id=${cameraId}`, { headers: { Accept: "application/json" } });
        if (!response.ok) return;
        const [found] = await response.json();
        if (!found) return;
        badge.className = `badge ${found.state}`;
        badge.textContent = found.state === "online" ? `${t("online")} · ${found.fps.toFixed(1)} fps` : t(found.state);
        badge.title = found.last_error || "";
        if (found.state === "online" && mode === "live" && img && !img.hasAttribute("src")) showLive();
      } catch (_err) {
        // the next poll tries again
      }
    }
    refreshStatus();
    setInterval(refreshStatus, STATUS_POLL_MS);

    // Details and settings sit below, closed: a link to them opens them.
    const settings = document.getElementById("settings");
    const openSettings = () => { if (location.hash === "#settings" && settings) settings.open = true; };
    window.addEventListener("hashchange", openSettings);
    // The position map was drawn while closed: Leaflet measures itself again on a resize.
    if (settings) settings.addEventListener("toggle", () => window.dispatchEvent(new Event("resize")));
    openSettings();

    // Opened at a moment (from an alert, event or search result): play from there; otherwise live.
    if (view.dataset.at && canPlayback) playFrom(Date.parse(view.dataset.at));
    else if (canLive) showLive();
    else setMode("none", "");
  }

  document.addEventListener("DOMContentLoaded", init);
})();
