// Schedule form: show only the argument the chosen job takes and the timing fields its frequency uses.
// Without script every field shows, and the server checks what is needed.
(function () {
  "use strict";
  var form = document.querySelector("form.schedule-form");
  if (!form) return;
  var argumentOf = { retrain: "algorithm", segmentation: "definition", audience: "campaign" };
  var timingOf = { hourly: ["time"], daily: ["time"], weekly: ["time", "weekday"], monthly: ["time", "day"] };
  function row(name) { return form.querySelector('[data-field="' + name + '"]'); }
  function show(name, visible) { var r = row(name); if (r) r.hidden = !visible; }
  function update() {
    var job = form.elements.job.value;
    ["algorithm", "definition", "campaign"].forEach(function (name) { show(name, argumentOf[job] === name); });
    var uses = timingOf[form.elements.frequency.value] || [];
    ["weekday", "day"].forEach(function (name) { show(name, uses.indexOf(name) !== -1); });
  }
  form.elements.job.addEventListener("change", update);
  form.elements.frequency.addEventListener("change", update);
  update();
})();
