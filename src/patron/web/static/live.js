// Live updates for list pages, from the server's event stream (no inline script: CSP-friendly).
//
// A page opts in with <table data-live="/live/<page>" data-live-after="<position>"> whose rows
// carry data-id. Each "change" event names a changed record; the page fetches itself again (the
// server applies the filters, the sort and the caller's scope), swaps in the new rows and marks
// the changed ones. The browser reconnects on its own, resuming with Last-Event-ID.
(function () {
  "use strict";
  var table = document.querySelector("table[data-live]");
  if (!table || !window.EventSource || !window.fetch) {
    return;
  }
  var status = document.querySelector("[data-live-status]");
  var after = table.getAttribute("data-live-after") || "";
  var url = table.getAttribute("data-live") + (after ? "?after=" + encodeURIComponent(after) : "");
  var pending = new Set();
  var timer = null;
  var loading = false;

  function say(text) {
    if (status) {
      status.textContent = text;
    }
  }

  function mark(body, ids) {
    body.querySelectorAll("tr[data-id]").forEach(function (row) {
      if (ids.has(row.getAttribute("data-id"))) {
        row.classList.add("live-changed");
      }
    });
  }

  function refresh() {
    timer = null;
    if (loading) {
      schedule();
      return;
    }
    loading = true;
    var ids = pending;
    pending = new Set();
    fetch(window.location.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.text();
      })
      .then(function (html) {
        var page = new DOMParser().parseFromString(html, "text/html");
        var fresh = page.querySelector("table[data-live] tbody");
        var body = table.querySelector("tbody");
        if (!fresh || !body) {
          return;
        }
        fresh = document.adoptNode(fresh);
        mark(fresh, ids);
        body.replaceWith(fresh);
        say("Updated live at " + new Date().toLocaleTimeString());
      })
      .catch(function () {
        ids.forEach(function (id) { pending.add(id); });
        say("Live updates paused; reload the page to see the latest.");
      })
      .finally(function () {
        loading = false;
      });
  }

  function schedule() {
    if (!timer) {
      timer = window.setTimeout(refresh, 250);
    }
  }

  var source = new EventSource(url, { withCredentials: true });
  source.addEventListener("open", function () { say("Live"); });
  source.addEventListener("error", function () {
    say(source.readyState === EventSource.CLOSED ? "Live updates stopped." : "Reconnecting…");
  });
  source.addEventListener("change", function (event) {
    try {
      pending.add(JSON.parse(event.data).entity_id);
    } catch (error) {
      return;
    }
    schedule();
  });
  source.addEventListener("gap", schedule);
  window.addEventListener("pagehide", function () { source.close(); });
})();
