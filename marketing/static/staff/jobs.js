// Job monitor: htmx redraws the job tables every 2 s (hx-trigger on #jobs-live); this only says when the last
// refresh happened, or that it failed and htmx keeps trying.
(function () {
  "use strict";
  var root = document.getElementById("jobs");
  var note = document.getElementById("jobs-updated");
  if (!root || !note) return;
  var base = note.textContent;
  document.body.addEventListener("htmx:afterSwap", function (event) {
    if (event.target.id !== "jobs-live") return;
    note.textContent = base + " " + root.dataset.updatedText + " " + new Date().toLocaleTimeString() + ".";
  });
  // A lapsed login answers with the login page (after a redirect): keep the tables, say the refresh failed.
  document.body.addEventListener("htmx:beforeSwap", function (event) {
    if (event.target.id === "jobs-live" && event.detail.xhr.responseURL.indexOf("/admin/login/") !== -1) {
      event.detail.shouldSwap = false;
      note.textContent = root.dataset.failedText;
    }
  });
  ["htmx:sendError", "htmx:responseError"].forEach(function (name) {
    document.body.addEventListener(name, function () { note.textContent = root.dataset.failedText; });
  });
})();
