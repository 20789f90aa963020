// Staff pages' charts: each <canvas data-chart="ID"> is drawn with Chart.js from the JSON data island
// <script type="application/json" id="ID"> the page carries (marketing/staff/charts.py writes it). The numbers
// are formatted in the page's language; every chart has a table or text beside it saying the same.
(function () {
  "use strict";
  if (typeof Chart === "undefined") return; // the tables beside the charts still say everything

  var lang = document.documentElement.lang || "en";
  var css = getComputedStyle(document.documentElement);
  function cssVar(name, fallback) { return (css.getPropertyValue(name) || "").trim() || fallback; }
  var fg = cssVar("--body-fg", "#333");
  var quiet = cssVar("--body-quiet-color", "#666");
  var hairline = cssVar("--hairline-color", "#e8e8e8");
  var primary = cssVar("--primary", "#417690");
  // Colour-blind safe (Okabe-Ito, then Tableau's), one per series or segment.
  var PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000",
                 "#4E79A7", "#F28E2B", "#59A14F", "#B07AA1", "#9C755F", "#76B7B2"];
  var VERDICT = { above: "#1a7f37", below: "#c62828", unclear: "#6e7781" };

  Chart.defaults.color = quiet;
  Chart.defaults.borderColor = hairline;
  Chart.defaults.font.family = cssVar("--font-family-primary", Chart.defaults.font.family);
  Chart.defaults.animation = false;
  Chart.defaults.maintainAspectRatio = false;

  var formats = {};
  function numberFormat(options) {
    var key = JSON.stringify(options);
    if (!formats[key]) formats[key] = new Intl.NumberFormat(lang, options);
    return formats[key];
  }
  function formatter(spec) {
    return function (value) {
      if (value === null || value === undefined || isNaN(value)) return "–";
      switch (spec.format) {
        case "count": return numberFormat({ maximumFractionDigits: 0 }).format(value);
        case "percent": return numberFormat({ style: "percent", maximumFractionDigits: 1 }).format(value);
        case "points":
          return numberFormat({ maximumFractionDigits: 1, signDisplay: "exceptZero" }).format(100 * value) + " " + spec.unit;
        case "money": return numberFormat({ minimumFractionDigits: 2, maximumFractionDigits: 2 }).format(value);
        case "z": return numberFormat({ minimumFractionDigits: 2, maximumFractionDigits: 2, signDisplay: "exceptZero" }).format(value);
        default: return numberFormat({ maximumFractionDigits: 2 }).format(value);
      }
    };
  }
  function axisTitle(text) { return { display: !!text, text: text, color: quiet }; }
  function colour(i) { return PALETTE[i % PALETTE.length]; }
  // "#rrggbb" with an alpha suffix; any other colour notation as it is.
  function faded(c, alpha) { return /^#[0-9a-f]{6}$/i.test(c) ? c + alpha : c; }
  // Counts step in whole numbers (no "0, 0, 1, 1" axis on small figures).
  function valueTicks(spec, fmt) { return spec.format === "count" ? { callback: fmt, precision: 0 } : { callback: fmt }; }
  function zeroLine(ctx) { return ctx.tick && ctx.tick.value === 0 ? quiet : hairline; }
  // Category names beside horizontal bars, on lines of at most WRAP characters (broken between words): a long
  // name on one line was cut off at the canvas's edge in a narrow card.
  var WRAP = 18;
  function wrapped(label) {
    var text = String(label), lines = [], line = "";
    if (text.length <= WRAP) return text;
    text.split(" ").forEach(function (word) {
      if (line && (line + " " + word).length > WRAP) { lines.push(line); line = word; }
      else { line = line ? line + " " + word : word; }
    });
    if (line) lines.push(line);
    return lines;
  }
  function categoryTicks() {
    return { autoSkip: false, callback: function (value) { return wrapped(this.getLabelForValue(value)); } };
  }

  function lineConfig(spec, fmt) {
    return {
      type: "line",
      data: {
        labels: spec.labels,
        datasets: spec.series.map(function (s, i) {
          var c = spec.series.length === 1 ? primary : colour(i);
          return { label: s.label, data: s.data, borderColor: c, backgroundColor: faded(c, "22"), fill: spec.series.length === 1,
                   pointRadius: spec.labels.length > 40 ? 0 : 2, tension: 0.2, spanGaps: false };
        })
      },
      options: {
        interaction: { mode: "index", intersect: false },
        plugins: {
          legend: { display: spec.series.length > 1 },
          tooltip: { callbacks: { label: function (c) { return c.dataset.label + ": " + fmt(c.parsed.y); } } }
        },
        scales: {
          x: { title: axisTitle(spec.x_title), ticks: { maxRotation: 0, autoSkip: true } },
          y: { beginAtZero: true, title: axisTitle(spec.y_title), ticks: valueTicks(spec, fmt) }
        }
      }
    };
  }

  function barConfig(spec, fmt) {
    var value = spec.horizontal ? "x" : "y";
    var scales = {};
    scales[value] = { beginAtZero: true, title: axisTitle(spec.horizontal ? spec.x_title : spec.y_title),
                      ticks: valueTicks(spec, fmt), grid: { color: zeroLine } };
    scales[spec.horizontal ? "y" : "x"] = { title: axisTitle(spec.horizontal ? spec.y_title : spec.x_title),
                                            ticks: spec.horizontal ? categoryTicks() : { autoSkip: false } };
    return {
      type: "bar",
      data: {
        labels: spec.labels,
        datasets: spec.series.map(function (s, i) {
          var c = spec.series.length === 1 ? primary : colour(i);
          return {
            label: s.label, data: s.data, borderRadius: 2, maxBarThickness: 28,
            backgroundColor: spec.signed ? s.data.map(function (v) { return v < 0 ? "#ba2121" : c; }) : c
          };
        })
      },
      options: {
        indexAxis: spec.horizontal ? "y" : "x",
        plugins: {
          legend: { display: spec.series.length > 1 },
          tooltip: { callbacks: { label: function (c) { return c.dataset.label + ": " + fmt(c.parsed[value]); } } }
        },
        scales: scales
      }
    };
  }

  function intervalConfig(spec, fmt) {
    var rows = spec.rows;
    return {
      type: "bar",
      data: {
        labels: spec.labels,
        datasets: [
          {
            label: spec.legend.interval,
            data: rows.map(function (r) { return r.low === null ? null : [r.low, r.high]; }),
            backgroundColor: rows.map(function (r) { return faded(VERDICT[r.verdict], "66"); }),
            borderColor: rows.map(function (r) { return VERDICT[r.verdict]; }),
            borderWidth: 1, barThickness: 10, order: 2
          },
          {
            type: "line", label: spec.legend.estimate, indexAxis: "y", showLine: false,
            data: rows.map(function (r) { return r.estimate; }),
            pointStyle: "rectRot", pointRadius: 6, pointHoverRadius: 7,
            pointBackgroundColor: rows.map(function (r) { return VERDICT[r.verdict]; }),
            borderColor: fg, order: 1
          }
        ]
      },
      options: {
        indexAxis: "y",
        plugins: {
          legend: { display: false },
          tooltip: {
            callbacks: {
              label: function (c) {
                var r = rows[c.dataIndex];
                if (c.datasetIndex === 1) return spec.legend.estimate + ": " + fmt(r.estimate);
                return spec.legend.interval + ": " + fmt(r.low) + " … " + fmt(r.high);
              }
            }
          }
        },
        scales: {
          x: { title: axisTitle(spec.x_title), ticks: { callback: fmt }, grid: { color: zeroLine } },
          y: { ticks: categoryTicks() }
        }
      }
    };
  }

  function scatterConfig(spec, fmt) {
    return {
      type: "scatter",
      data: {
        datasets: spec.series.map(function (s, i) {
          return { label: s.label, data: s.data.map(function (p) { return { x: p[0], y: p[1] }; }),
                   backgroundColor: faded(colour(i), "aa"), borderColor: colour(i), pointRadius: 2, pointHoverRadius: 4 };
        })
      },
      options: {
        plugins: {
          legend: { position: "bottom" },
          tooltip: { callbacks: { label: function (c) { return c.dataset.label; } } }
        },
        scales: { x: { title: axisTitle(spec.x_title), ticks: { callback: fmt } },
                  y: { title: axisTitle(spec.y_title), ticks: { callback: fmt } } }
      }
    };
  }

  function matrixConfig(spec, fmt) {
    var nx = spec.x_labels.length, ny = spec.y_labels.length, top = spec.max || 1;
    return {
      type: "matrix",
      data: {
        datasets: [{
          label: spec.title, data: spec.cells,
          backgroundColor: function (c) {
            var cell = c.dataset.data[c.dataIndex];
            var alpha = cell ? Math.max(0.06, cell.v / top) : 0;
            return "rgba(65, 118, 144, " + alpha.toFixed(3) + ")";
          },
          borderColor: hairline, borderWidth: 1,
          width: function (c) { var a = c.chart.chartArea; return a ? a.width / nx - 2 : 10; },
          height: function (c) { var a = c.chart.chartArea; return a ? a.height / ny - 2 : 10; }
        }]
      },
      options: {
        plugins: {
          legend: { display: false },
          tooltip: {
            callbacks: {
              title: function (items) { var d = items[0].raw; return d.y + " · " + d.x; },
              label: function (c) { var d = c.raw; return (d.text ? d.text + ": " : "") + fmt(d.v); }
            }
          }
        },
        scales: {
          x: { type: "category", labels: spec.x_labels, offset: true, grid: { display: false }, title: axisTitle(spec.x_title) },
          // The category axis runs bottom up: the spec's first row goes last to be drawn on top.
          y: { type: "category", labels: spec.y_labels.slice().reverse(), offset: true, grid: { display: false }, title: axisTitle(spec.y_title) }
        }
      },
      plugins: [cellLabels]
    };
  }

  // A matrix cell's short label (a segment's name, a count) written in the cell when it fits.
  var cellLabels = {
    id: "staffCellLabels",
    afterDatasetsDraw: function (chart) {
      var ctx = chart.ctx, top = 0;
      var data = chart.data.datasets[0].data;
      data.forEach(function (d) { top = Math.max(top, d.v); });
      chart.getDatasetMeta(0).data.forEach(function (element, i) {
        var d = data[i], label = d.label;
        if (!label) return;
        var box = element.getProps(["x", "y", "width", "height"], true);
        ctx.save();
        ctx.font = "11px " + Chart.defaults.font.family;
        if (ctx.measureText(label).width > box.width - 4 || box.height < 14) { ctx.restore(); return; }
        ctx.fillStyle = top && d.v / top > 0.55 ? "#fff" : fg;
        ctx.textAlign = "center";
        ctx.textBaseline = "middle";
        ctx.fillText(label, box.x + box.width / 2, box.y + box.height / 2);
        ctx.restore();
      });
    }
  };

  var builders = { line: lineConfig, bar: barConfig, interval: intervalConfig, scatter: scatterConfig, matrix: matrixConfig };

  function draw(canvas) {
    var island = document.getElementById(canvas.dataset.chart);
    if (!island || canvas.dataset.drawn) return;
    var spec = JSON.parse(island.textContent);
    var build = builders[spec.type];
    // Rows of bars or cells get a fixed height each, so one row is not a tall box and many are not squeezed.
    var rows = spec.type === "matrix" ? spec.y_labels.length
      : (spec.type === "interval" || spec.horizontal) ? spec.labels.length * Math.max(1, (spec.series || [0]).length) : 0;
    var perRow = spec.type === "matrix" ? 46 : 30, least = spec.type === "matrix" ? 190 : 100;
    if (rows) canvas.parentNode.style.height = Math.max(least, Math.min(560, 70 + rows * perRow)) + "px";
    if (!build) throw new Error("staff charts: unknown chart type " + spec.type);
    new Chart(canvas, build(spec, formatter(spec)));
    canvas.dataset.drawn = "1";
  }

  function drawAll() { document.querySelectorAll("canvas[data-chart]").forEach(draw); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", drawAll);
  else drawAll();
})();
