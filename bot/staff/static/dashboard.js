// Draws the dashboard's charts from the figures the page carries as JSON (#figures); the
// tables beside the charts hold the same numbers. Without Chart.js the tables remain.
(function () {
  "use strict";
  var source = document.getElementById("figures");
  var labels = document.getElementById("chart-labels");
  if (!source || !labels || typeof window.Chart === "undefined") {
    return;
  }
  var figures = JSON.parse(source.textContent);
  var palette = ["#2f6fdb", "#1f7a3d", "#a15c00", "#b3261e", "#6b4fbb", "#00838f", "#5b6472",
                 "#c2185b", "#7cb342", "#ef6c00"];
  var colour = function (index) { return palette[index % palette.length]; };

  function draw(id, config) {
    var canvas = document.getElementById(id);
    if (canvas) {
      config.options = Object.assign({ responsive: true, maintainAspectRatio: false,
                                       animation: false }, config.options || {});
      new window.Chart(canvas, config);
    }
  }

  draw("fill-chart", {
    type: "line",
    data: {
      labels: figures.weeks,
      datasets: figures.activities.map(function (activity, index) {
        return { label: activity.name, data: activity.fill, borderColor: colour(index),
                 backgroundColor: colour(index), spanGaps: true };
      })
    },
    options: { scales: { y: { min: 0, suggestedMax: 100,
                              title: { display: true, text: labels.dataset.fill } } } }
  });
  draw("waitlist-chart", {
    type: "bar",
    data: {
      labels: figures.weeks,
      datasets: figures.activities.map(function (activity, index) {
        return { label: activity.name, data: activity.waitlist, backgroundColor: colour(index) };
      })
    },
    options: { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true,
                                                    ticks: { precision: 0 } } } }
  });
  draw("late-chart", {
    type: "bar",
    data: {
      labels: figures.weeks,
      datasets: [
        { label: labels.dataset.late, data: figures.late, backgroundColor: colour(2) },
        { label: labels.dataset.noshows, data: figures.noshows, backgroundColor: colour(3) }
      ]
    },
    options: { scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } }
  });
  draw("money-chart", {
    type: "bar",
    data: {
      labels: figures.months,
      datasets: [
        { label: labels.dataset.paid, data: figures.paid, backgroundColor: colour(0) },
        { label: labels.dataset.invoiced, data: figures.invoiced, backgroundColor: colour(1) }
      ]
    },
    options: { scales: { y: { beginAtZero: true } } }
  });
})();
