// Draw every [data-chart] element with plotly.js from the JSON in the element it names.
(function () {
  if (!window.Plotly) { return; }
  document.querySelectorAll("[data-chart]").forEach(function (element) {
    var spec = JSON.parse(document.getElementById(element.dataset.chart).textContent);
    element.textContent = "";
    Plotly.newPlot(element, spec.data, spec.layout, {displaylogo: false, responsive: true,
      modeBarButtonsToRemove: ["select2d", "lasso2d"]});
  });
})();
