// Column sorting shared by the report's and the index's tables: a click on a header sorts the
// rows by its column (cells may carry the sort value in data-v), then again in reverse.
function pcapexplainSortRows(headerRow, rows, th) {
  "use strict";
  var index = th.cellIndex;
  var numeric = th.dataset.sort === "num";
  var ascending = !th.classList.contains("sorted-asc");
  Array.prototype.forEach.call(headerRow.cells, function (cell) {
    cell.classList.remove("sorted-asc", "sorted-desc");
  });
  th.classList.add(ascending ? "sorted-asc" : "sorted-desc");
  function key(row) {
    var cell = row.cells[index];
    var raw = cell.dataset.v !== undefined ? cell.dataset.v : cell.textContent;
    return numeric ? parseFloat(raw) : raw.toLowerCase();
  }
  rows.sort(function (a, b) {
    var x = key(a), y = key(b);
    var order = x < y ? -1 : x > y ? 1 : 0;
    return ascending ? order : -order;
  });
}
