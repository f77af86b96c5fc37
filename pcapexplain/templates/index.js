// Sorting and filtering the table of captures. The page is complete without this.
(function () {
  "use strict";
  var table = document.getElementById("capture-table");
  var controls = document.getElementById("controls");
  if (!table || !controls) { return; }
  controls.hidden = false;
  var body = table.tBodies[0];
  var rows = Array.prototype.slice.call(body.rows);
  var status = document.getElementById("filter-status");
  var outcome = document.getElementById("filter-outcome");
  var severity = document.getElementById("filter-severity");
  var search = document.getElementById("search");
  var shown = document.getElementById("shown");

  function matches(row, filter) {
    if (!filter) { return true; }
    var cut = filter.indexOf(":");
    var kind = filter.slice(0, cut), value = filter.slice(cut + 1);
    var have = (row.dataset[kind] || "").split(" ");
    return have.indexOf(value) >= 0;
  }

  function apply() {
    var needle = search.value.trim().toLowerCase();
    var count = 0;
    rows.forEach(function (row) {
      var ok = matches(row, status.value) && matches(row, outcome.value) &&
        matches(row, severity.value) &&
        (!needle || row.cells[0].textContent.toLowerCase().indexOf(needle) >= 0);
      row.hidden = !ok;
      if (ok) { count += 1; }
    });
    shown.textContent = String(count);
  }

  function sortBy(th) {
    pcapexplainSortRows(table.tHead.rows[0], rows, th);
    rows.forEach(function (row) { body.appendChild(row); });
  }

  [status, outcome, severity].forEach(function (select) {
    select.addEventListener("change", apply);
  });
  search.addEventListener("input", apply);
  document.getElementById("clear").addEventListener("click", function () {
    status.value = ""; outcome.value = ""; severity.value = ""; search.value = ""; apply();
  });
  Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) {
    if (th.dataset.sort) { th.addEventListener("click", function () { sortBy(th); }); }
  });
  Array.prototype.forEach.call(document.querySelectorAll("a.filter-link"), function (link) {
    link.addEventListener("click", function () {
      var filter = link.dataset.filter;
      var kind = filter.slice(0, filter.indexOf(":"));
      var target = kind === "status" ? status : kind === "severity" ? severity : outcome;
      status.value = ""; outcome.value = ""; severity.value = ""; search.value = "";
      target.value = filter;
      apply();
    });
  });
})();
