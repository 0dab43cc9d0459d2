// Privacy masks: the panel on the camera page (draw the masked areas on the camera's picture, as the
// analytics rule editor draws zones, with drawing.js: click the corners, double click or "Close" to close),
// lifting them for oneself (the live picture only, which the server masks itself), and the opaque cover the
// player draws over recorded video for everyone (it hides the areas in footage recorded before the masks were
// drawn; since then the recorder burns them in).
// Text is only inserted with textContent, never as markup.
"use strict";

(function () {
  let messages = null; // the panel's texts in the page's language (#privacy-messages), else safecity.text's
  function t(english) {
    if (messages === null) {
      const source = document.getElementById("privacy-messages");
      try { messages = source ? JSON.parse(source.textContent) : {}; } catch (_err) { messages = {}; }
    }
    return Object.prototype.hasOwnProperty.call(messages, english) ? messages[english] : safecity.text(english);
  }
  const el = safecity.el;
  const { svgEl, points } = drawing;

  function api(cameraId) {
    return "/api/v1/cameras/" + encodeURIComponent(cameraId) + "/privacy-masks";
  }

  async function call(method, url, body) {
    const headers = { "X-CSRF-Token": safecity.csrfToken(), Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    return fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  }

  async function problems(response) {
    let body = null;
    try { body = await response.json(); } catch (_) { /* not JSON */ }
    const error = (body && body.error) || {};
    const lines = [error.message || "The server refused this (" + response.status + ")."];
    for (const d of error.details || []) lines.push((d.field ? d.field + ": " : "") + d.problem);
    return lines;
  }

  function lifted(state) {
    return state.lifted_until && Date.parse(state.lifted_until) > Date.now();
  }

  // --- the cover over recorded video ------------------------------------------------------------------

  function initCover(view, state) {
    const screen = view.querySelector("[data-screen]");
    const video = document.getElementById("player");
    if (!screen || !video) return;
    const cover = svgEl("svg", { class: "privacy-cover", "data-testid": "privacy-cover", preserveAspectRatio: "xMidYMid meet", "aria-hidden": "true" });
    screen.append(cover);

    function redraw() {
      const w = video.videoWidth || 1600;
      const h = video.videoHeight || 900;
      cover.setAttribute("viewBox", "0 0 " + w + " " + h);
      // Not lifted for anyone: a lifting clears the live picture only.
      cover.replaceChildren(...state.masks.map((m) => svgEl("polygon", { points: points(m.polygon, [w, h]), fill: "#000" })));
      cover.hidden = video.hidden || cover.childElementCount === 0;
    }
    video.addEventListener("loadedmetadata", redraw);
    new MutationObserver(redraw).observe(video, { attributes: true, attributeFilter: ["hidden"] });
    state.onChange.push(redraw);
    redraw();
  }

  // --- the panel ------------------------------------------------------------------------------------

  function initPanel(root, state) {
    const cameraId = root.dataset.cameraId;
    const canManage = root.dataset.canManage === "yes";
    const svg = root.querySelector("[data-privacy-overlay]");
    const picture = root.querySelector("[data-privacy-picture]");
    const stage = root.querySelector(".stage");
    const hint = root.querySelector("[data-privacy-hint]");
    const list = root.querySelector("[data-mask-list]");
    const none = root.querySelector("[data-no-masks]");
    const count = root.querySelector("[data-mask-count]");
    const liftedLine = root.querySelector("[data-lifted]");
    const errors = root.querySelector("[data-privacy-errors]");
    const form = root.querySelector("[data-mask-form]");
    const unmaskForm = root.querySelector("[data-unmask-form]");
    let size = [1600, 900];
    let masks = state.masks.map((m) => ({ name: m.name, polygon: m.polygon }));
    const draft = { points: [], closed: false };

    function showErrors(lines) {
      errors.replaceChildren(...lines.map((line) => el("div", line)));
      errors.hidden = lines.length === 0;
    }

    function redraw() {
      drawing.reset(svg, size);
      for (const m of masks) {
        svg.append(svgEl("polygon", { points: points(m.polygon, size), fill: "#000", "fill-opacity": 0.65, stroke: "#ffb74d", "stroke-width": drawing.strokeWidth(size), "data-mask": m.name }));
      }
      if (draft.points.length) {
        const g = drawing.draft(size);
        g.append(drawing.draftShape(draft.points, draft.closed, size, 0.2));
        for (const p of draft.points) g.append(drawing.corner(p, size));
        svg.append(g);
      }
      if (form) {
        hint.textContent = !draft.closed
          ? (draft.points.length < 3 ? t("Click the corners of the area to mask on the picture (at least 3).") : t("Click more corners, or close the shape (button or double click)."))
          : t("Name the area and add it, then save the masks.");
      }
    }

    function renderList() {
      list.replaceChildren(...masks.map((m, i) => {
        const item = el("li", m.name);
        item.dataset.mask = m.name;
        if (canManage) {
          const remove = el("button", t("Remove"), "secondary");
          remove.type = "button";
          remove.addEventListener("click", () => { masks.splice(i, 1); renderList(); });
          item.append(" ", remove);
        }
        return item;
      }));
      none.hidden = masks.length > 0;
      count.textContent = masks.length ? "(" + masks.length + ")" : "";
      if (lifted(state)) {
        liftedLine.hidden = false;
        liftedLine.textContent = t("Lifted for you in the live picture until") + " " + new Date(state.lifted_until).toLocaleTimeString();
      } else {
        liftedLine.hidden = true;
      }
      redraw();
    }

    function closeShape() {
      if (draft.points.length >= 3) draft.closed = true;
      redraw();
    }

    if (form) {
      svg.classList.add("drawing");
      svg.addEventListener("click", (event) => {
        if (draft.closed || event.detail > 1) return; // the clicks of a double click add no corners
        draft.points.push(drawing.pointOf(svg, event));
        redraw();
      });
      svg.addEventListener("dblclick", closeShape);
      form.querySelector("[data-action=close-mask]").addEventListener("click", closeShape);
      form.querySelector("[data-action=clear]").addEventListener("click", () => { draft.points = []; draft.closed = false; redraw(); });
      form.querySelector("[data-action=add-mask]").addEventListener("click", () => {
        const name = form.elements.name.value.trim();
        if (!draft.closed) { showErrors([t("Draw the area first: click its corners, then close it.")]); return; }
        if (!name) { showErrors([t("Name the area.")]); return; }
        masks.push({ name, polygon: draft.points });
        draft.points = [];
        draft.closed = false;
        form.elements.name.value = "";
        showErrors([]);
        renderList();
      });
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        const response = await call("PUT", api(cameraId), { masks });
        if (!response.ok) { showErrors(await problems(response)); return; }
        showErrors([]);
        Object.assign(state, await response.json());
        masks = state.masks.map((m) => ({ name: m.name, polygon: m.polygon }));
        state.onChange.forEach((f) => f());
        renderList();
        hint.textContent = t("Masks saved.");
      });
    }

    if (unmaskForm) {
      unmaskForm.addEventListener("submit", async (event) => {
        event.preventDefault();
        const body = { purpose: unmaskForm.elements.purpose.value.trim(), minutes: Number(unmaskForm.elements.minutes.value) };
        const response = await call("POST", api(cameraId) + "/unmask", body);
        if (!response.ok) { showErrors(await problems(response)); return; }
        showErrors([]);
        state.lifted_until = (await response.json()).until;
        state.onChange.forEach((f) => f());
        renderList();
      });
    }

    // The picture is fetched (an audited live view) only when the panel is opened.
    root.addEventListener("toggle", () => {
      if (!root.open || !picture || picture.hasAttribute("src")) return;
      picture.addEventListener("load", () => {
        size = [picture.naturalWidth, picture.naturalHeight];
        picture.hidden = false;
        stage.classList.remove("blank");
        redraw();
      });
      picture.addEventListener("error", () => {
        picture.hidden = true;
        hint.textContent = t("The camera has no picture now: draw on the blank 16:9 frame.");
      });
      picture.src = "/api/v1/cameras/" + encodeURIComponent(cameraId) + "/snapshot.jpg";
    });
    renderList();
  }

  async function init() {
    const panel = document.querySelector("[data-privacy]");
    const view = document.querySelector("[data-camera-view]");
    const cameraId = (panel && panel.dataset.cameraId) || (view && view.dataset.cameraId);
    if (!cameraId) return;
    const response = await fetch(api(cameraId), { headers: { Accept: "application/json" } });
    if (!response.ok) return;
    const state = await response.json();
    state.onChange = [];
    if (view) initCover(view, state);
    if (panel) initPanel(panel, state);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
