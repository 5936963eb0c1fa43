// Takedown Monitor: the little JavaScript the pages use. Everything works without it;
// this adds live updates to the event feed. Data is untrusted: rows are built with DOM
// APIs and textContent only, never innerHTML.
"use strict";

(function () {
  const POLL_MS = 4000;

  function text(tag, value, cls) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    node.textContent = value == null ? "" : String(value);
    return node;
  }

  function when(iso) {
    const time = document.createElement("time");
    if (!iso) return text("span", "–", "muted");
    const d = new Date(iso);
    time.dateTime = iso;
    time.textContent = isNaN(d) ? String(iso)
      : d.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC").replace(/Z$/, " UTC");
    return time;
  }

  function cell(...children) {
    const td = document.createElement("td");
    for (const child of children) if (child) td.append(child);
    return td;
  }

  function causeOf(e) {
    let s = e.cause || "";
    if (e.cause && e.cause_detail) s += " / " + e.cause_detail;
    const span = text("span", s);
    if (e.candidates && e.candidates.length) {
      span.append(" ", text("span", "(one of: " + e.candidates.join(", ") + ")", "muted"));
    }
    return span;
  }

  function rowFor(e, postBase) {
    const tr = document.createElement("tr");
    tr.dataset.id = String(e.id);
    tr.className = "fresh";
    const post = document.createElement("a");
    const id = Number(e.post_id);
    if (postBase && Number.isSafeInteger(id)) post.href = postBase + String(id);
    post.append(text("bdi", e.post_key));
    const summary = text("div", "", "muted");
    // Tags are dropped by a regular expression, never parsed: the result is only
    // ever textContent.
    const words = e.title || (e.text ? String(e.text).slice(0, 2000)
      .replace(/<[^>]*>/g, " ").replace(/\s+/g, " ").trim().slice(0, 140) : "");
    if (words) { const s = text("span", words); s.dir = "auto"; summary.append(s); }
    tr.append(
      cell(when(e.detected_at)), cell(text("span", e.kind)), cell(causeOf(e)),
      cell(text("span", e.platform)), cell(text("bdi", e.group)),
      cell(e.author ? text("bdi", e.author) : null), cell(post, summary));
    return tr;
  }

  function eventsOf(body) {
    if (Array.isArray(body)) return body;
    if (body && Array.isArray(body.events)) return body.events;
    if (body && Array.isArray(body.items)) return body.items;
    return [];
  }

  function live(table) {
    const url = table.dataset.live;
    const tbody = table.tBodies[0];
    const status = document.getElementById("live-status");
    const postBase = table.dataset.postBase || "";
    let newest = Number(table.dataset.newest || "0");
    let busy = false;

    async function poll() {
      if (busy || document.hidden) return;
      busy = true;
      try {
        const response = await fetch(url, {
          credentials: "same-origin", headers: { Accept: "application/json" } });
        if (!response.ok) throw new Error("HTTP " + response.status);
        const fresh = eventsOf(await response.json())
          .filter((e) => Number(e.id) > newest)
          .sort((a, b) => Number(a.id) - Number(b.id));
        for (const e of fresh) {
          tbody.prepend(rowFor(e, postBase));
          newest = Math.max(newest, Number(e.id));
        }
        const empty = document.getElementById("no-events");
        if (fresh.length && empty) empty.remove();
        if (status && fresh.length) {
          status.textContent = fresh.length + " new event" + (fresh.length > 1 ? "s" : "")
            + " at " + new Date().toISOString().slice(11, 19) + " UTC";
        }
        table.dataset.newest = String(newest);
      } catch (err) {
        if (status) status.textContent = "Live updates paused: " + err.message
          + ". Reload the page to try again.";
      } finally {
        busy = false;
      }
    }
    if (status) status.textContent = "Live: new events appear here as they are recorded.";
    window.setInterval(poll, Number(table.dataset.interval || POLL_MS));
  }

  document.addEventListener("DOMContentLoaded", function () {
    for (const table of document.querySelectorAll("table[data-live]")) live(table);
  });
})();
