// Sorting, filtering and searching the connection table. The page is complete without this.
(function () {
  "use strict";
  // Print every band open, then restore the ones the reader had closed.
  var reopened = [];
  window.addEventListener("beforeprint", function () {
    reopened = Array.prototype.filter.call(document.querySelectorAll("details.band"),
      function (band) { return !band.open; });
    reopened.forEach(function (band) { band.open = true; });
  });
  window.addEventListener("afterprint", function () {
    reopened.forEach(function (band) { band.open = false; });
    reopened = [];
  });
  var table = document.getElementById("conn-table");
  var head = document.getElementById("conn-head");
  var controls = document.getElementById("controls");
  if (!table || !head || !controls) { return; }
  controls.hidden = false;
  var bodies = Array.prototype.slice.call(table.querySelectorAll("tbody"));
  var rows = Array.prototype.slice.call(table.querySelectorAll("tbody tr"));
  var chunkSize = bodies.length ? bodies[0].rows.length : 0;
  var outcome = document.getElementById("filter-outcome");
  var anomaly = document.getElementById("filter-anomaly");
  var search = document.getElementById("search");
  var shown = document.getElementById("shown");

  function matches(row, filter) {
    if (!filter) { return true; }
    var cut = filter.indexOf(":");
    var kind = filter.slice(0, cut), value = filter.slice(cut + 1);
    if (kind === "handshake") { return row.dataset.handshake === value; }
    if (kind === "teardown") { return row.dataset.teardown === value; }
    if (kind === "severity") { return row.dataset.severities.split(" ").indexOf(value) >= 0; }
    if (kind === "anomaly") { return row.dataset.anomalies.split(" ").indexOf(value) >= 0; }
    return true;
  }

  function apply() {
    var needle = search.value.trim().toLowerCase();
    var count = 0;
    rows.forEach(function (row) {
      var text = row.cells[1].textContent + " " + row.cells[2].textContent;
      var ok = matches(row, outcome.value) && matches(row, anomaly.value) &&
        (!needle || text.toLowerCase().indexOf(needle) >= 0);
      row.hidden = !ok;
      if (ok) { count += 1; }
    });
    shown.textContent = String(count);
  }

  function sortBy(th) {
    pcapexplainSortRows(head.tHead.rows[0], rows, th);
    // Refill the chunks in the new order, each with as many rows as before.
    rows.forEach(function (row, i) { bodies[Math.floor(i / chunkSize)].appendChild(row); });
  }

  outcome.addEventListener("change", apply);
  anomaly.addEventListener("change", apply);
  search.addEventListener("input", apply);
  document.getElementById("clear").addEventListener("click", function () {
    outcome.value = ""; anomaly.value = ""; search.value = ""; apply();
  });
  Array.prototype.forEach.call(head.tHead.rows[0].cells, function (th) {
    if (th.dataset.sort) { th.addEventListener("click", function () { sortBy(th); }); }
  });
  Array.prototype.forEach.call(document.querySelectorAll("a.filter-link"), function (link) {
    link.addEventListener("click", function () {
      var filter = link.dataset.filter;
      var target = filter.indexOf("anomaly:") === 0 ? anomaly : outcome;
      outcome.value = ""; anomaly.value = ""; search.value = "";
      target.value = filter;
      apply();
    });
  });
})();
