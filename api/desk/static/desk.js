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
  var retry = null;
  var pause = 2000;

  function connect() {
    if (retry !== null) {
      window.clearTimeout(retry);
      retry = null;
    }
    var opened = new EventSource(root.getAttribute("data-live-stream"));
    source = opened;
    opened.onopen = function () {
      pause = 2000;
      root.setAttribute("data-live", "open");
    };
    opened.onmessage = schedule;
    opened.onerror = function () {
      if (opened.readyState !== EventSource.CLOSED) {
        root.setAttribute("data-live", "reconnecting"); // the browser retries by itself
        return;
      }
      // refused (a 429 from the stream or page limits, a 503...): the browser never
      // retries a stream that was answered with an error, so this page does, after a
      // pause that grows to a minute, then catches up with what it missed
      opened.close();
      if (source !== opened) {
        return;
      }
      source = null;
      root.setAttribute("data-live", "waiting");
      if (!document.hidden) {
        retry = window.setTimeout(function () {
          retry = null;
          if (source === null && !document.hidden) {
            connect();
            schedule();
          }
        }, pause + Math.floor(Math.random() * 1000));
        pause = Math.min(pause * 2, 60000);
      }
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

// claim ledger desk: "Record a claim" warns of claims already recorded close to the
// statement being typed (progressive enhancement: without JavaScript a refused form shows
// the same warning). One request in flight at a time, after a pause in typing.
(function () {
  "use strict";
  var box = document.getElementById("similar-claims");
  var field = document.querySelector("form textarea[name='statement']");
  if (!box || !field || !window.fetch) {
    return;
  }
  var url = box.getAttribute("data-similar-url");
  var timer = null;
  var busy = false;
  var asked = "";
  var shown = "";

  function look() {
    timer = null;
    var text = field.value.replace(/\s+/g, " ").trim();
    if (busy || text === shown) {
      return;
    }
    if (text.length < 12) {
      box.innerHTML = "";
      shown = text;
      return;
    }
    busy = true;
    asked = text;
    fetch(url + "?statement=" + encodeURIComponent(text.slice(0, 2000)), {
      credentials: "same-origin",
      headers: { Accept: "text/html" }
    })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.text();
      })
      .then(function (html) {
        box.innerHTML = html;
        shown = asked;
      })
      .catch(function () {
        shown = asked; // the warning is a help: a failure leaves the form as it is
      })
      .then(function () {
        busy = false;
        if (field.value.replace(/\s+/g, " ").trim() !== shown) {
          schedule();
        }
      });
  }

  function schedule() {
    if (timer) {
      window.clearTimeout(timer);
    }
    timer = window.setTimeout(look, 400);
  }

  field.addEventListener("input", schedule);
  if (field.value) {
    schedule();
  }
})();
