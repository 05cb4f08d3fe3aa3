// claim ledger desk: after a form was refused, its message summary gets the focus and
// comes into view (the server also renders it first, autofocused, for browsers without JS).
(function () {
  "use strict";
  var summary = document.querySelector(".error-summary[autofocus]");
  if (summary) {
    summary.focus();
    summary.scrollIntoView({ block: "start" });
  }
})();

// claim ledger desk: keeps a claim page live from its event stream (progressive enhancement;
// without JavaScript the page still works, it just needs a reload to show new entries).
(function () {
  "use strict";
  var root = document.querySelector("[data-live-stream]");
  if (!root || !window.EventSource || !window.fetch || !window.DOMParser) {
    return;
  }
  var status = document.getElementById("live-status");
  var timer = null;
  var busy = false;
  var again = false;

  function say(text) {
    if (status) {
      status.textContent = text;
    }
  }

  var after = parseInt(root.getAttribute("data-after") || "0", 10);
  var append = root.getAttribute("data-append") === "1";
  var waitUntil = 0;

  // fetch only what changed: the state and the entries after the last one shown
  function refresh() {
    timer = null;
    if (busy) {
      again = true;
      return;
    }
    var now = Date.now();
    if (now < waitUntil) {
      timer = window.setTimeout(refresh, waitUntil - now);
      return;
    }
    busy = true;
    var url = root.getAttribute("data-changes") + "?after=" + after;
    fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        if (response.status === 429) {
          var seconds = parseInt(response.headers.get("Retry-After") || "1", 10);
          waitUntil = Date.now() + 1000 * Math.max(1, seconds || 1);
          again = true;
          throw new Error("busy");
        }
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.text();
      })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var state = document.getElementById("state");
        var freshState = doc.getElementById("state");
        if (state && freshState) {
          state.innerHTML = freshState.innerHTML;
        }
        var rows = doc.getElementById("changes");
        if (!rows) {
          return;
        }
        var total = parseInt(rows.getAttribute("data-total") || "0", 10);
        var body = document.querySelector("#entries tbody");
        if (append && body) {
          while (rows.firstElementChild) {
            body.appendChild(rows.firstElementChild);
          }
          after = parseInt(rows.getAttribute("data-after") || String(after), 10);
          if (after < total) {
            again = true; // more than one fragment's worth arrived
          }
          say("Updated with new entries at " + new Date().toLocaleTimeString() + ".");
        } else {
          after = total;
          say("New entries were recorded; open the newest page to see them.");
        }
      })
      .catch(function (error) {
        if (!error || error.message !== "busy") {
          say("New entries were recorded; reload the page to see them.");
        }
      })
      .then(function () {
        busy = false;
        if (again) {
          again = false;
          schedule();
        }
      });
  }

  function schedule() {
    if (timer === null) {
      timer = window.setTimeout(refresh, 150);
    }
  }

  var source = null;

  function connect() {
    source = new EventSource(root.getAttribute("data-live-stream"));
    source.onopen = function () {
      root.setAttribute("data-live", "open");
    };
    source.onmessage = schedule;
    source.onerror = function () {
      root.setAttribute("data-live", "reconnecting");
    };
  }

  // a hidden tab gives its stream (and the server worker holding it) back
  document.addEventListener("visibilitychange", function () {
    if (document.hidden && source !== null) {
      source.close();
      source = null;
      root.setAttribute("data-live", "paused");
    } else if (!document.hidden && source === null) {
      connect();
      schedule(); // catch up with whatever was recorded meanwhile
    }
  });
  window.addEventListener("pagehide", function () {
    if (source !== null) {
      source.close();
    }
  });
  connect();
})();
