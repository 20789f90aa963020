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
