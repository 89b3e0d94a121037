/* Equity curve with the drawdown below it and the deepest drawdown shaded, drawn with uPlot from the page's JSON (no inline script: CSP). */
(function () {
  "use strict";
  var holder = document.getElementById("equity-chart");
  var source = document.getElementById("equity-data");
  if (!holder || !source || typeof uPlot === "undefined") { return; }
  var data = JSON.parse(source.textContent);
  var points = data.points || [];
  if (!points.length) { holder.textContent = "No equity points."; return; }
  var times = [], equity = [], drawdown = [];
  points.forEach(function (p) { times.push(p[0] / 1000); equity.push(p[1]); drawdown.push(-p[2]); });

  // Shade the deepest drawdown: from its peak to its trough.
  var trough = 0;
  for (var i = 1; i < drawdown.length; i++) { if (drawdown[i] < drawdown[trough]) { trough = i; } }
  var peak = trough;
  while (peak > 0 && drawdown[peak] < 0) { peak--; }

  function shadeDrawdowns(u) {
    if (trough === peak) { return; }
    var ctx = u.ctx;
    var x0 = u.valToPos(times[peak], "x", true);
    var x1 = u.valToPos(times[trough], "x", true);
    ctx.save();
    ctx.fillStyle = "rgba(198, 40, 40, 0.12)";
    ctx.fillRect(x0, u.bbox.top, Math.max(x1 - x0, 1), u.bbox.height);
    ctx.restore();
  }

  var width = Math.max(holder.clientWidth, 320);
  var options = {
    width: width,
    height: 340,
    series: [
      {},
      { label: "Equity (" + data.quote + ")", stroke: "#1565c0", width: 2, scale: "eq",
        value: function (u, v) { return v == null ? "" : v.toFixed(2); } },
      { label: "Drawdown %", stroke: "#c62828", fill: "rgba(198, 40, 40, 0.25)", scale: "dd",
        value: function (u, v) { return v == null ? "" : v.toFixed(2) + "%"; } }
    ],
    axes: [
      {},
      { scale: "eq", label: data.quote },
      { scale: "dd", side: 1, label: "Drawdown %", grid: { show: false } }
    ],
    scales: {
      // One point (a bot's first snapshot) would stretch the axis over years: show a day around it.
      x: { time: true, range: function (u, min, max) { return min === max ? [min - 43200, max + 43200] : [min, max]; } },
      dd: { range: function (u, min) { return [Math.min(min * 3, -1), 0]; } } },
    hooks: { drawClear: [shadeDrawdowns] }
  };
  var plot = new uPlot(options, [times, equity, drawdown], holder);
  window.addEventListener("resize", function () {
    plot.setSize({ width: Math.max(holder.clientWidth, 320), height: 340 });
  });
})();
