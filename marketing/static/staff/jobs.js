// Job monitor: poll the status endpoint and update each running job's progress in place (no page reload).
// A job that finishes or a new job that starts reloads the page once, so the tables regroup.
(function () {
  "use strict";
  var root = document.getElementById("jobs");
  if (!root) return;
  var url = root.dataset.statusUrl;
  var note = document.getElementById("jobs-updated");
  // The first table lists the jobs running when the page was drawn.
  var shownRunning = {};
  root.querySelector("table.jobs").querySelectorAll("tr[data-job]").forEach(function (row) {
    shownRunning[row.dataset.job] = true;
  });

  function update(job) {
    document.querySelectorAll('tr[data-job="' + job.key + '"]').forEach(function (row) {
      var bar = row.querySelector(".progress");
      if (bar) {
        bar.setAttribute("aria-valuenow", job.progress);
        bar.firstElementChild.style.width = job.progress + "%";
      }
      var stage = row.querySelector('[data-field="stage"]');
      if (stage) stage.textContent = job.progress + " %" + (job.stage ? " · " + job.stage : "");
      var status = row.querySelector('[data-field="status"]');
      if (status) { status.textContent = job.status_label; status.className = "status-" + job.status; }
    });
  }

  function poll() {
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) throw new Error(response.status);
        return response.json();
      })
      .then(function (data) {
        var now = {};
        data.running.forEach(function (job) { now[job.key] = true; update(job); });
        var changed = Object.keys(now).some(function (k) { return !shownRunning[k]; }) ||
          Object.keys(shownRunning).some(function (k) { return !now[k]; });
        note.textContent = note.textContent.replace(/\s*\(.*\)$/, "") + " (" + new Date().toLocaleTimeString() + ")";
        if (changed) { window.location.reload(); return; }
        window.setTimeout(poll, 2000);
      })
      .catch(function () {
        note.textContent = root.dataset.failedText;
        window.setTimeout(poll, 5000);
      });
  }
  window.setTimeout(poll, 2000);
})();
