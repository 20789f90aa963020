// Staff pages: remember the browser's time zone so the server shows dates in it (read on the next request).
(function () {
  "use strict";
  try {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (zone && document.cookie.indexOf("staff_tz=" + encodeURIComponent(zone)) === -1) {
      document.cookie = "staff_tz=" + encodeURIComponent(zone) + "; path=/; max-age=31536000; SameSite=Lax";
    }
  } catch (e) { /* an old browser: dates stay in the server's zone */ }
})();

// A table wider than its box scrolls inside it: such a box takes keyboard focus, so it can be scrolled without a
// mouse (WCAG 2.1.1). Checked again after htmx redraws part of the page.
(function () {
  "use strict";
  function focusableScrollBoxes(root) {
    var boxes = (root || document).querySelectorAll(".scroll");
    for (var i = 0; i < boxes.length; i++) {
      var box = boxes[i];
      if (box.scrollWidth > box.clientWidth || box.scrollHeight > box.clientHeight) {
        if (!box.hasAttribute("tabindex")) box.setAttribute("tabindex", "0");
      }
    }
  }
  document.addEventListener("DOMContentLoaded", function () { focusableScrollBoxes(document); });
  window.addEventListener("resize", function () { focusableScrollBoxes(document); });
  document.addEventListener("htmx:afterSwap", function (event) { focusableScrollBoxes(event.target); });
})();
