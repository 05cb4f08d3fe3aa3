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

  function refresh() {
    timer = null;
    if (busy) {
      again = true;
      return;
    }
    busy = true;
    fetch(root.getAttribute("data-page") || window.location.pathname, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.text();
      })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var regions = document.querySelectorAll("[data-live-region]");
        for (var i = 0; i < regions.length; i++) {
          var fresh = doc.getElementById(regions[i].id);
          if (fresh) {
            regions[i].innerHTML = fresh.innerHTML;
          }
        }
        say("Updated with new entries at " + new Date().toLocaleTimeString() + ".");
      })
      .catch(function () {
        say("New entries were recorded; reload the page to see them.");
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
