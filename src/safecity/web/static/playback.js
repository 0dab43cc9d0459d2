// Playback page: click the day's timeline to play recorded video from that moment with hls.js.
// No inline scripts (the CSP forbids them): the page declares data-* attributes read here.
"use strict";

(function () {
  function formatter(zone) {
    const parts = new Intl.DateTimeFormat("en-GB", {
      timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23",
    });
    // "YYYY-MM-DDTHH:MM:SS" in the display time zone: what a datetime-local input holds.
    return (ms) => {
      const p = Object.fromEntries(parts.formatToParts(new Date(ms)).map((x) => [x.type, x.value]));
      return `${p.year}-${p.month}-${p.day}T${p.hour}:${p.minute}:${p.second}`;
    };
  }

  function init() {
    const strip = document.querySelector("[data-timeline]");
    const video = document.getElementById("player");
    if (!strip || !video) return;
    const since = Date.parse(strip.dataset.since);
    const until = Date.parse(strip.dataset.until);
    const local = formatter(video.dataset.timezone || "Asia/Karachi");
    const clock = document.getElementById("clock");
    const status = document.getElementById("player-status");
    const cursor = strip.querySelector("[data-cursor]");
    let hls = null;
    let fragment = null; // the fragment playing: its programDateTime anchors the wall clock
    let wallMs = null;

    function playFrom(ms) {
      const url = `${video.dataset.playlist}?since=${encodeURIComponent(new Date(ms).toISOString())}` +
        `&until=${encodeURIComponent(new Date(until).toISOString())}`;
      status.textContent = "";
      fragment = null;
      if (hls) hls.destroy();
      if (window.Hls && window.Hls.isSupported()) {
        // No worker: the CSP allows scripts from this origin only, not blob: workers.
        hls = new window.Hls({ enableWorker: false });
        hls.on(window.Hls.Events.FRAG_CHANGED, (_e, data) => { fragment = data.frag; });
        hls.on(window.Hls.Events.ERROR, (_e, data) => {
          if (!data.fatal) return;
          const code = data.response && data.response.code;
          status.textContent = code === 404 ? "Nothing was recorded from that moment on this day." :
            `Playback failed (${data.details}).`;
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
        status.textContent = "This browser cannot play HLS video.";
      }
    }

    strip.querySelector("svg").addEventListener("click", (event) => {
      const box = event.currentTarget.getBoundingClientRect();
      playFrom(since + ((event.clientX - box.left) / box.width) * (until - since));
    });
    document.querySelectorAll("[data-play]").forEach((button) => {
      button.addEventListener("click", () => playFrom(Date.parse(button.dataset.play)));
    });

    video.addEventListener("timeupdate", () => {
      if (!fragment || fragment.programDateTime == null) return;
      wallMs = fragment.programDateTime + (video.currentTime - fragment.start) * 1000;
      clock.textContent = local(wallMs).replace("T", " ");
      video.dataset.wallTime = new Date(wallMs).toISOString();
      if (cursor) {
        const x = ((wallMs - since) / (until - since)) * 86400;
        cursor.setAttribute("x1", x);
        cursor.setAttribute("x2", x);
      }
    });

    if (video.dataset.at) playFrom(Date.parse(video.dataset.at)); // opened at a moment, e.g. an alert's

    document.querySelectorAll("[data-mark]").forEach((button) => {
      button.addEventListener("click", () => {
        const input = button.form.elements[button.dataset.mark];
        if (input && wallMs !== null) input.value = local(wallMs);
      });
    });
  }

  document.addEventListener("DOMContentLoaded", init);
})();
