// Light help where it matters; every page works without it.
"use strict";

// A form marked data-once sends once: a double tap on a slow phone must not send twice.
document.querySelectorAll("form[data-once]").forEach(function (form) {
  form.addEventListener("submit", function () {
    form.querySelectorAll("button[type=submit]").forEach(function (b) { b.disabled = true; });
  });
});

// The rotating-code screen fetches a fresh code before the current one expires.
var screen = document.querySelector("[data-live-code]");
if (screen) {
  var refresh = function () {
    fetch(screen.getAttribute("data-live-code"), { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (code) {
        if (!code) { return; }
        var img = screen.querySelector("img");
        img.src = "data:image/svg+xml;base64," + btoa(code.svg);
        var until = screen.querySelector("[data-until]");
        if (until) { until.textContent = code.valid_until_text || ""; }
      });
  };
  setInterval(refresh, (parseInt(screen.getAttribute("data-seconds"), 10) || 30) * 1000);
}

// The review queue reloads itself every minute while nothing is ticked or typed.
var queue = document.querySelector("[data-refresh]");
if (queue) {
  setInterval(function () {
    var busy = queue.querySelector("input:checked") || document.activeElement.tagName === "TEXTAREA" ||
      (document.activeElement.tagName === "INPUT" && document.activeElement.type === "text");
    if (!busy) { window.location.reload(); }
  }, (parseInt(queue.getAttribute("data-refresh"), 10) || 60) * 1000);
}
