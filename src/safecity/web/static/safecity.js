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

  // Every map is built here: over the offline base layer (country and province boundaries and place names
  // of the deployment's area, built at install time from Natural Earth and GeoNames: see web/basemap.py),
  // with a scale, a place search, markers that carry their names as labels and cluster where many, and the
  // configured tile server drawn over the base layer when there is one.
  const BASEMAP_URL = "/static/vendor/basemap.geojson";
  const SEARCH_MIN = 2;
  const SEARCH_WAIT_MS = 200;
  let basemap = null; // the base layer's data, fetched once per page (a promise)
  let landmarks = null; // the police stations and sites within the user's scope (a promise)

  function basemapData() {
    if (!basemap) {
      basemap = fetch(BASEMAP_URL)
        .then((response) => (response.ok ? response.json() : null))
        .catch(() => null);
    }
    return basemap;
  }

  // Only for those who may read the organisation (others would only be refused, and audited for it).
  const mayReadPlaces = () => document.body.dataset.mapPlaces === "yes";

  // Police stations and camera sites are the landmarks a police operator knows: names on the base layer
  // (after the capitals' and the district seats'), from the organisation's own records.
  function landmarkData() {
    if (!mayReadPlaces()) return Promise.resolve([]);
    if (!landmarks) {
      const get = (url) => fetch(url, { headers: { Accept: "application/json" } })
        .then((response) => (response.ok ? response.json() : []))
        .catch(() => []);
      landmarks = Promise.all([get("/api/v1/stations"), get("/api/v1/sites")])
        .then(([stations, sites]) => stations.map((p) => ({ kind: "station", place: p }))
          .concat(sites.map((p) => ({ kind: "site", place: p }))));
    }
    return landmarks;
  }

  function drawLandmarks(map, found) {
    const labels = L.layerGroup().addTo(map);
    found.forEach(({ kind, place }) => {
      baseLabel([place.latitude, place.longitude], place.name, "basemap-landmark basemap-" + kind, kind === "station" ? 1.5 : 2.5)
        .addTo(labels);
    });
    declutter(map);
  }

  const COUNTRY_STYLE = {
    PK: { color: "#6f6454", weight: 1.5, fillColor: "#f4f0e6", fillOpacity: 1 },
    AF: { color: "#6f6454", weight: 1.5, fillColor: "#e4e1da", fillOpacity: 1 },
  };

  // Provinces: thin dashed lines, the deployment's province (Khyber Pakhtunkhwa) lighter inside; its own
  // boundary is drawn over them as one line.
  function provinceStyle(feature) {
    const kp = feature.properties.kp;
    return {
      color: "#a0937e",
      weight: 1,
      dashArray: "4 4",
      fillColor: "#fcfaf4",
      fillOpacity: kp ? 1 : 0,
      className: "basemap-province",
    };
  }
  const BOUNDARY_STYLE = { color: "#8a5a1c", weight: 2.5, opacity: 0.9, className: "basemap-kp" };

  // A name on the base layer: a text element in the labels' pane, never markup.
  function baseLabel(latlng, text, className, rank) {
    const label = el("span", text);
    label.dataset.rank = String(rank);
    return L.marker(latlng, {
      pane: "basemapLabels",
      interactive: false,
      keyboard: false,
      icon: L.divIcon({ className: "basemap-label " + className, html: label, iconSize: null }),
    });
  }

  function drawBasemap(map, data) {
    const countries = data.features.filter((f) => f.properties.kind === "country");
    const provinces = data.features.filter((f) => f.properties.kind === "province");
    const boundaries = data.features.filter((f) => f.properties.kind === "boundary");
    const places = data.features.filter((f) => f.properties.kind === "place");
    L.geoJSON(countries, { pane: "basemap", interactive: false,
      style: (f) => Object.assign({ className: "basemap-country" }, COUNTRY_STYLE[f.properties.code] || COUNTRY_STYLE.AF) }).addTo(map);
    L.geoJSON(provinces, { pane: "basemap", interactive: false, style: provinceStyle }).addTo(map);
    L.geoJSON(boundaries, { pane: "basemap", interactive: false, style: () => BOUNDARY_STYLE }).addTo(map);
    const labels = L.layerGroup().addTo(map);
    provinces
      // The merged tribal districts are Khyber Pakhtunkhwa; Islamabad's own name says where its territory is.
      .filter((f) => f.properties.code !== "PK-TA" && f.properties.code !== "PK-IS")
      .forEach((f) => {
        const centre = L.geoJSON(f).getBounds().getCenter();
        baseLabel(centre, f.properties.name, "basemap-province-name", -1).addTo(labels);
      });
    places.forEach((f) => {
      const [lon, lat] = f.geometry.coordinates;
      const p = f.properties;
      baseLabel([lat, lon], p.name, "basemap-place rank-" + p.rank, p.rank).addTo(labels);
    });
    if (data.attribution) {
      const credits = L.control({ position: "bottomright" });
      credits.onAdd = () => {
        const text = el("div", data.attribution, "map-credits");
        text.title = data.attribution;
        return text;
      };
      credits.addTo(map);
    }
    map.getContainer().classList.add("has-basemap");
    declutter(map);
  }

  // Names must not cover one another: markers' labels first (the bigger dots', as incidents and alerts,
  // before the smaller ones'), then the base layer's by rank (capitals, district seats, stations, towns);
  // a name that would overlap one already shown is hidden until zoomed in.
  function declutter(map) {
    if (map._safecityDeclutter) return;
    map._safecityDeclutter = window.requestAnimationFrame(() => {
      map._safecityDeclutter = null;
      const container = map.getContainer();
      const zoom = map.getZoom();
      const shown = [];
      const overlaps = (a) => shown.some((b) => a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom);
      const place = (node, wanted) => {
        const box = (node.classList.contains("basemap-label") ? node.firstChild : node).getBoundingClientRect();
        const show = wanted && box.width > 0 && !overlaps(box);
        node.classList.toggle("label-hidden", !show);
        if (show) shown.push(box);
      };
      const size = (node) => Number((node.firstChild && node.firstChild.dataset && node.firstChild.dataset.size) || 0);
      Array.from(container.querySelectorAll(".map-label"))
        .sort((a, b) => size(b) - size(a))
        .forEach((node) => place(node, true));
      // Province names are pale lettering under everything else (towns' names may cross them), up to the
      // district level; from there on the towns' names say where one is.
      container.querySelectorAll(".basemap-province-name").forEach((node) => node.classList.toggle("label-hidden", zoom >= 9));
      const names = Array.from(container.querySelectorAll(".basemap-label:not(.basemap-province-name)"));
      names.sort((a, b) => Number(a.firstChild.dataset.rank) - Number(b.firstChild.dataset.rank));
      names.forEach((node) => place(node, true));
    });
  }

  // A map on `container`: the base layer, a scale, a place search, the configured tiles over them when set,
  // and a cluster group that takes the markers `dot` puts on the map. Null when the page has no Leaflet.
  function createMap(container) {
    if (typeof L === "undefined") return null;
    const map = L.map(container, { attributionControl: false, minZoom: 5, maxZoom: 19 });
    // A map with a search and clickable markers is no picture: its controls must reach assistive technology.
    if (container.getAttribute("role") === "img") container.setAttribute("role", "region");
    // A view from the start (the page fits its own later): the cluster group needs one to place markers.
    map.setView(DEFAULT_CENTRE, 12);
    map.createPane("basemap");
    map.createPane("basemapLabels");
    const tiles = document.body.dataset.tiles;
    if (tiles) L.tileLayer(tiles, { maxZoom: 19 }).addTo(map);
    L.control.scale({ imperial: false, position: "bottomleft" }).addTo(map);
    map.safecityMarkers = cluster(map);
    map.on("zoomend layeradd", () => declutter(map));
    basemapData().then((data) => { if (data) drawBasemap(map, data); });
    landmarkData().then((found) => drawLandmarks(map, found));
    placeSearch(map);
    return map;
  }

  // A group on `map` that gathers markers close on screen into one counted circle (zoom in or click to
  // part them); `kind` names it for its colour (cameras, incidents, units, alerts).
  function cluster(map, kind) {
    if (!L.markerClusterGroup) return L.layerGroup().addTo(map);
    const group = L.markerClusterGroup({
      animate: false, // dots are circle markers, which the plugin can move only without animation
      showCoverageOnHover: false,
      maxClusterRadius: 40,
      spiderfyOnMaxZoom: true,
      iconCreateFunction: (c) => L.divIcon({
        html: el("span", c.getChildCount()),
        className: "map-cluster" + (kind ? " map-cluster-" + kind : ""),
        iconSize: L.point(34, 34),
      }),
    });
    // A cluster names what it holds on hover: the first few labels.
    group.on("clustermouseover", (e) => {
      const names = e.layer.getAllChildMarkers().map((m) => m.safecityLabel).filter(Boolean);
      if (!names.length) return;
      const more = names.length > 5 ? " and " + (names.length - 5) + " more" : "";
      e.layer.bindTooltip(el("span", names.slice(0, 5).join(" · ") + more), { direction: "top" }).openTooltip();
    });
    return group.addTo(map);
  }

  // A dot on `layer` (a map, a layer group or a cluster) labelled `label`, as text, beside it; null with no
  // position. Dots put on a map itself go into its cluster group.
  function dot(layer, lat, lon, label, style, tooltip) {
    if (lat === null || lat === undefined || lon === null || lon === undefined) return null;
    const marker = L.circleMarker([lat, lon], style);
    if (label !== null && label !== undefined) {
      const radius = (style && style.radius) || 10;
      marker.safecityLabel = String(label);
      const text = el("span", label);
      text.dataset.size = String(radius); // the bigger the dot, the more it matters: its name goes first
      marker.bindTooltip(text, Object.assign(
        { permanent: true, direction: "right", offset: [radius, 0], className: "map-label", opacity: 1 }, tooltip));
      // A name hidden to spare its neighbours shows while the pointer is on its dot.
      marker.on("mouseover", () => {
        const tip = marker.getTooltip() && marker.getTooltip().getElement();
        if (tip) tip.classList.remove("label-hidden");
      });
    }
    const target = layer instanceof L.Map && layer.safecityMarkers ? layer.safecityMarkers : layer;
    return marker.addTo(target);
  }

  // A click on `marker` (or Enter on its label) opens `href`.
  function link(marker, href) {
    if (!marker) return marker;
    marker.on("click", () => { window.location.href = href; });
    const path = marker.getElement && marker.getElement();
    if (path) path.classList.add("map-link");
    marker.options.className = ((marker.options.className || "") + " map-link").trim();
    return marker;
  }

  // Show every placed layer with a margin around them, a single point close up, or the default centre when
  // none is placed.
  function fit(map, layers, { pad = 0.2, maxZoom = 18, zoom = 12, pointZoom = 15 } = {}) {
    const placed = layers.filter(Boolean);
    const now = { animate: false }; // straight to the view, not a zoom from the map's first one
    if (!placed.length) {
      map.setView(DEFAULT_CENTRE, zoom, now);
      return;
    }
    const bounds = L.featureGroup(placed).getBounds();
    if (bounds.getNorthEast().equals(bounds.getSouthWest())) map.setView(bounds.getCenter(), Math.min(pointZoom, maxZoom), now);
    else map.fitBounds(bounds.pad(pad), Object.assign({ maxZoom }, now));
  }

  // A search form's area, drawn on a map of its cameras (data-area-map) with two clicks after "Draw area"
  // (data-draw-area); kept as "south,west,north,east" in its data-area-input and shown in data-area-text.
  function areaMap(container) {
    if (container.dataset.drawn) return;
    container.dataset.drawn = "yes";
    const map = safecity.createMap(container);
    if (!map) return;
    const cameras = JSON.parse(container.dataset.areaMap || "[]");
    safecity.fit(map, cameras.map((c) => safecity.dot(map, c.lat, c.lon, c.label, { radius: 5, color: "#555" })));
    const input = document.querySelector("[data-area-input]");
    const text = document.querySelector("[data-area-text]");
    let rectangle = null;
    let corner = null;
    let drawing = false;
    function show(bounds) {
      if (rectangle) rectangle.remove();
      rectangle = bounds ? L.rectangle(bounds, { color: "#c0392b", weight: 2, fill: false }).addTo(map) : null;
      const value = bounds ? [bounds.getSouth(), bounds.getWest(), bounds.getNorth(), bounds.getEast()].map((v) => v.toFixed(6)).join(",") : "";
      input.value = value;
      text.textContent = value;
    }
    if (input.value) {
      const [s, w, n, e] = input.value.split(",").map(Number);
      show(L.latLngBounds([s, w], [n, e]));
    }
    document.querySelector("[data-draw-area]").addEventListener("click", () => { drawing = true; corner = null; container.classList.add("drawing"); });
    document.querySelector("[data-clear-area]").addEventListener("click", () => show(null));
    map.on("click", (e) => {
      if (!drawing) return;
      if (!corner) { corner = e.latlng; return; }
      show(L.latLngBounds(corner, e.latlng));
      drawing = false;
      container.classList.remove("drawing");
    });
  }

  // A click on the map, or a place picked in its search, fills a form's latitude and longitude (and calls
  // `then` with the point).
  function pickPlace(map, form, then) {
    const set = (latlng) => {
      form.elements.latitude.value = latlng.lat.toFixed(6);
      form.elements.longitude.value = latlng.lng.toFixed(6);
      if (then) then(latlng);
    };
    map.on("click", (e) => set(e.latlng));
    let named = ""; // the address a picked place wrote, replaced by the next pick unless edited
    map.on("safecity:place", (e) => {
      set(e.latlng);
      // A place picked by name also names the location, where the form asks for one not typed in.
      const address = form.elements.address;
      if (address && (!address.value.trim() || address.value === named)) {
        named = e.place.name + (e.place.district_name ? ", " + e.place.district_name : "");
        address.value = named;
      }
    });
  }

  // The place search on a map: police stations, sites and districts within the user's scope (the server's
  // /api/v1/places, for those who may read them) and the base layer's towns, by name. Picking one centres
  // the map there, marks it, and fires "safecity:place" (pickPlace fills its form from it).
  function placeSearch(map) {
    const control = L.control({ position: "topright" });
    control.onAdd = () => {
      const box = el("div", null, "map-search");
      const input = el("input");
      input.type = "search";
      input.placeholder = "Find a station, site or town";
      input.setAttribute("aria-label", "Find a police station, site or town on the map");
      input.autocomplete = "off";
      const list = el("ul", null, "map-search-results");
      list.setAttribute("role", "listbox");
      list.setAttribute("aria-label", "Places found");
      list.hidden = true;
      box.append(input, list);
      L.DomEvent.disableClickPropagation(box);
      L.DomEvent.disableScrollPropagation(box);
      let timer = null;
      let seq = 0;
      let found = [];
      let marker = null;

      const choose = (hit) => {
        const at = L.latLng(hit.latitude, hit.longitude);
        list.hidden = true;
        input.value = hit.name;
        map.setView(at, hit.kind === "district" || hit.kind === "town" ? 12 : 16);
        if (marker) marker.remove();
        marker = L.circleMarker(at, { radius: 9, color: "#1565c0", weight: 3, fillOpacity: 0.15, className: "map-search-mark" })
          .bindTooltip(el("span", hit.name), { permanent: true, direction: "right", offset: [9, 0], className: "map-label" })
          .addTo(map);
        map.fire("safecity:place", { latlng: at, place: hit });
      };

      const show = (hits) => {
        found = hits;
        list.replaceChildren(...hits.map((hit, i) => {
          const item = el("li");
          item.setAttribute("role", "option");
          const button = el("button", null, "link");
          button.type = "button";
          button.append(el("strong", hit.name), el("span", " " + KIND_NAMES[hit.kind] + (hit.district_name ? " · " + hit.district_name : "")));
          button.dataset.index = String(i);
          button.addEventListener("click", () => choose(hit));
          item.append(button);
          return item;
        }));
        if (!hits.length) list.append(el("li", "No station, site or town by that name", "map-search-none"));
        list.hidden = false;
      };

      const search = async () => {
        const text = input.value.trim();
        const mine = ++seq;
        if (text.length < SEARCH_MIN) {
          list.hidden = true;
          return;
        }
        const url = new URL("/api/v1/places", window.location.href);
        url.searchParams.set("q", text);
        url.searchParams.set("limit", "8");
        const [answer, data] = await Promise.all([
          mayReadPlaces()
            ? fetch(url, { headers: { Accept: "application/json" } }).then((r) => (r.ok ? r.json() : [])).catch(() => [])
            : [],
          basemapData(),
        ]);
        if (mine !== seq) return; // a later keystroke's search has taken over
        const needle = text.toLocaleLowerCase();
        const towns = data ? data.features
          .filter((f) => f.properties.kind === "place" && f.properties.name.toLocaleLowerCase().includes(needle))
          .slice(0, 5)
          .map((f) => ({ kind: "town", name: f.properties.name, district_name: f.properties.district,
            latitude: f.geometry.coordinates[1], longitude: f.geometry.coordinates[0] })) : [];
        show(answer.concat(towns));
      };

      input.addEventListener("input", () => {
        window.clearTimeout(timer);
        timer = window.setTimeout(search, SEARCH_WAIT_MS);
      });
      input.addEventListener("keydown", (e) => {
        if (e.key === "Enter") {
          e.preventDefault(); // never submits the form the map sits in
          if (found.length) choose(found[0]);
        } else if (e.key === "Escape") {
          list.hidden = true;
        }
      });
      return box;
    };
    control.addTo(map);
    return control;
  }

  const KIND_NAMES = { district: "district", station: "police station", site: "site", town: "town" };

  // --- live feeds (Server-Sent Events) -------------------------------------------------------------

  // Follow the event stream at `path` from position `after`: `handlers` maps event names to functions of
  // the event's data; `resync` runs when the server could not fill a gap; `state` (an element) shows how
  // the feed is. EventSource reconnects by itself after a dropped connection, but gives up on an error
  // status (a restart, a refused login): then retry with a growing pause, or reload to the login page if
  // logged out. The stream resumes after the last event seen.
  function liveFeed(path, { after, handlers, resync, state }) {
    let lastId = after;
    let pause = RETRY_MS;
    const setState = (name, english) => {
      if (!state) return;
      state.dataset.state = name;
      state.textContent = text(english);
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

  const PLACE_COLOURS = { district: "#1f5fa8", station: "#b03030", site: "#2e7d32", incident: "#d32f2f", camera: "#0b7285" };

  function initPlacesMap(container) {
    const map = createMap(container);
    if (!map) return;
    const points = JSON.parse(container.dataset.map || "[]");
    const markers = points.map((p) => {
      const marker = dot(map, p.lat, p.lon, p.name,
        { radius: p.kind === "district" || p.kind === "incident" ? 8 : 5, color: PLACE_COLOURS[p.kind] || "#333" });
      return p.href ? link(marker, p.href) : marker; // a camera near an incident opens its recording
    });
    fit(map, markers, { zoom: 8 });
    const form = document.getElementById("place-form");
    if (form) pickPlace(map, form);
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("[data-map]").forEach(initPlacesMap);
  });

  // The bar's menus: one open at a time; a click elsewhere or Escape closes it (Escape back on its title).
  function initMenus() {
    const menus = [...document.querySelectorAll(".topbar details.menu")];
    menus.forEach((menu) => menu.addEventListener("toggle", () => {
      if (!menu.open) return;
      menus.forEach((other) => { if (other !== menu) other.open = false; });
      // Near the window's far edge the links open towards the middle instead of running off the side.
      const items = menu.querySelector(".menu-items");
      items.classList.remove("menu-flip");
      const box = items.getBoundingClientRect();
      if (box.right > document.documentElement.clientWidth || box.left < 0) items.classList.add("menu-flip");
    }));
    document.addEventListener("click", (event) => {
      menus.forEach((menu) => { if (menu.open && !menu.contains(event.target)) menu.open = false; });
    });
    document.addEventListener("keydown", (event) => {
      const open = menus.find((menu) => menu.open);
      if (event.key === "Escape" && open) {
        open.open = false;
        open.querySelector("summary").focus();
      }
    });
  }
  document.addEventListener("DOMContentLoaded", initMenus);

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

  // A text a page script writes, in the page's language: the page's <script type="application/json"
  // id="page-messages"> maps the English to the translation (the template renders it); else the English.
  let messages = null;
  function text(english) {
    if (messages === null) {
      const source = document.getElementById("page-messages");
      try {
        messages = source ? JSON.parse(source.textContent) : {};
      } catch (_err) {
        messages = {};
      }
    }
    return Object.prototype.hasOwnProperty.call(messages, english) ? messages[english] : english;
  }

  return {
    csrfToken, el, createMap, cluster, dot, link, fit, areaMap, pickPlace, placeSearch, liveFeed, showErrors, submitErrors, flashError,
    text,
  };
})();
