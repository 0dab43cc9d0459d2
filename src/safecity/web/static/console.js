// The operator console of a 24/7 room: the ranked alert queue (alerts.js keeps it live), the selected alert
// in a pane beside it (its picture, links to its camera and incident, acknowledge, dismiss, escalate), the
// map of cameras, open incidents and units, and incidents shared with the user's agency.
//
// It calls for attention when a high or critical alert arrives (the user's chosen severities): a tone made
// with WebAudio, a desktop notification and a count in the window's title; muting is stored per user on the
// server. Keyboard shortcuts (shown on `?`) work the queue. "Pop out video" opens a second window, e.g. on
// another screen, that follows the selected alert over a BroadcastChannel.
"use strict";

(function () {
  const UNIT_COLOURS = { available: "#1f5fa8" };
  const REFRESH_MS = 5000;
  const REPEAT_CRITICAL_MS = 30000; // an unacknowledged critical alert sounds again this often
  const CHANNEL = "safecity-console";
  const SEVERITY = ["info", "low", "medium", "high", "critical"];
  const t = (english) => safecity.text(english);

  async function getJson(url) {
    const response = await fetch(url);
    return response.ok ? response.json() : [];
  }

  function typing(target) {
    if (!target || !target.closest) return false;
    if (target.isContentEditable) return true;
    const field = target.closest("input, textarea, select");
    if (!field) return false;
    return !(field.tagName === "INPUT" && ["checkbox", "radio", "button", "submit"].includes(field.type));
  }

  // --- the map and the shared incidents --------------------------------------------------------------

  function initMap(console_) {
    const el = console_.querySelector("[data-console-map]");
    const map = el && safecity.createMap(el);
    if (!map) return;
    const cameras = safecity.cluster(map, "cameras");
    const incidents = safecity.cluster(map, "incidents");
    const units = safecity.cluster(map, "units");
    const alerting = safecity.cluster(map, "alerts");
    safecity.fit(map, []); // the default view until the first refresh places something
    let fitted = false;

    function dot(layer, lat, lon, colour, label, radius) {
      return safecity.dot(layer, lat, lon, label, { radius, color: colour, fillOpacity: 0.8 });
    }

    async function refresh() {
      const [cams, open, fleet, raised] = await Promise.all([
        getJson("/api/v1/cameras"),
        getJson("/api/v1/incidents?limit=200"),
        getJson("/api/v1/units"),
        getJson("/api/v1/alerts?status=new&limit=200"),
      ]);
      cameras.clearLayers();
      incidents.clearLayers();
      units.clearLayers();
      alerting.clearLayers();
      const markers = [];
      // A click on a camera opens its camera page; on an incident, the incident; on an alert, the alert here.
      cams.forEach((c) => markers.push(safecity.link(dot(cameras, c.latitude, c.longitude, "#2e7d32", c.name, 5),
        "/cameras/" + encodeURIComponent(c.id))));
      open
        .filter((i) => i.status !== "resolved" && i.status !== "closed")
        .forEach((i) => markers.push(safecity.link(dot(incidents, i.latitude, i.longitude, "#c62828", i.number + " " + i.title, 9),
          "/incidents/" + encodeURIComponent(i.id))));
      // New alerts stand where their camera is.
      const where = new Map(cams.map((c) => [c.id, c]));
      raised.forEach((a) => {
        const cam = a.camera_id && where.get(a.camera_id);
        if (!cam) return;
        const marker = safecity.dot(alerting, cam.latitude, cam.longitude, "⚠ " + a.title,
          { radius: 8, color: "#d84315", weight: 3, fillOpacity: 0.9, className: "map-alert" });
        markers.push(safecity.link(marker, "/console?alert=" + encodeURIComponent(a.id)));
      });
      fleet.forEach((u) =>
        markers.push(dot(units, u.latitude, u.longitude, UNIT_COLOURS[u.status] || "#f9a825", u.call_sign + " · " + u.status, 7)));
      // Fitted once, to the first things placed; later refreshes leave the operator's view alone.
      if (!fitted && markers.some(Boolean)) {
        safecity.fit(map, markers);
        fitted = true;
      }
    }
    // The pane's size is known only once laid out: Leaflet measures again when it changes.
    if (window.ResizeObserver) new ResizeObserver(() => map.invalidateSize()).observe(el);
    refresh();
    window.setInterval(refresh, REFRESH_MS);
  }

  // Incidents other agencies shared with the user's agency, wherever they are (refreshed with the map).
  function initShared(console_) {
    const table = console_.querySelector("[data-shared]");
    if (!table) return;
    async function refresh() {
      const shared = await getJson("/api/v1/shared-incidents");
      if (!shared.length) return;
      table.tBodies[0].replaceChildren(
        ...shared.map((i) => {
          const tr = document.createElement("tr");
          const link = document.createElement("a");
          link.href = "/incidents/" + encodeURIComponent(i.id);
          link.textContent = i.number;
          const cells = [link, String(i.priority), i.status.replace("_", " "), i.title];
          cells.forEach((content) => {
            const td = document.createElement("td");
            td.append(content);
            tr.append(td);
          });
          return tr;
        }),
      );
    }
    refresh();
    window.setInterval(refresh, REFRESH_MS);
  }

  // --- one alert's detail (the console's pane and the pop-out window) -----------------------------------

  // The server renders the fragment (escaped there, as every page is); htmx wires its forms.
  async function loadDetail(pane, id) {
    const response = await fetch("/console/alerts/" + encodeURIComponent(id), { headers: { Accept: "text/html" } });
    if (!response.ok) {
      pane.replaceChildren(safecity.el("p", t("This alert cannot be shown (it may be outside your districts)."), "placeholder"));
      return null;
    }
    const html = await response.text();
    if (pane.dataset.loading && pane.dataset.loading !== String(id)) return null; // another was chosen meanwhile
    pane.innerHTML = html;
    if (window.htmx) window.htmx.process(pane);
    return pane.querySelector("[data-alert-id]");
  }

  // --- attention: tone, notification, title ------------------------------------------------------------

  function attention(prefs, onOpen) {
    let audio = null;

    function context() {
      const Ctx = window.AudioContext || window.webkitAudioContext;
      if (!Ctx) return null;
      if (!audio) audio = new Ctx();
      if (audio.state === "suspended") audio.resume().catch(() => {});
      return audio;
    }
    // Browsers let a page make sound only after the user has touched it: the first touch unlocks it.
    const unlock = () => { if (prefs.sound && !prefs.muted) context(); };
    document.addEventListener("pointerdown", unlock, { once: true });
    document.addEventListener("keydown", unlock, { once: true });

    // Critical: three high beeps; high and below: one lower tone.
    function tone(severity) {
      const ctx = context();
      if (!ctx) return;
      const beeps = severity >= 4 ? [0, 0.25, 0.5] : [0];
      const frequency = severity >= 4 ? 880 : 660;
      beeps.forEach((offset) => {
        const at = ctx.currentTime + offset;
        const osc = ctx.createOscillator();
        const gain = ctx.createGain();
        osc.type = "sine";
        osc.frequency.setValueAtTime(frequency, at);
        gain.gain.setValueAtTime(0.0001, at);
        gain.gain.exponentialRampToValueAtTime(0.35, at + 0.02);
        gain.gain.exponentialRampToValueAtTime(0.0001, at + 0.2);
        osc.connect(gain);
        gain.connect(ctx.destination);
        osc.start(at);
        osc.stop(at + 0.22);
      });
    }

    function notify(alert, why) {
      if (!prefs.notifications || !("Notification" in window) || Notification.permission !== "granted") return;
      const label = (SEVERITY[alert.severity] || "alert").toUpperCase();
      const note = new Notification(label + ": " + alert.title, {
        body: (alert.camera_name || "No camera") + " · " + alert.kind + (why ? " · " + why : ""),
        tag: "alert-" + alert.id,
        requireInteraction: Number(alert.severity) >= 4,
      });
      note.addEventListener("click", () => {
        window.focus();
        onOpen(alert.id);
        note.close();
      });
    }

    return {
      call(alert, why) {
        if (prefs.muted) return;
        if (prefs.sound) tone(Number(alert.severity));
        notify(alert, why);
      },
      tone,
    };
  }

  // --- the console ------------------------------------------------------------------------------------

  function initConsole(console_) {
    const table = console_.querySelector("table[data-feed]");
    const tbody = table.tBodies[0];
    const pane = console_.querySelector("[data-detail]");
    const placeholder = pane.innerHTML;
    const countEl = console_.querySelector("[data-queue-count]");
    const muteButton = console_.querySelector("[data-mute]");
    const prefsForm = console_.querySelector("[data-prefs-form]");
    const permissionHint = console_.querySelector("[data-permission-hint]");
    const overlay = document.querySelector("[data-shortcuts]");
    const myRoles = (console_.dataset.myRoles || "").split(" ").filter(Boolean);
    const prefs = JSON.parse(console_.dataset.prefs);
    const baseTitle = document.title;
    const channel = "BroadcastChannel" in window ? new BroadcastChannel(CHANNEL) : null;
    let selectedId = null;
    let selectedIndex = -1;
    let advanceFrom = null; // the alert this operator just handled: the selection moves on when it leaves
    let poppedOut = false;

    const rows = () => Array.from(tbody.rows);
    const calls = (severity) => prefs.severities.includes(Number(severity));
    const alarm = attention(prefs, (id) => select(id));

    // The title and the count say how many alerts wait that call for attention: "(3) ● Operator console".
    function updateCount() {
      const waiting = rows().filter((tr) => calls(tr.dataset.severity)).length;
      const all = rows().length;
      countEl.textContent = all ? t("%(num)s new").replace("%(num)s", all) + (waiting ? " · " + waiting + " " + t("need attention") : "") : t("Queue clear");
      countEl.dataset.attention = waiting ? "yes" : "no";
      document.title = waiting ? "(" + waiting + ") ● " + baseTitle : baseTitle;
    }

    // --- selection ---

    function markRow(id) {
      rows().forEach((tr) => tr.classList.toggle("selected", tr.id === "alert-" + id));
      const row = document.getElementById("alert-" + id);
      if (row) {
        selectedIndex = rows().indexOf(row);
        row.scrollIntoView({ block: "nearest" });
      }
    }

    async function select(id, { focus } = {}) {
      if (!id) return;
      selectedId = String(id);
      markRow(selectedId);
      pane.dataset.loading = selectedId;
      const url = new URL(window.location.href);
      url.searchParams.set("alert", selectedId);
      window.history.replaceState(null, "", url);
      if (channel) channel.postMessage({ type: "select", id: selectedId });
      const detail = await loadDetail(pane, selectedId);
      if (!detail || selectedId !== String(id)) return;
      wireDetail(detail);
      if (focus) {
        const field = detail.querySelector(focus);
        if (field) field.focus();
      }
    }

    function clearSelection() {
      selectedId = null;
      selectedIndex = -1;
      pane.innerHTML = placeholder;
      const url = new URL(window.location.href);
      url.searchParams.delete("alert");
      window.history.replaceState(null, "", url);
      if (channel) channel.postMessage({ type: "select", id: null });
    }

    function move(step) {
      const list = rows();
      if (!list.length) return;
      const current = list.findIndex((tr) => tr.id === "alert-" + selectedId);
      let next = current === -1 ? (step > 0 ? 0 : list.length - 1) : current + step;
      next = Math.max(0, Math.min(list.length - 1, next));
      select(list[next].id.replace(/^alert-/, ""));
    }

    function wireDetail(detail) {
      const form = detail.querySelector("[data-escalate]");
      const result = detail.querySelector("[data-escalated]");
      if (!form) return;
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        const id = detail.dataset.alertId;
        const response = await fetch("/api/v1/alerts/" + encodeURIComponent(id) + "/escalate", {
          method: "POST",
          headers: { "Content-Type": "application/json", "X-CSRF-Token": safecity.csrfToken() },
          body: JSON.stringify({ category: form.elements.category.value, priority: Number(form.elements.priority.value) }),
        });
        const body = await response.json().catch(() => ({}));
        result.replaceChildren();
        if (!response.ok) {
          result.textContent = (body.error && body.error.message) || t("The alert could not be escalated.");
          return;
        }
        const link = document.createElement("a");
        link.href = "/incidents/" + encodeURIComponent(body.id);
        link.textContent = t("Incident") + " " + body.number + " " + t("opened");
        link.dataset.openIncident = "";
        result.append(link);
        detail.dataset.incidentHref = link.getAttribute("href");
        form.remove();
      });
    }

    tbody.addEventListener("click", (event) => {
      const row = event.target.closest("tr.alert");
      if (!row) return;
      const id = row.id.replace(/^alert-/, "");
      if (event.target.closest("[data-dismiss-row]")) {
        select(id, { focus: "[data-dismiss-form] input[name=reason]" });
        return;
      }
      if (event.target.closest("form, a, button")) {
        if (event.target.closest("form.ack")) advanceFrom = id; // acknowledged from the row
        return;
      }
      select(id);
    });

    // This operator acknowledged or dismissed: when the alert leaves the queue, the next one is selected.
    pane.addEventListener("submit", (event) => {
      if (event.target.closest("form.ack") && selectedId) advanceFrom = selectedId;
    }, true);

    table.addEventListener("alerts:changed", (event) => {
      const { alert, before } = event.detail;
      const id = String(alert.id);
      updateCount();
      if (id === selectedId) {
        if (alert.status !== "new" && advanceFrom === id) {
          advanceFrom = null;
          // Done with its note or reason field: the keys work the queue again.
          if (pane.contains(document.activeElement)) document.activeElement.blur();
          const list = rows();
          if (list.length) select(list[Math.min(Math.max(selectedIndex, 0), list.length - 1)].id.replace(/^alert-/, ""));
          else clearSelection();
        } else {
          markRow(id);
          // Its state changed (handled by someone else, escalated, more severe): show the new one. A mere
          // repeat leaves the pane alone, so a note being typed is not lost.
          const changed = !before || before.status !== alert.status ||
            (before.escalated_at || null) !== (alert.escalated_at || null) || Number(before.severity) !== Number(alert.severity);
          if (changed) select(id);
        }
      }
      // Attention: a new alert, one that became more severe, or one escalated to a role this user holds.
      if (alert.status !== "new") return;
      const escalatedToMe = alert.escalated_at && myRoles.includes(alert.escalated_to_role) &&
        !(before && before.escalated_at);
      const arrived = !before || before.status !== "new";
      const worse = before && Number(alert.severity) > Number(before.severity);
      if (escalatedToMe) alarm.call(alert, "escalated to you: unacknowledged too long");
      else if ((arrived || worse) && calls(alert.severity)) alarm.call(alert, "");
    });
    table.addEventListener("alerts:resynced", updateCount);

    // An unacknowledged critical alert keeps sounding, as a room's alarm does, until someone acts on it.
    window.setInterval(() => {
      if (prefs.muted || !prefs.sound) return;
      if (rows().some((tr) => Number(tr.dataset.severity) >= 4 && calls(4))) alarm.tone(4);
    }, REPEAT_CRITICAL_MS);

    // --- preferences (stored per user on the server) ---

    const allowButton = console_.querySelector("[data-allow-notifications]");
    allowButton.addEventListener("click", () => Notification.requestPermission().then(showPrefs));

    function showPrefs() {
      muteButton.setAttribute("aria-pressed", prefs.muted ? "true" : "false");
      muteButton.textContent = prefs.muted ? t("Muted") : t("Sound on");
      // Wanted but not yet allowed: the browser asks only after a click, so the bar offers one.
      allowButton.hidden = !(prefs.notifications && "Notification" in window && Notification.permission === "default");
      if (!permissionHint) return;
      permissionHint.replaceChildren();
      if (!("Notification" in window)) permissionHint.textContent = t("This browser has no desktop notifications.");
      else if (Notification.permission === "denied") permissionHint.textContent = t("Notifications are blocked for this site in the browser's settings.");
      else if (Notification.permission === "default" && prefs.notifications) {
        const allow = safecity.el("button", t("Allow desktop notifications"), "secondary");
        allow.type = "button";
        allow.addEventListener("click", () => Notification.requestPermission().then(showPrefs));
        permissionHint.append(allow);
      }
    }

    async function savePrefs() {
      const response = await fetch("/api/v1/alerts/preferences", {
        method: "PUT",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": safecity.csrfToken() },
        body: JSON.stringify({
          severities: prefs.severities, sound: prefs.sound, notifications: prefs.notifications, muted: prefs.muted,
        }),
      });
      if (response.ok) Object.assign(prefs, await response.json());
      showPrefs();
      updateCount();
      return response.ok;
    }

    function toggleMute() {
      prefs.muted = !prefs.muted;
      savePrefs();
    }

    muteButton.addEventListener("click", toggleMute);
    prefsForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      prefs.severities = Array.from(prefsForm.querySelectorAll("input[name=severity]:checked")).map((i) => Number(i.value));
      prefs.sound = prefsForm.elements.sound.checked;
      prefs.notifications = prefsForm.elements.notifications.checked;
      if (prefs.notifications && "Notification" in window && Notification.permission === "default") {
        await Notification.requestPermission();
      }
      if (await savePrefs()) prefsForm.closest("details").open = false;
    });
    showPrefs();

    // --- the second screen ---

    // On a desk with two screens (the Window Management API, once the user allows it) the window opens
    // filling the other screen; elsewhere as a window of its own to drag there.
    async function popOut() {
      let features = "popup,width=1280,height=760";
      if (window.screen.isExtended && window.getScreenDetails) {
        try {
          const details = await Promise.race([
            window.getScreenDetails(),
            new Promise((_resolve, reject) => window.setTimeout(reject, 1500)),
          ]);
          const other = details.screens.find((s) => s !== details.currentScreen);
          if (other) {
            features = "popup,left=" + other.availLeft + ",top=" + other.availTop +
              ",width=" + other.availWidth + ",height=" + other.availHeight;
          }
        } catch (_err) {
          // not allowed, or no answer: an ordinary window
        }
      }
      window.open("/console/video", "safecity-console-video", features);
    }
    console_.querySelector("[data-popout]").addEventListener("click", popOut);
    if (channel) {
      channel.addEventListener("message", (event) => {
        const message = event.data || {};
        if (message.type === "hello") {
          poppedOut = true;
          console_.dataset.poppedOut = "yes";
          channel.postMessage({ type: "select", id: selectedId });
        } else if (message.type === "bye") {
          poppedOut = false;
          delete console_.dataset.poppedOut;
        } else if (message.type === "open" && message.id) {
          select(message.id);
        }
      });
    }

    // --- keyboard ---

    function showHelp(show) {
      overlay.hidden = !show;
      if (show) overlay.querySelector("[role=dialog]").focus();
    }
    document.querySelector("[data-help]").addEventListener("click", () => showHelp(overlay.hidden));
    overlay.querySelector("[data-help-close]").addEventListener("click", () => showHelp(false));
    overlay.addEventListener("click", (event) => { if (event.target === overlay) showHelp(false); });

    function openLink(attribute, name) {
      const detail = pane.querySelector("[data-alert-id]");
      const href = detail && detail.dataset[attribute];
      if (href) window.open(href, name);
    }

    // Acknowledge the selected alert (with the note typed in its pane, if that pane is showing it). By its
    // id, not by whichever pane is on screen: the pane of a just-chosen alert may still be loading.
    async function acknowledgeSelected() {
      const id = selectedId;
      if (!id) return;
      const shown = pane.querySelector("[data-alert-id]");
      const noteField = shown && shown.dataset.alertId === id ? shown.querySelector("[data-ack-form] input[name=note]") : null;
      advanceFrom = id;
      const response = await fetch("/api/v1/alerts/" + encodeURIComponent(id) + "/ack", {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": safecity.csrfToken() },
        body: JSON.stringify({ note: noteField && noteField.value.trim() ? noteField.value.trim() : null }),
      });
      const body = await response.json().catch(() => ({}));
      if (!response.ok) {
        advanceFrom = null;
        const flash = document.getElementById("flash");
        const message = safecity.el("div", (body.error && body.error.message) || t("The alert could not be acknowledged."), "flash error");
        message.setAttribute("role", "alert");
        if (flash) flash.replaceChildren(message);
        return;
      }
      document.body.dispatchEvent(new CustomEvent("alert-changed", { detail: body }));
    }

    // A field of the selected alert's pane; if that pane is still loading, once it has loaded.
    function focusInPane(selector) {
      const shown = pane.querySelector("[data-alert-id]");
      if (shown && shown.dataset.alertId === selectedId) {
        const field = shown.querySelector(selector);
        if (field) field.focus();
      } else if (selectedId) {
        select(selectedId, { focus: selector });
      }
    }

    document.addEventListener("keydown", (event) => {
      if (event.ctrlKey || event.metaKey || event.altKey) return;
      if (event.key === "Escape") {
        if (!overlay.hidden) showHelp(false);
        else if (typing(event.target)) event.target.blur();
        return;
      }
      if (typing(event.target)) return; // typing a note or a reason: letters are letters
      const actions = {
        j: () => move(1), ArrowDown: () => move(1),
        k: () => move(-1), ArrowUp: () => move(-1),
        a: acknowledgeSelected,
        d: () => focusInPane("[data-dismiss-form] input[name=reason]"),
        e: () => focusInPane("[data-escalate] select[name=category]"),
        c: () => openLink("cameraHref", "safecity-camera"),
        i: () => openLink("incidentHref", "safecity-incident"),
        m: toggleMute,
        v: popOut,
        "?": () => showHelp(overlay.hidden),
      };
      const action = actions[event.key];
      if (!action) return;
      if (!overlay.hidden && event.key !== "?") return;
      event.preventDefault();
      action();
    });

    updateCount();
    if (console_.dataset.selectedId) select(console_.dataset.selectedId);
    window.addEventListener("pagehide", () => { if (channel) channel.close(); });
    return { poppedOut: () => poppedOut };
  }

  // --- the pop-out video window ------------------------------------------------------------------------

  function initVideoWindow(root) {
    const pane = root.querySelector("[data-detail]");
    const state = root.querySelector("[data-follow-state]");
    if (!("BroadcastChannel" in window)) {
      state.textContent = t("This browser cannot follow the console from a second window.");
      return;
    }
    const channel = new BroadcastChannel(CHANNEL);
    let shown = null;
    channel.addEventListener("message", async (event) => {
      const message = event.data || {};
      if (message.type !== "select") return;
      if (!message.id) {
        shown = null;
        pane.replaceChildren(safecity.el("p", t("No alert selected on the console."), "placeholder"));
        return;
      }
      if (message.id === shown) return;
      shown = message.id;
      pane.dataset.loading = message.id;
      await loadDetail(pane, message.id);
      state.textContent = t("Following the console's selected alert.");
    });
    channel.postMessage({ type: "hello" });
    window.addEventListener("pagehide", () => {
      channel.postMessage({ type: "bye" });
      channel.close();
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("[data-console]").forEach((console_) => {
      initMap(console_);
      initConsole(console_);
      initShared(console_);
    });
    document.querySelectorAll("[data-console-video]").forEach(initVideoWindow);
  });
})();
