// Video synopsis: over the playing video, a link on each object on screen (from the synopsis's index: the
// objects of every half second, their boxes at its middle, followed smoothly in between), opening the
// recording at the moment the object was there. Labels and URLs come from the server and are only ever
// put in as text and attributes.
"use strict";

(function () {
  function player(box) {
    if (box.dataset.ready) return;
    box.dataset.ready = "yes";
    const video = box.querySelector("video");
    const layer = box.querySelector(".synopsis-objects");
    const links = new Map(); // track id → its link on screen
    let index = null;
    fetch(box.dataset.index, { credentials: "same-origin" })
      .then((r) => (r.ok ? r.json() : null))
      .then((data) => {
        index = data;
        draw();
      });

    // The objects on screen at time t, each box between those of the windows around t.
    function objectsAt(t) {
      const windows = index.windows;
      const slot = Math.min(windows.length - 1, Math.floor(t / index.window_s));
      const x = t / index.window_s - 0.5;
      const a = Math.floor(x);
      const w = Math.min(1, Math.max(0, x - a));
      const before = windows[a] || [];
      const after = windows[a + 1] || [];
      return (windows[slot] || []).map((o) => {
        const p = before.find((q) => q.track_id === o.track_id);
        const n = after.find((q) => q.track_id === o.track_id);
        const b = p && n ? p.box.map((v, i) => v + (n.box[i] - v) * w) : o.box;
        return { ...o, box: b };
      });
    }

    function draw() {
      if (!index || !index.windows.length) return;
      const seen = new Set();
      for (const o of objectsAt(video.currentTime || 0)) {
        if (!o.url) continue;
        seen.add(o.track_id);
        let a = links.get(o.track_id);
        if (!a) {
          a = document.createElement("a");
          a.dataset.trackId = o.track_id;
          a.dataset.testid = "synopsis-object";
          layer.appendChild(a);
          links.set(o.track_id, a);
        }
        if (a.getAttribute("href") !== o.url) a.href = o.url;
        a.title = o.label;
        a.setAttribute("aria-label", o.label);
        a.style.left = o.box[0] * 100 + "%";
        a.style.top = o.box[1] * 100 + "%";
        a.style.width = (o.box[2] - o.box[0]) * 100 + "%";
        a.style.height = (o.box[3] - o.box[1]) * 100 + "%";
      }
      for (const [id, a] of links) {
        if (!seen.has(id)) {
          a.remove();
          links.delete(id);
        }
      }
    }

    function follow() {
      draw();
      if (!video.paused && !video.ended) requestAnimationFrame(follow);
    }
    video.addEventListener("play", follow);
    video.addEventListener("seeked", draw);
    video.addEventListener("timeupdate", draw);
    video.addEventListener("loadeddata", draw);
  }

  const all = () => document.querySelectorAll("[data-index]").forEach(player);
  document.addEventListener("DOMContentLoaded", all);
  document.addEventListener("htmx:afterSettle", all); // the player arrives by htmx when rendering ends
})();
