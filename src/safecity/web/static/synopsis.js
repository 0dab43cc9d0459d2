// Video synopsis: over the playing video, a link on each object on screen (from the synopsis's index, a
// window every half second), opening the recording at the moment the object was there. Labels and URLs
// come from the server and are only ever put in as text and attributes.
"use strict";

(function () {
  function player(box) {
    if (box.dataset.ready) return;
    box.dataset.ready = "yes";
    const video = box.querySelector("video");
    const layer = box.querySelector(".synopsis-objects");
    let index = null;
    let shown = -1;
    fetch(box.dataset.index, { credentials: "same-origin" })
      .then((r) => (r.ok ? r.json() : null))
      .then((data) => {
        index = data;
        draw();
      });

    function draw() {
      if (!index) return;
      const slot = Math.min(index.windows.length - 1, Math.floor((video.currentTime || 0) / index.window_s));
      if (slot === shown) return;
      shown = slot;
      layer.replaceChildren();
      for (const o of index.windows[slot] || []) {
        if (!o.url) continue;
        const a = document.createElement("a");
        a.href = o.url;
        a.title = o.label;
        a.setAttribute("aria-label", o.label);
        a.dataset.trackId = o.track_id;
        a.dataset.testid = "synopsis-object";
        a.style.left = o.box[0] * 100 + "%";
        a.style.top = o.box[1] * 100 + "%";
        a.style.width = (o.box[2] - o.box[0]) * 100 + "%";
        a.style.height = (o.box[3] - o.box[1]) * 100 + "%";
        layer.appendChild(a);
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
