// Light help where it matters; every page works without it.
"use strict";

// A form marked data-once sends once: a double tap on a slow phone must not send twice. The buttons are greyed
// out only after the browser has read the form, or the pressed button's own value (approve / reject) would be
// left out of what is sent.
document.querySelectorAll("form[data-once]").forEach(function (form) {
  form.addEventListener("submit", function (event) {
    if (form.dataset.sent) { event.preventDefault(); return; }
    form.dataset.sent = "1";
    setTimeout(function () {
      form.querySelectorAll("button[type=submit]").forEach(function (b) { b.disabled = true; });
    }, 0);
  });
});

// A claim form marked data-locate asks the phone where it is (the page says why): inside the activity's geofence a
// live code's claim is approved at once. Refused or unavailable, the claim is still sent and an official checks it.
var locating = document.querySelector("form[data-locate]");
if (locating && navigator.geolocation) {
  var said = locating.querySelector("[data-locate-status]");
  var say = function (which) { if (said) { said.textContent = said.getAttribute(which) || ""; } };
  navigator.geolocation.getCurrentPosition(function (position) {
    locating.querySelector("input[name=lat]").value = position.coords.latitude.toFixed(6);
    locating.querySelector("input[name=lon]").value = position.coords.longitude.toFixed(6);
    say("data-found");
  }, function () { say("data-missing"); }, { enableHighAccuracy: true, timeout: 20000, maximumAge: 60000 });
}

// A concern report's "use where I am now" asks the phone where it is only when pressed; refused or unavailable, the
// report is still sent (a place from the village's list, or the words, say where).
document.querySelectorAll("[data-locate-button]").forEach(function (box) {
  var button = box.querySelector("[data-locate-now]");
  var said = box.querySelector("[data-locate-status]");
  var say = function (which) { if (said) { said.textContent = said.getAttribute(which) || ""; } };
  if (!button) { return; }
  if (!navigator.geolocation) { button.hidden = true; return; }
  button.addEventListener("click", function () {
    navigator.geolocation.getCurrentPosition(function (position) {
      box.querySelector("input[name=lat]").value = position.coords.latitude.toFixed(6);
      box.querySelector("input[name=lon]").value = position.coords.longitude.toFixed(6);
      say("data-found");
    }, function () { say("data-missing"); }, { enableHighAccuracy: true, timeout: 20000, maximumAge: 60000 });
  });
});

// The rotating-code screen fetches the next code the moment the current one's 30-second step ends, so the wall
// never shows a code older than its step (the server takes the step before too, no more: a slow phone needs that
// margin). When it cannot renew, it says so instead of showing a code that will be refused.
var screen = document.querySelector("[data-live-code]");
if (screen) {
  var offline = screen.querySelector("[data-offline]");
  var refresh = function () {
    fetch(screen.getAttribute("data-live-code"), { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (code) {
        screen.querySelector("img").src = "data:image/svg+xml;base64," + btoa(code.svg);
        var until = screen.querySelector("[data-until]");
        if (until) { until.textContent = code.valid_until_text || ""; }
        screen.classList.remove("stale");
        if (offline) { offline.hidden = true; }
        later(code.expires_in);
      })
      .catch(function () {
        screen.classList.add("stale");
        if (offline) { offline.hidden = false; }
        later(5);
      });
  };
  var later = function (seconds) { setTimeout(refresh, (Math.max(1, Number(seconds) || 30) + 0.2) * 1000); };
  later(parseFloat(screen.getAttribute("data-expires-in")));
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

// "Back" on a refusal returns to the page the form was sent from (without script: to the front page).
document.querySelectorAll("a[data-back]").forEach(function (link) {
  link.addEventListener("click", function (event) {
    if (window.history.length > 1) { event.preventDefault(); window.history.back(); }
  });
});
