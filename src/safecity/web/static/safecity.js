// safecity page behaviour, and the helpers every page script uses (window.safecity). No inline scripts or
// styles (the CSP forbids them): pages declare data-* attributes. Text from the server is only ever put into
// the page as text (textContent, elements built here), never as markup, so a stored name stays a name.
"use strict";

window.safecity = (function () {
  const DEFAULT_CENTRE = [34.0151, 71.5249]; // Peshawar: where a map with nothing on it looks
  const RETRY_MS = 2000;
  const RETRY_MAX_MS = 60000;

  function csrfToken() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRF-Token"] || "";
    } catch (_err) {
      return "";
    }
  }

  // An element holding `text` as text.
  function el(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }

  // --- maps (Leaflet) ------------------------------------------------------------------------------

  // A map on `container` over the configured tile server, or over nothing (police networks often have no
  // tiles: the markers still tell where things are). Null when the page has no Leaflet.
  function createMap(container) {
    if (typeof L === "undefined") return null;
    const map = L.map(container, { attributionControl: false });
    const tiles = document.body.dataset.tiles;
    if (tiles) L.tileLayer(tiles, { maxZoom: 19 }).addTo(map);
    return map;
  }

  // A dot on `layer` (a map or a layer group) with `label` as its tooltip, as text; null with no position.
  function dot(layer, lat, lon, label, style, tooltip) {
    if (lat === null || lat === undefined || lon === null || lon === undefined) return null;
    const marker = L.circleMarker([lat, lon], style);
    if (label !== null && label !== undefined) marker.bindTooltip(el("span", label), tooltip);
    return marker.addTo(layer);
  }

  // Show every placed layer with a margin around them, or the default centre when none is placed.
  function fit(map, layers, { pad = 0.2, maxZoom = 18, zoom = 12 } = {}) {
    const placed = layers.filter(Boolean);
    if (placed.length) map.fitBounds(L.featureGroup(placed).getBounds().pad(pad), { maxZoom });
    else map.setView(DEFAULT_CENTRE, zoom);
  }

  // A click on the map fills a form's latitude and longitude (and calls `then` with the point).
  function pickPlace(map, form, then) {
    map.on("click", (e) => {
      form.elements.latitude.value = e.latlng.lat.toFixed(6);
      form.elements.longitude.value = e.latlng.lng.toFixed(6);
      if (then) then(e.latlng);
    });
  }

  // --- live feeds (Server-Sent Events) -------------------------------------------------------------

  // Follow the event stream at `path` from position `after`: `handlers` maps event names to functions of
  // the event's data; `resync` runs when the server could not fill a gap; `state` (an element) shows how
  // the feed is. EventSource reconnects by itself after a dropped connection, but gives up on an error
  // status (a restart, a refused login): then retry with a growing pause, or reload to the login page if
  // logged out. The stream resumes after the last event seen.
  function liveFeed(path, { after, handlers, resync, state }) {
    let lastId = after;
    let pause = RETRY_MS;
    const setState = (name, text) => {
      if (!state) return;
      state.dataset.state = name;
      state.textContent = text;
    };
    function connect() {
      const url = new URL(path, window.location.href);
      if (lastId) url.searchParams.set("after", lastId);
      const source = new EventSource(url);
      source.addEventListener("open", () => {
        pause = RETRY_MS;
        setState("live", "Live");
      });
      for (const [name, handle] of Object.entries(handlers)) {
        source.addEventListener(name, (message) => {
          if (message.lastEventId) lastId = message.lastEventId;
          handle(JSON.parse(message.data));
        });
      }
      source.addEventListener("resync", () => { resync(); });
      source.addEventListener("error", () => {
        if (source.readyState !== EventSource.CLOSED) {
          setState("connecting", "Reconnecting…");
          return;
        }
        setState("down", "Live feed interrupted: retrying…");
        window.setTimeout(async () => {
          const me = await fetch("/api/v1/auth/me").catch(() => null);
          if (me && me.status === 401) {
            window.location.reload();
            return;
          }
          pause = Math.min(pause * 2, RETRY_MAX_MS);
          connect();
        }, pause);
      });
    }
    connect();
  }

  // --- the places map (districts, police stations, sites; an incident's place) ----------------------

  const PLACE_COLOURS = { district: "#1f5fa8", station: "#b03030", site: "#2e7d32" };

  function initPlacesMap(container) {
    const map = createMap(container);
    if (!map) return;
    const points = JSON.parse(container.dataset.map || "[]");
    const markers = points.map((p) => dot(map, p.lat, p.lon, p.name,
      { radius: p.kind === "district" ? 8 : 5, color: PLACE_COLOURS[p.kind] || "#333" },
      { permanent: p.kind === "district", direction: "right" }));
    fit(map, markers, { zoom: 8 });
    const form = document.getElementById("place-form");
    if (form) pickPlace(map, form);
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("[data-map]").forEach(initPlacesMap);
  });

  // --- forms: checks before sending, and error answers shown where they belong ---------------------

  // Every form on every page: the browser's own checks (required, pattern, min/max, type=email …) run
  // before anything is sent, and their messages appear next to the fields instead of in a bubble. A field
  // with data-same-as="other" must repeat the other field (a new password typed twice). An htmx or fetch
  // request that fails gets its JSON error shown in #flash with its code, and a 422's details next to the
  // fields they name (pages do not need code of their own for this).
  const fieldNotes = new WeakMap();

  function showFieldError(field, text) {
    let note = fieldNotes.get(field);
    if (!note && text) {
      note = el("span", "", "field-error");
      note.id = `field-error-${Math.random().toString(36).slice(2, 10)}`;
      note.setAttribute("role", "alert");
      field.insertAdjacentElement("afterend", note);
      field.setAttribute("aria-describedby", note.id);
      fieldNotes.set(field, note);
    }
    if (note) {
      note.textContent = text || "";
      note.hidden = !text;
    }
    if (text) field.setAttribute("aria-invalid", "true");
    else field.removeAttribute("aria-invalid");
  }

  function checkSameAs(field) {
    const other = field.form && field.dataset.sameAs ? field.form.elements.namedItem(field.dataset.sameAs) : null;
    if (other && "value" in other) {
      field.setCustomValidity(field.value && field.value !== other.value ? "the two entries are not the same" : "");
    }
  }

  // A message at the top of the page (the layout's #flash), as text, with the stable code shown small.
  function flashError(message, code) {
    const box = document.getElementById("flash");
    if (!box) return;
    const text = String(message || "");
    const note = el("div", text.charAt(0).toUpperCase() + text.slice(1), "flash error");
    note.setAttribute("role", "alert");
    if (code) note.append(" ", el("small", `(${code})`, "meta"));
    box.replaceChildren(note);
  }

  // What to do next, for the errors a person can act on (the error pages say the same, see web/errors.py).
  const NEXT_STEPS = {
    csrf_failed: "reload the page and try again",
    permission_denied: "ask an administrator if your work needs it",
    not_found: "reload the page: it may have been removed",
    conflict: "reload the page to see what is there now",
    too_many_requests: "wait a little before trying again",
    internal_error: "try again in a moment; if it keeps happening, tell the administrator",
  };

  // Show an error answer ({code, message, details}) on `form`: each detail next to its field where the form
  // has one (the field then stays invalid until it is edited), the message in #flash.
  function showErrors(form, error) {
    let placed = 0;
    for (const detail of error.details || []) {
      const name = String(detail.field || "").split(".").pop();
      let field = form && name ? form.elements.namedItem(name) : null;
      if (field && !(field instanceof Element)) field = field[0] || null; // radio buttons, repeated names
      if (field && field.setCustomValidity) {
        field.setCustomValidity(String(detail.problem || "not valid"));
        showFieldError(field, String(detail.problem || "not valid"));
        if (!placed) field.focus();
        placed += 1;
      }
    }
    const rest = (error.details || []).length - placed;
    const more = rest > 0 ? `: ${(error.details || []).map((d) => `${d.field} ${d.problem}`).join("; ")}` : "";
    const next = NEXT_STEPS[error.code] ? `: ${NEXT_STEPS[error.code]}` : "";
    flashError(`${error.message || "that did not work"}${placed ? " (see the marked fields)" : more}${next}`,
      error.code);
  }

  // For fetch callers: show a failed response's error on `form`; resolves to the error (null if none).
  async function submitErrors(form, response) {
    if (response.ok) return null;
    let error = null;
    try {
      error = (await response.json()).error;
    } catch (_err) {
      error = null;
    }
    error = error || { code: `http_${response.status}`, message: `the server answered ${response.status}` };
    showErrors(form, error);
    return error;
  }

  document.addEventListener("invalid", (e) => {
    const field = e.target;
    e.preventDefault(); // the message goes next to the field, not in the browser's bubble
    showFieldError(field, field.validationMessage);
    if (field.form && field.form.querySelector(":invalid") === field) field.focus();
  }, true);
  document.addEventListener("input", (e) => {
    const field = e.target;
    if (!(field instanceof HTMLInputElement || field instanceof HTMLSelectElement ||
      field instanceof HTMLTextAreaElement)) return;
    if (fieldNotes.has(field)) field.setCustomValidity(""); // a server's verdict ends when the field changes
    checkSameAs(field);
    if (field.form) {
      field.form.querySelectorAll("[data-same-as]").forEach((twin) => {
        if (twin.dataset.sameAs === field.name) checkSameAs(twin);
      });
    }
    if (fieldNotes.has(field) && field.checkValidity()) showFieldError(field, "");
  }, true);
  document.addEventListener("submit", (e) => {
    if (e.target instanceof HTMLFormElement) e.target.querySelectorAll("[data-same-as]").forEach(checkSameAs);
  }, true);
  document.addEventListener("htmx:responseError", (e) => {
    const xhr = e.detail.xhr;
    let error = null;
    try {
      error = JSON.parse(xhr.responseText).error;
    } catch (_err) {
      error = null;
    }
    error = error || { code: `http_${xhr.status}`, message: `the server answered ${xhr.status}` };
    const elt = e.detail.elt;
    showErrors(elt instanceof HTMLFormElement ? elt : (elt.form || elt.closest("form")), error);
  });
  document.addEventListener("htmx:sendError", () => {
    flashError("the server could not be reached: check the connection and try again", "network_error");
  });

  return { csrfToken, el, createMap, dot, fit, pickPlace, liveFeed, showErrors, submitErrors, flashError };
})();
