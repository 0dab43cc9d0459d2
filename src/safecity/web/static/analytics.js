// Analytics: the rule editor (draw zones, lines and directions on a camera's picture), the live event
// feed with thumbnails, and the analytics status. Text is only inserted with textContent, never as markup.
"use strict";

(function () {
  const COLOURS = ["#4ea1ff", "#ffb74d", "#81c784", "#e57373", "#ba68c8", "#4dd0e1", "#fff176"];
  const ZONE_KINDS = ["zone_intrusion", "loitering", "crowd", "wrong_way", "stopped_vehicle", "object_left_behind"];
  const LINE_KINDS = ["line_crossing", "counting_line"];

  const el = safecity.el;
  const { svgEl } = drawing;

  // An API error as lines a person can read: the message, then each field's problem.
  async function problems(response) {
    let body = null;
    try { body = await response.json(); } catch (_) { /* not JSON: the status says enough */ }
    const error = (body && body.error) || {};
    const lines = [error.message || "The server refused this (" + response.status + ")."];
    for (const d of error.details || []) {
      const field = String(d.field || "").split(".").slice(1).join(".") || d.field;
      lines.push((field ? field + ": " : "") + d.problem);
    }
    return lines;
  }

  function showErrors(box, lines) {
    box.replaceChildren(...lines.map((line) => el("div", line)));
    box.hidden = lines.length === 0;
  }

  // --- drawing (on the overlay of drawing.js) ----------------------------------------------------------

  function drawRule(svg, config, colour, size) {
    const [w, h] = size;
    const px = (p) => [p[0] * w, p[1] * h];
    const group = svgEl("g", { "data-rule": config.name, stroke: colour, fill: "none", "stroke-width": drawing.strokeWidth(size) });
    if (config.zone) {
      group.append(svgEl("polygon", { points: drawing.points(config.zone, size), fill: colour, "fill-opacity": 0.18 }));
    }
    if (config.line) {
      const [a, b] = config.line.map(px);
      group.append(svgEl("line", { x1: a[0], y1: a[1], x2: b[0], y2: b[1] }));
      // The counted direction: across the line, toward its right (left_to_right) or left side.
      const mid = [(a[0] + b[0]) / 2, (a[1] + b[1]) / 2];
      const len = Math.hypot(b[0] - a[0], b[1] - a[1]) || 1;
      const right = [-(b[1] - a[1]) / len, (b[0] - a[0]) / len];
      const reach = Math.min(len / 3, w / 12);
      const ends = config.direction === "right_to_left" ? [-1] : config.direction === "left_to_right" ? [1] : [1, -1];
      for (const sign of ends) {
        const from = [mid[0] - sign * right[0] * reach, mid[1] - sign * right[1] * reach];
        const to = [mid[0] + sign * right[0] * reach, mid[1] + sign * right[1] * reach];
        group.append(arrow(from, to, w, colour));
      }
    }
    if (Array.isArray(config.direction)) group.append(arrow(px(config.direction[0]), px(config.direction[1]), w, colour));
    const anchor = config.zone ? px(config.zone[0]) : config.line ? px(config.line[0]) : null;
    if (anchor) {
      const label = svgEl("text", { x: anchor[0] + 6, y: anchor[1] - 6, fill: colour, stroke: "none", "font-size": Math.max(14, w / 60) });
      label.textContent = config.name;
      group.append(label);
    }
    svg.append(group);
  }

  function arrow(from, to, w, colour) {
    const group = svgEl("g", { class: "arrow" });
    group.append(svgEl("line", { x1: from[0], y1: from[1], x2: to[0], y2: to[1] }));
    const angle = Math.atan2(to[1] - from[1], to[0] - from[0]);
    const head = Math.max(10, w / 80);
    const left = [to[0] - head * Math.cos(angle - 0.45), to[1] - head * Math.sin(angle - 0.45)];
    const right = [to[0] - head * Math.cos(angle + 0.45), to[1] - head * Math.sin(angle + 0.45)];
    group.append(svgEl("polygon", { points: [to, left, right].map((p) => p.join(",")).join(" "), fill: colour, stroke: "none" }));
    return group;
  }

  function initEditor(root) {
    const cameraId = root.dataset.cameraId;
    const canManage = root.dataset.canManage === "yes";
    const kindLabels = JSON.parse(root.dataset.kinds);
    const defaultClasses = JSON.parse(root.dataset.defaultClasses);
    let rules = JSON.parse(root.dataset.rules);
    const svg = root.querySelector("svg.overlay");
    const picture = root.querySelector("img.picture");
    const pictureState = root.querySelector("[data-testid=picture-state]");
    const tbody = root.querySelector("table.rules tbody");
    const noRules = root.querySelector("[data-testid=no-rules]");
    const listErrors = root.querySelector("[data-testid=list-errors]");
    const form = root.querySelector("form.rule-form");
    const hint = root.querySelector("[data-testid=draw-hint]");
    let size = [1600, 900]; // a blank 16:9 frame until the picture tells its own size

    // What is being drawn: a zone (points, closed or not), a line (two points), a direction (two points).
    const draft = { zone: [], zoneClosed: false, line: [], direction: [] };

    function kind() { return form ? form.elements.kind.value : ""; }

    function redraw() {
      drawing.reset(svg, size);
      rules.forEach((rule, i) => drawRule(svg, rule.config, rule.enabled ? COLOURS[i % COLOURS.length] : "#777", size));
      if (!form) return;
      const [w, h] = size;
      const px = (p) => [p[0] * w, p[1] * h];
      const g = drawing.draft(size, { class: "draft" });
      if (draft.zone.length) g.append(drawing.draftShape(draft.zone, draft.zoneClosed, size, 0.15));
      for (const pts of [draft.line, draft.direction]) {
        if (pts.length === 2) g.append(arrow(px(pts[0]), px(pts[1]), w, "#fff"));
      }
      for (const p of [...draft.zone, ...draft.line, ...draft.direction]) g.append(drawing.corner(p, size));
      svg.append(g);
      hint.textContent = nextStep();
    }

    function nextStep() {
      const k = kind();
      if (LINE_KINDS.includes(k)) {
        return draft.line.length < 2 ? "Click the line's " + (draft.line.length ? "second" : "first") + " point on the picture." : "Line drawn: fill in the rule and save.";
      }
      if (!draft.zoneClosed) {
        return draft.zone.length < 3 ? "Click the zone's corners on the picture (at least 3)." : "Click more corners, or close the zone (button or double click).";
      }
      if (k === "wrong_way" && draft.direction.length < 2) {
        return "Now click the allowed direction: its start, then its end.";
      }
      return "Zone drawn: fill in the rule and save.";
    }

    function clearDraft() {
      draft.zone = [];
      draft.zoneClosed = false;
      draft.line = [];
      draft.direction = [];
      redraw();
    }

    function closeZone() {
      if (draft.zone.length >= 3) draft.zoneClosed = true;
      redraw();
    }

    function rowFor(rule) {
      const tr = el("tr");
      tr.dataset.ruleId = rule.id;
      const name = el("td", rule.name);
      name.append(el("div", rule.config.zone ? "zone of " + rule.config.zone.length + " points" : "line", "meta"));
      const state = el("td", rule.enabled ? "Enabled" : "Disabled");
      tr.append(name, el("td", kindLabels[rule.kind] || rule.kind), el("td", rule.config.classes.join(", ")), state);
      if (canManage) {
        const actions = el("td");
        const toggle = el("button", rule.enabled ? "Disable" : "Enable", "secondary");
        toggle.type = "button";
        toggle.addEventListener("click", () => setEnabled(rule, !rule.enabled));
        const remove = el("button", "Delete", "danger");
        remove.type = "button";
        remove.addEventListener("click", () => removeRule(rule));
        actions.append(toggle, " ", remove);
        tr.append(actions);
      }
      return tr;
    }

    function render() {
      tbody.replaceChildren(...rules.map(rowFor));
      noRules.hidden = rules.length > 0;
      redraw();
    }

    async function call(method, url, body) {
      const headers = { "X-CSRF-Token": safecity.csrfToken(), Accept: "application/json" };
      if (body !== undefined) headers["Content-Type"] = "application/json";
      return fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    }

    const base = "/api/v1/cameras/" + encodeURIComponent(cameraId) + "/rules";

    async function setEnabled(rule, enabled) {
      const url = base + "/" + encodeURIComponent(rule.id) + "?expected_updated_at=" + encodeURIComponent(rule.updated_at);
      const response = await call("PUT", url, { ...rule.config, enabled });
      if (!response.ok) { showErrors(listErrors, await problems(response)); return; }
      showErrors(listErrors, []);
      const saved = await response.json();
      rules = rules.map((r) => (r.id === saved.id ? saved : r));
      render();
    }

    async function removeRule(rule) {
      if (!window.confirm("Delete the rule " + rule.name + "?")) return;
      const response = await call("DELETE", base + "/" + encodeURIComponent(rule.id));
      if (!response.ok) { showErrors(listErrors, await problems(response)); return; }
      showErrors(listErrors, []);
      rules = rules.filter((r) => r.id !== rule.id);
      render();
    }

    function number(name) { return Number(form.elements[name].value); }

    function configFromForm() {
      const k = kind();
      const config = {
        kind: k,
        name: form.elements.name.value.trim(),
        classes: [...form.querySelectorAll("input[name=classes]:checked")].map((c) => c.value),
        severity: number("severity"),
        cooldown_s: number("cooldown_s"),
      };
      if (form.elements.scheduled.checked) {
        config.schedule = [{
          days: [...form.querySelectorAll("input[name=days]:checked")].map((c) => c.value),
          start: form.elements.start.value,
          end: form.elements.end.value,
        }];
      }
      if (LINE_KINDS.includes(k)) {
        config.line = draft.line;
        config.direction = form.elements.direction.value;
      } else {
        config.zone = draft.zone;
      }
      if (["loitering", "stopped_vehicle", "object_left_behind"].includes(k)) config.dwell_s = number("dwell_s");
      if (["stopped_vehicle", "object_left_behind"].includes(k)) config.tolerance = number("tolerance");
      if (k === "crowd") config.max_count = number("max_count");
      if (k === "wrong_way") {
        config.direction = draft.direction;
        config.min_travel = number("min_travel");
      }
      return config;
    }

    function missingDrawing() {
      const k = kind();
      if (LINE_KINDS.includes(k)) return draft.line.length < 2 ? "Draw the line first: two clicks on the picture." : null;
      if (!draft.zoneClosed) return "Draw the zone first: click its corners, then close it.";
      if (k === "wrong_way" && draft.direction.length < 2) return "Draw the allowed direction: two clicks on the picture.";
      return null;
    }

    function showFieldsFor(k) {
      form.querySelectorAll("[data-for]").forEach((label) => {
        label.hidden = !label.dataset.for.split(" ").includes(k);
      });
      form.querySelector("[data-action=close-zone]").hidden = !ZONE_KINDS.includes(k);
      const wanted = defaultClasses[k] || [];
      form.querySelectorAll("input[name=classes]").forEach((box) => { box.checked = wanted.includes(box.value); });
    }

    if (form) {
      const errors = form.querySelector("[data-testid=rule-errors]");
      svg.classList.add("drawing");
      svg.addEventListener("click", (event) => {
        const p = drawing.pointOf(svg, event);
        const k = kind();
        if (LINE_KINDS.includes(k)) {
          if (draft.line.length >= 2) draft.line = [];
          draft.line.push(p);
        } else if (!draft.zoneClosed) {
          // The two clicks of a double click that closes the zone must not add two corners.
          if (event.detail > 1) return;
          draft.zone.push(p);
        } else if (k === "wrong_way") {
          if (draft.direction.length >= 2) draft.direction = [];
          draft.direction.push(p);
        }
        redraw();
      });
      svg.addEventListener("dblclick", closeZone);
      form.querySelector("[data-action=close-zone]").addEventListener("click", closeZone);
      form.querySelector("[data-action=clear]").addEventListener("click", clearDraft);
      form.elements.kind.addEventListener("change", () => {
        showFieldsFor(kind());
        // A zone stays useful across zone kinds; a line or a direction does not carry over.
        draft.line = [];
        draft.direction = [];
        redraw();
      });
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        const missing = missingDrawing();
        if (missing) { showErrors(errors, [missing]); return; }
        const response = await call("POST", base, configFromForm());
        if (!response.ok) { showErrors(errors, await problems(response)); return; }
        showErrors(errors, []);
        rules = [...rules, await response.json()].sort((a, b) => a.name.localeCompare(b.name));
        form.elements.name.value = "";
        draft.zone = [];
        draft.zoneClosed = false;
        draft.line = [];
        draft.direction = [];
        render();
      });
      showFieldsFor(kind());
    }

    if (picture) {
      const loaded = () => {
        size = [picture.naturalWidth, picture.naturalHeight];
        pictureState.textContent = "The camera's picture at " + new Date().toLocaleTimeString() + ".";
        root.querySelector(".stage").classList.remove("blank");
        redraw();
      };
      const failed = () => {
        picture.hidden = true;
        root.querySelector(".stage").classList.add("blank");
        pictureState.textContent = "The camera has no picture now (offline, or not streaming here): draw on the blank 16:9 frame.";
      };
      picture.addEventListener("load", loaded);
      picture.addEventListener("error", failed);
      // The picture may have loaded, or failed, before this script ran.
      if (picture.complete) (picture.naturalWidth ? loaded : failed)();
    } else {
      root.querySelector(".stage").classList.add("blank");
    }
    render();
  }

  // --- the live event feed ------------------------------------------------------------------------

  function initEventFeed(table) {
    const tbody = table.tBodies[0];
    const empty = document.querySelector("[data-testid=no-events]");
    const state = document.querySelector("[data-testid=feed-state]");
    const kinds = JSON.parse(table.dataset.kinds);
    const severities = JSON.parse(table.dataset.severities);
    const canPlayback = table.dataset.canPlayback === "yes";
    const filter = {
      camera: table.dataset.cameraId,
      kind: table.dataset.kind,
      since: table.dataset.since ? new Date(table.dataset.since) : null,
      until: table.dataset.until ? new Date(table.dataset.until) : null,
    };
    const zone = table.dataset.zone;
    // sv-SE formats as "2026-11-22 15:04:05", the same as the server's rendering.
    const clock = new Intl.DateTimeFormat("sv-SE", {
      timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false,
    });

    function matches(event) {
      const at = new Date(event.occurred_at);
      const kind = event.kind.replace(/^analytics\./, "");
      if (!event.kind.startsWith("analytics.")) return false;
      if (filter.camera && event.camera_id !== filter.camera) return false;
      if (filter.kind && kind !== filter.kind) return false;
      if (filter.since && at < filter.since) return false;
      if (filter.until && at >= filter.until) return false;
      return true;
    }

    // The event's moment in the page's time zone with its offset, for the playback link.
    function localIso(iso) {
      const at = new Date(iso);
      const local = clock.format(at).replace(" ", "T");
      const asUtc = Date.parse(local + "Z");
      const offset = Math.round((asUtc - at.getTime()) / 60000);
      const sign = offset < 0 ? "-" : "+";
      const abs = Math.abs(offset);
      return local + sign + String(Math.floor(abs / 60)).padStart(2, "0") + ":" + String(abs % 60).padStart(2, "0");
    }

    function objects(payload) {
      const counts = {};
      for (const o of payload.objects || []) counts[o.class] = (counts[o.class] || 0) + 1;
      return Object.keys(counts).sort().map((name) => counts[name] + " " + name).join(", ") || "—";
    }

    function row(event) {
      const payload = event.payload || {};
      const tr = el("tr", null, "event fresh sev-" + Number(event.severity));
      tr.id = "event-" + event.id;
      const thumbCell = el("td");
      if (payload.snapshot) {
        const url = "/api/v1/events/" + encodeURIComponent(event.id) + "/snapshot.jpg";
        const link = el("a");
        link.href = url;
        link.target = "_blank";
        link.rel = "noopener";
        const img = el("img", null, "thumb");
        img.alt = "Snapshot of the event";
        img.src = url;
        link.append(img);
        thumbCell.append(link);
      } else {
        thumbCell.append(el("span", "no picture", "meta"));
      }
      const when = el("td");
      const time = el("time", clock.format(new Date(event.occurred_at)));
      time.dateTime = event.occurred_at;
      const sev = el("div", null, "meta");
      sev.append(el("span", severities[event.severity] || String(event.severity), "sev"));
      when.append(time, sev);
      const kind = event.kind.replace(/^analytics\./, "");
      const play = el("td");
      if (canPlayback && event.camera_id) {
        const link = el("a", "Play back");
        link.href = "/cameras/" + encodeURIComponent(event.camera_id) + "?at=" + encodeURIComponent(localIso(event.occurred_at)) + "#playback";
        play.append(link);
      }
      tr.append(thumbCell, when, el("td", payload.camera_name || "—"), el("td", payload.rule_name || "—"),
        el("td", kinds[kind] || kind), el("td", objects(payload)), play);
      return tr;
    }

    function add(event) {
      if (!matches(event) || document.getElementById("event-" + event.id)) return;
      tbody.prepend(row(event));
      if (empty) empty.hidden = true;
    }

    // The stream could not fill a gap: reload the page's list (its filters are in the address).
    safecity.liveFeed(table.dataset.eventFeed, {
      after: table.dataset.after,
      handlers: { event: add },
      resync: () => window.location.reload(),
      state,
    });
  }

  // --- the analytics status ------------------------------------------------------------------------

  function initStatus(section) {
    const summary = section.querySelector("[data-testid=status-summary]");
    const tbody = section.querySelector("tbody");
    const fixed = (v, digits) => (v === null || v === undefined ? "—" : Number(v).toFixed(digits));
    const clock = new Intl.DateTimeFormat("sv-SE", { timeZone: section.dataset.zone, hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });

    async function refresh() {
      const response = await fetch(section.dataset.analyticsStatus, { headers: { Accept: "application/json" } }).catch(() => null);
      if (!response || !response.ok) { summary.textContent = "The analytics status could not be loaded."; return; }
      const s = await response.json();
      if (!s.running) {
        summary.textContent = "This server runs no analytics (they may run on separate workers).";
        tbody.replaceChildren();
        return;
      }
      summary.textContent = "Detector " + s.detector + " · " + fixed(s.total_fps, 1) + " fps analysed, " +
        fixed(s.detect_fps, 1) + " fps detected · latency p50 " + fixed(s.detector_ms_p50, 0) + " ms, p95 " +
        fixed(s.detector_ms_p95, 0) + " ms · queue drops " + s.queue_drops;
      tbody.replaceChildren(...s.cameras.map((c) => {
        const tr = el("tr");
        tr.append(el("td", c.name), el("td", fixed(c.fps, 1)), el("td", fixed(c.detect_fps, 1)), el("td", c.motion ? "yes" : "no"),
          el("td", c.tracks), el("td", c.events), el("td", c.rejected_frames),
          el("td", c.last_event_at ? clock.format(new Date(c.last_event_at)) : "—"), el("td", c.last_error || ""));
        return tr;
      }));
    }
    refresh();
    window.setInterval(refresh, 5000);
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("[data-rule-editor]").forEach(initEditor);
    document.querySelectorAll("table[data-event-feed]").forEach(initEventFeed);
    document.querySelectorAll("[data-analytics-status]").forEach(initStatus);
  });
})();
